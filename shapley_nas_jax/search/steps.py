"""Pure search steps: weight step, Shapley step, DARTS steps, all jitted with the state donated.

`SearchProgram` holds everything static about a search (model, optimizers, game, options) and exposes
the steps as jitted functions of `(state, batch...)`. Nothing here performs I/O; `loop.py` drives it.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from shapley_nas_jax import alpha_rules, models, shapley
from shapley_nas_jax.optim import darts_arch_optimizer, learning_rate_schedule, weight_optimizer
from shapley_nas_jax import sharding as sharding_lib
from shapley_nas_jax.search import single_path
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
from shapley_nas_jax.search.state import SearchState
from shapley_nas_jax.spaces import SearchSpace
from shapley_nas_jax.value import bn_mode_at_epoch, bn_modes_of, make_value_fn


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class SearchProgram:
    """The static part of a search and its jitted pure steps."""

    def __init__(self, config: ml_collections.ConfigDict, space: SearchSpace, *, image_shape, num_classes,
                 steps_per_epoch: int):
        self.config = config
        self.space = space
        self.image_shape = tuple(image_shape)
        self.steps_per_epoch = steps_per_epoch
        m, s = config.model, config.shapley
        supernet = models.build_supernet(
            space, channels=m.channels, layers=m.layers, cells_per_stage=m.cells_per_stage,
            num_classes=num_classes, partial_channels=m.partial_channels,
            edge_normalization=m.edge_normalization, pool_bn=m.pool_bn, renormalize=m.renormalize, stem=m.stem,
            remat=m.remat, scan_edges=m.get("scan_edges", True),
            classifier_init=m.get("init", "flax"))
        self.weight_tx = weight_optimizer(config.train, steps_per_epoch)
        self.lr_schedule = learning_rate_schedule(config.train, steps_per_epoch)
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
                                         value=make_value_fn(self.scoring_model, metric=s.metric, bn_mode=mode))
                      for mode in self.bn_modes}
        self.game = self.games[self.bn_modes[0]]  # players and shapes (the same in every game)
        self.uses_darts = config.search.method in ("darts_1st", "darts_2nd")
        # RSPS trains one uniformly drawn cell per weight step, among the ops a genotype can hold
        self.single_path_training = config.search.method == "rsps"
        self.candidate_ops = space.player_mask()
        self.arch_tx = self.arch_rule(jax.random.PRNGKey(config.seed))
        self._jit_steps()

    # ------------------------------------------------------------------------------------------ mesh
    def _setup_mesh(self) -> None:
        """The device mesh (None: one device, everything as without sharding) and the shardings in use."""
        mesh_cfg = self.config.get("mesh", None)
        devices = mesh_cfg.devices if mesh_cfg is not None else 1
        self.shard_coalitions = bool(mesh_cfg.shard_coalitions) if mesh_cfg is not None else False
        self.mesh = sharding_lib.make_mesh(devices)
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

    def bn_mode_at(self, state: SearchState) -> str:
        """BN mode (``running`` | ``batch``) of a value function called on ``state``: ``shapley.bn_mode``'s
        mode for the epoch the state is in (a pure function of ``state.step``, so resumes keep it)."""
        if len(self.bn_modes) == 1:
            return self.bn_modes[0]
        epoch = int(state.step) // self.steps_per_epoch
        return bn_mode_at_epoch(self.config.shapley.bn_mode, epoch, int(self.config.train.epochs))

    def _per_bn_mode(self, step: Callable, **jit_options) -> Callable:
        """``step(state, ..., bn_mode=...)`` jitted once per BN mode in use; the call picks the state's mode.
        With one mode this is the jitted function itself (jit compiles a mode only when it is first called)."""
        jitted = {mode: jax.jit(functools.wraps(step)(functools.partial(step, bn_mode=mode)), **jit_options)
                  for mode in self.bn_modes}
        if len(jitted) == 1:
            return jitted[self.bn_modes[0]]

        @functools.wraps(step)
        def call(state, *args):
            return jitted[self.bn_mode_at(state)](state, *args)

        return call

    def _jit_steps(self) -> None:
        if self.mesh is None:
            self.weight_step = jax.jit(self._weight_step, donate_argnums=0)
            self.shapley_step = self._per_bn_mode(self._shapley_step, donate_argnums=0)
            self.estimate_shapley = self._per_bn_mode(self._estimate_shapley)
            self.darts_step = jax.jit(self._darts_step, donate_argnums=0)
            self.evaluate = jax.jit(self._evaluate)
            self.select_single_path = self._per_bn_mode(self._select_single_path)
            return
        # State replicated in and out; batches split along the batch axis (one sharding = a pytree prefix).
        rep, data, value = self.replicated, self.batch_sharding, self.value_sharding
        self.weight_step = jax.jit(self._weight_step, donate_argnums=0, in_shardings=(rep, data), out_shardings=rep)
        self.shapley_step = self._per_bn_mode(self._shapley_step, donate_argnums=0, in_shardings=(rep, value),
                                              out_shardings=rep)
        self.estimate_shapley = self._per_bn_mode(self._estimate_shapley, in_shardings=(rep, value, rep),
                                                  out_shardings=rep)
        self.darts_step = jax.jit(self._darts_step, donate_argnums=0, in_shardings=(rep, data, data), out_shardings=rep)
        self.select_single_path = self._per_bn_mode(self._select_single_path, in_shardings=(rep, value),
                                                    out_shardings=rep)
        # Evaluation batches need not divide the device count: they come placed (split or replicated).
        self.evaluate = jax.jit(self._evaluate, out_shardings=rep)

    def place_state(self, state: SearchState) -> SearchState:
        """The state replicated on every device of the mesh (unchanged without a mesh)."""
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
    def arch_rule(self, root: jax.Array) -> optax.GradientTransformation:
        """The alpha rule named in the config (Adam for the DARTS baselines).

        Every rule factory receives momentum, step_size, init_scale, key (for a random initial state) and
        player_mask (bool [cell_types, edges, ops]: entries that are players; others must stay put).
        """
        if self.uses_darts:
            return darts_arch_optimizer(self.config.darts)
        r = self.config.alpha_rule
        player_mask = np.zeros(int(np.prod(self.space.alpha_shape)), bool)
        player_mask[self.game.positions] = True
        kwargs = dict(momentum=r.momentum, step_size=r.step_size, init_scale=r.init_scale,
                      key=stream_key(root, STREAM_ARCH_STATE), player_mask=player_mask.reshape(self.space.alpha_shape))
        return alpha_rules.get_alpha_rule(r.name, **kwargs)

    def init_state(self) -> SearchState:
        """A fresh state, replicated over the mesh if there is one (every process computes the same values
        from the seed, so this is also how multi-host runs start). Scanned supernets are initialised by one
        jitted call (eagerly, every scanned edge compiles on its own); one module per edge eagerly (compiling
        the whole initialisation took minutes)."""
        if not self.model.scan_edges:
            return self.place_state(self._init_state())
        return self._jitted_init_state()

    @functools.cached_property
    def _jitted_init_state(self) -> Callable[[], SearchState]:
        """``_init_state`` jitted once per program, so that the searches sharing a program (``cached_program``)
        compile it once, as they do their steps."""
        return jax.jit(self._init_state, out_shardings=None if self.mesh is None else self.replicated)

    def _init_state(self) -> SearchState:
        root = jax.random.PRNGKey(self.config.seed)
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
        arch = self._arch_params(alpha, beta)
        arch_state = self.arch_tx.init(arch if self.uses_darts else alpha)
        return SearchState.create(params=params, batch_stats=batch_stats, opt_state=self.weight_tx.init(params),
                                  alpha=alpha, beta=beta, arch_state=arch_state, rng=root,
                                  clip_with_alpha_grad=self.config.train.get("clip_with_alpha_grad", False))

    # -------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _beta_kwargs(beta):
        return {} if beta is None else {"beta": beta}

    @staticmethod
    def _arch_params(alpha, beta) -> dict:
        return {"alpha": alpha} if beta is None else {"alpha": alpha, "beta": beta}

    def _loss(self, params, batch_stats, alpha, beta, batch, rng, train: bool, mask=None):
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
    def _weight_step(self, state: SearchState, batch: dict) -> SearchState:
        """One SGD step of the supernet weights on L_train; alpha is an input, never a weight."""
        rng = stream_key(state.rng, STREAM_WEIGHT_STEP, state.step)
        alpha, mask = state.alpha, None
        if self.single_path_training:  # RSPS: this step trains one uniformly drawn cell
            mask = single_path.sample_single_paths(jax.random.fold_in(rng, 1), self.candidate_ops)
            alpha = single_path.single_path_alpha(mask)
        clip_alpha = state.alpha_grad is not None
        grad_fn = jax.value_and_grad(self._loss, argnums=(0, 2) if clip_alpha else 0, has_aux=True)
        (loss, (logits, batch_stats)), grads = grad_fn(state.params, state.batch_stats, alpha, state.beta,
                                                       batch, rng, True, mask)
        extra = {}
        if clip_alpha:
            grads, extra = self._clip_with_alpha_grad(state, *grads)
        updates, opt_state = self.weight_tx.update(grads, state.opt_state, state.params)
        correct = jnp.sum(jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
        size = jnp.float32(batch["label"].shape[0])
        diverged_at = jnp.where((state.diverged_at < 0) & ~jnp.isfinite(loss), state.step, state.diverged_at)
        return state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
            epoch_sums=state.epoch_sums + jnp.stack([loss * size, correct, size]),
            diverged_at=diverged_at,
            **extra,
        )

    def _clip_with_alpha_grad(self, state: SearchState, grads, alpha_grad):
        """The original's ``clip_grad_norm(model.parameters(), grad_clip)`` with alpha among the parameters and
        its gradient never zeroed: the norm spans the weights' gradients and alpha's gradient summed over every
        weight step so far, and both are scaled in place (PyTorch: factor ``clip / (norm + 1e-6)`` when below 1).
        The weight optimizer's own clipping then leaves the scaled gradients unchanged (their norm is below
        the clip). Returns (the weights' gradients, the state fields to replace)."""
        alpha_grad = state.alpha_grad + alpha_grad
        norm = optax.tree.norm((grads, alpha_grad))
        factor = jnp.minimum(1.0, self.config.train.grad_clip / (norm + 1e-6))
        grads = jax.tree.map(lambda g: g * factor, grads)
        factor_sum, factor_min, steps = state.clip_factors
        clip_factors = jnp.stack([factor_sum + factor, jnp.minimum(factor_min, factor), steps + 1])
        return grads, {"alpha_grad": alpha_grad * factor, "clip_factors": clip_factors}

    def _estimate_shapley(self, state: SearchState, value_batches: dict, key: jax.Array, *, bn_mode: str):
        """Shapley values of all players on `value_batches` (leading axis: one batch per permutation)."""
        noise_rng = jax.random.fold_in(key, 1)
        if self.config.shapley.get("estimator", "permutation") == "permutation":
            estimate = self._permutation_shapley(state, value_batches, key, noise_rng, self.games[bn_mode])
        else:
            estimate = self._budgeted_shapley(state, value_batches, key, noise_rng, self.games[bn_mode])
        return self.game.to_alpha_shape(estimate.values), estimate

    def _game_shared(self, state: SearchState, noise_rng: jax.Array) -> tuple:
        """The ``shared`` argument of the supernet game's value function: (params, batch_stats, alpha, rng)."""
        return (self.scoring_variables(state.params), self.scoring_variables(state.batch_stats), state.alpha,
                noise_rng)

    def _budgeted_shapley(self, state: SearchState, value_batches: dict, key: jax.Array, noise_rng: jax.Array,
                          game: SupernetGame):
        """A budgeted estimator of ``shapley.estimators`` (``shapley.estimator``): every coalition is scored on
        the update's one value batch (``Search.value_batches`` loads only one for these estimators),
        ``plan.chunk_size`` coalitions per vmapped call."""
        s = self.config.shapley
        n = self.game.num_players
        shared = self._game_shared(state, noise_rng)
        batch = jax.tree.map(lambda x: x[0], value_batches)
        scored = shapley.games.Game("supernet", n, lambda _, mask, __: game.value_fn(shared, mask, batch), None,
                                    None)
        budget = s.get("budget", 0) or 2 + s.samples * (n - 1)
        return shapley.estimators.estimate(s.estimator, scored, budget, jax.random.fold_in(key, 0),
                                           chunk_size=max(self.plan.chunk_size, 1))

    def _permutation_shapley(self, state: SearchState, value_batches: dict, key: jax.Array, noise_rng: jax.Array,
                             game: SupernetGame):
        s = self.config.shapley
        value_fn = game.value_fn
        if self.plan.scoring == "sequential" and game.staged is not None:
            value_fn = game.staged  # reuses the prefix cells while a chain removes reduction-cell ops
        return shapley.permutation_shapley(
            value_fn, self.game.num_players, jax.random.fold_in(key, 0),
            num_permutations=s.samples, truncation=s.truncation, truncated=s.truncated, aggregate=s.aggregate,
            sampling=s.sampling, chunk_size=self.plan.chunk_size, scoring=self.plan.scoring,
            keep_last=game.edge_groups() if s.get("keep_last_op", False) else None,
            shared=self._game_shared(state, noise_rng), samples=value_batches,
            coalition_sharding=self.coalition_sharding)

    def _shapley_step(self, state: SearchState, value_batches: dict, *, bn_mode: str):
        """Estimate Shapley values and move alpha by the alpha rule (an optax transformation)."""
        key = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
        phi, estimate = self._estimate_shapley(state, value_batches, key, bn_mode=bn_mode)
        updates, arch_state = self.arch_tx.update(phi, state.arch_state, state.alpha)
        new_state = state.replace(alpha=optax.apply_updates(state.alpha, updates), arch_state=arch_state,
                                  shapley=phi, alpha_updates=state.alpha_updates + 1)
        return new_state, shapley_metrics(estimate, self.game, self.config.shapley.truncated)

    def final_shapley(self, state: SearchState, value_batches: dict):
        """Shapley values at the end of a search without moving alpha (DARTS+Shapley ablations)."""
        key = stream_key(state.rng, STREAM_FINAL)
        phi, estimate = self.estimate_shapley(state, value_batches, key)
        return state.replace(shapley=phi), shapley_metrics(estimate, self.game, self.config.shapley.truncated)

    def finish(self, state: SearchState, value_batches: Callable[[], dict], final_shapley: bool):
        """The end of a search: RSPS's selection of the best drawn cell (``search.method="rsps"``) and, with
        ``final_shapley`` (the search's ``search.final_shapley``: an option of the schedule, not of this
        program, see ``program_config_json``), one more Shapley estimate, both on ``value_batches()`` (called
        only if needed). Returns the state and ``{"rsps" | "final_shapley": metrics}`` for what ran."""
        events = {}
        if self.single_path_training or final_shapley:
            batches = value_batches()
            if self.single_path_training:
                state, events["rsps"] = self.select_single_path(state, batches)
            if final_shapley:
                state, events["final_shapley"] = self.final_shapley(state, batches)
        return state, events

    def _darts_step(self, state: SearchState, train_batch: dict, value_batch: dict):
        """DARTS architecture step: Adam on dL_val/d(alpha, beta); second order differentiates through one
        unrolled SGD step of the weights (w' = w - lr * (dL_train/dw + wd * w))."""
        rng = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
        arch = self._arch_params(state.alpha, state.beta)

        def value_loss(arch):
            params = state.params
            if self.config.search.method == "darts_2nd":
                lr = self.lr_schedule(state.step)
                train_grads = jax.grad(lambda p: self._loss(p, state.batch_stats, arch["alpha"], arch.get("beta"),
                                                            train_batch, rng, True)[0])(params)
                wd = self.config.train.weight_decay
                params = jax.tree.map(lambda w, g: w - lr * (g + wd * w), params, train_grads)
            return self._loss(params, state.batch_stats, arch["alpha"], arch.get("beta"), value_batch, rng, True)[0]

        loss, grads = jax.value_and_grad(value_loss)(arch)
        updates, arch_state = self.arch_tx.update(grads, state.arch_state, arch)
        arch = optax.apply_updates(arch, updates)
        return state.replace(alpha=arch["alpha"], beta=arch.get("beta"), arch_state=arch_state,
                             alpha_updates=state.alpha_updates + 1), {"value_loss": loss}

    def _select_single_path(self, state: SearchState, value_batches: dict, *, bn_mode: str):
        """RSPS's selection: ``search.random_samples`` uniformly drawn cells, each scored with the shared
        weights by the value metric averaged over all value batches (the same images for every cell); alpha
        becomes the best cell's :func:`~shapley_nas_jax.search.single_path.single_path_alpha`, so the
        genotype is derived from it as for every method. Returns the state and ``{"paths", "scores",
        "best_value"}``."""
        paths = single_path.sample_single_paths(stream_key(state.rng, STREAM_FINAL, 2), self.candidate_ops,
                                                self.config.search.random_samples)
        noise_rng = stream_key(state.rng, STREAM_FINAL, 3)
        params, batch_stats = self.scoring_variables(state.params), self.scoring_variables(state.batch_stats)

        def score(path):
            alpha = single_path.single_path_alpha(path)
            value = self.games[bn_mode].value
            values = jax.lax.map(lambda batch: value(params, batch_stats, alpha, path, batch, noise_rng), value_batches)
            return jnp.mean(values)

        scores = jax.lax.map(score, paths)
        best = jnp.argmax(scores)
        return (state.replace(alpha=single_path.single_path_alpha(paths[best])),
                {"paths": paths, "scores": scores, "best_value": scores[best]})

    def _evaluate(self, state: SearchState, batch: dict):
        """Loss and correct count of the full supernet (running BN statistics) on one batch."""
        loss, (logits, _) = self._loss(state.params, state.batch_stats, state.alpha, state.beta, batch,
                                       stream_key(state.rng, STREAM_FINAL, 1), False)
        return loss, jnp.sum(jnp.argmax(logits, -1) == batch["label"])


def shapley_metrics(estimate: Any, game: SupernetGame, truncated: str) -> dict:
    """What one estimate says of itself: value evaluations, and for permutation chains ``shapley_se`` (each
    player's standard error of the mean of its marginals, shaped like alpha, 0 at non-players),
    ``chain_players_mean`` / ``min_chain_length`` (players scored per chain before it truncated: mean, least)
    and ``value_full`` (the full supernet's value, averaged over the update's value batches). A budgeted
    estimator (``shapley.estimator``) has no chains: its ``shapley_se`` is NaN and the chain fields are absent."""
    if isinstance(estimate, shapley.estimators.Estimate):
        nan = jnp.full(estimate.values.shape, jnp.nan, estimate.values.dtype)
        return {"num_evaluations": estimate.evaluations, "num_computed": estimate.evaluations,
                "shapley_se": game.to_alpha_shape(nan)}
    measured = estimate.measured.sum(axis=1)
    return {
        "num_evaluations": estimate.num_evaluations,
        "num_computed": estimate.num_computed,
        "shapley_se": game.to_alpha_shape(shapley.standard_errors(estimate, truncated)),
        "chain_players_mean": measured.mean(),
        "min_chain_length": measured.min(),
        "value_full": jnp.nanmean(estimate.chain_values[:, 0]),
    }


@cache_by_registry_versions(maxsize=8)
def cached_program(config_json: str, space_name: str, image_shape: tuple, num_classes: int,
                   steps_per_epoch: int) -> SearchProgram:
    """One program (and so one set of compiled steps) per distinct search setup within a process."""
    from shapley_nas_jax.spaces import get_space

    config = ml_collections.ConfigDict(json.loads(config_json))
    return SearchProgram(config, get_space(space_name), image_shape=image_shape, num_classes=num_classes,
                         steps_per_epoch=steps_per_epoch)
