"""What every figure shares: the PNG writer, softmax, and the names of edges and ops on the axes."""

from __future__ import annotations

import os
from typing import Any

from etils import epath
from matplotlib.figure import Figure

from shapley_nas_jax.analysis.correlation import softmax  # the figures' softmax, exported as plots.softmax
from shapley_nas_jax.spaces.nb201 import NB201_EDGES

__all__ = ["DPI", "PathLike", "edge_labels", "op_labels", "save_png", "softmax"]

PathLike = str | os.PathLike[str]

DPI = 110


def save_png(fig: Figure, path: PathLike | None) -> None:
    """Write ``fig`` as PNG to ``path`` (parent folders created) when a path is given."""
    if path is None:
        return
    path = epath.Path(path)  # a local path or a URL such as gs://bucket/run/plots/x.png
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        fig.savefig(f, dpi=DPI, bbox_inches="tight", format="png")


def op_labels(edge_ops: Any, cell_type_index: int, edge: int, num_ops: int) -> list[str]:
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
