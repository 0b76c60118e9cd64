"""A compiled search program depends only on what shapes its steps: searches that differ in seed, length,
warm-up, data split, plots or checkpoints share one program, and the second compiles (and traces) nothing."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_configs import quick_darts_space, tiny_config
from shapley_nas_jax import Search
from shapley_nas_jax.optim import learning_rate_schedule
from shapley_nas_jax.rng import STREAM_ALPHA, stream_key
from shapley_nas_jax.search.schedule import PROGRAM_INDEPENDENT_OPTIONS, program_config_json

BASE = {"train.epochs": 2, "search.warmup_epochs": 0, "train.batch_size": 16, "data.train_fraction": 0.05,
        "shapley.value_batch_size": 16, "shapley.samples": 2}
SAME_PROGRAM = {
    "seed": 5,
    "train.epochs": 3,
    "search.warmup_epochs": 1,
    "data.train_fraction": 0.1,  # more weight steps per epoch, the same batch shapes
    "search.plot_every_epochs": 1,
    "checkpoint.keep": 1,
    "search.final_shapley": True,
    # values the steps take as arguments (Hyperparameters)
    "train.learning_rate": 0.05,
    "alpha_rule.momentum": 0.5,
    "alpha_rule.step_size": 0.3,
    "shapley.truncation": 0.9,
}
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/backend_compile_duration")


def config(**overrides):
    return tiny_config(quick_darts_space(), **{**BASE, **overrides})


@contextlib.contextmanager
def compile_events():
    """The tracing and XLA compilation events JAX reports while the block runs."""
    events = []

    def listen(event, duration, **kwargs):
        if event in COMPILE_EVENTS:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


@pytest.mark.parametrize("option", sorted(SAME_PROGRAM))
def test_options_that_shape_nothing_share_the_program(option):
    first = Search.from_config(config())
    other = Search.from_config(config(**{option: SAME_PROGRAM[option]}))
    assert other.program is first.program
    # the program holds the defaults of what it does not depend on, so it cannot read the search's values
    assert program_config_json(other.config) == program_config_json(first.config)


@pytest.mark.parametrize("option,value", [("train.batch_size", 8), ("model.channels", 8),
                                          ("shapley.aggregate", "mean"), ("train.momentum", 0.5)])
def test_options_that_shape_the_steps_get_their_own_program(option, value):
    assert Search.from_config(config(**{option: value})).program is not Search.from_config(config()).program


def test_independent_options_exist_in_the_schema():
    from shapley_nas_jax.config import base_config

    schema = base_config()
    for option in PROGRAM_INDEPENDENT_OPTIONS:
        node = schema
        for part in option.split("."):
            assert part in node, f"{option} is not an option of base_config()"
            node = node[part]


def test_each_search_keeps_its_own_seed_and_learning_rate_through_a_shared_program():
    searches = {seed: Search.from_config(config(seed=seed, **{"train.epochs": epochs, "train.learning_rate": lr}))
                for seed, epochs, lr in ((2, 2, 0.1), (5, 3, 0.025))}
    assert searches[2].program is searches[5].program
    for seed, search in searches.items():
        alpha = np.asarray(search.init_state().arch.alpha)
        want = 1e-3 * np.asarray(jax.random.normal(stream_key(jax.random.PRNGKey(seed), STREAM_ALPHA), alpha.shape))
        np.testing.assert_allclose(alpha, want, rtol=1e-6)
        static = learning_rate_schedule(search.config.train, search.steps_per_epoch)
        for step in (0, search.steps_per_epoch, search.total_steps - 1):
            assert search.learning_rate(step) == pytest.approx(float(static(jnp.int32(step))), rel=1e-6)
    assert searches[2].learning_rate(searches[2].steps_per_epoch) != searches[5].learning_rate(
        searches[5].steps_per_epoch)


@pytest.mark.slow
def test_second_seed_compiles_and_traces_nothing():
    """Through the public API: the first seed's steps compile; another seed, length and split reuse them."""

    def first_steps(search):
        state = search.init_state()
        state, _ = search.shapley_step(state, search.value_batches(0))
        state = search.weight_step(state, search.train_batch(0))
        return jax.block_until_ready(state)

    first = first_steps(Search.from_config(config()))
    with compile_events() as events:
        second = first_steps(Search.from_config(config(seed=7, **{"train.epochs": 3, "data.train_fraction": 0.1})))
    assert events == []
    assert not np.array_equal(np.asarray(first.arch.alpha), np.asarray(second.arch.alpha))
