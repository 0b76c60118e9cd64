"""The search's schedule: its data streams, when architecture updates run, and the search as pure steps.

:class:`Search` is the one description of a search's schedule. :meth:`Search.run` drives it without any
I/O, ``run_search`` (``search/run.py``) drives it with its files (metrics, checkpoints, results); both go
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
import jax.numpy as jnp
import ml_collections
import numpy as np

from shapley_nas_jax import config as config_lib
from shapley_nas_jax import data as data_lib
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.driver import Callback, check_finite, drive
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.rng import DATA_EVAL, DATA_SPLIT, DATA_TRAIN, DATA_VALUE, STREAM_SHAPLEY, data_seed, stream_key
from shapley_nas_jax.search.methods import get_method
from shapley_nas_jax.search.state import Hyperparameters, SearchState
from shapley_nas_jax.search.steps import SearchProgram, cached_program
from shapley_nas_jax.shapley import Estimate
from shapley_nas_jax.spaces import SearchSpace, get_space
from shapley_nas_jax.value import bn_mode_at_epoch

def arch_update_points(config: ml_collections.ConfigDict, steps_per_epoch: int) -> np.ndarray:
    """Weight-step indices before which one architecture update runs (sorted, repeats allowed): the search
    method's (``SearchMethod.update_points``), none with ``search.freeze_alpha``."""
    if config.search.freeze_alpha:
        return np.zeros(0, np.int64)
    return np.asarray(get_method(config.search.method).update_points(config, steps_per_epoch), np.int64)


# Options (dotted; a whole block by its name) that the compiled program never reads: the seed (the state
# carries it), the data (its shapes are the program's other arguments), the values the steps take as
# arguments (:class:`Hyperparameters`: the learning rate's length and peak, the alpha rule's momentum and
# step size, the truncation threshold), the schedule (when updates run is the driver's business) and what
# only the results read.
PROGRAM_INDEPENDENT_OPTIONS = (
    "seed", "data", "checkpoint", "train.epochs", "train.learning_rate", "alpha_rule.momentum",
    "alpha_rule.step_size", "shapley.truncation", "train.eval_batches", "search.warmup_epochs",
    "search.alpha_cadence", "search.alpha_every_steps", "search.freeze_alpha", "search.final_shapley",
    "search.derive_from", "search.plot_every_epochs", "search.benchmark", "search.population",
    "search.population_grid",
)


