"""How a search runs its supernet, resolved once from the config and the backend: the scoring plan.

:func:`resolve_scoring_plan` turns ``shapley.scoring``, ``shapley.formulation``, ``model.formulation``,
``shapley.chunk_size`` / ``shapley.memory_budget_mb`` and the mesh into a :class:`ScoringPlan`; the program
only reads it (``plan.training_model(model)``, ``plan.scoring_model(model)``, ``plan.scoring``,
``plan.chunk_size``). The ``auto`` choices come from the measured per-topology tables below. Every choice
gives the same values; only speed and memory differ.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import ml_collections

from shapley_nas_jax import memory
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.value import bn_modes_of


class ScoringDefaults(NamedTuple):
    """How a supernet is run while scoring coalitions (forward passes only)."""

    formulation: str  # op arithmetic (ops.primitives: lax | shifted)
    skip_absent_ops: bool  # ops masked out of a coalition skipped by a cond (one coalition at a time only)
    scan_edges: bool  # like edges run by nn.scan (False: one module per edge; parameters converted per step)


# One-coalition-at-a-time scoring on CPU, fastest per topology by measurement (scripts/bench_shapley.py,
# BENCHMARKS.md, measured with AVX-512 and with AVX2, which chose alike). DARTS cells (depthwise convs and
# pools on few channels): the shifted formulation with masked-out ops skipped; NB201 cells (dense convs):
# lax convs, every op computed (the per-op conds cost more than they save there). Both with one module per
# edge: scanned edges compile faster but scored 1.7x (DARTS) and 1.3x (NB201) slower.
CPU_SCORING = {"darts": ScoringDefaults("shifted", True, False), "nb201": ScoringDefaults("lax", False, False)}
OTHER_SCORING = ScoringDefaults("lax", False, True)

# Training steps (forward + backward) on CPU, fastest per topology by measurement (scripts/bench_train.py,
# BENCHMARKS.md): both train with the shifted formulation, whose custom VJPs are shifted sums and matmuls
# too (NB201, C=16, 5 cells per stage, batch 64: 4.3 s per weight step against 60 s with lax).
CPU_TRAINING = {"darts": "shifted", "nb201": "shifted"}


def scoring_defaults(topology: str, backend: str, sequential: bool) -> ScoringDefaults:
    """How to score coalitions of a ``topology`` supernet on ``backend``; ``sequential``: one coalition at
    a time (under vmap a skipping cond would compute both branches, so nothing is skipped)."""
    defaults = CPU_SCORING.get(topology, OTHER_SCORING) if backend == "cpu" else OTHER_SCORING
    return defaults._replace(skip_absent_ops=defaults.skip_absent_ops and sequential)


def training_formulation(topology: str, backend: str) -> str:
    """The formulation of training steps (weight and DARTS steps) of a ``topology`` supernet on ``backend``."""
    return CPU_TRAINING.get(topology, "lax") if backend == "cpu" else "lax"


def scoring_mode(scoring: str, backend: str, coalitions_split: bool) -> str:
    """``shapley.scoring`` resolved: ``auto`` is one coalition at a time on CPU (fastest there, BENCHMARKS.md)
    unless coalitions are split over devices, else vmapped chunks (accelerators)."""
    if scoring == "auto":
        return "sequential" if backend == "cpu" and not coalitions_split else "batched"
    if scoring == "sequential" and coalitions_split:
        raise ConfigError("shapley.scoring='sequential' cannot split coalitions over devices; use "
                          "shapley.scoring=batched, or mesh.shard_coalitions=False to split the value batches")
    return scoring


@dataclasses.dataclass(frozen=True)
class ScoringPlan:
    """How a search runs its supernet (see :func:`resolve_scoring_plan`)."""

    scoring: str  # sequential (one coalition at a time) | batched (vmapped chunks of coalitions)
    formulation: str  # op arithmetic while scoring (ops.primitives: lax | shifted)
    skip_absent_ops: bool  # scoring skips ops masked out of a coalition by a cond (sequential only)
    scan_edges: bool  # the scoring model runs like edges by nn.scan (False: one module per edge)
    chunk_size: int  # batched: positions per chain per call (fits the memory budget); sequential: unused
    training_formulation: str  # op arithmetic of training steps (weight and DARTS steps, evaluation)

    def training_model(self, model: nn.Module) -> nn.Module:
        """``model`` as training steps run it."""
        return model.clone(formulation=self.training_formulation)

    def scoring_model(self, model: nn.Module) -> nn.Module:
        """``model`` as coalitions are scored (its variables converted by ``models.per_edge_variables`` where
        ``scan_edges`` differs from the training model's)."""
        return model.clone(formulation=self.formulation, skip_absent_ops=self.skip_absent_ops,
                           scan_edges=self.scan_edges)


def resolve_scoring_plan(config: ml_collections.ConfigDict, model: nn.Module, backend: str, *, image_shape,
                         num_players: int, devices: int = 1, coalitions_split: bool = False) -> ScoringPlan:
    """The scoring plan of a search with ``config`` on ``backend`` (``jax.default_backend()``).

    ``model``: the supernet (any formulation); ``image_shape``: one image ``(H, W, C)``; ``num_players``: the
    game's players (caps the chunk size); ``devices``: the mesh's size; ``coalitions_split``: the mesh splits
    coalitions (``mesh.shard_coalitions``) rather than the value batches.
    """
    s, m = config.shapley, config.model
    topology = model.space.topology
    scoring = scoring_mode(s.scoring, backend, coalitions_split)
    defaults = scoring_defaults(topology, backend, sequential=scoring == "sequential")
    plan = ScoringPlan(
        scoring=scoring,
        formulation=defaults.formulation if s.formulation == "auto" else s.formulation,
        skip_absent_ops=defaults.skip_absent_ops,
        scan_edges=defaults.scan_edges,
        chunk_size=s.chunk_size,
        training_formulation=training_formulation(topology, backend) if m.formulation == "auto" else m.formulation,
    )
    if scoring == "sequential":
        return plan
    # Positions per chain per batched call: shapley.chunk_size (0: no limit) capped by what fits one device's
    # memory budget. A mesh spreads the coalitions (or the value batch) over its devices: each holds a share.
    batch, samples = s.value_batch_size, s.samples
    if coalitions_split:
        samples = -(-samples // devices)  # each device scores about M * c / D coalitions
    else:
        batch = max(batch // devices, 1)  # each device scores every coalition on B / D images
    chunk_size = memory.choose_chunk_size(
        plan.scoring_model(model), (batch, *image_shape), samples, budget_bytes=s.memory_budget_mb * 2**20 or None,
        num_players=num_players, metric=s.metric,
        bn_mode=bn_modes_of(s.bn_mode)[-1],  # "batch" where both are used: its statistics cost more memory
        max_chunk=s.chunk_size or None)
    return dataclasses.replace(plan, chunk_size=chunk_size)
