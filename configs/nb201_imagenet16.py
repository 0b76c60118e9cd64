"""Shapley-NAS on NAS-Bench-201, searching directly on imagenet16 (Table 5).

    shapley-nas search --config configs/nb201_imagenet16.py --workdir runs/nb201-imagenet16 \
        --config.search.benchmark=/path/to/nb201_table.csv.gz

Pass an NB201 table or nats_bench file as search.benchmark to log the benchmark accuracy of the current
genotype every epoch. The search settings are ``nb201_cifar10.py``'s: the paper's algorithm by default, the
original code's with the argument ``reference`` (that file's docstring lists where the two differ).

Data: tfds has no ImageNet16-120. ``data.name=imagenet16_120`` is this project's name for tfds
`imagenet_resized/16x16` (prepare it with ``tfds build imagenet_resized/16x16 --file_format=array_record``)
restricted to its first 120 classes: an approximation of NB201's ImageNet16-120, not the same images
(``shapley_nas_jax/data/tfds_source.py`` says why). For NB201's own images, take the 16x16 downsampled
ImageNet that NB201 reads (Chrabaszcz et al.'s batches ``train_data_batch_1`` to ``_10`` from image-net.org,
labels 1..1000, of which NB201 keeps 1..120), write it as an image folder ``ROOT/train/<label>/*.png`` (labels
zero-padded, ``001`` to ``120``, so the folders sort in label order) and search it with
``--config.data.name=folder:ROOT``.
"""

import os

from shapley_nas_jax.config import load_config_file


def get_config(algorithm: str = "paper"):
    c = load_config_file(os.path.join(os.path.dirname(__file__), "nb201_cifar10.py"), algorithm)
    c.data.name = "imagenet16_120"
    return c
