"""Shapley-NAS on NAS-Bench-201, searching directly on imagenet16 (Table 5).

    shapley-nas search --config configs/nb201_imagenet16.py --workdir runs/nb201-imagenet16 \
        --config.search.benchmark=/path/to/nb201_table.csv.gz

Pass an NB201 table or nats_bench file as search.benchmark to log the benchmark accuracy of the current
genotype every epoch. Needs tfds `imagenet16_120` prepared. The search settings are ``nb201_cifar10.py``'s: the paper's
algorithm by default, the original code's with the argument ``reference`` (that file's docstring lists where
the two differ).
"""

import os

from shapley_nas_jax.config import load_config_file


def get_config(algorithm: str = "paper"):
    c = load_config_file(os.path.join(os.path.dirname(__file__), "nb201_cifar10.py"), algorithm)
    c.data.name = "imagenet16_120"
    return c
