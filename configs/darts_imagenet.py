"""Direct search on ImageNet (Sec. 4.1, Table 4 "Shapley-NAS†"), as the original's train_search_imagenet.py
with model_search_imagenet.py runs it.

    shapley-nas search --config configs/darts_imagenet.py --workdir runs/imagenet

Needs tfds `imagenet2012` prepared (manual download). Option by option against the original (each checked in
tests/test_configs.py; the supernet's logits by the parity tests against model_search_imagenet.Network):

* data: 10% of the training set trains the weights and 2.5% scores coalitions, drawn at random
  (`data.split_order=random`; the original reads two folders prepared so, as PC-DARTS describes), both
  augmented with RandomResizedCrop(224) + flip (`data.resized_crop`, `data.augment_value_batches`), the last
  partial batch kept (`data.drop_remainder=False`: the DataLoader's default);
* supernet: the three stride-2 conv stem to 3C channels (`model.stem=imagenet`), the original's 7 ops, K=4,
  no post-pool BN, `nn.Linear` classifier init (`model.init=torch`);
* weights: batch 1024, SGD lr 0.5 cosine to 0 over 50 epochs stepped at each epoch's start
  (`train.lr_epoch_offset=1`) with a linear warm-up over the first 5 epochs (`train.lr_warmup_epochs=5`),
  momentum 0.9, weight decay 3e-4, the weights' gradients clipped at 5 *without* alpha's: the original's
  alphas are plain tensors outside `model.parameters()` (`train.clip_with_alpha_grad=False`, unlike its
  CIFAR search);
* Shapley: updates at the start of epochs 25-49 (`search.warmup_epochs=25`: `epochs // 2`), M=10 chains of
  a fresh 1024-image batch each, eta 0.5, mean minus std, the z-score rule (momentum 0.8 from 1e-3 N(0, 1),
  step 0.1), BN in train mode until epoch 47 and in eval mode after (`shapley.bn_mode=reference_imagenet`),
  never removing an edge's last op (`shapley.keep_last_op`).

One difference remains, not an option: during the warm-up epochs the original sets the rate to
`0.5 * (epoch + 1) / 5`, where this multiplies the cosine's rate by `(epoch + 1) / 5`, at most 2.5% lower
(the cosine of epoch 5 of 50 is 0.976 of 0.5). This is the original code's algorithm (mean minus std, the
z-score rule); the paper states no other settings for the ImageNet search.
"""

import os

from shapley_nas_jax.config import load_config_file


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(__file__), "darts_cifar10_reference.py"))
    c.data.name = "imagenet2012"
    c.data.image_size = 224
    c.data.train_fraction = 0.1
    c.data.value_fraction = 0.025
    c.data.split_order = "random"  # subsets drawn across the whole training set, not its first images
    c.data.crop_padding = 0
    c.data.resized_crop = True  # RandomResizedCrop(224) + flip, as train_search_imagenet.py
    c.train.clip_with_alpha_grad = False  # alphas are Variables outside model.parameters(): never clipped
    c.shapley.bn_mode = "reference_imagenet"  # train mode until epoch 47, as train_search_imagenet.py
    c.shapley.keep_last_op = True  # its remove_players never removes the last op of an edge
    c.model.stem = "imagenet"
    c.train.batch_size = 1024
    c.train.learning_rate = 0.5
    c.train.lr_warmup_epochs = 5
    return c
