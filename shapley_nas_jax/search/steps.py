"""Pure search steps: weight step, Shapley step, DARTS steps, all jitted with the state donated.

`SearchProgram` holds everything static about a search (model, optimizers, game, options) and exposes
the steps as jitted functions of `(state, batch..., hyper)`. It depends only on what shapes its compiled
steps (model, space, data shapes, the rule and value choices): the seed enters through the state
(``init_state(key)``), the schedule's length through :class:`Hyperparameters`, and the options only the
schedule or the results read never reach it (``program_config_json``), so searches that differ in those
share one program and compile each step once. Nothing here performs I/O; `schedule.py` and `run.py` drive it.
"""

from __future__ import annotations

import functools
import json
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from shapley_nas_jax import alpha_rules, models, shapley
from shapley_nas_jax.optim import learning_rate_schedule, weight_optimizer
from shapley_nas_jax import sharding as sharding_lib
from shapley_nas_jax.search.methods import get_method
from shapley_nas_jax.search.game import SupernetGame, player_positions
from shapley_nas_jax.rng import (
    STREAM_ALPHA,
    STREAM_ARCH_STATE,
    STREAM_FINAL,
    STREAM_PARAMS,
    STREAM_SHAPLEY,
    STREAM_WEIGHT_STEP,
    stream_key,
)
from shapley_nas_jax.registry import cache_by_registry_versions
from shapley_nas_jax.search.state import (Architecture, Hyperparameters, ReferenceClipping, SearchState,
                                           SupernetWeights)
