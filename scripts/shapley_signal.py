"""How well one Shapley update separates the ops of a trained supernet, under several estimator settings.

    python scripts/shapley_signal.py --run runs/nb201-cpu/shapley/seed0 --repeats 4 \
        --variant base= --variant no_truncation=shapley.truncation=0.01 \
        --variant cross_entropy=shapley.metric=neg_cross_entropy --variant m10=shapley.samples=10 \
        --out signal.json

Restores the last checkpoint of a finished (or interrupted) search, then for every variant (the run's config
with ``key=value`` overrides, comma-separated) estimates the ops' Shapley values ``--repeats`` times, each
time on fresh value batches and a fresh permutation key, without moving alpha, and reports what decides
whether an update carries information, using nothing but the estimates themselves (never a benchmark):
players per chain, evaluations and seconds per estimate, the repeats' rank agreement per edge (spearman,
split-half), top-op agreement against chance, signal to noise, and the cell of the mean estimate (each
described in ``shapley_nas_jax.analysis.shapley_signal``, which does the work).

Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from shapley_nas_jax.analysis.shapley_signal import parse_variant, repeated_estimates
from shapley_nas_jax.errors import UserError


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
    try:
        variants = [parse_variant(v) for v in (args.variant or ["base="])]
        rows = repeated_estimates(args.run, variants, args.repeats, args.seed,
                                  log=lambda line: print(line, flush=True))
    except UserError as error:
        parser.error(str(error))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"run": os.path.abspath(args.run), "repeats": args.repeats, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
