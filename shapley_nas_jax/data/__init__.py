"""Data layer: dataset sources, the search split, augmentation and a resumable batch stream.

Contract (docs/architecture.md): a `Dataset` offers ``len()``, ``get_batch(indices) -> (images uint8
[B, H, W, C], labels int32 [B])``, ``num_classes``, ``image_shape`` (plus ``name``, ``mean``, ``std``);
a `BatchStream` produces batch ``step`` as a pure function of ``(seed, step)``.
"""

from shapley_nas_jax.data.datasets import (
    KNOWN_DATASETS,
    ArrayDataset,
    DataError,
    Dataset,
    DatasetNotPreparedError,
    SubsetDataset,
    TfdsDataset,
    channel_mean_std,
    load_dataset,
    load_digits,
    load_image_folder,
    load_tfds,
)
from shapley_nas_jax.data.pipeline import (
    Augment,
    BatchStream,
    augment_batch,
    cutout,
    normalize,
    random_crop,
    random_flip,
    random_resized_crop,
    resized_crop_boxes,
    search_split,
)

__all__ = [
    "KNOWN_DATASETS",
    "ArrayDataset",
    "Augment",
    "BatchStream",
    "DataError",
    "Dataset",
    "DatasetNotPreparedError",
    "SubsetDataset",
    "TfdsDataset",
    "augment_batch",
    "channel_mean_std",
    "cutout",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "load_tfds",
    "normalize",
    "random_crop",
    "random_flip",
    "random_resized_crop",
    "resized_crop_boxes",
    "search_split",
]
