"""Search split, DARTS-style augmentation and a deterministic, resumable batch stream.

Everything random here is a pure function of integers: the split of ``seed``, a batch of
``(seed, step)``, a Shapley value batch of ``(seed, update index)``. The search state therefore only
stores the step number to resume the data stream exactly (byte-identical batches).

Shapes: images are uint8 ``[B, H, W, C]`` (0..255) until `normalize`, which returns float32
``(x / 255 - mean) / std``; labels are int32 ``[B]``.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from shapley_nas_jax.data.datasets import DataError, Dataset, SubsetDataset
from shapley_nas_jax.rng import BATCH_AUGMENT, BATCH_ORDER, BATCH_SPLIT, BATCH_VALUE, numpy_rng

__all__ = [
    "Augment",
    "BatchStream",
    "augment_batch",
    "cutout",
    "normalize",
    "random_crop",
    "random_flip",
    "search_split",
]

def _check_seed(seed) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


# --------------------------------------------------------------------------------------------------
# Search split


def search_split(
    dataset: Dataset,
    seed: int,
    train_fraction: float = 0.5,
    value_fraction: float | None = None,
    ordered: bool = False,
) -> tuple[Dataset, Dataset]:
    """Splits a training set into the weight half and the Shapley-scoring (value) half.

    A seeded permutation of ``range(len(dataset))`` (with ``ordered``: the dataset's own order, as the
    reference code takes the first and second half of CIFAR-10's training set; for tfds datasets the order
    tfds reads them in): the first ``floor(train_fraction * N)`` examples train the supernet weights, the
    next ``floor(value_fraction * N)`` (default: all the rest) score operations. CIFAR uses 0.5 / 0.5; the
    paper's ImageNet search uses 0.1 / 0.025. Both parts are
    `SubsetDataset` views: no image is copied, so lazy datasets stay lazy.

    Returns:
      ``(train_ds, value_ds)``.

    Raises:
      DataError: a fraction outside (0, 1], fractions summing above 1, or an empty part.
    """
    seed = _check_seed(seed)
    n = len(dataset)
    if not 0.0 < train_fraction < 1.0:
        raise DataError(f"train_fraction must be in (0, 1), got {train_fraction}")
    rest = 1.0 - train_fraction
    if value_fraction is None:
        value_fraction = rest
    elif not 0.0 < value_fraction <= rest + 1e-9:
        raise DataError(
            f"value_fraction must be in (0, 1 - train_fraction = {rest:g}], got {value_fraction}"
        )
    n_train = int(np.floor(train_fraction * n + 1e-9))
    n_value = n - n_train if value_fraction >= rest - 1e-9 else int(np.floor(value_fraction * n + 1e-9))
    if n_train == 0 or n_value == 0:
        raise DataError(
            f"search split of the {n}-image dataset {dataset.name!r} gives {n_train} weight and {n_value} "
            f"value images; both need at least one (use more data or other fractions)"
        )
    order = np.arange(n) if ordered else numpy_rng(seed, BATCH_SPLIT).permutation(n)
    train_ds = SubsetDataset(dataset, order[:n_train], name=f"{dataset.name}[weights]")
    value_ds = SubsetDataset(dataset, order[n_train : n_train + n_value], name=f"{dataset.name}[value]")
    return train_ds, value_ds


# --------------------------------------------------------------------------------------------------
# Augmentation (numpy, batched, driven by an explicit Generator)


@dataclasses.dataclass(frozen=True)
class Augment:
    """DARTS training augmentation: random crop with zero padding, horizontal flip, optional cutout.

    Attributes:
      crop_padding: pixels of zero padding before the random crop back to ``H x W``; ``None`` scales
        DARTS' 4 pixels at 32x32 with the image height (2 at 16x16, 1 at 8x8); ``0`` disables cropping.
      flip: random horizontal flips with probability 1/2. Turn off for digits and text.
      cutout: side of the square set to 0 after normalisation (DARTS: 16 at 32x32); ``0`` disables.
      resized_crop: torchvision's ``RandomResizedCrop`` instead of the padded crop (the ImageNet search):
        a random box of 8-100% of the area and aspect ratio 3/4-4/3, resized back to ``H x W``.
    """

    crop_padding: int | None = None
    flip: bool = True
    cutout: int = 0
    resized_crop: bool = False

    def padding_for(self, height: int) -> int:
        """Padding in pixels for images of ``height`` rows."""
        if self.crop_padding is None:
            return max(1, round(4 * height / 32))
        if self.crop_padding < 0:
            raise DataError(f"crop_padding must be >= 0, got {self.crop_padding}")
        return int(self.crop_padding)


def random_crop(images: np.ndarray, rng: np.random.Generator, padding: int) -> np.ndarray:
    """Zero-pads uint8 ``[B, H, W, C]`` by ``padding`` and crops a random ``H x W`` window per image."""
    if padding <= 0:
        return images
    b, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    top = rng.integers(0, 2 * padding + 1, size=b)
    left = rng.integers(0, 2 * padding + 1, size=b)
    rows = top[:, None] + np.arange(h)  # [B, H]
    cols = left[:, None] + np.arange(w)  # [B, W]
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def resized_crop_boxes(rng: np.random.Generator, count: int, height: int, width: int,
                       scale: tuple[float, float] = (0.08, 1.0),
                       ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> np.ndarray:
    """Int ``[count, 4]`` boxes ``(top, left, h, w)`` drawn as torchvision's ``RandomResizedCrop`` draws them:
    up to 10 tries of an area fraction uniform in ``scale`` and a log-uniform aspect ratio in ``ratio``,
    else the centred box of the whole image with the aspect ratio clamped into ``ratio``."""
    area = height * width
    log_ratio = np.log(ratio)
    boxes = np.empty((count, 4), np.int64)
    for i in range(count):
        for _ in range(10):
            target = area * rng.uniform(*scale)
            aspect = np.exp(rng.uniform(*log_ratio))
            w = int(round(np.sqrt(target * aspect)))
            h = int(round(np.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                boxes[i] = (rng.integers(0, height - h + 1), rng.integers(0, width - w + 1), h, w)
                break
        else:
            in_ratio = width / height
            if in_ratio < min(ratio):
                w, h = width, int(round(width / min(ratio)))
            elif in_ratio > max(ratio):
                h, w = height, int(round(height * max(ratio)))
            else:
                w, h = width, height
            boxes[i] = ((height - h) // 2, (width - w) // 2, h, w)
    return boxes


def random_resized_crop(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """torchvision's ``RandomResizedCrop`` on uint8 ``[B, H, W, C]``: a random box per image
    (:func:`resized_crop_boxes`) resized back to ``H x W`` (bilinear)."""
    from PIL import Image

    b, h, w, c = images.shape
    out = np.empty_like(images)
    for i, (top, left, bh, bw) in enumerate(resized_crop_boxes(rng, b, h, w)):
        crop = images[i, top:top + bh, left:left + bw]
        img = Image.fromarray(crop[..., 0] if c == 1 else crop).resize((w, h), Image.Resampling.BILINEAR)
        out[i] = np.asarray(img).reshape(h, w, c)
    return out


def random_flip(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirrors each image of ``[B, H, W, C]`` left-right with probability 1/2."""
    flip = rng.random(len(images)) < 0.5
    return np.where(flip[:, None, None, None], images[:, :, ::-1], images)


