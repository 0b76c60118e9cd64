"""Research-facing API: Shapley values of any game, and a search you drive step by step from Python.

Two entry points, both pure-functional underneath:

* :func:`shapley_values` scores a cooperative game given as a plain ``mask -> scalar`` function (exact
  enumeration for small games, truncated / variance-reduced Monte-Carlo permutation sampling otherwise),
  with the same chunked, vmapped evaluation the architecture search uses. :func:`mask_game` adapts such a
  function to the full game interface ``value_fn(shared, mask, sample)`` of :mod:`shapley_nas_jax.shapley`
  when you want the whole :class:`~shapley_nas_jax.shapley.ShapleyEstimate` (marginals, chain values, counts).
* :class:`Search` exposes one search as pure steps (``init_state``, ``weight_step``, ``shapley_step``,
  ``genotype``) plus the data each step of the schedule uses (``train_batch(step)``,
  ``value_batches(update)``), so a notebook can run, inspect or alter a search one step at a time;
  :meth:`Search.run` replays ``run_search``'s schedule without any I/O and ends in the same state.

See ``docs/shapley_games.md`` and ``docs/extending.md``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from shapley_nas_jax import config as config_lib
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.errors import ConfigError, SearchDivergedError, UnknownNameError
from shapley_nas_jax.shapley import ShapleyEstimate, exact_shapley, permutation_shapley
from shapley_nas_jax.search import loop as _loop
from shapley_nas_jax.search.state import SearchState
from shapley_nas_jax.search.steps import SearchProgram, cached_program
from shapley_nas_jax.spaces import SearchSpace, get_space

SHAPLEY_METHODS = ("exact", "permutation")

MaskFn = Callable[[jax.Array], jax.Array]
"""A game as ``fn(mask) -> scalar``: ``mask`` float32 ``[num_players]`` (1 = player present)."""


# ---------------------------------------------------------------------------------------------------------
# Shapley values of any game


@dataclasses.dataclass(frozen=True)
class MaskGame:
    """``fn(mask) -> scalar`` as a game ``value_fn(shared, mask, sample) -> scalar`` (shared and sample unused).

    Equal (and equally hashed) for the same ``fn``, so repeated calls with one function reuse one compiled
    scorer: define ``fn`` once (not a fresh lambda per call) to avoid recompiling.
    """

    fn: MaskFn

    def __call__(self, shared: Any, mask: jax.Array, sample: Any = None) -> jax.Array:
        del shared, sample
        return self.fn(mask)


def mask_game(fn: MaskFn) -> MaskGame:
    """Adapt ``fn(mask [n] float32) -> scalar`` to the game interface ``value_fn(shared, mask, sample)``.

    Use it to call :func:`~shapley_nas_jax.shapley.permutation_shapley` or
    :func:`~shapley_nas_jax.shapley.exact_shapley` directly on a simple function.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable (mask -> scalar), got {type(fn).__name__}")
    return fn if isinstance(fn, MaskGame) else MaskGame(fn)


def _as_key(key):
    if key is None:
        raise ValueError("method='permutation' samples permutations: pass key=<jax PRNG key or int seed>")
    if isinstance(key, (int, np.integer)):
        return jax.random.PRNGKey(int(key))
    return key


