"""Image folders: ``folder:<root>`` or `load_image_folder`.

``root/<split>/<class>/*.png|jpg|jpeg``, classes sorted by name (the class list of
``root/train`` is used for every split when it exists, so labels agree across splits), decoded
with Pillow in a thread pool. Grayscale-only folders give ``C == 1``, anything else RGB.
Normalisation statistics are computed from the split's images unless given.
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from shapley_nas_jax.data.arrays import ArrayDataset
from shapley_nas_jax.data.errors import DataError, first_line
from shapley_nas_jax.data.images import as_size, resize_pil

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _list_classes(split_dir: pathlib.Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _decode_file(path: pathlib.Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image file -> uint8 ``[H, W, 1]`` (grayscale) or ``[H, W, 3]``."""
    try:
        with Image.open(path) as img:
            img = img.convert("L") if img.mode in ("L", "1", "LA", "I", "I;16", "F") else img.convert("RGB")
            if size is not None:
                img = resize_pil(img, size)
            array = np.asarray(img, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - Pillow raises several types for bad files
        raise DataError(f"cannot decode image {path}: {first_line(exc)}") from None
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

    size = as_size(image_size)
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
