"""Real supernet games with exact ground truth: every coalition of a trained supernet's ops, enumerated.

A *supernet game* is a small Flax supernet trained for a few epochs on real images (weights only: alpha
stays at its initialisation, i.e. a warm-up-only search run through :class:`~shapley_nas_jax.search.Search`)
whose players are groups of supernet mask positions, scored on ONE fixed value batch. All ``2^n``
coalitions are enumerated (vmapped chunks of coalitions per jitted call) with the value functions the
search uses, both from the same forward pass: ``accuracy`` and ``neg_ce`` (minus the mean cross-entropy).
The table gives exact Shapley values (:func:`~shapley_nas_jax.shapley.shapley_from_coalition_values`), a
ground truth for estimators on a real NAS game rather than a synthetic one.

Players (:class:`PlayerSpec`): a list of groups of flat positions into the supernet's
``[cell_types, edges, ops]`` mask. An *op player* is one position; an *edge player* is all positions of an
edge (its mask switches every op of the edge together). Positions in no group stay present. Game kinds:

* ``nb201_ops4``: the non-``none`` ops of 4 NB201 edges (16 players); the other edges keep all their ops;
* ``darts_ops2``: the 7 ops of 2 edges of the DARTS(-reference) normal cell (14 players);
* ``darts_edges``: the 14 edges of the DARTS(-reference) normal cell as players.

At the full mask (every player present) the file also keeps the gradient ``[n]`` and Hessian ``[n, n]``
with respect to the continuous player mask (the mask multiplies the ops' softmax weights, so the value is
differentiable in it) of ``neg_ce`` and of ``true_prob`` (mean softmax probability of the true class, a
smoothed accuracy), and the full-mask value of all three metrics. The Hessian is the pointwise one: the
value is piecewise smooth in the mask (ReLUs, max pools), and the curvature that the kinks add between the
full mask and a coalition is not in it (second differences of values with finite steps include it).

File format (one compressed ``.npz`` per game, no pickled objects): ``values_accuracy``, ``values_neg_ce``
(float32 ``[2^n]``, bit ``i`` of the index = player ``i`` present), ``players`` (str ``[n]``), ``edge``,
``node`` (int ``[n]``: each player's edge id and its edge's target node), ``grad_neg_ce``,
``hessian_neg_ce``, ``grad_true_prob``, ``hessian_true_prob``, ``full_values`` and ``metadata`` (JSON
strings). :func:`save_game` writes one, :func:`load_game` reads and checks one. Build them with
``scripts/make_supernet_games.py``; the committed ones are in ``benchmarks/supernet_games/``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import subprocess
import time
import zipfile
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from shapley_nas_jax.errors import ConfigError, InvalidInputError, PathNotFoundError, UnknownNameError
from shapley_nas_jax.runs import package_versions
from shapley_nas_jax.shapley.exact import (
    MAX_EXACT_PLAYERS,
    coalition_values,
    score_coalition_chunk,
    shapley_from_coalition_values,
)
from shapley_nas_jax.shapley.games import Game, table_game
from shapley_nas_jax.spaces import SearchSpace

TABLE_METRICS = ("accuracy", "neg_ce")  # enumerated for every coalition
CONTROL_METRICS = ("neg_ce", "true_prob")  # differentiated at the full mask
METRICS = ("accuracy", "neg_ce", "true_prob")  # the order of the value vector
GAME_KINDS = ("nb201_ops4", "darts_ops2", "darts_edges")
# (space, the game's short space label, kind label, default edges) per game kind
_KINDS = {
    "nb201_ops4": ("nb201", "nb201", "ops4", (0, 2, 3, 5)),  # the path 0->1->2->3 and the skip 0->3
    "darts_ops2": ("darts_reference", "darts", "ops2", (1, 4)),  # node 2 <- c_{k-1}, node 3 <- node 2
    "darts_edges": ("darts_reference", "darts", "edges", tuple(range(14))),
}
FORMAT_VERSION = 1
_ARRAY_FIELDS = ("values_accuracy", "values_neg_ce", "players", "edge", "node", "grad_neg_ce", "hessian_neg_ce",
                 "grad_true_prob", "hessian_true_prob")
_FIELDS = _ARRAY_FIELDS + ("full_values", "metadata")


# ---------------------------------------------------------------------------------------------------------
# Players


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


# ---------------------------------------------------------------------------------------------------------
# Training (a warm-up-only search)


def supernet_config(kind: str, dataset: str = "digits", *, epochs: int = 4, channels: int = 4, cells: int = 1,
                    image_size: int = 0, batch_size: int = 64, seed: int = 0, train_fraction: float = 0.5,
                    learning_rate: float = 0.1, partial_channels: int = 1) -> ml_collections.ConfigDict:
    """The search config training the supernet of game ``kind``: the ``small_cpu_config`` base with alpha
    frozen at its initialisation for the whole run (``search.warmup_epochs = train.epochs``).

    ``cells``: NB201 cells per stage, or DARTS cells (``model.layers``, at least 3). ``image_size``: 0 keeps
    the dataset's size (digits 8x8, CIFAR-10 32x32). Scoring is batched (vmapped chunks of coalitions).
    """
    from shapley_nas_jax.config import small_cpu_config, validate

    space_name = _kind(kind)[0]
    c = small_cpu_config(space_name)
    c.seed = int(seed)
    c.data.name = dataset
    c.data.image_size = int(image_size)
    c.data.train_fraction = float(train_fraction)
    c.data.value_fraction = 0.0
    c.data.crop_padding = 1 if (image_size or (8 if dataset == "digits" else 32)) <= 16 else 4
    c.data.flip = not dataset.startswith("digits")
    c.data.split_order = "random"
    c.model.channels = int(channels)
    c.model.cells_per_stage = int(cells)
    c.model.layers = max(int(cells), 3)
    c.model.partial_channels = int(partial_channels)
    # small images: lax's convolutions and their autodiff compile faster than the shifted formulation's VJPs
    c.model.formulation = "lax" if (image_size or (8 if dataset == "digits" else 32)) <= 16 else "auto"
    c.train.epochs = int(epochs)
    c.train.batch_size = int(batch_size)
    c.train.learning_rate = float(learning_rate)
    c.search.warmup_epochs = int(epochs)  # weights only: alpha never moves
    c.shapley.scoring = "batched"
    c.shapley.chunk_size = 1
    c.shapley.metric = "accuracy"
    c.shapley.bn_mode = "running"
    validate(c)
    return c


@dataclasses.dataclass
class TrainedSupernet:
    """A supernet after a warm-up-only search: the scoring model and its variables (alpha at init)."""

    config: ml_collections.ConfigDict
    space: SearchSpace
    model: Any  # the scoring model (vmappable over masks)
    params: Any
    batch_stats: Any
    alpha: jax.Array
    value_dataset: Any  # the value split (an ArrayDataset-like)
    train_accuracy: float  # over the last epoch's weight steps
    train_seconds: float


def train_supernet(config: ml_collections.ConfigDict, *, progress: bool = True) -> TrainedSupernet:
    """Run the search of ``config`` (weight steps only, see :func:`supernet_config`) and return its supernet."""
    from shapley_nas_jax.search.schedule import Search

    t0 = time.perf_counter()
    search = Search.from_config(config)
    state = search.init_state()
    spe = search.steps_per_epoch
    last_sums = np.zeros(3)
    bar = tqdm.tqdm(total=search.total_steps, unit="step", desc="train", disable=not progress, leave=False)
    batches = search.train_batches(0)
    try:
        for step, batch in enumerate(batches):
            state, _ = search.catch_up(state)  # no update is due: alpha stays frozen through the run
            state = search.weight_step(state, batch)
            bar.update(1)
            if (step + 1) % spe == 0:
                last_sums = np.asarray(state.epoch_sums, np.float64)
                bar.set_postfix(train_acc=f"{last_sums[1] / max(last_sums[2], 1):.3f}")
                state = search.end_epoch(state)
    finally:
        batches.close()
        bar.close()
    if int(state.alpha_updates):
        raise ConfigError("the supernet game's training run moved alpha; it must be a warm-up-only search")
    program = search.program
    jax.block_until_ready(state.params)
    return TrainedSupernet(
        config=config, space=search.space, model=program.scoring_model,
        params=program.scoring_variables(state.params), batch_stats=program.scoring_variables(state.batch_stats),
        alpha=jnp.asarray(state.alpha), value_dataset=search.data.value_stream.dataset,
        train_accuracy=float(last_sums[1] / max(last_sums[2], 1.0)), train_seconds=time.perf_counter() - t0)


def value_batch(trained: TrainedSupernet, size: int, seed: int = 0) -> dict:
    """One fixed batch of ``size`` distinct value-split images (normalised, not augmented)."""
    from shapley_nas_jax import data as data_lib

    n = len(trained.value_dataset)
    if not 1 <= size <= n:
        raise ConfigError(f"value batch size {size} must lie in 1..{n} (images in the value split)")
    stream = data_lib.BatchStream(trained.value_dataset, size, seed=int(seed), augment=None)
    batch = stream.value_batches(0, 1)
    return {"image": jnp.asarray(batch["image"][0]), "label": jnp.asarray(batch["label"][0])}


# ---------------------------------------------------------------------------------------------------------
# The value function of a game


def _all_metrics(logits, labels):
    """[accuracy, neg_ce, true_prob] of one forward pass, the first two exactly as the search scores them."""
    from shapley_nas_jax.value import accuracy, neg_cross_entropy

    probs = jax.nn.softmax(logits, axis=-1)
    true_prob = jnp.mean(jnp.take_along_axis(probs, labels[:, None], axis=-1))
    return jnp.stack([accuracy(logits, labels), neg_cross_entropy(logits, labels), true_prob])


class SupernetValue:
    """``value(shared, player_mask [n], sample=None) -> float32 [3]`` (:data:`METRICS`) of a supernet game:
    ``shared = (params, batch_stats, alpha, batch)``. Hashed by identity (one object = one compiled scorer)."""

    def __init__(self, model, players: PlayerSpec, bn_mode: str = "running"):
        from shapley_nas_jax.value import make_value_fn

        self.players, self.model, self.bn_mode = players, model, bn_mode
        self._value = make_value_fn(model, metric=_all_metrics, bn_mode=bn_mode)

    def forward_differentiable(self) -> "SupernetValue":
        """The same value function with the lax formulation, whose ops forward-mode autodiff can run (the
        shifted formulation's custom VJPs cannot be JVP'd, so no forward-over-reverse Hessian through them).
        Formulations give the same values and share the parameters."""
        if getattr(self.model, "formulation", None) in (None, "lax"):
            return self
        return SupernetValue(self.model.clone(formulation="lax"), self.players, self.bn_mode)

    def __call__(self, shared, player_mask, sample=None):
        params, batch_stats, alpha, batch = shared
        return self._value(params, batch_stats, alpha, self.players.full_mask(player_mask), batch)

    def metric(self, name: str) -> "MetricValue":
        """The game of one metric: ``value_fn(shared, mask, sample) -> scalar`` (the shapley game interface)."""
        if name not in METRICS:
            raise UnknownNameError(f"unknown supernet game metric {name!r}; known: {', '.join(METRICS)}")
        return MetricValue(self, METRICS.index(name))


@dataclasses.dataclass(frozen=True)
class MetricValue:
    value: SupernetValue
    index: int

    def __call__(self, shared, mask, sample=None):
        return self.value(shared, mask, sample)[self.index]


@dataclasses.dataclass
class LiveGame:
    """A supernet game before enumeration: ``value`` on ``shared`` (variables, alpha and the value batch)."""

    players: PlayerSpec
    value: SupernetValue
    shared: tuple

    def game(self, metric: str) -> Game:
        """One metric of the live game as a :class:`~shapley_nas_jax.shapley.games.Game` (no known values)."""
        return Game(f"live_{metric}", self.players.num_players, self.value.metric(metric), self.shared, None)

    def __call__(self, player_mask) -> jax.Array:
        """Float32 ``[3]`` (:data:`METRICS`) of one player mask."""
        return _score_one(self.value, self.shared, jnp.asarray(player_mask, jnp.float32))


def live_game(trained: TrainedSupernet, players: PlayerSpec, batch: dict, bn_mode: str = "running") -> LiveGame:
    if tuple(players.alpha_shape) != tuple(trained.space.alpha_shape):
        raise ConfigError(f"players are for a mask of shape {players.alpha_shape}, the supernet's is "
                          f"{trained.space.alpha_shape}")
    return LiveGame(players, SupernetValue(trained.model, players, bn_mode),
                    (trained.params, trained.batch_stats, trained.alpha, batch))


@functools.partial(jax.jit, static_argnums=0)
def _score_one(value, shared, mask):
    return value(shared, mask)


def enumerate_coalitions(game: LiveGame, *, chunk: int = 64, progress: bool = True) -> np.ndarray:
    """Float32 ``[2^n, 3]`` values (:data:`METRICS`) of every coalition, ``chunk`` coalitions per jitted,
    vmapped call (:func:`~shapley_nas_jax.shapley.coalition_values`)."""
    n = game.players.num_players
    if not 1 <= n <= MAX_EXACT_PLAYERS:
        raise ConfigError(f"exact enumeration takes 1..{MAX_EXACT_PLAYERS} players, got {n}")
    values = coalition_values(game.value, n, shared=game.shared, chunk_size=max(1, int(chunk)), progress=progress)
    return values.astype(np.float32)


def measure_batching(game: LiveGame, chunk_sizes: Sequence[int] = (1, 4, 16, 64, 256), *,
                     seconds: float = 4.0, min_calls: int = 2) -> list[dict]:
    """Evaluations per second of the enumeration for each coalition chunk size (compile excluded): for each
    size, one call to compile, then calls for at least ``seconds`` (and ``min_calls``) timed.
    Returns ``[{"chunk", "calls", "evaluations", "seconds", "evals_per_second", "compile_seconds"}]``."""
    n = game.players.num_players
    rows = []
    for chunk in chunk_sizes:
        t0 = time.perf_counter()
        jax.block_until_ready(score_coalition_chunk(game.value, game.shared, None, 0, num_players=n,
                                                    chunk_size=int(chunk)))
        compile_s = time.perf_counter() - t0
        calls, start = 0, time.perf_counter()
        while calls < min_calls or time.perf_counter() - start < seconds:
            jax.block_until_ready(score_coalition_chunk(game.value, game.shared, None, (calls * chunk) % (1 << n),
                                                        num_players=n, chunk_size=int(chunk)))
            calls += 1
        elapsed = time.perf_counter() - start
        rows.append({"chunk": int(chunk), "calls": calls, "evaluations": calls * int(chunk), "seconds": elapsed,
                     "evals_per_second": calls * int(chunk) / elapsed, "compile_seconds": compile_s})
    return rows


def format_batching_table(rows: Sequence[dict]) -> str:
    base = rows[0]["evals_per_second"]
    lines = ["chunk  evals/s  speedup  calls  compile_s"]
    for r in rows:
        lines.append(f"{r['chunk']:>5}  {r['evals_per_second']:7.1f}  {r['evals_per_second'] / base:6.2f}x  "
                     f"{r['calls']:>5}  {r['compile_seconds']:8.1f}")
    return "\n".join(lines)


def taylor_at_full(game: LiveGame) -> dict[str, np.ndarray]:
    """Gradient ``[n]`` and Hessian ``[n, n]`` (forward-over-reverse) of ``neg_ce`` and ``true_prob`` with
    respect to the continuous player mask at the full mask, and the full-mask value of every metric."""
    n = game.players.num_players
    full, grads, hessians = _derivatives(game.value.forward_differentiable(), game.shared, jnp.ones(n, jnp.float32))
    out = {}
    for name in CONTROL_METRICS:
        out[f"grad_{name}"] = np.asarray(grads[METRICS.index(name)], np.float64)
        out[f"hessian_{name}"] = np.asarray(hessians[METRICS.index(name)], np.float64)
    out["full_values"] = {m: float(v) for m, v in zip(METRICS, np.asarray(full, np.float64))}
    return out


@functools.partial(jax.jit, static_argnums=0)
def _derivatives(value, shared, mask):
    """Values [3], Jacobian [3, n] and Hessians [3, n, n] (forward over reverse) of every metric at ``mask``
    (accuracy's are zero almost everywhere), in one compiled call."""
    f = lambda m: value(shared, m)  # noqa: E731
    return f(mask), jax.jacrev(f)(mask), jax.jacfwd(jax.jacrev(f))(mask)


# ---------------------------------------------------------------------------------------------------------
# Files


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


# ---------------------------------------------------------------------------------------------------------
# End to end


def dataset_label(dataset: str) -> str:
    """Short dataset name for game names: ``digits``, ``cifar10`` (tfds), or a folder's base name."""
    if dataset.startswith("folder:"):
        return pathlib.Path(dataset[len("folder:"):].rstrip("/")).name.replace("_", "-") or "folder"
    return dataset.replace("_", "-")


def _package_commit() -> str | None:
    root = pathlib.Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


@dataclasses.dataclass
class BuiltGame:
    path: pathlib.Path | None
    file: SupernetGameFile
    live: LiveGame
    trained: TrainedSupernet
    enumerate_seconds: float


def build_game(kind: str, dataset: str = "digits", *, out: str | os.PathLike | None = None, epochs: int = 4,
               channels: int = 4, cells: int = 1, image_size: int = 0, batch_size: int = 64, seed: int = 0,
               value_batch_size: int = 64, chunk: int = 64, edges: Sequence[int] | None = None,
               partial_channels: int = 1, train_fraction: float = 0.5, learning_rate: float = 0.1,
               trained: TrainedSupernet | None = None, progress: bool = True,
               extra_metadata: dict | None = None) -> BuiltGame:
    """Train (or reuse ``trained``), enumerate and differentiate one game; save it to ``out`` (a ``.npz`` path or a
    directory, where it is named ``<game name without metric>.npz``) unless ``out`` is None."""
    space_name, space_label, kind_label, _ = _kind(kind)
    players = game_players(kind, edges)
    if trained is None:
        config = supernet_config(kind, dataset, epochs=epochs, channels=channels, cells=cells, image_size=image_size,
                                 batch_size=batch_size, seed=seed, partial_channels=partial_channels,
                                 train_fraction=train_fraction, learning_rate=learning_rate)
        trained = train_supernet(config, progress=progress)
    elif trained.space.name != space_name:
        raise ConfigError(f"game {kind!r} needs a {space_name!r} supernet, got {trained.space.name!r}")
    config = trained.config
    batch = value_batch(trained, value_batch_size, seed=seed)
    game = live_game(trained, players, batch)
    t0 = time.perf_counter()
    values = enumerate_coalitions(game, chunk=chunk, progress=progress)
    enumerate_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    taylor = taylor_at_full(game)
    taylor_seconds = time.perf_counter() - t0
    metadata = {
        "space": config.space, "game_space": space_label, "game_kind": kind_label, "kind": kind,
        "dataset": config.data.name, "dataset_label": dataset_label(config.data.name),
        "image_shape": list(np.asarray(batch["image"]).shape[1:]), "channels": int(config.model.channels),
        "cells": int(config.model.cells_per_stage if space_name == "nb201" else config.model.layers),
        "partial_channels": int(config.model.partial_channels), "epochs": int(config.train.epochs),
        "train_batch_size": int(config.train.batch_size), "learning_rate": float(config.train.learning_rate),
        "train_fraction": float(config.data.train_fraction), "value_batch_size": int(value_batch_size),
        "seed": int(config.seed), "train_accuracy": trained.train_accuracy, "bn_mode": "running",
        "num_players": players.num_players, "player_groups": [list(g) for g in players.groups],
        "alpha_shape": list(players.alpha_shape), "alpha": np.asarray(trained.alpha).tolist(),
        "chunk": int(chunk), "commit": _package_commit(), "versions": package_versions(),
        "backend": jax.default_backend(),
        "train_seconds": round(trained.train_seconds, 2), "enumerate_seconds": round(enumerate_seconds, 2),
        "taylor_seconds": round(taylor_seconds, 2), **(extra_metadata or {}),
    }
    path = None
    if out is not None:
        path = pathlib.Path(out)
        if path.suffix != ".npz":
            path = path / f"supernet_{space_label}_{kind_label}_{metadata['dataset_label']}.npz"
        save_game(path, values=values, players=players, taylor=taylor, metadata=metadata)
    file = SupernetGameFile(
        values_accuracy=values[:, 0].astype(np.float32), values_neg_ce=values[:, 1].astype(np.float32),
        players=np.asarray(players.names, np.str_), edge=players.edge, node=players.node,
        grad_neg_ce=taylor["grad_neg_ce"], hessian_neg_ce=taylor["hessian_neg_ce"],
        grad_true_prob=taylor["grad_true_prob"], hessian_true_prob=taylor["hessian_true_prob"],
        full_values=taylor["full_values"], metadata=metadata)
    return BuiltGame(path, file, game, trained, enumerate_seconds)


def top_op_per_edge(file: SupernetGameFile, metric: str = "accuracy") -> dict[int, str]:
    """For op-player games: the player with the largest exact Shapley value on each edge (its op name)."""
    phi = file.shapley_values(metric)
    best: dict[int, tuple[float, str]] = {}
    for name, e, v in zip(file.players.tolist(), file.edge.tolist(), phi.tolist()):
        if e not in best or v > best[e][0]:
            best[e] = (v, name.rsplit("/", 1)[-1])
    return {e: op for e, (_, op) in sorted(best.items())}


__all__ = [
    "CONTROL_METRICS", "GAME_KINDS", "METRICS", "TABLE_METRICS", "BuiltGame", "LiveGame", "PlayerSpec",
    "SupernetGameFile", "SupernetValue", "TrainedSupernet", "build_game", "dataset_label", "edge_players",
    "enumerate_coalitions", "format_batching_table", "game_players", "live_game", "load_game",
    "measure_batching", "op_players", "save_game", "supernet_config", "taylor_at_full", "top_op_per_edge",
    "train_supernet", "value_batch",
]
