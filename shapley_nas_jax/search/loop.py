"""Drives a search: data, schedule, checkpoints, logs. All numerics live in the pure steps of steps.py.

The schedule is a pure function of the state's two counters (weight steps done, architecture updates
done), so a search restored from any checkpoint continues exactly where it stopped: a resumed run ends
with the same alpha and genotype as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from shapley_nas_jax import config as config_lib
from shapley_nas_jax import data as data_lib
from shapley_nas_jax import sharding as sharding_lib
from shapley_nas_jax.checkpointing import Checkpointer
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.errors import ConfigError, SearchDivergedError
from shapley_nas_jax.genotypes import count_ops, parse_genotype
from shapley_nas_jax.rng import DATA_EVAL, DATA_SPLIT, DATA_TRAIN, DATA_VALUE, data_seed
from shapley_nas_jax.runs import MetricsLog, RunDir
from shapley_nas_jax.search.state import SearchState
from shapley_nas_jax.search.steps import SearchProgram, cached_program
from shapley_nas_jax.spaces import SearchSpace, get_space

class SearchInterrupted(Exception):
    """Raised when the `interrupt` hook asks the loop to stop (tests use it to simulate a kill)."""


@dataclasses.dataclass
class SearchResult:
    genotype: object
    alpha: np.ndarray
    shapley: np.ndarray | None
    workdir: str
    state: SearchState

    @property
    def genotype_str(self) -> str:
        return str(self.genotype)


def arch_update_points(config: ml_collections.ConfigDict, steps_per_epoch: int) -> np.ndarray:
    """Weight-step indices before which one architecture update runs (sorted, repeats allowed)."""
    s, total = config.search, config.train.epochs * steps_per_epoch
    start = s.warmup_epochs * steps_per_epoch
    if s.freeze_alpha or s.method in ("random", "rsps"):
        return np.zeros(0, np.int64)
    if s.method in ("darts_1st", "darts_2nd"):
        return np.arange(start, total)  # one architecture step before every weight step after warm-up
    if s.alpha_cadence == "epoch":
        return np.arange(start, total, steps_per_epoch)  # at the start of each epoch, before its training
    every = s.alpha_every_steps
    points = np.arange(every, total, every)
    return points[points >= start]


def genotype_weights(space: SearchSpace, state: SearchState, derive_from: str) -> np.ndarray:
    """Op strengths the genotype is derived from: softmax(alpha), or the last Shapley values."""
    if derive_from == "shapley":
        return np.asarray(state.shapley)
    return np.asarray(jax.nn.softmax(state.alpha, axis=-1))


@dataclasses.dataclass
class SearchData:
    """The batch streams of a search, all seeded from the config's one root seed."""

    train_stream: data_lib.BatchStream  # weight steps on the training half (augmented)
    value_stream: data_lib.BatchStream  # Shapley value batches on the value half (one per permutation)
    darts_value_stream: data_lib.BatchStream  # DARTS architecture steps on the value half
    eval_stream: data_lib.BatchStream  # value accuracy reported each epoch (no augmentation)
    num_classes: int
    image_shape: tuple
    steps_per_epoch: int


def search_data(config: ml_collections.ConfigDict) -> SearchData:
    """Load the dataset of `config`, split it into weight / value halves and build the batch streams."""
    c = config
    dataset = data_lib.load_dataset(c.data.name, split=c.data.split, data_dir=c.data.data_dir or None,
                                    image_size=c.data.image_size or None)
    train_ds, value_ds = data_lib.search_split(dataset, seed=data_seed(c.seed, DATA_SPLIT),
                                               train_fraction=c.data.train_fraction,
                                               value_fraction=c.data.value_fraction or None,
                                               ordered=c.data.split_order == "ordered")
    augment = data_lib.Augment(crop_padding=c.data.crop_padding, flip=c.data.flip, cutout=c.data.cutout,
                               resized_crop=c.data.get("resized_crop", False))
    drop_remainder = c.data.get("drop_remainder", True)
    remainder = len(train_ds) % c.train.batch_size
    devices = (c.mesh.devices or jax.device_count()) if "mesh" in c else 1
    if not drop_remainder and remainder % devices:
        raise ConfigError(f"data.drop_remainder=False leaves a last batch of {remainder} images, which {devices} "
                          f"devices cannot split; set data.drop_remainder=True or choose a train.batch_size")
    train_stream = data_lib.BatchStream(train_ds, c.train.batch_size, seed=data_seed(c.seed, DATA_TRAIN),
                                        augment=augment, drop_remainder=drop_remainder)
    return SearchData(
        train_stream=train_stream,
        value_stream=data_lib.BatchStream(value_ds, c.shapley.value_batch_size, seed=data_seed(c.seed, DATA_VALUE),
                                          augment=augment if c.data.augment_value_batches else None),
        darts_value_stream=data_lib.BatchStream(value_ds, c.train.batch_size, seed=data_seed(c.seed, DATA_VALUE),
                                                augment=augment),
        eval_stream=data_lib.BatchStream(value_ds, min(c.train.batch_size, len(value_ds)),
                                         seed=data_seed(c.seed, DATA_EVAL), augment=None),
        num_classes=dataset.num_classes,
        image_shape=tuple(dataset.image_shape),
        steps_per_epoch=train_stream.steps_per_epoch,
    )


