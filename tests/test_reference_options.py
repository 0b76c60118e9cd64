"""Options that reproduce behaviours of the original code (issue: parity with the original)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from random_variables import random_variables
from search_configs import experiment_config, quick_darts_space, tiny_config
from shapley_nas_jax.search.state import Hyperparameters, SearchState
from shapley_nas_jax.search.steps import SearchProgram
from shapley_nas_jax.spaces import get_space
from shapley_nas_jax.value import bn_mode_at_epoch


def options_config(**overrides):
    """tiny_config on the two-op DARTS test space with a one-cell (reduction) supernet: the options tested
    here are about BN modes, clipping, batches and guards, not about which ops or how many cells."""
    return tiny_config(quick_darts_space(), **{"model.layers": 1, **overrides})


def tiny_program(config=None, **overrides):
    """The search program of options_config(**overrides) (or of ``config``) on 8x8 single-channel images."""
    config = config or options_config(**overrides)
    return SearchProgram(config, get_space(config.space), image_shape=(8, 8, 1), num_classes=10)


def hyperparameters(config=None, steps_per_epoch: int = 4) -> Hyperparameters:
    return Hyperparameters.from_config(config or options_config(), steps_per_epoch=steps_per_epoch)


@pytest.fixture(scope="module")
def plain_state():
    """A fresh state of options_config()'s program: the same pytree the options tested here (BN schedule, kept
    partial batch) start from, so they share one compiled initialisation. Steps that donate
    their state get a copy."""
    return tiny_program().init_state(jax.random.PRNGKey(0))


def copied(state):
    return jax.tree.map(jnp.copy, state)


def test_reference_bn_schedules_follow_the_original_scripts():
    # train_search.py: infer() (eval mode) after even epochs and the last; estimates at the start of odd
    # epochs inherit eval mode (running statistics), those at even epochs train mode (batch statistics)
    cifar = {epoch: bn_mode_at_epoch("reference_cifar", epoch, 50) for epoch in range(25, 51)}
    assert [e for e, mode in cifar.items() if mode == "running"] == [*range(25, 50, 2), 50]
    # train_search_imagenet.py: infer() only after epochs >= 47
    imagenet = {epoch: bn_mode_at_epoch("reference_imagenet", epoch, 50) for epoch in range(25, 51)}
    assert [e for e, mode in imagenet.items() if mode == "running"] == [48, 49, 50]
    for schedule in ("reference_cifar", "reference_imagenet"):
        assert bn_mode_at_epoch(schedule, 0, 50) == "batch"  # a fresh module is in train mode
    assert {bn_mode_at_epoch(mode, e, 50) for mode in ("running", "batch") for e in (0, 25)} == {"running", "batch"}
    with pytest.raises(ValueError, match="reference_cifar"):
        bn_mode_at_epoch("eval", 3, 50)


@pytest.mark.slow
def test_reference_bn_schedule_scores_with_the_mode_of_the_updates_epoch(plain_state):
    from shapley_nas_jax.search.schedule import Search

    options = {"shapley.samples": 2, "shapley.truncation": 0.9, "shapley.metric": "neg_cross_entropy",
               "train.epochs": 4}

    def program(bn_mode):
        return tiny_program(**options, **{"shapley.bn_mode": bn_mode})

    batches = {"image": jax.random.uniform(jax.random.PRNGKey(1), (2, 32, 8, 8, 1)),
               "label": jax.random.randint(jax.random.PRNGKey(2), (2, 32), 0, 10)}
    key = jax.random.PRNGKey(3)
    reference, running, state = program("reference_cifar"), program("running"), plain_state

    # the search's schedule picks each update's mode from its epoch (building a Search compiles nothing)
    search = Search.from_config(options_config(**options, **{"shapley.bn_mode": "reference_cifar"}), validate=False)
    spe = search.steps_per_epoch
    modes = {e: search.bn_mode_at(state.replace(step=np.int32(e * spe))) for e in (1, 2, 3)}
    assert modes == {1: "running", 2: "batch", 3: "running"}

    def values(prog, epoch):
        mode = modes[epoch] if prog is reference else None
        return np.asarray(prog.estimate_shapley(state, batches, key, hyperparameters(prog.config), bn_mode=mode)[0])

    np.testing.assert_allclose(values(reference, 1), values(running, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values(reference, 3), values(running, 3), rtol=1e-5, atol=1e-6)
    # at an even epoch the estimate uses each coalition's batch statistics: another game
    batch_mode = values(reference, 2)
    assert np.isfinite(batch_mode).all() and np.abs(batch_mode - values(running, 2)).max() > 1e-4


@pytest.mark.slow
def test_clipping_with_alpha_grad_follows_torch_clip_grad_norm_over_the_never_zeroed_sum(plain_state):
    from shapley_nas_jax.rng import STREAM_WEIGHT_STEP, stream_key

    program = tiny_program(**{"train.clip_with_alpha_grad": True, "train.grad_clip": 0.5, "train.momentum": 0.9,
                              "train.weight_decay": 1e-3})
    state = program.init_state(jax.random.PRNGKey(0))
    summed = 0.3 * jax.random.normal(jax.random.PRNGKey(7), state.arch.alpha.shape)  # alpha's gradient so far
    state = state.replace(reference=state.reference.replace(alpha_grad=summed))
    batch = {"image": jax.random.uniform(jax.random.PRNGKey(1), (48, 8, 8, 1)),
             "label": jax.random.randint(jax.random.PRNGKey(2), (48,), 0, 10)}
    rng = stream_key(state.rng, STREAM_WEIGHT_STEP, state.step)
    # jitted: differentiating the supernet eagerly dispatches (and compiles) every op on its own
    stats = state.weights.batch_stats
    grad_w, grad_a = jax.jit(jax.grad(lambda p, a: program.loss(p, stats, a, None, batch, rng, True)[0],
                                      argnums=(0, 1)))(state.weights.params, state.arch.alpha)
    leaves = jax.tree.leaves(grad_w)
    norm = np.sqrt(sum(float(np.sum(np.square(g))) for g in leaves) + float(np.sum(np.square(summed + grad_a))))
    factor = 0.5 / (norm + 1e-6)
    assert factor < 0.9  # the test is about clipping, so clipping must happen
    hyper = hyperparameters()
    lr = float(program.schedule(hyper)(np.int32(0)))
    params = jax.tree.map(np.asarray, state.weights.params)
    new = program.weight_step(copied(state), batch, hyper)

    np.testing.assert_allclose(np.asarray(new.reference.alpha_grad), factor * (summed + grad_a), rtol=2e-4, atol=1e-7)
    # first SGD step (empty momentum buffer): w - lr * (factor * g + wd * w)
    expected = jax.tree.map(lambda w, g: w - lr * (factor * g + 1e-3 * w), params, grad_w)
    for got, want in zip(jax.tree.leaves(new.weights.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4, atol=1e-6)
    factor_sum, factor_min, steps = np.asarray(new.reference.clip_factors)
    assert steps == 1 and factor_sum == pytest.approx(factor, rel=2e-4) and factor_min == pytest.approx(factor, rel=2e-4)
    np.testing.assert_array_equal(np.asarray(new.start_epoch().reference.clip_factors), [0.0, 1.0, 0.0])
    # without the option alpha's gradient is neither kept nor counted
    assert plain_state.reference is None


@pytest.mark.slow
def test_kept_last_partial_batch_covers_every_training_image_each_epoch(plain_state):
    from shapley_nas_jax.search.schedule import search_data

    config = options_config(**{"data.drop_remainder": False})
    data = search_data(config)
    size, batch_size = len(data.train_stream.dataset), config.train.batch_size
    assert size % batch_size  # the test needs a partial batch
    assert data.steps_per_epoch == -(-size // batch_size)
    assert search_data(options_config()).steps_per_epoch == size // batch_size  # dropped by default
    for epoch in (0, 1):
        steps = range(epoch * data.steps_per_epoch, (epoch + 1) * data.steps_per_epoch)
        indices = np.concatenate([data.train_stream.indices(step) for step in steps])
        assert sorted(indices.tolist()) == list(range(size))
    last = data.train_stream.batch(data.steps_per_epoch - 1)
    assert len(last["label"]) == size % batch_size
    program = SearchProgram(config, get_space(config.space), image_shape=data.image_shape,
                            num_classes=data.num_classes)
    assert data.image_shape == (8, 8, 1) and data.num_classes == 10  # the shapes plain_state was made for
    state = program.weight_step(copied(plain_state), last, hyperparameters(config, data.steps_per_epoch))
    assert float(state.epoch_sums[2]) == size % batch_size


def test_last_op_guard_groups_the_players_of_edges_that_could_empty():
    from shapley_nas_jax.search.game import SupernetGame, player_positions

    def groups(space_name):
        space = get_space(space_name)
        return SupernetGame(space.alpha_shape, player_positions(space, "all"), value=None).edge_groups(), space

    reference, space = groups("darts_reference")  # 7 ops, all players: every edge can be emptied
    cell_types, edges, ops = space.alpha_shape
    np.testing.assert_array_equal(reference, np.repeat(np.arange(cell_types * edges), ops))
    nb201, _ = groups("nb201")  # 'none' is no player, so no edge ever empties
    assert (nb201 == -1).all()


@pytest.mark.slow
def test_search_with_the_last_op_guard_keeps_each_chains_last_op_of_every_edge():
    # three cells (normal, reduce, reduce): the guard acts on the edges of both cell types
    program = tiny_program(**{"shapley.keep_last_op": True, "shapley.samples": 2, "shapley.truncation": 0.01,
                              "shapley.metric": "neg_cross_entropy", "model.layers": 3})
    groups = program.game.edge_groups()
    assert (groups >= 0).all()  # the space's ops are all players
    batches = {"image": jax.random.uniform(jax.random.PRNGKey(1), (2, 32, 8, 8, 1)),
               "label": jax.random.randint(jax.random.PRNGKey(2), (2, 32), 0, 10)}
    # the estimate reads only weights, BN statistics and alpha: NumPy-drawn ones (no init to compile)
    alpha = 1e-3 * jax.random.normal(jax.random.PRNGKey(0), program.space.alpha_shape)
    variables = random_variables(program.model, jnp.zeros((1, 8, 8, 1)), alpha, None)
    state = SearchState.create(params=variables["params"], batch_stats=variables["batch_stats"], opt_state=(),
                               alpha=alpha, beta=None, arch_optimizer=(), rng=jax.random.PRNGKey(0))
    _, estimate = program.estimate_shapley(state, batches, jax.random.PRNGKey(3), hyperparameters(program.config))
    marginals, perms = np.asarray(estimate.marginals), np.asarray(estimate.permutations)
    for chain, order in enumerate(perms):
        for group in np.unique(groups):
            last = [p for p in order if groups[p] == group][-1]
            assert marginals[chain, last] == 0.0
    assert np.abs(marginals).max() > 0


def _classifier_leaves(params):
    """(kernel, bias) of every ``classifier`` layer in a parameter tree (the network's and the aux head's)."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    found = {}
    for path, leaf in flat:
        names = [getattr(p, "key", "") for p in path]
        if "classifier" in names:
            found.setdefault(tuple(names[:-1]), {})[names[-1]] = np.asarray(leaf)
    return [(layer["kernel"], layer["bias"]) for layer in found.values()]


