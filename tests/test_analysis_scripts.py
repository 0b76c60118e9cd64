"""scripts/correlation.py (paper Fig. 5) on a fake finished NB201 run and a table written here."""

import csv
import json

import numpy as np
import pytest
from scipy.stats import kendalltau

from shapley_nas_jax.spaces.nb201 import NB201_OPS, arch_from_ops, nb201_ops_from_arch
from shapley_nas_jax.benchmarks.nb201 import TABLE_COLUMNS

from repo_files import load_script

correlation = load_script("correlation")


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


def test_correlation_script_alpha_source(fake_run, capsys):
    workdir, table, W, _ = fake_run
    result = correlation.main(["--workdir", str(workdir), "--benchmark", str(table), "--num-archs", "30",
                               "--seed", "1", "--source", "alpha"])
    assert result["source"] == "alpha"
    d = result["datasets"]
    assert set(d) == {"cifar10", "cifar100", "imagenet16"}
    assert d["cifar10"]["tau"] == pytest.approx(1.0) and d["cifar100"]["tau"] == pytest.approx(-1.0)
    assert len(d["cifar10"]["archs"]) == 30 and len(set(d["cifar10"]["archs"])) == 30
    tau = kendalltau(d["imagenet16"]["strengths"], d["imagenet16"]["accuracies"]).statistic
    assert d["imagenet16"]["tau"] == pytest.approx(tau)
    on_disk = json.loads((workdir / "correlation_alpha.json").read_text())
    assert on_disk["datasets"]["cifar10"]["archs"] == d["cifar10"]["archs"]
    png = workdir / "correlation_alpha.png"
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # what the figure draws: one scatter per dataset, of the sampled archs' (strength, accuracy)
    fig = correlation.plot(result, workdir / "again.png")
    assert [ax.get_title() for ax in fig.axes] == ["CIFAR-10: tau = 1.000", "CIFAR-100: tau = -1.000",
                                                   f"ImageNet16-120: tau = {d['imagenet16']['tau']:.3f}"]
    for ax, dataset in zip(fig.axes, ("cifar10", "cifar100", "imagenet16")):
        assert ax.get_xlabel() == "operation strength (softmax(alpha))"
        assert ax.get_ylabel() == "test accuracy (%)"
        (points,) = ax.collections
        np.testing.assert_allclose(points.get_offsets(), np.stack([d[dataset]["strengths"],
                                                                   d[dataset]["accuracies"]], 1))
    assert fig._suptitle.get_text() == "operation strength vs accuracy, 30 sampled archs"
    out = capsys.readouterr().out
    assert "cifar10      tau = +1.000" in out and "cifar100     tau = -1.000" in out


def test_correlation_script_defaults_to_shapley_values(fake_run, tmp_path):
    workdir, table, _, _ = fake_run
    out_dir = tmp_path / "out"
    result = correlation.main(["--workdir", str(workdir), "--benchmark", str(table), "--num-archs", "200",
                               "--out-dir", str(out_dir)])
    assert result["source"] == "shapley" and result["num_archs"] == 200
    d = result["datasets"]
    # the whole (small) table but the cells using none, which has no Shapley value
    with open(table, newline="") as f:
        cells = [row["arch_str"] for row in csv.DictReader(f)]
    without_none = {a for a in cells if "none" not in nb201_ops_from_arch(a)}
    assert len(cells) == 80 and len(without_none) == 60 and result["excluded_ops"] == ["none"]
    assert set(d["imagenet16"]["archs"]) == without_none
    assert d["imagenet16"]["tau"] == pytest.approx(1.0)
    assert (out_dir / "correlation_shapley.json").is_file() and (out_dir / "correlation_shapley.png").is_file()
    # same seed, same sample
    again = correlation.correlate(workdir, table, num_archs=20, seed=5)
    assert again["datasets"]["cifar10"]["archs"] == correlation.correlate(workdir, table, 20, 5)["datasets"][
        "cifar10"]["archs"]


def test_correlation_script_refusals(fake_run, tmp_path):
    workdir, table, _, _ = fake_run
    results = json.loads((workdir / "results.json").read_text())
    results["shapley"] = None
    (workdir / "results.json").write_text(json.dumps(results))
    assert correlation.load_strengths(workdir)[0] == "alpha"  # a DARTS run: alpha by default
    with pytest.raises(ValueError, match="no Shapley values"):
        correlation.load_strengths(workdir, "shapley")
    results["space"]["topology"] = "darts"
    (workdir / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="needs an NB201 search"):
        correlation.load_strengths(workdir)
    with pytest.raises(FileNotFoundError):
        correlation.load_strengths(tmp_path / "missing")
