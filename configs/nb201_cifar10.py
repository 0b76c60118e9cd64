"""Shapley-NAS on NAS-Bench-201, searching directly on cifar10 (Table 5).

    shapley-nas search --config configs/nb201_cifar10.py --workdir runs/nb201-cifar10 \
        --config.search.benchmark=/path/to/nb201_table.csv.gz
    shapley-nas search --config configs/nb201_cifar10.py:reference ...     # the original code's algorithm

Pass an NB201 table or nats_bench file as search.benchmark to log the benchmark accuracy of the current
genotype every epoch. Needs tfds `cifar10` prepared.

The NB201 cell: 16 channels, 5 cells per stage, no partial channels; batch 64, SGD lr 0.025 cosine to 0.001,
weight decay 5e-4, 512 value images per permutation. The other NB201 configs start from this one.

The original code has no NB201 search, so the paper (Sec. 3.3-3.4, 4.1) is the only specification, and by
default this config runs the paper's algorithm; the argument ``reference`` switches the three settings where
the original's DARTS-space search differs to its own. Where the paper and the original code differ:

* aggregate over the M permutations: the paper's plain Monte-Carlo mean (``reference``: mean minus std);
* alpha rule: the paper's eqs. 6-7 (``reference``: z-scored estimate, momentum from 1e-3 N(0, 1));
* warm-up: the paper's 15 of 50 epochs (``reference``: the original's 25 of 50);
* BN while scoring: running statistics (the paper says nothing; the original inherits the last train/eval
  mode, which NB201 would not have): both variants;
* gradient clipping without alpha's gradient, learning rate of epoch e from the cosine at e, a random search
  split, the last partial batch dropped, Flax's classifier init: the paper's DARTS protocol (the original's
  quirks are DARTS-space options, README "Paper and reference code"): both variants;
* truncated players count as 0, no renormalisation after removal (the paper says nothing; the original's):
  both variants.
"""

from shapley_nas_jax.config import base_config, set_algorithm


def get_config(algorithm: str = "paper"):
    c = base_config()
    c.space = "nb201"
    c.data.name = "cifar10"
    c.model.partial_channels = 1
    c.train.batch_size = 64
    c.train.learning_rate = 0.025
    c.train.learning_rate_min = 0.001
    c.train.weight_decay = 5e-4
    c.shapley.value_batch_size = 512
    set_algorithm(c, algorithm)
    return c
