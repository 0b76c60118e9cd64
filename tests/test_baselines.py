"""Baselines and ablations on equal footing: DARTS 1st/2nd-order steps, the Shapley step, DARTS+Shapley(*),
random search on NB201, and `shapley-nas plot` on a real tiny run."""

import csv
import functools
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from repo_files import REPO
from search_configs import quick_darts_space, tiny_config
from shapley_nas_jax import experiments
from shapley_nas_jax.errors import UserError
from shapley_nas_jax.search import run_search
from shapley_nas_jax.search.schedule import Search
from shapley_nas_jax.rng import STREAM_ALPHA, STREAM_SHAPLEY, stream_key
from shapley_nas_jax.search.steps import SearchProgram
from shapley_nas_jax.search.state import Hyperparameters
from shapley_nas_jax.spaces import get_space

IMAGE_SHAPE = (8, 8, 1)


def tiny_program(**overrides):
    """A program on the two-op DARTS test space (the steps' logic is the space's; its ops compile fast)."""
    config = tiny_config(quick_darts_space(), **overrides)
    return SearchProgram(config, get_space(config.space), image_shape=IMAGE_SHAPE, num_classes=10)


def hyperparameters(program) -> Hyperparameters:
    return Hyperparameters.from_config(program.config, steps_per_epoch=4)


def random_batch(seed, size=16):
    rng = np.random.default_rng(seed)
    return {"image": jnp.asarray(rng.normal(size=(size, *IMAGE_SHAPE)), jnp.float32),
            "label": jnp.asarray(rng.integers(0, 10, size), jnp.int32)}


# The second-order step runs a one-cell supernet (its unrolled weight step compiles several times slower);
# the first-order checks keep both cell types, which the finite differences probe.
DARTS_LAYERS = {"darts_1st": 3, "darts_2nd": 1}
FD_COORDS = np.arange(0, 2 * 14 * 2, 7)[:8]  # a spread of (cell type, edge, op) positions
FD_EPS = 1e-2


def _darts_case(method, initial_state):
    """A DARTS program for ``method``, a state with alpha moved off its init, one DARTS step from that state
    (given a copy: the step donates its state), and an independent ``value_loss(alpha)`` at the alphas the
    tests probe: ``[alpha0, alpha after the step, alpha0 + eps e_i..., alpha0 - eps e_i...]`` for the
    coordinates ``FD_COORDS`` (one vmapped call: one more program to compile)."""
    program = tiny_program(**{"search.method": method, "model.layers": DARTS_LAYERS[method]})
    # move alpha off its ~0 init so the op weights differ (and the gradient is not symmetric)
    state = initial_state(DARTS_LAYERS[method]).with_arch(
        alpha=jnp.asarray(np.random.default_rng(1).normal(size=program.space.alpha_shape), jnp.float32))
    train_batch, value_batch = random_batch(0), random_batch(1)
    params, stats = state.weights.params, state.weights.batch_stats
    rng = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
    lr, wd = float(program.schedule(hyperparameters(program))(state.step)), program.config.train.weight_decay

    def loss(p, alpha, batch):  # written independently of SearchProgram.loss
        logits = program.model.apply({"params": p, "batch_stats": stats}, batch["image"], alpha, None,
                                     train=True, rngs={"noise": rng}, mutable=["batch_stats"])[0]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, batch["label"][:, None], axis=1))

    def value_loss(alpha):
        p = params
        if method == "darts_2nd":  # L_val at w' = w - lr (dL_train/dw + wd w)
            g = jax.grad(loss)(params, alpha, train_batch)
            p = jax.tree.map(lambda w, gw: w - lr * (gw + wd * w), params, g)
        return loss(p, alpha, value_batch)

    new_state, metrics = program.arch_step(jax.tree.map(jnp.copy, state), train_batch, value_batch,
                                            hyperparameters(program))
    basis = np.zeros((len(FD_COORDS), state.arch.alpha.size), np.float32)
    basis[np.arange(len(FD_COORDS)), FD_COORDS] = FD_EPS
    basis = jnp.asarray(basis.reshape(len(FD_COORDS), *state.arch.alpha.shape))
    alpha0 = state.arch.alpha
    probes = jnp.concatenate([alpha0[None], new_state.arch.alpha[None], alpha0 + basis, alpha0 - basis])
    values = np.asarray(jax.jit(jax.vmap(value_loss))(probes))
    return program, state, values, new_state, metrics


@pytest.fixture(scope="module")
def darts_initial_state():
    """The initial state of a DARTS program with ``layers`` cells, compiled once per depth: 1st and 2nd order
    build the same one."""
    return functools.cache(lambda layers: tiny_program(**{"search.method": "darts_1st",
                                                          "model.layers": layers}).init_state(jax.random.PRNGKey(0)))


