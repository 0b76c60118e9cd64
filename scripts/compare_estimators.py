"""Compare permutation samplers (uniform, antithetic, stratified) against exact Shapley values.

At equal numbers of value evaluations (same number of chains, no truncation unless --truncation is given),
prints the RMSE to the exact values averaged over seeds, with its standard error.

    python scripts/compare_estimators.py [--seeds 40] [--budgets 14 56] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.shapley import SAMPLERS, exact_shapley, permutation_shapley
from shapley_nas_jax.shapley import games as G


def benchmark_games():
    rng = np.random.default_rng(0)
    weights = rng.integers(1, 11, size=13).tolist()
    quota = sum(weights) // 2 + 1
    return [
        G.voting_game(weights, quota),
        G.glove_game(6, 7),
        G.airport_game(rng.uniform(0.0, 10.0, size=12).round(2).tolist()),
        G.random_table_game(10, seed=0),
    ]


def run(seeds: int, budgets, truncation):
    rows = []
    for game in benchmark_games():
        n = game.num_players
        exact = game.shapley_values
        if exact is None:
            exact = np.asarray(exact_shapley(game.value_fn, n, shared=game.shared), np.float64)
        for m in budgets:
            for sampling in SAMPLERS:
                if sampling == "antithetic" and m % 2:
                    continue

                def estimate(key, sampling=sampling, m=m):
                    est = permutation_shapley(game.value_fn, n, key, num_permutations=m, truncation=truncation,
                                              sampling=sampling, shared=game.shared, chunk_size=n + 1)
                    return est.values, est.num_evaluations

                keys = jax.random.split(jax.random.PRNGKey(1234), seeds)
                t0 = time.perf_counter()
                values, evals = jax.jit(jax.vmap(estimate))(keys)
                values = np.asarray(values, np.float64)
                seconds = time.perf_counter() - t0
                rmse = np.sqrt(np.mean((values - exact[None, :]) ** 2, axis=1))  # [seeds]
                rows.append(dict(game=game.name, n=n, permutations=m, sampling=sampling,
                                 evaluations=float(np.mean(np.asarray(evals))), rmse=float(rmse.mean()),
                                 rmse_se=float(rmse.std(ddof=1) / np.sqrt(seeds)), seeds=seeds,
                                 seconds=round(seconds, 3)))
    return rows


def print_table(rows):
    header = f"{'game':<26} {'n':>3} {'M':>4} {'sampler':<11} {'evals':>7} {'RMSE':>9} {'+-se':>8} {'vs uniform':>10}"
    print(header)
    print("-" * len(header))
    uniform = {(r["game"], r["permutations"]): r["rmse"] for r in rows if r["sampling"] == "uniform"}
    for r in rows:
        ratio = r["rmse"] / uniform[(r["game"], r["permutations"])]
        print(f"{r['game']:<26} {r['n']:>3} {r['permutations']:>4} {r['sampling']:<11} {r['evaluations']:>7.0f} "
              f"{r['rmse']:>9.5f} {r['rmse_se']:>8.5f} {ratio:>10.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--budgets", type=int, nargs="+", default=[14, 56], help="permutations per estimate")
    parser.add_argument("--truncation", type=float, default=None, help="eta; default: no truncation")
    parser.add_argument("--json", type=str, default=None, help="write the rows to this file")
    args = parser.parse_args()
    enable_compilation_cache()
    rows = run(args.seeds, args.budgets, args.truncation)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"truncation": args.truncation, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
