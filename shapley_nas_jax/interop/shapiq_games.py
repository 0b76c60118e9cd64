"""shapiq's Shapley-value approximators on this library's games (:class:`shapley_nas_jax.shapley.games.Game`).

shapiq (``pip install 'shapley-nas-jax[compare]'``) is imported only when an approximator is built, so this
module imports without it. :class:`CountingGame` turns a game's ``value_fn(shared, mask, sample)`` into the
callable shapiq approximators query (a boolean coalition matrix ``[k, n]``, or one coalition ``[n]``, to
float64 values ``[k]``), evaluated by one jitted vmap over the rows and counting every row it is given:
``evaluations`` is what the approximator really asked for, whatever budget it reports.

    game = games.glove_game(3, 4)
    est = shapiq_estimate("KernelSHAP", game, budget=64, seed=0)
    est.values        # float64 [n]
    est.evaluations   # rows shapiq passed to the game (<= 64)

:func:`sv_approximators` lists shapiq's approximators for plain Shapley values (``SV_APPROXIMATORS``) with the
arguments that make each one estimate order-1 Shapley values, plus a paired-sampling KernelSHAP.
"""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

INSTALL_HINT = "shapiq is not installed: pip install 'shapley-nas-jax[compare]'"

# Approximators that take a long time per estimate (SPEX: a sparse Fourier decoder, 5-120 s per estimate at
# a few thousand evaluations on 2 CPU cores, and an error below a few hundred) or need another package
# (ProxySPEX: lightgbm, and a 5-fold grid search of boosted trees per estimate): listed but not run unless
# asked for by name.
OPT_IN = ("SPEX", "ProxySPEX")


def require_shapiq():
    """The shapiq module, or an ImportError with the one line that says how to install it."""
    try:
        import shapiq
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return shapiq


def _next_power_of_two(k: int) -> int:
    return 1 << max(k - 1, 0).bit_length()


class CountingGame:
    """A game as shapiq calls it: ``coalitions`` bool ``[k, n]`` (or ``[n]``) -> float64 values ``[k]``.

    Rows are padded to a power of two before the jitted ``vmap`` of ``value_fn``, so one approximator's
    varying batch sizes compile a handful of programs (:meth:`warm_up` compiles them ahead of timing).
    ``evaluations`` counts rows (padding not included) and ``calls`` the calls; :meth:`reset` zeroes both.
    """

    def __init__(self, game, sample: Any = None):
        self.game = game
        self.n_players = int(game.num_players)
        value_fn, shared = game.value_fn, game.shared
        self._values = jax.jit(jax.vmap(lambda mask: value_fn(shared, mask, sample)))
        self.evaluations = 0
        self.calls = 0

    def reset(self) -> None:
        self.evaluations = 0
        self.calls = 0

    def warm_up(self, max_rows: int) -> None:
        """Compile the padded batch sizes 1, 2, 4, ... up to ``max_rows`` rows (not counted)."""
        k = 1
        while True:
            jax.block_until_ready(self._values(jnp.zeros((k, self.n_players), jnp.float32)))
            if k >= max_rows:
                break
            k *= 2

    def __call__(self, coalitions) -> np.ndarray:
        c = np.asarray(coalitions, dtype=bool)
        if c.ndim == 1:
            c = c[None, :]
        if c.ndim != 2 or c.shape[1] != self.n_players:
            raise ValueError(f"coalitions must be [k, {self.n_players}], got shape {np.shape(coalitions)}")
        k = c.shape[0]
        self.calls += 1
        self.evaluations += k
        if k == 0:
            return np.zeros(0, np.float64)
        padded = np.zeros((_next_power_of_two(k), self.n_players), np.float32)
        padded[:k] = c
        return np.asarray(self._values(jnp.asarray(padded)), np.float64)[:k]


class Approximator(NamedTuple):
    """How to build one shapiq approximator for order-1 Shapley values: ``build(n, seed)``."""

    name: str          # shapiq_<ClassName>[_variant]
    class_name: str
    build: Callable[[int, int], Any]
    opt_in: bool       # not run unless asked for by name (slow, or needs another package)


def _sv_kwargs(class_name: str) -> dict:
    if class_name in ("SPEX", "ProxySPEX"):
        return {"index": "SV", "max_order": 1}
    if class_name == "kADDSHAP":
        return {"max_order": 2}  # its order-1 values are Shapley values of a 2-additive fit
    return {}


def sv_approximators() -> dict[str, Approximator]:
    """shapiq's approximators for plain Shapley values, by name ``shapiq_<ClassName>``, in shapiq's order.

    Every class in ``shapiq.approximator.SV_APPROXIMATORS`` (built with ``n``, ``random_state`` and the
    arguments that make it estimate index ``"SV"``), and ``shapiq_KernelSHAP_paired``: KernelSHAP with
    shapiq's pairing trick (each sampled coalition with its complement).
    """
    require_shapiq()
    from shapiq.approximator import SV_APPROXIMATORS

    out: dict[str, Approximator] = {}
    for cls in SV_APPROXIMATORS:
        kwargs = _sv_kwargs(cls.__name__)

        def build(n, seed, cls=cls, kwargs=kwargs):
            return cls(n=n, random_state=seed, **kwargs)

        out[f"shapiq_{cls.__name__}"] = Approximator(f"shapiq_{cls.__name__}", cls.__name__, build,
                                                      cls.__name__ in OPT_IN)
        if cls.__name__ == "KernelSHAP":
            def build_paired(n, seed, cls=cls):
                return cls(n=n, random_state=seed, pairing_trick=True)

            out["shapiq_KernelSHAP_paired"] = Approximator("shapiq_KernelSHAP_paired", "KernelSHAP", build_paired,
                                                           False)
    return out


class ShapiqEstimate(NamedTuple):
    values: np.ndarray     # float64 [n]: the order-1 values
    evaluations: int       # rows the approximator passed to the game
    reported_budget: int   # shapiq's own estimation_budget
    seconds: float         # wall time of approximate(), game evaluations included


def first_order_values(interaction_values, n: int) -> np.ndarray:
    """The ``[n]`` order-1 entries of a shapiq ``InteractionValues`` (missing entries are 0)."""
    return np.array([float(interaction_values[(i,)]) for i in range(n)], np.float64)


def shapiq_estimate(approximator: str | Approximator, game, budget: int, seed: int, *,
                    counting: CountingGame | None = None) -> ShapiqEstimate:
    """Run one shapiq approximator (a name from :func:`sv_approximators` or a shapiq class name) on ``game``.

    ``counting`` reuses a :class:`CountingGame` (and its compiled programs) across calls; it is reset first.
    """
    if isinstance(approximator, str):
        table = sv_approximators()
        key = approximator if approximator in table else f"shapiq_{approximator}"
        if key not in table:
            raise ValueError(f"unknown shapiq approximator {approximator!r}; known: {sorted(table)}")
        approximator = table[key]
    counting = counting if counting is not None else CountingGame(game)
    counting.reset()
    n = int(game.num_players)
    approx = approximator.build(n, int(seed))
    t0 = time.perf_counter()
    result = approx.approximate(int(budget), counting)
    seconds = time.perf_counter() - t0
    return ShapiqEstimate(first_order_values(result, n), counting.evaluations, int(result.estimation_budget),
                          seconds)
