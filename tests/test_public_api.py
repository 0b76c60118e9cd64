"""The research-facing API: top-level exports, games, registries seen from a config, the stepwise search."""

import jax

jax.config.update("jax_disable_most_optimizations", True)

import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import shapley_nas_jax as sn
from search_configs import tiny_config
from shapley_nas_jax.config import validate
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.shapley import games


@pytest.mark.slow
def test_every_exported_name_resolves_and_import_is_lazy():
    for name in sn.__all__:
        assert getattr(sn, name) is not None, name
    assert sn.validate_config is validate
    assert set(sn.__all__) <= set(dir(sn))
    code = "import shapley_nas_jax, sys; assert 'jax' not in sys.modules, 'eager jax import'"
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError):
        sn.no_such_name


# ------------------------------------------------------------------------------------------- games

WEIGHTS, QUOTA = [6, 4, 3, 2, 1], 9


def voting(mask):
    return (mask @ jnp.asarray(WEIGHTS, jnp.float32) >= QUOTA).astype(jnp.float32)


def test_shapley_values_exact_and_permutation_match_closed_form():
    truth = games.voting_shapley(WEIGHTS, QUOTA)
    np.testing.assert_allclose(sn.shapley_values(voting, 5), truth, atol=1e-6)
    np.testing.assert_allclose(sn.shapley_values(voting, 5, chunk_size=8), truth, atol=1e-6)
    est = sn.shapley_values(voting, 5, key=0, method="permutation", num_permutations=400, sampling="antithetic")
    assert est.shape == (5,)
    np.testing.assert_allclose(est, truth, atol=0.08)
    assert float(est.sum()) == pytest.approx(1.0, abs=1e-6)  # untruncated chains: efficiency holds per chain
    again = sn.shapley_values(voting, 5, key=jax.random.PRNGKey(0), method="permutation", num_permutations=400,
                              sampling="antithetic")
    np.testing.assert_array_equal(est, again)  # int seed == PRNGKey(seed)


def test_shapley_values_refusals_and_mask_game():
    with pytest.raises(ValueError, match="key"):
        sn.shapley_values(voting, 5, method="permutation")
    with pytest.raises(ValueError, match="unknown method"):
        sn.shapley_values(voting, 5, method="kernel")
    with pytest.raises(TypeError, match="chunk_size"):
        sn.shapley_values(voting, 5, num_permutations=3)
    assert sn.mask_game(voting) == sn.mask_game(voting)  # one compiled scorer per function
    full = sn.permutation_shapley(sn.mask_game(voting), 5, jax.random.PRNGKey(1), num_permutations=6,
                                  truncation=None)
    assert isinstance(full, sn.Estimate) and full.marginals.shape == (6, 5) and full.standard_errors.shape == (5,)
    assert "permutation" in sn.available_estimators()  # the same chains, registered as the search's estimator


# -------------------------------------------------------------------------------------- registries


def test_value_metric_registry_by_name_and_callable():
    from shapley_nas_jax.value import score_logits

    logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])
    labels = jnp.array([0, 1, 1, 1])
    cost = jnp.arange(6.0).reshape(1, 2, 3)

    def penalised(logits, labels, *, mask, alpha):
        return jnp.mean(jnp.argmax(logits, -1) == labels) - 0.01 * jnp.sum(mask * cost) + 0.0 * alpha.sum()

    sn.register_value_metric("test_penalised", penalised, overwrite=True)
    assert {"accuracy", "neg_cross_entropy", "test_penalised"} <= set(sn.available_value_metrics())
    mask = jnp.ones((1, 2, 3)).at[0, 1, 2].set(0.0)
    expect = 0.75 - 0.01 * (15.0 - 5.0)
    for metric in ("test_penalised", penalised):
        got = score_logits(logits, labels, metric, mask=mask, alpha=jnp.zeros((1, 2, 3)))
        assert float(got) == pytest.approx(expect)
    assert float(score_logits(logits, labels, "accuracy", mask=mask)) == pytest.approx(0.75)  # extras ignored
    with pytest.raises(ValueError, match="already registered"):
        sn.register_value_metric("test_penalised", penalised)
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        sn.make_value_fn(None, metric="nope")
    validate(tiny_config(**{"shapley.metric": "test_penalised"}))
    with pytest.raises(ConfigError, match="shapley.metric='nope' is not valid"):
        validate(tiny_config(**{"shapley.metric": "nope"}))


