"""The NB201 CPU pipeline of RESULTS.md end to end at tiny sizes: configs/nb201_cifar10_cpu.py on an image
folder, run_seeds (shapley_nas_jax.experiments) for two methods, the report (shapley_nas_jax.analysis.nb201_report)
over both; and the report's parts on records written here."""

import csv
import itertools
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from repo_files import REPO
from shapley_nas_jax import experiments
from shapley_nas_jax.analysis import nb201_report
from shapley_nas_jax.analysis.ranking import update_signal
from shapley_nas_jax.benchmarks.nb201 import TABLE_COLUMNS, load_benchmark
from shapley_nas_jax.cli.common import load_config
from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError
from shapley_nas_jax.runs import RunRecord
from shapley_nas_jax.spaces.nb201 import NB201_OPS, arch_from_ops


def write_image_folder(root, classes=10, per_class=12, size=8, seed=0):
    """``root/train/<class>/<i>.png``: per class a distinct mean colour plus noise (learnable)."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / "train" / f"class{c}"
        folder.mkdir(parents=True)
        base = rng.integers(0, 256, 3)
        for i in range(per_class):
            pixels = np.clip(base + rng.normal(0, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")


def write_full_nb201_table(path, seed=0):
    """Every one of the 15,625 NB201 cells with random accuracies; returns {arch: row}."""
    rng = np.random.default_rng(seed)
    rows = {}
    for ops in itertools.product(range(len(NB201_OPS)), repeat=6):
        arch = arch_from_ops(list(ops))
        rows[arch] = {"arch_str": arch, **{c: round(float(rng.uniform(10, 95)), 3) for c in TABLE_COLUMNS.values()}}
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, ["arch_str", *TABLE_COLUMNS.values()])
        writer.writeheader()
        writer.writerows(rows.values())
    return rows


TINY = ["model.channels=4", "model.cells_per_stage=1", "model.formulation=lax", "train.epochs=2",
        "search.warmup_epochs=1", "train.batch_size=16", "train.eval_batches=1", "data.train_fraction=0.5",
        "data.value_fraction=0.5", "data.crop_padding=1", "shapley.samples=2", "shapley.value_batch_size=16",
        "search.random_samples=4"]


def run_report(roots, table, out, recorded=None, num_archs=200):
    """What scripts/nb201_report.py does with --runs ROOTS [--recorded FILE]."""
    methods = [nb201_report.load_method(root) for root in roots]
    if recorded is not None:
        methods = nb201_report.add_recorded(methods, recorded)
    return nb201_report.report(methods, str(table), out, num_archs)


@pytest.mark.slow
def test_cpu_config_pipeline_runs_seeds_of_two_methods_and_reports_them(tmp_path):
    write_image_folder(tmp_path / "images")
    table = tmp_path / "nb201.csv"
    rows = write_full_nb201_table(table)
    config = os.path.join(REPO, "configs", "nb201_cifar10_cpu.py") + f":{tmp_path / 'images'}"
    roots = {}
    for method in ("shapley", "rsps"):
        roots[method] = str(tmp_path / "runs" / method)
        search = load_config(config, [f"search.method={method}", f"search.benchmark={table}", *TINY])
        summary = experiments.run_seeds(search, [0], roots[method], progress=False)
        assert summary["layout"] == "table5" and summary["dataset"] == f"folder:{tmp_path / 'images'}"
    out = tmp_path / "report"
    result = run_report([roots["shapley"], roots["rsps"]], table, out, num_archs=50)
    assert set(result["methods"]) == {"Shapley-NAS (paper)", "RSPS"}
    for label, root in (("Shapley-NAS (paper)", roots["shapley"]), ("RSPS", roots["rsps"])):
        with open(os.path.join(root, "seed0", "results.json")) as f:
            found = json.load(f)["genotype_str"]
        assert result["methods"][label]["seeds"][0]["genotype_str"] == found
        # the table's figure is the benchmark's own for the found cell (n=1: std 0)
        assert result["methods"][label]["table5"]["cifar10"]["test"]["mean"] == pytest.approx(rows[found]["cifar10_test"])
    report = (out / "report.md").read_text()
    for row in ("Shapley-NAS (paper)", "RSPS", "Shapley-NAS (published)", "DARTS (published)", "94.37 ± 0.00"):
        assert row in report
    assert "Shapley-NAS (paper)" in result["correlation"] and "RSPS" not in result["correlation"]
    assert result["methods"]["RSPS"]["seeds"][0]["current_cell"] is None
    first_epoch = RunRecord.load(os.path.join(roots["shapley"], "seed0")).records("epoch")[0]
    assert result["methods"]["Shapley-NAS (paper)"]["seeds"][0]["current_cell"]["first"] == pytest.approx(
        rows[first_epoch["genotype_str"]]["cifar10_test"])  # the benchmark's figure of the epoch's cell
    assert "current cell: first / best (epoch)" in report
    assert len(result["correlation"]["Shapley-NAS (paper)"]["taus"]) == 1
    for name in ("curves.png", "op_strengths_shapley_nas_paper.png", "correlation.png", "report.json",
                 "estimate_noise.png"):
        assert (out / name).is_file(), name
    # the Shapley updates' own diagnostics, one row per seed: here one update, nothing before it to agree with
    (noise,) = result["estimate_noise"]
    assert (noise["method"], noise["seed"], noise["agreement"]) == ("Shapley-NAS (paper)", 0, [None])
    update = RunRecord.load(os.path.join(roots["shapley"], "seed0")).records("alpha_update")[0]
    assert noise["chain_players"] == [update["chain_players_mean"]] and np.isfinite(noise["noise_ratio"]).all()
    assert "The estimate's noise at each Shapley update" in report
    # what the curves draw: one line per method with a current cell each epoch (not RSPS), over 2 epochs
    figure = nb201_report.plot_curves([nb201_report.load_method(r) for r in roots.values()], tmp_path / "c.png")
    accuracy, skips = figure.axes
    assert [line.get_label() for line in accuracy.lines] == ["Shapley-NAS (paper) (n=1)"]
    assert list(accuracy.lines[0].get_xdata()) == [0, 1] and len(skips.lines) == 1
    # ... at the values the Shapley-NAS seed logged: its cell's benchmark accuracy and skip count per epoch
    methods = [nb201_report.load_method(r) for r in roots.values()]
    epochs = methods[0]["seeds"][0]["epochs"]
    np.testing.assert_allclose(accuracy.lines[0].get_ydata(), [r["benchmark"]["cifar10"]["test"] for r in epochs])
    np.testing.assert_allclose(skips.lines[0].get_ydata(), [r["skip_count"] for r in epochs])
    assert accuracy.get_ylabel() == "CIFAR-10 test accuracy of the current cell (%)"
    assert skips.get_ylabel() == "skip connections in the current cell"
    # a seed still running (no results.json yet): left out of every table, drawn dashed with its epochs so far
    running = tmp_path / "running"
    shutil.copytree(roots["shapley"], running / "shapley")
    (running / "shapley" / "seed0" / "results.json").unlink()
    (in_progress,) = [nb201_report.load_method(str(running / "shapley"))]
    assert in_progress["seeds"] == [] and [s["seed"] for s in in_progress["in_progress"]] == [0]
    accuracy, skips = nb201_report.plot_curves([in_progress], tmp_path / "running.png").axes
    assert [line.get_label() for line in accuracy.lines] == ["Shapley-NAS (paper) seed 0 (in progress, 2 epochs)"]
    assert accuracy.lines[0].get_linestyle() == "--"
    np.testing.assert_allclose(accuracy.lines[0].get_ydata(), [r["benchmark"]["cifar10"]["test"] for r in epochs])
    np.testing.assert_allclose(skips.lines[0].get_ydata(), [r["skip_count"] for r in epochs])
    running_report = run_report([str(running / "shapley")], table, tmp_path / "running_report", num_archs=50)
    assert running_report["methods"]["Shapley-NAS (paper)"]["in_progress"] == [{"seed": 0, "epochs": 2}]
    assert running_report["methods"]["Shapley-NAS (paper)"]["table5"]["cifar10"]["test"]["n"] == 0
    # recorded seeds (runs gone): they join the Table 5 mean of their method, or make a row of their own
    cells = list(rows)
    recorded = tmp_path / "recorded.json"
    recorded.write_text(json.dumps({"seeds": [{"method": "Shapley-NAS (paper)", "seed": 7, "genotype_str": cells[5]},
                                              {"method": "DARTS (1st)", "seed": 0, "genotype_str": cells[9]}]}))
    with_recorded = run_report([roots["shapley"], roots["rsps"]], table, tmp_path / "report2", recorded, num_archs=50)
    shapley_found = result["methods"]["Shapley-NAS (paper)"]["seeds"][0]["genotype_str"]
    test = with_recorded["methods"]["Shapley-NAS (paper)"]["table5"]["cifar10"]["test"]
    assert test["n"] == 2 and test["mean"] == pytest.approx(
        (rows[shapley_found]["cifar10_test"] + rows[cells[5]]["cifar10_test"]) / 2)
    darts = with_recorded["methods"]["DARTS (1st)"]
    assert darts["seeds"] == [] and darts["table5"]["cifar10"]["valid"]["mean"] == pytest.approx(
        rows[cells[9]]["cifar10_valid"])
    assert "recorded" in with_recorded["markdown"] and "DARTS (1st)" not in with_recorded["correlation"]
    recorded.write_text(json.dumps({"seeds": [{"method": "Shapley-NAS (paper)", "seed": 0, "genotype_str": cells[5]}]}))
    with pytest.raises(InvalidInputError, match=r"seed 0 of Shapley-NAS \(paper\) is both in"):
        run_report([roots["shapley"]], table, tmp_path / "r3", recorded)
    recorded.write_text(json.dumps({"seeds": [{"method": "RSPS", "seed": 3}]}))
    with pytest.raises(InvalidInputError, match="lacks genotype_str; each needs"):
        run_report([roots["shapley"]], table, tmp_path / "r3", recorded)
    with pytest.raises(PathNotFoundError, match="has no finished seed .* and no seed with epochs logged"):
        nb201_report.load_method(str(tmp_path / "runs"))  # a folder of roots, not a root
    # the correlation figure: one scatter of the first seed's sampled cells, titled with its tau
    corr = nb201_report.correlations(methods, load_benchmark(str(table)), 50)
    assert set(corr) == set(result["correlation"])
    np.testing.assert_equal(corr["Shapley-NAS (paper)"]["taus"], result["correlation"]["Shapley-NAS (paper)"]["taus"])  # NaN-safe
    (ax,) = nb201_report.plot_correlation(corr, tmp_path / "corr.png").axes
    first = corr["Shapley-NAS (paper)"]["first_seed"]
    assert ax.get_title() == "Shapley-NAS (paper)"
    assert [t.get_text() for t in ax.texts] == [f"tau = {corr['Shapley-NAS (paper)']['taus'][0]:.3f}"]
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), np.stack([first["strengths"], first["accuracies"]], 1))
    assert ax.get_xlabel() == "Shapley value, mean over the cell's ops"
    # more methods than columns: a grid of 3 columns, one panel per method in order
    alpha_panel = {"taus": [0.5], "first_seed": {**first, "source": "alpha"}}
    grid = nb201_report.plot_correlation({f"m{i}": alpha_panel for i in range(4)}, tmp_path / "grid.png").axes
    assert [a.get_subplotspec().get_geometry()[:3] for a in grid] == [(2, 3, i) for i in range(4)]
    assert [a.get_title() for a in grid] == [f"m{i}" for i in range(4)]
    assert [t.get_text() for a in grid for t in a.texts] == ["tau = 0.500"] * 4
    assert grid[0].get_xlabel() == "softmax(alpha), mean over the cell's ops"


@pytest.mark.slow
def test_report_script_over_recorded_seeds(tmp_path):
    table = tmp_path / "nb201.csv"
    rows = write_full_nb201_table(table)
    cells = list(rows)[:2]
    recorded = tmp_path / "recorded.json"
    recorded.write_text(json.dumps({"seeds": [{"method": "RSPS", "seed": k, "genotype_str": cell}
                                              for k, cell in enumerate(cells)]}))
    command = [sys.executable, "scripts/nb201_report.py", "--benchmark", str(table), "--out", str(tmp_path / "out")]
    proc = subprocess.run([*command, "--recorded", str(recorded)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["methods"]["RSPS"]["table5"]["cifar10"]["test"]["mean"] == pytest.approx(
        np.mean([rows[cell]["cifar10_test"] for cell in cells]))
    assert (tmp_path / "out" / "report.md").read_text() in proc.stdout + "\n"
    assert proc.stdout.rstrip().endswith(str(tmp_path / "out" / "report.json"))
    missing = subprocess.run([*command, "--runs", str(tmp_path / "nowhere")], cwd=REPO, capture_output=True,
                             text=True, timeout=600)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1] == (
        f"nb201_report: error: {tmp_path / 'nowhere'} has no finished seed (no seed*/results.json) and no seed with "
        "epochs logged")


def test_update_agreement_reads_one_estimate_per_update_over_the_players():
    ops = ["none", "skip_connect", "nor_conv_3x3"]
    rng = np.random.default_rng(0)
    estimates = rng.normal(size=(3, 1, 2, 3))
    cells = ["|none~0|+|none~0|", "|skip_connect~0|+|none~0|", "|skip_connect~0|+|none~0|",
             "|nor_conv_3x3~0|+|skip_connect~0|"]
    epochs = [{"alpha_updates": 0, "shapley": None, "genotype_str": cells[0]}]  # warm-up: no update
    epochs += [{"alpha_updates": k + 1, "shapley": estimates[k].tolist(), "genotype_str": cells[k + 1]}
               for k in range(3)]
    epochs.append({**epochs[-1]})  # an epoch without a new update is not read again
    seed = {"results": {"space": {"edge_ops": [[ops, ops]]}, "config": {"search": {"method": "shapley"}}},
            "epochs": epochs}
    agreement = nb201_report.update_agreement(seed)
    assert agreement["updates"] == 3 and agreement["edges_changed"] == [1, 0, 2]
    assert agreement["edges_changed_late"] == pytest.approx(1.0)  # mean of the later half, [0, 2]
    players_only = update_signal(estimates[..., 1:])  # `none` is no player
    assert agreement["consistency"] == pytest.approx(players_only["consistency"])
    assert nb201_report.update_agreement({**seed, "epochs": epochs[:2]}) is None  # one update: nothing to compare
    # per player op: mean over updates of the edge-mean estimate, with its standard error over the updates
    preferences = nb201_report.op_preferences(seed)
    assert list(preferences) == ["skip_connect", "nor_conv_3x3"]
    per_update = estimates[:, 0, :, 2].mean(axis=1)  # nor_conv_3x3 on both edges
    assert preferences["nor_conv_3x3"] == pytest.approx((per_update.mean(), per_update.std(ddof=1) / np.sqrt(3)))
    assert nb201_report.op_preferences({**seed, "epochs": epochs[:2]}) is None
    # records of a DARTS+Shapley run: alpha_updates count DARTS' steps, whatever Shapley values they carry
    darts = {**seed, "results": {**seed["results"], "config": {"search": {"method": "darts_1st"}}}}
    assert nb201_report.update_agreement(darts) is None and nb201_report.op_preferences(darts) is None


def test_a_search_is_paired_with_the_same_seeds_run_with_alpha_frozen():
    ops = ["none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"]
    rng = np.random.default_rng(1)
    searched = rng.normal(size=(3, 1, 2, 4))
    held = np.stack([searched[0], -searched[1], searched[2] + 0.1])  # same, reversed, shifted on every op

    def seed(estimates, rule):
        epochs = [{"alpha_updates": k, "shapley": None if k == 0 else estimates[k - 1].tolist(),
                   "genotype_str": "|none~0|+|none~0|"} for k in range(len(estimates) + 1)]
        config = {"search": {"method": "shapley"}, "alpha_rule": {"name": rule}}
        return {"seed": 0, "results": {"space": {"edge_ops": [[ops, ops]]}, "config": config}, "epochs": epochs}

    agreement = nb201_report.paired_agreement(seed(searched, "paper"), seed(held[:2], "frozen"))
    assert agreement == pytest.approx([1.0, -1.0])  # the common updates only; `none` is no player
    shifted = nb201_report.paired_agreement(seed(searched, "paper"), seed(held, "frozen"))[2]
    assert shifted == pytest.approx(1.0)  # a shift of every op of an edge orders nothing differently
    assert nb201_report.paired_agreement(seed(searched, "paper"), seed(held[:0], "frozen")) is None
    assert nb201_report.alpha_frozen({"seeds": [seed(held, "frozen")]})
    assert not nb201_report.alpha_frozen({"seeds": [seed(held, "frozen"), seed(searched, "paper")]})
    assert not nb201_report.alpha_frozen({"seeds": []})


def test_current_cell_path_takes_the_first_epoch_reaching_the_best():
    tests = [91.0, None, 93.5, 92.0, 93.5, 89.0]  # an epoch without a benchmark figure is skipped
    epochs = [{"benchmark": {"cifar10": {"test": t}}} if t is not None else {} for t in tests]
    def seed(epochs, **search):
        return {"epochs": epochs, "results": {"config": {"search": {"method": "shapley", **search}}}}

    path = nb201_report.current_cell_path(seed(epochs))
    assert path == {"first": 91.0, "best": 93.5, "best_epoch": 2, "last": 89.0}
    assert nb201_report.current_cell_path(seed([{}, {"benchmark": None}])) is None  # no benchmark figures
    # no current cell of the method: RSPS before its final choice, DARTS+Shapley before its final estimate
    assert nb201_report.current_cell_path(seed(epochs, method="rsps")) is None
    assert nb201_report.current_cell_path(seed(epochs, method="darts_1st", final_shapley=True)) is None


def test_benchmark_op_means_count_a_cell_once_per_edge_holding_the_op():
    class Table:
        accuracies = {"|skip_connect~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|none~1|none~2|": 90.0,
                      "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|": 60.0}

        def archs(self):
            return iter(self.accuracies)

        def accuracy(self, arch, dataset, metric):
            assert (dataset, metric) == ("cifar10", "test")
            return self.accuracies[arch]

    means = nb201_report.benchmark_op_means(Table(), ["skip_connect", "nor_conv_3x3", "avg_pool_3x3"])
    assert means == {"skip_connect": 90.0, "nor_conv_3x3": pytest.approx(75.0)}  # (90 + 60) / 2; avg_pool: no cell
