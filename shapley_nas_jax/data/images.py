"""Resizing of decoded images, shared by every source.

Resizing (``image_size``, an int for square output or ``(height, width)``) scales the shorter side
to fit and centre-crops the rest (a plain resize when aspect ratios agree).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from shapley_nas_jax.data.errors import DataError

__all__ = ["as_size", "resize_pil", "resize_array", "resize_batch"]


def as_size(image_size) -> tuple[int, int] | None:
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


def resize_pil(img: Image.Image, size: tuple[int, int]) -> Image.Image:
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


def resize_array(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one uint8 ``[H, W, C]`` image to ``[h, w, C]`` (see `resize_pil`)."""
    if image.shape[:2] == size:
        return image
    c = image.shape[-1]
    img = Image.fromarray(image[..., 0] if c == 1 else image)
    out = np.asarray(resize_pil(img, size))
    return out[..., None] if c == 1 else out


def resize_batch(images: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize uint8 ``[N, H, W, C]`` to ``[N, h, w, C]``."""
    if size is None or images.shape[1:3] == size:
        return images
    return np.stack([resize_array(im, size) for im in images])
