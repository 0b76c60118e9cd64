"""Supernet game files: one compressed ``.npz`` per game, no pickled objects.

Fields: ``values_accuracy``, ``values_neg_ce`` (float32 ``[2^n]``, bit ``i`` of the index = player ``i``
present), ``players`` (str ``[n]``), ``edge``, ``node`` (int ``[n]``: each player's edge id and its edge's
target node), ``grad_neg_ce``, ``hessian_neg_ce``, ``grad_true_prob``, ``hessian_true_prob`` (at the full
mask, see :mod:`~shapley_nas_jax.exact_games.live`), ``full_values`` and ``metadata`` (JSON
strings). :func:`save_game` writes one, :func:`load_game` reads and checks one.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import zipfile

import numpy as np

from shapley_nas_jax.exact_games.live import CONTROL_METRICS, METRICS, TABLE_METRICS
from shapley_nas_jax.exact_games.players import PlayerSpec
from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError, UnknownNameError
from shapley_nas_jax.shapley.exact import MAX_EXACT_PLAYERS, shapley_from_coalition_values
from shapley_nas_jax.shapley.games import Game, table_game

FORMAT_VERSION = 1
_ARRAY_FIELDS = ("values_accuracy", "values_neg_ce", "players", "edge", "node", "grad_neg_ce", "hessian_neg_ce",
                 "grad_true_prob", "hessian_true_prob")
_FIELDS = _ARRAY_FIELDS + ("full_values", "metadata")


def ranking_groups(edge, node) -> tuple[np.ndarray, int]:
    """(group id per player, how many of a group a cell keeps): op players (several per edge) group by edge
    and a cell keeps an edge's best op; edge players group by target node and a DARTS cell keeps a node's two
    best input edges."""
    edge, node = np.asarray(edge), np.asarray(node)
    if len(np.unique(edge)) == len(edge):
        return node, 2
    return edge, 1


@dataclasses.dataclass(frozen=True, eq=False)
class SupernetGameFile:
    """A saved supernet game (see the module docstring for the fields)."""

    values_accuracy: np.ndarray  # float32 [2^n]
    values_neg_ce: np.ndarray  # float32 [2^n]
    players: np.ndarray  # str [n]
    edge: np.ndarray  # int [n]
    node: np.ndarray  # int [n]
    grad_neg_ce: np.ndarray  # [n]
    hessian_neg_ce: np.ndarray  # [n, n]
    grad_true_prob: np.ndarray  # [n]
    hessian_true_prob: np.ndarray  # [n, n]
    full_values: dict  # {metric: float} for METRICS
    metadata: dict

    @property
    def num_players(self) -> int:
        return int(self.players.shape[0])

    def values(self, metric: str) -> np.ndarray:
        if metric not in TABLE_METRICS:
            raise UnknownNameError(f"no coalition table for metric {metric!r}; known: {', '.join(TABLE_METRICS)}")
        return self.values_accuracy if metric == "accuracy" else self.values_neg_ce

    def name(self, metric: str) -> str:
        m = self.metadata
        return f"supernet_{m['game_space']}_{m['game_kind']}_{m['dataset_label']}_{metric}"

    def shapley_values(self, metric: str) -> np.ndarray:
        """Exact Shapley values float64 ``[n]`` of ``metric``'s table."""
        return shapley_from_coalition_values(self.values(metric))

    def table_game(self, metric: str) -> Game:
        """The table of ``metric`` as a :class:`~shapley_nas_jax.shapley.games.Game` with its exact values."""
        game = table_game(self.values(metric), self.name(metric))
        return game._replace(shapley_values=self.shapley_values(metric))

    def taylor(self, control_metric: str) -> tuple[float, np.ndarray, np.ndarray]:
        """``(value at the full mask, gradient [n], Hessian [n, n])`` of ``neg_ce`` or ``true_prob``."""
        if control_metric not in CONTROL_METRICS:
            raise UnknownNameError(f"no derivatives for metric {control_metric!r}; known: "
                                   f"{', '.join(CONTROL_METRICS)}")
        return (float(self.full_values[control_metric]), getattr(self, f"grad_{control_metric}"),
                getattr(self, f"hessian_{control_metric}"))


