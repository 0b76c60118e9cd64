"""Players of a supernet game, and the game kinds.

Players (:class:`PlayerSpec`): a list of groups of flat positions into the supernet's
``[cell_types, edges, ops]`` mask. An *op player* is one position; an *edge player* is all positions of an
edge (its mask switches every op of the edge together). Positions in no group stay present. Game kinds:

* ``nb201_ops4``: the non-``none`` ops of 4 NB201 edges (16 players); the other edges keep all their ops;
* ``darts_ops2``: the 7 ops of 2 edges of the DARTS(-reference) normal cell (14 players);
* ``darts_edges``: the 14 edges of the DARTS(-reference) normal cell as players.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.errors import ConfigError, UnknownNameError
from shapley_nas_jax.spaces import SearchSpace

GAME_KINDS = ("nb201_ops4", "darts_ops2", "darts_edges")
# (space, the game's short space label, kind label, default edges) per game kind
_KINDS = {
    "nb201_ops4": ("nb201", "nb201", "ops4", (0, 2, 3, 5)),  # the path 0->1->2->3 and the skip 0->3
    "darts_ops2": ("darts_reference", "darts", "ops2", (1, 4)),  # node 2 <- c_{k-1}, node 3 <- node 2
    "darts_edges": ("darts_reference", "darts", "edges", tuple(range(14))),
}


@dataclasses.dataclass(frozen=True, eq=False)
class PlayerSpec:
    """Players as groups of flat positions into ``alpha_shape = [cell_types, edges, ops]``.

    ``names[i]`` names player ``i``; ``groups[i]`` are the mask positions it switches together;
    ``edge[i]`` / ``node[i]`` its edge id and that edge's target node. Positions in no group stay present.
    """

    alpha_shape: tuple[int, int, int]
    names: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    edge: np.ndarray
    node: np.ndarray

    def __post_init__(self):
        size = int(np.prod(self.alpha_shape))
        seen: set[int] = set()
        for name, group in zip(self.names, self.groups):
            if not group:
                raise ConfigError(f"player {name!r} has no mask positions")
            bad = [p for p in group if not 0 <= p < size]
            if bad:
                raise ConfigError(f"player {name!r}: positions {bad} lie outside a mask of shape {self.alpha_shape}")
            if seen & set(group):
                raise ConfigError(f"player {name!r} shares mask positions with another player")
            seen |= set(group)
        if not len(self.names) == len(self.groups) == len(self.edge) == len(self.node):
            raise ConfigError("names, groups, edge and node must have one entry per player")

    @property
    def num_players(self) -> int:
        return len(self.names)

    @functools.cached_property
    def _matrices(self) -> tuple[np.ndarray, np.ndarray]:
        size = int(np.prod(self.alpha_shape))
        assign = np.zeros((self.num_players, size), np.float32)
        for i, group in enumerate(self.groups):
            assign[i, list(group)] = 1.0
        return assign, 1.0 - assign.sum(axis=0)

    def full_mask(self, player_mask: jax.Array) -> jax.Array:
        """Float ``[n]`` player mask -> supernet mask ``[cell_types, edges, ops]`` (linear in the player mask,
        so it can be differentiated; positions of no player are 1)."""
        assign, base = self._matrices
        player_mask = jnp.asarray(player_mask)
        dtype = player_mask.dtype if jnp.issubdtype(player_mask.dtype, jnp.floating) else jnp.float32
        flat = jnp.asarray(base, dtype) + player_mask.astype(dtype) @ jnp.asarray(assign, dtype)
        return flat.reshape(self.alpha_shape)


def _position(space: SearchSpace, cell: int, edge: int, op: int) -> int:
    return int(np.ravel_multi_index((cell, edge, op), space.alpha_shape))


def _cell_index(space: SearchSpace, cell_type: str) -> int:
    if cell_type not in space.cell_types:
        raise ConfigError(f"cell type {cell_type!r} is not in space {space.name!r}; choose one of "
                          f"{', '.join(space.cell_types)}")
    return space.cell_types.index(cell_type)


def _check_edges(space: SearchSpace, edges: Sequence[int]) -> tuple[int, ...]:
    edges = tuple(int(e) for e in edges)
    if not edges or len(set(edges)) != len(edges) or not all(0 <= e < space.num_edges for e in edges):
        raise ConfigError(f"edges {list(edges)} must be distinct edge ids in 0..{space.num_edges - 1} "
                          f"of space {space.name!r}")
    return edges


def op_players(space: SearchSpace, cell_type: str, edges: Sequence[int],
               exclude: Sequence[str] = ("none",)) -> PlayerSpec:
    """One player per op (not in ``exclude``) of ``edges`` of ``cell_type``: names ``cell/edge_<e>/<op>``."""
    c, edges = _cell_index(space, cell_type), _check_edges(space, edges)
    names, groups, edge_ids, nodes = [], [], [], []
    for e in edges:
        for o, op in enumerate(space.edge_ops[c][e]):
            if op in exclude:
                continue
            names.append(f"{cell_type}/edge_{e}/{op}")
            groups.append((_position(space, c, e, o),))
            edge_ids.append(e)
            nodes.append(space.edge_endpoints[e][0])
    return PlayerSpec(space.alpha_shape, tuple(names), tuple(groups), np.asarray(edge_ids, np.int64),
                      np.asarray(nodes, np.int64))


def edge_players(space: SearchSpace, cell_type: str, edges: Sequence[int] | None = None) -> PlayerSpec:
    """One player per edge of ``cell_type`` (all its ops together): names ``cell/edge_<e>``."""
    c = _cell_index(space, cell_type)
    edges = _check_edges(space, range(space.num_edges) if edges is None else edges)
    groups = tuple(tuple(_position(space, c, e, o) for o in range(space.num_ops)) for e in edges)
    return PlayerSpec(space.alpha_shape, tuple(f"{cell_type}/edge_{e}" for e in edges), groups,
                      np.asarray(edges, np.int64), np.asarray([space.edge_endpoints[e][0] for e in edges], np.int64))


def game_players(kind: str, edges: Sequence[int] | None = None) -> PlayerSpec:
    """The players of game ``kind`` (one of :data:`GAME_KINDS`), on ``edges`` (default: the kind's own)."""
    from shapley_nas_jax.spaces import get_space

    space_name, _, label, default_edges = _kind(kind)
    space = get_space(space_name)
    edges = default_edges if edges is None else edges
    if label == "edges":
        return edge_players(space, space.cell_types[0], edges)
    return op_players(space, space.cell_types[0], edges)


def _kind(kind: str):
    if kind not in _KINDS:
        raise UnknownNameError(f"unknown supernet game kind {kind!r}; known: {', '.join(GAME_KINDS)}")
    return _KINDS[kind]
