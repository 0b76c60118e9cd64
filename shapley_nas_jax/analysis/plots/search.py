"""Figures of a search run's records: softmax(alpha) curves per edge (paper Fig. 4), heatmaps of alpha or
Shapley values, the benchmark accuracy over epochs and a random search's history.

Records are the dicts of a run's ``metrics.jsonl``; epoch records (``kind == "epoch"``) carry ``alpha``
(or ``weights`` = softmax(alpha)), ``shapley`` and ``benchmark``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from shapley_nas_jax.analysis.correlation import to_float_array
from shapley_nas_jax.analysis.ranking import estimate_size_and_error
from shapley_nas_jax.analysis.plots.common import PathLike, edge_labels, op_labels, save_png, softmax

__all__ = [
    "alpha_records",
    "estimate_records",
    "plot_alpha_curves",
    "plot_alpha_grid",
    "plot_benchmark_curve",
    "plot_estimate_diagnostics",
    "plot_search_history",
    "plot_shapley_heatmap",
    "record_epochs",
    "record_weights",
]


def alpha_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Epoch records (``kind == "epoch"``, or no kind) holding ``alpha`` or ``weights``."""
    return [
        r
        for r in records
        if r.get("kind", "epoch") == "epoch" and (r.get("alpha") is not None or r.get("weights") is not None)
    ]


def record_weights(record: Mapping[str, Any]) -> np.ndarray:
    """softmax(alpha) ``[cell_types, edges, ops]`` of one record (its ``weights`` if no alpha)."""
    if record.get("alpha") is not None:
        return softmax(record["alpha"], axis=-1)
    return to_float_array(record["weights"])


def record_epochs(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return np.array([r.get("epoch", i) for i, r in enumerate(records)], dtype=np.float64)


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
    epoch_records = alpha_records(records)
    if not epoch_records:
        raise ValueError("no epoch records with alpha to plot")
    weights = np.stack([record_weights(r)[cell_type_index, edge] for r in epoch_records])  # [T, ops]
    names = op_labels(edge_ops, cell_type_index, edge, weights.shape[1])
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    title = title or f"cell type {cell_type_index}, edge {edge}"
    _draw_alpha_curves(ax, record_epochs(epoch_records), weights, names, title)
    ax.legend(fontsize=7, loc="best")
    save_png(fig, path)
    return fig


def plot_alpha_grid(
    records: Sequence[Mapping[str, Any]],
    edge_ops: Any,
    cell_type_index: int = 0,
    cell_type_name: str | None = None,
    path: PathLike | None = None,
) -> Figure:
    """softmax(alpha) curves of every edge of one cell type, one subplot per edge."""
    epoch_records = alpha_records(records)
    if not epoch_records:
        raise ValueError("no epoch records with alpha to plot")
    weights = np.stack([record_weights(r)[cell_type_index] for r in epoch_records])  # [T, edges, ops]
    num_edges = weights.shape[1]
    labels = edge_labels(num_edges)
    epochs = record_epochs(epoch_records)
    ncols = max(1, math.ceil(math.sqrt(num_edges)))
    nrows = math.ceil(num_edges / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for edge in range(nrows * ncols):
        ax = axes[edge // ncols][edge % ncols]
        if edge >= num_edges:
            ax.set_visible(False)
            continue
        names = op_labels(edge_ops, cell_type_index, edge, weights.shape[2])
        _draw_alpha_curves(ax, epochs, weights[:, edge], names, f"edge {edge} ({labels[edge]})")
    handles, legend_labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="outside lower center", ncols=min(len(legend_labels), 5), fontsize=8)
    fig.suptitle(f"softmax(alpha) per edge: {cell_type_name or f'cell type {cell_type_index}'}")
    save_png(fig, path)
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
        ax.set_xticks(range(num_ops), op_labels(edge_ops, t, 0, num_ops), rotation=45, ha="right", fontsize=7)
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
    save_png(fig, path)
    return fig


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
    save_png(fig, path)
    return fig


def estimate_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Shapley update records (``kind == "alpha_update"``) that carry the estimate's diagnostics."""
    return [r for r in records if r.get("kind") == "alpha_update" and r.get("shapley_se") is not None]


def plot_estimate_diagnostics(records: Sequence[Mapping[str, Any]], path: PathLike | None = None) -> Figure:
    """How noisy each Shapley update's estimate was, over the updates (``metrics.jsonl`` records):

    * ``estimate_agreement``: agreement with the mean of the earlier estimates (0: what noise gives);
    * the estimate's size against its noise: the mean over players of |estimate - its edge's mean| beside the
      mean standard error ``shapley_se`` (a signal below its standard error cannot order the ops);
    * ``chain_players_mean``: players scored per chain before it truncated;
    * ``value_full``: the full supernet's value on the update's batches.
    """
    rows = estimate_records(records)
    if not rows:
        raise ValueError("no Shapley update records with shapley_se to plot (runs before these diagnostics)")
    updates = np.arange(1, len(rows) + 1)
    fig = Figure(figsize=(9, 6))
    axes = fig.subplots(2, 2, sharex=True)

    def series(key):
        return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])

    agreement = axes[0, 0]
    agreement.plot(updates, series("estimate_agreement"), marker="o", markersize=3)
    agreement.axhline(0, color="grey", lw=0.8, ls="--", label="independent noise")
    agreement.set_ylabel("agreement with earlier estimates")
    agreement.set_ylim(-1.05, 1.05)
    agreement.legend(fontsize=7)

    noise = axes[0, 1]
    size, error = estimate_size_and_error([r["shapley"] for r in rows], [r["shapley_se"] for r in rows])
    noise.plot(updates, size, marker="o", markersize=3, label="|estimate - edge mean|")
    noise.plot(updates, error, marker="s", markersize=3, label="standard error")
    noise.set_ylabel("mean over players")
    noise.legend(fontsize=7)

    chains = axes[1, 0]
    chains.plot(updates, series("chain_players_mean"), marker="o", markersize=3)
    chains.set_ylabel("players per chain")

    full = axes[1, 1]
    full.plot(updates, series("value_full"), marker="o", markersize=3)
    full.set_ylabel("full supernet's value")
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[1]:
        ax.set_xlabel("Shapley update")
    fig.suptitle("the estimate's noise over the search", fontsize=10)
    save_png(fig, path)
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
    save_png(fig, path)
    return fig
