"""Training a genotype's evaluation network from scratch (DARTS protocol), resumable like the search.

The state is one pytree (:class:`TrainState`) threaded through a pure, jitted train step with the state
donated. Per-step randomness (drop path) is ``fold_in(root, step)``, the data stream position is the step
number and the learning rate and drop-path rate are pure functions of it, so a run restored from any
checkpoint continues exactly like an uninterrupted one. Checkpoints are written at the end of every epoch.

Workdir layout (see :mod:`shapley_nas_jax.runs`): ``config.json`` (with the resolved genotype),
``environment.json``, ``metrics.jsonl`` (one ``{"kind": "epoch", ...}`` record per epoch),
``checkpoints/``, ``results.json`` (test accuracy, params, multiply-adds).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm

from shapley_nas_jax import data as data_lib
from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.errors import ConfigError, UserError
from shapley_nas_jax.evaluation.complexity import network_complexity
from shapley_nas_jax.evaluation.networks import NETWORKS, build_network
from shapley_nas_jax.genotypes import DartsGenotype, NB201Genotype, get_genotype
from shapley_nas_jax.ops.layers import CLASSIFIER_INITS
from shapley_nas_jax.optim import LR_SCHEDULES, learning_rate_schedule, weight_optimizer
from shapley_nas_jax.rng import DATA_TRAIN_FROM_SCRATCH, TRAIN_STREAM_PARAMS, TRAIN_STREAM_STEP, data_seed, stream_key
from shapley_nas_jax.registry import cache_by_registry_versions
from shapley_nas_jax.runs import MetricsLog, RunDir



# ----------------------------------------------------------------------------------------------- config


def base_train_config() -> ml_collections.ConfigDict:
    """Defaults: DARTS' CIFAR-10 evaluation (quark0/darts cnn/train.py with --auxiliary --cutout)."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.genotype = ""  # library name | genotype string | JSON file; the --genotype flag overrides it

    c.data = ml_collections.ConfigDict()
    c.data.name = "cifar10"  # digits | cifar10 | cifar100 | svhn_cropped | imagenet2012 | folder:<root> | tfds:<name>
    c.data.data_dir = ""  # tfds data_dir ("" = tfds default)
    c.data.train_split = "train"
    c.data.test_split = "test"  # tfds imagenet2012 maps "test" to its validation split; folders: e.g. "val"
    c.data.image_size = 0  # 0 = native size; otherwise resize (folders, ImageNet, digits)
    c.data.crop_padding = 4  # random crop with this zero padding (0 = off)
    c.data.flip = True
    c.data.cutout = 16  # cutout length (0 = off)

    c.model = ml_collections.ConfigDict()
    c.model.network = "auto"  # auto (cifar for DARTS genotypes, nb201 for arch strings) | cifar | imagenet | nb201
    c.model.channels = 36  # DARTS initial channels C
    c.model.layers = 20  # DARTS cells
    c.model.auxiliary = True  # auxiliary head after the cell at 2/3 of the depth
    c.model.auxiliary_weight = 0.4
    c.model.drop_path_prob = 0.2  # final drop-path probability, ramped linearly from 0 over the epochs
    c.model.nb201_channels = 16
    c.model.nb201_cells_per_stage = 5
    c.model.init = "flax"  # classifier init: flax (Dense default) | torch (nn.Linear's, as DARTS' train.py)

    c.train = ml_collections.ConfigDict()
    c.train.epochs = 600
    c.train.batch_size = 96
    c.train.learning_rate = 0.025
    c.train.learning_rate_min = 0.0
    c.train.lr_schedule = "cosine"  # cosine (per epoch, to learning_rate_min) | linear (PC-DARTS ImageNet)
    c.train.lr_warmup_epochs = 0  # linear warm-up: lr * (epoch + 1) / warmup for the first epochs
    c.train.momentum = 0.9
    c.train.nesterov = False
    c.train.weight_decay = 3e-4
    c.train.grad_clip = 5.0  # global-norm clipping (0 = off)
    c.train.label_smoothing = 0.0
    c.train.eval_every_epochs = 1  # test-set evaluation cadence (the last epoch is always evaluated)
    c.train.eval_batch_size = 256

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.keep = 2
    return c


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate_train_config(config: ml_collections.ConfigDict) -> None:
    """Raise ConfigError (one line) for an option the training loop cannot use."""
    m, t = config.model, config.train
    _require(m.network in ("auto", *NETWORKS),
             f"model.network={m.network!r} is not valid; choose auto, {', '.join(NETWORKS)}")
    _require(m.channels >= 2 and m.channels % 2 == 0, f"model.channels={m.channels} must be even and >= 2")
    _require(m.layers >= 3, f"model.layers={m.layers} must be >= 3 (two reduction cells)")
    _require(m.nb201_channels >= 1, "model.nb201_channels must be >= 1")
    _require(m.nb201_cells_per_stage >= 1, "model.nb201_cells_per_stage must be >= 1")
    _require(m.auxiliary_weight >= 0, "model.auxiliary_weight must be >= 0")
    _require(m.get("init", "flax") in CLASSIFIER_INITS,
             f"model.init={m.get('init')!r} is not valid; choose one of {', '.join(CLASSIFIER_INITS)}")
    _require(0 <= m.drop_path_prob < 1, f"model.drop_path_prob={m.drop_path_prob} must lie in [0, 1)")
    _require(t.epochs >= 1, f"train.epochs={t.epochs} must be >= 1")
    _require(t.batch_size >= 1, f"train.batch_size={t.batch_size} must be >= 1")
    _require(t.learning_rate > 0, "train.learning_rate must be > 0")
    _require(0 <= t.learning_rate_min <= t.learning_rate, "train.learning_rate_min must lie in [0, learning_rate]")
    _require(t.lr_schedule in LR_SCHEDULES,
             f"train.lr_schedule={t.lr_schedule!r} is not valid; choose {', '.join(LR_SCHEDULES)}")
    _require(t.lr_schedule != "linear" or t.epochs > 5, "train.lr_schedule='linear' needs more than 5 epochs")
    _require(t.lr_warmup_epochs >= 0, "train.lr_warmup_epochs must be >= 0")
    _require(0 <= t.momentum < 1, "train.momentum must lie in [0, 1)")
    _require(t.weight_decay >= 0, "train.weight_decay must be >= 0")
    _require(t.grad_clip >= 0, "train.grad_clip must be >= 0 (0 = off)")
    _require(0 <= t.label_smoothing < 1, "train.label_smoothing must lie in [0, 1)")
    _require(t.eval_every_epochs >= 1, "train.eval_every_epochs must be >= 1")
    _require(t.eval_batch_size >= 1, "train.eval_batch_size must be >= 1")
    _require(config.data.crop_padding >= 0, "data.crop_padding must be >= 0 (0 = off)")
    _require(config.data.cutout >= 0, "data.cutout must be >= 0 (0 = off)")
    _require(config.checkpoint.keep >= 1, "checkpoint.keep must be >= 1")


