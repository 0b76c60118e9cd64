"""Embedded demo: train DARTS V2's cell from scratch on scikit-learn's handwritten digits (no download).

    shapley-nas train --config configs/train_demo.py --workdir runs/train-demo
    shapley-nas train --config configs/train_demo.py --genotype shapley_nas_cifar10 --workdir runs/train-demo-snas

A 5-cell CIFAR-style network (8 channels, auxiliary head, drop path 0.2) on 16x16 digits for 4 epochs;
finishes in about a minute on 2 CPU cores and reports test accuracy (about 90%+), parameters and multiply-adds.
"""

from shapley_nas_jax.evaluation.config import base_train_config


def get_config():
    c = base_train_config()
    c.genotype = "darts_v2"
    c.data.name = "digits"
    c.data.image_size = 16
    c.data.crop_padding = 2
    c.data.flip = False  # flipped digits are different characters
    c.data.cutout = 0
    c.model.channels = 8
    c.model.layers = 5
    c.train.epochs = 4
    c.train.batch_size = 64
    c.train.learning_rate = 0.05
    return c
