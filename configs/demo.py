"""Embedded demo: a small Shapley-NAS search on scikit-learn's handwritten digits (no download).

    shapley-nas search                      # this config is the default
    shapley-nas search --config configs/demo.py --workdir runs/demo --config.shapley.samples=6

A 3-cell DARTS supernet (reference op set, 8 channels, partial channels K=2) on 16x16 digits: 8 epochs,
the first 3 warm up the weights, then one Shapley estimate (M=4 permutations) and alpha update at the start
of each epoch. Finishes in a few minutes on 2 CPU cores and prints the found cell.
"""

from shapley_nas_jax.config import base_config


def get_config():
    c = base_config()
    c.seed = 0
    c.data.name = "digits"
    c.data.image_size = 16
    c.data.flip = False  # flipped digits are different characters
    c.data.crop_padding = 2
    c.model.channels = 8
    c.model.layers = 3
    c.model.partial_channels = 2
    c.train.epochs = 8
    c.train.batch_size = 64
    c.train.learning_rate = 0.05
    c.search.warmup_epochs = 3
    c.shapley.samples = 4
    c.shapley.value_batch_size = 256
    c.shapley.chunk_size = 16
    return c