def resolve_network(config: ml_collections.ConfigDict, genotype) -> str:
    """The network kind for ``genotype`` under ``config.model.network`` (ConfigError when they disagree)."""
    network = config.model.network
    is_nb201 = isinstance(genotype, NB201Genotype)
    if network == "auto":
        return "nb201" if is_nb201 else "cifar"
    if is_nb201 != (network == "nb201"):
        what = "an NB201 arch string" if is_nb201 else "a DARTS genotype"
        raise ConfigError(f"model.network={network!r} cannot train {what}; use "
                          f"{'nb201 or auto' if is_nb201 else 'cifar, imagenet or auto'}")
    return network


# ------------------------------------------------------------------------------------------------ state


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
                                   classifier_init=m.get("init", "flax"))
        self.uses_auxiliary = bool(m.auxiliary) and not nb201
        self.lr_schedule = learning_rate_schedule(config.train, self.steps_per_epoch)
        self.tx = weight_optimizer(config.train, self.steps_per_epoch)
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


# ------------------------------------------------------------------------------------------------- loop


class TrainingInterrupted(Exception):
    """Raised when the ``interrupt`` hook asks the loop to stop (tests use it to simulate a kill)."""


def eval_batches(dataset, batch_size: int):
    """Every example of ``dataset`` once, in order, normalised, as batches of exactly ``batch_size``:
    ``{"image": [B, H, W, C] float32, "label": [B] int32, "weight": [B] float32}``; the last batch is padded
    with copies of its final example at weight 0 (one compiled eval step serves every batch)."""
    n = len(dataset)
    for start in range(0, n, batch_size):
        real = np.arange(start, min(start + batch_size, n))
        indices = np.concatenate([real, np.full(batch_size - len(real), real[-1])])
        images, labels = dataset.get_batch(indices)
        weight = (np.arange(batch_size) < len(real)).astype(np.float32)
        yield {"image": data_lib.normalize(images, dataset.mean, dataset.std),
               "label": np.asarray(labels, np.int32), "weight": weight}


