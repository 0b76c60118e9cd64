"""The training config: its schema (``base_train_config``, extended by ``configs/train_*.py``) and validation."""

from __future__ import annotations

import ml_collections

from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.evaluation.networks import NETWORKS
from shapley_nas_jax.genotypes import NB201Genotype
from shapley_nas_jax.ops.layers import CLASSIFIER_INITS
from shapley_nas_jax.optim import LR_SCHEDULES



def base_train_config() -> ml_collections.ConfigDict:
    """Defaults: DARTS' CIFAR-10 evaluation (quark0/darts cnn/train.py with --auxiliary --cutout)."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.genotype = ""  # library name | genotype string | JSON file; the --genotype flag overrides it

    c.data = ml_collections.ConfigDict()
    c.data.name = "cifar10"  # digits | cifar10 | cifar100 | svhn_cropped | imagenet2012 | folder:<root> | tfds:<name>
    c.data.data_dir = ""  # tfds data_dir ("" = tfds default)
    c.data.train_split = "train"
    c.data.test_split = "test"  # tfds imagenet2012 maps "test" to its validation split; folders: e.g. "val"
    c.data.image_size = 0  # 0 = native size; otherwise resize (folders, ImageNet, digits)
    c.data.crop_padding = 4  # random crop with this zero padding (0 = off)
    c.data.flip = True
    c.data.cutout = 16  # cutout length (0 = off)
    # torchvision's RandomResizedCrop (8-100% of the area, aspect 3/4-4/3, resized back) instead of the padded
    # crop: DARTS' ImageNet training
    c.data.resized_crop = False

    c.model = ml_collections.ConfigDict()
    c.model.network = "auto"  # auto (cifar for DARTS genotypes, nb201 for arch strings) | cifar | imagenet | nb201
    c.model.channels = 36  # DARTS initial channels C
    c.model.layers = 20  # DARTS cells
    c.model.auxiliary = True  # auxiliary head after the cell at 2/3 of the depth
    c.model.auxiliary_weight = 0.4
    c.model.drop_path_prob = 0.2  # final drop-path probability, ramped linearly from 0 over the epochs
    c.model.nb201_channels = 16
    c.model.nb201_cells_per_stage = 5
    c.model.init = "flax"  # classifier init: flax (Dense default) | torch (nn.Linear's, as DARTS' train.py)

    c.train = ml_collections.ConfigDict()
    c.train.epochs = 600
    c.train.batch_size = 96
    c.train.learning_rate = 0.025
    c.train.learning_rate_min = 0.0
    c.train.lr_schedule = "cosine"  # cosine (per epoch, to learning_rate_min) | linear (PC-DARTS ImageNet)
    c.train.lr_warmup_epochs = 0  # linear warm-up: lr * (epoch + 1) / warmup for the first epochs
    c.train.lr_epoch_offset = 0  # epoch e trains at the rate of epoch e + offset (the search's option; 0 here)
    c.train.momentum = 0.9
    c.train.nesterov = False
    c.train.weight_decay = 3e-4
    c.train.grad_clip = 5.0  # global-norm clipping (0 = off)
    c.train.label_smoothing = 0.0
    c.train.eval_every_epochs = 1  # test-set evaluation cadence (the last epoch is always evaluated)
    c.train.eval_batch_size = 256

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.keep = 2
    return c


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate_train_config(config: ml_collections.ConfigDict) -> None:
    """Raise ConfigError (one line) for an option the training loop cannot use."""
    m, t = config.model, config.train
    _require(m.network in ("auto", *NETWORKS),
             f"model.network={m.network!r} is not valid; choose auto, {', '.join(NETWORKS)}")
    _require(m.channels >= 2 and m.channels % 2 == 0, f"model.channels={m.channels} must be even and >= 2")
    _require(m.layers >= 3, f"model.layers={m.layers} must be >= 3 (two reduction cells)")
    _require(m.nb201_channels >= 1, "model.nb201_channels must be >= 1")
    _require(m.nb201_cells_per_stage >= 1, "model.nb201_cells_per_stage must be >= 1")
    _require(m.auxiliary_weight >= 0, "model.auxiliary_weight must be >= 0")
    _require(m.init in CLASSIFIER_INITS,
             f"model.init={m.init!r} is not valid; choose one of {', '.join(CLASSIFIER_INITS)}")
    _require(0 <= m.drop_path_prob < 1, f"model.drop_path_prob={m.drop_path_prob} must lie in [0, 1)")
    _require(t.epochs >= 1, f"train.epochs={t.epochs} must be >= 1")
    _require(t.batch_size >= 1, f"train.batch_size={t.batch_size} must be >= 1")
    _require(t.learning_rate > 0, "train.learning_rate must be > 0")
    _require(0 <= t.learning_rate_min <= t.learning_rate, "train.learning_rate_min must lie in [0, learning_rate]")
    _require(t.lr_schedule in LR_SCHEDULES,
             f"train.lr_schedule={t.lr_schedule!r} is not valid; choose {', '.join(LR_SCHEDULES)}")
    _require(t.lr_schedule != "linear" or t.epochs > 5, "train.lr_schedule='linear' needs more than 5 epochs")
    _require(t.lr_warmup_epochs >= 0, "train.lr_warmup_epochs must be >= 0")
    _require(0 <= t.momentum < 1, "train.momentum must lie in [0, 1)")
    _require(t.weight_decay >= 0, "train.weight_decay must be >= 0")
    _require(t.grad_clip >= 0, "train.grad_clip must be >= 0 (0 = off)")
    _require(0 <= t.label_smoothing < 1, "train.label_smoothing must lie in [0, 1)")
    _require(t.eval_every_epochs >= 1, "train.eval_every_epochs must be >= 1")
    _require(t.eval_batch_size >= 1, "train.eval_batch_size must be >= 1")
    _require(config.data.crop_padding >= 0, "data.crop_padding must be >= 0 (0 = off)")
    _require(config.data.cutout >= 0, "data.cutout must be >= 0 (0 = off)")
    _require(config.checkpoint.keep >= 1, "checkpoint.keep must be >= 1")


def resolve_network(config: ml_collections.ConfigDict, genotype) -> str:
    """The network kind for ``genotype`` under ``config.model.network`` (ConfigError when they disagree)."""
    network = config.model.network
    is_nb201 = isinstance(genotype, NB201Genotype)
    if network == "auto":
        return "nb201" if is_nb201 else "cifar"
    if is_nb201 != (network == "nb201"):
        what = "an NB201 arch string" if is_nb201 else "a DARTS genotype"
        raise ConfigError(f"model.network={network!r} cannot train {what}; use "
                          f"{'nb201 or auto' if is_nb201 else 'cifar, imagenet or auto'}")
    return network
