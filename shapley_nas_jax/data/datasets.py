"""Image classification sources: the embedded digits set, tfds datasets and image folders.

Every source is a `Dataset`: random access by index, returning uint8 images `[B, H, W, C]` (pixel
values 0..255) and int32 labels `[B]`. Nothing here shuffles, augments or normalises; that is
`pipeline.py`'s job.

Embedded default: ``digits``
    scikit-learn's handwritten digits (UCI "Optical Recognition of Handwritten Digits"): 1,797 real
    8x8 grayscale images of the digits 0-9, shipped inside the scikit-learn wheel. It is the default
    because it is *real* data (a search on it has a signal to find, unlike random arrays), it needs no
    download and no TensorFlow (this project is developed and tested on machines without network), it
    is small enough that a whole CPU search takes minutes, and scikit-learn is already a dependency.
    Pixel values 0..16 are scaled to uint8 0..255. ``image_size=16`` upsamples (bilinear) so that a
    random crop with padding keeps most of a digit. Splits: a fixed stratified 80/20 split with seed 0
    (``train``: 1,437 images, ``test``: 360). Do not flip digits when augmenting: a mirrored digit is a
    different glyph.

tfds datasets: ``cifar10``, ``cifar100``, ``svhn_cropped``, ``imagenet2012``,
``imagenet_resized/16x16``, ``imagenet16_120`` and ``tfds:<any registered name>``
    Read through ``tfds.data_source`` (random access over ArrayRecord files; no TensorFlow needed once
    the dataset is prepared in ``array_record`` format). Preparing needs TensorFlow and network once:
    ``pip install 'shapley-nas-jax[tf]' && tfds build cifar10 --file_format=array_record``.
    Splits of up to about 512 MB of pixels load fully into memory as an `ArrayDataset`;
    larger ones (``imagenet2012``, ``imagenet_resized/16x16``) stay lazy and decode per example in
    `get_batch`. ``imagenet16_120`` is ``imagenet_resized/16x16`` restricted to labels 0..119. It
    approximates NAS-Bench-201's ImageNet16-120 (the first 120 classes of Chrabaszcz et al.'s 16x16
    downsampled ImageNet) but is *not the same file*: tfds re-encodes the images and the equivalence
    of its label order with NB201's class ids is unverified, so NB201 table look-ups for
    ImageNet16-120 are indicative only. Building it decodes the whole 1.28M-image split once per
    load (about a minute or two).

Image folders: ``folder:<root>`` or `load_image_folder`
    ``root/<split>/<class>/*.png|jpg|jpeg``, classes sorted by name (the class list of
    ``root/train`` is used for every split when it exists, so labels agree across splits), decoded
    with Pillow in a thread pool. Grayscale-only folders give ``C == 1``, anything else RGB.

Resizing (``image_size``, an int for square output or ``(height, width)``) scales the shorter side
to fit and centre-crops the rest (a plain resize when aspect ratios agree).

Normalisation statistics: every dataset carries per-channel ``mean`` and ``std`` of pixel/255;
published constants for the tfds datasets, computed from the data for folders and digits (digits
uses the statistics of its train split for both splits).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import pathlib
import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from shapley_nas_jax.errors import UserError

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

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

# Splits with more pixel bytes than this stay lazy (decoded per example) instead of loading fully.
IN_MEMORY_LIMIT_BYTES = 512 * 2**20


class DataError(UserError, ValueError):
    """A dataset cannot be loaded or used as asked; the message says why in one line."""


class DatasetNotPreparedError(DataError):
    """A tfds dataset is not prepared (in ArrayRecord format) in the data directory."""


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


# --------------------------------------------------------------------------------------------------
# Resizing and decoding helpers


def _as_size(image_size) -> tuple[int, int] | None:
    """``None | int | (h, w)`` -> ``None | (h, w)``."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise DataError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return size


