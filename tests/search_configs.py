"""Tiny search configs shared by the search-loop tests (small enough for 2 CPU cores)."""

from shapley_nas_jax.config import small_cpu_config


def tiny_config(space: str = "s2", **overrides):
    c = small_cpu_config(space)
    c.data.train_fraction = 0.3
    c.model.cells_per_stage = 1
    c.train.batch_size = 48
    c.train.learning_rate = 0.1
    c.train.eval_batches = 1
    c.shapley.value_batch_size = 32
    c.shapley.chunk_size = 8
    # Training steps with lax: at 8x8 pixels XLA compiles lax's convolutions and their autodiff faster than
    # the shifted formulation's custom VJPs, which test_formulations.py and test_supernet.py check instead.
    c.model.formulation = "lax"
    for key, value in overrides.items():
        node = c
        *path, leaf = key.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    return c
