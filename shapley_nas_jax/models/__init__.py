"""Supernets: DARTS-style (DARTS, reference, S1-S4) and NAS-Bench-201, built with :func:`build_supernet`.

:mod:`.supernet` holds the two supernets, :mod:`.cells` what their cells share (mixed ops, scanned edges,
variable layouts), :mod:`.scoring` how a search runs them (the scoring plan and its measured defaults).
"""

from shapley_nas_jax.models.cells import (
    MixedOp,
    edge_normalization_weights,
    mixing_weights,
    per_edge_variables,
    stacked_edge_variables,
)
from shapley_nas_jax.models.scoring import (
    CPU_SCORING,
    CPU_TRAINING,
    ScoringDefaults,
    ScoringPlan,
    resolve_scoring_plan,
    scoring_defaults,
    training_formulation,
)
from shapley_nas_jax.models.supernet import (
    DartsSearchCell,
    DartsSupernet,
    NB201SearchCell,
    NB201Supernet,
    ResNetBasicBlock,
    build_supernet,
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
    "ScoringPlan",
    "build_supernet",
    "edge_normalization_weights",
    "mixing_weights",
    "per_edge_variables",
    "resolve_scoring_plan",
    "scoring_defaults",
    "stacked_edge_variables",
    "training_formulation",
]
