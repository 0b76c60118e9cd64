"""Supernets: DARTS-style (DARTS, reference, S1-S4) and NAS-Bench-201, built with :func:`build_supernet`."""

from shapley_nas_jax.models.supernet import (
    DartsSearchCell,
    DartsSupernet,
    MixedOp,
    NB201SearchCell,
    NB201Supernet,
    ResNetBasicBlock,
    build_supernet,
    edge_normalization_weights,
    mixing_weights,
)

__all__ = [
    "DartsSearchCell",
    "DartsSupernet",
    "MixedOp",
    "NB201SearchCell",
    "NB201Supernet",
    "ResNetBasicBlock",
    "build_supernet",
    "edge_normalization_weights",
    "mixing_weights",
]
