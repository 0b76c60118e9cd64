"""Reproduces the original code's CIFAR-10 search (train_search.py, run/search_cifar10_shapley.sh).

    shapley-nas search --config configs/darts_cifar10_reference.py --workdir runs/c10-ref

7 ops (avg, max, skip, sep3, sep5, dil3, dil5; no `none`), PC-DARTS K=4, no post-pool BN, batch 256, SGD lr 0.1
cosine to 0, 50 epochs with 25 warm-up, one Shapley estimate (M=10, eta=0.5, 1024-image augmented value batch
per permutation, mean - std) and alpha update (z-score per cell type, momentum 0.8 from 1e-3*N(0,1), step 0.1)
at the start of each later epoch. Needs tfds `cifar10` prepared. The paper's CIFAR-10 result: Table 3.

The original's behaviours that the paper does not state, each an option set here (README: paper/reference):
`data.split_order=ordered` (first half trains, second scores), `data.drop_remainder=False` (98 steps per epoch),
`train.lr_epoch_offset=1` (scheduler stepped at each epoch's start), `train.clip_with_alpha_grad=True` (alpha's
never-zeroed gradient counts in the clipped norm), `shapley.bn_mode=reference_cifar` (BN mode left by the
previous epoch), `model.init=torch` (nn.Linear classifier).
"""

from shapley_nas_jax.config import base_config


def get_config():
    c = base_config()  # the defaults are the reference code's search
    c.data.name = "cifar10"
    c.data.split_order = "ordered"  # the first half of the training set trains the weights, the second scores
    c.data.drop_remainder = False  # the DataLoader keeps the last partial batch: 98 steps of 256 (the last 168)
    c.train.lr_epoch_offset = 1  # scheduler.step() at the start of every epoch
    c.train.clip_with_alpha_grad = True  # alpha.grad is never zeroed and counts in clip_grad_norm
    c.shapley.bn_mode = "reference_cifar"  # the estimate inherits the BN mode of the last train() / infer()
    c.model.init = "torch"  # the classifier is an nn.Linear
    return c
