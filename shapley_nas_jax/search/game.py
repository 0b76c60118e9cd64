"""The supernet as a cooperative game: players are (cell type, edge, op) triples.

The generic Shapley machinery in `shapley_nas_jax.shapley` sees flat coalition masks `[num_players]`;
this module maps them to the supernet's `[cell_types, edges, ops]` masks and back.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax.numpy as jnp
import numpy as np


from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.shapley import StagedGame
from shapley_nas_jax.spaces import SearchSpace


NULL_OPS = ("none",)  # ops that are no players of the game: removing a zero op changes nothing


def player_positions(space: SearchSpace, players: str = "all", exclude=NULL_OPS) -> np.ndarray:
    """Flat indices into `[cell_types, edges, ops]` of the positions that are players.

    Ops named in `exclude` (by default `none`, a null player) are not players; `players` restricts the
    game to one cell type ("normal" or "reduce").
    """
    mask = np.array(space.player_mask(exclude=exclude), dtype=bool)
    if players != "all":
        if players not in space.cell_types:
            raise ConfigError(f"shapley.players={players!r} is not a cell type of space {space.name!r}; "
                             f"choose 'all' or one of {', '.join(space.cell_types)}")
        keep = np.array([c == players for c in space.cell_types])
        mask &= keep[:, None, None]
    return np.flatnonzero(mask.reshape(-1))


@dataclasses.dataclass(frozen=True)
class SupernetGame:
    """Maps flat player masks to supernet masks; `value_fn` follows the game interface of `shapley`."""

    alpha_shape: tuple[int, int, int]
    positions: np.ndarray  # [num_players] flat indices into alpha_shape
    value: Callable  # value(params, batch_stats, alpha, mask, batch, rng) -> scalar

    @property
    def num_players(self) -> int:
        return int(self.positions.size)

    @property
    def player_mask(self) -> np.ndarray:
        """Bool ``[cell_types, edges, ops]``: the entries that are players."""
        mask = np.zeros(int(np.prod(self.alpha_shape)), bool)
        mask[self.positions] = True
        return mask.reshape(self.alpha_shape)

    def edge_groups(self) -> np.ndarray:
        """Int ``[num_players]``: each player's edge (``cell_type * edges + edge``) where every op of that edge
        is a player, else -1 (an op that is no player, e.g. ``none``, keeps the edge from ever emptying)."""
        num_ops = self.alpha_shape[-1]
        edges = self.positions // num_ops
        ids, counts = np.unique(edges, return_counts=True)
        full = set(ids[counts == num_ops].tolist())
        return np.array([e if e in full else -1 for e in edges.tolist()], np.int64)

    def full_mask(self, player_mask: jnp.ndarray) -> jnp.ndarray:
        """[num_players] -> [cell_types, edges, ops]; non-player positions stay present (1)."""
        flat = jnp.ones(int(np.prod(self.alpha_shape)), player_mask.dtype)
        return flat.at[self.positions].set(player_mask).reshape(self.alpha_shape)

    def to_alpha_shape(self, player_values: jnp.ndarray) -> jnp.ndarray:
        """[num_players] -> [cell_types, edges, ops]; non-player positions get 0."""
        flat = jnp.zeros(int(np.prod(self.alpha_shape)), player_values.dtype)
        return flat.at[self.positions].set(player_values).reshape(self.alpha_shape)

    def value_fn(self, shared, mask, batch):
        """Game interface: shared = (params, batch_stats, alpha, rng); batch = this permutation's batch."""
        params, batch_stats, alpha, rng = shared
        return self.value(params, batch_stats, alpha, self.full_mask(mask), batch, rng)

    @functools.cached_property
    def staged(self) -> StagedGame | None:
        """The game as a :class:`~shapley_nas_jax.shapley.StagedGame` when the value function has a prefix
        stage (DARTS supernets: stem + cells before the first reduction), else None. Its prefix players are
        those of the cell types the prefix reads (the normal cell)."""
        prefix_cell_types = getattr(self.value, "prefix_cell_types", None)
        if prefix_cell_types is None:
            return None
        cell_type = self.positions // int(np.prod(self.alpha_shape[1:]))
        prefix_players = np.isin(cell_type, prefix_cell_types)

        def prefix(shared, mask, batch):
            params, batch_stats, alpha, rng = shared
            return self.value.prefix(params, batch_stats, alpha, self.full_mask(mask), batch, rng)

        def finish(shared, mask, batch, features):
            params, batch_stats, alpha, rng = shared
            return self.value.from_prefix(params, batch_stats, alpha, self.full_mask(mask), batch, features, rng)

        return StagedGame(prefix, finish, prefix_players)

    def __hash__(self):  # identity hash: one game object = one compiled scorer
        return id(self)

    def __eq__(self, other):
        return self is other
