"""Figures of a search run: alpha curves (paper Fig. 4), strength/accuracy scatter (Fig. 5), cell
diagrams, heatmaps of alpha or Shapley values, and the benchmark accuracy over epochs.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global state, no
interactive backend: PNGs are rendered by Agg) and writes a PNG when given ``path``.

Array conventions: ``alpha``, ``weights`` and Shapley ``values`` are nested lists or arrays
``[cell_types, edges, ops]``; ``edge_ops[cell_type][edge]`` lists the op names of that edge.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from shapley_nas_jax.analysis.correlation import to_float_array
from shapley_nas_jax.spaces.nb201 import NB201_EDGES, nb201_ops_from_arch

PathLike = str | os.PathLike[str]

_DPI = 110


def _save(fig: Figure, path: PathLike | None) -> None:
    """Write ``fig`` as PNG to ``path`` (parent folders created) when a path is given."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", format="png")


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of ``x`` along ``axis`` (float64)."""
    x = to_float_array(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _epoch_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Epoch records (``kind == "epoch"``, or no kind) holding ``alpha`` or ``weights``."""
    return [
        r
        for r in records
        if r.get("kind", "epoch") == "epoch" and (r.get("alpha") is not None or r.get("weights") is not None)
    ]


def _record_weights(record: Mapping[str, Any]) -> np.ndarray:
    """softmax(alpha) ``[cell_types, edges, ops]`` of one record (its ``weights`` if no alpha)."""
    if record.get("alpha") is not None:
        return softmax(record["alpha"], axis=-1)
    return to_float_array(record["weights"])