def _resize_pil(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale the shorter side to fit ``size`` (h, w) and centre-crop the rest (bilinear)."""
    h, w = size
    if (img.height, img.width) == (h, w):
        return img
    scale = max(h / img.height, w / img.width)
    new_h = max(h, round(img.height * scale))
    new_w = max(w, round(img.width * scale))
    img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top = (new_h - h) // 2
    left = (new_w - w) // 2
    return img.crop((left, top, left + w, top + h))


def _resize_array(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one uint8 ``[H, W, C]`` image to ``[h, w, C]`` (see `_resize_pil`)."""
    if image.shape[:2] == size:
        return image
    c = image.shape[-1]
    img = Image.fromarray(image[..., 0] if c == 1 else image)
    out = np.asarray(_resize_pil(img, size))
    return out[..., None] if c == 1 else out


def _resize_batch(images: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize uint8 ``[N, H, W, C]`` to ``[N, h, w, C]``."""
    if size is None or images.shape[1:3] == size:
        return images
    return np.stack([_resize_array(im, size) for im in images])


_POOL_LOCK = threading.Lock()
_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _decode_pool() -> concurrent.futures.ThreadPoolExecutor:
    """A shared thread pool for image decoding (Pillow releases the GIL while decoding)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(
                max_workers=min(16, os.cpu_count() or 1), thread_name_prefix="shapley-nas-decode"
            )
        return _POOL


# --------------------------------------------------------------------------------------------------
# Embedded digits


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
    size = _as_size(image_size)
    images = _resize_batch(images, size)
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


# --------------------------------------------------------------------------------------------------
# tfds


@dataclasses.dataclass(frozen=True)
class _TfdsSpec:
    tfds_name: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    max_label: int | None = None  # keep only examples with label < max_label (ImageNet16-120)
    test_split: str = "test"  # what split="test" means for this dataset
    default_image_size: int | None = None  # for datasets whose images vary in size


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

_TFDS_SPECS = {
    # CIFAR constants as in DARTS / NB201.
    "cifar10": _TfdsSpec("cifar10", (0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)),
    "cifar100": _TfdsSpec("cifar100", (0.50707516, 0.48654887, 0.44091784), (0.26733429, 0.25643846, 0.27615047)),
    "svhn_cropped": _TfdsSpec("svhn_cropped", (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "imagenet2012": _TfdsSpec(
        "imagenet2012", _IMAGENET_MEAN, _IMAGENET_STD, test_split="validation", default_image_size=224
    ),
    "imagenet_resized/16x16": _TfdsSpec(
        "imagenet_resized/16x16", _IMAGENET_MEAN, _IMAGENET_STD, test_split="validation"
    ),
    # NB201's ImageNet16-120 statistics.
    "imagenet16_120": _TfdsSpec(
        "imagenet_resized/16x16",
        tuple(x / 255 for x in (122.68, 116.66, 104.01)),
        tuple(x / 255 for x in (63.22, 61.26, 65.09)),
        max_label=120,
        test_split="validation",
    ),
}

KNOWN_DATASETS = ("digits", *_TFDS_SPECS, "folder:<path>", "tfds:<name>")


def _default_tfds_dir(data_dir) -> str:
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _open_tfds_source(name: str, split: str, data_dir):
    """``tfds.data_source`` with every failure turned into a one-line `DataError`."""
    import tensorflow_datasets as tfds

    where = _default_tfds_dir(data_dir)
    build = (
        f"prepare it once (needs TensorFlow and network) with: pip install 'shapley-nas-jax[tf]' && "
        f"tfds build {name} --file_format=array_record --data_dir={where}"
    )
    try:
        # download=False: never try to download or build here (no TensorFlow, maybe no network).
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as exc:  # noqa: BLE001 - tfds raises many types; all are reported in one line
        error = exc
    # Diagnose outside the except block so that no chained tfds traceback is printed.
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"unknown tfds dataset {name!r}: {_first_line(exc)}") from None
    if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
        build += f" after placing its manual download in {where}/downloads/manual"
    if not builder.is_prepared():
        raise DatasetNotPreparedError(f"tfds dataset {name!r} is not prepared in {where}; {build}") from None
    if "file format" in str(error).lower():
        raise DatasetNotPreparedError(
            f"tfds dataset {name!r} in {builder.data_dir} is prepared as {builder.info.file_format.value}, "
            f"but random access needs array_record; {build}"
        ) from None
    raise DataError(f"cannot open tfds dataset {name!r} split {split!r}: {_first_line(error)}") from None


def _read_examples(source, indices, image_size: tuple[int, int] | None, image_key: str, label_key: str):
    """Reads and decodes ``source[i]`` for ``indices`` in the decode pool.

    Returns ``(images uint8 [B, h, w, C], labels int32 [B])``. ArrayRecord data sources are
    thread-safe; Pillow releases the GIL while decoding, so the threads overlap.
    """

    def read(i):
        example = source[int(i)]
        image = np.asarray(example[image_key])
        if image.ndim == 2:
            image = image[..., None]
        if image_size is not None:
            image = _resize_array(image, image_size)
        return image, int(example[label_key])

    results = list(_decode_pool().map(read, indices)) if len(indices) > 1 else [read(i) for i in indices]
    shapes = {r[0].shape for r in results}
    if len(shapes) > 1:
        raise DataError(f"images of different sizes {sorted(shapes)}; pass image_size=... to resize them")
    images = np.stack([r[0] for r in results]).astype(np.uint8, copy=False)
    labels = np.asarray([r[1] for r in results], dtype=np.int32)
    return images, labels


class TfdsDataset:
    """A lazy dataset over a tfds data source: each `get_batch` reads and decodes its examples.

    Args:
      source: a ``tfds.data_source`` (any ``__len__`` / ``__getitem__`` of example dicts).
      name: a human-readable name.
      num_classes: number of label values.
      image_shape: ``(H, W, C)`` after resizing; must be fixed.
      mean, std: per-channel statistics of pixel/255.
      image_size: ``(h, w)`` to resize every decoded image to, or ``None`` if images already have
        ``image_shape``.
      index_map: optional ``[N]`` record indices of the source that make up this dataset.
    """

    def __init__(
        self,
        source,
        name: str,
        num_classes: int,
        image_shape: tuple[int, int, int],
        mean: Sequence[float],
        std: Sequence[float],
        image_size: tuple[int, int] | None = None,
        index_map=None,
        image_key: str = "image",
        label_key: str = "label",
        class_names: Sequence[str] | None = None,
    ):
        self.source = source
        self.name = name
        self.num_classes = int(num_classes)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.image_size = image_size
        self.index_map = None if index_map is None else np.asarray(index_map, dtype=np.int64)
        self.image_key = image_key
        self.label_key = label_key
        self.class_names = tuple(class_names) if class_names is not None else None

    def __len__(self) -> int:
        return len(self.source) if self.index_map is None else len(self.index_map)

    def get_batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """``(images uint8 [B, H, W, C], labels int32 [B])``, decoded (and resized) on the fly."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"index out of range for the {len(self)}-image dataset {self.name!r}")
        records = indices if self.index_map is None else self.index_map[indices]
        if len(records) == 0:
            return np.zeros((0, *self.image_shape), np.uint8), np.zeros((0,), np.int32)
        return _read_examples(self.source, records, self.image_size, self.image_key, self.label_key)

    def __repr__(self) -> str:
        return f"TfdsDataset({self.name!r}, n={len(self)}, image_shape={self.image_shape})"


def _load_all(source, image_size, image_key, label_key, chunk: int = 4096):
    """Reads a whole data source into ``(images uint8 [N, H, W, C], labels int32 [N])``."""
    images, labels = [], []
    for start in range(0, len(source), chunk):
        idx = np.arange(start, min(start + chunk, len(source)))
        im, lb = _read_examples(source, idx, image_size, image_key, label_key)
        images.append(im)
        labels.append(lb)
    shapes = sorted({im.shape[1:] for im in images})
    if len(shapes) > 1:
        raise DataError(f"images of different sizes {shapes}; pass image_size=... to resize them")
    return np.concatenate(images), np.concatenate(labels)


def load_tfds(
    name: str,
    split: str = "train",
    data_dir=None,
    image_size=None,
    in_memory: bool | None = None,
):
    """A tfds dataset read through ``tfds.data_source`` (ArrayRecord, no TensorFlow at read time).

    Args:
      name: a key of the known table (``cifar10``, ``cifar100``, ``svhn_cropped``, ``imagenet2012``,
        ``imagenet_resized/16x16``, ``imagenet16_120``) or any registered tfds name with an
        ``image`` and a ``label`` (ClassLabel) feature.
      split: a tfds split, slices allowed (``"train[:10%]"``); ``"test"`` means ``"validation"`` for
        the ImageNet variants, which have no test split.
      data_dir: the tfds data directory (default ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      image_size: ``None`` keeps the stored size (required to be fixed unless the dataset has a
        default, 224 for ``imagenet2012``); an int or ``(h, w)`` resizes.
      in_memory: ``True`` decodes the whole split into an `ArrayDataset`, ``False`` keeps a lazy
        `TfdsDataset`; ``None`` chooses by size (<= 512 MB of pixels in memory).

    Raises:
      DatasetNotPreparedError: the dataset is not prepared in ArrayRecord format in ``data_dir``.
      DataError: anything else tfds reports, in one line.
    """
    spec = _TFDS_SPECS.get(name, _TfdsSpec(name))
    if split == "test":
        split = spec.test_split
    source = _open_tfds_source(spec.tfds_name, split, data_dir)
    features = source.dataset_info.features
    if "image" not in features or "label" not in features:
        raise DataError(f"tfds dataset {name!r} needs 'image' and 'label' features, has {sorted(features.keys())}")
    label_feature = features["label"]
    num_classes = getattr(label_feature, "num_classes", None)
    if num_classes is None:
        raise DataError(f"tfds dataset {name!r}: its 'label' feature is not a ClassLabel")
    class_names = getattr(label_feature, "names", None)
    stored_shape = tuple(features["image"].shape)  # (H, W, C), None where it varies
    size = _as_size(image_size if image_size is not None else spec.default_image_size)
    if size is None and None in stored_shape[:2]:
        raise DataError(f"tfds dataset {name!r} has images of varying size {stored_shape}; pass image_size=...")
    channels = stored_shape[2] if stored_shape[2] is not None else 3
    image_shape = (*(size or stored_shape[:2]), channels)
    display = f"{name}:{split}"

    if spec.max_label is not None:
        # Filtering needs every label, which means decoding every record once: load fully.
        images, labels = _load_all(source, size, "image", "label")
        keep = labels < spec.max_label
        names = class_names[: spec.max_label] if class_names else None
        return ArrayDataset(
            images[keep], labels[keep], spec.max_label, display, spec.mean, spec.std, names
        )
    if in_memory is None:
        in_memory = len(source) * int(np.prod(image_shape)) <= IN_MEMORY_LIMIT_BYTES
    if in_memory:
        images, labels = _load_all(source, size, "image", "label")
        return ArrayDataset(images, labels, num_classes, display, spec.mean, spec.std, class_names)
    if spec.mean is None:
        # Estimate statistics of an unknown lazy dataset from a fixed sample of up to 2,048 images.
        sample = np.random.default_rng(0).choice(len(source), size=min(2048, len(source)), replace=False)
        mean, std = channel_mean_std(_read_examples(source, np.sort(sample), size, "image", "label")[0])
    else:
        mean, std = spec.mean, spec.std
    return TfdsDataset(source, display, num_classes, image_shape, mean, std, size, class_names=class_names)


# --------------------------------------------------------------------------------------------------
# Image folders


def _list_classes(split_dir: pathlib.Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _decode_file(path: pathlib.Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image file -> uint8 ``[H, W, 1]`` (grayscale) or ``[H, W, 3]``."""
    try:
        with Image.open(path) as img:
            img = img.convert("L") if img.mode in ("L", "1", "LA", "I", "I;16", "F") else img.convert("RGB")
            if size is not None:
                img = _resize_pil(img, size)
            array = np.asarray(img, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - Pillow raises several types for bad files
        raise DataError(f"cannot decode image {path}: {_first_line(exc)}") from None
    return array[..., None] if array.ndim == 2 else array


def load_image_folder(
    root,
    split: str = "train",
    image_size=None,
    num_workers: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> ArrayDataset:
    """Decodes ``root/<split>/<class>/*.png|jpg|jpeg`` into an `ArrayDataset`.

    Labels follow the sorted class-folder names of ``root/train`` when it exists (so every split
    agrees), else of ``root/<split>``. Images must all have one size unless ``image_size`` (int or
    ``(h, w)``) is given, which resizes them. ``mean``/``std`` default to the split's own statistics.

    Raises:
      DataError: root or split missing, no images, fewer than two classes, an undecodable file, or
        mixed image sizes without ``image_size`` - each in one line naming the path.
    """
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    split_dir = root / split
    if not split_dir.is_dir():
        splits = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(
            f"image folder {root} has no split {split!r} (expected {split_dir}/<class>/*.png|jpg); "
            f"found: {', '.join(splits) or 'nothing'}"
        )
    train_dir = root / "train"
    classes = _list_classes(train_dir if train_dir.is_dir() else split_dir)
    split_classes = _list_classes(split_dir)
    unknown = sorted(set(split_classes) - set(classes))
    if unknown:
        raise DataError(f"{split_dir} has classes {unknown} that {train_dir} lacks; labels would disagree")
    if len(classes) < 2:
        raise DataError(
            f"image folder {split_dir} has {len(classes)} class folder(s); a classifier needs at least 2 "
            f"(layout: {split_dir}/<class>/*.png|jpg)"
        )

    files: list[pathlib.Path] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        class_dir = split_dir / cls
        if not class_dir.is_dir():
            continue
        found = sorted(
            p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        files.extend(found)
        labels.extend([label] * len(found))
    if not files:
        raise DataError(f"image folder {split_dir} contains no .png/.jpg/.jpeg images in its class folders")
    if len(set(labels)) < 2 and split == "train":
        raise DataError(f"image folder {split_dir} has images of only one class ({classes[labels[0]]!r})")

    size = _as_size(image_size)
    workers = num_workers or min(16, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        arrays = list(pool.map(lambda p: _decode_file(p, size), files))

    # Grayscale and colour mixed: promote the grayscale images to RGB.
    if len({a.shape[-1] for a in arrays}) > 1:
        arrays = [np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in arrays]
    first = arrays[0].shape
    for path, array in zip(files, arrays):
        if array.shape != first:
            raise DataError(
                f"image sizes differ in {split_dir}: {path} is {array.shape[1]}x{array.shape[0]} but "
                f"{files[0]} is {first[1]}x{first[0]} (width x height); pass image_size=... to resize"
            )
    images = np.stack(arrays)
    return ArrayDataset(
        images,
        np.asarray(labels, dtype=np.int32),
        num_classes=len(classes),
        name=f"folder:{root}:{split}",
        mean=mean,
        std=std,
        class_names=classes,
    )


# --------------------------------------------------------------------------------------------------
# Registry


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
    if name in _TFDS_SPECS:
        return load_tfds(name, split, data_dir, image_size, **kwargs)
    raise DataError(f"unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}")
