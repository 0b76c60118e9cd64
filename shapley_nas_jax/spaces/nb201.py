"""The NAS-Bench-201 space and its arch strings: the one definition of NB201's ops, edges and string form.

A cell has 4 nodes (0 = input, 3 = output) and 6 edges, in the order the arch string lists them::

    edge 0: 1 <- 0,  edge 1: 2 <- 0,  edge 2: 2 <- 1,  edge 3: 3 <- 0,  edge 4: 3 <- 1,  edge 5: 3 <- 2

The arch string writes the edges node by node, ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, where ``op~i`` is
the op on the edge from node ``i`` into the node of that group.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from shapley_nas_jax.errors import InvalidInputError, UnknownNameError
from shapley_nas_jax.spaces.base import SearchSpace, nb201_edge_endpoints

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Candidate operations of an NB201 edge, in the index order of the last axis of alpha."""

NB201_EDGES: tuple[tuple[int, int], ...] = nb201_edge_endpoints()
"""The 6 edges as ``(node, input)``, in edge-index (arch-string) order."""

EXAMPLE_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
"""A well-formed arch string, quoted in error messages."""

_WHITESPACE = re.compile(r"\s+")


def nb201_space() -> SearchSpace:
    """Edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, each with :data:`NB201_OPS`."""
    table = tuple(NB201_OPS for _ in NB201_EDGES)
    return SearchSpace(name="nb201", topology="nb201", cell_types=("cell",), edge_ops=(table,))


def normalize_arch(arch_str: str) -> str:
    """Return ``arch_str`` with all whitespace removed (arch strings never contain any)."""
    if not isinstance(arch_str, str):
        raise TypeError(f"an NB201 arch string must be a str, got {type(arch_str).__name__}")
    return _WHITESPACE.sub("", arch_str)


def arch_format_hint() -> str:
    """One-line description of what a valid NB201 arch string looks like."""
    return f"a valid arch string looks like {EXAMPLE_ARCH} with ops from {', '.join(NB201_OPS)}"


def format_arch(ops: Sequence[str]) -> str:
    """The arch string of one op name per edge, in edge order (the names are not checked)."""
    if len(ops) != len(NB201_EDGES):
        raise InvalidInputError(f"an NB201 cell has {len(NB201_EDGES)} edges, got {len(ops)} ops")
    groups: dict[int, list[str]] = {}
    for (node, src), op in zip(NB201_EDGES, ops):
        groups.setdefault(node, []).append(f"{op}~{src}")
    return "+".join("|" + "|".join(parts) + "|" for parts in groups.values())


def parse_arch(arch_str: str) -> tuple[str, ...]:
    """The op names of an arch string, one per edge in edge order; whitespace is ignored.

    Only the structure is checked (the op names may be any string); ValueError if it is malformed.
    """
    arch = normalize_arch(arch_str)

    def malformed(what: str) -> InvalidInputError:
        return InvalidInputError(f"malformed NB201 arch string {arch_str!r}: {what}; {arch_format_hint()}")

    nodes = arch.split("+")
    if len(nodes) != 3:
        raise malformed("expected 3 '+'-separated nodes")
    ops = []
    for node, chunk in enumerate(nodes, start=1):
        if not (chunk.startswith("|") and chunk.endswith("|")):
            raise malformed(f"node {node} must look like |op~0|...|")
        parts = chunk[1:-1].split("|")
        if len(parts) != node:
            raise malformed(f"node {node} needs {node} inputs")
        for src, part in enumerate(parts):
            op, sep, index = part.partition("~")
            if not sep or index != str(src):
                raise malformed(f"expected 'op~{src}', got {part!r}")
            ops.append(op)
    return tuple(ops)


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
