"""Supernets: DARTS-style (DARTS, reference, S1-S4) and NAS-Bench-201, built with :func:`build_supernet`."""

from shapley_nas_jax.models.supernet import (
    CPU_SCORING,
    DartsSearchCell,
    DartsSupernet,
    MixedOp,
    NB201SearchCell,
    NB201Supernet,
    ResNetBasicBlock,
    build_supernet,
    edge_normalization_weights,
    mixing_weights,
    scoring_defaults,
)

__all__ = [
    "CPU_SCORING",
    "DartsSearchCell",
    "DartsSupernet",
    "MixedOp",
    "NB201SearchCell",
    "NB201Supernet",
    "ResNetBasicBlock",
    "build_supernet",
    "edge_normalization_weights",
    "mixing_weights",
    "scoring_defaults",
]
