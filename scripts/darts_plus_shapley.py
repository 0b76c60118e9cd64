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
The output's epoch records are the DARTS run's (its current cell per epoch is alpha's).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil

import ml_collections

from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.errors import UserError
from shapley_nas_jax.runs import RunDir
from shapley_nas_jax.search import run_search

DARTS_METHODS = ("darts_1st", "darts_2nd")


def ablation_config(run: str) -> ml_collections.ConfigDict:
    """The finished DARTS run's config with the final Shapley estimate deciding the cell."""
    config = ml_collections.ConfigDict(RunDir(run).read_json("config.json"))
    if config.search.method not in DARTS_METHODS:
        raise UserError(f"--run {run} is a search.method={config.search.method!r} run; give a DARTS run "
                        f"({' or '.join(DARTS_METHODS)})")
    config.search.final_shapley = True
    config.search.derive_from = "shapley"
    return config


def darts_plus_shapley(run: str, workdir: str, progress: bool = True) -> dict:
    """Finish the DARTS+Shapley search of one finished DARTS ``run`` in ``workdir``; its results.json."""
    source, target = RunDir(run), RunDir(workdir)
    if not os.path.isfile(source.file("results.json")):
        raise UserError(f"--run {run} has no results.json; finish (or resume) that search first")
    config = ablation_config(run)
    if os.path.isfile(target.file("results.json")):
        return target.read_json("results.json")
    if not os.path.isdir(target.checkpoint_dir) or not os.listdir(target.checkpoint_dir):
        target.prepare(config)  # refuses a workdir that holds another search
        checkpoints = Checkpointer(source.checkpoint_dir)
        last = checkpoints.latest_id()
        checkpoints.close()
        if last is None:
            raise UserError(f"--run {run} has no checkpoint to start from; it must keep its last one")
        shutil.copytree(os.path.join(source.checkpoint_dir, str(last)), os.path.join(target.checkpoint_dir, str(last)))
        shutil.copyfile(source.file("metrics.jsonl"), target.file("metrics.jsonl"))
    run_search(config, workdir, progress=progress)
    return target.read_json("results.json")


def finished_runs(run: str) -> dict[str, str]:
    """``{name: workdir}``: ``run`` itself when it is one search, else the finished ``seed<k>`` of a root."""
    if os.path.isfile(os.path.join(run, "config.json")):
        return {"": run}
    seeds = sorted(glob.glob(os.path.join(run, "seed*", "results.json")))
    if not seeds:
        raise UserError(f"--run {run} is neither a search workdir (config.json) nor a run_seeds root with a "
                        "finished seed<k>/results.json")
    return {os.path.basename(os.path.dirname(path)): os.path.dirname(path) for path in seeds}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a finished DARTS search's workdir, or a run_seeds root")
    parser.add_argument("--workdir", required=True, help="where the DARTS+Shapley result goes (a new folder)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    out = {}
    try:
        for name, run in finished_runs(args.run).items():
            results = darts_plus_shapley(run, os.path.join(args.workdir, name), progress=not args.no_progress)
            out[name or args.workdir] = results["genotype_str"]
            print(f"{name or args.workdir}: {results['genotype_str']} (skip connections: {results['skip_count']})")
    except UserError as error:
        parser.exit(2, f"darts_plus_shapley: {error}\n")
    return out


if __name__ == "__main__":
    main()