def shapley_values(fn: MaskFn, num_players: int, key: jax.Array | int | None = None, method: str = "exact",
                   **options: Any) -> jax.Array:
    """Shapley values ``[num_players]`` of the game ``fn(mask) -> scalar``.

    ``fn`` receives a float32 coalition mask ``[num_players]`` (1 = present) and returns a scalar; it must be
    a pure jnp function (it is jitted and vmapped over coalitions). Values are in ``fn``'s units and sum to
    ``fn(ones) - fn(zeros)`` (exactly for ``"exact"``, in expectation for untruncated ``"permutation"``).

    ``method="exact"``: enumerate all ``2^n`` coalitions (``n <= 20``), ``chunk_size`` (default 4096)
    coalitions per vmapped call. ``options``: ``chunk_size``.

    ``method="permutation"``: Monte-Carlo over removal orders (needs ``key``: a PRNG key or an int seed).
    ``options`` go to :func:`~shapley_nas_jax.shapley.permutation_shapley`: ``num_permutations`` (default 10),
    ``truncation`` (default **None** here, i.e. unbiased; ``eta`` in (0, 1] stops a chain once its value falls
    below ``eta * fn(ones)``, which assumes positive values), ``truncated`` (``"zero"`` | ``"exclude"``),
    ``aggregate`` (default ``"mean"``; ``"mean_minus_std"``), ``sampling`` (``"uniform"`` | ``"antithetic"`` |
    ``"stratified"``), ``scoring`` (``"batched"``: ``chunk_size`` chain positions per vmapped call, or
    ``"sequential"``: one coalition at a time; neither changes the result), and
    any further keyword that function accepts. For the full estimate (per-chain marginals, evaluation
    counts) call ``permutation_shapley(mask_game(fn), n, key, ...)`` instead.
    """
    if int(num_players) < 1:
        raise ValueError(f"num_players must be >= 1, got {num_players}")
    game = mask_game(fn)
    if method == "exact":
        unknown = set(options) - {"chunk_size"}
        if unknown:
            raise TypeError(f"method='exact' takes only chunk_size, got {', '.join(sorted(unknown))}")
        return exact_shapley(game, int(num_players), **options)
    if method == "permutation":
        options.setdefault("truncation", None)
        options.setdefault("aggregate", "mean")
        return permutation_shapley(game, int(num_players), _as_key(key), **options).values
    raise UnknownNameError(f"unknown method {method!r}; use one of {', '.join(SHAPLEY_METHODS)}")


# ---------------------------------------------------------------------------------------------------------
# A search driven from Python


def _placed(program: SearchProgram, name: str, batch: dict) -> dict:
    """``program.<name>(batch)`` when the program places batches on a device mesh, else the batch as is."""
    put = getattr(program, name, None)
    return batch if put is None else put(batch)