class _Training:
    """One training run: owns its workdir, data, program and the loop."""

    def __init__(self, config, genotype, workdir: str, progress: bool, interrupt):
        validate_train_config(config)
        self.config = config
        self.genotype = genotype
        self.network = resolve_network(config, genotype)
        self.rundir = RunDir(workdir)
        self.progress = progress
        self.interrupt = interrupt or (lambda event, state: False)

    def _setup_data(self) -> None:
        d = self.config.data
        common = dict(data_dir=d.data_dir or None, image_size=d.image_size or None)
        train_ds = data_lib.load_dataset(d.name, split=d.train_split, **common)
        extra = {"mean": train_ds.mean, "std": train_ds.std} if d.name.startswith("folder:") else {}
        self.test_ds = data_lib.load_dataset(d.name, split=d.test_split, **common, **extra)
        if tuple(self.test_ds.image_shape) != tuple(train_ds.image_shape):
            raise UserError(f"test images {tuple(self.test_ds.image_shape)} differ from training images "
                            f"{tuple(train_ds.image_shape)}; set data.image_size")
        augment = data_lib.Augment(crop_padding=d.crop_padding, flip=d.flip, cutout=d.cutout)
        self.train_stream = data_lib.BatchStream(train_ds, self.config.train.batch_size,
                                                 seed=data_seed(self.config.seed, DATA_TRAIN_FROM_SCRATCH), augment=augment)
        self.num_classes, self.image_shape = train_ds.num_classes, tuple(train_ds.image_shape)
        self.steps_per_epoch = self.train_stream.steps_per_epoch
        self.eval_batch_size = min(self.config.train.eval_batch_size, len(self.test_ds))

    def _evaluate(self, state: TrainState) -> dict:
        sums = np.zeros(4)
        for batch in eval_batches(self.test_ds, self.eval_batch_size):
            sums += np.asarray(self.program.eval_step(state, batch), np.float64)
        loss, top1, top5, count = sums
        return {"test_loss": loss / count, "test_accuracy": top1 / count, "test_top5_accuracy": top5 / count}

    def _check_finite(self, state: TrainState) -> None:
        diverged = int(state.diverged_at)
        if diverged >= 0:
            last = self.checkpointer.latest_id()
            raise UserError(
                f"training loss became non-finite at step {diverged} (epoch {diverged // self.steps_per_epoch}); "
                f"the last good checkpoint ({'none yet' if last is None else f'step {last}'}) is kept in "
                f"{self.rundir.checkpoint_dir}; lower train.learning_rate or train.grad_clip and rerun")

    def run(self) -> dict:
        self._setup_data()  # before the workdir is written, so a missing dataset leaves no run behind
        self.rundir.prepare(self.config)
        self.log = MetricsLog(self.rundir)
        c = self.config
        self.program = cached_program(c.to_json_best_effort(), json.dumps(self.genotype.to_json()), self.image_shape,
                                      self.num_classes, self.steps_per_epoch)
        self.complexity = network_complexity(self.program.model, self.image_shape)
        self.checkpointer = Checkpointer(self.rundir.checkpoint_dir, keep=c.checkpoint.keep)
        try:
            state = self.program.init_state()
            restored = self.checkpointer.restore(state)
            if restored is not None:
                state, meta = restored
                self.log.truncate_after(meta["step"], 0)
            state = self._loop(state)
            return self._finish(state)
        finally:
            self.checkpointer.close()

    def _loop(self, state: TrainState) -> TrainState:
        c, spe = self.config, self.steps_per_epoch
        total = c.train.epochs * spe
        bar = tqdm.tqdm(total=total, initial=int(state.step), unit="step", disable=not self.progress,
                        dynamic_ncols=True, desc=f"train {self.network} ({self.complexity.params_m:.2f}M params)")
        batches = self.train_stream.iterate(int(state.step), total - int(state.step))
        t_epoch = time.perf_counter()
        try:
            while int(state.step) < total:
                state = self.program.train_step(state, next(batches))
                bar.update(1)
                if int(state.step) % spe == 0:
                    state = self._end_epoch(state, time.perf_counter() - t_epoch, bar)
                    t_epoch = time.perf_counter()
                    if self.interrupt("epoch_end", state):
                        raise TrainingInterrupted("interrupted at the end of an epoch")
                if self.interrupt("step", state):
                    raise TrainingInterrupted("interrupted after a train step")
            return state
        finally:
            batches.close()
            bar.close()

    def _end_epoch(self, state: TrainState, train_seconds: float, bar) -> TrainState:
        c, spe = self.config, self.steps_per_epoch
        jax.block_until_ready(state.epoch_sums)
        self._check_finite(state)
        step = int(state.step)
        epoch = step // spe - 1
        loss_sum, correct, count = (float(x) for x in state.epoch_sums)
        record = {"kind": "epoch", "epoch": epoch, "step": step,
                  "learning_rate": float(self.program.lr_schedule(jnp.int32(step - 1))),
                  "drop_path_rate": float(self.program.drop_path_rate(step - 1)),
                  "train_loss": loss_sum / max(count, 1), "train_accuracy": correct / max(count, 1),
                  "test_loss": None, "test_accuracy": None, "test_top5_accuracy": None,
                  "seconds": {"train": train_seconds}}
        if (epoch + 1) % c.train.eval_every_epochs == 0 or epoch + 1 == c.train.epochs:
            t0 = time.perf_counter()
            record.update(self._evaluate(state))
            record["seconds"]["eval"] = time.perf_counter() - t0
        self.log.write(record, scalars=("train_loss", "train_accuracy", "test_accuracy", "learning_rate"))
        postfix = {"epoch": epoch, "loss": f"{record['train_loss']:.3f}"}
        if record["test_accuracy"] is not None:
            postfix["test_acc"] = f"{record['test_accuracy']:.4f}"
        bar.set_postfix(postfix)
        state = state.replace(epoch_sums=jnp.zeros(3, jnp.float32))
        self.checkpointer.save(step, state, {"step": step})
        return state

    def _finish(self, state: TrainState) -> dict:
        records = [r for r in self.log.records() if r.get("kind") == "epoch" and r.get("test_accuracy") is not None]
        final = records[-1] if records else self._evaluate(state)
        best = max(records, key=lambda r: r["test_accuracy"]) if records else None
        results = {
            "genotype": self.genotype.to_json(),
            "genotype_str": str(self.genotype),
            "network": self.network,
            "dataset": self.config.data.name,
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "params": self.complexity.params,
            "params_m": self.complexity.params_m,
            "madds": self.complexity.madds,
            "madds_m": self.complexity.madds_m,
            "test_accuracy": final["test_accuracy"],
            "test_top5_accuracy": final["test_top5_accuracy"],
            "test_loss": final["test_loss"],
            "best_test_accuracy": None if best is None else best["test_accuracy"],
            "best_epoch": None if best is None else best["epoch"],
            "epochs": self.config.train.epochs,
            "steps": int(state.step),
            "config": json.loads(self.config.to_json_best_effort()),
        }
        self.rundir.write_json("results.json", results)
        results["workdir"] = self.rundir.path
        return results


