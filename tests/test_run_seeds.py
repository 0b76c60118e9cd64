"""One config over seeds (shapley_nas_jax.experiments.run_seeds, scripts/run_seeds.py) and the mean ± std tables
of shapley_nas_jax.analysis.tables."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from shapley_nas_jax import experiments
from shapley_nas_jax.analysis import tables
from shapley_nas_jax.cli.common import load_config
from shapley_nas_jax.errors import ConfigError, WorkdirConflictError
from repo_files import REPO
from test_baselines import write_nb201_table

SHARED_TABLE = os.path.join(REPO, "..", "shared", "data", "nb201", "nb201_200ep.csv.gz")
NB201_CONFIG = os.path.join(REPO, "configs", "nb201_cifar10.py")


def test_mean_std_with_known_numbers():
    s = tables.mean_std([93.5, 94.0, 93.6])
    assert s["mean"] == pytest.approx(93.7) and s["n"] == 3
    assert s["std"] == pytest.approx(math.sqrt(0.14 / 3))  # population std (ddof=0)
    assert tables.mean_std([93.5, 94.0, 93.6], ddof=1)["std"] == pytest.approx(math.sqrt(0.14 / 2))
    assert tables.format_mean_std(s) == "93.70 ± 0.22"
    assert tables.format_mean_std([2.0, 4.0], digits=1) == "3.0 ± 1.0"
    nan_skipped = tables.mean_std([1.0, float("nan"), None, 3.0])
    assert nan_skipped["mean"] == 2.0 and nan_skipped["n"] == 2
    assert tables.format_mean_std([]) == "-"
    assert tables.format_mean_std([5.0], ddof=1) == "5.00"
    assert tables.format_mean_std([5.0]) == "5.00"  # one seed: no "± 0.00" that would read as no spread
    assert tables.format_mean_std({"mean": 5.0, "std": 0.0, "n": None}) == "5.00 ± 0.00"  # a published row
    assert tables.test_error_percent(0.9745) == pytest.approx(2.55)


def test_table5_and_table1_layouts():
    acc = lambda c10: {"cifar10": {"valid": c10 - 3, "test": c10}, "cifar100": {"valid": 70.0, "test": 71.0},
                       "imagenet16": {"valid": 40.0, "test": 41.0}}
    summary = tables.nb201_summary([acc(94.0), acc(93.0)])
    assert summary["cifar10"]["test"]["mean"] == 93.5 and summary["cifar10"]["test"]["std"] == 0.5
    text = tables.format_table5({"Random (baseline)": summary})
    header, rule, row = text.splitlines()
    assert header.split()[:3] == ["Method", "CIFAR-10", "validation"]
    assert "ImageNet16-120 test" in header
    assert row.startswith("Random (baseline)")
    assert [c.strip() for c in row[len("Random (baseline)"):].split("  ") if c.strip()] == [
        "90.50 ± 0.50", "93.50 ± 0.50", "70.00 ± 0.00", "71.00 ± 0.00", "40.00 ± 0.00", "41.00 ± 0.00"]
    t1 = tables.format_table1({"C10": {"DARTS (1st)": {"s1": [3.0, 4.0]}, "Shapley-NAS": {"s1": [2.5, 2.5],
                                                                                          "s2": [2.0]}}})
    lines = t1.splitlines()
    assert lines[0].split() == ["Dataset", "Method", "S1", "S2"]
    assert lines[2].split() == ["C10", "DARTS", "(1st)", "3.50", "±", "0.50", "-"]
    assert lines[3].split() == ["Shapley-NAS", "2.50", "±", "0.00", "2.00"]  # one seed in S2: its mean alone


def test_method_labels():
    cfg = lambda **s: {"search": {"method": "darts_1st", "final_shapley": False, "derive_from": "alpha",
                                  "freeze_alpha": False, **s}}
    assert tables.method_label(cfg(method="shapley")) == "Shapley-NAS (reference)"  # the schema's defaults
    assert tables.method_label({**cfg(method="shapley"), "alpha_rule": {"name": "paper"}}) == \
        "Shapley-NAS (mean minus std, eqs. 6-7)"
    shapley = lambda **o: {**cfg(method="shapley"), "shapley": {"estimator": "permutation",
                                                                 "aggregate": "mean_minus_std", "budget": 0, **o}}
    assert tables.method_label(shapley()) == "Shapley-NAS (reference)"
    assert tables.method_label(shapley(aggregate="mean")) == "Shapley-NAS (mean, z-score rule)"
    assert tables.method_label({**shapley(aggregate="mean"), "alpha_rule": {"name": "paper"}}) == "Shapley-NAS (paper)"
    assert tables.method_label({**shapley(aggregate="mean"), "alpha_rule": {"name": "mine"}}) == \
        "Shapley-NAS (mean, mine rule)"
    assert tables.method_label({**shapley(estimator="stratified_neyman", budget=96), "alpha_rule": {"name": "paper"}}) \
        == "Shapley-NAS (stratified_neyman, 96 evaluations, eqs. 6-7)"
    assert tables.method_label(shapley(estimator="kernelshap_paired")) == "Shapley-NAS (kernelshap_paired, z-score rule)"
    assert tables.method_label(cfg(method="rsps")) == "RSPS"
    assert tables.method_label(cfg()) == "DARTS (1st)"
    assert tables.method_label(cfg(method="darts_2nd", final_shapley=True, derive_from="shapley")) == \
        "DARTS+Shapley (2nd)"
    assert tables.method_label(cfg(final_shapley=True, derive_from="shapley", freeze_alpha=True)) == \
        "DARTS+Shapley* (1st)"


def test_parse_seeds():
    assert experiments.parse_seeds("0,1,2,3") == [0, 1, 2, 3]
    assert experiments.parse_seeds("2-4") == [2, 3, 4]
    assert experiments.parse_seeds("0-1, 5") == [0, 1, 5]
    for bad, message in (("1,1", "repeats a seed"), ("", "names no seed"), ("a", "'a' is no seed")):
        with pytest.raises(ConfigError, match=message):
            experiments.parse_seeds(bad)


def random_search_config(table, **overrides):
    return load_config(NB201_CONFIG, ["search.method=random", "search.random_samples=10",
                                      f"search.benchmark={table}", *(f"{k}={v}" for k, v in overrides.items())])


def test_nb201_random_search_over_seeds_writes_table5_summary(tmp_path):
    table = tmp_path / "table.csv"
    rows = write_nb201_table(table, 40, seed=3)
    root = str(tmp_path / "runs")
    config = random_search_config(table)
    summary = experiments.run_seeds(config, [0, 1, 2], root, progress=False)
    out = summary["table"]
    assert sorted(os.listdir(root)) == ["seed0", "seed1", "seed2", "summary.json"]
    on_disk = json.load(open(os.path.join(root, "summary.json")))
    assert on_disk["layout"] == "table5" and on_disk["method"] == "Random (baseline)"
    assert on_disk["seeds"] == [0, 1, 2]
    by_arch = {r["arch_str"]: r for r in rows}
    c10_test = []
    for seed, run in zip([0, 1, 2], on_disk["runs"]):
        results = json.load(open(os.path.join(root, f"seed{seed}", "results.json")))
        assert results["config"]["seed"] == seed and run["genotype_str"] == results["genotype_str"]
        c10_test.append(by_arch[run["genotype_str"]]["cifar10_test"])
    assert on_disk["nb201"]["cifar10"]["test"]["mean"] == pytest.approx(np.mean(c10_test))
    assert on_disk["nb201"]["cifar10"]["test"]["std"] == pytest.approx(np.std(c10_test))
    assert tables.format_mean_std(on_disk["nb201"]["cifar10"]["test"]) in out
    assert "CIFAR-10 validation" in out and "Random (baseline)" in out
    assert summary["table"] == on_disk["table"]
    # rerunning resumes: finished seeds are not searched again (their results.json stays untouched)
    stamp = os.path.getmtime(os.path.join(root, "seed0", "results.json"))
    again = experiments.run_seeds(config, [0, 1, 2, 3], root, progress=False)
    assert os.path.getmtime(os.path.join(root, "seed0", "results.json")) == stamp
    assert again["seeds"] == [0, 1, 2, 3] and os.path.isfile(os.path.join(root, "seed3", "results.json"))
    # one seed per call (as scripts/nb201_cpu_results.sh runs them): the summary still covers every finished seed
    single = experiments.run_seeds(config, [1], root, progress=False)
    assert single["seeds"] == [0, 1, 2, 3] and json.load(open(os.path.join(root, "summary.json")))["seeds"] == [0, 1, 2, 3]
    other = experiments.run_seeds(config, [1], root + "-other", progress=False)
    assert other["seeds"] == [1]  # a fresh root has only the seed it ran
    # a run that predates a config key is this config's while the key holds its default (as run_search resumes it)
    saved = json.load(open(os.path.join(root, "seed0", "config.json")))
    del saved["checkpoint"]["keep"]
    json.dump(saved, open(os.path.join(root, "seed0", "config.json"), "w"))
    assert experiments.finished_seeds(config, root) == [0, 1, 2, 3]
    assert experiments.run_seeds(config, [0], root, progress=False)["seeds"] == [0, 1, 2, 3]
    assert os.path.getmtime(os.path.join(root, "seed0", "results.json")) == stamp
    # another config's runs are not this one's: none counts as finished, and a search there is refused
    other_config = random_search_config(table, **{"search.random_samples": 11})
    assert experiments.finished_seeds(other_config, root) == []
    with pytest.raises(WorkdirConflictError, match="search.random_samples: 10 -> 11"):
        experiments.run_seeds(other_config, [0], root, progress=False)


def test_darts_space_summary_with_training_in_table1_layout(tmp_path, monkeypatch):
    """The DARTS-space path: genotypes, skip counts and (with --train-config) Table 1's test error.
    Search and training are replaced by stand-ins here (their real runs are tested elsewhere) so that only
    the runner's bookkeeping is under test: seeds, workdirs, genotype hand-over, aggregation."""
    from shapley_nas_jax.genotypes import count_ops, parse_genotype

    genotypes = {
        0: "Genotype(normal=[('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
           "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1)], normal_concat=[2, 3, 4, 5], "
           "reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
           "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
        1: "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
           "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2, 3, 4, 5], "
           "reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
           "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    }
    accuracy = {0: 0.97, 1: 0.975}
    searched, trained = [], []

    def fake_search(config, workdir, progress=True):
        searched.append((config.seed, workdir))
        os.makedirs(workdir, exist_ok=True)
        g = parse_genotype(genotypes[config.seed])
        json.dump({"genotype": g.to_json(), "genotype_str": str(g), "skip_count": count_ops(g, "skip_connect"),
                   "derived_from": config.search.derive_from, "benchmark": None,
                   "config": json.loads(config.to_json_best_effort())},
                  open(os.path.join(workdir, "results.json"), "w"))

    def fake_training(config, genotype=None, workdir=None, progress=True):
        trained.append((config.seed, genotype, workdir))
        seed = [s for s, w in searched if w == genotype][0]
        return {"test_accuracy": accuracy[seed], "params_m": 3.0}

    monkeypatch.setattr(experiments, "run_search", fake_search)
    monkeypatch.setattr(experiments, "run_training", fake_training)
    root = str(tmp_path / "runs")
    config = load_config(os.path.join(REPO, "configs", "robust_darts.py") + ":s2,cifar10", ["search.method=darts_1st"])
    train_config = load_config(os.path.join(REPO, "configs", "train_demo.py"), ["train.epochs=1"])
    summary = experiments.run_seeds(config, [0, 1], root, train_config, progress=False)
    out = summary["table"]
    assert [s for s, _ in searched] == [0, 1]
    assert [(s, g) for s, g, _ in trained] == [(0, os.path.join(root, "seed0")), (1, os.path.join(root, "seed1"))]
    assert all(w.startswith(os.path.join(root, "train")) for _, _, w in trained)
    on_disk = json.load(open(os.path.join(root, "summary.json")))
    assert on_disk["layout"] == "table1" and on_disk["method"] == "DARTS (1st)"
    assert on_disk["train_config"]["train"]["epochs"] == 1
    assert [r["skip_count"] for r in on_disk["runs"]] == [4, 1]
    assert [r["genotype_str"] for r in on_disk["runs"]] == [genotypes[0], genotypes[1]]
    assert on_disk["test_error"]["mean"] == pytest.approx(2.75) and on_disk["test_error"]["std"] == pytest.approx(0.25)
    assert on_disk["skip_count"]["mean"] == 2.5
    assert "C10" in out and "DARTS (1st)" in out and "2.75 ± 0.25" in out and "S2" in out
    assert summary["test_error"] == on_disk["test_error"]


@pytest.mark.skipif(not os.path.isfile(SHARED_TABLE), reason=f"shared NB201 table not found at {SHARED_TABLE}")
def test_random_baseline_on_the_real_nb201_table(tmp_path):
    """Random search, budget 100, 4 seeds, selected by CIFAR-10 validation accuracy. The paper's Table 5 row
    "Random (baseline)" is 93.70 ± 0.36 (CIFAR-10 test). With only 4 seeds the mean of a best-of-100 draw
    scatters by roughly std / sqrt(4) ~ 0.2-0.4 pp, and the benchmark table's averaging over training seeds may
    differ slightly from the one the paper quotes, so the band is loose: [92.7, 94.37] (94.37 = the optimum)."""
    config = load_config(NB201_CONFIG, ["search.method=random", "search.random_samples=100",
                                        f"search.benchmark={SHARED_TABLE}"])
    summary = experiments.run_seeds(config, [0, 1, 2, 3], str(tmp_path / "runs"), progress=False)
    c10 = summary["nb201"]["cifar10"]["test"]
    assert c10["n"] == 4
    assert 92.7 <= c10["mean"] <= 94.37


@pytest.mark.slow
def test_run_seeds_script_takes_seeds_and_config_overrides(tmp_path):
    table = tmp_path / "table.csv"
    write_nb201_table(table, 20, seed=1)
    root = tmp_path / "runs"
    command = [sys.executable, "scripts/run_seeds.py", "--config", NB201_CONFIG, "--workdir", str(root),
               "--config.search.method=random", "--config.search.random_samples=5",
               f"--config.search.benchmark={table}", "--no-progress"]
    proc = subprocess.run([*command, "--seeds", "0-1"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((root / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["config"]["search"]["random_samples"] == 5
    assert proc.stdout.splitlines()[0] == f"seed 0: {summary['runs'][0]['genotype_str']}"
    assert summary["table"] in proc.stdout and f"summary: {root / 'summary.json'}" in proc.stdout
    for argv, message in ((["--seeds", "0,0"], "run_seeds: error: --seeds='0,0' repeats a seed"),
                          (["--config.search.sampels=3"], "run_seeds: error: unknown config key 'search.sampels'")):
        bad = subprocess.run([*command, *argv], cwd=REPO, capture_output=True, text=True, timeout=600)
        assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith(message), bad.stderr[-2000:]