@dataclasses.dataclass
class Search:
    """One search as pure functions of a :class:`~shapley_nas_jax.search.SearchState`.

    Build it with :meth:`from_config`. It uses the same data streams, compiled program and schedule as
    ``run_search`` (without workdir, checkpoints or logs), so::

        search = Search.from_config(config)
        state = search.init_state()
        for step in range(search.total_steps):
            while int(state.alpha_updates) < search.updates_due(step):   # Shapley updates due before this step
                state, metrics = search.shapley_step(state, search.value_batches(int(state.alpha_updates)))
            state = search.weight_step(state, search.train_batch(step))
            if (step + 1) % search.steps_per_epoch == 0:
                state = search.end_epoch(state)
        state, _ = search.catch_up(state)                                 # updates due at the very end
        print(search.genotype(state))

    ends with exactly the alpha and genotype of ``run_search(config, workdir)`` (that loop is :meth:`run`).

    The jitted steps *donate* their input state: do not use a state again after passing it to a step
    (keep ``jax.tree.map(jnp.copy, state)`` if you need a snapshot). Shapes: ``alpha``, Shapley values and
    masks are ``[cell_types, edges, ops]``; a train batch is ``{"image": [B, H, W, C] float32, "label": [B]
    int32}``; value batches stack ``M = shapley.samples`` of those, ``[M, B', H, W, C]`` / ``[M, B']``.
    """

    config: ml_collections.ConfigDict
    space: SearchSpace
    program: SearchProgram
    data: _loop.SearchData  # train_stream, value_stream, darts_value_stream, eval_stream, steps_per_epoch, ...

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict, *, validate: bool = True) -> "Search":
        """Validate ``config``, load its data split and build (or reuse) its compiled program.

        Spaces, ops, value metrics and alpha rules it names must be registered first.
        ``search.method="random"`` (a benchmark-table lookup, no supernet) is not a stepwise search.
        Compiled steps are kept in JAX's persistent compilation cache (see ``shapley_nas_jax.compilation_cache``).
        """
        enable_compilation_cache()
        if validate:
            config_lib.validate(config)
        if config.search.method == "random":
            raise ConfigError("search.method='random' has no supernet steps; use run_search for it")
        space = get_space(config.space)
        data = _loop.search_data(config)  # the exact streams run_search builds (seeds derived from config.seed)
        program = cached_program(config.to_json_best_effort(), space.name, tuple(data.image_shape),
                                 int(data.num_classes), int(data.steps_per_epoch))
        return cls(config=config, space=space, program=program, data=data)

    # ----------------------------------------------------------------------------------- schedule
    @property
    def model(self):
        """The Flax supernet: ``model.apply(variables, x, alpha, mask, train=...)``."""
        return self.program.model

    @property
    def steps_per_epoch(self) -> int:
        return int(self.data.steps_per_epoch)

    @property
    def total_steps(self) -> int:
        """Weight steps of the whole search (``train.epochs * steps_per_epoch``)."""
        return int(self.config.train.epochs) * self.steps_per_epoch

    @property
    def update_points(self) -> np.ndarray:
        """Weight-step indices int64 ``[U]`` before which one architecture update runs (sorted, repeats allowed)."""
        return _loop.arch_update_points(self.config, self.steps_per_epoch)

    def updates_due(self, step: int) -> int:
        """Architecture updates that must be done before weight step ``step`` runs (or the search ends)."""
        return int(np.searchsorted(self.update_points, int(step), side="right"))

    # --------------------------------------------------------------------------------------- data
    def train_batch(self, step: int) -> dict:
        """Weight-step batch number ``step``: ``{"image": [B, H, W, C] float32, "label": [B] int32}``."""
        return _placed(self.program, "put_train_batch", self.data.train_stream.batch(int(step)))

    def value_batches(self, update: int) -> dict:
        """The ``M = shapley.samples`` value batches of architecture update ``update`` (one per permutation):
        ``{"image": [M, B', H, W, C], "label": [M, B']}`` with ``B' = shapley.value_batch_size``."""
        batches = self.data.value_stream.value_batches(int(update), int(self.config.shapley.samples))
        return _placed(self.program, "put_value_batches", batches)

    def eval_batch(self, index: int) -> dict:
        """Evaluation batch ``index`` of the value split (normalised, not augmented)."""
        return _placed(self.program, "put_eval_batch", self.data.eval_stream.batch(int(index)))

    # -------------------------------------------------------------------------------------- steps
    def init_state(self) -> SearchState:
        """The state before the first step (a pure function of ``config.seed``)."""
        return self.program.init_state()

    def weight_step(self, state: SearchState, batch: Mapping[str, jax.Array]) -> SearchState:
        """One SGD step of the supernet weights on ``batch`` (alpha is an input, never trained here)."""
        return self.program.weight_step(state, dict(batch))

    def shapley_step(self, state: SearchState, value_batches: Mapping[str, jax.Array]
                     ) -> tuple[SearchState, dict[str, jax.Array]]:
        """Estimate the ops' Shapley values on ``value_batches`` and move alpha by the alpha rule.

        Returns the new state (``state.shapley`` = the estimate ``[cell_types, edges, ops]`` in value-metric
        units, 0 at non-players) and scalars: ``num_evaluations``, ``num_computed``, ``mean_chain_length``,
        ``min_chain_length``, ``full_value``.
        """
        return self.program.shapley_step(state, dict(value_batches))

    def estimate_shapley(self, state: SearchState, value_batches: Mapping[str, jax.Array],
                         key: jax.Array | None = None) -> tuple[jax.Array, ShapleyEstimate]:
        """Shapley values ``[cell_types, edges, ops]`` and the raw estimate over flat players, without moving
        alpha (state is not donated). ``key`` defaults to the key the next ``shapley_step`` would use."""
        if key is None:
            from shapley_nas_jax.rng import STREAM_SHAPLEY, stream_key

            key = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
        return self.program.estimate_shapley(state, dict(value_batches), key)

    def arch_step(self, state: SearchState) -> tuple[SearchState, dict[str, jax.Array]]:
        """The next architecture update of the schedule, on the data ``run_search`` gives it: a Shapley step on
        ``value_batches(state.alpha_updates)``, or for the DARTS baselines a DARTS step on
        ``train_batch(state.step)`` and the update's value batch."""
        index = int(state.alpha_updates)
        if self.program.uses_darts:
            value_batch = _placed(self.program, "put_train_batch", self.data.darts_value_stream.batch(index))
            return self.program.darts_step(state, self.train_batch(int(state.step)), value_batch)
        return self.shapley_step(state, self.value_batches(index))

    def catch_up(self, state: SearchState) -> tuple[SearchState, list[dict[str, jax.Array]]]:
        """Run every architecture update due before the state's next weight step; returns their metrics."""
        metrics = []
        while int(state.alpha_updates) < self.updates_due(int(state.step)):
            state, m = self.arch_step(state)
            metrics.append(m)
        return state, metrics

    def end_epoch(self, state: SearchState) -> SearchState:
        """What ``run_search`` does to the state at an epoch end: refuse a diverged state, reset the epoch sums."""
        diverged = int(state.diverged_at)
        if diverged >= 0:
            raise SearchDivergedError(f"training loss became non-finite at weight step {diverged}; "
                                      f"lower train.learning_rate or raise train.grad_clip")
        return state.start_epoch()

    def evaluate(self, state: SearchState, batch: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        """Mean cross-entropy (nats) and number correct of the full supernet (running BN) on ``batch``."""
        return self.program.evaluate(state, dict(batch))

    def finish(self, state: SearchState) -> SearchState:
        """End of search: RSPS keeps its best drawn cell as alpha (``search.method="rsps"``); with
        ``search.final_shapley`` Shapley values are estimated once more (alpha unchanged)."""
        state, _ = self.program.finish(state, lambda: self.value_batches(int(state.alpha_updates)))
        return state

    # ------------------------------------------------------------------------------------ results
    def op_strengths(self, state: SearchState) -> np.ndarray:
        """Float ``[cell_types, edges, ops]`` the genotype is derived from: softmax(alpha), or the last Shapley
        values with ``search.derive_from="shapley"``."""
        return _loop.genotype_weights(self.space, state, self.config.search.derive_from)

    def genotype(self, state: SearchState):
        """The discrete cell of ``state`` (the space's genotype rule applied to :meth:`op_strengths`)."""
        return self.space.genotype(self.op_strengths(state))

    # ---------------------------------------------------------------------------------------- run
    def run(self, state: SearchState | None = None, *,
            callback: Callable[[str, SearchState], None] | None = None, finish: bool = True) -> SearchState:
        """Continue ``state`` (default: a fresh one) to the end of the schedule, exactly like ``run_search``.

        ``callback(event, state)`` is called after each architecture update (``"alpha_update"``) and at each
        epoch end (``"epoch_end"``); it must not keep ``state`` across steps (states are donated). With
        ``finish`` the end of search (:meth:`finish`) runs too.
        """
        state = self.init_state() if state is None else state
        spe, total = self.steps_per_epoch, self.total_steps
        while True:
            step = int(state.step)
            while int(state.alpha_updates) < self.updates_due(step):
                state, _ = self.arch_step(state)
                if callback is not None:
                    callback("alpha_update", state)
            if step >= total:
                break
            state = self.weight_step(state, self.train_batch(step))
            if int(state.step) % spe == 0:
                state = self.end_epoch(state)
                if callback is not None:
                    callback("epoch_end", state)
        return self.finish(state) if finish else state


__all__ = ["MaskFn", "MaskGame", "SHAPLEY_METHODS", "Search", "mask_game", "shapley_values"]