def save_game(path, *, values: np.ndarray, players: PlayerSpec, taylor: dict, metadata: dict) -> pathlib.Path:
    """Write one game: ``values`` float ``[2^n, 3]`` (:data:`METRICS` columns, from
    :func:`enumerate_coalitions`), ``taylor`` from :func:`taylor_at_full`, ``metadata`` a JSON-able dict
    (with ``game_space``, ``game_kind`` and ``dataset_label``, which name the game). Returns the path."""
    path = pathlib.Path(path)
    n = players.num_players
    values = np.asarray(values)
    if values.shape != (1 << n, len(METRICS)):
        raise InvalidInputError(f"values must be [2^{n}, {len(METRICS)}], got {list(values.shape)}")
    missing = [k for k in ("game_space", "game_kind", "dataset_label") if k not in metadata]
    if missing:
        raise InvalidInputError(f"metadata lacks {', '.join(missing)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "values_accuracy": values[:, 0].astype(np.float32),
        "values_neg_ce": values[:, 1].astype(np.float32),
        "players": np.asarray(players.names, dtype=np.str_),
        "edge": np.asarray(players.edge, np.int64),
        "node": np.asarray(players.node, np.int64),
        "full_values": np.asarray(json.dumps(taylor["full_values"])),
        "metadata": np.asarray(json.dumps({"format_version": FORMAT_VERSION, **metadata}, sort_keys=True)),
    }
    for name in CONTROL_METRICS:
        arrays[f"grad_{name}"] = np.asarray(taylor[f"grad_{name}"], np.float64)
        arrays[f"hessian_{name}"] = np.asarray(taylor[f"hessian_{name}"], np.float64)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def load_game(path) -> SupernetGameFile:
    """Read and check a game written by :func:`save_game` (errors: one line naming the file and the problem)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise PathNotFoundError(f"supernet game file {path} does not exist")

    def bad(what: str) -> InvalidInputError:
        return InvalidInputError(f"supernet game file {path}: {what}")

    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _FIELDS if k not in data.files]
            if missing:
                raise bad(f"missing field(s) {', '.join(missing)}")
            fields = {k: data[k] for k in _FIELDS}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise bad(f"not a readable .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    try:
        metadata = json.loads(str(fields["metadata"]))
        full_values = json.loads(str(fields["full_values"]))
    except json.JSONDecodeError as exc:
        raise bad(f"metadata/full_values is not JSON ({exc.msg})") from None
    if not isinstance(metadata, dict) or not isinstance(full_values, dict):
        raise bad("metadata and full_values must be JSON objects")
    players = fields["players"]
    if players.ndim != 1 or players.dtype.kind != "U" or not 1 <= players.shape[0] <= MAX_EXACT_PLAYERS:
        raise bad(f"players must be 1..{MAX_EXACT_PLAYERS} names, got shape {list(players.shape)} "
                  f"dtype {players.dtype}")
    n = players.shape[0]
    expect = {"values_accuracy": (1 << n,), "values_neg_ce": (1 << n,), "edge": (n,), "node": (n,),
              "grad_neg_ce": (n,), "grad_true_prob": (n,), "hessian_neg_ce": (n, n), "hessian_true_prob": (n, n)}
    for key, shape in expect.items():
        if fields[key].shape != shape:
            raise bad(f"{key} has shape {list(fields[key].shape)}, expected {list(shape)} for {n} players")
        if fields[key].dtype.kind not in "fiu":
            raise bad(f"{key} has dtype {fields[key].dtype}, expected numbers")
        if not np.all(np.isfinite(fields[key])):
            raise bad(f"{key} holds non-finite values")
    absent = [m for m in METRICS if m not in full_values]
    if absent:
        raise bad(f"full_values lacks {', '.join(absent)}")
    missing = [k for k in ("game_space", "game_kind", "dataset_label") if k not in metadata]
    if missing:
        raise bad(f"metadata lacks {', '.join(missing)}")
    return SupernetGameFile(
        values_accuracy=fields["values_accuracy"].astype(np.float32),
        values_neg_ce=fields["values_neg_ce"].astype(np.float32),
        players=players, edge=fields["edge"].astype(np.int64), node=fields["node"].astype(np.int64),
        grad_neg_ce=fields["grad_neg_ce"].astype(np.float64),
        hessian_neg_ce=fields["hessian_neg_ce"].astype(np.float64),
        grad_true_prob=fields["grad_true_prob"].astype(np.float64),
        hessian_true_prob=fields["hessian_true_prob"].astype(np.float64),
        full_values={k: float(v) for k, v in full_values.items()}, metadata=metadata)
