"""Shapley-NAS on NAS-Bench-201, searching directly on imagenet16 (Table 5).

    shapley-nas search --config configs/nb201_imagenet16.py --workdir runs/nb201-imagenet16 \
        --config.search.benchmark=/path/to/nb201_table.csv.gz

Pass an NB201 table or nats_bench file as search.benchmark to log the benchmark accuracy of the current
genotype every epoch. Needs tfds `imagenet16_120` prepared.
"""

from shapley_nas_jax.config import nb201_config


def get_config():
    return nb201_config("imagenet16_120")
