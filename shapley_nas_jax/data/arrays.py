"""The `Dataset` contract and the datasets held in memory: `ArrayDataset` over numpy arrays and
`SubsetDataset`, an index view of another dataset (no image is copied).

Every source is a `Dataset`: random access by index, returning uint8 images `[B, H, W, C]` (pixel
values 0..255) and int32 labels `[B]`. Nothing here shuffles, augments or normalises; that is
`pipeline.py`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from shapley_nas_jax.data.errors import DataError

__all__ = ["Dataset", "ArrayDataset", "SubsetDataset", "channel_mean_std"]


@runtime_checkable
class Dataset(Protocol):
    """Random-access labelled images.

    Attributes:
      name: a human-readable name, e.g. ``"cifar10:train"``.
      num_classes: labels lie in ``[0, num_classes)``.
      image_shape: ``(H, W, C)`` of every image.
      mean, std: per-channel statistics of pixel/255, tuples of ``C`` floats, used to normalise.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __len__(self) -> int: ...

    def get_batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """Returns ``(images uint8 [B, H, W, C], labels int32 [B])`` for integer ``indices [B]``."""
        ...


def channel_mean_std(images: np.ndarray, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``images / 255`` for uint8 ``images [N, H, W, C]`` (chunked, float64)."""
    if len(images) == 0:
        raise DataError("cannot compute channel statistics of an empty image array")
    c = images.shape[-1]
    total = np.zeros(c)
    total_sq = np.zeros(c)
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].reshape(-1, c).astype(np.float64) / 255.0
        total += x.sum(axis=0)
        total_sq += np.square(x).sum(axis=0)
    count = images.size // c
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    std = np.where(std > 1e-8, std, 1.0)  # a constant channel is left unscaled instead of dividing by 0
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


class ArrayDataset:
    """An in-memory dataset over numpy arrays.

    Args:
      images: uint8 ``[N, H, W, C]``.
      labels: integer ``[N]`` in ``[0, num_classes)``.
      num_classes: defaults to ``labels.max() + 1``.
      name: a human-readable name.
      mean, std: per-channel statistics of pixel/255; computed from ``images`` when omitted.
      class_names: optional ``num_classes`` names, index = label.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        num_classes: int | None = None,
        name: str = "array",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
    ):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise DataError(
                f"ArrayDataset {name!r} needs uint8 images [N, H, W, C], got {images.dtype} {images.shape}"
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(
                f"ArrayDataset {name!r}: labels shape {labels.shape} does not match {len(images)} images"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"ArrayDataset {name!r} needs integer labels, got {labels.dtype}")
        if len(images) == 0:
            raise DataError(f"ArrayDataset {name!r} is empty")
        self.images = images
        self.labels = labels.astype(np.int32)
        self.num_classes = int(num_classes) if num_classes is not None else int(self.labels.max()) + 1
        if self.labels.min() < 0 or self.labels.max() >= self.num_classes:
            raise DataError(
                f"ArrayDataset {name!r}: labels span [{self.labels.min()}, {self.labels.max()}], "
                f"outside [0, {self.num_classes})"
            )
        self.name = name
        self.image_shape = tuple(int(d) for d in images.shape[1:])
        if mean is None or std is None:
            computed_mean, computed_std = channel_mean_std(images)
            mean = computed_mean if mean is None else mean
            std = computed_std if std is None else std
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.class_names = tuple(class_names) if class_names is not None else None

    def __len__(self) -> int:
        return len(self.images)

    def get_batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """``(images uint8 [B, H, W, C], labels int32 [B])``: one vectorised gather."""
        indices = np.asarray(indices, dtype=np.int64)
        return self.images[indices], self.labels[indices]

    def __repr__(self) -> str:
        return f"ArrayDataset({self.name!r}, n={len(self)}, image_shape={self.image_shape}, classes={self.num_classes})"


class SubsetDataset:
    """A view of ``base`` restricted to ``indices [M]`` (no image is copied).

    Example ``i`` of the view is example ``indices[i]`` of ``base``. Views of views collapse to one
    index map over the innermost base.
    """

    def __init__(self, base: Dataset, indices, name: str | None = None):
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1:
            raise DataError(f"subset indices must be 1-D, got shape {indices.shape}")
        if len(indices) and (indices.min() < 0 or indices.max() >= len(base)):
            raise DataError(f"subset indices out of range for the {len(base)}-image dataset {base.name!r}")
        if isinstance(base, SubsetDataset):
            indices = base.indices[indices]
            base = base.base
        self.base = base
        self.indices = indices
        self.name = name or f"{base.name}[subset]"
        self.num_classes = base.num_classes
        self.image_shape = base.image_shape
        self.mean = base.mean
        self.std = base.std
        self.class_names = getattr(base, "class_names", None)

    def __len__(self) -> int:
        return len(self.indices)

    def get_batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """``(images uint8 [B, H, W, C], labels int32 [B])`` of the view's examples ``indices [B]``."""
        return self.base.get_batch(self.indices[np.asarray(indices, dtype=np.int64)])

    def __repr__(self) -> str:
        return f"SubsetDataset({self.name!r}, n={len(self)}, base={self.base!r})"
