"""Shapley-NAS on RobustDARTS space S3, svhn (Table 1, row "Shapley-NAS").

    shapley-nas search --config configs/s3_svhn.py --workdir runs/s3-svhn

The reference search settings with the S3 op table. The DARTS rows of Table 1 use
--config.search.method=darts_2nd; DARTS+Shapley adds --config.search.final_shapley=True
--config.search.derive_from=shapley; DARTS+Shapley* also sets --config.search.freeze_alpha=True.
Needs tfds `svhn_cropped` prepared.
"""

from shapley_nas_jax.config import robust_darts_config


def get_config():
    return robust_darts_config("s3", "svhn_cropped")
