"""The paper's algorithm on CIFAR-10 (Sec. 3.3-3.4 and 4.1; its result: Table 3).

    shapley-nas search --config configs/darts_cifar10_paper.py --workdir runs/c10-paper

Needs tfds `cifar10` prepared. It is the reference search (``darts_cifar10_reference.py``) with every
behaviour the README lists as reference-only turned off. Where the paper and the original code differ, this
config follows:

* op set: the paper's DARTS 8 ops with `none` (a null player, not scored) (`space=darts`; original: 7 ops);
* aggregate: the plain Monte-Carlo mean (`shapley.aggregate=mean`; original: mean minus std);
* alpha rule: eqs. 6-7 (`alpha_rule.name=paper`; original: z-scored estimate, noisy initial momentum);
* warm-up: 15 of 50 epochs (`search.warmup_epochs=15`; original: 25);
* post-pool BN: DARTS' (`model.pool_bn=True`; original: none), as the paper builds on DARTS' op set;
* gradient clipping: the weights' gradients only (`train.clip_with_alpha_grad=False`);
* BN while scoring: running statistics (`shapley.bn_mode=running`; original: the mode the last epoch left);
* learning rate of epoch e: the cosine at e (`train.lr_epoch_offset=0`; original: at e + 1);
* search split: two random halves (`data.split_order=random`; original: first half / second half);
* last partial batch: dropped (`data.drop_remainder=True`; original: kept);
* classifier init: Flax's (`model.init=flax`; original: nn.Linear's).

Two stay as the original has them, since the paper says nothing that would change them: truncated players
count as 0 in their player's mean (`shapley.truncated=zero`), and a removed op's mixing weight is set to 0
without renormalising the others (`model.renormalize=False`, the paper's "masked out"). PC-DARTS' partial
channels (K=4) are the paper's too (Sec. 4.1).
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
    c.model.pool_bn = True
    c.search.warmup_epochs = 15
    c.shapley.aggregate = "mean"
    c.alpha_rule.name = "paper"
    return c
