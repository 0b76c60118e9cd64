"""Compare this library's Shapley estimators with shapiq's approximators on the same games and budgets.

This library's registered estimators (``shapley_nas_jax.shapley.available_estimators()``: the names
``shapley.estimator`` takes, ``permutation`` the search's own) and shapiq's approximators on synthetic games
with closed-form values and on the recorded supernet games in exact_games/*.npz, at the same
budgets of value evaluations: per (game, estimator, budget), over seeds, the MSE to the exact values, rank
agreement within groups of players, top-op accuracy and evaluations per second
(``shapley_nas_jax.analysis.estimator_comparison``, which does the work, says how each is measured).

    python scripts/compare_estimators.py [--games all|synthetic|supernet] [--seeds 30] [--budgets 256 1024]
        [--quick] [--shapiq NAME ...] [--estimators NAME ...] [--control-metric true_prob|neg_ce] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

from shapley_nas_jax.analysis.estimator_comparison import (
    BUDGET_MULTIPLES,
    QUICK_MULTIPLES,
    QUICK_SEEDS,
    default_budgets,
    json_row,
    print_table,
    run,
    select_games,
    throughput,
)
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.errors import UserError

SUPERNET_DIR = pathlib.Path(__file__).resolve().parents[1] / "exact_games"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", choices=("all", "synthetic", "supernet"), default="all")
    parser.add_argument("--seeds", type=int, default=None, help=f"default 30 ({QUICK_SEEDS} with --quick)")
    parser.add_argument("--budgets", type=int, nargs="+", default=None,
                        help="evaluations per estimate; default "
                             f"{'/'.join(map(str, BUDGET_MULTIPLES))} x players, capped at 2^players")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_SEEDS} seeds, a budget of {'/'.join(map(str, QUICK_MULTIPLES))} x players, two "
                             "synthetic games and the first supernet game file")
    parser.add_argument("--estimators", nargs="+", default=None,
                        help="registered estimators, by the names shapley.estimator takes (default: all)")
    parser.add_argument("--shapiq", nargs="+", default=None,
                        help="shapiq approximators, by class name (default: every SV approximator but the slow "
                             "SPEX and ProxySPEX)")
    parser.add_argument("--control-metric", choices=("true_prob", "neg_ce"), default="true_prob",
                        help="the Taylor control of the supernet accuracy games (neg_ce games use neg_ce)")
    parser.add_argument("--supernet-dir", default=str(SUPERNET_DIR), help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests: 5-player synthetic games
    parser.add_argument("--json", type=str, default=None, help="write the rows to this file")
    args = parser.parse_args(argv)
    enable_compilation_cache()
    seeds = args.seeds or (QUICK_SEEDS if args.quick else 30)
    if seeds < 2:
        parser.error("--seeds must be at least 2 (standard errors)")
    multiples = QUICK_MULTIPLES if args.quick else BUDGET_MULTIPLES

    def budgets(n):
        return sorted(set(args.budgets)) if args.budgets else default_budgets(n, multiples)

    specs = select_games(args.games, args.tiny, args.supernet_dir, args.control_metric, args.quick)
    if not specs:
        parser.error(f"no games: --games {args.games} and {args.supernet_dir} has no game files")
    t0 = time.perf_counter()
    try:
        rows, skipped = run(specs, seeds, budgets, args.estimators, args.shapiq,
                            log=lambda s: print(s, file=sys.stderr, flush=True))
    except UserError as error:
        parser.error(str(error))
    print_table(rows, skipped)
    speed = throughput(rows)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        settings = {"games": args.games, "seeds": seeds, "quick": args.quick, "control_metric": args.control_metric,
                    "budgets": args.budgets or f"{'/'.join(map(str, multiples))} x players, capped at 2^players"}
        with open(args.json, "w") as f:
            json.dump({"settings": settings, "rows": [json_row(r) for r in rows], "skipped": skipped,
                       "throughput": speed}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
