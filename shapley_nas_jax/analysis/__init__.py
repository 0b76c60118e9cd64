"""Analyses of a search: operation-strength correlation with NB201 (Fig. 5) and plots (Fig. 4, cells).

The correlation helpers import only numpy (scipy on use); the plotting functions import matplotlib
when first accessed. The modules behind the analysis scripts are imported by name:
:mod:`.nb201_report` (Table 5 over methods and seeds), :mod:`.shapley_signal` (repeated estimates on a
run's checkpoint), :mod:`.estimator_comparison` (estimators against exact values), :mod:`.ranking` and
:mod:`.tables`.
"""

from shapley_nas_jax.analysis.correlation import operation_strength, strength_correlation, to_float_array

_PLOT_NAMES = (
    "plot_alpha_curves",
    "plot_alpha_grid",
    "plot_benchmark_curve",
    "plot_cell",
    "plot_correlation",
    "plot_estimate_diagnostics",
    "plot_run",
    "plot_search_history",
    "plot_shapley_heatmap",
)

__all__ = [
    "operation_strength",
    "strength_correlation",
    "to_float_array",
    *_PLOT_NAMES,
]


def __getattr__(name: str):
    if name in _PLOT_NAMES:
        from shapley_nas_jax.analysis import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
