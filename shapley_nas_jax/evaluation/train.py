"""Training a genotype's evaluation network from scratch (DARTS protocol), resumable like the search.

:class:`Training` is the run's schedule (data, program, steps; no I/O); ``run_training`` drives it with
:func:`shapley_nas_jax.driver.drive` and the hooks that write its workdir. The data stream position is the
step number, so a run restored from any checkpoint continues exactly like an uninterrupted one.
Checkpoints are written at the end of every epoch (and on Ctrl-C).

Workdir layout (see :mod:`shapley_nas_jax.runs`): ``config.json`` (with the resolved genotype),
``environment.json``, ``metrics.jsonl`` (one ``{"kind": "epoch", ...}`` record per epoch),
``checkpoints/``, ``results.json`` (test accuracy, params, multiply-adds).

The config schema lives in :mod:`.config`, the program and state in :mod:`.program`.
"""

from __future__ import annotations

import json
import time
from typing import Callable, Iterator

import jax.numpy as jnp
import ml_collections
import numpy as np

from shapley_nas_jax import data as data_lib
from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.driver import Callback, Checkpoints, Hook, drive
from shapley_nas_jax.errors import ConfigError, UserError
from shapley_nas_jax.evaluation.complexity import network_complexity
from shapley_nas_jax.evaluation.config import base_train_config, resolve_network, validate_train_config
from shapley_nas_jax.evaluation.program import TrainState, cached_program
from shapley_nas_jax.genotypes import resolve_genotype
from shapley_nas_jax.rng import DATA_TRAIN_FROM_SCRATCH, data_seed
from shapley_nas_jax.runs import MetricsLog, RunDir


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


class Training:
    """The schedule of training ``genotype`` under ``config``: its data, program and steps (no architecture
    updates). Loads the data and builds (or reuses) the compiled program."""

    def __init__(self, config: ml_collections.ConfigDict, genotype):
        self.config = config
        self.genotype = genotype
        d = config.data
        common = dict(data_dir=d.data_dir or None, image_size=d.image_size or None)
        train_ds = data_lib.load_dataset(d.name, split=d.train_split, **common)
        extra = {"mean": train_ds.mean, "std": train_ds.std} if d.name.startswith("folder:") else {}
        self.test_ds = data_lib.load_dataset(d.name, split=d.test_split, **common, **extra)
        if tuple(self.test_ds.image_shape) != tuple(train_ds.image_shape):
            raise UserError(f"test images {tuple(self.test_ds.image_shape)} differ from training images "
                            f"{tuple(train_ds.image_shape)}; set data.image_size")
        augment = data_lib.Augment(crop_padding=d.crop_padding, flip=d.flip, cutout=d.cutout,
                                   resized_crop=d.resized_crop)
        self.train_stream = data_lib.BatchStream(train_ds, config.train.batch_size,
                                                 seed=data_seed(config.seed, DATA_TRAIN_FROM_SCRATCH), augment=augment)
        self.num_classes, self.image_shape = train_ds.num_classes, tuple(train_ds.image_shape)
        self.steps_per_epoch = self.train_stream.steps_per_epoch
        self.total_steps = config.train.epochs * self.steps_per_epoch
        self.eval_batch_size = min(config.train.eval_batch_size, len(self.test_ds))
        self.program = cached_program(config.to_json_best_effort(), json.dumps(genotype.to_json()), self.image_shape,
                                      self.num_classes, self.steps_per_epoch)

    def train_batches(self, start: int) -> Iterator[dict]:
        return self.train_stream.iterate(start, self.total_steps - start)

    def weight_step(self, state: TrainState, batch: dict) -> TrainState:
        return self.program.train_step(state, batch)

    def arch_update_due(self, state: TrainState) -> bool:
        return False  # a fixed genotype: nothing but weight steps

    def arch_step(self, state: TrainState):
        raise NotImplementedError("training a fixed genotype has no architecture updates")

    def start_epoch(self, state: TrainState) -> TrainState:
        return state.start_epoch()

    def evaluate(self, state: TrainState) -> dict:
        """Loss, top-1 and top-5 accuracy on the whole test split."""
        sums = np.zeros(4)
        for batch in eval_batches(self.test_ds, self.eval_batch_size):
            sums += np.asarray(self.program.eval_step(state, batch), np.float64)
        loss, top1, top5, count = sums
        return {"test_loss": loss / count, "test_accuracy": top1 / count, "test_top5_accuracy": top5 / count}