def _epochs(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return np.array([r.get("epoch", i) for i, r in enumerate(records)], dtype=np.float64)


def _op_names(edge_ops: Any, cell_type_index: int, edge: int, num_ops: int) -> list[str]:
    try:
        names = list(edge_ops[cell_type_index][edge])
    except (TypeError, IndexError, KeyError):
        names = []
    if len(names) != num_ops:
        names = [f"op{i}" for i in range(num_ops)]
    return names


def edge_labels(num_edges: int) -> list[str]:
    """Readable edge names: NB201 (6 edges) ``"1<-0"``; DARTS (14 edges) ``"n2<-c_{k-1}"``-style."""
    if num_edges == len(NB201_EDGES):
        return [f"{to}<-{src}" for to, src in NB201_EDGES]
    labels: list[str] = []
    node = 0
    while len(labels) < num_edges:
        for src in range(node + 2):
            name = ("c_{k-2}", "c_{k-1}")[src] if src < 2 else f"n{src - 2}"
            labels.append(f"n{node}<-{name}")
        node += 1
    if len(labels) != num_edges:
        return [f"edge {e}" for e in range(num_edges)]
    return labels


def _draw_alpha_curves(ax: Any, epochs: np.ndarray, weights: np.ndarray, op_names: Sequence[str], title: str) -> None:
    for op, name in enumerate(op_names):
        ax.plot(epochs, weights[:, op], marker="o" if len(epochs) < 30 else None, markersize=3, label=name)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel("softmax(alpha)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def plot_alpha_curves(
    records: Sequence[Mapping[str, Any]],
    edge_ops: Any,
    cell_type_index: int = 0,
    edge: int = 0,
    title: str | None = None,
    path: PathLike | None = None,
) -> Figure:
    """softmax(alpha) of every op of one edge over epochs (paper Fig. 4).

    Args:
      records: per-epoch dicts as in a run's ``metrics.jsonl``: ``{"kind": "epoch", "epoch": int,
        "alpha": [cell_types][edges][ops], ...}`` (``weights`` = softmax(alpha) is used when
        ``alpha`` is absent); other kinds are skipped.
      edge_ops: ``edge_ops[cell_type][edge]`` -> op names (legend).
      cell_type_index: which cell type (0 = normal, 1 = reduce for DARTS).
      edge: edge index within the cell.
      title: figure title (default: cell type and edge).
      path: write a PNG here if given.
    """
    epoch_records = _epoch_records(records)
    if not epoch_records:
        raise ValueError("no epoch records with alpha to plot")
    weights = np.stack([_record_weights(r)[cell_type_index, edge] for r in epoch_records])  # [T, ops]
    names = _op_names(edge_ops, cell_type_index, edge, weights.shape[1])
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    _draw_alpha_curves(ax, _epochs(epoch_records), weights, names, title or f"cell type {cell_type_index}, edge {edge}")
    ax.legend(fontsize=7, loc="best")
    _save(fig, path)
    return fig


def plot_alpha_grid(
    records: Sequence[Mapping[str, Any]],
    edge_ops: Any,
    cell_type_index: int = 0,
    cell_type_name: str | None = None,
    path: PathLike | None = None,
) -> Figure:
    """softmax(alpha) curves of every edge of one cell type, one subplot per edge."""
    epoch_records = _epoch_records(records)
    if not epoch_records:
        raise ValueError("no epoch records with alpha to plot")
    weights = np.stack([_record_weights(r)[cell_type_index] for r in epoch_records])  # [T, edges, ops]
    num_edges = weights.shape[1]
    labels = edge_labels(num_edges)
    epochs = _epochs(epoch_records)
    ncols = max(1, math.ceil(math.sqrt(num_edges)))
    nrows = math.ceil(num_edges / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for edge in range(nrows * ncols):
        ax = axes[edge // ncols][edge % ncols]
        if edge >= num_edges:
            ax.set_visible(False)
            continue
        names = _op_names(edge_ops, cell_type_index, edge, weights.shape[2])
        _draw_alpha_curves(ax, epochs, weights[:, edge], names, f"edge {edge} ({labels[edge]})")
    handles, legend_labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="outside lower center", ncols=min(len(legend_labels), 5), fontsize=8)
    fig.suptitle(f"softmax(alpha) per edge: {cell_type_name or f'cell type {cell_type_index}'}")
    _save(fig, path)
    return fig


def plot_correlation(
    strengths: Any,
    accuracies: Any,
    tau: float,
    title: str = "",
    path: PathLike | None = None,
    xlabel: str = "operation strength",
    ylabel: str = "test accuracy (%)",
) -> Figure:
    """Scatter of operation strength against benchmark accuracy, annotated with Kendall's tau (Fig. 5).

    Args:
      strengths: ``[n]`` operation strengths of the sampled archs.
      accuracies: ``[n]`` their accuracies in percent.
      tau: Kendall's tau to print.
    """
    x = to_float_array(strengths).ravel()
    y = to_float_array(accuracies).ravel()
    if x.shape != y.shape:
        raise ValueError(f"strengths {x.shape} and accuracies {y.shape} differ in length")
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    ax.scatter(x, y, s=12, alpha=0.7, edgecolors="none")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "operation strength vs accuracy")
    ax.text(0.03, 0.95, f"tau = {tau:.3f}", transform=ax.transAxes, va="top", fontsize=10,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    ax.grid(alpha=0.3)
    _save(fig, path)
    return fig


def plot_shapley_heatmap(
    values: Any,
    edge_ops: Any,
    cell_types: Sequence[str],
    title: str = "Shapley values",
    path: PathLike | None = None,
) -> Figure:
    """Heatmap per cell type of an ``[cell_types, edges, ops]`` array (Shapley values or alpha).

    Rows are edges, columns ops (named from ``edge_ops[cell_type][0]``). ``None``/NaN entries
    (e.g. positions that are not Shapley players) are left blank. A diverging colour map centred
    on 0 is used when the values change sign.
    """
    data = to_float_array(values)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise ValueError(f"values must be [cell_types, edges, ops], got shape {data.shape}")
    num_types, num_edges, num_ops = data.shape
    finite = data[np.isfinite(data)]
    if finite.size and finite.min() < 0 < finite.max():
        bound = float(np.abs(finite).max())
        cmap, vmin, vmax = "RdBu_r", -bound, bound
    else:
        cmap = "viridis"
        vmin = float(finite.min()) if finite.size else 0.0
        vmax = float(finite.max()) if finite.size else 1.0
    fig = Figure(figsize=(1.0 * num_ops * num_types + 2.5, 0.38 * num_edges + 2.0), layout="constrained")
    axes = fig.subplots(1, num_types, squeeze=False)[0]
    image = None
    rows = edge_labels(num_edges)
    for t in range(num_types):
        ax = axes[t]
        image = ax.imshow(np.ma.masked_invalid(data[t]), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(num_ops), _op_names(edge_ops, t, 0, num_ops), rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(num_edges), rows, fontsize=7)
        name = cell_types[t] if t < len(cell_types) else f"cell type {t}"
        ax.set_title(str(name), fontsize=9)
        if num_edges * num_ops <= 160:
            for e in range(num_edges):
                for o in range(num_ops):
                    v = data[t, e, o]
                    if np.isfinite(v):
                        ax.text(o, e, f"{v:.2g}", ha="center", va="center", fontsize=6, color="black",
                                bbox={"boxstyle": "square,pad=0.05", "facecolor": "white", "alpha": 0.5, "lw": 0})
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8)
    fig.suptitle(title)
    _save(fig, path)
    return fig


# ---------------------------------------------------------------------------------------------
# Cell diagrams
# ---------------------------------------------------------------------------------------------

def _darts_cells(genotype: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, int]], list[int]]]:
    """``[(cell name, [(op, input node)] * 8, concat nodes)]`` of a DARTS genotype JSON."""
    cells = []
    for name in ("normal", "reduce"):
        pairs = genotype.get(name)
        if pairs is None:
            continue
        parsed = [(str(op), int(src)) for op, src in pairs]
        if len(parsed) % 2:
            raise ValueError(f"DARTS {name} cell needs two (op, input) pairs per node, got {len(parsed)}")
        num_nodes = len(parsed) // 2
        concat = [int(c) for c in genotype.get(f"{name}_concat", range(2, 2 + num_nodes))]
        cells.append((name, parsed, concat))
    if not cells:
        raise ValueError("DARTS genotype JSON has neither a 'normal' nor a 'reduce' cell")
    return cells


