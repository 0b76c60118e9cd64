"""The op strengths of a finished NB201 run against the benchmark (paper Fig. 5: analysis.correlation.correlate,
scripts/correlation.py) on a fake run and a table written here."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import kendalltau

from shapley_nas_jax.analysis.correlation import correlate, load_strengths, plot_datasets
from shapley_nas_jax.benchmarks.nb201 import TABLE_COLUMNS
from shapley_nas_jax.spaces.nb201 import NB201_OPS, arch_from_ops, nb201_ops_from_arch

from repo_files import REPO


@pytest.fixture
def fake_run(tmp_path):
    """An NB201 run whose softmax(alpha) is W and Shapley values are S, and an 80-arch table (60 without none) where
    CIFAR-10 test accuracy increases with W-strength, CIFAR-100 test decreases with it, and ImageNet16
    test increases with S-strength."""
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(5), size=6)  # [edges, ops], rows sum to 1
    S = rng.normal(size=(6, 5))
    workdir = tmp_path / "run"
    workdir.mkdir()
    results = {"genotype": None, "alpha": np.log(W)[None].tolist(), "shapley": S[None].tolist(),
               "space": {"name": "nb201", "topology": "nb201", "cell_types": ["cell"]}}
    (workdir / "results.json").write_text(json.dumps(results))
    archs = set()
    while len(archs) < 60:  # cells without none (the sampled ones)
        archs.add(arch_from_ops(rng.integers(1, 5, 6).tolist()))
    while len(archs) < 80:  # cells with none on one edge at least, which the correlation leaves out
        ops = rng.integers(0, 5, 6)
        ops[rng.integers(6)] = 0
        archs.add(arch_from_ops(ops.tolist()))
    strength = lambda table, arch: np.mean([table[e, NB201_OPS.index(o)]
                                            for e, o in enumerate(nb201_ops_from_arch(arch))])
    with open(tmp_path / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["arch_str", *TABLE_COLUMNS.values()])
        writer.writeheader()
        for arch in sorted(archs):
            row = {c: float(rng.uniform(10, 90)) for c in TABLE_COLUMNS.values()}
            row.update(arch_str=arch, cifar10_test=50 + 100 * strength(W, arch),
                       cifar100_test=50 - 100 * strength(W, arch), imagenet16_test=40 + 10 * strength(S, arch))
            writer.writerow(row)
    return workdir, tmp_path / "table.csv", W, S


def test_correlation_of_softmax_alpha(fake_run, tmp_path):
    workdir, table, W, _ = fake_run
    result = correlate(workdir, table, num_archs=30, seed=1, source="alpha")
    assert result["source"] == "alpha"
    d = result["datasets"]
    assert set(d) == {"cifar10", "cifar100", "imagenet16"}
    assert d["cifar10"]["tau"] == pytest.approx(1.0) and d["cifar100"]["tau"] == pytest.approx(-1.0)
    assert len(d["cifar10"]["archs"]) == 30 and len(set(d["cifar10"]["archs"])) == 30
    tau = kendalltau(d["imagenet16"]["strengths"], d["imagenet16"]["accuracies"]).statistic
    assert d["imagenet16"]["tau"] == pytest.approx(tau)
    # what the figure draws: one scatter per dataset, of the sampled archs' (strength, accuracy)
    png = tmp_path / "figure.png"
    fig = plot_datasets(result, png)
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [ax.get_title() for ax in fig.axes] == ["CIFAR-10: tau = 1.000", "CIFAR-100: tau = -1.000",
                                                   f"ImageNet16-120: tau = {d['imagenet16']['tau']:.3f}"]
    for ax, dataset in zip(fig.axes, ("cifar10", "cifar100", "imagenet16")):
        assert ax.get_xlabel() == "operation strength (softmax(alpha))"
        assert ax.get_ylabel() == "test accuracy (%)"
        (points,) = ax.collections
        np.testing.assert_allclose(points.get_offsets(), np.stack([d[dataset]["strengths"],
                                                                   d[dataset]["accuracies"]], 1))
    assert fig._suptitle.get_text() == "operation strength vs accuracy, 30 sampled archs"


@pytest.mark.slow
def test_correlation_script_writes_and_prints_the_result(fake_run):
    workdir, table, _, _ = fake_run
    proc = subprocess.run([sys.executable, "scripts/correlation.py", "--workdir", str(workdir), "--benchmark",
                           str(table), "--num-archs", "30", "--seed", "1", "--source", "alpha"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "cifar10      tau = +1.000" in proc.stdout and "cifar100     tau = -1.000" in proc.stdout
    on_disk = json.loads((workdir / "correlation_alpha.json").read_text())
    assert on_disk["datasets"]["cifar10"]["archs"] == correlate(workdir, table, 30, 1, "alpha")["datasets"][
        "cifar10"]["archs"]
    assert (workdir / "correlation_alpha.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = subprocess.run([sys.executable, "scripts/correlation.py", "--workdir", str(workdir / "nowhere"),
                              "--benchmark", str(table)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1].startswith(
        "correlation: error: run directory not found")


def test_correlation_defaults_to_shapley_values(fake_run):
    workdir, table, _, _ = fake_run
    result = correlate(workdir, table, num_archs=200)
    assert result["source"] == "shapley" and result["num_archs"] == 200
    d = result["datasets"]
    # the whole (small) table but the cells using none, which has no Shapley value
    with open(table, newline="") as f:
        cells = [row["arch_str"] for row in csv.DictReader(f)]
    without_none = {a for a in cells if "none" not in nb201_ops_from_arch(a)}
    assert len(cells) == 80 and len(without_none) == 60 and result["excluded_ops"] == ["none"]
    assert set(d["imagenet16"]["archs"]) == without_none
    assert d["imagenet16"]["tau"] == pytest.approx(1.0)
    # same seed, same sample
    again = correlate(workdir, table, num_archs=20, seed=5)
    assert again["datasets"]["cifar10"]["archs"] == correlate(workdir, table, 20, 5)["datasets"]["cifar10"]["archs"]


def test_shapley_values_of_a_run_without_final_ones_come_from_its_last_logged_estimate(fake_run):
    workdir, _, _, S = fake_run
    results = json.loads((workdir / "results.json").read_text())
    results["shapley"] = None
    (workdir / "results.json").write_text(json.dumps(results))
    logged = [{"kind": "epoch", "shapley": None}, {"kind": "epoch", "shapley": (-S)[None].tolist()},
              {"kind": "alpha_update", "shapley": S[None].tolist()}, {"kind": "epoch"}]
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logged))
    source, strengths = load_strengths(workdir)
    assert source == "shapley"
    np.testing.assert_array_equal(strengths, -S[None])


def test_correlation_refusals(fake_run, tmp_path):
    workdir, table, _, _ = fake_run
    results = json.loads((workdir / "results.json").read_text())
    results["shapley"] = None
    (workdir / "results.json").write_text(json.dumps(results))
    assert load_strengths(workdir)[0] == "alpha"  # a DARTS run: alpha by default
    with pytest.raises(ValueError, match="no Shapley values"):
        load_strengths(workdir, "shapley")
    results["space"]["topology"] = "darts"
    (workdir / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="needs an NB201 search"):
        load_strengths(workdir)
    with pytest.raises(FileNotFoundError):
        load_strengths(tmp_path / "missing")
