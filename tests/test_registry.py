"""One registry type for every extension point, and program caches that follow what is registered."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from search_configs import tiny_config

from shapley_nas_jax.errors import UserError
from shapley_nas_jax.ops import ReLUConvBN, primitives as P, register_op
from shapley_nas_jax.registry import (
    DuplicateNameError,
    Registry,
    RegistryError,
    UnknownNameError,
    cache_by_registry_versions,
    registrations_undone,
    registry_versions,
)
from shapley_nas_jax.spaces import get_space, register_space, uniform_darts_space


def test_registrations_inside_the_block_are_undone_on_leaving_it():
    reg = Registry("gadget")
    reg.register("kept", 1)
    with registrations_undone():
        reg.register("throwaway", 3)
        assert reg.names() == ("kept", "throwaway")
    assert reg.names() == ("kept",) and reg.version == 2  # a new name just goes: nothing cached goes stale
    with registrations_undone():
        reg.register("kept", 2, overwrite=True)
    assert reg.get("kept") == 1
    assert reg.version == 4  # one bump more: programs cached against the replaced entry are stale
    with registrations_undone():
        pass
    assert reg.version == 4


def test_one_rule_for_names_and_errors():
    reg = Registry("widget")
    assert reg.version == 0 and reg.names() == ()
    reg.register("b", 2)
    reg.register("a", 1)
    assert reg.names() == ("a", "b") and "a" in reg and reg.get("b") == 2 and reg.version == 2
    with pytest.raises(DuplicateNameError, match="widget 'a' is already registered"):
        reg.register("a", 3)
    assert reg.get("a") == 1 and reg.version == 2  # a refused registration changes nothing
    reg.register("a", 3, overwrite=True)
    assert reg.get("a") == 3 and reg.version == 3
    with pytest.raises(UnknownNameError, match="^unknown widget 'c'; known widgets: a, b$"):
        reg.get("c")
    with pytest.raises(UnknownNameError):
        reg.get(["unhashable"])
    with pytest.raises(RegistryError, match="non-empty string name"):
        reg.register("", 0)
    # one line for the CLI (UserError), and the ValueError every caller caught before
    assert issubclass(UnknownNameError, UserError) and issubclass(UnknownNameError, ValueError)
    assert issubclass(DuplicateNameError, UserError) and issubclass(DuplicateNameError, ValueError)


def test_every_registry_shares_the_rule():
    from shapley_nas_jax.alpha_rules import get_alpha_rule, register_alpha_rule
    from shapley_nas_jax.value import get_value_metric, register_value_metric

    for register, name, value in ((register_op, "nor_conv_3x3", None), (register_space, "darts", None),
                                  (register_alpha_rule, "paper", None), (register_value_metric, "accuracy", len),
                                  (P.register_formulation, "lax", {})):
        with pytest.raises(DuplicateNameError, match="already registered"):
            register(name, value)
    for get in (get_space, get_alpha_rule, get_value_metric, lambda name: P.formulation(name).__enter__()):
        with pytest.raises(UnknownNameError, match="unknown .*'nope'; known"):
            get("nope")


def test_cache_by_registry_versions_rebuilds_after_any_registration():
    built = []

    @cache_by_registry_versions(maxsize=4)
    def build(x):
        built.append(x)
        return object()

    first = build(1)
    assert build(1) is first and built == [1]
    versions = registry_versions()
    P.register_formulation("test_cache_formulation", {}, overwrite=True)
    assert registry_versions() != versions
    assert build(1) is not first and built == [1, 1]


# ------------------------------------------------------------------------ search programs follow registries

TRACED = []  # which version of each registered extension a trace used


def _op(version):
    def build(C, stride, affine, name=None, **_):
        TRACED.append(f"op{version}")
        return ReLUConvBN(C, 1, stride, 0, affine, name=name)

    return build


def _metric(version):
    def metric(logits, labels):
        TRACED.append(f"metric{version}")
        return jnp.mean(jnp.argmax(logits, -1) == labels)

    return metric


def _rule(step_size):
    return lambda **unused: optax.scale(step_size)


def _space(*ops):
    return lambda: uniform_darts_space("test_cached", ops)


def _traced_extensions(program) -> set:
    """Trace (not compile) the program's value function; the registered op and metric it used."""
    TRACED.clear()
    alpha = jnp.zeros(program.space.alpha_shape)
    x = jnp.zeros((2, 8, 8, 1))
    variables = jax.eval_shape(lambda: program.scoring_model.init(jax.random.PRNGKey(0), x, alpha, None))
    batch = {"image": x, "label": jnp.zeros((2,), jnp.int32)}
    jax.eval_shape(program.game.value, variables["params"], variables["batch_stats"], alpha, jnp.ones_like(alpha),
                   batch)
    return set(TRACED)


def _arch_update(program) -> np.ndarray:
    alpha = jnp.zeros(program.space.alpha_shape)
    rule = program.alpha_rule(None)
    return np.asarray(rule.update(jnp.ones_like(alpha), rule.init(alpha), alpha)[0])


def test_search_program_cache_follows_every_registry():
    """Replacing an op, value metric, alpha rule or space under its name (overwrite=True) gives a new program
    that uses the replacement, never the cached one built with the old."""
    from shapley_nas_jax.alpha_rules import register_alpha_rule
    from shapley_nas_jax.search.steps import cached_program
    from shapley_nas_jax.value import register_value_metric

    register_op("test_cached_op", _op(1), overwrite=True)
    register_space("test_cached", _space("skip_connect", "test_cached_op"), overwrite=True)
    register_value_metric("test_cached_metric", _metric(1), overwrite=True)
    register_alpha_rule("test_cached_rule", _rule(1.0), overwrite=True)
    config = tiny_config("test_cached", **{"shapley.metric": "test_cached_metric",
                                           "alpha_rule.name": "test_cached_rule"})
    args = (config.to_json_best_effort(), "test_cached", (8, 8, 1), 10)

    program = cached_program(*args)
    assert cached_program(*args) is program
    assert _traced_extensions(program) == {"op1", "metric1"}
    assert (_arch_update(program) == 1.0).all()

    register_value_metric("test_cached_metric", _metric(2), overwrite=True)
    program, old = cached_program(*args), program
    assert program is not old and _traced_extensions(program) == {"op1", "metric2"}

    register_op("test_cached_op", _op(2), overwrite=True)
    program, old = cached_program(*args), program
    assert program is not old and _traced_extensions(program) == {"op2", "metric2"}

    register_alpha_rule("test_cached_rule", _rule(2.0), overwrite=True)
    program, old = cached_program(*args), program
    assert program is not old and (_arch_update(program) == 2.0).all()

    register_space("test_cached", _space("skip_connect", "none", "test_cached_op"), overwrite=True)
    program, old = cached_program(*args), program
    assert program is not old and program.space.alpha_shape == (2, 14, 3) != old.space.alpha_shape
    assert cached_program(*args) is program