def test_registered_alpha_rule_is_accepted_by_config_and_program():
    def sign_rule(momentum=0.9, step_size=0.1):  # gets what it names of the search's arguments
        return optax.chain(optax.ema(momentum, debias=False), optax.scale_by_sign(), optax.scale(step_size))

    sn.register_alpha_rule("test_sign", sign_rule, overwrite=True)  # test_alpha_rules.py registers one too
    config = tiny_config(**{"alpha_rule.name": "test_sign", "alpha_rule.step_size": 0.5})
    validate(config)
    with pytest.raises(ConfigError, match="alpha_rule.name='nope' is not valid"):
        validate(tiny_config(**{"alpha_rule.name": "nope"}))
    from shapley_nas_jax.search.steps import SearchProgram

    space = sn.get_space(config.space)
    program = SearchProgram(config, space, image_shape=(8, 8, 3), num_classes=10)
    alpha = jnp.zeros(space.alpha_shape)
    phi = jnp.linspace(-1.0, 1.0, alpha.size).reshape(alpha.shape)
    rule = program.alpha_rule(None)
    updates, _ = rule.update(phi, rule.init(alpha), alpha)
    np.testing.assert_allclose(updates, 0.5 * jnp.sign(phi))


def _scaled_conv(C, stride, affine, name=None, **_):
    """A custom op: ReLU -> 1x1 conv (stride) -> BN, registered from outside the library."""
    return sn.ops.ReLUConvBN(C, 1, stride, 0, affine, name=name)


def test_registered_space_and_op_build_a_supernet_and_a_genotype():
    import dataclasses

    sn.register_op("test_pw_conv", _scaled_conv, overwrite=True)
    sn.register_space("test_toy", lambda: sn.uniform_darts_space("test_toy", ("skip_connect", "test_pw_conv")),
                      overwrite=True)
    validate(tiny_config("test_toy"))
    space = sn.get_space("test_toy")
    model = sn.build_supernet("test_toy", channels=4, layers=3, num_classes=10)
    x = jnp.zeros((2, 8, 8, 3))
    alpha = jnp.zeros(space.alpha_shape)
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x, alpha, None))
    assert "op1_test_pw_conv" in variables["params"]["cell0"]["input_edges"]["mixed"]  # like edges scanned
    logits = jax.eval_shape(lambda v: model.apply(v, x, alpha, jnp.ones(space.alpha_shape)), variables)
    assert logits.shape == (2, 10)
    weights = np.zeros(space.alpha_shape)
    weights[..., 1] = 1.0
    genotype = space.genotype(weights)
    assert {op for op, _ in genotype.normal} == {"test_pw_conv"}

    # A per-space genotype rule: subclass SearchSpace and override genotype(); the search calls space.genotype.
    @dataclasses.dataclass(frozen=True)
    class SkipFreeSpace(sn.SearchSpace):
        def genotype(self, weights, exclude=("none",)):
            return sn.derive_genotype(self, weights, exclude=tuple(exclude) + ("skip_connect",))

    base = sn.uniform_darts_space("test_skipfree", ("skip_connect", "test_pw_conv"))
    sn.register_space("test_skipfree", lambda: SkipFreeSpace(**{f.name: getattr(base, f.name)
                                                                for f in dataclasses.fields(base)}),
                      overwrite=True)
    strong_skip = np.zeros(space.alpha_shape)
    strong_skip[..., 0] = 5.0
    assert {op for op, _ in sn.get_space("test_skipfree").genotype(strong_skip).reduce} == {"test_pw_conv"}


# ----------------------------------------------------------------------------------- stepwise search


@pytest.mark.slow
def test_search_run_is_run_search_without_its_files(tmp_path):
    # Both go through the one driver (shapley_nas_jax.driver); run_search adds hooks that write its workdir,
    # and they must not change the numbers.
    # A two-op space of cheap built-in ops keeps compilation short; eval_batches=0 skips the epoch evaluation.
    sn.register_space("test_pw2", lambda: sn.uniform_darts_space("test_pw2", ("skip_connect", "nor_conv_1x1")),
                      overwrite=True)
    config = tiny_config("test_pw2", **{"data.train_fraction": 0.05, "train.batch_size": 16, "train.epochs": 3,
                                        "search.warmup_epochs": 1, "train.eval_batches": 0,
                                        "shapley.value_batch_size": 16})
    reference = sn.run_search(config, str(tmp_path / "cli"), progress=False)
    with open(tmp_path / "cli" / "metrics.jsonl") as f:
        updates = [r for r in map(json.loads, f) if r["kind"] == "alpha_update"]
    assert len(updates) == 2 and all(u["num_evaluations"] >= 2 for u in updates)

    search = sn.Search.from_config(config)
    spe = search.steps_per_epoch
    assert search.total_steps == 3 * spe
    np.testing.assert_array_equal(search.update_points, [spe, 2 * spe])
    events = []
    ran = search.run(callback=lambda event, s: events.append(event))
    np.testing.assert_array_equal(np.asarray(ran.arch.alpha), reference.alpha)
    np.testing.assert_array_equal(np.asarray(ran.arch.shapley), reference.shapley)
    assert search.genotype(ran) == reference.genotype
    assert events.count("alpha_update") == 2 and events.count("epoch_end") == 3
