"""The scoring plan: every choice about how a search runs its supernet, resolved once from config and backend;
a supernet's formulation field is what its forward pass computes with."""

import jax

jax.config.update("jax_disable_most_optimizations", True)  # faster compiles; as in test_ops.py
import jax.numpy as jnp
import pytest
from search_configs import tiny_config

from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.models import ScoringPlan, build_supernet, resolve_scoring_plan
from shapley_nas_jax.ops import primitives as P


def resolve(backend, coalitions_split=False, devices=1, **overrides):
    config = tiny_config(**overrides)
    model = build_supernet(config.space, C=4, layers=3, num_classes=10)
    players = int(model.space.player_mask().sum())
    return resolve_scoring_plan(config, model, backend, image_shape=(8, 8, 1), num_players=players, devices=devices,
                                coalitions_split=coalitions_split), model, players


def test_plan_per_backend_and_config():
    cpu, model, players = resolve("cpu")  # tiny_config trains with lax; the rest is auto
    assert cpu == ScoringPlan(scoring="sequential", formulation="shifted", skip_absent_ops=True, scan_edges=False,
                              chunk_size=8, training_formulation="lax")
    scoring = cpu.scoring_model(model)
    assert (scoring.formulation, scoring.skip_absent_ops, scoring.scan_edges) == ("shifted", True, False)
    assert cpu.training_model(model).formulation == "lax" and cpu.training_model(model).scan_edges
    assert resolve("cpu", **{"model.formulation": "auto"})[0].training_formulation == "shifted"
    assert resolve("cpu", **{"shapley.formulation": "lax"})[0].formulation == "lax"

    gpu, _, _ = resolve("gpu")  # batched, lax, scanned edges, chunks sized by the memory budget
    assert (gpu.scoring, gpu.formulation, gpu.skip_absent_ops, gpu.scan_edges) == ("batched", "lax", False, True)
    assert 1 <= gpu.chunk_size <= 8
    tiny = resolve("cpu", **{"shapley.scoring": "batched", "shapley.memory_budget_mb": 1})[0]
    assert (tiny.scoring, tiny.skip_absent_ops, tiny.chunk_size) == ("batched", False, 1)
    assert resolve("cpu", coalitions_split=True, devices=2)[0].scoring == "batched"  # auto: sequential cannot split
    with pytest.raises(ConfigError, match="shapley.scoring='sequential' cannot split coalitions"):
        resolve("cpu", coalitions_split=True, devices=2, **{"shapley.scoring": "sequential"})


def test_a_supernets_formulation_field_selects_its_arithmetic():
    """NB201 cells are dense convs: lax traces XLA convolutions, shifted sums of matmuls. The field wins over a
    selection around the call; without it (None) the selection applies, lax by default."""
    model = build_supernet("nb201", C=4, N=1)
    x, alpha = jnp.zeros((2, 8, 8, 3)), jnp.zeros(model.space.alpha_shape)
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x, alpha))

    def convs(model):
        jaxpr = str(jax.make_jaxpr(lambda v: model.apply(v, x, alpha))(variables))
        return jaxpr.count("conv_general_dilated")

    lax_convs = convs(model.clone(formulation="lax"))
    assert lax_convs > 0 and convs(model) == lax_convs
    with P.formulation("lax"):
        assert convs(model.clone(formulation="shifted")) < lax_convs
    with P.formulation("shifted"):
        assert convs(model) < lax_convs
        assert convs(model.clone(formulation="lax")) == lax_convs
    assert P.get_formulation() == "auto"  # the model's selection ends with its call
