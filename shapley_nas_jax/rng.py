"""Every named random stream of a run, all derived from the config's one root ``seed``.

Three kinds of randomness, each a pure function of integers so that a resumed run draws exactly what an
uninterrupted one would (the values are part of every checkpoint's meaning: never renumber them):

* JAX keys, folded from the root key ``PRNGKey(seed)``: :func:`stream_key` ``(root, STREAM_*, index)``.
* Data seeds, one per batch stream of a run: :func:`data_seed` ``(seed, DATA_*)``.
* Inside a batch stream, numpy generators of ``(stream seed, BATCH_*, index)``: :func:`numpy_rng`.
"""

from __future__ import annotations

import jax
import numpy as np

# JAX streams of a search (index = the event's number within its stream).
STREAM_PARAMS = 0  # supernet initialisation: index 0 params, 1 the "noise" collection
STREAM_ALPHA = 1  # initial alpha (index 0) and PC-DARTS beta (index 1)
STREAM_ARCH_STATE = 2  # random initial state of the alpha rule
STREAM_WEIGHT_STEP = 3  # weight step `step`: drop path, single-path sampling
STREAM_SHAPLEY = 4  # architecture update `alpha_updates`: permutations, DARTS / single-path draws
STREAM_FINAL = 5  # the final Shapley estimate and single-path selection after the last epoch

# JAX streams of training a network from scratch.
TRAIN_STREAM_PARAMS = 0  # network initialisation: fold_in(root, TRAIN_STREAM_PARAMS)
TRAIN_STREAM_STEP = 1  # train step `step` (drop path): stream_key(root, TRAIN_STREAM_STEP, step)

# Data-seed purposes: which batch stream a data seed feeds.
DATA_SPLIT = 0  # search: the weight / value split of the training set
DATA_TRAIN = 1  # search: weight-step batches and their augmentation
DATA_VALUE = 2  # search: Shapley value batches and DARTS architecture-step batches
DATA_EVAL = 3  # search: value-accuracy batches reported each epoch
DATA_TRAIN_FROM_SCRATCH = 10  # training from scratch: training batches and their augmentation

# Sub-streams inside a batch stream (the first word after its seed).
BATCH_SPLIT = 0  # the permutation that splits a dataset
BATCH_ORDER = 1  # the shuffle of epoch `index`
BATCH_AUGMENT = 2  # the augmentation of batch `index`
BATCH_VALUE = 3  # the Shapley value batches of architecture update `index`


def stream_key(root: jax.Array, stream: int, index: int | jax.Array = 0) -> jax.Array:
    """The key for event `index` of random stream `stream` (e.g. weight step 120, alpha update 3)."""
    return jax.random.fold_in(jax.random.fold_in(root, stream), index)


def data_seed(seed: int, purpose: int) -> int:
    """The seed of the batch stream `purpose` (a ``DATA_*``) of a run with root seed `seed`."""
    return int(np.random.SeedSequence([seed, purpose]).generate_state(1)[0])


def numpy_rng(*words: int) -> np.random.Generator:
    """A numpy generator seeded by ``words`` (a stream seed, a ``BATCH_*`` and an index)."""
    return np.random.default_rng([int(w) for w in words])
