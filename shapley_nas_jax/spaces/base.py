"""The `SearchSpace` description shared by every search space.

A search space says which candidate operations sit on each edge of each cell type. Architecture
parameters, coalition masks and op strengths all share its shape ``alpha_shape = [cell_types, edges, ops]``.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from shapley_nas_jax.genotypes import DARTS_STEPS, NB201_NODES, derive_genotype


class EdgeOps(tuple):
    """Per-cell-type op tables: ``edge_ops[cell_type][edge] -> tuple of op names``.

    A plain (hashable) tuple indexed by cell-type position that also accepts the cell-type name,
    so ``space.edge_ops["normal"][3]`` and ``space.edge_ops[0][3]`` are the same tuple.
    """

    def __new__(cls, cell_types: Sequence[str], tables: Sequence[Sequence[Sequence[str]]]):
        obj = super().__new__(cls, tuple(tuple(tuple(ops) for ops in table) for table in tables))
        obj.cell_types = tuple(cell_types)
        return obj

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                key = self.cell_types.index(key)
            except ValueError:
                raise KeyError(f"unknown cell type {key!r}; known: {list(self.cell_types)}") from None
        return super().__getitem__(key)

    def items(self):
        """(cell_type name, table) pairs, like a dict."""
        return zip(self.cell_types, tuple(self))

    def __reduce__(self):  # keep pickling / copying working for the subclass
        return (EdgeOps, (self.cell_types, tuple(self)))


def darts_edge_endpoints(steps: int = DARTS_STEPS) -> tuple[tuple[int, int], ...]:
    """``(node, input)`` for each DARTS edge in edge order.

    Nodes 0 and 1 are the cell inputs c_{k-2}, c_{k-1}; intermediate node ``i`` (2..steps+1) receives
    one edge from each earlier node. For steps=4 this gives 14 edges.
    """
    return tuple((node, src) for node in range(2, steps + 2) for src in range(node))


def nb201_edge_endpoints(nodes: int = NB201_NODES) -> tuple[tuple[int, int], ...]:
    """``(node, input)`` for each NAS-Bench-201 edge in arch-string order: 1<-0, 2<-0, 2<-1, 3<-0, ..."""
    return tuple((node, src) for node in range(1, nodes) for src in range(node))


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A cell-based search space.

    Attributes:
      name: registry name (``darts``, ``darts_reference``, ``nb201``, ``s1`` ... ``s4``).
      topology: ``"darts"`` (2 input nodes, 4 intermediate nodes, 14 edges) or ``"nb201"`` (4 nodes, 6 edges).
      cell_types: ``("normal", "reduce")`` or ``("cell",)``.
      edge_ops: ``edge_ops[cell_type][edge]`` = tuple of op names (cell_type by name or position); every
        edge of every cell type has the same number of candidates ``num_ops``.
    """

    name: str
    topology: str
    cell_types: tuple[str, ...]
    edge_ops: EdgeOps

    def __post_init__(self):
        if self.topology not in ("darts", "nb201"):
            raise ValueError(f"unknown topology {self.topology!r}; expected 'darts' or 'nb201'")
        object.__setattr__(self, "cell_types", tuple(self.cell_types))
        if not isinstance(self.edge_ops, EdgeOps):
            tables = [self.edge_ops[c] for c in self.cell_types] if isinstance(self.edge_ops, dict) else self.edge_ops
            object.__setattr__(self, "edge_ops", EdgeOps(self.cell_types, tables))
        if len(self.edge_ops) != len(self.cell_types):
            raise ValueError(f"{self.name}: edge_ops has {len(self.edge_ops)} tables for {len(self.cell_types)} cell types")
        expected_edges = len(self.edge_endpoints)
        counts = {len(ops) for table in self.edge_ops for ops in table}
        if any(len(table) != expected_edges for table in self.edge_ops):
            raise ValueError(f"{self.name}: every cell type needs {expected_edges} edges for topology {self.topology}")
        if len(counts) != 1:
            raise ValueError(f"{self.name}: every edge must have the same number of ops, got counts {sorted(counts)}")

    @property
    def edge_endpoints(self) -> tuple[tuple[int, int], ...]:
        """``(node, input)`` per edge (DARTS: node 2..5 with inputs 0..node-1; NB201: node 1..3)."""
        return darts_edge_endpoints() if self.topology == "darts" else nb201_edge_endpoints()

    @property
    def num_edges(self) -> int:
        return len(self.edge_ops[0])

    @property
    def num_ops(self) -> int:
        return len(self.edge_ops[0][0])

    @property
    def alpha_shape(self) -> tuple[int, int, int]:
        """``(cell_types, edges, ops)``."""
        return (len(self.cell_types), self.num_edges, self.num_ops)

    @property
    def op_names(self) -> tuple[str, ...]:
        """Every distinct op name in the space, in first-appearance order."""
        seen: dict[str, None] = {}
        for table in self.edge_ops:
            for ops in table:
                for op in ops:
                    seen.setdefault(op, None)
        return tuple(seen)

    def op_name_array(self) -> np.ndarray:
        """Op names as a numpy object array ``[cell_types, edges, ops]``."""
        arr = np.empty(self.alpha_shape, dtype=object)
        for c, table in enumerate(self.edge_ops):
            for e, ops in enumerate(table):
                arr[c, e, :] = ops
        return arr

    def player_mask(self, exclude: Sequence[str] = ("none",)) -> np.ndarray:
        """Bool ``[cell_types, edges, ops]``: True where the op is a Shapley player (name not in ``exclude``)."""
        excluded = set(exclude)
        names = self.op_name_array()
        return np.vectorize(lambda n: n not in excluded, otypes=[bool])(names)

    def genotype(self, weights, exclude: Sequence[str] = ("none",)):
        """Discrete architecture from op strengths ``weights [cell_types, edges, ops]`` (softmax(alpha) or
        Shapley values); see :func:`shapley_nas_jax.genotypes.derive_genotype`."""
        return derive_genotype(self, weights, exclude=exclude)
