"""Correlation between operation strengths and NAS-Bench-201 accuracy (paper section 5, Fig. 5).

An NB201 cell has 4 nodes and 6 edges. The edge order used everywhere in this module (and in the
arch string) is::

    edge 0: 1 <- 0,  edge 1: 2 <- 0,  edge 2: 2 <- 1,  edge 3: 3 <- 0,  edge 4: 3 <- 1,  edge 5: 3 <- 2

and the candidate operations per edge, in index order, are ``NB201_OPS``. The arch string writes the
edges node by node: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, where ``op~i`` is the op on the edge
from node ``i`` into the node of that group.

The paper samples 200 discrete architectures, gives each the *operation strength* obtained by
averaging, over the 6 edges, the strength (alpha magnitude, or Shapley value) of the op the
architecture uses on that edge, and reports Kendall's tau between strength and test accuracy.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from shapley_nas_jax.genotypes import NB201Genotype

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Candidate operations of an NB201 edge, in the index order of the last axis of alpha."""

NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""The 6 edges as ``(to_node, from_node)``, in edge-index order."""

NB201_NUM_EDGES = len(NB201_EDGES)

EXAMPLE_ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
"""A well-formed arch string, quoted in error messages."""

_WHITESPACE = re.compile(r"\s+")


def normalize_arch(arch_str: str) -> str:
    """Return ``arch_str`` with all whitespace removed (arch strings never contain any)."""
    if not isinstance(arch_str, str):
        raise TypeError(f"an NB201 arch string must be a str, got {type(arch_str).__name__}")
    return _WHITESPACE.sub("", arch_str)


def arch_format_hint() -> str:
    """One-line description of what a valid NB201 arch string looks like."""
    return f"a valid arch string looks like {EXAMPLE_ARCH} with ops from {', '.join(NB201_OPS)}"


def nb201_ops_from_arch(arch_str: str) -> list[str]:
    """Parse an NB201 arch string into its 6 op names in edge order (see module docstring).

    Args:
      arch_str: e.g. ``"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|..."``;
        whitespace is ignored.

    Returns:
      list of 6 op names, ``ops[e]`` is the op on edge ``e`` (edge ``e = NB201_EDGES[e]``).

    Raises:
      ValueError: the string is not a well-formed NB201 arch string.
    """
    arch = normalize_arch(arch_str)
    groups = arch.split("+")
    ok = len(groups) == 3
    ops: list[str] = []
    if ok:
        for to_node, group in enumerate(groups, start=1):
            if not (group.startswith("|") and group.endswith("|") and len(group) > 2):
                ok = False
                break
            items = group[1:-1].split("|")
            if len(items) != to_node:
                ok = False
                break
            for from_node, item in enumerate(items):
                op, sep, src = item.rpartition("~")
                if not sep or src != str(from_node) or op not in NB201_OPS:
                    ok = False
                    break
                ops.append(op)
            if not ok:
                break
    if not ok:
        raise ValueError(f"malformed NB201 arch string {arch_str!r}: {arch_format_hint()}")
    return ops


def arch_from_ops(ops: Sequence[str | int]) -> str:
    """Build the NB201 arch string from 6 ops in edge order.

    Args:
      ops: 6 entries, op names from ``NB201_OPS`` or their integer indices; ``ops[e]`` goes on edge
        ``NB201_EDGES[e]`` (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2).

    Returns:
      the arch string, e.g. ``"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|..."``.
    """
    ops = list(ops)
    if len(ops) != NB201_NUM_EDGES:
        raise ValueError(f"an NB201 cell has {NB201_NUM_EDGES} edges, got {len(ops)} ops")
    names = []
    for op in ops:
        if isinstance(op, (int, np.integer)):
            if not 0 <= int(op) < len(NB201_OPS):
                raise ValueError(f"op index {op} out of range 0..{len(NB201_OPS) - 1}")
            names.append(NB201_OPS[int(op)])
        elif op in NB201_OPS:
            names.append(op)
        else:
            raise ValueError(f"unknown NB201 op {op!r}; ops are {', '.join(NB201_OPS)}")
    return str(NB201Genotype(tuple(names)))


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


def _strength_table(strengths: Any) -> np.ndarray:
    """Return strengths as float64 ``[6, 5]`` from ``[6, 5]`` or ``[1, 6, 5]`` input."""
    table = to_float_array(strengths)
    if table.ndim == 3 and table.shape[0] == 1:
        table = table[0]
    if table.shape != (NB201_NUM_EDGES, len(NB201_OPS)):
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
) -> dict[str, Any]:
    """Kendall's tau between operation strength and benchmark accuracy (paper Fig. 5).

    Samples ``num_archs`` distinct architectures uniformly from the benchmark (all of them if it has
    fewer), computes each one's ``operation_strength`` and looks up its accuracy.

    Args:
      strengths: ``[1, 6, 5]`` or ``[6, 5]`` op strengths (softmax alpha or Shapley values).
      benchmark: an ``NB201Benchmark`` (``archs()`` and ``accuracy(arch, dataset, metric)``).
      num_archs: number of architectures to sample (the paper uses 200).
      seed: seed of the numpy generator that picks the sample.
      dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16"``.
      metric: ``"valid"`` or ``"test"``.

    Returns:
      dict with ``tau`` (float), ``p_value`` (float), ``strengths`` (float64 ``[n]``),
      ``accuracies`` (float64 ``[n]``, percent), ``archs`` (list of ``n`` arch strings) and
      ``num_dropped`` (archs left out of tau because their strength or accuracy is NaN).
    """
    from scipy.stats import kendalltau

    if num_archs < 2:
        raise ValueError(f"num_archs must be at least 2 to correlate, got {num_archs}")
    table = _strength_table(strengths)
    all_archs = list(benchmark.archs())
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