class _Search:
    """One search run: owns its workdir, data streams, program and the loop."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str, progress: bool,
                 interrupt: Callable[[str, SearchState], bool] | None):
        config_lib.validate(config)
        self.config = config
        self.space = get_space(config.space)
        self.rundir = RunDir(workdir)
        self.rundir.prepare(config, defaults=config_lib.base_config())
        self.log = MetricsLog(self.rundir)
        self.progress = progress
        self.interrupt = interrupt or (lambda event, state: False)
        self.benchmark = None
        if config.search.benchmark:
            from shapley_nas_jax.benchmarks import nb201

            if self.space.topology != "nb201":
                raise ConfigError(f"search.benchmark is only available for the nb201 space, not {self.space.name!r}")
            self.benchmark = nb201.load_benchmark(config.search.benchmark)

    # ------------------------------------------------------------------------------------------ data

    def _shapley_batches(self, index: int) -> dict:
        """M value batches (one per permutation) for architecture update `index`; fresh for each update."""
        return self.program.put_value_batches(self.data.value_stream.value_batches(index, self.config.shapley.samples))

    # ----------------------------------------------------------------------------------- bookkeeping
    def _save(self, state: SearchState) -> None:
        self._check_finite(state)
        self.checkpointer.save(int(state.step) + int(state.alpha_updates), state,
                               {"step": int(state.step), "alpha_updates": int(state.alpha_updates)})

    def _check_finite(self, state: SearchState) -> None:
        diverged = int(state.diverged_at)
        if diverged >= 0:
            last = self.checkpointer.latest_id()
            raise SearchDivergedError(
                f"training loss became non-finite at weight step {diverged} (epoch {diverged // self.data.steps_per_epoch}); "
                f"the last good checkpoint ({'none yet' if last is None else f'id {last}'}) is kept in "
                f"{self.rundir.checkpoint_dir}; lower train.learning_rate or raise train.grad_clip and rerun")

    def _genotype(self, state: SearchState):
        return self.space.genotype(genotype_weights(self.space, state, self.config.search.derive_from))

    def _epoch_record(self, state: SearchState, epoch: int, seconds: dict) -> dict:
        loss_sum, correct, count = (float(x) for x in state.epoch_sums)
        eval_loss = eval_correct = eval_count = 0.0
        for i in range(self.config.train.eval_batches):
            batch = self.data.eval_stream.batch(epoch * self.config.train.eval_batches + i)
            loss, right = self.program.evaluate(state, self.program.put_eval_batch(batch))
            eval_loss += float(loss) * len(batch["label"])
            eval_correct += float(right)
            eval_count += len(batch["label"])
        genotype = self._genotype(state)
        has_shapley = bool(int(state.alpha_updates) > 0 and self.config.search.method == "shapley")
        record = {
            "kind": "epoch",
            "epoch": epoch,
            "step": int(state.step),
            "alpha_updates": int(state.alpha_updates),
            "learning_rate": float(self.program.lr_schedule(jnp.int32(max(int(state.step) - 1, 0)))),
            "train_loss": loss_sum / max(count, 1),
            "train_accuracy": correct / max(count, 1),
            "value_loss": eval_loss / max(eval_count, 1),
            "value_accuracy": eval_correct / max(eval_count, 1),
            "alpha": np.asarray(state.alpha).tolist(),
            "weights": np.asarray(jax.nn.softmax(state.alpha, -1)).tolist(),
            "beta": None if state.beta is None else np.asarray(state.beta).tolist(),
            "shapley": np.asarray(state.shapley).tolist() if has_shapley else None,
            "genotype": genotype.to_json(),
            "genotype_str": str(genotype),
            "skip_count": count_ops(genotype, "skip_connect"),
            # RSPS has no current cell before its final selection
            "benchmark": (self.benchmark.query(str(genotype))
                          if self.benchmark is not None and self.config.search.method != "rsps" else None),
            "seconds": seconds,
        }
        if state.clip_factors is not None:  # train.clip_with_alpha_grad: how much alpha's gradient sum clipped
            factor_sum, factor_min, steps = (float(x) for x in state.clip_factors)
            record.update(clip_factor_mean=factor_sum / max(steps, 1), clip_factor_min=factor_min,
                          alpha_grad_norm=float(jnp.linalg.norm(state.alpha_grad)))
        return record

    # ------------------------------------------------------------------------------------------ run
    def run(self) -> SearchResult:
        c = self.config
        if c.search.method == "random":
            return self._random_search()
        self.data = search_data(c)
        self.program: SearchProgram = cached_program(c.to_json_best_effort(), self.space.name, self.data.image_shape,
                                                     self.data.num_classes, self.data.steps_per_epoch)
        self.checkpointer = Checkpointer(self.rundir.checkpoint_dir, keep=c.checkpoint.keep)
        if self.checkpointer.latest_id() is None:
            state = self.program.init_state()
        else:  # resume: only the structure of a fresh state is needed, not its values
            state, meta = self.checkpointer.restore(jax.eval_shape(self.program.init_state))
            state = self.program.place_state(state)  # replicated on the mesh (no-op on one device)
            self.log.truncate_after(meta["step"], meta["alpha_updates"])
        try:
            state = self._loop(state)
            return self._finish(state)
        finally:
            self.checkpointer.close()

    def _loop(self, state: SearchState) -> SearchState:
        c, spe = self.config, self.data.steps_per_epoch
        total = c.train.epochs * spe
        points = arch_update_points(c, spe)
        seconds = {"train": 0.0, "arch": 0.0}
        bar = tqdm.tqdm(total=total, initial=int(state.step), unit="step", disable=not self.progress,
                        dynamic_ncols=True, desc=f"search {self.space.name}")
        batches = self.data.train_stream.iterate(int(state.step), total - int(state.step))
        try:
            while True:
                step = int(state.step)
                due = int(np.searchsorted(points, step, side="right"))
                while int(state.alpha_updates) < due:
                    t0 = time.perf_counter()
                    state = self._arch_update(state, step)
                    seconds["arch"] += time.perf_counter() - t0
                    self._save(state)
                    if self.interrupt("alpha_update", state):
                        raise SearchInterrupted("interrupted after an alpha update")
                if step >= total:
                    return state
                t0 = time.perf_counter()
                state = self.program.weight_step(state, self.program.put_train_batch(next(batches)))
                bar.update(1)
                if int(state.step) % spe == 0:
                    jax.block_until_ready(state.epoch_sums)
                    seconds["train"] += time.perf_counter() - t0
                    self._check_finite(state)
                    epoch = int(state.step) // spe - 1
                    t_eval = time.perf_counter()
                    record = self._epoch_record(state, epoch, dict(seconds))
                    record["seconds"]["eval"] = time.perf_counter() - t_eval
                    self.log.write(record, scalars=("train_loss", "train_accuracy", "value_accuracy", "skip_count"))
                    bar.set_postfix(epoch=epoch, loss=f"{record['train_loss']:.3f}",
                                    value_acc=f"{record['value_accuracy']:.3f}", skips=record["skip_count"])
                    state = state.start_epoch()
                    seconds = {"train": 0.0, "arch": 0.0}
                    self._save(state)
                    if self.interrupt("epoch_end", state):
                        raise SearchInterrupted("interrupted at the end of an epoch")
                else:
                    seconds["train"] += time.perf_counter() - t0
                if self.interrupt("step", state):
                    raise SearchInterrupted("interrupted after a weight step")
        finally:
            bar.close()

    def _arch_update(self, state: SearchState, step: int) -> SearchState:
        c = self.config
        index = int(state.alpha_updates)
        if self.program.uses_darts:
            state, metrics = self.program.darts_step(state, self.program.put_train_batch(self.data.train_stream.batch(step)),
                                                     self.program.put_train_batch(self.data.darts_value_stream.batch(index)))
            if index % self.data.steps_per_epoch:
                return state  # log DARTS steps once per epoch's worth
        else:
            state, metrics = self.program.shapley_step(state, self._shapley_batches(index))
        record = {"kind": "alpha_update", "epoch": step // self.data.steps_per_epoch, "step": step,
                  "alpha_updates": int(state.alpha_updates), "method": c.search.method}
        record.update({k: float(v) for k, v in metrics.items()})
        self.log.write(record)
        return state

    def _finish(self, state: SearchState) -> SearchResult:
        c = self.config
        state, events = self.program.finish(state, lambda: self._shapley_batches(int(state.alpha_updates)))
        for kind, metrics in events.items():
            self.log.write({"kind": kind, "step": int(state.step), "alpha_updates": int(state.alpha_updates),
                            **{k: float(v) for k, v in metrics.items() if np.ndim(v) == 0}})
        genotype = self._genotype(state)
        has_shapley = c.search.method == "shapley" or c.search.final_shapley
        results = {
            "genotype": genotype.to_json(),
            "genotype_str": str(genotype),
            "derived_from": c.search.derive_from,
            "alpha": np.asarray(state.alpha).tolist(),
            "weights": np.asarray(jax.nn.softmax(state.alpha, -1)).tolist(),
            "beta": None if state.beta is None else np.asarray(state.beta).tolist(),
            "shapley": np.asarray(state.shapley).tolist() if has_shapley else None,
            "skip_count": count_ops(genotype, "skip_connect"),
            "benchmark": self.benchmark.query(str(genotype)) if self.benchmark is not None else None,
            "space": space_info(self.space),
            "steps": int(state.step),
            "alpha_updates": int(state.alpha_updates),
            "config": json.loads(c.to_json_best_effort()),
        }
        if "rsps" in events:
            results["rsps_candidates"] = self._rsps_candidates(events["rsps"])
        self.rundir.write_json("results.json", results)
        return SearchResult(genotype=genotype, alpha=np.asarray(state.alpha),
                            shapley=np.asarray(state.shapley) if has_shapley else None,
                            workdir=self.rundir.path, state=state)

    def _rsps_candidates(self, selection: dict) -> list[dict]:
        """RSPS's drawn cells with their value (and benchmark figures), best first."""
        rows = []
        for path, value in zip(np.asarray(selection["paths"]), np.asarray(selection["scores"])):
            genotype = str(self.space.genotype(path))
            rows.append({"genotype_str": genotype, "value": float(value),
                         "benchmark": self.benchmark.query(genotype) if self.benchmark is not None else None})
        return sorted(rows, key=lambda row: -row["value"])

    def _random_search(self) -> SearchResult:
        """Random search over discrete NB201 cells, scored by the benchmark table (no supernet)."""
        from shapley_nas_jax.benchmarks import nb201

        if self.benchmark is None:
            raise ConfigError("search.method='random' scores architectures by a benchmark table: set "
                              "search.benchmark to an NB201 table or nats_bench file (nb201 space only)")
        arch, accuracies, history = nb201.random_search(self.benchmark, self.config.search.random_samples,
                                                        seed=self.config.seed)
        genotype = parse_genotype(arch)
        results = {"genotype": genotype.to_json(), "genotype_str": str(genotype), "benchmark": accuracies,
                   "history": history, "space": space_info(self.space),
                   "config": json.loads(self.config.to_json_best_effort())}
        self.rundir.write_json("results.json", results)
        return SearchResult(genotype=genotype, alpha=np.zeros(self.space.alpha_shape), shapley=None,
                            workdir=self.rundir.path, state=None)


def space_info(space: SearchSpace) -> dict:
    return {"name": space.name, "topology": space.topology, "cell_types": list(space.cell_types),
            "edge_ops": [[list(ops) for ops in space.edge_ops[c]] for c in range(len(space.cell_types))]}


def run_search(config: ml_collections.ConfigDict, workdir: str, *, progress: bool = True,
               interrupt: Callable[[str, SearchState], bool] | None = None) -> SearchResult:
    """Run (or resume) a search in `workdir`; returns the found genotype and final state.

    Rerunning with the same config and workdir resumes from the last checkpoint. `interrupt(event, state)`
    is called after each weight step ("step"), architecture update ("alpha_update") and epoch end
    ("epoch_end", after the checkpoint); returning True stops the run with SearchInterrupted.
    Compiled steps are kept in JAX's persistent compilation cache (see `shapley_nas_jax.compilation_cache`).
    """
    sharding_lib.initialize_distributed()  # multi-host runs: join before anything touches a device
    enable_compilation_cache()  # a rerun or resumed run loads its compiled steps instead of compiling them
    return _Search(config, workdir, progress, interrupt).run()