def cutout(images: np.ndarray, rng: np.random.Generator, length: int) -> np.ndarray:
    """Zeroes one ``length x length`` square per image of ``[B, H, W, C]`` (clipped at the borders).

    The square's centre is uniform over the image, as in DARTS' ``Cutout``.
    """
    if length <= 0:
        return images
    b, h, w, _ = images.shape
    cy = rng.integers(0, h, size=b)
    cx = rng.integers(0, w, size=b)
    y0, y1 = np.clip(cy - length // 2, 0, h), np.clip(cy + length // 2, 0, h)
    x0, x1 = np.clip(cx - length // 2, 0, w), np.clip(cx + length // 2, 0, w)
    rows = np.arange(h)
    cols = np.arange(w)
    in_rows = (rows >= y0[:, None]) & (rows < y1[:, None])  # [B, H]
    in_cols = (cols >= x0[:, None]) & (cols < x1[:, None])  # [B, W]
    mask = in_rows[:, :, None] & in_cols[:, None, :]  # [B, H, W]
    return np.where(mask[..., None], np.zeros((), images.dtype), images)


def normalize(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 ``[..., C]`` -> float32 ``(x / 255 - mean) / std`` with per-channel ``mean``/``std``."""
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    scale = 1.0 / (255.0 * std)
    return images.astype(np.float32) * scale - mean / std


def augment_batch(
    images: np.ndarray,
    rng: np.random.Generator | None,
    augment: Augment | None,
    mean: Sequence[float],
    std: Sequence[float],
) -> np.ndarray:
    """uint8 ``[B, H, W, C]`` -> float32: crop, flip, normalise, cutout (DARTS' order).

    With ``augment=None`` only normalises.
    """
    if augment is not None:
        if augment.resized_crop:
            images = random_resized_crop(images, rng)
        else:
            images = random_crop(images, rng, augment.padding_for(images.shape[1]))
        if augment.flip:
            images = random_flip(images, rng)
    out = normalize(images, mean, std)
    if augment is not None and augment.cutout:
        out = cutout(out, rng, augment.cutout)
    return out


# --------------------------------------------------------------------------------------------------
# Batch stream

_END = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


class BatchStream:
    """Shuffled, augmented batches where batch ``step`` is a pure function of ``(seed, step)``.

    ``epoch = step // steps_per_epoch``; the example order of an epoch is a permutation drawn from
    ``(seed, epoch)``, batch ``step`` takes the ``step % steps_per_epoch``-th slice of it, and its
    augmentation draws from ``(seed, step)``. Resuming at a saved step reproduces the same bytes.

    Args:
      dataset: any `Dataset`.
      batch_size: examples per batch ``B``.
      seed: non-negative int.
      augment: an `Augment`, ``True`` for ``Augment()``, or ``None``/``False`` for normalisation only.
      drop_remainder: ``True`` drops the last partial batch of an epoch (all batches have ``B``
        examples); ``False`` yields it (its shape differs, which recompiles a jitted step).
      prefetch: batches `iterate` prepares ahead in a background thread; 0 disables the thread.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        augment: Augment | bool | None = None,
        drop_remainder: bool = True,
        prefetch: int = 2,
    ):
        self.dataset = dataset
        self.seed = _check_seed(seed)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        self._check_batch_size(self.batch_size)
        if augment is True:
            augment = Augment()
        self.augment = augment or None
        self.drop_remainder = bool(drop_remainder)
        self.prefetch = int(prefetch)
        n = len(dataset)
        self.steps_per_epoch = n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)
        self._order_lock = threading.Lock()
        self._order_cache: dict[int, np.ndarray] = {}

    def _check_batch_size(self, batch_size: int) -> None:
        n = len(self.dataset)
        if batch_size > n:
            raise DataError(
                f"batch {batch_size} is larger than the {n}-image split {self.dataset.name!r}; "
                f"lower batch_size or use more data (e.g. a larger train_fraction)"
            )

    def _order(self, epoch: int) -> np.ndarray:
        """The example permutation ``[N]`` of ``epoch`` (cached for the two latest epochs)."""
        with self._order_lock:
            order = self._order_cache.get(epoch)
            if order is None:
                order = numpy_rng(self.seed, BATCH_ORDER, epoch).permutation(len(self.dataset))
                if len(self._order_cache) >= 2:
                    self._order_cache.pop(min(self._order_cache))
                self._order_cache[epoch] = order
            return order

    def _finish(self, indices: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        images, labels = self.dataset.get_batch(indices)
        image = augment_batch(images, rng, self.augment, self.dataset.mean, self.dataset.std)
        return {"image": image, "label": np.asarray(labels, np.int32)}

    def indices(self, step: int) -> np.ndarray:
        """Dataset indices ``[B]`` of batch ``step``."""
        if step < 0:
            raise DataError(f"step must be >= 0, got {step}")
        epoch, position = divmod(int(step), self.steps_per_epoch)
        start = position * self.batch_size
        return self._order(epoch)[start : start + self.batch_size]

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """Batch ``step``: ``{"image": float32 [B, H, W, C], "label": int32 [B]}``."""
        return self._finish(self.indices(step), numpy_rng(self.seed, BATCH_AUGMENT, step))

    def iterate(self, start_step: int = 0, num_steps: int | None = None) -> Iterator[dict[str, np.ndarray]]:
        """Yields ``batch(start_step)``, ``batch(start_step + 1)``, ... (``num_steps`` of them, or forever).

        A background thread prepares up to ``prefetch`` batches ahead, so data work overlaps the
        accelerator step. Closing the generator (or leaving a ``for`` loop) stops the thread.
        """
        end = None if num_steps is None else start_step + int(num_steps)
        if self.prefetch <= 0:
            step = start_step
            while end is None or step < end:
                yield self.batch(step)
                step += 1
            return

        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                step = start_step
                while end is None or step < end:
                    if not put(self.batch(step)):
                        return
                    step += 1
                put(_END)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
                put(_Failure(exc))

        thread = threading.Thread(target=produce, name="shapley-nas-batches", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            stop.set()
            thread.join(timeout=5.0)

    def value_batches(self, update: int, num: int, batch_size: int | None = None) -> dict[str, np.ndarray]:
        """``num`` fresh batches for one Shapley update, stacked on a leading axis.

        Batch ``k`` (one per sampled permutation) holds ``batch_size`` distinct examples drawn
        without replacement from ``(seed, update)``; different ``k`` are drawn independently. The
        stream's ``augment`` applies (the reference code scores on training-augmented batches; pass a
        stream with ``augment=None`` for clean ones).

        Returns:
          ``{"image": float32 [num, B, H, W, C], "label": int32 [num, B]}``.
        """
        batch_size = self.batch_size if batch_size is None else int(batch_size)
        self._check_batch_size(batch_size)
        if num < 1:
            raise DataError(f"num must be >= 1, got {num}")
        rng = numpy_rng(self.seed, BATCH_VALUE, update)
        n = len(self.dataset)
        batches = [self._finish(rng.choice(n, size=batch_size, replace=False), rng) for _ in range(num)]
        return {key: np.stack([b[key] for b in batches]) for key in ("image", "label")}

    def __repr__(self) -> str:
        return (
            f"BatchStream({self.dataset.name!r}, batch_size={self.batch_size}, seed={self.seed}, "
            f"steps_per_epoch={self.steps_per_epoch}, augment={self.augment})"
        )
