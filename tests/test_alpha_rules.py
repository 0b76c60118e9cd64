"""Alpha update rules against step-by-step numpy computations."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from shapley_nas_jax.alpha_rules import (
    available_alpha_rules,
    get_alpha_rule,
    paper_rule,
    reference_rule,
    register_alpha_rule,
)

SHAPE = (2, 3, 4)


def run_rule(rule, alpha, phis):
    state = rule.init(alpha)
    update = jax.jit(rule.update)
    alphas = []
    for phi in phis:
        updates, state = update(jnp.asarray(phi, jnp.float32), state, alpha)
        alpha = optax.apply_updates(alpha, updates)
        alphas.append(np.asarray(alpha, np.float64))
    return alphas


def test_paper_rule_three_steps():
    rng = np.random.default_rng(0)
    alpha0 = rng.normal(size=SHAPE) * 1e-3
    phis = [rng.normal(size=SHAPE) for _ in range(3)]
    mu, eps = 0.8, 0.1
    got = run_rule(paper_rule(mu, eps), jnp.asarray(alpha0, jnp.float32), phis)
    s = np.zeros(SHAPE)
    alpha = alpha0.copy()
    for t, phi in enumerate(phis):
        s = mu * s + (1 - mu) * phi / np.linalg.norm(phi)
        alpha = alpha + eps * s / np.linalg.norm(s)
        np.testing.assert_allclose(got[t], alpha, atol=1e-6)
    # Each step moves alpha by exactly eps in L2 norm.
    assert np.linalg.norm(got[1] - got[0]) == pytest.approx(eps, rel=1e-5)


def test_paper_rule_first_step_is_normalised_phi():
    phi = np.zeros(SHAPE)
    phi[0, 0, 0], phi[1, 2, 3] = 3.0, 4.0
    got = run_rule(paper_rule(0.8, 0.1), jnp.zeros(SHAPE), [phi])[0]
    np.testing.assert_allclose(got, 0.1 * phi / 5.0, atol=1e-7)


def test_paper_rule_zero_phi_is_safe():
    got = run_rule(paper_rule(), jnp.ones(SHAPE), [np.zeros(SHAPE)])[0]
    np.testing.assert_array_equal(got, np.ones(SHAPE))


def _numpy_zscore(phi, mask):
    out = np.zeros_like(phi)
    for c in range(phi.shape[0]):
        x = phi[c][mask[c]]
        out[c][mask[c]] = (x - x.mean()) / x.std(ddof=1)
    return out


@pytest.mark.parametrize("with_mask", [False, True])
def test_reference_rule_three_steps(with_mask):
    rng = np.random.default_rng(1)
    mask = np.ones(SHAPE, bool)
    if with_mask:
        mask[:, :, 0] = False  # e.g. a 'none' op that is not a player
    alpha0 = rng.normal(size=SHAPE) * 1e-3
    phis = [rng.normal(size=SHAPE) * mask for _ in range(3)]
    mu, eps, scale = 0.8, 0.1, 1e-3
    key = jax.random.PRNGKey(42)
    rule = reference_rule(mu, eps, init_scale=scale, key=key, player_mask=mask if with_mask else None)
    got = run_rule(rule, jnp.asarray(alpha0, jnp.float32), phis)

    s = scale * np.asarray(jax.random.normal(key, SHAPE, jnp.float32), np.float64) * mask
    assert np.abs(s).max() > 0
    alpha = alpha0.copy()
    for t, phi in enumerate(phis):
        s = mu * s + (1 - mu) * _numpy_zscore(phi, mask)
        alpha = alpha + eps * s
        np.testing.assert_allclose(got[t], alpha, atol=1e-6)
    if with_mask:
        np.testing.assert_allclose(got[-1][~mask], alpha0[~mask], atol=0)


def test_reference_rule_uses_unbiased_std_per_cell_type():
    # Cell 0 entries are 0..11, cell 1 is 100 * that: both z-score to the same numbers.
    base = np.arange(12.0).reshape(3, 4)
    phi = np.stack([base, 100 * base])
    rule = reference_rule(momentum=0.0, step_size=1.0, init_scale=0.0)
    got = run_rule(rule, jnp.zeros(SHAPE), [phi])[0]
    expected = (base - base.mean()) / base.std(ddof=1)
    np.testing.assert_allclose(got[0], expected, atol=1e-6)
    np.testing.assert_allclose(got[1], expected, atol=1e-6)


def test_reference_rule_without_key_starts_from_zero():
    phi = np.random.default_rng(2).normal(size=SHAPE)
    got = run_rule(reference_rule(0.8, 0.1), jnp.zeros(SHAPE), [phi])[0]
    np.testing.assert_allclose(got, 0.1 * 0.2 * _numpy_zscore(phi, np.ones(SHAPE, bool)), atol=1e-6)


def test_registry():
    assert {"paper", "reference"} <= set(available_alpha_rules())
    phi = np.random.default_rng(3).normal(size=SHAPE)
    a = run_rule(get_alpha_rule("paper", momentum=0.5, step_size=0.2), jnp.zeros(SHAPE), [phi])[0]
    b = run_rule(paper_rule(0.5, 0.2), jnp.zeros(SHAPE), [phi])[0]
    np.testing.assert_array_equal(a, b)
    register_alpha_rule("test_sign", lambda step_size=1.0: optax.chain(optax.scale_by_sign(), optax.scale(step_size)),
                        overwrite=True)  # test_public_api.py registers one too
    c = run_rule(get_alpha_rule("test_sign", step_size=0.5), jnp.zeros(SHAPE), [phi])[0]
    np.testing.assert_array_equal(c, 0.5 * np.sign(phi))
    with pytest.raises(ValueError, match="unknown alpha rule 'nope'; known rules: .*paper.*reference"):
        get_alpha_rule("nope")


def test_rules_are_offered_the_search_arguments():
    phi = np.random.default_rng(4).normal(size=SHAPE)
    kwargs = dict(momentum=0.8, step_size=0.1, init_scale=1e-3, key=jax.random.PRNGKey(0),
                  player_mask=np.ones(SHAPE, bool))
    a = run_rule(get_alpha_rule("paper", **kwargs), jnp.zeros(SHAPE), [phi])[0]
    np.testing.assert_allclose(a, 0.1 * phi / np.linalg.norm(phi), atol=1e-6)  # s_0 = 0 whatever init_scale
    get_alpha_rule("reference", **kwargs)


def test_the_frozen_rule_never_moves_alpha_whatever_the_estimate():
    from shapley_nas_jax.analysis.tables import method_label

    rule = get_alpha_rule("frozen", momentum=0.8, step_size=0.1, init_scale=1e-3, key=jax.random.PRNGKey(0),
                          player_mask=None)
    alpha = jnp.arange(12.0).reshape(1, 3, 4)
    state = rule.init(alpha)
    for phi in (jnp.ones_like(alpha), -3 * alpha):
        updates, state = rule.update(phi, state, alpha)
        assert not np.any(np.asarray(updates))
    config = {"search": {"method": "shapley"}, "shapley": {"aggregate": "mean"}, "alpha_rule": {"name": "frozen"}}
    assert method_label(config) == "Shapley-NAS (mean, alpha frozen)"


def test_a_rule_gets_the_search_arguments_it_names_and_its_own_parameters():
    seen = []

    def decayed(step_size, decay=0.5):  # names step_size only: no **unused needed for the others
        seen.append({"step_size": step_size, "decay": decay})
        return optax.scale(step_size * decay)

    register_alpha_rule("test_decayed", decayed, overwrite=True)
    offered = dict(momentum=0.8, step_size=0.2, init_scale=1e-3, key=jax.random.PRNGKey(0), player_mask=None)
    rule = get_alpha_rule("test_decayed", **offered, decay=0.25)
    assert seen == [{"step_size": 0.2, "decay": 0.25}]
    np.testing.assert_allclose(rule.update(jnp.ones(SHAPE), rule.init(jnp.zeros(SHAPE)))[0], 0.05)
    with pytest.raises(TypeError, match="decay2"):
        get_alpha_rule("test_decayed", **offered, decay2=0.25)  # a parameter it does not take


def test_a_rule_parameter_without_default_must_be_given():
    from shapley_nas_jax.alpha_rules import check_alpha_rule_kwargs
    from shapley_nas_jax.errors import InvalidInputError

    register_alpha_rule("test_needs_decay", lambda step_size, decay: optax.scale(step_size * decay), overwrite=True)
    check_alpha_rule_kwargs("test_needs_decay", {"decay": 0.5})
    with pytest.raises(InvalidInputError, match=r"'test_needs_decay' needs its parameter\(s\) decay \(no default\)$"):
        check_alpha_rule_kwargs("test_needs_decay", {})


def test_alpha_rule_kwargs_are_validated_and_reach_the_factory_of_a_search():
    from search_configs import tiny_config
    from shapley_nas_jax import Search
    from shapley_nas_jax.config import validate
    from shapley_nas_jax.errors import ConfigError

    seen = []

    def recording(step_size, player_mask, decay=0.5):
        seen.append((step_size, decay, np.shape(player_mask)))
        return optax.scale(step_size * decay)

    register_alpha_rule("test_recording", recording, overwrite=True)
    config = tiny_config("nb201", **{"alpha_rule.name": "test_recording"})
    for kwargs, message in (({"decy": 0.1}, "alpha rule 'test_recording' takes no parameter 'decy'; its parameters: "
                                            "decay$"),
                            ({"momentum": 0.1}, "alpha rule 'test_recording' gets momentum from the search")):
        config.alpha_rule.kwargs = kwargs
        with pytest.raises(ConfigError, match=f"^alpha_rule.kwargs: {message}"):
            validate(config)
    config.alpha_rule.kwargs = {"decay": 0.25}
    search = Search.from_config(config)
    search.program.alpha_rule(None)  # the rule as the search's steps build it
    assert seen[-1] == (0.1, 0.25, (1, 6, 5))  # step_size, the config's decay, the player mask
