"""The value function of a supernet game, every coalition of it enumerated, and its mask derivatives.

Players are scored on ONE fixed value batch. All ``2^n`` coalitions are enumerated (vmapped chunks of
coalitions per jitted call) with the value functions the search uses, both from the same forward pass:
``accuracy`` and ``neg_ce`` (minus the mean cross-entropy).

At the full mask (every player present) :func:`taylor_at_full` gives the gradient ``[n]`` and Hessian
``[n, n]`` with respect to the continuous player mask (the mask multiplies the ops' softmax weights, so the
value is differentiable in it) of ``neg_ce`` and of ``true_prob`` (mean softmax probability of the true
class, a smoothed accuracy), and the full-mask value of all three metrics. The Hessian is the pointwise one:
the value is piecewise smooth in the mask (ReLUs, max pools), and the curvature that the kinks add between
the full mask and a coalition is not in it (second differences of values with finite steps include it).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.exact_games.players import PlayerSpec
from shapley_nas_jax.exact_games.training import TrainedSupernet
from shapley_nas_jax.errors import ConfigError, UnknownNameError
from shapley_nas_jax.shapley.exact import MAX_EXACT_PLAYERS, coalition_values, score_coalition_chunk
from shapley_nas_jax.shapley.games import Game

TABLE_METRICS = ("accuracy", "neg_ce")  # enumerated for every coalition
CONTROL_METRICS = ("neg_ce", "true_prob")  # differentiated at the full mask
METRICS = ("accuracy", "neg_ce", "true_prob")  # the order of the value vector


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
