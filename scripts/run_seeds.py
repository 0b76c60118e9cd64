"""Run one search config over several seeds and summarise them as mean ± std (paper Tables 1 and 5).

    python scripts/run_seeds.py --config configs/nb201_cifar10.py --seeds 0,1,2,3 --workdir runs/nb201-c10 \
        --config.search.benchmark=../shared/data/nb201/nb201_200ep.csv.gz
    python scripts/run_seeds.py --config configs/robust_darts.py:s2,cifar10 --seeds 0,1,2,3 --workdir runs/s2-c10-darts \
        --config.search.method=darts_1st --train-config configs/train_cifar10.py

Seeds run one after another, each in ROOT/seed<k> (``config.seed = k``; everything else identical: same
supernet, data, schedule and budget). Rerunning the command resumes: ``run_search`` continues every
unfinished seed from its last checkpoint, and a seed whose ``results.json`` already holds this exact
config is not rerun. With ``--train-config`` each found genotype is trained from scratch by
``run_training`` in ROOT/train/seed<k> (resumable too) and its test error enters the summary.

Writes ROOT/summary.json, over every finished seed of ROOT with this config (without ``--train-config``: also
seeds run by earlier calls, so seeds can be run one call at a time), and prints:

* NB201 runs with a benchmark (``search.benchmark``): the Table 5 row (CIFAR-10 / CIFAR-100 /
  ImageNet16-120, validation and test accuracy, mean ± std over seeds);
* other runs: each seed's genotype and skip count, and with ``--train-config`` the Table 1 cell
  (test error %, mean ± std over seeds).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from typing import Any

from absl import flags
from ml_collections import config_flags

from shapley_nas_jax.analysis import tables
from shapley_nas_jax.evaluation.train import run_training
from shapley_nas_jax.search import run_search


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
        else:
            seeds.append(int(part))
    if not seeds:
        raise ValueError(f"--seeds={text!r} names no seed; give e.g. --seeds 0,1,2,3")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds={text!r} repeats a seed")
    return seeds


def _normalise_argv(argv: list[str]) -> list[str]:
    """Accept the ``--train-config`` / ``--train-config.key=value`` spellings of the absl flag train_config."""
    out = []
    for arg in argv:
        if arg.startswith("--train-config"):
            arg = "--train_config" + arg[len("--train-config"):]
        out.append(arg)
    return out


def parse_args(argv: list[str]):
    argv = _normalise_argv(list(argv))
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "Search config file (configs/*.py).", flag_values=fv,
                                    lock_config=True, sys_argv=argv)
    config_flags.DEFINE_config_file("train_config", None, "Training config: train each seed's genotype "
                                    "from scratch and report its test error.", flag_values=fv,
                                    lock_config=True, sys_argv=argv)
    flags.DEFINE_string("seeds", "0,1,2,3", "Comma-separated seeds (or a range a-b).", flag_values=fv)
    flags.DEFINE_string("workdir", None, "Root directory: ROOT/seed<k> per seed, ROOT/summary.json.",
                        flag_values=fv)
    flags.DEFINE_bool("progress", True, "Show progress bars.", flag_values=fv)
    fv(argv)
    if fv.config is None:
        raise ValueError("run_seeds needs --config FILE")
    if not fv.workdir:
        raise ValueError("run_seeds needs --workdir ROOT")
    return fv


def _config_json(config) -> Any:
    return json.loads(config.to_json_best_effort())


def _finished_results(workdir: str, config) -> dict | None:
    """results.json of a finished run with exactly this config, else None."""
    path = os.path.join(workdir, "results.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    return results if results.get("config") == _config_json(config) else None


def run_seed(config, seed: int, root: str, train_config=None, progress: bool = True) -> dict:
    """Search (and optionally train) one seed; returns its per-seed summary entry."""
    config = copy.deepcopy(config)
    config.seed = seed
    workdir = os.path.join(root, f"seed{seed}")
    results = _finished_results(workdir, config)
    if results is None:
        run_search(config, workdir, progress=progress)
        with open(os.path.join(workdir, "results.json"), encoding="utf-8") as f:
            results = json.load(f)
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
        train_config = copy.deepcopy(train_config)
        train_config.seed = seed
        train_dir = os.path.join(root, "train", f"seed{seed}")
        trained = run_training(train_config, genotype=workdir, workdir=train_dir, progress=progress)
        entry.update({
            "train_workdir": train_dir,
            "test_accuracy": trained.get("test_accuracy"),
            "test_error": tables.test_error_percent(trained.get("test_accuracy")),
            "params_m": trained.get("params_m"),
        })
    return entry


def finished_seeds(config, root: str) -> list[int]:
    """Seeds whose ``ROOT/seed<k>/results.json`` holds this config (with that seed): runs of earlier calls."""
    seeds = []
    for name in os.listdir(root) if os.path.isdir(root) else []:
        match = re.fullmatch(r"seed(\d+)", name)
        if match:
            seeded = copy.deepcopy(config)
            seeded.seed = int(match.group(1))
            if _finished_results(os.path.join(root, name), seeded) is not None:
                seeds.append(seeded.seed)
    return sorted(seeds)


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


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv if argv is None else argv)
    fv = parse_args(argv)
    config, train_config, root = fv.config, fv.train_config, fv.workdir
    seeds = parse_seeds(fv.seeds)
    os.makedirs(root, exist_ok=True)
    runs = []
    for seed in seeds:
        runs.append(run_seed(config, seed, root, train_config, progress=fv.progress))
        print(f"seed {seed}: {runs[-1]['genotype_str']}", flush=True)
    if train_config is None:  # the summary covers every finished seed of ROOT, e.g. one per earlier call
        earlier = [s for s in finished_seeds(config, root) if s not in seeds]
        runs = sorted(runs + [run_seed(config, s, root, progress=False) for s in earlier], key=lambda r: r["seed"])
    summary = summarize(config, runs, train_config)
    with open(os.path.join(root, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    print(summary["table"])
    print(f"summary: {os.path.join(root, 'summary.json')}")
    return summary


if __name__ == "__main__":
    main()
