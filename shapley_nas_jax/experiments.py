"""Experiments made of several runs: one search config over seeds, and DARTS+Shapley from finished DARTS runs.

* :func:`run_seeds` searches (and optionally trains) one config for each seed in this process, each seed in
  ``ROOT/seed<k>``, so that the seeds share compiled programs, and summarises them as mean ± std (paper
  Tables 1 and 5) in ``ROOT/summary.json`` (``scripts/run_seeds.py``).
* :func:`darts_plus_shapley` finishes the DARTS+Shapley search of a finished DARTS run from its last
  checkpoint (``scripts/darts_plus_shapley.py``).

Runs are read through :class:`shapley_nas_jax.runs.RunRecord`; a run counts as this config's when its
config differs from it in no key (keys added to the schema since it ran count as equal at their default, as
when ``run_search`` resumes it).
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any, Callable

import ml_collections
from etils import epath

from shapley_nas_jax import config as config_lib
from shapley_nas_jax.analysis import tables
from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.errors import ConfigError, UserError
from shapley_nas_jax.evaluation.train import run_training
from shapley_nas_jax.runs import RunDir, RunRecord, absolute_path, seed_runs
from shapley_nas_jax.search import run_search
from shapley_nas_jax.search.methods import get_method


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2,3"`` (or ``"0-3"``) -> ``[0, 1, 2, 3]``."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if re.fullmatch(r"\d+-\d+", part):
            lo, hi = part.split("-")
            seeds += list(range(int(lo), int(hi) + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise ConfigError(f"--seeds={text!r}: {part!r} is no seed; give e.g. --seeds 0,1,2,3 or 0-3")
    if not seeds:
        raise ConfigError(f"--seeds={text!r} names no seed; give e.g. --seeds 0,1,2,3")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds={text!r} repeats a seed")
    return seeds


def _config_json(config) -> Any:
    return json.loads(config.to_json_best_effort())


def _with_seed(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
    config = copy.deepcopy(config)
    config.seed = seed
    return config


def finished_results(run: RunRecord, config: ml_collections.ConfigDict) -> dict | None:
    """The results of ``run`` if it is a finished search of ``config``, else None."""
    if run.results is None or run.config_differences(config, config_lib.base_config()):
        return None
    return run.results


def run_seed(config, seed: int, root: str, train_config=None, progress: bool = True) -> dict:
    """Search (and optionally train) one seed in this process; returns its per-seed summary entry. A seed
    finished with this config is not searched again; an unfinished one resumes."""
    config = _with_seed(config, seed)
    run = seed_runs(root).get(seed)  # seed<k>, or a population's member of that seed
    workdir = os.fspath(run.root) if run is not None else os.path.join(root, f"seed{seed}")
    results = finished_results(RunRecord(workdir), config)
    if results is None:
        run_search(config, workdir, progress=progress)
        results = RunRecord(workdir).results
    entry = {
        "seed": seed,
        "workdir": workdir,
        "genotype": results.get("genotype"),
        "genotype_str": results.get("genotype_str"),
        "skip_count": results.get("skip_count"),
        "derived_from": results.get("derived_from"),
        "benchmark": results.get("benchmark"),
    }
    if train_config is not None:
        train_dir = os.path.join(root, "train", f"seed{seed}")
        trained = run_training(_with_seed(train_config, seed), genotype=workdir, workdir=train_dir, progress=progress)
        entry.update({
            "train_workdir": train_dir,
            "test_accuracy": trained.get("test_accuracy"),
            "test_error": tables.test_error_percent(trained.get("test_accuracy")),
            "params_m": trained.get("params_m"),
        })
    return entry


def run_population_seeds(config, seeds: list[int], root: str, progress: bool = True) -> None:
    """Search the seeds of ``seeds`` without a finished run in ROOT as one population (``search.population``,
    ``search/population.py``) in ``ROOT/population-<first>-<last>``. Each member's directory is the single
    search of its seed (the same config, alpha and genotype), and ``runs.seed_runs`` lists it as that seed's
    run, so the summary and the reports read it as they read ``ROOT/seed<k>``."""
    from shapley_nas_jax.search.population import run_population

    runs = seed_runs(root)
    pending = [s for s in seeds if s not in runs or finished_results(runs[s], _with_seed(config, s)) is None]
    if not pending:
        return
    if pending != list(range(pending[0], pending[0] + len(pending))):
        raise ConfigError(f"a population runs consecutive seeds; the unfinished ones here are {pending}: give "
                          f"--seeds as a range, or run without --population")
    population_config = _with_seed(config, pending[0])
    population_config.search.population = len(pending)
    workdir = os.path.join(root, f"population-{pending[0]}-{pending[-1]}")
    run_population(population_config, workdir, progress=progress)  # a diverged member's seed stays unfinished


def finished_seeds(config, root: str) -> list[int]:
    """Seeds whose ``ROOT/seed<k>`` holds a finished search of this config (with that seed)."""
    return [seed for seed, run in seed_runs(root).items() if finished_results(run, _with_seed(config, seed))]


def summarize(config, runs: list[dict], train_config=None) -> dict:
    """summary.json contents and the text table from the per-seed entries."""
    config_dict = _config_json(config)
    method = tables.method_label(config_dict)
    summary: dict[str, Any] = {
        "method": method,
        "space": config_dict["space"],
        "dataset": config_dict["data"]["name"],
        "seeds": [r["seed"] for r in runs],
        "runs": runs,
        "config": config_dict,
        "train_config": None if train_config is None else _config_json(train_config),
    }
    lines = [f"{method} on {config_dict['space']} / {config_dict['data']['name']}, seeds "
             f"{', '.join(map(str, summary['seeds']))} (mean {tables.PLUS_MINUS} std over seeds)"]
    if all(r.get("benchmark") for r in runs):
        summary["layout"] = "table5"
        summary["nb201"] = tables.nb201_summary([r["benchmark"] for r in runs])
        lines.append(tables.format_table5({method: summary["nb201"]}))
        lines.append("")
        lines.append(tables.format_table(["seed", "genotype"], [[r["seed"], r["genotype_str"]] for r in runs]))
    else:
        summary["layout"] = "table1"
        summary["skip_count"] = tables.mean_std([r.get("skip_count") for r in runs])
        header = ["seed", "skips", "genotype"]
        rows = [[r["seed"], r.get("skip_count"), r.get("genotype_str")] for r in runs]
        if train_config is not None:
            header.insert(2, "test error %")
            for row, r in zip(rows, runs):
                row.insert(2, f"{r['test_error']:.2f}")
        lines.append(tables.format_table(header, rows))
        lines.append(f"skip connections: {tables.format_mean_std(summary['skip_count'])}")
        if train_config is not None:
            summary["test_error"] = tables.mean_std([r["test_error"] for r in runs])
            lines.append("")
            lines.append(tables.format_table1(
                {tables.dataset_label(summary["dataset"]): {method: {summary["space"]: summary["test_error"]}}}))
    summary["table"] = "\n".join(lines)
    return summary


def run_seeds(config, seeds: list[int], root: str, train_config=None, progress: bool = True,
              log: Callable[[str], None] = print, population: bool = False) -> dict:
    """Search ``config`` for every seed, one after another in this process (the seeds share its compiled
    programs), each in ``ROOT/seed<k>``, and write ``ROOT/summary.json``; returns the summary.

    With ``population`` the unfinished seeds (consecutive ones) run as one population first
    (:func:`run_population_seeds`), whose members' run directories count as the seeds' runs (``runs.seed_runs``).

    Without ``train_config`` the summary covers every finished seed of ROOT with this config, also those of
    earlier calls (so seeds can be run one call at a time); with it, each found genotype is trained from scratch
    in ``ROOT/train/seed<k>`` and the summary covers the seeds of this call, with their test error."""
    absolute_path(root).mkdir(parents=True, exist_ok=True)
    if population:
        run_population_seeds(config, seeds, root, progress=progress)
    runs = []
    for seed in seeds:
        runs.append(run_seed(config, seed, root, train_config, progress=progress))
        log(f"seed {seed}: {runs[-1]['genotype_str']}")
    if train_config is None:
        earlier = [s for s in finished_seeds(config, root) if s not in seeds]
        runs = sorted(runs + [run_seed(config, s, root, progress=False) for s in earlier], key=lambda r: r["seed"])
    summary = summarize(config, runs, train_config)
    (absolute_path(root) / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def ablation_config(run: RunRecord) -> ml_collections.ConfigDict:
    """A finished DARTS run's config with the final Shapley estimate deciding the cell."""
    config = ml_collections.ConfigDict(run.config)
    if not get_method(config.search.method).ranks_ops_by_alpha:
        raise UserError(f"--run {run.path} is a search.method={config.search.method!r} run; give a DARTS run "
                        "(a method whose alpha ranks the ops by gradient, e.g. darts_1st or darts_2nd)")
    config.search.final_shapley = True
    config.search.derive_from = "shapley"
    return config


