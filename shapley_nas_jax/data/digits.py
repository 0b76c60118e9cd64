"""The embedded default dataset, ``digits``.

scikit-learn's handwritten digits (UCI "Optical Recognition of Handwritten Digits"): 1,797 real
8x8 grayscale images of the digits 0-9, shipped inside the scikit-learn wheel. It is the default
because it is *real* data (a search on it has a signal to find, unlike random arrays), it needs no
download and no TensorFlow (this project is developed and tested on machines without network), it
is small enough that a whole CPU search takes minutes, and scikit-learn is already a dependency.
Pixel values 0..16 are scaled to uint8 0..255. ``image_size=16`` upsamples (bilinear) so that a
random crop with padding keeps most of a digit. Splits: a fixed stratified 80/20 split with seed 0
(``train``: 1,437 images, ``test``: 360). Do not flip digits when augmenting: a mirrored digit is a
different glyph. Both splits carry the statistics of the train split.
"""

from __future__ import annotations

import numpy as np

from shapley_nas_jax.data.arrays import ArrayDataset, channel_mean_std
from shapley_nas_jax.data.errors import DataError
from shapley_nas_jax.data.images import as_size, resize_batch

__all__ = ["load_digits"]


def load_digits(split: str = "train", image_size=None) -> ArrayDataset:
    """scikit-learn's 8x8 handwritten digits as uint8 ``[N, S, S, 1]`` (see the module docstring).

    Args:
      split: ``"train"`` (1,437 images), ``"test"`` (360) or ``"all"`` (1,797); a fixed stratified
        80/20 split with seed 0.
      image_size: ``None`` keeps 8x8; an int or ``(h, w)`` resizes bilinearly (e.g. 16).
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    digits = _sk_load_digits()
    # 0..16 ink counts -> 0..255.
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int32)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    size = as_size(image_size)
    images = resize_batch(images, size)
    mean, std = channel_mean_std(images[train_idx])  # train statistics for every split
    chosen = {"train": train_idx, "test": test_idx, "all": np.arange(len(labels))}.get(split)
    if chosen is None:
        raise DataError(f"digits has splits 'train', 'test' and 'all', not {split!r}")
    return ArrayDataset(
        images[chosen],
        labels[chosen],
        num_classes=10,
        name=f"digits:{split}",
        mean=mean,
        std=std,
        class_names=[str(d) for d in range(10)],
    )
