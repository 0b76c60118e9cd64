"""Correlation between operation strengths and NAS-Bench-201 accuracy (paper section 5, Fig. 5), of given
strengths (``strength_correlation``) or of a finished run's (``correlate``, ``scripts/correlation.py``).

The NB201 ops, edge order and arch strings are those of :mod:`shapley_nas_jax.spaces.nb201`.

The paper samples 200 discrete architectures, gives each the *operation strength* obtained by
averaging, over the 6 edges, the strength (alpha magnitude, or Shapley value) of the op the
architecture uses on that edge, and reports Kendall's tau between strength and test accuracy.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError
from shapley_nas_jax.spaces.nb201 import NB201_EDGES, NB201_OPS, nb201_ops_from_arch


def to_float_array(values: Any) -> np.ndarray:
    """Convert a nested list (``None`` allowed, read as NaN) or array to a float64 numpy array."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values.astype(np.float64)

    def replace_none(x: Any) -> Any:
        if x is None:
            return np.nan
        if isinstance(x, (list, tuple, np.ndarray)):
            return [replace_none(v) for v in x]
        return x

    return np.asarray(replace_none(values), dtype=np.float64)


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of ``x`` along ``axis`` (float64)."""
    x = to_float_array(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _strength_table(strengths: Any) -> np.ndarray:
    """Return strengths as float64 ``[6, 5]`` from ``[6, 5]`` or ``[1, 6, 5]`` input."""
    table = to_float_array(strengths)
    if table.ndim == 3 and table.shape[0] == 1:
        table = table[0]
    if table.shape != (len(NB201_EDGES), len(NB201_OPS)):
        raise ValueError(
            f"NB201 strengths must have shape [6, 5] or [1, 6, 5] (edges x ops), got {np.shape(table)}"
        )
    return table


def operation_strength(arch_str: str, strengths: Any) -> float:
    """Operation strength of one discrete NB201 architecture.

    The mean over the 6 edges of the strength of the op the architecture picks on that edge:
    ``mean_e strengths[e, op_index(arch, e)]``. The values are used as given (no absolute value):
    pass ``softmax(alpha)`` for DARTS-style magnitudes, or Shapley values.

    Args:
      arch_str: NB201 arch string.
      strengths: array-like ``[1, 6, 5]`` (cell_types x edges x ops, as stored by a run) or
        ``[6, 5]``; ``None`` entries (e.g. non-player positions) count as NaN.

    Returns:
      the mean strength (float); NaN if any chosen position is NaN.
    """
    table = _strength_table(strengths)
    ops = nb201_ops_from_arch(arch_str)
    picked = [table[edge, NB201_OPS.index(op)] for edge, op in enumerate(ops)]
    return float(np.mean(picked))


def strength_correlation(
    strengths: Any,
    benchmark: Any,
    num_archs: int = 200,
    seed: int = 0,
    dataset: str = "cifar10",
    metric: str = "test",
    exclude_ops: Sequence[str] = (),
) -> dict[str, Any]:
    """Kendall's tau between operation strength and benchmark accuracy (paper Fig. 5).

    Samples ``num_archs`` distinct architectures uniformly from the benchmark (all of them if it has
    fewer), computes each one's ``operation_strength`` and looks up its accuracy. ``exclude_ops`` leaves
    out every architecture that uses one of those ops: pass the ops that are no players of a Shapley game
    (``none`` by default), whose stored value of 0 is no estimate and would rank above every op whose
    estimate is negative.

    Args:
      strengths: ``[1, 6, 5]`` or ``[6, 5]`` op strengths (softmax alpha or Shapley values).
      benchmark: an ``NB201Benchmark`` (``archs()`` and ``accuracy(arch, dataset, metric)``).
      num_archs: number of architectures to sample (the paper uses 200).
      seed: seed of the numpy generator that picks the sample.
      dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16"``.
      metric: ``"valid"`` or ``"test"``.
      exclude_ops: NB201 op names; architectures using any of them are not sampled.

    Returns:
      dict with ``tau`` (float), ``p_value`` (float), ``strengths`` (float64 ``[n]``),
      ``accuracies`` (float64 ``[n]``, percent), ``archs`` (list of ``n`` arch strings) and
      ``num_dropped`` (archs left out of tau because their strength or accuracy is NaN).
    """
    from scipy.stats import kendalltau

    if num_archs < 2:
        raise ValueError(f"num_archs must be at least 2 to correlate, got {num_archs}")
    table = _strength_table(strengths)
    unknown = sorted(set(exclude_ops) - set(NB201_OPS))
    if unknown:
        raise ValueError(f"exclude_ops names no NB201 op: {unknown}; the ops are {', '.join(NB201_OPS)}")
    all_archs = [a for a in benchmark.archs() if not set(nb201_ops_from_arch(a)) & set(exclude_ops)]
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(all_archs), size=min(num_archs, len(all_archs)), replace=False)
    archs = [all_archs[i] for i in picked]
    strength_values = np.array([operation_strength(a, table) for a in archs], dtype=np.float64)
    accuracies = np.array([benchmark.accuracy(a, dataset, metric) for a in archs], dtype=np.float64)
    finite = np.isfinite(strength_values) & np.isfinite(accuracies)
    if finite.sum() < 2:
        tau, p_value = float("nan"), float("nan")
    else:
        result = kendalltau(strength_values[finite], accuracies[finite])
        tau, p_value = float(result.statistic), float(result.pvalue)
    return {
        "tau": tau,
        "p_value": p_value,
        "strengths": strength_values,
        "accuracies": accuracies,
        "archs": archs,
        "num_dropped": int((~finite).sum()),
    }


def load_strengths(workdir, source: str | None = None) -> tuple[str, np.ndarray]:
    """``(source, strengths [cell_types, edges, ops])`` of a finished NB201 search: ``softmax(alpha)`` of its
    results (``source="alpha"``, the DARTS view) or its last Shapley values (``"shapley"``: the results', else
    the last epoch record holding some). By default ``shapley`` where the run has Shapley values, else ``alpha``."""
    from shapley_nas_jax.runs import RunRecord

    run = RunRecord.load(workdir)
    results = run.results
    if results is None:
        raise PathNotFoundError(f"no results.json in {workdir}: is the search finished?")
    space = (results.get("space") or {}).get("topology")
    if space is not None and space != "nb201":
        raise InvalidInputError(f"{workdir} is a {space!r} search; the correlation needs an NB201 search")
    shapley = results.get("shapley")
    if shapley is None:
        shapley = next((r["shapley"] for r in reversed(run.records("epoch")) if r.get("shapley") is not None), None)
    if source is None:
        source = "shapley" if shapley is not None else "alpha"
    if source == "shapley":
        if shapley is None:
            raise InvalidInputError(f"{workdir} has no Shapley values (a DARTS run without final_shapley?); "
                                    "use --source alpha")
        return source, to_float_array(shapley)
    if source == "alpha":
        if results.get("alpha") is None:
            raise InvalidInputError(f"{workdir}/results.json has no alpha (a random-search run?)")
        return source, softmax(results["alpha"])
    raise InvalidInputError(f"--source={source!r} is not valid; choose alpha or shapley")


def correlate(workdir, benchmark, num_archs: int = 200, seed: int = 0, source: str | None = None,
              metric: str = "test") -> dict:
    """Kendall's tau between the op strengths of a finished NB201 search (``load_strengths``) and the benchmark
    accuracy on each NB201 dataset, over ``num_archs`` sampled architectures without ``none`` (no player of the
    Shapley game, so no Shapley value; both sources are scored on the same architectures); JSON-ready."""
    from shapley_nas_jax.analysis.tables import NB201_DATASETS
    from shapley_nas_jax.benchmarks.nb201 import load_benchmark
    from shapley_nas_jax.search.game import NULL_OPS

    bench = load_benchmark(benchmark)
    source, strengths = load_strengths(workdir, source)
    out = {"workdir": str(workdir), "benchmark": str(benchmark), "source": source, "num_archs": num_archs,
           "seed": seed, "metric": metric, "excluded_ops": list(NULL_OPS), "datasets": {}}
    for dataset in NB201_DATASETS:
        r = strength_correlation(strengths, bench, num_archs=num_archs, seed=seed, dataset=dataset, metric=metric,
                                 exclude_ops=NULL_OPS)
        out["datasets"][dataset] = {
            "tau": r["tau"], "p_value": r["p_value"], "num_dropped": r["num_dropped"], "archs": r["archs"],
            "strengths": r["strengths"].tolist(), "accuracies": r["accuracies"].tolist(),
        }
    return out


def plot_datasets(result: dict, path):
    """One scatter per dataset of a ``correlate`` result, written as PNG to ``path``; returns the Figure."""
    from matplotlib.figure import Figure

    from shapley_nas_jax.analysis.tables import NB201_DATASET_LABELS

    datasets = list(result["datasets"])
    fig = Figure(figsize=(4.2 * len(datasets), 3.8), layout="constrained")
    label = "Shapley value" if result["source"] == "shapley" else "softmax(alpha)"
    for i, dataset in enumerate(datasets):
        r = result["datasets"][dataset]
        ax = fig.add_subplot(1, len(datasets), i + 1)
        ax.scatter(r["strengths"], r["accuracies"], s=10, alpha=0.7, edgecolors="none")
        ax.set_title(f"{NB201_DATASET_LABELS.get(dataset, dataset)}: tau = {r['tau']:.3f}")
        ax.set_xlabel(f"operation strength ({label})")
        ax.set_ylabel(f"{result['metric']} accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"operation strength vs accuracy, {len(r['archs'])} sampled archs")
    fig.savefig(path, dpi=120)
    return fig
