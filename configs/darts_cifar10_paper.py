"""The paper's equations on CIFAR-10 (Sec. 3.3-3.4 and 4.1).

    shapley-nas search --config configs/darts_cifar10_paper.py --workdir runs/c10-paper

DARTS op set of 8 (`none` is a null player and not scored), PC-DARTS K=4, 50 epochs with 15 warm-up, plain
Monte-Carlo mean of the marginal contributions, and eqs. 6-7 (normalised Shapley values, momentum 0.8,
normalised step 0.1). Needs tfds `cifar10` prepared. The paper's CIFAR-10 result: Table 3.
"""

from shapley_nas_jax.config import paper_cifar10_config


def get_config():
    return paper_cifar10_config()
