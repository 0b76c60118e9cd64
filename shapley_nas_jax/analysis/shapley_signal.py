"""How well one Shapley update separates the ops of a trained supernet: repeated estimates on a run's last
checkpoint, under variants of its config (``scripts/shapley_signal.py``).

What decides whether an update carries information, from nothing but the estimates themselves (never a
benchmark):

* ``players/chain``: players measured before the chain truncated (of all players of the game);
* ``evals``: value evaluations per estimate, and seconds per estimate (compilation excluded);
* ``spearman``: rank correlation of two repeats' values over the players of one edge, averaged over edges
  and over all pairs of repeats (1 = every repeat orders the ops of every edge the same way);
  ``split-half``: the same between the mean of the first half of the repeats and the mean of the rest (what
  averaging over updates, as the momentum does, gains);
* ``top-op agreement``: how often two repeats pick the same strongest op on an edge, ties broken at random
  (chance = 1 / players);
* ``snr``: the spread of the players' mean values divided by the mean standard error of one player's mean;
* ``mean_cell``: the cell the mean of the repeats gives (the space's genotype rule).
"""

from __future__ import annotations

import itertools
import time
from typing import Callable

import jax
import ml_collections
import numpy as np
from scipy import stats

from shapley_nas_jax import config as config_lib
from shapley_nas_jax.api import Search
from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError, UserError
from shapley_nas_jax.runs import RunRecord

FRESH_UPDATES = 1000  # value batches of update FRESH_UPDATES + r: never seen by the search itself


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``name=key=value,key=value`` -> (name, ["key=value", ...]); ``name=`` is the run's own config."""
    name, _, rest = text.partition("=")
    if not name:
        raise InvalidInputError(f"--variant {text!r} has no name; write NAME=key=value,... (or NAME= for the "
                                "run's config)")
    assignments = [item.strip() for item in rest.split(",") if item.strip()]
    for item in assignments:
        if "=" not in item:
            raise InvalidInputError(f"--variant {text!r}: {item!r} is not key=value")
    return name, assignments


def edge_figures(values: np.ndarray, players: np.ndarray) -> dict:
    """Agreement of repeated estimates ``values`` ``[R, T, E, O]`` over the players (``players`` ``[T, E, O]``)."""
    repeats = values.shape[0]
    spearman, top_agree = [], []
    for a, b in itertools.combinations(range(repeats), 2):
        for t, e in np.ndindex(*players.shape[:2]):
            ops = players[t, e]
            if ops.sum() < 2:
                continue
            va, vb = values[a, t, e, ops], values[b, t, e, ops]
            if np.ptp(va) > 0 and np.ptp(vb) > 0:
                spearman.append(stats.spearmanr(va, vb).statistic)
            top_a, top_b = va == va.max(), vb == vb.max()  # ties (e.g. unmeasured players) broken at random
            top_agree.append(float((top_a & top_b).sum() / (top_a.sum() * top_b.sum())))
    half = repeats // 2  # the mean of the first half of the repeats against the mean of the rest
    split_half = [stats.spearmanr(a, b).statistic
                  for a, b in ((values[:half].mean(0)[t, e, players[t, e]], values[half:].mean(0)[t, e, players[t, e]])
                               for t, e in np.ndindex(*players.shape[:2]) if players[t, e].sum() >= 2)
                  if np.ptp(a) > 0 and np.ptp(b) > 0]
    flat = values[:, players]  # [R, P]
    standard_error = flat.std(axis=0, ddof=1) / np.sqrt(repeats)
    return {
        "spearman": float(np.mean(spearman)) if spearman else float("nan"),
        "top_op_agreement": float(np.mean(top_agree)),
        "top_op_chance": float(np.mean(1.0 / players.sum(-1)[players.sum(-1) > 0])),
        "split_half_spearman": float(np.mean(split_half)) if split_half else float("nan"),
        "snr": float(flat.mean(axis=0).std() / max(standard_error.mean(), 1e-12)),
    }


def repeated_estimates(run: str, variants: list[tuple[str, list[str]]], repeats: int, seed: int = 0,
                       log: Callable[[str], None] = print) -> list[dict]:
    """Per variant (``(name, ["key=value", ...])``: the run's config with those overrides), ``repeats`` Shapley
    estimates on the run's last checkpoint, each on fresh value batches with a fresh permutation key (alpha
    never moves), and what they say of the estimate's signal (``edge_figures``); one row per variant."""
    record = RunRecord.load(run)
    if record.config is None:
        raise PathNotFoundError(f"{run} has no config.json; give the workdir of a search")
    rows = []
    for name, assignments in variants:
        config = config_lib.override(ml_collections.ConfigDict(record.config), assignments)
        config_lib.validate(config)
        search = Search.from_config(config)
        checkpointer = Checkpointer(record.checkpoint_dir)
        restored = checkpointer.restore(jax.eval_shape(search.init_state))
        checkpointer.close()
        if restored is None:
            raise UserError(f"{run} has no checkpoint to restore; run the search first")
        state, meta = restored
        state = search.program.place_state(state)
        players = np.asarray(search.program.game.to_alpha_shape(np.ones(search.program.game.num_players, np.float32))) > 0
        estimates, seconds, evals, chain, full = [], [], [], [], []
        for r in range(repeats + 1):  # the first estimate compiles and is not timed or counted
            batches = search.value_batches(FRESH_UPDATES + r)
            key = jax.random.fold_in(jax.random.key(seed), r)
            t0 = time.perf_counter()
            values, estimate = search.estimate_shapley(state, batches, key)
            values = np.asarray(jax.block_until_ready(values))
            if r == 0:
                continue
            seconds.append(time.perf_counter() - t0)
            estimates.append(values)
            evals.append(int(estimate.num_evaluations))
            chain.append(float(np.asarray(estimate.measured).sum(axis=1).mean()))
            full.append(float(np.asarray(estimate.chain_values)[:, 0].mean()))
        row = {"variant": name, "overrides": dict(text.split("=", 1) for text in assignments),
               "checkpoint_step": int(meta["step"]),
               "players": int(players.sum()), "players_per_chain": float(np.mean(chain)),
               "evals": float(np.mean(evals)), "seconds": float(np.mean(seconds)), "full_value": float(np.mean(full)),
               **edge_figures(np.stack(estimates), players),
               "mean_cell": str(search.space.genotype(np.mean(estimates, axis=0))), "estimates": np.stack(estimates).tolist()}
        rows.append(row)
        log(f"{name:>16}  full {row['full_value']:+.3f}  players/chain {row['players_per_chain']:5.1f}/{row['players']}"
            f"  evals {row['evals']:6.1f}  {row['seconds']:6.1f} s  spearman {row['spearman']:+.2f}  top-op agreement "
            f"{row['top_op_agreement']:.2f} (chance {row['top_op_chance']:.2f})  split-half "
            f"{row['split_half_spearman']:+.2f}  snr {row['snr']:.2f}\n{'':>16}  cell of the mean: {row['mean_cell']}")
    return rows
