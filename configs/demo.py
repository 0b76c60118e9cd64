"""Embedded demo: a small Shapley-NAS search on scikit-learn's handwritten digits (no download).

    shapley-nas search                      # this config is the default
    shapley-nas search --config configs/demo.py --workdir runs/demo --config.shapley.samples=6

A 3-cell DARTS supernet (the reference op set, 8 channels) on the 8x8 digits: 6 epochs, the first 2 warm up
the weights, then one Shapley estimate (M=3 permutations, 96 images each) and alpha update at the start of
each epoch. Partial channels are off: at 8 channels the PC-DARTS bypass (summed unscaled over every incoming
edge) makes the tiny supernet's outputs large and its first epochs unstable. Finishes in a few minutes on
2 CPU cores and prints the found cell.
"""

from shapley_nas_jax.config import base_config


def get_config():
    c = base_config()
    c.seed = 0
    c.data.name = "digits"
    c.data.flip = False  # flipped digits are different characters
    c.data.crop_padding = 1
    c.model.channels = 8
    c.model.layers = 3
    c.model.partial_channels = 1
    c.train.epochs = 6
    c.train.batch_size = 32
    c.train.learning_rate = 0.05
    c.search.warmup_epochs = 2
    c.shapley.samples = 3
    c.shapley.value_batch_size = 96
    c.shapley.chunk_size = 8
    return c
