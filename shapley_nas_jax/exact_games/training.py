"""Training a game's supernet (a warm-up-only search: weights only, alpha stays at its initialisation) and
the one fixed value batch its coalitions are scored on."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from shapley_nas_jax.exact_games.players import _kind
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.spaces import SearchSpace


def supernet_config(kind: str, dataset: str = "digits", *, epochs: int = 4, channels: int = 4, cells: int = 1,
                    image_size: int = 0, batch_size: int = 64, seed: int = 0, train_fraction: float = 0.5,
                    learning_rate: float = 0.1, partial_channels: int = 1) -> ml_collections.ConfigDict:
    """The search config training the supernet of game ``kind``: the ``small_cpu_config`` base with alpha
    frozen at its initialisation for the whole run (``search.warmup_epochs = train.epochs``).

    ``cells``: NB201 cells per stage, or DARTS cells (``model.layers``, at least 3). ``image_size``: 0 keeps
    the dataset's size (digits 8x8, CIFAR-10 32x32). Scoring is batched (vmapped chunks of coalitions).
    """
    from shapley_nas_jax.config import small_cpu_config, validate

    space_name = _kind(kind)[0]
    c = small_cpu_config(space_name)
    c.seed = int(seed)
    c.data.name = dataset
    c.data.image_size = int(image_size)
    c.data.train_fraction = float(train_fraction)
    c.data.value_fraction = 0.0
    c.data.crop_padding = 1 if (image_size or (8 if dataset == "digits" else 32)) <= 16 else 4
    c.data.flip = not dataset.startswith("digits")
    c.data.split_order = "random"
    c.model.channels = int(channels)
    c.model.cells_per_stage = int(cells)
    c.model.layers = max(int(cells), 3)
    c.model.partial_channels = int(partial_channels)
    # small images: lax's convolutions and their autodiff compile faster than the shifted formulation's VJPs
    c.model.formulation = "lax" if (image_size or (8 if dataset == "digits" else 32)) <= 16 else "auto"
    c.train.epochs = int(epochs)
    c.train.batch_size = int(batch_size)
    c.train.learning_rate = float(learning_rate)
    c.search.warmup_epochs = int(epochs)  # weights only: alpha never moves
    c.shapley.scoring = "batched"
    c.shapley.chunk_size = 1
    c.shapley.metric = "accuracy"
    c.shapley.bn_mode = "running"
    validate(c)
    return c


@dataclasses.dataclass
class TrainedSupernet:
    """A supernet after a warm-up-only search: the scoring model and its variables (alpha at init)."""

    config: ml_collections.ConfigDict
    space: SearchSpace
    model: Any  # the scoring model (vmappable over masks)
    params: Any
    batch_stats: Any
    alpha: jax.Array
    value_dataset: Any  # the value split (an ArrayDataset-like)
    train_accuracy: float  # over the last epoch's weight steps
    train_seconds: float


def train_supernet(config: ml_collections.ConfigDict, *, progress: bool = True) -> TrainedSupernet:
    """Run the search of ``config`` (weight steps only, see :func:`supernet_config`) and return its supernet."""
    from shapley_nas_jax.search.schedule import Search

    t0 = time.perf_counter()
    search = Search.from_config(config)
    state = search.init_state()
    spe = search.steps_per_epoch
    last_sums = np.zeros(3)
    bar = tqdm.tqdm(total=search.total_steps, unit="step", desc="train", disable=not progress, leave=False)
    batches = search.train_batches(0)
    try:
        for step, batch in enumerate(batches):
            state, _ = search.catch_up(state)  # no update is due: alpha stays frozen through the run
            state = search.weight_step(state, batch)
            bar.update(1)
            if (step + 1) % spe == 0:
                last_sums = np.asarray(state.epoch_sums, np.float64)
                bar.set_postfix(train_acc=f"{last_sums[1] / max(last_sums[2], 1):.3f}")
                state = search.end_epoch(state)
    finally:
        batches.close()
        bar.close()
    if int(state.alpha_updates):
        raise ConfigError("the supernet game's training run moved alpha; it must be a warm-up-only search")
    program = search.program
    weights = jax.block_until_ready(state.weights)
    return TrainedSupernet(
        config=config, space=search.space, model=program.scoring_model,
        params=program.scoring_variables(weights.params), batch_stats=program.scoring_variables(weights.batch_stats),
        alpha=jnp.asarray(state.arch.alpha), value_dataset=search.data.value_stream.dataset,
        train_accuracy=float(last_sums[1] / max(last_sums[2], 1.0)), train_seconds=time.perf_counter() - t0)


def value_batch(trained: TrainedSupernet, size: int, seed: int = 0) -> dict:
    """One fixed batch of ``size`` distinct value-split images (normalised, not augmented)."""
    from shapley_nas_jax import data as data_lib

    n = len(trained.value_dataset)
    if not 1 <= size <= n:
        raise ConfigError(f"value batch size {size} must lie in 1..{n} (images in the value split)")
    stream = data_lib.BatchStream(trained.value_dataset, size, seed=int(seed), augment=None)
    batch = stream.value_batches(0, 1)
    return {"image": jnp.asarray(batch["image"][0]), "label": jnp.asarray(batch["label"][0])}
