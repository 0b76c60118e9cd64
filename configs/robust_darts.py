"""Shapley-NAS on a RobustDARTS stress space (Table 1, row "Shapley-NAS"): the argument is `space,dataset`.

    shapley-nas search --config configs/robust_darts.py:s2,cifar10 --workdir runs/s2-cifar10
    shapley-nas search --config configs/robust_darts.py:s4,svhn --workdir runs/s4-svhn

Spaces s1, s2, s3, s4; datasets cifar10, cifar100, svhn (tfds `svhn_cropped`, without horizontal flips).
The reference search settings (the schema's defaults) with the space's op table. The DARTS rows of Table 1
use --config.search.method=darts_2nd; DARTS+Shapley adds --config.search.final_shapley=True
--config.search.derive_from=shapley; DARTS+Shapley* also sets --config.search.freeze_alpha=True.
Needs the tfds dataset prepared.
"""

from shapley_nas_jax.config import base_config
from shapley_nas_jax.errors import UserError

SPACES = ("s1", "s2", "s3", "s4")
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "svhn": "svhn_cropped"}  # argument -> tfds name


def get_config(space_and_dataset: str | None = None):
    # UserError, not a ValueError: ml_collections would wrap a ValueError in its traceback
    usage = (f"use --config configs/robust_darts.py:<space>,<dataset> with a space of {', '.join(SPACES)} and "
             f"a dataset of {', '.join(DATASETS)} (e.g. configs/robust_darts.py:s2,cifar10)")
    if space_and_dataset is None:
        raise UserError(f"configs/robust_darts.py needs a space and a dataset: {usage}")
    space, _, dataset = space_and_dataset.partition(",")
    if space not in SPACES or dataset not in DATASETS:
        raise UserError(f"configs/robust_darts.py:{space_and_dataset} is not a RobustDARTS experiment: {usage}")
    c = base_config()
    c.space = space
    c.data.name = DATASETS[dataset]
    if dataset == "svhn":
        c.data.flip = False  # flipped digits are different characters
    return c
