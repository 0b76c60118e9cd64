"""Mean ± std tables over seeds, in the layouts of the paper's Table 1 (test error %) and Table 5 (NB201).

Conventions:

* ``std`` is the population standard deviation over seeds (``ddof=0``, numpy's default), the convention
  of the NAS-Bench-201 baselines the paper's Table 5 copies; pass ``ddof=1`` for the sample std.
* NaN entries (a missing or failed run) are left out of mean and std; ``n`` counts the values used.
* Accuracies and errors are percent; ``test_error_percent`` converts a training run's accuracy fraction.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16")
NB201_METRICS: tuple[str, ...] = ("valid", "test")
NB201_DATASET_LABELS: dict[str, str] = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                                        "imagenet16": "ImageNet16-120"}
METRIC_LABELS: dict[str, str] = {"valid": "validation", "test": "test"}
PLUS_MINUS = "±"


def mean_std(values: Iterable[float], ddof: int = 0) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` of the finite entries of ``values`` (NaN mean/std when none)."""
    array = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        mean = std = float("nan")
    else:
        mean = float(finite.mean())
        std = float(finite.std(ddof=ddof)) if finite.size > ddof else float("nan")
    return {"mean": mean, "std": std, "n": int(finite.size), "values": array.tolist()}


def format_mean_std(stats: Mapping[str, Any] | Iterable[float], digits: int = 2, ddof: int = 0) -> str:
    """``"93.70 ± 0.36"`` from a ``mean_std`` dict or from raw values; ``"-"`` when there is no value, the
    mean alone when it is one value (a one-seed row has no spread to show)."""
    if not isinstance(stats, Mapping):
        stats = mean_std(stats, ddof=ddof)
    mean, std = stats["mean"], stats["std"]
    if mean is None or not math.isfinite(mean):
        return "-"
    if std is None or not math.isfinite(std) or stats.get("n") == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} {PLUS_MINUS} {std:.{digits}f}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table: columns padded to their widest cell, the first column left-aligned, the rest right."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    widths = [max(len(r[i]) for r in cells) for i in range(width)]
    lines = []
    for r in cells:
        parts = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def test_error_percent(accuracy: float | None) -> float:
    """Test error in percent from an accuracy fraction in [0, 1] (NaN for None)."""
    return float("nan") if accuracy is None else 100.0 * (1.0 - float(accuracy))


test_error_percent.__test__ = False  # not a pytest test despite the name


# ------------------------------------------------------------------------------------------- Table 5
def nb201_summary(accuracies: Sequence[Mapping[str, Mapping[str, float]] | None], ddof: int = 0) -> dict:
    """Per (dataset, metric) ``mean_std`` of benchmark accuracies, one ``query`` dict per seed.

    Returns ``{dataset: {metric: {"mean", "std", "n", "values"}}}`` for Table 5's six columns.
    """
    out: dict[str, dict[str, dict]] = {}
    for d in NB201_DATASETS:
        out[d] = {}
        for m in NB201_METRICS:
            values = [float("nan") if a is None or a.get(d) is None else a[d].get(m, float("nan"))
                      for a in accuracies]
            out[d][m] = mean_std(values, ddof=ddof)
    return out


def format_table5(rows: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]], digits: int = 2) -> str:
    """Table 5 layout: one row per method, columns CIFAR-10 / CIFAR-100 / ImageNet16-120 x valid / test.

    ``rows`` maps a method label to an ``nb201_summary`` result.
    """
    header = ["Method"] + [f"{NB201_DATASET_LABELS[d]} {METRIC_LABELS[m]}"
                           for d in NB201_DATASETS for m in NB201_METRICS]
    body = [[method] + [format_mean_std(summary[d][m], digits) for d in NB201_DATASETS for m in NB201_METRICS]
            for method, summary in rows.items()]
    return format_table(header, body)


# ------------------------------------------------------------------------------------------- Table 1
def format_table1(entries: Mapping[str, Mapping[str, Mapping[str, Iterable[float] | Mapping[str, Any]]]],
                  spaces: Sequence[str] | None = None, digits: int = 2, ddof: int = 0) -> str:
    """Table 1 layout: rows (dataset, method), one column per search space, cells test error % mean ± std.

    ``entries[dataset][method][space]`` is a list of per-seed test errors (percent) or a ``mean_std``
    dict. ``spaces`` fixes the column order (default: order of first appearance). Missing cells print "-".
    """
    if spaces is None:
        seen: list[str] = []
        for methods in entries.values():
            for per_space in methods.values():
                seen += [s for s in per_space if s not in seen]
        spaces = seen
    header = ["Dataset", "Method", *[str(s).upper() for s in spaces]]
    body = []
    for dataset, methods in entries.items():
        for i, (method, per_space) in enumerate(methods.items()):
            cells = [format_mean_std(per_space[s], digits, ddof) if s in per_space else "-" for s in spaces]
            body.append([dataset if i == 0 else "", method, *cells])
    return format_table(header, body)


DATASET_LABELS: dict[str, str] = {"cifar10": "C10", "cifar100": "C100", "svhn_cropped": "SVHN",
                                  "imagenet2012": "ImageNet", "imagenet16_120": "ImageNet16-120"}


def method_label(config: Mapping[str, Any]) -> str:
    """The name of the method a search config runs (Tables 1 and 5), saying whose algorithm it is.

    ``shapley`` -> "Shapley-NAS (paper)" for the paper's algorithm (the plain Monte-Carlo mean with eqs.
    6-7), "Shapley-NAS (reference)" for the original code's (mean minus std, the z-score rule), and for a mix
    what ran: "Shapley-NAS (mean minus std, eqs. 6-7)", "Shapley-NAS (mean, z-score rule)",
    "Shapley-NAS (stratified_neyman, 96 evaluations, eqs. 6-7)" (a budgeted ``shapley.estimator``; any other
    registered rule by its name). ``darts_1st``/``darts_2nd`` -> "DARTS (1st)"/"DARTS (2nd)", with "+Shapley"
    when the genotype comes from final Shapley values and "*" when alpha is frozen; ``random`` -> "Random
    (baseline)"; ``rsps`` -> "RSPS" (random search with weight sharing).
    """
    from shapley_nas_jax.config import complete
    from shapley_nas_jax.search.methods import get_method

    config = complete(config)
    return get_method(config.search.method).label(config)


def dataset_label(name: str) -> str:
    return DATASET_LABELS.get(name, name)
