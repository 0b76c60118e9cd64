"""Image classification sources by name: the embedded digits set, tfds datasets and image folders.

Every source is a `Dataset` (`arrays.py`): random access by index, returning uint8 images
``[B, H, W, C]`` (pixel values 0..255) and int32 labels ``[B]``. Nothing here shuffles, augments or
normalises; that is `pipeline.py`'s job. `load_dataset` picks the source by name; each source's module
says more:

* ``digits`` (`digits.py`): scikit-learn's 8x8 handwritten digits, embedded, the default.
* ``cifar10``, ``cifar100``, ``svhn_cropped``, ``imagenet2012``, ``imagenet_resized/16x16``,
  ``imagenet16_120`` and ``tfds:<any registered name>`` (`tfds_source.py`): tfds ``data_source``
  datasets, in memory up to about 512 MB of pixels, lazy beyond.
* ``folder:<root>`` (`folders.py`): ``root/<split>/<class>/*.png|jpg|jpeg``.

Resizing (``image_size``, an int for square output or ``(height, width)``; `images.py`) scales the
shorter side to fit and centre-crops the rest (a plain resize when aspect ratios agree).

Normalisation statistics: every dataset carries per-channel ``mean`` and ``std`` of pixel/255;
published constants for the tfds datasets, computed from the data for folders and digits (digits
uses the statistics of its train split for both splits).
"""

from __future__ import annotations

from shapley_nas_jax.data.arrays import ArrayDataset, Dataset, SubsetDataset, channel_mean_std
from shapley_nas_jax.data.digits import load_digits
from shapley_nas_jax.data.errors import DataError, DatasetNotPreparedError
from shapley_nas_jax.data.folders import load_image_folder
from shapley_nas_jax.data.tfds_source import TFDS_SPECS, TfdsDataset, load_tfds

__all__ = [
    "DataError",
    "DatasetNotPreparedError",
    "Dataset",
    "ArrayDataset",
    "SubsetDataset",
    "TfdsDataset",
    "load_dataset",
    "load_digits",
    "load_tfds",
    "load_image_folder",
    "channel_mean_std",
    "KNOWN_DATASETS",
]

KNOWN_DATASETS = ("digits", *TFDS_SPECS, "folder:<path>", "tfds:<name>")


def load_dataset(name: str, split: str = "train", data_dir=None, image_size=None, **kwargs) -> Dataset:
    """Loads a dataset by name (see the module docstring for each).

    Args:
      name: ``digits``, ``cifar10``, ``cifar100``, ``svhn_cropped``, ``imagenet2012``,
        ``imagenet_resized/16x16``, ``imagenet16_120``, ``folder:<root>`` or ``tfds:<tfds name>``.
      split: ``train`` / ``test`` (tfds slices allowed for tfds names; a folder's sub-directory).
      data_dir: the tfds data directory (tfds names only).
      image_size: ``None`` (stored size), an int or ``(h, w)``.
      **kwargs: passed to `load_tfds` (``in_memory``) or `load_image_folder` (``num_workers``,
        ``mean``, ``std``).

    Returns:
      A `Dataset` of uint8 images ``[H, W, C]`` and int32 labels.
    """
    if name == "digits":
        return load_digits(split, image_size=image_size, **kwargs)
    if name.startswith("folder:"):
        return load_image_folder(name[len("folder:") :], split, image_size=image_size, **kwargs)
    if name.startswith("tfds:"):
        return load_tfds(name[len("tfds:") :], split, data_dir, image_size, **kwargs)
    if name in TFDS_SPECS:
        return load_tfds(name, split, data_dir, image_size, **kwargs)
    raise DataError(f"unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}")