def program_config_json(config: ml_collections.ConfigDict) -> str:
    """The config as the key of its compiled program (``cached_program``): every option of
    ``PROGRAM_INDEPENDENT_OPTIONS`` is set to its default, so searches that differ only in them (seeds, data
    paths, lengths, warm-ups, benchmark files, DARTS beside DARTS+Shapley) share one program and compile each
    step once; the program, holding the defaults, cannot read the values it does not depend on."""
    resolved = json.loads(config.to_json_best_effort())
    defaults = json.loads(config_lib.base_config().to_json_best_effort())
    for option in PROGRAM_INDEPENDENT_OPTIONS:
        *blocks, name = option.split(".")
        target, default = resolved, defaults
        for block in blocks:
            target, default = target.get(block, {}), default[block]
        if name in target:
            target[name] = default[name]
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
                               resized_crop=c.data.resized_crop)
    drop_remainder = c.data.drop_remainder
    remainder = len(train_ds) % c.train.batch_size
    devices = c.mesh.devices or jax.device_count()
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
        A method without a supernet (``search.method="random"``: a benchmark-table lookup) is not a stepwise
        search.
        Compiled steps are kept in JAX's persistent compilation cache (see ``shapley_nas_jax.compilation_cache``).
        """
        enable_compilation_cache()
        config = config_lib.complete(config)
        if validate:
            config_lib.validate(config)
        if not get_method(config.search.method).supernet:
            raise ConfigError(f"search.method={config.search.method!r} has no supernet steps; use run_search for it")
        space = get_space(config.space)
        data = search_data(config)  # the exact streams run_search builds (seeds derived from config.seed)
        program = cached_program(program_config_json(config), space.name, tuple(data.image_shape),
                                 int(data.num_classes))
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

    @functools.cached_property
    def hyper(self) -> Hyperparameters:
        """What the compiled steps take as values (the learning-rate schedule's length and peak, the alpha rule's
        momentum and step size, the truncation threshold), placed on the mesh."""
        return self.program.place_state(Hyperparameters.from_config(self.config, steps_per_epoch=self.steps_per_epoch))

    def learning_rate(self, step: int) -> float:
        """The learning rate of weight step ``step``."""
        return float(self.program.schedule(self.hyper)(jnp.int32(step)))

    def bn_mode_at(self, state: SearchState) -> str:
        """BN mode (``running`` | ``batch``) the value function scores ``state`` with: ``shapley.bn_mode``'s
        mode for the epoch the state is in (a pure function of ``state.step``, so resumes keep it)."""
        modes = self.program.bn_modes
        if len(modes) == 1:
            return modes[0]
        epoch = int(state.step) // self.steps_per_epoch
        return bn_mode_at_epoch(self.config.shapley.bn_mode, epoch, int(self.config.train.epochs))

    def arch_update_due(self, state: SearchState) -> bool:
        """Whether an architecture update must run before the state's next weight step (or the end)."""
        return int(state.alpha_updates) < self.updates_due(int(state.step))

    # --------------------------------------------------------------------------------------- data
    def train_batch(self, step: int) -> dict:
        """Weight-step batch number ``step``: ``{"image": [B, H, W, C] float32, "label": [B] int32}``."""
        return self.program.put_train_batch(self.data.train_stream.batch(int(step)))

    def value_batches(self, update: int) -> dict:
        """The value batches of architecture update ``update``: ``{"image": [M, B', H, W, C], "label": [M, B']}``
        with ``B' = shapley.value_batch_size`` and ``M`` what the estimator ``shapley.estimator`` scores per
        update: ``shapley.samples`` for ``permutation`` (one per chain), 1 for those at a budget (every coalition
        on one batch)."""
        from shapley_nas_jax.shapley import get_estimator

        count = int(get_estimator(self.config.shapley.estimator).value_batches(self.config.shapley))
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
        return self.program.init_state(jax.random.PRNGKey(int(self.config.seed)))

    def weight_step(self, state: SearchState, batch: Mapping[str, jax.Array]) -> SearchState:
        """One SGD step of the supernet weights on ``batch`` (alpha is an input, never trained here)."""
        return self.program.weight_step(state, dict(batch), self.hyper)

    def shapley_step(self, state: SearchState, value_batches: Mapping[str, jax.Array]
                     ) -> tuple[SearchState, dict[str, jax.Array]]:
        """Estimate the ops' Shapley values on ``value_batches`` and move alpha by the alpha rule.

        Returns the new state (``state.arch.shapley`` = the estimate ``[cell_types, edges, ops]`` in value-metric
        units, 0 at non-players) and what the estimate says of itself (``steps.shapley_metrics``):
        ``num_evaluations``, ``num_computed``, ``shapley_se`` (shaped like alpha), ``chain_players_mean``,
        ``min_chain_length``, ``value_full``.
        """
        return self.program.shapley_step(state, dict(value_batches), self.hyper, bn_mode=self.bn_mode_at(state))

    def estimate_shapley(self, state: SearchState, value_batches: Mapping[str, jax.Array],
                         key: jax.Array | None = None) -> tuple[jax.Array, Estimate]:
        """Shapley values ``[cell_types, edges, ops]`` and the raw estimate over flat players, without moving
        alpha (state is not donated). ``key`` defaults to the key the next ``shapley_step`` would use."""
        if key is None:
            key = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
        return self.program.estimate_shapley(state, dict(value_batches), key, self.hyper,
                                             bn_mode=self.bn_mode_at(state))

    @property
    def method(self):
        """The search method (``SearchMethod``) of ``search.method``."""
        return self.program.method

    def arch_step(self, state: SearchState) -> tuple[SearchState, dict[str, jax.Array]]:
        """The next architecture update of the schedule, on the data ``run_search`` gives it (the method's
        ``arch_inputs``: Shapley-NAS ``value_batches(state.alpha_updates)``; DARTS ``train_batch(state.step)``
        and the update's value batch)."""
        inputs = self.method.arch_inputs(self, state)
        return self.program.arch_step(state, *inputs, self.hyper, bn_mode=self.bn_mode_at(state))

    def arch_step_label(self, state: SearchState) -> str | None:
        """The progress bar's name for the next architecture update (Shapley updates are announced: each takes
        many forward passes; the DARTS steps before every weight step are not)."""
        return self.method.arch_step_label(self, state)

    def compile_key(self, state: SearchState) -> str:
        """Which compiled architecture step the next update runs (one per BN mode of ``shapley.bn_mode``)."""
        return self.bn_mode_at(state)

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
        """End of search: the method's final choice (RSPS keeps its best drawn cell as alpha); with
        ``search.final_shapley`` Shapley values are estimated once more (alpha unchanged)."""
        return self.finish_with_metrics(state)[0]

    def finish_with_metrics(self, state: SearchState) -> tuple[SearchState, dict[str, dict]]:
        """:meth:`finish` and the metrics of what ran, by kind (``"final_choice"``: e.g. RSPS's drawn paths and
        their scores; ``"final_shapley"``: the estimate's scalars)."""
        return self.program.finish(state, lambda: self.value_batches(int(state.alpha_updates)),
                                   self.config.search.final_shapley, self.hyper, bn_mode=self.bn_mode_at(state))

    # ------------------------------------------------------------------------------------ results
    def op_strengths(self, state: SearchState) -> np.ndarray:
        """Float ``[cell_types, edges, ops]`` the genotype is derived from: softmax(alpha), or the last Shapley
        values with ``search.derive_from="shapley"``."""
        if self.config.search.derive_from == "shapley":
            return np.asarray(state.arch.shapley)
        return np.asarray(jax.nn.softmax(state.arch.alpha, axis=-1))

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
