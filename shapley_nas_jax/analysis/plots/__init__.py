"""Figures of a search run: alpha curves (paper Fig. 4), strength/accuracy scatter (Fig. 5), cell
diagrams, heatmaps of alpha or Shapley values, and the benchmark accuracy over epochs.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global state, no
interactive backend: PNGs are rendered by Agg) and writes a PNG when given ``path``.

Array conventions: ``alpha``, ``weights`` and Shapley ``values`` are nested lists or arrays
``[cell_types, edges, ops]``; ``edge_ops[cell_type][edge]`` lists the op names of that edge.

Modules: `search` (alpha curves and grids, heatmaps, benchmark curve, search history), `cells` (cell
diagrams), `scatter` (strength vs accuracy), `run` (every figure of a run directory, for
``shapley-nas plot``), `common` (PNG writing, softmax, axis names).
"""

from shapley_nas_jax.analysis.plots.cells import plot_cell
from shapley_nas_jax.analysis.plots.common import edge_labels, softmax
from shapley_nas_jax.analysis.plots.run import plot_run, run_figures
from shapley_nas_jax.analysis.plots.scatter import plot_correlation
from shapley_nas_jax.analysis.plots.search import (
    estimate_records,
    plot_alpha_curves,
    plot_alpha_grid,
    plot_benchmark_curve,
    plot_estimate_diagnostics,
    plot_search_history,
    plot_shapley_heatmap,
)

__all__ = [
    "edge_labels",
    "estimate_records",
    "plot_alpha_curves",
    "plot_alpha_grid",
    "plot_benchmark_curve",
    "plot_cell",
    "plot_correlation",
    "plot_estimate_diagnostics",
    "plot_run",
    "plot_search_history",
    "plot_shapley_heatmap",
    "run_figures",
    "softmax",
]
