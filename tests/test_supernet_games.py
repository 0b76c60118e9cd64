"""Supernet games with exact Shapley values (shapley_nas_jax.exact_games): a tiny NB201 game built end to end on digits, its saved
table against the live supernet game (exact Shapley values, random coalitions), its mask derivatives
against finite differences of the live value, and the one-line errors on corrupt files."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax import exact_games as sg
from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError
from shapley_nas_jax.shapley import exact_shapley
from shapley_nas_jax.shapley.games import table_value


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Ops of NB201 edges 0 and 5 (8 players) of a 4-channel, 1-cell-per-stage supernet trained for 4 steps."""
    out = tmp_path_factory.mktemp("games")
    return sg.build_game("nb201_ops4", "digits", out=out, edges=(0, 5), epochs=1, channels=4, cells=1,
                         batch_size=32, train_fraction=0.1, value_batch_size=16, chunk=256, progress=False)


@pytest.fixture(scope="module")
def loaded(built):
    return sg.load_game(built.path)


@pytest.fixture(scope="module")
def batched_live(built):
    live = built.live
    return jax.jit(jax.vmap(lambda m: live.value(live.shared, m)))


@pytest.mark.slow
def test_file_fields_and_names(built, loaded):
    assert built.path.name == "supernet_nb201_ops4_digits.npz"
    assert loaded.num_players == 8
    assert loaded.values_accuracy.shape == loaded.values_neg_ce.shape == (256,)
    assert loaded.values_accuracy.dtype == np.float32
    assert loaded.players[0] == "cell/edge_0/skip_connect" and loaded.players[-1] == "cell/edge_5/avg_pool_3x3"
    np.testing.assert_array_equal(loaded.edge, [0] * 4 + [5] * 4)
    np.testing.assert_array_equal(loaded.node, [1] * 4 + [3] * 4)
    assert loaded.metadata["epochs"] == 1 and loaded.metadata["value_batch_size"] == 16
    assert loaded.metadata["dataset"] == "digits" and loaded.metadata["game_kind"] == "ops4"
    assert loaded.table_game("accuracy").name == "supernet_nb201_ops4_digits_accuracy"
    assert set(loaded.full_values) == set(sg.METRICS)
    # the grand coalition's table entry is the full-mask value
    assert loaded.values_accuracy[-1] == pytest.approx(loaded.full_values["accuracy"], abs=1e-6)
    assert loaded.values_neg_ce[-1] == pytest.approx(loaded.full_values["neg_ce"], rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["accuracy", "neg_ce"])
def test_table_shapley_equals_exact_shapley_of_live_game(built, loaded, metric):
    game = built.live.game(metric)
    live_phi = np.asarray(exact_shapley(game.value_fn, game.num_players, shared=game.shared))
    table = loaded.table_game(metric)
    np.testing.assert_allclose(table.shapley_values, live_phi, atol=2e-5)
    # efficiency: the values sum to v(full) - v(empty)
    values = loaded.values(metric)
    assert table.shapley_values.sum() == pytest.approx(float(values[-1]) - float(values[0]), abs=1e-5)


@pytest.mark.slow
def test_table_game_matches_live_value_on_random_coalitions(loaded, batched_live):
    masks = (np.random.default_rng(0).random((12, 8)) < 0.5).astype(np.float32)
    live = np.asarray(batched_live(jnp.asarray(masks)))
    for column, metric in enumerate(sg.TABLE_METRICS):
        game = loaded.table_game(metric)
        table = np.array([float(table_value(game.shared, jnp.asarray(m))) for m in masks])
        np.testing.assert_allclose(table, live[:, column], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def values_x64(built):
    """The live game in float64 (variables, images and masks), for finite differences of the mask: the values
    [p, 3] and mask gradients [p, 3, n] at each of p points, from one compiled function (reverse mode returns
    the forward pass's values beside the gradients), so that one call with every point compiles it once."""

    def values_and_gradients(points):
        live = built.live
        with jax.enable_x64(True):
            shared = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating)
                                  else x, live.shared)

            def f(m):
                value = live.value(shared, m)
                return value, value

            grads, values = jax.jit(jax.vmap(jax.jacrev(f, has_aux=True)))(jnp.asarray(points, jnp.float64))
            return np.asarray(values, np.float64), np.asarray(grads, np.float64)

    return values_and_gradients


