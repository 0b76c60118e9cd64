"""Shapley estimators measured against exact values (``scripts/compare_estimators.py``,
``scripts/truncation_bias.py``).

Comparison: every registered estimator (``shapley_nas_jax.shapley.available_estimators()``, the names
``shapley.estimator`` takes; the Taylor control-variate one only on games with control data) and every shapiq approximator for plain Shapley values
(``shapiq_<ClassName>``; needs ``pip install 'shapley-nas-jax[compare]'``, else only this library's rows), on
synthetic games with closed-form values (voting, glove, airport, a random table) and on recorded supernet games
(``shapley_nas_jax.exact_games``: exact values from their 2^n tables), at the same budgets of
value evaluations. Per (game, estimator, budget), over seeds: the MSE to the exact values with its standard
error, the Spearman correlation of estimate and exact values within each group of players (synthetic games:
all players; op players: each edge's ops; edge players: each node's input edges), top-op accuracy (the
estimate's best player of a group is an exact best; edge players: the estimate's two best input edges of a
node are the exact two, nodes with two or fewer edges left out), wall time and evaluations per second. This
library's estimators run as one jitted call vmapped over seeds after a compile timed on its own; shapiq's run
in its own loop over seeds, its queries evaluated by a jitted vmap of the same value function
(``shapley_nas_jax.interop.shapiq_games.CountingGame``, which counts the coalitions shapiq asks for).

Truncation bias (``truncation_bias``): what the search's truncation (eta) and mean-minus-std aggregate do to
permutation estimates, against exact values.
"""

from __future__ import annotations

import math
import os
import pathlib
import sys
import time
import warnings
from typing import Any, NamedTuple

import jax
import numpy as np

from shapley_nas_jax.analysis.ranking import rank_agreement
from shapley_nas_jax.errors import UnknownNameError
from shapley_nas_jax.shapley import exact_shapley, permutation_shapley
from shapley_nas_jax.shapley import games as G

BASELINE = "permutation_uniform"
BUDGET_MULTIPLES = (16, 64, 256)        # default budgets: these times the number of players, capped at 2^n
QUICK_MULTIPLES = (64,)              # --quick: one budget (compiles dominate: one per estimator, game, budget)
QUICK_SEEDS = 10


class GameSpec(NamedTuple):
    game: Any                  # shapley_nas_jax.shapley.games.Game
    exact: np.ndarray          # float64 [n]
    groups: tuple              # tuple of int arrays: the players compared with each other
    grouping: str              # "all" | "edge" | "node"
    top_k: int                 # 1: the best player of each group; 2: the two best (edge players of a node)
    control: Any               # (value_full, grad [n], hessian [n, n]) or None
    control_metric: str | None


# ---------------------------------------------------------------------------------------------------------
# games


