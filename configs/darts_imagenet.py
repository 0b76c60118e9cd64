"""Direct search on ImageNet (Sec. 4.1, Table 4 "Shapley-NAS†"; train_search_imagenet.py).

    shapley-nas search --config configs/darts_imagenet.py --workdir runs/imagenet

10% of the ImageNet training set trains the weights and 2.5% scores coalitions; the three-conv stride-2
stem, batch 1024, lr 0.5 with a 5-epoch linear warm-up, alpha frozen for the first 25 of 50 epochs.
Needs tfds `imagenet2012` prepared (manual download). The other settings are the reference CIFAR-10
search's (``darts_cifar10_reference.py``).
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
    c.shapley.bn_mode = "reference_imagenet"  # train mode until epoch 47, as train_search_imagenet.py
    c.shapley.keep_last_op = True  # its remove_players never removes the last op of an edge
    c.model.stem = "imagenet"
    c.train.batch_size = 1024
    c.train.learning_rate = 0.5
    c.train.lr_warmup_epochs = 5
    return c
