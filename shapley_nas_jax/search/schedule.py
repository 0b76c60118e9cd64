"""The search's schedule: its data streams, when architecture updates run, and the search as pure steps.

:class:`Search` is the one description of a search's schedule. :meth:`Search.run` drives it without any
I/O, ``run_search`` (``search/loop.py``) drives it with its files (metrics, checkpoints, results); both go
through :func:`shapley_nas_jax.driver.drive`. The schedule is a pure function of the state's two counters
(weight steps done, architecture updates done), so a search restored from any checkpoint continues exactly
where it stopped: a resumed run ends with the same alpha and genotype as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Callable, Iterator, Mapping

import jax
import ml_collections
import numpy as np

from shapley_nas_jax import config as config_lib
from shapley_nas_jax import data as data_lib
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.driver import Callback, check_finite, drive
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.rng import DATA_EVAL, DATA_SPLIT, DATA_TRAIN, DATA_VALUE, STREAM_SHAPLEY, data_seed, stream_key
from shapley_nas_jax.search.state import SearchState
from shapley_nas_jax.search.steps import SearchProgram, cached_program
from shapley_nas_jax.shapley import ShapleyEstimate
from shapley_nas_jax.spaces import SearchSpace, get_space

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


# Options that only the schedule and the results read, with their defaults: the compiled program never sees them.
SCHEDULE_ONLY_OPTIONS = {"freeze_alpha": False, "final_shapley": False, "derive_from": "alpha"}


def program_config_json(config: ml_collections.ConfigDict) -> str:
    """The config as the key of its compiled program (``cached_program``): options only the schedule reads are
    set to their defaults, so searches that differ only in them share one program and compile it once (DARTS,
    DARTS+Shapley and DARTS+Shapley*: ``search.freeze_alpha`` never runs the architecture step, the final
    estimate of ``search.final_shapley`` is a step of the program that any search can call)."""
    resolved = json.loads(config.to_json_best_effort())
    search = resolved.get("search", {})
    search.update({key: value for key, value in SCHEDULE_ONLY_OPTIONS.items() if key in search})
    return json.dumps(resolved)


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

    ends with exactly the alpha and genotype of ``run_search(config, workdir)``. :meth:`run` drives this
    schedule the way ``run_search`` does (the same driver, without its files), with prefetched batches.

    The jitted steps *donate* their input state: do not use a state again after passing it to a step
    (keep ``jax.tree.map(jnp.copy, state)`` if you need a snapshot). Shapes: ``alpha``, Shapley values and
    masks are ``[cell_types, edges, ops]``; a train batch is ``{"image": [B, H, W, C] float32, "label": [B]
    int32}``; value batches stack ``M = shapley.samples`` of those, ``[M, B', H, W, C]`` / ``[M, B']``.
    """

    config: ml_collections.ConfigDict
    space: SearchSpace
    program: SearchProgram
    data: SearchData  # train_stream, value_stream, darts_value_stream, eval_stream, steps_per_epoch, ...

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
        data = search_data(config)  # the exact streams run_search builds (seeds derived from config.seed)
        program = cached_program(program_config_json(config), space.name, tuple(data.image_shape),
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

    @functools.cached_property
    def update_points(self) -> np.ndarray:
        """Weight-step indices int64 ``[U]`` before which one architecture update runs (sorted, repeats allowed)."""
        return arch_update_points(self.config, self.steps_per_epoch)

    def updates_due(self, step: int) -> int:
        """Architecture updates that must be done before weight step ``step`` runs (or the search ends)."""
        return int(np.searchsorted(self.update_points, int(step), side="right"))

    def arch_update_due(self, state: SearchState) -> bool:
        """Whether an architecture update must run before the state's next weight step (or the end)."""
        return int(state.alpha_updates) < self.updates_due(int(state.step))

    # --------------------------------------------------------------------------------------- data
    def train_batch(self, step: int) -> dict:
        """Weight-step batch number ``step``: ``{"image": [B, H, W, C] float32, "label": [B] int32}``."""
        return self.program.put_train_batch(self.data.train_stream.batch(int(step)))

    def value_batches(self, update: int) -> dict:
        """The value batches of architecture update ``update``: ``{"image": [M, B', H, W, C], "label": [M, B']}``
        with ``B' = shapley.value_batch_size``; ``M = shapley.samples`` (one per permutation chain), or 1 for a
        budgeted estimator (``shapley.estimator``), which scores every coalition on one batch."""
        permutation = self.config.shapley.get("estimator", "permutation") == "permutation"
        count = int(self.config.shapley.samples) if permutation else 1
        batches = self.data.value_stream.value_batches(int(update), count)
        return self.program.put_value_batches(batches)

    def train_batches(self, start: int) -> Iterator[dict]:
        """``train_batch(start)``, ``train_batch(start + 1)``, ... to the end of the search, prepared ahead by a
        background thread (closing the generator stops it)."""
        batches = self.data.train_stream.iterate(int(start), self.total_steps - int(start))
        try:
            for batch in batches:
                yield self.program.put_train_batch(batch)
        finally:
            batches.close()

    def eval_batch(self, index: int) -> dict:
        """Evaluation batch ``index`` of the value split (normalised, not augmented)."""
        return self.program.put_eval_batch(self.data.eval_stream.batch(int(index)))

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
        units, 0 at non-players) and what the estimate says of itself (``steps.shapley_metrics``):
        ``num_evaluations``, ``num_computed``, ``shapley_se`` (shaped like alpha), ``chain_players_mean``,
        ``min_chain_length``, ``value_full``.
        """
        return self.program.shapley_step(state, dict(value_batches))

    def estimate_shapley(self, state: SearchState, value_batches: Mapping[str, jax.Array],
                         key: jax.Array | None = None) -> tuple[jax.Array, ShapleyEstimate]:
        """Shapley values ``[cell_types, edges, ops]`` and the raw estimate over flat players, without moving
        alpha (state is not donated). ``key`` defaults to the key the next ``shapley_step`` would use."""
        if key is None:
            key = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
        return self.program.estimate_shapley(state, dict(value_batches), key)

    def arch_step(self, state: SearchState) -> tuple[SearchState, dict[str, jax.Array]]:
        """The next architecture update of the schedule, on the data ``run_search`` gives it: a Shapley step on
        ``value_batches(state.alpha_updates)``, or for the DARTS baselines a DARTS step on
        ``train_batch(state.step)`` and the update's value batch."""
        index = int(state.alpha_updates)
        if self.program.uses_darts:
            value_batch = self.program.put_train_batch(self.data.darts_value_stream.batch(index))
            return self.program.darts_step(state, self.train_batch(int(state.step)), value_batch)
        return self.shapley_step(state, self.value_batches(index))

    def arch_step_label(self, state: SearchState) -> str | None:
        """The progress bar's name for the next architecture update: Shapley updates are announced (each takes
        many forward passes), the DARTS steps before every weight step are not."""
        if self.program.uses_darts:
            return None
        return f"Shapley update {int(state.alpha_updates) + 1}/{len(self.update_points)}"

    def compile_key(self, state: SearchState) -> str:
        """Which compiled architecture step the next update runs (one per BN mode of ``shapley.bn_mode``)."""
        return self.program.bn_mode_at(state)

    def catch_up(self, state: SearchState) -> tuple[SearchState, list[dict[str, jax.Array]]]:
        """Run every architecture update due before the state's next weight step; returns their metrics."""
        metrics = []
        while self.arch_update_due(state):
            state, m = self.arch_step(state)
            metrics.append(m)
        return state, metrics

    def end_epoch(self, state: SearchState) -> SearchState:
        """What the driver does to the state at an epoch end: refuse a diverged state (SearchDivergedError),
        reset the epoch sums."""
        check_finite(state, self.steps_per_epoch)
        return self.start_epoch(state)

    def start_epoch(self, state: SearchState) -> SearchState:
        """The state with its per-epoch sums reset."""
        return state.start_epoch()

    def evaluate(self, state: SearchState, batch: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        """Mean cross-entropy (nats) and number correct of the full supernet (running BN) on ``batch``."""
        return self.program.evaluate(state, dict(batch))

    def finish(self, state: SearchState) -> SearchState:
        """End of search: RSPS keeps its best drawn cell as alpha (``search.method="rsps"``); with
        ``search.final_shapley`` Shapley values are estimated once more (alpha unchanged)."""
        return self.finish_with_metrics(state)[0]

    def finish_with_metrics(self, state: SearchState) -> tuple[SearchState, dict[str, dict]]:
        """:meth:`finish` and the metrics of what ran, by kind (``"rsps"``: the drawn paths and their scores;
        ``"final_shapley"``: the estimate's scalars)."""
        return self.program.finish(state, lambda: self.value_batches(int(state.alpha_updates)),
                                   self.config.search.final_shapley)

    # ------------------------------------------------------------------------------------ results
    def op_strengths(self, state: SearchState) -> np.ndarray:
        """Float ``[cell_types, edges, ops]`` the genotype is derived from: softmax(alpha), or the last Shapley
        values with ``search.derive_from="shapley"``."""
        if self.config.search.derive_from == "shapley":
            return np.asarray(state.shapley)
        return np.asarray(jax.nn.softmax(state.alpha, axis=-1))

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
        hooks = [] if callback is None else [Callback(callback, events=("alpha_update", "epoch_end"))]
        state = drive(self, state, hooks)
        return self.finish(state) if finish else state