@pytest.fixture(scope="module")
def darts_case(darts_initial_state):
    """_darts_case(method), computed once per method for the tests of this file (one program to compile)."""
    return functools.cache(functools.partial(_darts_case, initial_state=darts_initial_state))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["darts_1st", "darts_2nd"])
def test_darts_step_descends_the_value_loss(method, darts_case):
    """The DARTS step is Adam on dL_val/dalpha (2nd order: L_val at the weights after one unrolled SGD step
    on L_train). It reports that loss, moves every alpha by the Adam lr, and lowers the loss."""
    program, state, values, new_state, metrics = darts_case(method)
    alpha0 = np.asarray(state.arch.alpha)
    expected_loss = float(values[0])  # value_loss(alpha0)
    new_alpha = np.asarray(new_state.arch.alpha)
    assert int(new_state.alpha_updates) == 1
    np.testing.assert_allclose(float(metrics["value_loss"]), expected_loss, rtol=1e-4)
    # Adam's first step is lr * sign(...) in every coordinate with a non-negligible gradient
    np.testing.assert_allclose(np.abs(new_alpha - alpha0), program.config.darts.learning_rate, rtol=0.05)
    assert float(values[1]) < expected_loss - 1e-6  # value_loss(new_alpha)


@pytest.mark.slow
def test_darts_first_order_direction_matches_finite_differences(darts_case):
    """-sign of the DARTS update == sign of dL_val/dalpha (+ wd alpha) by central differences, on the
    coordinates whose finite-difference derivative is clearly above round-off."""
    program, state, values, new_state, _ = darts_case("darts_1st")
    coords, eps = FD_COORDS, FD_EPS
    assert program.config.model.layers == 3 and state.arch.alpha.size == 2 * 14 * 2  # coords span both cell types
    values = values[2:]  # value_loss at alpha0 + eps e_i, then at alpha0 - eps e_i
    fd = (values[: len(coords)] - values[len(coords):]) / (2 * eps)
    alpha0 = np.asarray(state.arch.alpha).ravel()
    delta = (np.asarray(new_state.arch.alpha).ravel() - alpha0)[coords]
    target = fd + program.config.darts.weight_decay * alpha0[coords]
    clear = np.abs(target) > 2e-3 + 0.05 * np.abs(target).max()  # well above FD round-off and curvature
    assert clear.sum() >= 3
    np.testing.assert_array_equal(np.sign(delta[clear]), -np.sign(target[clear]))


@pytest.mark.slow
def test_shapley_step_moves_alpha_toward_larger_shapley_values(darts_initial_state):
    program = tiny_program(**{"shapley.samples": 4, "shapley.value_batch_size": 48})
    # program.init_state(key) without compiling another initialisation: the first-order DARTS program's initial
    # state (the same supernet, seed and weight optimizer: the same weights and alpha) with this program's
    # alpha-rule state in place of DARTS' Adam state (a copy: the shared state must outlive the donation)
    darts_state = jax.tree.map(jnp.copy, darts_initial_state(3))
    assert program.config.model.layers == 3
    state = darts_state.with_arch(optimizer=program.init_arch_state(darts_state.arch.alpha, None, darts_state.rng))
    alpha0 = np.asarray(state.arch.alpha)
    batches = jax.tree.map(lambda *x: jnp.stack(x), *[random_batch(10 + i, 48) for i in range(4)])
    key = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
    phi_independent, _ = program.estimate_shapley(state, batches, key, hyperparameters(program))
    new_state, metrics = program.shapley_step(state, batches, hyperparameters(program))
    phi = np.asarray(new_state.arch.shapley)
    np.testing.assert_allclose(phi, np.asarray(phi_independent), atol=1e-6)
    delta = np.asarray(new_state.arch.alpha) - alpha0
    players = np.asarray(program.space.player_mask())
    for t in range(phi.shape[0]):  # the reference rule z-scores phi per cell type
        p, d = phi[t][players[t]], delta[t][players[t]]
        assert p.std() > 0, "degenerate test: all Shapley values equal"
        assert np.corrcoef(p, d)[0, 1] > 0.99
    # on every edge the op with the larger Shapley value gains more alpha (where they clearly differ)
    gap = np.abs(phi[..., 0] - phi[..., 1]) > 0.1 * np.abs(phi).max()
    assert gap.any()
    np.testing.assert_array_equal(np.argmax(delta, -1)[gap], np.argmax(phi, -1)[gap])


def _ablation_config(**overrides):
    base = {"search.method": "darts_1st", "search.final_shapley": True, "search.derive_from": "shapley",
            "train.epochs": 1, "search.warmup_epochs": 0, "train.batch_size": 16, "data.train_fraction": 0.06,
            "data.value_fraction": 0.1, "shapley.value_batch_size": 32, "shapley.samples": 2}
    base.update(overrides)
    return tiny_config(quick_darts_space(), **base)  # the ablation's logic is the space's; its ops compile fast