def synthetic_games(tiny: bool = False) -> list[GameSpec]:
    rng = np.random.default_rng(0)
    if tiny:  # small enough for tests: every shapiq approximator reaches 2^n
        weights = [3, 1, 2, 2, 1]
        games = [G.voting_game(weights, 5), G.glove_game(2, 3), G.airport_game([1.0, 2.5, 4.0, 0.5, 3.0]),
                 G.random_table_game(5, seed=0)]
    else:
        weights = rng.integers(1, 11, size=13).tolist()
        games = [G.voting_game(weights, sum(weights) // 2 + 1), G.glove_game(6, 7),
                 G.airport_game(rng.uniform(0.0, 10.0, size=12).round(2).tolist()), G.random_table_game(10, seed=0)]
    specs = []
    for game in games:
        exact = game.shapley_values
        if exact is None:
            exact = np.asarray(exact_shapley(game.value_fn, game.num_players, shared=game.shared), np.float64)
        specs.append(GameSpec(game, np.asarray(exact, np.float64), (np.arange(game.num_players),), "all", 1, None,
                              None))
    return specs


def player_groups(edge, node) -> tuple[tuple, str, int]:
    """Players of each group (``supernet_games.ranking_groups``): per edge, top-1, or per node, top-2."""
    from shapley_nas_jax.exact_games import ranking_groups

    ids, top_k = ranking_groups(edge, node)
    return tuple(np.flatnonzero(ids == k) for k in np.unique(ids)), ("node" if top_k == 2 else "edge"), top_k


def supernet_games(directory, control_metric: str) -> list[GameSpec]:
    """The games recorded in ``directory``/*.npz: each file's accuracy and neg_ce games, with Taylor controls."""
    files = sorted(pathlib.Path(directory).glob("*.npz")) if os.path.isdir(directory) else []
    if not files:
        return []
    try:
        from shapley_nas_jax.exact_games import load_game
    except ImportError:
        print(f"note: {directory} has game files but shapley_nas_jax.exact_games is missing; "
              "synthetic games only", file=sys.stderr)
        return []
    specs = []
    for path in files:
        loaded = load_game(path)
        groups, grouping, top_k = player_groups(loaded.edge, loaded.node)
        for metric, control_from in (("accuracy", control_metric), ("neg_ce", "neg_ce")):
            game = loaded.table_game(metric)
            exact = game.shapley_values
            if exact is None:
                exact = np.asarray(exact_shapley(game.value_fn, game.num_players, shared=game.shared), np.float64)
            control = tuple(np.asarray(x, np.float32) for x in loaded.taylor(control_from))
            specs.append(GameSpec(game, np.asarray(exact, np.float64), groups, grouping, top_k, control, control_from))
    return specs


def select_games(which: str, tiny: bool, supernet_dir, control_metric: str, quick: bool) -> list[GameSpec]:
    specs = []
    if which in ("all", "synthetic"):
        synthetic = synthetic_games(tiny)
        specs += [synthetic[0], synthetic[3]] if quick else synthetic
    if which in ("all", "supernet"):
        supernet = supernet_games(supernet_dir, control_metric)
        if quick:  # the first game file's two games
            supernet = supernet[:2]
        specs += supernet
    return [s for s in specs if which != "supernet" or s.game.name.startswith("supernet_")]


def default_budgets(n: int, multiples) -> list[int]:
    return sorted({min(m * n, 1 << n) for m in multiples})


# ---------------------------------------------------------------------------------------------------------
# metrics


def metrics(values: np.ndarray, exact: np.ndarray, groups=None, top_k: int = 1) -> dict:
    """values [seeds, n] against exact [n]: MSE over players (mean and standard error over seeds); Spearman's
    correlation within groups, as shapley_nas_jax.analysis.ranking.rank_agreement has it (groups of three or
    more players whose exact values differ) and top-op accuracy (groups with more than ``top_k`` players; a tie
    among the exact best counts as a hit for any of them), both averaged over (seed, group)."""
    values, exact = np.asarray(values, np.float64), np.asarray(exact, np.float64)
    n = exact.shape[0]
    groups = groups if groups is not None else (np.arange(n),)
    ids = np.full(n, -1, np.int64)
    for i, g in enumerate(groups):
        ids[np.asarray(g)] = i
    mse = np.mean((values - exact[None, :]) ** 2, axis=1)
    seeds = values.shape[0]
    with warnings.catch_warnings():  # a constant estimate (a group never sampled) counts 0: no warning
        warnings.simplefilter("ignore")
        agreements = [rank_agreement(row, exact, ids, top=top_k) for row in values]
    rhos = np.asarray([a["spearman"] for a in agreements], np.float64)
    hits = [a["top_accuracy"] for a in agreements if not math.isnan(a["top_accuracy"])]
    return {"mse": float(mse.mean()),
            "mse_se": float(mse.std(ddof=1) / math.sqrt(seeds)) if seeds > 1 else float("nan"),
            "spearman": float(rhos.mean()) if np.all(np.isfinite(rhos)) else float("nan"),
            "top_op_accuracy": float(np.mean(hits)) if hits else float("nan")}


# ---------------------------------------------------------------------------------------------------------
# runs


def load_estimators():
    """({name: registered estimator}, estimate) of shapley_nas_jax.shapley.estimators, read when the run starts."""
    from shapley_nas_jax.shapley import estimators

    return {name: estimators.get_estimator(name) for name in estimators.available_estimators()}, estimators.estimate


def run_library(name, estimator, estimate, spec: GameSpec, budget: int, seeds: int) -> dict:
    game, control = spec.game, spec.control if getattr(estimator, "needs_control", False) else None

    def one(key):
        est = estimate(name, game, budget, key, control=control) if control is not None else \
            estimate(name, game, budget, key)
        return est.values, est.num_evaluations

    keys = jax.random.split(jax.random.PRNGKey(1234), seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(one)).lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    values, evaluations = jax.block_until_ready(compiled(keys))
    seconds = time.perf_counter() - t0
    return {"values": np.asarray(values, np.float64), "evaluations": np.asarray(evaluations, np.float64),
            "seconds": seconds, "compile_s": compile_s}


def run_shapiq(approximator, spec: GameSpec, budget: int, seeds: int, counting) -> dict:
    from shapley_nas_jax.interop.shapiq_games import shapiq_estimate

    values, evaluations, seconds = [], [], 0.0
    for seed in range(seeds):
        est = shapiq_estimate(approximator, spec.game, budget, seed, counting=counting)
        values.append(est.values)
        evaluations.append(est.evaluations)
        seconds += est.seconds
    return {"values": np.stack(values), "evaluations": np.asarray(evaluations, np.float64), "seconds": seconds,
            "compile_s": 0.0}


def make_row(spec: GameSpec, library: str, estimator: str, budget: int, seeds: int, out: dict) -> dict:
    total = float(out["evaluations"].sum())
    row = {"game": spec.game.name, "players": int(spec.game.num_players), "estimator": estimator, "library": library,
           "budget": int(budget), "seeds": int(seeds), "evaluations": float(out["evaluations"].mean()),
           "grouping": spec.grouping, "top_k": spec.top_k, "control_metric": spec.control_metric}
    row.update(metrics(out["values"], spec.exact, spec.groups, spec.top_k))
    row.update({"seconds": round(out["seconds"], 4), "seconds_per_estimate": out["seconds"] / seeds,
                "compile_s": round(out["compile_s"], 3),
                "evals_per_s": total / out["seconds"] if out["seconds"] > 0 else float("nan")})
    return row


def shapiq_table(names):
    """{name: Approximator} of the shapiq approximators to run (default: all but the opt-in ones); {} and a
    note when shapiq is missing."""
    try:
        from shapley_nas_jax.interop.shapiq_games import sv_approximators

        table = sv_approximators()
    except ImportError as exc:
        print(f"note: {exc}; shapiq rows left out", file=sys.stderr)
        return {}
    if not names:
        return {k: a for k, a in table.items() if not a.opt_in}
    chosen = {}
    for name in names:
        key = name if name in table else f"shapiq_{name}"
        if key not in table:
            raise UnknownNameError(f"unknown shapiq approximator {name!r}; known: {', '.join(table)}")
        chosen[key] = table[key]
    return chosen


def run(specs, seeds: int, budgets, estimator_names=None, shapiq_names=None, log=print):
    ESTIMATORS, estimate = load_estimators()
    names = list(ESTIMATORS) if not estimator_names else list(estimator_names)
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown:
        raise UnknownNameError(f"unknown estimator(s) {', '.join(unknown)}; known: {', '.join(ESTIMATORS)}")
    approximators = shapiq_table(shapiq_names)
    rows, skipped = [], []
    for spec in specs:
        n = spec.game.num_players
        game_budgets = budgets(n)
        counting = None
        if approximators:
            from shapley_nas_jax.interop.shapiq_games import CountingGame

            counting = CountingGame(spec.game)
            counting.warm_up(max(game_budgets))
        for budget in game_budgets:
            for name in names:
                estimator = ESTIMATORS[name]
                if getattr(estimator, "needs_control", False) and spec.control is None:
                    continue  # no control data (synthetic games): not a result, not worth a note
                min_budget = getattr(estimator, "min_budget", None)
                if callable(min_budget) and budget < min_budget(n):
                    skipped.append({"game": spec.game.name, "estimator": name, "budget": budget,
                                    "why": f"budget below its minimum {min_budget(n)}"})
                    continue
                try:
                    out = run_library(name, estimator, estimate, spec, budget, seeds)
                except (ValueError, TypeError) as exc:
                    skipped.append({"game": spec.game.name, "estimator": name, "budget": budget,
                                    "why": str(exc).splitlines()[0][:200]})
                    continue
                rows.append(make_row(spec, "shapley_nas_jax", name, budget, seeds, out))
            for name, approximator in approximators.items():
                try:
                    out = run_shapiq(approximator, spec, budget, seeds, counting)
                except (ValueError, ImportError) as exc:  # e.g. SPEX: "Insufficient budget ..."
                    skipped.append({"game": spec.game.name, "estimator": name, "budget": budget,
                                    "why": str(exc).splitlines()[0][:200]})
                    continue
                rows.append(make_row(spec, "shapiq", name, budget, seeds, out))
            log(f"  {spec.game.name}: budget {budget} done")
    return rows, skipped


# ---------------------------------------------------------------------------------------------------------
# output


def _fmt(x, spec):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def print_table(rows, skipped=(), out=print):
    baseline = {(r["game"], r["budget"]): r["mse"] for r in rows if r["estimator"] == BASELINE}
    header = (f"{'budget':>6} {'library':<15} {'estimator':<30} {'evals':>7} {'MSE':>10} {'+-se':>9} "
              f"{'vs ' + BASELINE:>24} {'spearman':>8} {'top-op':>6} {'evals/s':>9}")
    for game in dict.fromkeys(r["game"] for r in rows):
        game_rows = [r for r in rows if r["game"] == game]
        first = game_rows[0]
        groups = {"all": "all players", "edge": "ops of each edge", "node": "input edges of each node"}
        control = f"; control: Taylor of {first['control_metric']}" if first["control_metric"] else ""
        out(f"\n{game}  (n={first['players']}, {first['seeds']} seeds; groups: {groups[first['grouping']]}, "
            f"top-{first['top_k']}{control})")
        out(header)
        out("-" * len(header))
        for r in sorted(game_rows, key=lambda r: (r["budget"], r["library"] != "shapley_nas_jax")):
            base = baseline.get((r["game"], r["budget"]))
            ratio = r["mse"] / base if base else None
            out(f"{r['budget']:>6} {r['library']:<15} {r['estimator']:<30} {r['evaluations']:>7.0f} "
                f"{_fmt(r['mse'], '10.3e')} {_fmt(r['mse_se'], '9.2e')} {_fmt(ratio, '24.2f')} "
                f"{_fmt(r['spearman'], '8.3f')} {_fmt(r['top_op_accuracy'], '6.2f')} {_fmt(r['evals_per_s'], '9.3g')}")
    for s in skipped:
        out(f"skipped: {s['game']} {s['estimator']} budget {s['budget']}: {s['why']}")


def throughput(rows, out=print) -> dict | None:
    """Evaluations per second on the first synthetic game at its largest budget: each of this library's
    estimators, then each shapiq approximator with how many times faster this library's baseline is."""
    synthetic = [r for r in rows if not r["game"].startswith("supernet_")]
    if not synthetic:
        return None
    game = synthetic[0]["game"]
    budget = max(r["budget"] for r in synthetic if r["game"] == game)
    at = [r for r in synthetic if r["game"] == game and r["budget"] == budget]
    ours = {r["estimator"]: r["evals_per_s"] for r in at if r["library"] == "shapley_nas_jax"}
    compile_s = {r["estimator"]: r["compile_s"] for r in at if r["library"] == "shapley_nas_jax"}
    theirs = {r["estimator"]: r["evals_per_s"] for r in at if r["library"] == "shapiq"}
    ref = ours.get(BASELINE, max(ours.values()) if ours else None)
    out(f"\nthroughput on {game} at budget {budget} (evaluations/s, {at[0]['seeds']} seeds; shapley_nas_jax: one "
        "jitted vmapped call over seeds, shapiq: its loop over seeds, each query a jitted vmap):")
    out("  shapley_nas_jax: " + ", ".join(f"{k} {_fmt(v, '.3g')}" for k, v in ours.items()))
    out("  (their compiles, not timed above, s: " + ", ".join(f"{k} {v:.1f}" for k, v in compile_s.items()) + ")")
    for k, v in theirs.items():
        speedup = f" (shapley_nas_jax {BASELINE} is {ref / v:.0f}x faster)" if ref and v else ""
        out(f"  {k}: {_fmt(v, '.3g')}{speedup}")
    return {"game": game, "budget": budget, "shapley_nas_jax": ours, "shapiq": theirs, "compile_s": compile_s}


def json_row(row: dict) -> dict:
    """NaN (no group to score, one seed) as null: strict JSON."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


# ---------------------------------------------------------------------------------------------------------
# truncation bias


TRUNCATION_SETTINGS = (("unbiased", None, "mean"), ("truncated", "eta", "mean"), ("mean_minus_std", None, "mean_minus_std"),
            ("search_default", "eta", "mean_minus_std"))


def truncation_bias(game, groups, permutations: int, eta: float, seed: int = 0, top: int = 1) -> list[dict]:
    """Per setting of ``TRUNCATION_SETTINGS`` (unbiased; truncation at ``eta``; mean minus std; both, the
    search's default), the permutation estimate of ``game``'s Shapley values over ``permutations`` chains
    against its exact values: the bias (RMS over players, and relative to the exact values' RMS), its sampling
    error (over ten blocks of chains), evaluations per chain, and the rank agreement within ``groups``."""
    n = game.num_players
    exact = game.shapley_values
    rows = []
    for label, truncation, aggregate in TRUNCATION_SETTINGS:
        est = permutation_shapley(game.value_fn, n, jax.random.PRNGKey(seed), num_permutations=permutations,
                                  truncation=eta if truncation else None, aggregate=aggregate,
                                  shared=game.shared, chunk_size=n + 1)
        values = np.asarray(est.values, np.float64)
        # Sampling error of the bias: the estimate over ten disjoint blocks of chains.
        blocks = np.asarray(est.marginals, np.float64).reshape(10, -1, n)
        block_means = blocks.mean(axis=1)
        if aggregate == "mean_minus_std":
            block_means = block_means - blocks.std(axis=1)
        bias_rms = float(np.sqrt(np.mean((values - exact) ** 2)))
        se = float(np.sqrt(np.mean(block_means.var(axis=0, ddof=1) / 10)))
        agreement = rank_agreement(values, exact, groups, top=top)
        rows.append(dict(setting=label, eta=eta if truncation else None, aggregate=aggregate,
                         bias_rms=bias_rms, bias_relative=bias_rms / float(np.sqrt(np.mean(exact ** 2))),
                         sampling_se=se, evaluations_per_chain=float(est.num_evaluations) / permutations,
                         spearman_within_groups=agreement["spearman"], top_accuracy=agreement["top_accuracy"], top=top))
    return rows
