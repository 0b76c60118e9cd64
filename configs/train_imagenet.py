"""Train a genotype from scratch on ImageNet in the mobile setting (DARTS network, PC-DARTS schedule).

    shapley-nas train --genotype shapley_nas_imagenet --config configs/train_imagenet.py --workdir runs/eval-in
    shapley-nas train --genotype darts_v2 --config configs/train_imagenet.py \
        --config.data.name=folder:/data/imagenet --config.data.test_split=val --workdir runs/eval-in-folder

Network: C=48, 14 cells, two-stage stride-2 stem, auxiliary head (weight 0.4), no drop path, 224x224.
250 epochs, batch 1024, SGD lr 0.5 decayed linearly (smaller slope for the last 5 epochs) after a 5-epoch
linear warm-up, momentum 0.9, weight decay 3e-5, label smoothing 0.1, gradient clipping 5.
Augmentation here is a random crop with 28 pixels of zero padding plus flip (the data layer has no
RandomResizedCrop / ColorJitter, which the reference uses). Needs tfds `imagenet2012` (manual download) or an
image folder with train/ and val/ splits.
"""

from shapley_nas_jax.evaluation.config import base_train_config


def get_config():
    c = base_train_config()
    c.data.name = "imagenet2012"
    c.data.image_size = 224
    c.data.crop_padding = 28
    c.data.cutout = 0
    c.model.network = "imagenet"
    c.model.channels = 48
    c.model.layers = 14
    c.model.drop_path_prob = 0.0
    c.train.epochs = 250
    c.train.batch_size = 1024
    c.train.learning_rate = 0.5
    c.train.lr_schedule = "linear"
    c.train.lr_warmup_epochs = 5
    c.train.weight_decay = 3e-5
    c.train.label_smoothing = 0.1
    c.train.eval_batch_size = 500
    return c
