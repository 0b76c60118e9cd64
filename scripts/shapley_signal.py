"""How well one Shapley update separates the ops of a trained supernet, under several estimator settings.

    python scripts/shapley_signal.py --run runs/nb201-cpu/shapley/seed0 --repeats 4 \
        --variant base= --variant no_truncation=shapley.truncation=0.01 \
        --variant cross_entropy=shapley.metric=neg_cross_entropy --variant m10=shapley.samples=10 \
        --out signal.json

Restores the last checkpoint of a finished (or interrupted) search, then for every variant (the run's config
with ``key=value`` overrides, comma-separated) estimates the ops' Shapley values ``--repeats`` times, each
time on fresh value batches and a fresh permutation key, without moving alpha. It reports what decides
whether an update carries information, using nothing but the estimates themselves (never a benchmark):

* ``players/chain``: players measured before the chain truncated (of all players of the game);
* ``evals``: value evaluations per estimate, and seconds per estimate (compilation excluded);
* ``spearman``: rank correlation of two repeats' values over the players of one edge, averaged over edges
  and over all pairs of repeats (1 = every repeat orders the ops of every edge the same way);
  ``split-half``: the same between the mean of the first half of the repeats and the mean of the rest (what
  averaging over updates, as the momentum does, gains);
* ``top-op agreement``: how often two repeats pick the same strongest op on an edge, ties broken at random
  (chance = 1 / players);
* ``snr``: the spread of the players' mean values divided by the mean standard error of one player's mean;
* ``mean_cell``: the cell the mean of the repeats gives (the space's genotype rule; query it against a
  benchmark with ``shapley-nas query`` if you want to know how good it is).

Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import jax
import ml_collections
import numpy as np
from scipy import stats

from shapley_nas_jax import config as config_lib
from shapley_nas_jax.api import Search
from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.runs import RunDir

FRESH_UPDATES = 1000  # value batches of update FRESH_UPDATES + r: never seen by the search itself


def parse_variant(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``name=key=value,key=value`` -> (name, [(key, value), ...]); ``name=`` is the run's own config."""
    name, _, rest = text.partition("=")
    if not name:
        raise ValueError(f"--variant {text!r} has no name; write NAME=key=value,... (or NAME= for the run's config)")
    overrides = []
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--variant {text!r}: {item!r} is not key=value")
        overrides.append((key.strip(), value.strip()))
    return name, overrides


def apply_overrides(config: ml_collections.ConfigDict, overrides: list[tuple[str, str]]) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict(config.to_dict())
    for key, value in overrides:
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise ValueError(f"--variant: config has no key {key!r}")
        kind = type(node[leaf])
        node[leaf] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
    return config


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


def study(run: str, variants: list[tuple[str, list]], repeats: int, seed: int) -> list[dict]:
    base = ml_collections.ConfigDict(json.loads(open(os.path.join(run, "config.json")).read()))
    checkpoint_dir = RunDir(run).checkpoint_dir
    rows = []
    for name, overrides in variants:
        config = apply_overrides(base, overrides)
        config_lib.validate(config)
        search = Search.from_config(config)
        checkpointer = Checkpointer(checkpoint_dir)
        restored = checkpointer.restore(jax.eval_shape(search.program.init_state))
        checkpointer.close()
        if restored is None:
            raise SystemExit(f"{run} has no checkpoint to restore; run the search first")
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
        row = {"variant": name, "overrides": dict(overrides), "checkpoint_step": int(meta["step"]),
               "players": int(players.sum()), "players_per_chain": float(np.mean(chain)),
               "evals": float(np.mean(evals)), "seconds": float(np.mean(seconds)), "full_value": float(np.mean(full)),
               **edge_figures(np.stack(estimates), players),
               "mean_cell": str(search.space.genotype(np.mean(estimates, axis=0))), "estimates": np.stack(estimates).tolist()}
        rows.append(row)
        print(f"{name:>16}  full {row['full_value']:+.3f}  players/chain {row['players_per_chain']:5.1f}/{row['players']}  evals {row['evals']:6.1f}"
              f"  {row['seconds']:6.1f} s  spearman {row['spearman']:+.2f}  top-op agreement "
              f"{row['top_op_agreement']:.2f} (chance {row['top_op_chance']:.2f})  split-half "
              f"{row['split_half_spearman']:+.2f}  snr {row['snr']:.2f}\n{'':>16}  cell of the mean: {row['mean_cell']}",
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a search's workdir (config.json and checkpoints/)")
    parser.add_argument("--variant", action="append", default=[], help="NAME=key=value,... (repeatable)")
    parser.add_argument("--repeats", type=int, default=4, help="estimates per variant (at least 2)")
    parser.add_argument("--seed", type=int, default=0, help="root of the permutation keys")
    parser.add_argument("--out", default="", help="write the rows here as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error(f"--repeats={args.repeats}: agreement needs at least 2 estimates")
    if not os.path.isfile(os.path.join(args.run, "config.json")):
        parser.error(f"--run {args.run}: no config.json there; give the workdir of a search")
    try:
        variants = [parse_variant(v) for v in (args.variant or ["base="])]
    except ValueError as error:
        parser.error(str(error))
    rows = study(args.run, variants, args.repeats, args.seed)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"run": os.path.abspath(args.run), "repeats": args.repeats, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
