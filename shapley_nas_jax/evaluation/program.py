"""A training run's program: the evaluation network, its optimizer and schedules, and the jitted pure steps
on one state pytree (:class:`TrainState`, donated).

Per-step randomness (drop path) is ``fold_in(root, step)`` and the learning rate and drop-path rate are pure
functions of the step, so a run restored from any checkpoint continues exactly like an uninterrupted one.
"""

from __future__ import annotations

import json
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from shapley_nas_jax.evaluation.config import resolve_network
from shapley_nas_jax.evaluation.networks import build_network
from shapley_nas_jax.genotypes import get_genotype
from shapley_nas_jax.optim import learning_rate_schedule, weight_optimizer
from shapley_nas_jax.registry import cache_by_registry_versions
from shapley_nas_jax.rng import TRAIN_STREAM_PARAMS, TRAIN_STREAM_STEP, stream_key


@flax.struct.dataclass
class TrainState:
    """Everything that changes while training.

    step:        train steps done (the data stream position, the LR and the drop-path rate follow from it)
    params, batch_stats: network variables (``params["auxiliary_head"]`` when the network has one)
    opt_state:   optax SGD state
    rng:         the run's root key
    epoch_sums:  [loss sum, correct count, example count] of the current epoch's train steps
    diverged_at: first step whose loss was non-finite, -1 while all were finite
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array
    epoch_sums: jax.Array
    diverged_at: jax.Array

    def start_epoch(self) -> "TrainState":
        """The state with the epoch's sums reset, as at an epoch start."""
        return self.replace(epoch_sums=jnp.zeros(3, jnp.float32))


def classification_loss(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
    """Mean cross-entropy of ``logits [B, K]`` against int ``labels [B]``; with smoothing ``s`` the target is
    ``(1 - s) * one_hot + s / K`` (DARTS' ``CrossEntropyLabelSmooth``)."""
    if label_smoothing == 0:
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
    return optax.softmax_cross_entropy(logits, targets).mean()


class TrainProgram:
    """The static part of a training run (network, optimizer, schedules) and its jitted pure steps."""

    def __init__(self, config: ml_collections.ConfigDict, genotype, *, image_shape, num_classes: int,
                 steps_per_epoch: int):
        self.config = config
        self.genotype = genotype
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_classes = int(num_classes)
        self.steps_per_epoch = int(steps_per_epoch)
        self.network = resolve_network(config, genotype)
        m = config.model
        nb201 = self.network == "nb201"
        self.model = build_network(genotype, self.network, num_classes=self.num_classes,
                                   channels=m.nb201_channels if nb201 else m.channels, layers=m.layers,
                                   auxiliary=m.auxiliary, cells_per_stage=m.nb201_cells_per_stage,
                                   classifier_init=m.init)
        self.uses_auxiliary = bool(m.auxiliary) and not nb201
        self.lr_schedule = learning_rate_schedule(config.train, self.steps_per_epoch)
        self.tx = weight_optimizer(config.train, self.lr_schedule)
        self.train_step = jax.jit(self._train_step, donate_argnums=0)
        self.eval_step = jax.jit(self._eval_step)

    def drop_path_rate(self, step) -> jax.Array:
        """``drop_path_prob * epoch / epochs`` for the epoch of ``step`` (DARTS' linear ramp from 0)."""
        epoch = (jnp.asarray(step) // self.steps_per_epoch).astype(jnp.float32)
        return self.config.model.drop_path_prob * epoch / self.config.train.epochs

    def init_state(self) -> TrainState:
        root = jax.random.PRNGKey(self.config.seed)
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        variables = self.model.init(jax.random.fold_in(root, TRAIN_STREAM_PARAMS), x, train=False)
        params, batch_stats = variables["params"], variables.get("batch_stats", {})
        return TrainState(step=jnp.int32(0), params=params, batch_stats=batch_stats,
                          opt_state=self.tx.init(params), rng=root, epoch_sums=jnp.zeros(3, jnp.float32),
                          diverged_at=jnp.int32(-1))

    def _objective(self, params, batch_stats, batch, step, rng):
        """Training loss (main + auxiliary_weight * auxiliary) -> (loss, (logits, new batch_stats))."""
        (logits, aux_logits), updates = self.model.apply(
            {"params": params, "batch_stats": batch_stats}, batch["image"], train=True,
            drop_path_rate=self.drop_path_rate(step), rngs={"drop_path": rng}, mutable=["batch_stats"])
        smoothing = self.config.train.label_smoothing
        loss = classification_loss(logits, batch["label"], smoothing)
        if self.uses_auxiliary and aux_logits is not None:
            aux_loss = classification_loss(aux_logits, batch["label"], smoothing)
            loss = loss + self.config.model.auxiliary_weight * aux_loss
        return loss, (logits, updates["batch_stats"])

    def _train_step(self, state: TrainState, batch: dict) -> TrainState:
        """One SGD step on ``batch = {"image": [B, H, W, C] float32, "label": [B] int32}``."""
        rng = stream_key(state.rng, TRAIN_STREAM_STEP, state.step)
        grad_fn = jax.value_and_grad(self._objective, has_aux=True)
        (loss, (logits, batch_stats)), grads = grad_fn(state.params, state.batch_stats, batch, state.step, rng)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        correct = jnp.sum(jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
        size = jnp.float32(batch["label"].shape[0])
        diverged_at = jnp.where((state.diverged_at < 0) & ~jnp.isfinite(loss), state.step, state.diverged_at)
        return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                             batch_stats=batch_stats, opt_state=opt_state,
                             epoch_sums=state.epoch_sums + jnp.stack([loss * size, correct, size]),
                             diverged_at=diverged_at)

    def _eval_step(self, state: TrainState, batch: dict) -> jax.Array:
        """``[loss sum, top-1 correct, top-5 correct, count]`` over the examples of ``batch`` whose
        ``weight [B]`` is 1 (padding has weight 0); evaluation mode: no drop path, no auxiliary head."""
        logits, _ = self.model.apply({"params": state.params, "batch_stats": state.batch_stats}, batch["image"],
                                     train=False)
        labels, weight = batch["label"], batch["weight"]
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        top1 = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        k = min(5, logits.shape[-1])
        top5 = jnp.any(jax.lax.top_k(logits, k)[1] == labels[:, None], axis=-1).astype(jnp.float32)
        return jnp.stack([jnp.sum(losses * weight), jnp.sum(top1 * weight), jnp.sum(top5 * weight), jnp.sum(weight)])


@cache_by_registry_versions(maxsize=4)
def cached_program(config_json: str, genotype_json: str, image_shape: tuple, num_classes: int,
                   steps_per_epoch: int) -> TrainProgram:
    """One program (so one set of compiled steps) per distinct training setup within a process."""
    config = ml_collections.ConfigDict(json.loads(config_json))
    return TrainProgram(config, get_genotype(json.loads(genotype_json)), image_shape=image_shape,
                        num_classes=num_classes, steps_per_epoch=steps_per_epoch)