def run_training(config: ml_collections.ConfigDict, genotype=None, workdir: str = "runs/train", progress: bool = True,
                 interrupt: Callable[[str, TrainState], bool] | None = None) -> dict:
    """Train (or resume training) ``genotype``'s evaluation network from scratch in ``workdir``.

    Args:
      config: a training config (:func:`base_train_config` and ``configs/train_*.py``).
      genotype: a genotype object, library name, genotype string, JSON dict or JSON file; ``None`` uses
        ``config.genotype``. The resolved genotype string is stored in the workdir's config, so resuming
        with another genotype or config is refused (WorkdirConflictError).
      workdir: run directory; rerunning the same command resumes from the last epoch checkpoint.
      progress: show a tqdm progress bar.
      interrupt: ``interrupt(event, state) -> bool`` called after each step (``"step"``) and epoch end
        (``"epoch_end"``, after the checkpoint); True stops the run with TrainingInterrupted.

    Returns:
      The results dict written to ``results.json`` (plus ``workdir``): ``test_accuracy`` and
      ``test_top5_accuracy`` (fractions, last evaluation), ``best_test_accuracy`` / ``best_epoch``,
      ``params_m`` (millions, auxiliary head excluded), ``madds_m`` (millions per image at the data's
      resolution), the genotype, steps and the resolved config.
    """
    enable_compilation_cache()  # a rerun or resumed run loads its compiled steps instead of compiling them
    spec = config.genotype if genotype is None else genotype
    if spec is None or spec == "":
        raise ConfigError("no genotype to train: pass --genotype <name|file|string> or set config.genotype")
    genotype = resolve_genotype(spec)
    config = ml_collections.ConfigDict(json.loads(config.to_json_best_effort()))
    config.genotype = str(genotype)
    return _Training(config, genotype, workdir, progress, interrupt).run()


def resolve_genotype(spec) -> DartsGenotype | NB201Genotype:
    """A genotype from a library name, a genotype string (DARTS ``Genotype(...)``, NB201 ``|op~0|+...``,
    JSON), a JSON dict, a JSON file holding either the genotype's JSON form or a search's ``results.json``
    (``{"genotype": {...}}``), or a search workdir containing ``results.json``. UserError (one line) otherwise."""
    if isinstance(spec, (DartsGenotype, NB201Genotype)):
        return spec
    try:
        if isinstance(spec, str):
            path = spec.strip()
            if os.path.isdir(path):
                if not os.path.isfile(os.path.join(path, "results.json")):
                    raise ValueError(f"directory {path!r} has no results.json (is it a finished search workdir?)")
                path = os.path.join(path, "results.json")
            if os.path.isfile(path):
                try:
                    with open(path) as f:
                        spec = json.load(f)
                except json.JSONDecodeError as err:
                    raise ValueError(f"genotype file {path!r} is not valid JSON: {err}") from None
        if isinstance(spec, dict) and "type" not in spec and "genotype" in spec:
            spec = spec["genotype"]
        return get_genotype(spec)
    except ValueError as err:
        raise UserError(str(err).splitlines()[0]) from None
