"""Real supernet games with exact ground truth: every coalition of a trained supernet's ops, enumerated.

A *supernet game* is a small Flax supernet trained for a few epochs on real images (weights only: alpha
stays at its initialisation, i.e. a warm-up-only search run through :class:`~shapley_nas_jax.search.Search`)
whose players are groups of supernet mask positions, scored on ONE fixed value batch. All ``2^n``
coalitions are enumerated (vmapped chunks of coalitions per jitted call) with the value functions the
search uses, both from the same forward pass: ``accuracy`` and ``neg_ce`` (minus the mean cross-entropy).
The table gives exact Shapley values (:func:`~shapley_nas_jax.shapley.shapley_from_coalition_values`), a
ground truth for estimators on a real NAS game rather than a synthetic one.

Modules (every public name is importable from this package):

* :mod:`.players`: the players (:class:`PlayerSpec`, op and edge players) and the game kinds
  (:data:`GAME_KINDS`);
* :mod:`.training`: the warm-up-only search that trains a game's supernet, and its fixed value batch;
* :mod:`.live`: the value function of a game (:data:`METRICS`), the enumeration of every coalition, its
  batching measurement, and the mask derivatives at the full mask;
* :mod:`.files`: the ``.npz`` file format (:func:`save_game`, :func:`load_game`) and :func:`ranking_groups`;
* :mod:`.build`: one game end to end (:func:`build_game`).

Build them with ``scripts/make_supernet_games.py``; the committed ones are in ``exact_games/``.
"""

from shapley_nas_jax.exact_games.build import BuiltGame, build_game, dataset_label, top_op_per_edge
from shapley_nas_jax.exact_games.files import (
    FORMAT_VERSION,
    SupernetGameFile,
    load_game,
    ranking_groups,
    save_game,
)
from shapley_nas_jax.exact_games.live import (
    CONTROL_METRICS,
    METRICS,
    TABLE_METRICS,
    LiveGame,
    MetricValue,
    SupernetValue,
    enumerate_coalitions,
    format_batching_table,
    live_game,
    measure_batching,
    taylor_at_full,
)
from shapley_nas_jax.exact_games.players import (
    GAME_KINDS,
    PlayerSpec,
    edge_players,
    game_players,
    op_players,
)
from shapley_nas_jax.exact_games.training import (
    TrainedSupernet,
    supernet_config,
    train_supernet,
    value_batch,
)

__all__ = [
    "CONTROL_METRICS", "FORMAT_VERSION", "GAME_KINDS", "METRICS", "TABLE_METRICS", "BuiltGame", "LiveGame",
    "MetricValue", "PlayerSpec", "SupernetGameFile", "SupernetValue", "TrainedSupernet", "build_game",
    "dataset_label", "edge_players", "enumerate_coalitions", "format_batching_table", "game_players", "live_game",
    "load_game", "measure_batching", "op_players", "ranking_groups", "save_game", "supernet_config",
    "taylor_at_full", "top_op_per_edge", "train_supernet", "value_batch",
]