def _assert_torch_linear(kernel, bias):
    bound = 1 / np.sqrt(kernel.shape[0])
    for leaf in (kernel, bias):
        assert np.abs(leaf).max() <= bound + 1e-7
        assert np.abs(leaf).max() > 0.6 * bound  # uniform over the whole interval, not near 0
    assert np.abs(bias).min() > 0 or bias.size == 1  # torch draws the bias too


@pytest.mark.parametrize("init", ["flax", "torch"])
def test_classifier_init_option_initialises_like_the_named_framework(init):
    import jax.numpy as jnp

    from shapley_nas_jax.evaluation.networks import build_network
    from shapley_nas_jax.genotypes import get_genotype
    from shapley_nas_jax.models import build_supernet

    supernet = build_supernet("nb201", channels=4, cells_per_stage=1, num_classes=10, classifier_init=init)
    alpha = jnp.zeros((1, 6, 5))
    # jitted: eagerly, each of the supernet's scanned edge groups compiles on its own (twice as slow)
    params = [jax.jit(supernet.init)(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 3)), alpha)["params"]]
    darts = build_network(get_genotype("darts_v2"), "cifar", num_classes=10, channels=4, layers=3, classifier_init=init)
    params.append(darts.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 3)))["params"])
    layers = [layer for p in params for layer in _classifier_leaves(p)]
    assert len(layers) == 3  # the supernet's, the network's and its auxiliary head's
    for kernel, bias in layers:
        if init == "torch":
            _assert_torch_linear(kernel, bias)
        else:  # Flax: LeCun-normal kernel (some beyond the uniform bound), zero bias
            assert np.all(bias == 0) and np.abs(kernel).max() > 1 / np.sqrt(kernel.shape[0])


