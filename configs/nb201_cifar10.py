"""Shapley-NAS on NAS-Bench-201, searching directly on cifar10 (Table 5).

    shapley-nas search --config configs/nb201_cifar10.py --workdir runs/nb201-cifar10 \
        --config.search.benchmark=/path/to/nb201_table.csv.gz

Pass an NB201 table or nats_bench file as search.benchmark to log the benchmark accuracy of the current
genotype every epoch. Needs tfds `cifar10` prepared.

The NB201 cell: 16 channels, 5 cells per stage, no partial channels; batch 64, SGD lr 0.025 cosine to 0.001,
weight decay 5e-4, 512 value images per permutation. The other NB201 configs start from this one.
"""

from shapley_nas_jax.config import base_config


def get_config():
    c = base_config()
    c.space = "nb201"
    c.data.name = "cifar10"
    c.model.partial_channels = 1
    c.train.batch_size = 64
    c.train.learning_rate = 0.025
    c.train.learning_rate_min = 0.001
    c.train.weight_decay = 5e-4
    c.shapley.value_batch_size = 512
    return c
