"""The NAS-Bench-201 space: one cell type, 6 edges in arch-string order, 5 ops."""

from __future__ import annotations

from shapley_nas_jax.spaces.base import SearchSpace, nb201_edge_endpoints

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def nb201_space() -> SearchSpace:
    """Edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, each with :data:`NB201_OPS`."""
    table = tuple(NB201_OPS for _ in nb201_edge_endpoints())
    return SearchSpace(name="nb201", topology="nb201", cell_types=("cell",), edge_ops=(table,))
