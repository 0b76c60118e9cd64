"""tfds datasets: ``cifar10``, ``cifar100``, ``svhn_cropped``, ``imagenet2012``,
``imagenet_resized/16x16``, ``imagenet16_120`` and ``tfds:<any registered name>``.

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

Normalisation statistics are the published constants of each known dataset (estimated from a fixed
sample for other tfds names).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import threading
from collections.abc import Sequence

import numpy as np

from shapley_nas_jax.data.arrays import ArrayDataset, channel_mean_std
from shapley_nas_jax.data.errors import DataError, DatasetNotPreparedError, first_line
from shapley_nas_jax.data.images import as_size, resize_array

__all__ = ["TFDS_SPECS", "TfdsDataset", "load_tfds"]

# Splits with more pixel bytes than this stay lazy (decoded per example) instead of loading fully.
IN_MEMORY_LIMIT_BYTES = 512 * 2**20

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

TFDS_SPECS = {
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


def _default_tfds_dir(data_dir) -> str:
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


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
        raise DataError(f"unknown tfds dataset {name!r}: {first_line(exc)}") from None
    if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
        build += f" after placing its manual download in {where}/downloads/manual"
    if not builder.is_prepared():
        raise DatasetNotPreparedError(f"tfds dataset {name!r} is not prepared in {where}; {build}") from None
    if "file format" in str(error).lower():
        raise DatasetNotPreparedError(
            f"tfds dataset {name!r} in {builder.data_dir} is prepared as {builder.info.file_format.value}, "
            f"but random access needs array_record; {build}"
        ) from None
    raise DataError(f"cannot open tfds dataset {name!r} split {split!r}: {first_line(error)}") from None


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
            image = resize_array(image, image_size)
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
    spec = TFDS_SPECS.get(name, _TfdsSpec(name))
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
    size = as_size(image_size if image_size is not None else spec.default_image_size)
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
