"""Diagrams of a genotype's discrete cells (DARTS normal and reduce cells, the NB201 cell): with graphviz
``dot`` when it is on PATH, else drawn with matplotlib patches.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

from etils import epath
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from shapley_nas_jax.spaces.nb201 import NB201_EDGES, nb201_ops_from_arch
from shapley_nas_jax.analysis.plots.common import DPI, PathLike, save_png

__all__ = ["plot_cell"]


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
            png_path = Path(tmp) / "cell.png"  # graphviz writes local files; copied to ``path`` below
            if _render_dot(_dot_source(cells, title), png_path):
                if path is not None:
                    target = epath.Path(path)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(png_path.read_bytes())
                    target.with_suffix(".dot").write_text(png_path.with_suffix(".dot").read_text())
                from matplotlib.image import imread

                image = imread(str(png_path))
                height, width = image.shape[:2]
                fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
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
    save_png(fig, path)
    return fig
