"""Operation strength against benchmark accuracy, annotated with Kendall's tau (paper Fig. 5)."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from shapley_nas_jax.analysis.correlation import to_float_array
from shapley_nas_jax.analysis.plots.common import PathLike, save_png

__all__ = ["plot_correlation"]


def plot_correlation(
    strengths: Any,
    accuracies: Any,
    tau: float,
    title: str = "",
    path: PathLike | None = None,
    xlabel: str = "operation strength",
    ylabel: str = "test accuracy (%)",
    ax: Any = None,
) -> Figure:
    """Scatter of operation strength against benchmark accuracy, annotated with Kendall's tau (Fig. 5).

    Args:
      strengths: ``[n]`` operation strengths of the sampled archs.
      accuracies: ``[n]`` their accuracies in percent.
      tau: Kendall's tau to print.
      ax: a matplotlib Axes to draw into (one panel of a larger figure); default a new 5 x 4 in figure.

    Returns the figure drawn into, written to ``path`` when given.
    """
    x = to_float_array(strengths).ravel()
    y = to_float_array(accuracies).ravel()
    if x.shape != y.shape:
        raise ValueError(f"strengths {x.shape} and accuracies {y.shape} differ in length")
    if ax is None:
        ax = Figure(figsize=(5, 4)).add_subplot()
    fig = ax.get_figure()
    ax.scatter(x, y, s=12, alpha=0.7, edgecolors="none")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "operation strength vs accuracy")
    ax.text(0.03, 0.95, f"tau = {tau:.3f}", transform=ax.transAxes, va="top", fontsize=10,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    ax.grid(alpha=0.3)
    save_png(fig, path)
    return fig