@pytest.fixture(scope="module")
def darts_shapley_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("darts_shapley"))
    return run_search(_ablation_config(), workdir, progress=False), workdir


def _results(workdir):
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f)


def _init_alpha(config):
    space = get_space(config.space)
    return np.asarray(1e-3 * jax.random.normal(stream_key(jax.random.PRNGKey(config.seed), STREAM_ALPHA),
                                               space.alpha_shape))


@pytest.mark.slow
def test_darts_plus_shapley_derives_genotype_from_shapley_values(darts_shapley_run):
    result, workdir = darts_shapley_run
    results = _results(workdir)
    space = get_space(_ablation_config().space)
    assert results["derived_from"] == "shapley"
    shapley = np.asarray(results["shapley"])
    assert shapley.shape == space.alpha_shape and np.abs(shapley).sum() > 0
    assert results["genotype"] == space.genotype(shapley).to_json()
    assert result.genotype == space.genotype(shapley)
    assert results["alpha_updates"] == results["steps"] > 0  # DARTS moved alpha before every weight step
    assert not np.allclose(results["alpha"], _init_alpha(_ablation_config()))
    final = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    assert any(r["kind"] == "final_shapley" for r in final)


@pytest.mark.slow
def test_darts_plus_shapley_star_keeps_alpha_at_init(tmp_path, darts_shapley_run):
    config = _ablation_config(**{"search.freeze_alpha": True})
    # freezing alpha changes the schedule only: this search reuses the compiled steps of the run above
    star, plain = Search.from_config(config), Search.from_config(_ablation_config())
    assert star.program is plain.program and star.config.search.freeze_alpha
    darts = Search.from_config(_ablation_config(**{"search.final_shapley": False, "search.derive_from": "alpha"}))
    assert darts.program is plain.program  # and so does plain DARTS: the final estimate is the schedule's
    assert len(star.update_points) == 0 and len(plain.update_points) > 0
    assert Search.from_config(_ablation_config(**{"search.method": "darts_2nd"})).program is not plain.program
    result = run_search(config, str(tmp_path), progress=False)
    results = _results(str(tmp_path))
    # (to float32 rounding: the state is initialised in one jitted call, this reference eagerly)
    np.testing.assert_allclose(np.asarray(results["alpha"], np.float32), _init_alpha(config), rtol=1e-6, atol=0)
    assert results["alpha_updates"] == 0 and results["derived_from"] == "shapley"
    shapley = np.asarray(results["shapley"])
    assert result.genotype == get_space(config.space).genotype(shapley)


