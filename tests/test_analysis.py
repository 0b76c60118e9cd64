"""Tests of the correlation analysis (analysis/correlation.py) and the plots (analysis/plots/)."""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from shapley_nas_jax.analysis import plots
from shapley_nas_jax.analysis.correlation import operation_strength, strength_correlation
from shapley_nas_jax.benchmarks.nb201 import NB201Table
from shapley_nas_jax.spaces.nb201 import NB201_OPS, arch_from_ops, nb201_ops_from_arch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

DARTS_OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5"]
DARTS_GENOTYPE = {
    "type": "darts",
    "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
               ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
    "normal_concat": [2, 3, 4, 5],
    "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
               ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
    "reduce_concat": [2, 3, 4, 5],
}
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def assert_png(path: Path) -> None:
    path = Path(path)
    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC, path


# ----------------------------------------------------------------------------- arch helpers

def test_arch_from_ops_edge_order():
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none"]
    arch = arch_from_ops(ops)
    assert arch == "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"
    assert nb201_ops_from_arch(arch) == ops
    assert arch_from_ops([0, 1, 2, 3, 4, 0]) == arch
    with pytest.raises(ValueError):
        arch_from_ops(ops[:5])
    with pytest.raises(ValueError):
        nb201_ops_from_arch("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_operation_strength_by_hand():
    # strengths[e][o] = 10 e + o
    table = [[10 * e + o for o in range(5)] for e in range(6)]
    arch = arch_from_ops(["skip_connect", "nor_conv_3x3", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"])
    # picked: 1, 13, 20, 34, 42, 53 -> 163 / 6
    assert operation_strength(arch, table) == pytest.approx(163 / 6)
    assert operation_strength(arch, [table]) == pytest.approx(163 / 6)
    assert operation_strength(arch, np.asarray(table, dtype=np.float32)[None]) == pytest.approx(163 / 6)
    with_none = [[None if o == 0 else 1.0 for o in range(5)] for _ in range(6)]
    assert np.isnan(operation_strength(arch, with_none))
    assert operation_strength(arch_from_ops(["skip_connect"] * 6), with_none) == 1.0
    with pytest.raises(ValueError, match="shape"):
        operation_strength(arch, np.zeros((2, 6, 5)))


# ----------------------------------------------------------------------------- Kendall's tau

def write_table(path: Path, accuracy_of: dict[str, float]) -> NB201Table:
    """A table whose every accuracy column of an arch holds accuracy_of[arch]."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_str", "cifar10_valid", "cifar10_test", "cifar100_valid", "cifar100_test",
                         "imagenet16_valid", "imagenet16_test"])
        for arch, acc in accuracy_of.items():
            writer.writerow([arch] + [acc] * 6)
    return NB201Table(path)


def unique_strengths() -> np.ndarray:
    """[6, 5] strengths whose sums identify the ops (mixed radix 6, digits 1..5): no ties."""
    return np.array([[(o + 1) * 6.0**e for o in range(5)] for e in range(6)])


def random_archs(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    archs = {arch_from_ops(list(rng.integers(0, 5, size=6))) for _ in range(count * 2)}
    return sorted(archs)[:count]


def test_tau_monotone_is_one_and_reversed_is_minus_one(tmp_path):
    strengths = unique_strengths()
    archs = random_archs(30, seed=0)
    increasing = write_table(tmp_path / "inc.csv", {a: 50 + 1e-3 * operation_strength(a, strengths) for a in archs})
    result = strength_correlation(strengths[None], increasing, num_archs=20, seed=1)
    assert result["tau"] == pytest.approx(1.0)
    assert result["p_value"] < 1e-6
    assert len(result["archs"]) == 20 and len(set(result["archs"])) == 20
    assert result["strengths"].shape == (20,) and result["accuracies"].shape == (20,)
    decreasing = write_table(tmp_path / "dec.csv", {a: 90 - 1e-3 * operation_strength(a, strengths) for a in archs})
    assert strength_correlation(strengths, decreasing, num_archs=20, seed=1, dataset="imagenet16")["tau"] == (
        pytest.approx(-1.0)
    )


def test_tau_small_hand_computed_case(tmp_path):
    # Only edge 0 carries strength: strength(arch) = index of its edge-0 op / 6.
    strengths = np.zeros((6, 5))
    strengths[0] = np.arange(5)
    archs = [arch_from_ops([NB201_OPS[o]] + ["none"] * 5) for o in (1, 2, 3, 4)]  # strengths 1/6 .. 4/6
    accuracies = dict(zip(archs, [10.0, 30.0, 20.0, 40.0]))
    # pairs: (1,2)+ (1,3)+ (1,4)+ (2,3)- (2,4)+ (3,4)+ -> (5 - 1) / 6
    result = strength_correlation(strengths, write_table(tmp_path / "t.csv", accuracies), num_archs=200, seed=0)
    assert result["tau"] == pytest.approx(4 / 6)
    assert sorted(result["archs"]) == sorted(archs)
    order = np.argsort(result["strengths"])
    assert list(result["accuracies"][order]) == [10.0, 30.0, 20.0, 40.0]


def test_excluded_ops_leave_out_the_cells_that_use_them(tmp_path):
    # A non-player (none) stored as 0 while every estimate is negative: with it, the all-none-but-one
    # cells (the worst) would get the largest strength; excluding none leaves only the ranked cells.
    strengths = -np.ones((6, 5))
    strengths[:, 0] = 0.0
    strengths[0] = [0.0, -4.0, -3.0, -2.0, -1.0]
    with_none = {arch_from_ops(["avg_pool_3x3"] + ["none"] * 5): 10.0}
    ranked = {arch_from_ops([op] + ["skip_connect"] * 5): acc
              for op, acc in zip(NB201_OPS[1:], [60.0, 70.0, 80.0, 90.0])}
    table = write_table(tmp_path / "t.csv", {**with_none, **ranked})
    assert strength_correlation(strengths, table, num_archs=200)["tau"] < 1.0
    result = strength_correlation(strengths, table, num_archs=200, exclude_ops=("none",))
    assert sorted(result["archs"]) == sorted(ranked) and result["tau"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="exclude_ops names no NB201 op: .'conv_3x3'."):
        strength_correlation(strengths, table, exclude_ops=("conv_3x3",))


# ----------------------------------------------------------------------------- plots

def make_records(num_cell_types: int, num_edges: int, num_ops: int, epochs: int = 4, benchmark: bool = False):
    rng = np.random.default_rng(0)
    records = [{"kind": "config", "seed": 0}]
    for epoch in range(epochs):
        alpha = rng.normal(size=(num_cell_types, num_edges, num_ops))
        shapley = rng.normal(scale=0.01, size=alpha.shape).tolist() if epoch % 2 else None
        records.append({
            "kind": "epoch",
            "epoch": epoch,
            "alpha": alpha.tolist(),
            "weights": plots.softmax(alpha).tolist(),
            "genotype": {"type": "nb201", "arch": NB201_ARCH} if num_edges == 6 else DARTS_GENOTYPE,
            "shapley": shapley,
            "benchmark": {"cifar10": {"valid": 80.0 + epoch, "test": 85.0 + epoch}} if benchmark else None,
        })
    return records


def line_data(ax) -> list[tuple[list, list]]:
    """(x, y) of every line drawn on ``ax``."""
    return [(list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()]


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def texts(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


def patches_of(ax, kind) -> list:
    return [patch for patch in ax.patches if isinstance(patch, kind)]


def epoch_softmax(records) -> np.ndarray:
    """softmax(alpha) of every epoch record, recomputed here: ``[epochs, cell_types, edges, ops]``."""
    alpha = np.asarray([r["alpha"] for r in records if r.get("kind") == "epoch"])
    e = np.exp(alpha - alpha.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_plot_alpha_curves_and_grid(tmp_path):
    records = make_records(2, 14, 8)
    edge_ops = [[DARTS_OPS] * 14] * 2
    fig = plots.plot_alpha_curves(records, edge_ops, cell_type_index=1, edge=0, path=tmp_path / "a.png")
    assert_png(tmp_path / "a.png")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 8
    expected = plots.softmax(np.asarray(records[-1]["alpha"]))[1, 0]
    assert np.allclose([line.get_ydata()[-1] for line in lines], expected)
    # one curve per op of cell type 1, edge 0: x = the epochs, y = softmax(alpha) at each epoch
    weights = epoch_softmax(records)
    ax = fig.axes[0]
    assert len(fig.axes) == 1
    assert ax.get_title() == "cell type 1, edge 0"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "softmax(alpha)")
    assert [text.get_text() for text in ax.get_legend().get_texts()] == DARTS_OPS
    for op, (x, y) in enumerate(line_data(ax)):
        assert x == [0, 1, 2, 3]
        np.testing.assert_allclose(y, weights[:, 1, 0, op])

    grid = plots.plot_alpha_grid(records, edge_ops, 0, "normal", path=tmp_path / "grid.png")
    assert_png(tmp_path / "grid.png")
    # 14 edges on a 4x4 grid: 14 visible subplots of 8 curves each, the 2 spare ones hidden
    assert len(grid.axes) == 16 and len(visible_axes(grid)) == 14
    labels = plots.edge_labels(14)
    assert labels[:3] == ["n0<-c_{k-2}", "n0<-c_{k-1}", "n1<-c_{k-2}"] and labels[-1] == "n3<-n2"
    for edge, ax in enumerate(visible_axes(grid)):
        assert ax.get_title() == f"edge {edge} ({labels[edge]})"
        assert len(ax.get_lines()) == 8
        for op, (_, y) in enumerate(line_data(ax)):
            np.testing.assert_allclose(y, weights[:, 0, edge, op])
    assert grid._suptitle.get_text() == "softmax(alpha) per edge: normal"
    assert [text.get_text() for text in grid.legends[0].get_texts()] == DARTS_OPS
    with pytest.raises(ValueError):
        plots.plot_alpha_curves([{"kind": "config"}], edge_ops)


def test_plot_correlation_and_heatmap(tmp_path):
    rng = np.random.default_rng(0)
    strengths, accuracies = rng.random(50), 80 + 10 * rng.random(50)
    fig = plots.plot_correlation(strengths, accuracies, tau=0.526, title="CIFAR-10", path=tmp_path / "corr.png")
    assert_png(tmp_path / "corr.png")
    (ax,) = fig.axes
    assert ax.get_title() == "CIFAR-10"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("operation strength", "test accuracy (%)")
    assert texts(ax) == ["tau = 0.526"]
    (points,) = ax.collections  # one scatter: one point per arch, at (strength, accuracy)
    np.testing.assert_allclose(points.get_offsets(), np.stack([strengths, accuracies], 1))
    with pytest.raises(ValueError, match="differ in length"):
        plots.plot_correlation([0.1, 0.2], [50.0], tau=0.0)

    values = rng.normal(size=(1, 6, 5)).tolist()
    values[0][2][0] = None  # non-player position
    fig = plots.plot_shapley_heatmap(values, [[list(NB201_OPS)] * 6], ["cell"], path=tmp_path / "heat.png")
    assert_png(tmp_path / "heat.png")
    ax, colorbar = fig.axes  # one heatmap per cell type, and the colour bar
    assert ax.get_title() == "cell" and fig._suptitle.get_text() == "Shapley values"
    assert [label.get_text() for label in ax.get_xticklabels()] == list(NB201_OPS)
    assert [label.get_text() for label in ax.get_yticklabels()] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    (image,) = ax.images
    drawn = image.get_array()
    expected = np.array([[np.nan if v is None else v for v in row] for row in values[0]])
    assert drawn.shape == (6, 5) and drawn.mask[2, 0] and drawn.mask.sum() == 1  # the non-player is blank
    np.testing.assert_allclose(drawn.filled(np.nan), expected)
    # values of both signs: a diverging colour map centred on 0
    bound = np.nanmax(np.abs(expected))
    assert image.get_cmap().name == "RdBu_r" and image.get_clim() == pytest.approx((-bound, bound))
    assert len(texts(ax)) == 29  # every finite value is written in its cell
    positive = plots.plot_shapley_heatmap(np.abs(expected)[None], [[list(NB201_OPS)] * 6], ["cell"])
    assert positive.axes[0].images[0].get_cmap().name == "viridis"


@pytest.mark.parametrize("genotype", [DARTS_GENOTYPE, {"type": "nb201", "arch": NB201_ARCH}], ids=["darts", "nb201"])
def test_plot_cell_matplotlib(tmp_path, genotype):
    fig = plots.plot_cell(genotype, title="cell", path=tmp_path / "cell.png", use_graphviz=False)
    assert_png(tmp_path / "cell.png")
    assert fig.axes
    assert fig._suptitle.get_text() == "cell"
    if genotype["type"] == "darts":
        assert [ax.get_title() for ax in fig.axes] == ["normal", "reduce"]
        for ax, cell in zip(fig.axes, ("normal", "reduce")):
            ops = [op for op, _ in genotype[cell]]
            # 8 op edges (labelled with their op) and 4 dashed edges from the concat nodes to c_{k}
            assert len(patches_of(ax, FancyArrowPatch)) == 12
            assert sorted(texts(ax)[:8]) == sorted(ops)
            assert texts(ax)[8:] == ["$c_{k-2}$", "$c_{k-1}$", "0", "1", "2", "3", "$c_{k}$"]
            assert len(patches_of(ax, Circle)) == 4 and len(patches_of(ax, FancyBboxPatch)) == 3
    else:
        (ax,) = fig.axes
        assert ax.get_title() == "NB201 cell"
        drawn_ops = [op for op in nb201_ops_from_arch(NB201_ARCH) if op != "none"]
        assert len(patches_of(ax, FancyArrowPatch)) == 5  # the none edge is not drawn
        assert texts(ax) == [*drawn_ops, "0", "1", "2", "3"]
        assert len(patches_of(ax, Circle)) == 4
    plots.plot_cell(json.dumps(genotype), path=tmp_path / "cell2.png", use_graphviz=False)
    assert_png(tmp_path / "cell2.png")


def test_plot_cell_graphviz_via_dot_program(tmp_path, monkeypatch):
    """A stand-in `dot` on PATH copies a PNG to its -o argument; the .dot source must be written."""
    sample = tmp_path / "sample.png"
    plots.plot_correlation([0, 1], [0, 1], tau=1.0, path=sample)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_dot = bin_dir / "dot"
    fake_dot.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        "args = sys.argv[1:]\n"
        "assert '-Tpng' in args\n"
        f"shutil.copyfile({str(sample)!r}, args[args.index('-o') + 1])\n"
    )
    fake_dot.chmod(fake_dot.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    out = tmp_path / "out" / "cell.png"
    fig = plots.plot_cell(DARTS_GENOTYPE, title="searched", path=out)
    assert_png(out)
    source = out.with_suffix(".dot").read_text()
    assert source.startswith("digraph") and "sep_conv_3x3" in source and "cluster_1" in source
    assert fig.axes
    # the figure shows the image `dot` rendered; the source holds both cells' 2 x (8 + 4) edges
    from matplotlib.image import imread

    (image,) = fig.axes[0].images
    np.testing.assert_array_equal(image.get_array(), imread(str(sample)))
    assert source.count(" -> ") == 24 and source.count("style=dashed") == 8
    assert 'label="searched"' in source


def test_plot_cell_rejects_unknown_type():
    with pytest.raises(ValueError, match="genotype type"):
        plots.plot_cell({"type": "nb101"}, use_graphviz=False)


def write_workdir(workdir: Path, cell_types, edge_ops, genotype, benchmark: bool) -> None:
    workdir.mkdir()
    num_edges, num_ops = len(edge_ops[0]), len(edge_ops[0][0])
    records = make_records(len(cell_types), num_edges, num_ops, benchmark=benchmark)
    with open(workdir / "metrics.jsonl", "w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    results = {
        "genotype": genotype,
        "genotype_str": "cell",
        "alpha": records[-1]["alpha"],
        "shapley": None,
        "space": {"name": "test", "cell_types": cell_types, "edge_ops": edge_ops},
    }
    (workdir / "results.json").write_text(json.dumps(results))


def test_plot_run_nb201(tmp_path):
    workdir = tmp_path / "run"
    write_workdir(workdir, ["cell"], [[list(NB201_OPS)] * 6], {"type": "nb201", "arch": NB201_ARCH}, benchmark=True)
    paths = plots.plot_run(workdir)
    names = sorted(p.name for p in paths)
    assert names == ["alpha_curves_cell.png", "alpha_heatmap.png", "benchmark.png", "cell.png",
                     "shapley_heatmap.png"]
    for path in paths:
        assert path.parent == workdir / "plots"
        assert_png(path)

    figures = {path.name: fig for path, fig in plots.run_figures(workdir).items()}
    assert sorted(figures) == names
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    weights = epoch_softmax(records)
    curves = visible_axes(figures["alpha_curves_cell.png"])
    assert len(curves) == 6 and all(len(ax.get_lines()) == 5 for ax in curves)
    for edge, ax in enumerate(curves):
        for op, (_, y) in enumerate(line_data(ax)):
            np.testing.assert_allclose(y, weights[:, 0, edge, op])
    heatmap = figures["alpha_heatmap.png"]
    assert heatmap._suptitle.get_text() == "final softmax(alpha)"
    np.testing.assert_allclose(heatmap.axes[0].images[0].get_array(), weights[-1, 0])
    # results.json has no Shapley values: the heatmap shows the last ones logged (epoch 3)
    shapley = figures["shapley_heatmap.png"]
    assert shapley._suptitle.get_text() == "last Shapley values"
    np.testing.assert_allclose(shapley.axes[0].images[0].get_array(), np.asarray(records[4]["shapley"])[0])
    (ax,) = figures["benchmark.png"].axes
    assert [line.get_label() for line in ax.get_lines()] == ["cifar10/valid", "cifar10/test"]
    assert line_data(ax) == [([0, 1, 2, 3], [80, 81, 82, 83]), ([0, 1, 2, 3], [85, 86, 87, 88])]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "benchmark accuracy (%)")


def test_plot_run_darts_without_results_json(tmp_path):
    workdir = tmp_path / "run"
    write_workdir(workdir, ["normal", "reduce"], [[DARTS_OPS] * 14] * 2, DARTS_GENOTYPE, benchmark=False)
    (workdir / "results.json").unlink()
    paths = plots.plot_run(workdir)
    names = sorted(p.name for p in paths)
    assert names == ["alpha_curves_cell0.png", "alpha_curves_cell1.png", "alpha_heatmap.png", "cell.png",
                     "shapley_heatmap.png"]
    for path in paths:
        assert_png(path)

    # without results.json: cell types and ops are numbered, and the last record gives the final alpha
    figures = {path.name: fig for path, fig in plots.run_figures(workdir).items()}
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    weights = epoch_softmax(records)
    for t in (0, 1):
        grid = figures[f"alpha_curves_cell{t}.png"]
        assert grid._suptitle.get_text() == f"softmax(alpha) per edge: cell{t}"
        assert len(visible_axes(grid)) == 14
        for edge, ax in enumerate(visible_axes(grid)):
            assert [line.get_label() for line in ax.get_lines()] == [f"op{o}" for o in range(8)]
            np.testing.assert_allclose(line_data(ax)[3][1], weights[:, t, edge, 3])
    heatmap = figures["alpha_heatmap.png"]
    assert [ax.get_title() for ax in heatmap.axes[:2]] == ["cell0", "cell1"]
    for t in (0, 1):
        np.testing.assert_allclose(heatmap.axes[t].images[0].get_array(), weights[-1, t])


def test_plot_run_names_cell_types_and_ops_from_the_given_space_before_results_json(tmp_path):
    workdir = tmp_path / "run"
    write_workdir(workdir, ["normal", "reduce"], [[DARTS_OPS] * 14] * 2, DARTS_GENOTYPE, benchmark=False)
    space = json.loads((workdir / "results.json").read_text())["space"]
    (workdir / "results.json").unlink()  # a search in progress
    figures = {path.name: fig for path, fig in plots.run_figures(workdir, space=space).items()}
    assert sorted(figures) == ["alpha_curves_normal.png", "alpha_curves_reduce.png", "alpha_heatmap.png",
                               "cell.png", "shapley_heatmap.png"]
    ax = visible_axes(figures["alpha_curves_normal.png"])[0]
    assert [line.get_label() for line in ax.get_lines()] == DARTS_OPS


def test_plot_run_random_search(tmp_path):
    """A random-search run has no alpha records: its cell and history are drawn from results.json."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "metrics.jsonl").write_text('{"kind": "config"}\n')
    history = [{"step": i, "arch": NB201_ARCH, "score": float(s), "best_score": float(b)}
               for i, (s, b) in enumerate([(50, 50), (70, 70), (60, 70)])]
    (workdir / "results.json").write_text(json.dumps(
        {"genotype": {"type": "nb201", "arch": NB201_ARCH}, "genotype_str": NB201_ARCH, "history": history}))
    paths = plots.plot_run(workdir)
    assert sorted(p.name for p in paths) == ["cell.png", "search_history.png"]
    for path in paths:
        assert_png(path)

    figures = {path.name: fig for path, fig in plots.run_figures(workdir).items()}
    (ax,) = figures["search_history.png"].axes
    assert ax.get_title() == "random search"
    (points,) = ax.collections  # every sampled arch's score, and the running best as a line
    np.testing.assert_allclose(points.get_offsets(), [[0, 50], [1, 70], [2, 60]])
    assert line_data(ax) == [([0, 1, 2], [50, 70, 70])]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["sampled arch", "best so far"]


def test_plot_run_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        plots.plot_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        plots.plot_run(tmp_path / "empty")
    (tmp_path / "empty" / "metrics.jsonl").write_text('{"kind": "config"}\n')
    with pytest.raises(ValueError, match="no epoch records"):
        plots.plot_run(tmp_path / "empty")


def test_plot_correlation_draws_into_a_given_panel():
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plots.plot_correlation([0.1, 0.2, 0.3], [80.0, 85.0, 90.0], tau=1.0, title="B", ax=right) is fig
    assert not left.collections and left.get_title() == ""
    assert right.get_title() == "B" and texts(right) == ["tau = 1.000"]
    np.testing.assert_allclose(right.collections[0].get_offsets(), [[0.1, 80.0], [0.2, 85.0], [0.3, 90.0]])


def test_plot_estimate_diagnostics_draws_each_updates_noise(tmp_path):
    rng = np.random.default_rng(0)
    records = [{"kind": "epoch", "epoch": 0}]
    for i in range(4):
        phi = rng.normal(size=(1, 6, 5)) * 0.01
        phi[..., 0] = 0.0  # a non-player: no value, no error
        se = np.abs(rng.normal(size=(1, 6, 5))) * 0.005
        se[..., 0] = 0.0
        records.append({"kind": "alpha_update", "shapley": phi.tolist(), "shapley_se": se.tolist(),
                        "estimate_agreement": None if i == 0 else 0.1 * i, "chain_players_mean": 4.0 + i,
                        "value_full": 0.5 + 0.01 * i})
    path = tmp_path / "diag.png"
    fig = plots.plot_estimate_diagnostics(records, path=path)
    assert_png(path)
    agreement, noise, chains, full = fig.axes
    x, y = agreement.get_lines()[0].get_data()
    assert list(x) == [1, 2, 3, 4] and np.isnan(y[0]) and list(y[1:]) == pytest.approx([0.1, 0.2, 0.3])
    updates = [r for r in records if r["kind"] == "alpha_update"]
    size, error = (line.get_ydata() for line in noise.get_lines()[:2])
    for k, r in enumerate(updates):
        phi, se = np.asarray(r["shapley"])[..., 1:], np.asarray(r["shapley_se"])[..., 1:]
        full_phi = np.asarray(r["shapley"])
        assert size[k] == pytest.approx(np.abs(full_phi - full_phi.mean(-1, keepdims=True))[..., 1:].mean())
        assert error[k] == pytest.approx(se.mean())
    assert list(chains.get_lines()[0].get_ydata()) == [4.0, 5.0, 6.0, 7.0]
    assert list(full.get_lines()[0].get_ydata()) == pytest.approx([0.5, 0.51, 0.52, 0.53])
    with pytest.raises(ValueError, match="no Shapley update records"):
        plots.plot_estimate_diagnostics(records[:1])
