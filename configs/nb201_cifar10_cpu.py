"""Shapley-NAS on NAS-Bench-201 at CPU scale: real CIFAR-10 images, one search in at most 30 minutes on
2 cores (RESULTS.md).

    shapley-nas search --config configs/nb201_cifar10_cpu.py:/data/cifar10-images --workdir runs/nb201-cpu \
        --config.search.benchmark=../shared/data/nb201/nb201_200ep.csv.gz
    shapley-nas search --config configs/nb201_cifar10_cpu.py:/data/cifar10-images,reference ...

The argument after ``:`` is an image folder with ``train/<class>/*.jpg`` (the layout of
``../shared/data/cifar10-images``, unpacked), optionally followed by ``,paper`` (the default) or
``,reference``; without a folder (``:reference`` alone, or nothing) the tfds ``cifar10`` dataset is used.

Which algorithm: the paper's by default (plain Monte-Carlo mean, eqs. 6-7, warm-up 15 of 50 epochs scaled to
16: 5 epochs, 11 Shapley updates), as ``nb201_cifar10.py``, whose docstring lists every setting where the
paper and the original code differ and which one the NB201 configs follow. ``reference`` runs the original
code's mean minus std and z-score rule with the 6 warm-up epochs of RESULTS.md's "Shapley-NAS (reference)"
rows (the original's 25 of 50 would be 8). The baselines of RESULTS.md are the same config with
``--config.search.method=darts_1st`` / ``darts_2nd`` or ``rsps`` (random search with weight sharing), each
over seeds with ``scripts/run_seeds.py``; ``scripts/nb201_report.py`` compares them.

Sizes, from the full NB201 search (``configs/nb201_cifar10.py``: 16 channels, 5 cells per stage, all 25,000
images per half, 50 epochs), cut by the component timings measured on a 2-core AVX-512 EPYC
(``bench_train.py --space nb201 --channels 8 --cells 2 --batch 64``, ``bench_shapley.py --space nb201
--channels 8 --cells 2 --batch 500``, BENCHMARKS.md):

* 8 channels, 2 cells per stage: 0.73 s per weight step of 64 images (shifted formulation; lax's backward
  took 5.9 s), 0.7-0.8 s per full-supernet evaluation of 500 images;
* 10% of the training images per half (5,000 train the weights, 5,000 score coalitions): 78 weight steps,
  about a minute per epoch;
* 16 epochs, the first 5 (paper) or 6 (reference) warm up the weights, so the 11 or 10 Shapley updates
  score a supernet past chance (at chance, eta = 0.5 truncates every chain after a few
  players: any removal halves a value near 0.1);
* M = 10 permutations of 500 value images each (the paper's M; about 10 x 5 evaluations, 25-30 s, per
  update). Chosen by ``scripts/shapley_signal.py`` on the pilot's trained supernet (RESULTS.md): repeated
  estimates barely agree at this scale, and what raised their agreement was more permutations (M = 10
  against 5), not more images per permutation (2,000 against 500), no truncation, the mean instead of
  mean minus std, or the cross-entropy value.

Measured on that machine with M = 5: a Shapley-NAS search took 19.5 minutes (RESULTS.md, pilot); M = 10
adds about 2 minutes. Estimated: RSPS about as long, DARTS first order about 30 minutes (one architecture
step before each weight step after warm-up), DARTS second order more (its step differentiates through a
weight step). At these sizes the value accuracy stayed at 0.36-0.56 and chains truncated after 3-5 of 24
players (RESULTS.md).
"""

import os

from shapley_nas_jax.config import load_config_file, set_algorithm, split_config_argument

REFERENCE_WARMUP_EPOCHS = 6  # RESULTS.md's reference rows (chosen before the paper's variant existed)


def get_config(argument: str | None = None):
    images, algorithm = split_config_argument(argument)
    algorithm = algorithm or "paper"
    c = load_config_file(os.path.join(os.path.dirname(__file__), "nb201_cifar10.py"), algorithm)
    c.seed = 0
    if images:
        c.data.name = f"folder:{images}"
    c.data.train_fraction = 0.1
    c.data.value_fraction = 0.1
    c.model.channels = 8
    c.model.cells_per_stage = 2
    c.train.epochs = 16
    c.train.batch_size = 64
    c.shapley.samples = 10
    c.shapley.value_batch_size = 500
    set_algorithm(c, algorithm, REFERENCE_WARMUP_EPOCHS if algorithm == "reference" else None)
    return c
