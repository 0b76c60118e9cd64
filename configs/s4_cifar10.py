"""Shapley-NAS on RobustDARTS space S4, cifar10 (Table 1, row "Shapley-NAS").

    shapley-nas search --config configs/s4_cifar10.py --workdir runs/s4-cifar10

The reference search settings with the S4 op table. The DARTS rows of Table 1 use
--config.search.method=darts_2nd; DARTS+Shapley adds --config.search.final_shapley=True
--config.search.derive_from=shapley; DARTS+Shapley* also sets --config.search.freeze_alpha=True.
Needs tfds `cifar10` prepared.
"""

from shapley_nas_jax.config import robust_darts_config


def get_config():
    return robust_darts_config("s4", "cifar10")
