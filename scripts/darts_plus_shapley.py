"""DARTS+Shapley (paper Table 1) from a finished DARTS search: its cell chosen by Shapley values instead of alpha.

    python scripts/darts_plus_shapley.py --run runs/nb201/darts_1st/seed0 --workdir runs/nb201/darts_shapley/seed0
    python scripts/darts_plus_shapley.py --run runs/nb201/darts_1st --workdir runs/nb201/darts_shapley

The paper's DARTS+Shapley applies Shapley value evaluation "only at the final discretization step": the
supernet and alpha are DARTS', only the cell is derived from the ops' Shapley values. That is the search
``search.final_shapley=True, search.derive_from="shapley"`` runs, and its training is the DARTS run's own
(the final estimate moves nothing and draws its own random stream). So instead of searching again, this
starts that search in ``--workdir`` from the DARTS run's last checkpoint (its end) and lets ``run_search``
finish it: one Shapley estimate on the trained supernet, then results.json as a search writes it. The
result equals the full search's (tested). A run with ``search.freeze_alpha`` gives DARTS+Shapley*.

``--run`` is one finished search (a workdir with results.json) or a ``scripts/run_seeds.py`` root; for a
root every finished ``seed<k>`` is done into ``--workdir/seed<k>``, so the output is a root that
``scripts/nb201_report.py`` reads like any other. A finished output is kept; an interrupted one resumes.
The output's epoch records are the DARTS run's (its current cell per epoch is alpha's). The work is
``shapley_nas_jax.experiments.darts_plus_shapley``.
"""

from __future__ import annotations

import argparse
import os
import sys

from shapley_nas_jax.errors import UserError
from shapley_nas_jax.experiments import darts_plus_shapley, finished_runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a finished DARTS search's workdir, or a run_seeds root")
    parser.add_argument("--workdir", required=True, help="where the DARTS+Shapley result goes (a new folder)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        for name, run in finished_runs(args.run).items():
            results = darts_plus_shapley(run, os.path.join(args.workdir, name), progress=not args.no_progress)
            print(f"{name or args.workdir}: {results['genotype_str']} (skip connections: {results['skip_count']})")
    except UserError as error:
        parser.exit(2, f"darts_plus_shapley: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