@pytest.mark.slow
def test_derivatives_match_finite_differences(loaded, values_x64):
    """The gradient against central differences of the live value (float64), the Hessian against central
    differences of the live gradient: a ReLU network's value is piecewise smooth in the mask, and second
    differences of values pick up the kinks between the points (the pointwise Hessian does not see them), so
    the Hessian's check uses steps of 1e-6, too small to cross a kink."""
    n, h = 8, 1e-3
    eye = np.eye(n)
    points = [np.ones(n)] + [1 + s * h * eye[i] for i in range(n) for s in (1, -1)]
    h2 = 1e-6
    gradient_points = [1 + s * h2 * eye[i] for i in range(n) for s in (1, -1)]
    all_values, all_grads = values_x64(np.stack(points + gradient_points))
    values, grads = all_values[:len(points)], all_grads[len(points):]
    for metric in sg.CONTROL_METRICS:
        full, grad, hess = loaded.taylor(metric)
        column = sg.METRICS.index(metric)
        f = values[:, column]
        assert f[0] == pytest.approx(full, rel=1e-5)
        fd_grad = (f[1::2] - f[2::2]) / (2 * h)
        np.testing.assert_allclose(grad, fd_grad, atol=1e-2 * np.abs(grad).max(), err_msg=metric)
        g = grads[:, column, :]  # [2n, n]: the gradient at 1 + h2 e_i and 1 - h2 e_i
        fd_hess = (g[0::2] - g[1::2]) / (2 * h2)
        scale = np.abs(hess).max()
        np.testing.assert_allclose(hess, hess.T, atol=1e-3 * scale, err_msg=metric)
        np.testing.assert_allclose(hess, fd_hess, atol=1e-2 * scale, err_msg=metric)


def _rewrite(src, dst, **changes):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez_compressed(dst, **arrays)
    return dst


@pytest.mark.slow
def test_corrupt_files_are_rejected_in_one_line(built, loaded, tmp_path):
    cases = {
        "short.npz": ({"values_accuracy": loaded.values_accuracy[:-1]}, "values_accuracy has shape [255]"),
        "nofield.npz": ({"hessian_true_prob": None}, "missing field(s) hessian_true_prob"),
        "badmeta.npz": ({"metadata": np.asarray("{not json")}, "not JSON"),
        "nan.npz": ({"grad_neg_ce": np.full(8, np.nan)}, "non-finite"),
    }
    for name, (changes, message) in cases.items():
        path = _rewrite(built.path, tmp_path / name, **changes)
        with pytest.raises(InvalidInputError, match=re.escape(message)) as info:
            sg.load_game(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(InvalidInputError, match="not a readable .npz"):
        sg.load_game(garbage)
    with pytest.raises(PathNotFoundError):
        sg.load_game(tmp_path / "absent.npz")


def test_player_specs():
    from shapley_nas_jax.spaces import get_space

    space = get_space("darts_reference")
    edges = sg.game_players("darts_edges")
    assert edges.num_players == 14 and edges.names[3] == "normal/edge_3"
    np.testing.assert_array_equal(edges.node, [2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5])
    mask = np.asarray(edges.full_mask(jnp.asarray(np.eye(14, dtype=np.float32)[3])))
    assert mask.shape == space.alpha_shape
    assert mask[0, 3].sum() == space.num_ops and mask[0].sum() == space.num_ops and mask[1].all()  # reduce present
    ops = sg.game_players("darts_ops2")
    assert ops.num_players == 14 and ops.names[0] == "normal/edge_1/avg_pool_3x3"
    assert sg.game_players("nb201_ops4").num_players == 16
    with pytest.raises(Exception, match="unknown supernet game kind"):
        sg.game_players("nb201_edges")


def test_every_kind_trains_weights_only_and_the_helpers_name_and_tabulate():
    for kind, space in zip(sg.GAME_KINDS, ("nb201", "darts_reference", "darts_reference")):
        config = sg.supernet_config(kind, epochs=3, cells=1)  # validated on the way
        assert config.space == space and config.model.layers == 3  # at least the two reduction cells
        assert config.search.warmup_epochs == config.train.epochs == 3  # alpha never moves
    assert [sg.dataset_label(d) for d in ("digits", "svhn_cropped", "folder:/data/cifar_10/")] == [
        "digits", "svhn-cropped", "cifar-10"]
    table = sg.format_batching_table([{"chunk": 1, "evals_per_second": 10.0, "calls": 64, "compile_seconds": 1.5},
                                      {"chunk": 4, "evals_per_second": 30.0, "calls": 16, "compile_seconds": 2.0}])
    assert table.splitlines()[2].split() == ["4", "30.0", "3.00x", "16", "2.0"]  # speed-up over the first row
