"""Supernets: DARTS-style (DARTS, reference, S1-S4) and NAS-Bench-201, built with :func:`build_supernet`."""

from shapley_nas_jax.models.supernet import (
    CPU_SCORING,
    CPU_TRAINING,
    DartsSearchCell,
    DartsSupernet,
    MixedOp,
    NB201SearchCell,
    NB201Supernet,
    ResNetBasicBlock,
    ScoringDefaults,
    build_supernet,
    edge_normalization_weights,
    mixing_weights,
    per_edge_variables,
    scoring_defaults,
    stacked_edge_variables,
    training_formulation,
)

__all__ = [
    "CPU_SCORING",
    "CPU_TRAINING",
    "DartsSearchCell",
    "DartsSupernet",
    "MixedOp",
    "NB201SearchCell",
    "NB201Supernet",
    "ResNetBasicBlock",
    "ScoringDefaults",
    "build_supernet",
    "edge_normalization_weights",
    "mixing_weights",
    "per_edge_variables",
    "scoring_defaults",
    "stacked_edge_variables",
    "training_formulation",
]
