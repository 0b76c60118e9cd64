"""Tiny search configs shared by the search-loop tests (small enough for 2 CPU cores)."""

from shapley_nas_jax.config import base_config


def tiny_config(space: str = "s2", **overrides):
    c = base_config()
    c.seed = 0
    c.space = space
    c.data.name = "digits"
    c.data.image_size = 8
    c.data.crop_padding = 1
    c.data.flip = False
    c.data.train_fraction = 0.3
    c.model.channels = 4
    c.model.layers = 3
    c.model.cells_per_stage = 1
    c.model.partial_channels = 1
    c.train.epochs = 3
    c.train.batch_size = 48
    c.train.eval_batches = 1
    c.search.warmup_epochs = 1
    c.shapley.samples = 2
    c.shapley.value_batch_size = 32
    c.shapley.chunk_size = 8
    for key, value in overrides.items():
        node = c
        *path, leaf = key.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    return c