def _darts_node_name(index: int) -> str:
    return ("c_{k-2}", "c_{k-1}")[index] if index < 2 else str(index - 2)


def _graph_edges(genotype: Mapping[str, Any]) -> list[tuple[str, list[str], list[tuple[str, str, str | None]]]]:
    """Cells as ``(name, node names, [(src, dst, op label or None)])``; node names are unique per cell."""
    kind = genotype.get("type")
    if kind == "nb201":
        ops = nb201_ops_from_arch(genotype["arch"])
        edges = [(str(src), str(dst), op) for (dst, src), op in zip(NB201_EDGES, ops) if op != "none"]
        return [("NB201 cell", ["0", "1", "2", "3"], edges)]
    if kind == "darts":
        out = []
        for name, pairs, concat in _darts_cells(genotype):
            num_nodes = len(pairs) // 2
            nodes = ["c_{k-2}", "c_{k-1}", *[str(i) for i in range(num_nodes)], "c_{k}"]
            edges: list[tuple[str, str, str | None]] = []
            for i, (op, src) in enumerate(pairs):
                edges.append((_darts_node_name(src), str(i // 2), op))
            for c in concat:
                edges.append((_darts_node_name(c), "c_{k}", None))
            out.append((name, nodes, edges))
        return out
    raise ValueError(f"unknown genotype type {kind!r}; expected 'darts' or 'nb201'")


def _dot_source(cells: list[tuple[str, list[str], list[tuple[str, str, str | None]]]], title: str | None) -> str:
    lines = ["digraph cell {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname=Helvetica];',
             "  edge [fontname=Helvetica, fontsize=11];"]
    if title:
        lines.append(f'  label="{title}"; labelloc=t; fontsize=16;')
    for c, (name, nodes, edges) in enumerate(cells):
        lines.append(f"  subgraph cluster_{c} {{")
        lines.append(f'    label="{name}";')
        for node in nodes:
            color = "darkseagreen2" if node.startswith("c_{k-") else ("palegoldenrod" if node == "c_{k}" else "lightblue")
            lines.append(f'    "{c}:{node}" [label="{node}", fillcolor={color}];')
        for src, dst, op in edges:
            attrs = f'label="{op}"' if op else 'color=gray, style=dashed'
            lines.append(f'    "{c}:{src}" -> "{c}:{dst}" [{attrs}];')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render_dot(source: str, png_path: Path) -> bool:
    """Write ``<png_path>.dot`` and render it with graphviz ``dot``; True on success."""
    dot = shutil.which("dot")
    if dot is None:
        return False
    dot_path = png_path.with_suffix(".dot")
    dot_path.write_text(source)
    try:
        subprocess.run([dot, "-Tpng", "-Gdpi=110", "-o", str(png_path), str(dot_path)],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return png_path.is_file() and png_path.stat().st_size > 0


def _node_positions(name: str, nodes: list[str]) -> dict[str, tuple[float, float]]:
    if name == "NB201 cell":
        return {node: (2.0 * i, 0.0) for i, node in enumerate(nodes)}
    num_inner = len(nodes) - 3
    positions = {"c_{k-2}": (0.0, 2.6), "c_{k-1}": (0.0, -2.6)}
    for i in range(num_inner):
        positions[str(i)] = (3.0 + 2.6 * i, 0.9 if i % 2 == 0 else -0.9)
    positions["c_{k}"] = (3.0 + 2.6 * num_inner, 0.0)
    return positions


def _draw_cell(ax: Any, name: str, nodes: list[str], edges: list[tuple[str, str, str | None]]) -> None:
    positions = _node_positions(name, nodes)
    palette = {}
    colors = [f"C{i}" for i in range(10)]
    seen: dict[tuple[str, str], int] = {}
    for src, dst, op in edges:
        (x1, y1), (x2, y2) = positions[src], positions[dst]
        repeat = seen.get((src, dst), 0)  # a node may take both of its inputs from the same node
        seen[(src, dst)] = repeat + 1
        span = abs(x2 - x1)
        if name == "NB201 cell":
            rad = 0.0 if span <= 2.0 else (-0.35 if span <= 4.0 else 0.35)
        else:
            rad = 0.12 if span > 3.0 else 0.0
        rad += 0.3 * repeat
        if op is None:
            color, style, width = "gray", "--", 1.0
        else:
            color = palette.setdefault(op, colors[len(palette) % len(colors)])
            style, width = "-", 1.6
        arrow = FancyArrowPatch((x1, y1), (x2, y2), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                mutation_scale=12, color=color, linestyle=style, linewidth=width,
                                shrinkA=18, shrinkB=18, zorder=1)
        ax.add_patch(arrow)
        if op is not None:
            dx, dy = x2 - x1, y2 - y1
            lx, ly = (x1 + x2) / 2 + 0.5 * rad * dy, (y1 + y2) / 2 - 0.5 * rad * dx
            ax.text(lx, ly, op, fontsize=7, color=color, ha="center", va="center", zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
    for node in nodes:
        x, y = positions[node]
        if node.startswith("c_{"):
            fill = "#cfe8cf" if node != "c_{k}" else "#f3e6a6"
            ax.add_patch(FancyBboxPatch((x - 0.45, y - 0.25), 0.9, 0.5, boxstyle="round,pad=0.05",
                                        facecolor=fill, edgecolor="black", zorder=2))
            label = f"${node}$"
        else:
            ax.add_patch(Circle((x, y), 0.3, facecolor="#cde3f5", edgecolor="black", zorder=2))
            label = node
        ax.text(x, y, label, ha="center", va="center", fontsize=9, zorder=4)
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 1.4, max(ys) + 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(name, fontsize=10)


def plot_cell(
    genotype_json: Mapping[str, Any] | str,
    title: str | None = None,
    path: PathLike | None = None,
    use_graphviz: bool | None = None,
) -> Figure:
    """Diagram of the discrete cell(s) of a genotype.

    Args:
      genotype_json: the genotype JSON form (a dict or its JSON text). DARTS:
        ``{"type": "darts", "normal": [[op, input], ...8 pairs], "normal_concat": [2, 3, 4, 5],
        "reduce": ..., "reduce_concat": ...}`` where inputs 0 and 1 are c_{k-2} and c_{k-1},
        intermediate node i >= 2 takes pairs 2(i-2) and 2(i-2)+1, and the concat nodes feed the
        output c_{k} (both cells are drawn side by side). NB201: ``{"type": "nb201", "arch":
        "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"}``; ``none`` edges are not drawn.
      title: figure title.
      path: write a PNG here if given (with graphviz, also the ``.dot`` source next to it).
      use_graphviz: render with graphviz ``dot`` (default: when ``dot`` is on PATH); falls back to
        matplotlib drawing if ``dot`` is missing or fails.

    Returns:
      the Figure (with graphviz: the rendered image shown in a frameless axes).
    """
    genotype = json.loads(genotype_json) if isinstance(genotype_json, str) else genotype_json
    cells = _graph_edges(genotype)
    if use_graphviz is None:
        use_graphviz = shutil.which("dot") is not None
    if use_graphviz:
        with tempfile.TemporaryDirectory() as tmp:
            png_path = Path(path) if path is not None else Path(tmp) / "cell.png"
            png_path.parent.mkdir(parents=True, exist_ok=True)
            if _render_dot(_dot_source(cells, title), png_path):
                from matplotlib.image import imread

                image = imread(str(png_path))
                height, width = image.shape[:2]
                fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
                ax = fig.add_axes((0, 0, 1, 1))
                ax.imshow(image)
                ax.axis("off")
                return fig
    fig = Figure(figsize=(9.0 * len(cells) if cells[0][0] != "NB201 cell" else 8, 4.5), layout="constrained")
    axes = fig.subplots(1, len(cells), squeeze=False)[0]
    for ax, (name, nodes, edges) in zip(axes, cells):
        _draw_cell(ax, name, nodes, edges)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


# ---------------------------------------------------------------------------------------------
# Benchmark curve and a whole run
# ---------------------------------------------------------------------------------------------

def _flatten_numbers(value: Any, prefix: str = "") -> dict[str, float]:
    """``{"cifar10": {"test": 93.1}}`` -> ``{"cifar10/test": 93.1}`` (numeric leaves only)."""
    out: dict[str, float] = {}
    if isinstance(value, Mapping):
        for key, inner in value.items():
            out.update(_flatten_numbers(inner, f"{prefix}/{key}" if prefix else str(key)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix or "value"] = float(value)
    return out


def plot_benchmark_curve(records: Sequence[Mapping[str, Any]], path: PathLike | None = None) -> Figure:
    """Benchmark accuracy (percent) of each epoch's genotype over epochs.

    Uses the ``"benchmark"`` entry of epoch records (e.g. ``{"cifar10": {"valid": .., "test": ..},
    ...}``); one line per numeric leaf. Records without it are skipped.
    """
    series: dict[str, list[tuple[float, float]]] = {}
    for i, record in enumerate(records):
        if record.get("kind", "epoch") != "epoch" or not record.get("benchmark"):
            continue
        epoch = float(record.get("epoch", i))
        for key, value in _flatten_numbers(record["benchmark"]).items():
            series.setdefault(key, []).append((epoch, value))
    if not series:
        raise ValueError("no epoch records with benchmark results to plot")
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    for key, points in series.items():
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("benchmark accuracy (%)")
    ax.set_title("benchmark accuracy of the derived architecture")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    _save(fig, path)
    return fig


def plot_search_history(history: Sequence[Mapping[str, Any]], path: PathLike | None = None) -> Figure:
    """Score of each sampled arch and the running best over samples (random-search history).

    Args:
      history: dicts with ``score`` and ``best_score`` (percent), as ``random_search`` returns.
    """
    if not history:
        raise ValueError("empty search history: nothing to plot")
    steps = np.arange(len(history))
    scores = to_float_array([h.get("score") for h in history])
    best = to_float_array([h.get("best_score") for h in history])
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    ax.scatter(steps, scores, s=8, alpha=0.5, label="sampled arch")
    ax.plot(steps, best, color="C3", label="best so far")
    ax.set_xlabel("sample")
    ax.set_ylabel("benchmark accuracy (%)")
    ax.set_title("random search")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return fig


def _plot_supernet_free_run(out_dir: Path, results: Mapping[str, Any]) -> list[Path]:
    """Figures of a run without alpha (random search): its cell and, if recorded, its history."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "cell.png"]
    plot_cell(results["genotype"], title=results.get("genotype_str"), path=written[0])
    if results.get("history"):
        written.append(out_dir / "search_history.png")
        plot_search_history(results["history"], path=written[-1])
    return written


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number} is not valid JSON ({err.msg})") from None
    return records


def plot_run(workdir: PathLike) -> list[Path]:
    """Write every figure of a search run as PNG into ``<workdir>/plots/``.

    Reads ``<workdir>/metrics.jsonl`` (one JSON object per line; epoch records carry ``alpha``,
    ``weights``, ``genotype``, ``shapley`` and ``benchmark``) and, if present,
    ``<workdir>/results.json`` (``genotype``, ``alpha``, ``shapley``, ``space`` with ``cell_types``
    and ``edge_ops``). Writes:

    * ``alpha_curves_<cell_type>.png`` - softmax(alpha) of every edge over epochs, per cell type;
    * ``cell.png`` - the final genotype's cell diagram;
    * ``alpha_heatmap.png`` - final softmax(alpha) ``[edges x ops]`` per cell type;
    * ``shapley_heatmap.png`` - the last Shapley values, when any were recorded;
    * ``benchmark.png`` - benchmark accuracy over epochs, when records have ``benchmark``.

    A run without alpha records (random search) gets ``cell.png`` and ``search_history.png``
    (from ``results.json``'s ``history``) instead.

    Returns:
      the paths written.

    Raises:
      FileNotFoundError: the workdir or its metrics.jsonl is missing.
      ValueError: metrics.jsonl holds no epoch records with alpha and results.json no genotype.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(f"run directory not found: {workdir}")
    metrics_path = workdir / "metrics.jsonl"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {workdir}: nothing to plot (is this a search run's workdir?)")
    records = _read_metrics(metrics_path)
    epoch_records = _epoch_records(records)
    results: dict[str, Any] = {}
    results_path = workdir / "results.json"
    if results_path.is_file():
        results = json.loads(results_path.read_text(encoding="utf-8"))
    if not epoch_records:
        if results.get("genotype") is not None:
            return _plot_supernet_free_run(workdir / "plots", results)
        raise ValueError(f"{metrics_path} holds no epoch records with alpha: nothing to plot")

    final_weights = softmax(results["alpha"]) if results.get("alpha") is not None else _record_weights(epoch_records[-1])
    num_types = final_weights.shape[0]
    space = results.get("space") or {}
    cell_types = list(space.get("cell_types") or [f"cell{t}" for t in range(num_types)])
    edge_ops = space.get("edge_ops") or [
        [[f"op{o}" for o in range(final_weights.shape[2])] for _ in range(final_weights.shape[1])]
        for _ in range(num_types)
    ]

    out_dir = workdir / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    for t in range(num_types):
        name = str(cell_types[t]) if t < len(cell_types) else f"cell{t}"
        path = out_dir / f"alpha_curves_{name}.png"
        plot_alpha_grid(epoch_records, edge_ops, t, name, path=path)
        written.append(path)

    genotype = results.get("genotype")
    if genotype is None:
        genotype = next((r["genotype"] for r in reversed(epoch_records) if r.get("genotype")), None)
    if genotype is not None:
        path = out_dir / "cell.png"
        title = results.get("genotype_str")
        plot_cell(genotype, title=None if title is None or len(str(title)) > 120 else str(title), path=path)
        written.append(path)

    path = out_dir / "alpha_heatmap.png"
    plot_shapley_heatmap(final_weights, edge_ops, cell_types, title="final softmax(alpha)", path=path)
    written.append(path)

    shapley = results.get("shapley")
    if shapley is None:
        shapley = next((r["shapley"] for r in reversed(epoch_records) if r.get("shapley") is not None), None)
    if shapley is not None:
        path = out_dir / "shapley_heatmap.png"
        plot_shapley_heatmap(shapley, edge_ops, cell_types, title="last Shapley values", path=path)
        written.append(path)

    if any(r.get("benchmark") for r in records):
        path = out_dir / "benchmark.png"
        plot_benchmark_curve(records, path=path)
        written.append(path)
    return written