class _TrainingLog(Hook):
    """Writes one record per epoch to metrics.jsonl, with the test split's accuracy every
    ``train.eval_every_epochs`` epochs and at the last one."""

    def __init__(self, training: Training, log: MetricsLog):
        self.training = training
        self.log = log

    def epoch_end(self, state: TrainState, epoch: int, seconds: dict) -> dict:
        training, step = self.training, int(state.step)
        loss_sum, correct, count = (float(x) for x in state.epoch_sums)
        record = {"kind": "epoch", "epoch": epoch, "step": step,
                  "learning_rate": float(training.program.lr_schedule(jnp.int32(step - 1))),
                  "drop_path_rate": float(training.program.drop_path_rate(step - 1)),
                  "train_loss": loss_sum / max(count, 1), "train_accuracy": correct / max(count, 1),
                  "test_loss": None, "test_accuracy": None, "test_top5_accuracy": None,
                  "seconds": {"train": seconds["train"]}}
        epochs = training.config.train.epochs
        if (epoch + 1) % training.config.train.eval_every_epochs == 0 or epoch + 1 == epochs:
            t0 = time.perf_counter()
            record.update(training.evaluate(state))
            record["seconds"]["eval"] = time.perf_counter() - t0
        self.log.write(record, scalars=("train_loss", "train_accuracy", "test_accuracy", "learning_rate"))
        postfix = {"epoch": epoch, "loss": f"{record['train_loss']:.3f}"}
        if record["test_accuracy"] is not None:
            postfix["test_acc"] = f"{record['test_accuracy']:.4f}"
        return postfix


def _train_point(state: TrainState) -> dict[str, int]:
    """Where a training run is: its checkpoint's meta (the step is the checkpoint id)."""
    return {"step": int(state.step)}


def _results(training: Training, state: TrainState, log: MetricsLog, complexity, network: str) -> dict:
    records = [r for r in log.records() if r.get("kind") == "epoch" and r.get("test_accuracy") is not None]
    final = records[-1] if records else training.evaluate(state)
    best = max(records, key=lambda r: r["test_accuracy"]) if records else None
    config = training.config
    return {
        "genotype": training.genotype.to_json(),
        "genotype_str": str(training.genotype),
        "network": network,
        "dataset": config.data.name,
        "image_shape": list(training.image_shape),
        "num_classes": training.num_classes,
        "params": complexity.params,
        "params_m": complexity.params_m,
        "madds": complexity.madds,
        "madds_m": complexity.madds_m,
        "test_accuracy": final["test_accuracy"],
        "test_top5_accuracy": final["test_top5_accuracy"],
        "test_loss": final["test_loss"],
        "best_test_accuracy": None if best is None else best["test_accuracy"],
        "best_epoch": None if best is None else best["epoch"],
        "epochs": config.train.epochs,
        "steps": int(state.step),
        "config": json.loads(config.to_json_best_effort()),
    }


def run_training(config: ml_collections.ConfigDict, genotype=None, workdir: str = "runs/train", progress: bool = True,
                 interrupt: Callable[[str, TrainState], bool] | None = None) -> dict:
    """Train (or resume training) ``genotype``'s evaluation network from scratch in ``workdir``.

    Args:
      config: a training config (:func:`base_train_config` and ``configs/train_*.py``).
      genotype: a genotype object, library name, genotype string, JSON dict or JSON file; ``None`` uses
        ``config.genotype``. The resolved genotype string is stored in the workdir's config, so resuming
        with another genotype or config is refused (WorkdirConflictError).
      workdir: run directory; rerunning the same command resumes from the last checkpoint (an epoch end,
        or where Ctrl-C stopped the run).
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
    validate_train_config(config)
    network = resolve_network(config, genotype)
    training = Training(config, genotype)  # before the workdir is written, so a missing dataset leaves no run behind
    rundir = RunDir(workdir)
    rundir.prepare(config, defaults=base_train_config())  # keys added since a run started resume at their default
    log = MetricsLog(rundir)
    complexity = network_complexity(training.program.model, training.image_shape)
    checkpointer = Checkpointer(rundir.checkpoint_dir, keep=config.checkpoint.keep)
    try:
        state = training.program.init_state()
        restored = checkpointer.restore(state)
        if restored is not None:
            state, meta = restored
            log.truncate_after(meta["step"], 0)
        hooks = [_TrainingLog(training, log), Checkpoints(checkpointer, rundir.checkpoint_dir, _train_point)]
        if interrupt is not None:
            hooks.append(Callback(interrupt, stop=TrainingInterrupted))
        label = f"train {network} ({complexity.params_m:.2f}M params)"
        state = drive(training, state, hooks, progress=label if progress else None)
        results = _results(training, state, log, complexity, network)
    finally:
        checkpointer.close()
    rundir.write_json("results.json", results)
    results["workdir"] = rundir.path
    return results
