"""DARTS-topology spaces: ``darts``, ``darts_reference`` and the RobustDARTS stress spaces ``s1``..``s4``."""

from __future__ import annotations

from shapley_nas_jax.spaces.base import SearchSpace, darts_edge_endpoints

CELL_TYPES = ("normal", "reduce")
NUM_EDGES = len(darts_edge_endpoints())  # 14

# DARTS / PC-DARTS order.
DARTS_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

# Shapley-NAS reference code: no 'none', avg before max.
REFERENCE_OPS = (
    "avg_pool_3x3",
    "max_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

# RobustDARTS S1: two ops per edge, different per edge and cell type (edges e0..e13).
S1_NORMAL = (
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("max_pool_3x3", "skip_connect"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "sep_conv_3x3"),
    ("max_pool_3x3", "skip_connect"),
    ("skip_connect", "dil_conv_3x3"),
    ("dil_conv_3x3", "dil_conv_5x5"),
    ("dil_conv_3x3", "dil_conv_5x5"),
)
S1_REDUCE = (
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "dil_conv_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
)


def uniform_darts_space(name: str, ops: tuple[str, ...]) -> SearchSpace:
    """A DARTS-topology space with the same ``ops`` on every edge of both cell types."""
    table = tuple(tuple(ops) for _ in range(NUM_EDGES))
    return SearchSpace(name=name, topology="darts", cell_types=CELL_TYPES, edge_ops=(table, table))


def darts_space() -> SearchSpace:
    """The DARTS space: 8 ops (with 'none') in DARTS order."""
    return uniform_darts_space("darts", DARTS_OPS)


def darts_reference_space() -> SearchSpace:
    """The Shapley-NAS reference code's space: 7 ops, avg_pool before max_pool, no 'none'."""
    return uniform_darts_space("darts_reference", REFERENCE_OPS)


def s1_space() -> SearchSpace:
    return SearchSpace(name="s1", topology="darts", cell_types=CELL_TYPES, edge_ops=(S1_NORMAL, S1_REDUCE))


def s2_space() -> SearchSpace:
    return uniform_darts_space("s2", ("skip_connect", "sep_conv_3x3"))


def s3_space() -> SearchSpace:
    return uniform_darts_space("s3", ("none", "skip_connect", "sep_conv_3x3"))


def s4_space() -> SearchSpace:
    return uniform_darts_space("s4", ("noise", "sep_conv_3x3"))