def test_reference_config_initialises_the_classifier_like_torch_and_refuses_unknown_inits():
    from shapley_nas_jax.config import validate
    from shapley_nas_jax.errors import ConfigError

    assert (experiment_config("darts_cifar10_reference").model.init == "torch"
            and experiment_config("darts_cifar10_paper").model.init == "flax")
    state = tiny_program(**{"model.init": "torch"}).init_state(jax.random.PRNGKey(0))
    (kernel, bias), = _classifier_leaves(state.weights.params)
    _assert_torch_linear(kernel, bias)
    config = tiny_config(**{"model.init": "xavier"})  # a valid search config but for its classifier init
    validate(tiny_config(**{"model.init": "torch"}))
    with pytest.raises(ConfigError, match=r"model.init='xavier' is not valid; choose one of flax, torch"):
        validate(config)


def test_ordered_split_of_an_image_folder_is_refused_in_one_line():
    from shapley_nas_jax.config import validate
    from shapley_nas_jax.errors import ConfigError

    config = tiny_config(**{"data.name": "folder:/images", "data.split_order": "ordered"})
    with pytest.raises(ConfigError, match=r"^data.split_order='ordered' .* use data.split_order='random'"):
        validate(config)
    config.data.split_order = "random"
    validate(config)  # a seeded random split of the same folder is fine
