"""Train a genotype from scratch on ImageNet in the mobile setting (DARTS network, PC-DARTS schedule).

    shapley-nas train --genotype shapley_nas_imagenet --config configs/train_imagenet.py --workdir runs/eval-in
    shapley-nas train --genotype darts_v2 --config configs/train_imagenet.py \
        --config.data.name=folder:/data/imagenet --config.data.test_split=val --workdir runs/eval-in-folder

Network: C=48, 14 cells, two-stage stride-2 stem, auxiliary head (weight 0.4), no drop path, 224x224.
250 epochs, batch 1024, SGD lr 0.5 decayed linearly (smaller slope for the last 5 epochs) after a 5-epoch
linear warm-up, momentum 0.9, weight decay 3e-5, label smoothing 0.1, gradient clipping 5.
Augmentation as the original ImageNet training (``train_imagenet.py`` of DARTS and of the Shapley-NAS code):
``data.resized_crop`` (torchvision's RandomResizedCrop: a box of 8-100% of the area, aspect ratio 3/4-4/3,
resized back to 224x224) plus flip; ``crop_padding`` is then unused. Two differences remain: every image is
first scaled (shorter side) and centre-cropped to 224x224 as it is loaded, so the random box is drawn from
that image rather than the full-size one (test images get the same scaling, where the original resizes to
256 and centre-crops 224), and there is no ColorJitter. ``--config.data.resized_crop=False`` gives the padded
random crop (28 pixels) instead. Needs tfds `imagenet2012` (manual download) or an image folder with train/
and val/ splits.
"""

from shapley_nas_jax.evaluation.config import base_train_config


def get_config():
    c = base_train_config()
    c.data.name = "imagenet2012"
    c.data.image_size = 224
    c.data.resized_crop = True
    c.data.crop_padding = 28  # only with --config.data.resized_crop=False
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
