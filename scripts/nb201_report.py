"""Compare NAS-Bench-201 searches of several methods over seeds: the paper's Table 5 and its figures.

    python scripts/nb201_report.py --runs runs/cpu/shapley runs/cpu/shapley_paper runs/cpu/darts_1st \
        runs/cpu/darts_2nd runs/cpu/rsps --benchmark ../shared/data/nb201/nb201_200ep.csv.gz --out results/nb201

Each ``--runs`` ROOT is a ``scripts/run_seeds.py`` root (``ROOT/seed<k>/``); its finished seeds (those with
``results.json``) are read, unfinished ones are counted and left out of the tables (``curves.png`` draws the epochs
they have logged so far, dashed: a long search's progress). The benchmark table only reports: it
never chooses anything. Writes into ``--out`` ``report.md`` (the Table 5 layout with the paper's rows, each
seed's cell, the op strengths' correlation with accuracy, the Shapley estimates' agreement and noise),
``report.json`` (all of it as numbers) and the figures ``curves.png``, ``op_strengths_<method>.png``,
``correlation.png`` and ``estimate_noise.png``: ``shapley_nas_jax.analysis.nb201_report``, which does the
work, says what each holds.

``--recorded FILE`` adds seeds whose run directories are gone but whose found cells were recorded (a JSON
``{"seeds": [{"method": <the report's label>, "seed": k, "genotype_str": ..., "note": ...}]}``): they count in
the Table 5 means and the seeds table, marked "recorded", and in nothing that needs a run's epochs or op
strengths (curves, tau, agreement).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shapley_nas_jax.analysis.nb201_report import add_recorded, load_method, report
from shapley_nas_jax.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="*", default=[], help="run_seeds roots, one per method")
    parser.add_argument("--benchmark", required=True, help="NB201 table (.csv/.csv.gz) or nats_bench file")
    parser.add_argument("--out", required=True, help="directory for report.md, report.json and the PNGs")
    parser.add_argument("--num-archs", type=int, default=200, help="sampled cells for the correlation")
    parser.add_argument("--recorded", help="JSON of seeds whose runs are gone, by their recorded cells")
    args = parser.parse_args(argv)
    if not args.runs and not args.recorded:
        parser.error("give --runs (run_seeds roots) or --recorded (a JSON of recorded seeds), or both")
    try:
        methods = [load_method(root) for root in args.runs]
        if args.recorded:
            methods = add_recorded(methods, args.recorded)
        result = report(methods, args.benchmark, Path(args.out), args.num_archs)
    except UserError as error:
        parser.exit(2, f"nb201_report: error: {error}\n")
    print(result["markdown"])
    for path in result["written"]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
