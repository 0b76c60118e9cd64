"""The NAS-Bench-201 space; its ops, edges and arch-string form are defined in ``shapley_nas_jax.genotypes``.

A cell has 4 nodes (0 = input, 3 = output) and 6 edges, in the order the arch string lists them::

    edge 0: 1 <- 0,  edge 1: 2 <- 0,  edge 2: 2 <- 1,  edge 3: 3 <- 0,  edge 4: 3 <- 1,  edge 5: 3 <- 2

The arch string writes the edges node by node, ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, where ``op~i`` is
the op on the edge from node ``i`` into the node of that group.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from shapley_nas_jax.errors import InvalidInputError, UnknownNameError
from shapley_nas_jax.genotypes import (  # noqa: F401 -- the arch-string format, importable from here too
    EXAMPLE_ARCH, NB201_EDGES, NB201_OPS, arch_format_hint, format_arch, normalize_arch, parse_arch)
from shapley_nas_jax.spaces.base import SearchSpace


def nb201_space() -> SearchSpace:
    """Edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, each with :data:`NB201_OPS`."""
    table = tuple(NB201_OPS for _ in NB201_EDGES)
    return SearchSpace(name="nb201", topology="nb201", cell_types=("cell",), edge_ops=(table,))


def nb201_ops_from_arch(arch_str: str) -> list[str]:
    """The 6 op names of an arch string in edge order (``ops[e]`` sits on edge ``NB201_EDGES[e]``).

    ValueError if the string is malformed or names an op outside :data:`NB201_OPS`.
    """
    ops = parse_arch(arch_str)
    unknown = [op for op in ops if op not in NB201_OPS]
    if unknown:
        raise InvalidInputError(f"malformed NB201 arch string {arch_str!r}: unknown op {unknown[0]!r}; {arch_format_hint()}")
    return list(ops)


def arch_from_ops(ops: Sequence[str | int]) -> str:
    """The arch string of 6 ops in edge order, given as names from :data:`NB201_OPS` or their indices."""
    ops = list(ops)
    if len(ops) != len(NB201_EDGES):
        raise InvalidInputError(f"an NB201 cell has {len(NB201_EDGES)} edges, got {len(ops)} ops")
    names = []
    for op in ops:
        if isinstance(op, (int, np.integer)):
            if not 0 <= int(op) < len(NB201_OPS):
                raise InvalidInputError(f"op index {op} out of range 0..{len(NB201_OPS) - 1}")
            names.append(NB201_OPS[int(op)])
        elif op in NB201_OPS:
            names.append(op)
        else:
            raise UnknownNameError(f"unknown NB201 op {op!r}; ops are {', '.join(NB201_OPS)}")
    return format_arch(names)
