"""The paper's equations on CIFAR-10 (Sec. 3.3-3.4 and 4.1).

    shapley-nas search --config configs/darts_cifar10_paper.py --workdir runs/c10-paper

DARTS op set of 8 (`none` is a null player and not scored), PC-DARTS K=4, 50 epochs with 15 warm-up, plain
Monte-Carlo mean of the marginal contributions, and eqs. 6-7 (normalised Shapley values, momentum 0.8,
normalised step 0.1). Needs tfds `cifar10` prepared. The paper's CIFAR-10 result: Table 3.

It is the reference search (``darts_cifar10_reference.py``) with the reference-only behaviours turned off; the
paper specifies neither the split's order nor the scheduler's.
"""

import os

from shapley_nas_jax.config import load_config_file


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(__file__), "darts_cifar10_reference.py"))
    c.space = "darts"
    c.data.split_order = "random"
    c.data.drop_remainder = True
    c.train.lr_epoch_offset = 0
    c.train.clip_with_alpha_grad = False
    c.shapley.bn_mode = "running"
    c.model.init = "flax"
    c.search.warmup_epochs = 15
    c.shapley.aggregate = "mean"
    c.alpha_rule.name = "paper"
    return c
