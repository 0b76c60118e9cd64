"""The figures of a whole run directory, as ``shapley-nas plot`` writes them: reads the run's
``metrics.jsonl`` and ``results.json`` and writes every figure as PNG into ``<workdir>/plots/``.
"""

from __future__ import annotations

from typing import Any, Mapping

from etils import epath
from matplotlib.figure import Figure

from shapley_nas_jax.analysis.plots.cells import plot_cell
from shapley_nas_jax.analysis.plots.common import PathLike, softmax
from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError
from shapley_nas_jax.runs import RunRecord, is_writer
from shapley_nas_jax.analysis.plots.search import (
    alpha_records,
    plot_alpha_grid,
    estimate_records,
    plot_benchmark_curve,
    plot_estimate_diagnostics,
    plot_search_history,
    plot_shapley_heatmap,
    record_weights,
)

__all__ = ["plot_run", "run_figures"]


def _supernet_free_figures(out_dir: epath.Path, results: Mapping[str, Any]) -> dict[epath.Path, Figure]:
    """Figures of a run without alpha (random search): its cell and, if recorded, its history."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "cell.png"
    figures = {path: plot_cell(results["genotype"], title=results.get("genotype_str"), path=path)}
    if results.get("history"):
        path = out_dir / "search_history.png"
        figures[path] = plot_search_history(results["history"], path=path)
    return figures


def run_figures(workdir: PathLike, space: Mapping[str, Any] | None = None) -> dict[epath.Path, Figure]:
    """Write every figure of a search run as PNG into ``<workdir>/plots/``; returns them by path.

    Reads ``<workdir>/metrics.jsonl`` (one JSON object per line; epoch records carry ``alpha``,
    ``weights``, ``genotype``, ``shapley`` and ``benchmark``) and, if present,
    ``<workdir>/results.json`` (``genotype``, ``alpha``, ``shapley``, ``space`` with ``cell_types``
    and ``edge_ops``). ``space`` (that same form) names the cell types and ops where results.json does not
    exist yet (a search in progress); without either they are numbered. Writes:

    * ``alpha_curves_<cell_type>.png`` - softmax(alpha) of every edge over epochs, per cell type;
    * ``cell.png`` - the final genotype's cell diagram;
    * ``alpha_heatmap.png`` - final softmax(alpha) ``[edges x ops]`` per cell type;
    * ``shapley_heatmap.png`` - the last Shapley values, when any were recorded;
    * ``benchmark.png`` - benchmark accuracy over epochs, when records have ``benchmark``;
    * ``estimate_diagnostics.png`` - each Shapley update's agreement with the earlier ones, standard errors,
      players per chain and full-supernet value, when the update records carry them.

    A run without alpha records (random search) gets ``cell.png`` and ``search_history.png``
    (from ``results.json``'s ``history``) instead.

    Returns:
      ``{path written: the Figure drawn there}``, in the order above.

    Raises:
      FileNotFoundError: the workdir or its metrics.jsonl is missing.
      ValueError: metrics.jsonl holds no epoch records with alpha and results.json no genotype.
    """
    run = RunRecord.load(workdir)  # a local path or a URL such as gs://bucket/run
    records = run.metrics
    if records is None:
        raise PathNotFoundError(f"no metrics.jsonl in {workdir}: nothing to plot (is this a search run's workdir?)")
    epoch_records = alpha_records(records)
    results: dict[str, Any] = run.results or {}
    if not epoch_records:
        if results.get("genotype") is not None:
            return _supernet_free_figures(run.root / "plots", results)
        raise InvalidInputError(f"{run.file('metrics.jsonl')} holds no epoch records with alpha: nothing to plot")

    final_weights = softmax(results["alpha"]) if results.get("alpha") is not None else record_weights(epoch_records[-1])
    num_types = final_weights.shape[0]
    space = results.get("space") or space or {}
    cell_types = list(space.get("cell_types") or [f"cell{t}" for t in range(num_types)])
    edge_ops = space.get("edge_ops") or [
        [[f"op{o}" for o in range(final_weights.shape[2])] for _ in range(final_weights.shape[1])]
        for _ in range(num_types)
    ]

    out_dir = run.root / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[epath.Path, Figure] = {}

    for t in range(num_types):
        name = str(cell_types[t]) if t < len(cell_types) else f"cell{t}"
        path = out_dir / f"alpha_curves_{name}.png"
        figures[path] = plot_alpha_grid(epoch_records, edge_ops, t, name, path=path)

    genotype = results.get("genotype")
    if genotype is None:
        genotype = next((r["genotype"] for r in reversed(epoch_records) if r.get("genotype")), None)
    if genotype is not None:
        path = out_dir / "cell.png"
        title = results.get("genotype_str")
        figures[path] = plot_cell(genotype, title=None if title is None or len(str(title)) > 120 else str(title),
                                  path=path)

    path = out_dir / "alpha_heatmap.png"
    figures[path] = plot_shapley_heatmap(final_weights, edge_ops, cell_types, title="final softmax(alpha)", path=path)

    shapley = results.get("shapley")
    if shapley is None:
        shapley = next((r["shapley"] for r in reversed(epoch_records) if r.get("shapley") is not None), None)
    if shapley is not None:
        path = out_dir / "shapley_heatmap.png"
        figures[path] = plot_shapley_heatmap(shapley, edge_ops, cell_types, title="last Shapley values", path=path)

    if any(r.get("benchmark") for r in records):
        path = out_dir / "benchmark.png"
        figures[path] = plot_benchmark_curve(records, path=path)
    if estimate_records(records):
        path = out_dir / "estimate_diagnostics.png"
        figures[path] = plot_estimate_diagnostics(records, path=path)
    return figures


def plot_run(workdir: PathLike, space: Mapping[str, Any] | None = None) -> list[epath.Path]:
    """Write every figure of a search run as PNG into ``<workdir>/plots/`` (see `run_figures`); returns
    the paths written. On several hosts only process 0 draws (the others return ``[]``)."""
    return list(run_figures(workdir, space)) if is_writer() else []