def _copy_tree(source: epath.Path, target: epath.Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_dir():
            _copy_tree(path, target / path.name)
        else:
            path.copy(target / path.name)


def darts_plus_shapley(run: str, workdir: str, progress: bool = True) -> dict:
    """DARTS+Shapley (paper Table 1) from the finished DARTS search in ``run``: the search
    ``search.final_shapley=True, search.derive_from="shapley"`` started in ``workdir`` from the DARTS run's
    last checkpoint (its end) and finished by ``run_search`` (one Shapley estimate on the trained supernet).
    Its training is the DARTS run's own, so the result equals that of the full search. A finished output is
    kept, an interrupted one resumes; returns its results."""
    source, target = RunRecord.load(run), RunRecord(workdir)
    if source.results is None:
        raise UserError(f"--run {run} has no results.json; finish (or resume) that search first")
    config = ablation_config(source)
    if target.results is not None:
        return target.results
    checkpoints = target.root / "checkpoints"
    if not checkpoints.is_dir() or not list(checkpoints.iterdir()):
        RunDir(workdir).prepare(config)  # refuses a workdir that holds another search
        checkpointer = Checkpointer(source.checkpoint_dir)
        last = checkpointer.latest_id()
        checkpointer.close()
        if last is None:
            raise UserError(f"--run {run} has no checkpoint to start from; it must keep its last one")
        _copy_tree(source.root / "checkpoints" / str(last), checkpoints / str(last))
        (source.root / "metrics.jsonl").copy(target.root / "metrics.jsonl", overwrite=True)
    run_search(config, workdir, progress=progress)
    return RunRecord(workdir).results


def finished_runs(run: str) -> dict[str, str]:
    """``{name: workdir}``: ``run`` itself when it is one search, else the finished ``seed<k>`` of a root."""
    record = RunRecord(run)
    if record.config is not None:
        return {"": run}
    seeds = {f"seed{seed}": os.path.join(run, f"seed{seed}") for seed, r in seed_runs(run).items()
             if r.results is not None}
    if not seeds:
        raise UserError(f"--run {run} is neither a search workdir (config.json) nor a run_seeds root with a "
                        "finished seed<k>/results.json")
    return seeds