from shapley_nas_jax.spaces import SearchSpace
from shapley_nas_jax.value import bn_modes_of, make_value_fn


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class SearchProgram:
    """The static part of a search and its jitted pure steps."""

    def __init__(self, config: ml_collections.ConfigDict, space: SearchSpace, *, image_shape, num_classes):
        self.config = config
        self.space = space
        self.image_shape = tuple(image_shape)
        m, s = config.model, config.shapley
        supernet = models.build_supernet(
            space, channels=m.channels, layers=m.layers, cells_per_stage=m.cells_per_stage,
            num_classes=num_classes, partial_channels=m.partial_channels,
            edge_normalization=m.edge_normalization, pool_bn=m.pool_bn, renormalize=m.renormalize, stem=m.stem,
            remat=m.remat, scan_edges=m.scan_edges, classifier_init=m.init)
        # the weight optimizer's state (not its schedule) for initialisation; steps build it with their schedule
        self.weight_tx = self.weight_optimizer(Hyperparameters.from_config(config, steps_per_epoch=1))
        self._setup_mesh()
        positions = player_positions(space, s.players)
        # How the supernet runs while training and while scoring (op arithmetic, skipped ops, edge layout,
        # scoring mode, chunk size): resolved once from the config and the backend; same values every way.
        self.plan = models.resolve_scoring_plan(
            config, supernet, jax.default_backend(), image_shape=self.image_shape, num_players=int(positions.size),
            devices=sharding_lib.mesh_size(self.mesh), coalitions_split=self.coalition_sharding is not None)
        self.model = self.plan.training_model(supernet)
        self.scoring_model = self.plan.scoring_model(supernet)
        # the scoring model's variable layout, from the training model's (stacked edges -> one per edge)
        self.scoring_variables = ((lambda tree: tree) if self.scoring_model.scan_edges == self.model.scan_edges
                                  else functools.partial(models.per_edge_variables, space=space))
        # One game per BN mode the shapley.bn_mode schedule uses (both for the reference schedules); each
        # estimate picks its mode from the epoch it runs in (bn_mode_at).
        self.bn_modes = bn_modes_of(s.bn_mode)
        self.games = {mode: SupernetGame(alpha_shape=space.alpha_shape, positions=positions,
                                         value=make_value_fn(self.scoring_model, metric=s.metric, bn_mode=mode,
                                                             metric_kwargs=s.metric_kwargs.to_dict()))
                      for mode in self.bn_modes}
        self.game = self.games[self.bn_modes[0]]  # players and shapes (the same in every game)
        self.method = get_method(config.search.method)
        self._jit_steps()

    # ------------------------------------------------------------------------------------------ mesh
    def _setup_mesh(self) -> None:
        """The device mesh (None: one device, everything as without sharding) and the shardings in use."""
        self.shard_coalitions = bool(self.config.mesh.shard_coalitions)
        self.mesh = sharding_lib.make_mesh(self.config.mesh.devices)
        self.coalition_sharding = None
        if self.mesh is None:
            return
        sharding_lib.check_divisible(self.config.train.batch_size, self.mesh, "train.batch_size")
        self.replicated = sharding_lib.replicated(self.mesh)
        self.batch_sharding = sharding_lib.batch_sharding(self.mesh)
        if self.shard_coalitions:  # every device holds all M value batches and scores its share of coalitions
            self.value_sharding = self.replicated
            self.coalition_sharding = sharding_lib.coalition_sharding(self.mesh)
        else:  # data-parallel scoring: value batches [M, B, ...] split along B
            sharding_lib.check_divisible(self.config.shapley.value_batch_size, self.mesh, "shapley.value_batch_size")
            self.value_sharding = sharding_lib.batch_sharding(self.mesh, axis=1)

    def _per_bn_mode(self, step: Callable, **jit_options) -> Callable:
        """``step(..., bn_mode=...)`` jitted once per BN mode in use (``shapley.bn_mode``; the schedule picks
        the mode of an epoch, ``Search.bn_mode_at``). With one mode, ``bn_mode`` may be left out (jit compiles
        a mode only when it is first called)."""
        jitted = {mode: jax.jit(functools.wraps(step)(functools.partial(step, bn_mode=mode)), **jit_options)
                  for mode in self.bn_modes}

        def of_mode(bn_mode: str | None):
            if bn_mode is None and len(jitted) == 1:
                return jitted[self.bn_modes[0]]
            if bn_mode not in jitted:
                raise ValueError(f"bn_mode={bn_mode!r}: this program scores with {', '.join(self.bn_modes)}")
            return jitted[bn_mode]

        @functools.wraps(step)
        def call(*args, bn_mode: str | None = None):
            return of_mode(bn_mode)(*args)

        call.lower = lambda *args, bn_mode=None: of_mode(bn_mode).lower(*args)
        return call

    def _jit_steps(self) -> None:
        if self.mesh is None:
            self.weight_step = jax.jit(self._weight_step, donate_argnums=0)
            self.shapley_step = self._per_bn_mode(self.shapley_update, donate_argnums=0)
            self.arch_step = self._per_bn_mode(self._arch_step, donate_argnums=0)
            self.estimate_shapley = self._per_bn_mode(self._estimate_shapley)
            self.evaluate = jax.jit(self._evaluate)
            self.final_choice = self._per_bn_mode(self._final_choice)
            return
        # State replicated in and out; batches split along the batch axis (one sharding = a pytree prefix).
        rep, data, value = self.replicated, self.batch_sharding, self.value_sharding
        self.weight_step = jax.jit(self._weight_step, donate_argnums=0, in_shardings=(rep, data, rep),
                                   out_shardings=rep)
        inputs = self.method.arch_input_shardings(self)
        self.arch_step = self._per_bn_mode(self._arch_step, donate_argnums=0, in_shardings=(rep, *inputs, rep),
                                           out_shardings=rep)
        self.shapley_step = self._per_bn_mode(self.shapley_update, donate_argnums=0,
                                              in_shardings=(rep, value, rep), out_shardings=rep)
        self.estimate_shapley = self._per_bn_mode(self._estimate_shapley, in_shardings=(rep, value, rep, rep),
                                                  out_shardings=rep)
        self.final_choice = self._per_bn_mode(self._final_choice, in_shardings=(rep, value), out_shardings=rep)
        # Evaluation batches need not divide the device count: they come placed (split or replicated).
        self.evaluate = jax.jit(self._evaluate, out_shardings=rep)

    def place_state(self, state):
        """The state (or any pytree the steps take replicated, such as :class:`Hyperparameters`) replicated on
        every device of the mesh (unchanged without a mesh)."""
        return sharding_lib.put_replicated(state, self.mesh)

    def put_train_batch(self, batch: dict) -> dict:
        """A host weight-step / DARTS batch ``[B, ...]`` split over the mesh (unchanged without a mesh)."""
        return batch if self.mesh is None else sharding_lib.put_global(batch, self.batch_sharding)

    def put_value_batches(self, batches: dict) -> dict:
        """Host Shapley value batches ``[M, B, ...]`` on the mesh (replicated or split along B)."""
        return batches if self.mesh is None else sharding_lib.put_global(batches, self.value_sharding)

    def put_eval_batch(self, batch: dict) -> dict:
        """A host evaluation batch: split when its size divides the device count, else replicated."""
        return sharding_lib.put_batch(batch, self.mesh)

    # ----------------------------------------------------------------------------------------- init
    def alpha_rule(self, key: jax.Array | None, hyper: Hyperparameters | None = None) -> optax.GradientTransformation:
        """The alpha rule named in the config, which moves alpha by Shapley values.

        Every rule factory is offered momentum, step_size, init_scale, key and player_mask (bool
        [cell_types, edges, ops]: entries that are players; others must stay put), gets those it names, and
        gets ``alpha_rule.kwargs`` (``alpha_rules.get_alpha_rule``). ``key`` seeds the rule's
        initial state only (``init``; None where only ``update`` is used): its update must not depend on it.
        Momentum and step size come from ``hyper`` (traced scalars: a rule must not branch on them in
        Python); without ``hyper`` (for ``init`` only, which must not depend on them) from the config.
        """
        r = self.config.alpha_rule
        momentum, step_size = ((r.momentum, r.step_size) if hyper is None
                               else (hyper.alpha_momentum, hyper.alpha_step_size))
        kwargs = dict(momentum=momentum, step_size=step_size, init_scale=r.init_scale, key=key,
                      player_mask=self.game.player_mask, **r.kwargs.to_dict())
        return alpha_rules.get_alpha_rule(r.name, **kwargs)

    def init_arch_state(self, alpha: jax.Array, beta: jax.Array | None, root: jax.Array):
        """The state of the method's architecture optimizer (the alpha rule, DARTS' Adam, ...) for ``alpha``
        (and ``beta``) in the run whose root key is ``root``."""
        optimizer = self.method.arch_optimizer(self, stream_key(root, STREAM_ARCH_STATE))
        return optimizer.init(self.method.arch_params(alpha, beta))

    def weight_optimizer(self, hyper: Hyperparameters) -> optax.GradientTransformation:
        """The weight optimizer at the learning-rate schedule of ``hyper`` (traced inside the steps)."""
        return weight_optimizer(self.config.train, self.schedule(hyper))

    def schedule(self, hyper: Hyperparameters) -> optax.Schedule:
        """The learning rate of a weight-step count, for the schedule's length in ``hyper``."""
        return learning_rate_schedule(self.config.train, hyper.steps_per_epoch, hyper.epochs, hyper.learning_rate)

    def init_state(self, key: jax.Array) -> SearchState:
        """A fresh state of the run whose root key is ``key`` (``PRNGKey(seed)``), replicated over the mesh if
        there is one (every process computes the same values from the key, so this is also how multi-host
        runs start). Scanned supernets are initialised by one jitted call (eagerly, every scanned edge
        compiles on its own); one module per edge eagerly (compiling the whole initialisation took minutes)."""
        if not self.model.scan_edges:
            return self.place_state(self._init_state(key))
        return self._jitted_init_state(key)

    @functools.cached_property
    def _jitted_init_state(self) -> Callable[[jax.Array], SearchState]:
        """``_init_state`` jitted once per program, so that the searches sharing a program (``cached_program``),
        whatever their seeds, compile it once, as they do their steps."""
        return jax.jit(self._init_state, out_shardings=None if self.mesh is None else self.replicated)

    def _init_state(self, root: jax.Array) -> SearchState:
        alpha = 1e-3 * jax.random.normal(stream_key(root, STREAM_ALPHA), self.space.alpha_shape)
        beta = None
        if self.config.model.edge_normalization:
            beta = 1e-3 * jax.random.normal(stream_key(root, STREAM_ALPHA, 1), self.space.alpha_shape[:2])
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        # parameters do not depend on the formulation: initialise with the default one (fewer ops to trace)
        variables = self.model.clone(formulation=None).init(
            {"params": stream_key(root, STREAM_PARAMS), "noise": stream_key(root, STREAM_PARAMS, 1)},
            x, alpha, None, train=False, **self._beta_kwargs(beta))
        params, batch_stats = variables["params"], variables.get("batch_stats", {})
        arch_state = self.init_arch_state(alpha, beta, root)
        return SearchState.create(params=params, batch_stats=batch_stats, opt_state=self.weight_tx.init(params),
                                  alpha=alpha, beta=beta, arch_optimizer=arch_state, rng=root,
                                  clip_with_alpha_grad=self.config.train.clip_with_alpha_grad)

    # -------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _beta_kwargs(beta):
        return {} if beta is None else {"beta": beta}

    def loss(self, params, batch_stats, alpha, beta, batch, rng, train: bool, mask=None):
        """Cross-entropy of the supernet (the full one, or the cell ``mask`` selects); returns
        (loss, (logits, new batch_stats))."""
        variables = {"params": params, "batch_stats": batch_stats}
        if train:
            logits, updates = self.model.apply(variables, batch["image"], alpha, mask, train=True,
                                               rngs={"noise": rng}, mutable=["batch_stats"],
                                               **self._beta_kwargs(beta))
            new_stats = updates["batch_stats"]
        else:
            logits = self.model.apply(variables, batch["image"], alpha, mask, train=False, rngs={"noise": rng},
                                      **self._beta_kwargs(beta))
            new_stats = batch_stats
        return cross_entropy(logits, batch["label"]), (logits, new_stats)

    # --------------------------------------------------------------------------------------- steps
    def _weight_step(self, state: SearchState, batch: dict, hyper: Hyperparameters) -> SearchState:
        """One SGD step of the supernet weights on L_train; alpha is an input, never a weight."""
        rng = stream_key(state.rng, STREAM_WEIGHT_STEP, state.step)
        alpha, mask = self.method.weight_step_cell(self, state, rng)  # e.g. RSPS: one drawn cell
        weights, reference = state.weights, state.reference
        grad_fn = jax.value_and_grad(self.loss, argnums=0 if reference is None else (0, 2), has_aux=True)
        (loss, (logits, batch_stats)), grads = grad_fn(weights.params, weights.batch_stats, alpha, state.arch.beta,
                                                       batch, rng, True, mask)
        if reference is not None:
            grads, reference = self._clip_with_alpha_grad(reference, *grads)
        updates, opt_state = self.weight_optimizer(hyper).update(grads, weights.opt_state, weights.params)
        correct = jnp.sum(jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
        size = jnp.float32(batch["label"].shape[0])
        diverged_at = jnp.where((state.diverged_at < 0) & ~jnp.isfinite(loss), state.step, state.diverged_at)
        return state.replace(
            step=state.step + 1,
            weights=SupernetWeights(params=optax.apply_updates(weights.params, updates), batch_stats=batch_stats,
                                    opt_state=opt_state),
            epoch_sums=state.epoch_sums + jnp.stack([loss * size, correct, size]),
            diverged_at=diverged_at,
            reference=reference,
        )

    def _clip_with_alpha_grad(self, reference: ReferenceClipping, grads, alpha_grad):
        """The original's ``clip_grad_norm(model.parameters(), grad_clip)`` with alpha among the parameters and
        its gradient never zeroed: the norm spans the weights' gradients and alpha's gradient summed over every
        weight step so far, and both are scaled in place (PyTorch: factor ``clip / (norm + 1e-6)`` when below 1).
        The weight optimizer's own clipping then leaves the scaled gradients unchanged (their norm is below
        the clip). Returns (the weights' gradients, the new reference-only state)."""
        alpha_grad = reference.alpha_grad + alpha_grad
        norm = optax.tree.norm((grads, alpha_grad))
        factor = jnp.minimum(1.0, self.config.train.grad_clip / (norm + 1e-6))
        grads = jax.tree.map(lambda g: g * factor, grads)
        factor_sum, factor_min, steps = reference.clip_factors
        clip_factors = jnp.stack([factor_sum + factor, jnp.minimum(factor_min, factor), steps + 1])
        return grads, ReferenceClipping(alpha_grad=alpha_grad * factor, clip_factors=clip_factors)

    def _estimate_shapley(self, state: SearchState, value_batches: dict, key: jax.Array, hyper: Hyperparameters,
                          *, bn_mode: str):
        """Shapley values of all players by the registered estimator ``shapley.estimator`` on ``value_batches``
        (leading axis: the value batches it scores per update, ``Search.value_batches``), as the estimator's
        ``from_config`` asks (``permutation``: one chain per batch with the ``shapley.*`` chain options),
        scored as the plan says (``plan.scoring``, ``plan.chunk_size`` coalitions per call, the mesh)."""
        s = self.config.shapley
        game = self.games[bn_mode]
        scored = shapley.ScoredGame(
            game.value_fn, game.num_players, shared=self._game_shared(state, jax.random.fold_in(key, 1)),
            samples=value_batches, chunk_size=max(self.plan.chunk_size, 1), scoring=self.plan.scoring,
            staged=game.staged,  # sequential chains reuse the prefix cells while they remove reduction-cell ops
            coalition_sharding=self.coalition_sharding, groups=game.edge_groups())
        budget, options = shapley.get_estimator(s.estimator).from_config(s, game.num_players)
        if options.get("truncation") is not None:
            options["truncation"] = hyper.truncation  # a step argument: the members of a population vary it
        estimate = shapley.estimate(s.estimator, scored, budget, jax.random.fold_in(key, 0), **options)
        return self.game.to_alpha_shape(estimate.values), estimate

    def _game_shared(self, state: SearchState, noise_rng: jax.Array) -> tuple:
        """The ``shared`` argument of the supernet game's value function: (params, batch_stats, alpha, rng)."""
        weights = state.weights
        return (self.scoring_variables(weights.params), self.scoring_variables(weights.batch_stats), state.arch.alpha,
                noise_rng)

    def shapley_update(self, state: SearchState, value_batches: dict, hyper: Hyperparameters, *, bn_mode: str):
        """*Traced* (jitted: ``shapley_step``). Estimate Shapley values and move alpha by the config's alpha rule
        (an optax transformation) at ``hyper``'s momentum, step size and truncation; returns the new state and
        the estimate's metrics (:func:`shapley_metrics`)."""
        key = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
        phi, estimate = self._estimate_shapley(state, value_batches, key, hyper, bn_mode=bn_mode)
        updates, optimizer = self.alpha_rule(None, hyper).update(phi, state.arch.optimizer, state.arch.alpha)
        arch = Architecture(alpha=optax.apply_updates(state.arch.alpha, updates), beta=state.arch.beta,
                            optimizer=optimizer, shapley=phi)
        new_state = state.replace(arch=arch, alpha_updates=state.alpha_updates + 1)
        return new_state, shapley_metrics(estimate, self.game)

    def _arch_step(self, state: SearchState, *inputs_and_hyper, bn_mode: str):
        """The method's architecture update (jitted: ``arch_step(state, *method.arch_inputs, hyper)``)."""
        *inputs, hyper = inputs_and_hyper
        return self.method.arch_step(self, state, *inputs, hyper=hyper, bn_mode=bn_mode)

    def _final_choice(self, state: SearchState, value_batches: dict, *, bn_mode: str):
        return self.method.final_choice(self, state, value_batches, bn_mode=bn_mode)

    def final_shapley(self, state: SearchState, value_batches: dict, hyper: Hyperparameters,
                      bn_mode: str | None = None):
        """Shapley values at the end of a search without moving alpha (DARTS+Shapley ablations)."""
        key = stream_key(state.rng, STREAM_FINAL)
        phi, estimate = self.estimate_shapley(state, value_batches, key, hyper, bn_mode=bn_mode)
        return state.with_arch(shapley=phi), shapley_metrics(estimate, self.game)

    def finish(self, state: SearchState, value_batches: Callable[[], dict], final_shapley: bool,
               hyper: Hyperparameters, bn_mode: str | None = None):
        """The end of a search: the method's final choice of the cell (``method.chooses_at_end``, e.g. RSPS's
        best drawn cell) and, with ``final_shapley`` (the search's ``search.final_shapley``: an option of the
        schedule, not of this program, see ``program_config_json``), one more Shapley estimate, both on
        ``value_batches()`` (called only if needed) in BN mode ``bn_mode``, the estimate at ``hyper``. Returns the state and
        ``{"final_choice" | "final_shapley": metrics}`` for what ran."""
        events = {}
        if self.method.chooses_at_end or final_shapley:
            batches = value_batches()
            if self.method.chooses_at_end:
                state, events["final_choice"] = self.final_choice(state, batches, bn_mode=bn_mode)
            if final_shapley:
                state, events["final_shapley"] = self.final_shapley(state, batches, hyper, bn_mode=bn_mode)
        return state, events

    def _evaluate(self, state: SearchState, batch: dict):
        """Loss and correct count of the full supernet (running BN statistics) on one batch."""
        loss, (logits, _) = self.loss(state.weights.params, state.weights.batch_stats, state.arch.alpha,
                                      state.arch.beta, batch, stream_key(state.rng, STREAM_FINAL, 1), False)
        return loss, jnp.sum(jnp.argmax(logits, -1) == batch["label"])


def shapley_metrics(estimate: shapley.Estimate, game: SupernetGame) -> dict:
    """What one estimate (any estimator's :class:`~shapley_nas_jax.shapley.Estimate`) says of itself:
    ``num_evaluations``, ``num_computed`` (padding included; the evaluations where the estimator reports no
    more), ``shapley_se`` (each player's standard error, shaped like alpha, 0 at non-players, NaN where the
    estimator gives none) and, from removal chains, ``chain_players_mean`` / ``min_chain_length`` (players
    scored per chain before it truncated: mean, least) and ``value_full`` (the full supernet's value, averaged
    over the chains' value batches). Chain estimates hold their standard errors under their own ``truncated``
    rule (``shapley.truncated`` in a search)."""
    values, se = estimate.values, estimate.standard_errors
    metrics = {
        "num_evaluations": estimate.num_evaluations,
        "num_computed": estimate.num_evaluations if estimate.num_computed is None else estimate.num_computed,
        "shapley_se": game.to_alpha_shape(jnp.full(values.shape, jnp.nan, values.dtype) if se is None else se),
    }
    if estimate.measured is not None:
        measured = estimate.measured.sum(axis=1)
        metrics.update(chain_players_mean=measured.mean(), min_chain_length=measured.min())
    if estimate.chain_values is not None:
        metrics["value_full"] = jnp.nanmean(estimate.chain_values[:, 0])
    return metrics


@cache_by_registry_versions(maxsize=8)
def cached_program(config_json: str, space_name: str, image_shape: tuple, num_classes: int) -> SearchProgram:
    """One program (and so one set of compiled steps) per distinct search setup within a process; the key is
    ``program_config_json`` of a search's config, which leaves out everything that does not shape the steps."""
    from shapley_nas_jax.spaces import get_space

    config = ml_collections.ConfigDict(json.loads(config_json))
    return SearchProgram(config, get_space(space_name), image_shape=image_shape, num_classes=num_classes)