@pytest.mark.slow
def test_darts_plus_shapley_finishes_a_darts_run_as_the_full_search_does(tmp_path, darts_shapley_run):
    """A plain DARTS run in a run_seeds root, then experiments.darts_plus_shapley (scripts/darts_plus_shapley.py):
    the same Shapley values, alpha and cell as the search that ran DARTS+Shapley from the start (the fixture),
    to the bit."""
    darts = tmp_path / "runs" / "seed0"
    run_search(_ablation_config(**{"search.final_shapley": False, "search.derive_from": "alpha"}), str(darts),
               progress=False)
    assert experiments.finished_runs(str(tmp_path / "runs")) == {"seed0": str(darts)}
    assert experiments.finished_runs(str(darts)) == {"": str(darts)}
    out = str(tmp_path / "out" / "seed0")
    posthoc = experiments.darts_plus_shapley(str(darts), out, progress=False)
    full = _results(darts_shapley_run[1])
    assert posthoc == _results(out)
    np.testing.assert_array_equal(posthoc["shapley"], full["shapley"])
    np.testing.assert_array_equal(posthoc["alpha"], full["alpha"])
    assert posthoc["genotype_str"] == full["genotype_str"] and posthoc["derived_from"] == "shapley"
    assert posthoc["config"] == full["config"]  # the output is the DARTS+Shapley search, resumable as one
    # a rerun keeps the finished output; bad input is one line naming what to give instead
    stamp = os.path.getmtime(os.path.join(out, "results.json"))
    assert experiments.darts_plus_shapley(str(darts), out) == posthoc
    assert os.path.getmtime(os.path.join(out, "results.json")) == stamp
    shapley_run = tmp_path / "shapley"  # a Shapley-NAS run's files (no more than these are read)
    shapley_run.mkdir()
    (shapley_run / "config.json").write_text(_ablation_config(**{"search.method": "shapley"}).to_json())
    (shapley_run / "results.json").write_text("{}")
    with pytest.raises(UserError, match="is neither a search workdir \\(config.json\\) nor a run_seeds root"):
        experiments.finished_runs(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="is a search.method='shapley' run; give a DARTS run"):
        experiments.darts_plus_shapley(str(shapley_run), str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()  # nothing written on bad input


@pytest.mark.slow
def test_darts_plus_shapley_script_refuses_bad_input_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/darts_plus_shapley.py", "--run", str(tmp_path / "nowhere"),
                           "--workdir", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(
        f"darts_plus_shapley: --run {tmp_path / 'nowhere'} is neither a search workdir")
    assert not (tmp_path / "out").exists()


def write_nb201_table(path, num_archs, seed=0):
    """A small fake NB201 table: distinct random archs with random accuracies; returns the rows."""
    from shapley_nas_jax.spaces.nb201 import NB201_OPS, arch_from_ops
    from shapley_nas_jax.benchmarks.nb201 import TABLE_COLUMNS

    rng = np.random.default_rng(seed)
    archs = set()
    while len(archs) < num_archs:
        archs.add(arch_from_ops(rng.integers(0, len(NB201_OPS), 6).tolist()))
    rows = []
    for arch in sorted(archs):
        row = {"arch_str": arch}
        for column in TABLE_COLUMNS.values():
            row[column] = round(float(rng.uniform(10, 95)), 3)
        rows.append(row)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, ["arch_str", *TABLE_COLUMNS.values()])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_random_search_finds_the_best_arch_when_the_budget_covers_the_table(tmp_path):
    rows = write_nb201_table(tmp_path / "table.csv", 25)
    best = max(rows, key=lambda r: r["cifar10_valid"])
    config = tiny_config("nb201", **{"search.method": "random", "search.random_samples": 25,
                                     "search.benchmark": str(tmp_path / "table.csv")})
    result = run_search(config, str(tmp_path / "run"), progress=False)
    assert result.genotype_str == best["arch_str"]
    results = _results(str(tmp_path / "run"))
    assert results["benchmark"]["cifar10"]["test"] == pytest.approx(best["cifar10_test"])
    assert len(results["history"]) == 25 and len({h["arch"] for h in results["history"]}) == 25
    # a smaller budget keeps the best of what it sampled
    config.search.random_samples = 5
    small = run_search(config, str(tmp_path / "small"), progress=False)
    sampled = [h["arch"] for h in _results(str(tmp_path / "small"))["history"]]
    by_arch = {r["arch_str"]: r["cifar10_valid"] for r in rows}
    assert small.genotype_str == max(sampled, key=by_arch.get)


@pytest.mark.slow
def test_plot_command_on_a_real_tiny_run(darts_shapley_run, capsys):
    from shapley_nas_jax import cli

    _, workdir = darts_shapley_run
    assert cli.main(["shapley-nas", "plot", workdir]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    names = {os.path.basename(p) for p in printed}
    assert {"alpha_curves_normal.png", "alpha_curves_reduce.png", "cell.png", "alpha_heatmap.png",
            "shapley_heatmap.png"} <= names
    for path in printed:
        assert path.endswith(".png") and os.path.getsize(path) > 1000
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    # what the figures draw: the run's own alpha and Shapley values, per cell type
    from shapley_nas_jax.analysis import plots

    figures = {os.path.basename(p): fig for p, fig in plots.run_figures(workdir).items()}
    assert set(figures) == names
    results = _results(workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        epochs = [r for r in map(json.loads, f) if r.get("kind") == "epoch"]
    cell_types, edge_ops = results["space"]["cell_types"], results["space"]["edge_ops"]
    assert cell_types == ["normal", "reduce"]
    final = np.asarray(plots.softmax(results["alpha"]))
    shapley = np.asarray(results["shapley"], float)
    for t, cell_type in enumerate(cell_types):
        grid = figures[f"alpha_curves_{cell_type}.png"]
        assert grid._suptitle.get_text() == f"softmax(alpha) per edge: {cell_type}"
        curves = [ax for ax in grid.axes if ax.get_visible()]
        assert len(curves) == len(edge_ops[t])
        for edge, ax in enumerate(curves):
            assert [line.get_label() for line in ax.get_lines()] == list(edge_ops[t][edge])
            for op, line in enumerate(ax.get_lines()):
                assert list(line.get_xdata()) == [r["epoch"] for r in epochs]
                np.testing.assert_allclose(line.get_ydata(), [plots.softmax(r["alpha"])[t, edge, op] for r in epochs],
                                           rtol=1e-6)
        np.testing.assert_allclose(figures["alpha_heatmap.png"].axes[t].images[0].get_array(), final[t], rtol=1e-6)
        np.testing.assert_allclose(figures["shapley_heatmap.png"].axes[t].images[0].get_array(), shapley[t],
                                   rtol=1e-6)
