"""End-to-end search loop: results, logs, exact resume after a kill, refusals, divergence."""

import json
import os
import re
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_configs import experiment_config, quick_darts_space, tiny_config
from shapley_nas_jax.errors import ConfigError, SearchDivergedError, UserError, WorkdirConflictError
from shapley_nas_jax.genotypes import parse_genotype
from shapley_nas_jax.search import SearchInterrupted, arch_update_points, run_search
from shapley_nas_jax.search.state import Hyperparameters
from shapley_nas_jax.spaces import get_space


def search_config(space: str | None = None, **overrides):
    """tiny_config at 16-image batches and 4 weight steps per epoch, by default on a DARTS space quicker to
    compile than s2's: the loop's behaviour in the least run time."""
    return tiny_config(space or quick_darts_space(), **{"train.batch_size": 16, "data.train_fraction": 0.05,
                                                        "shapley.value_batch_size": 16, **overrides})


def read_records(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_arch_update_points_follow_the_cadence():
    c = tiny_config(**{"train.epochs": 4, "search.warmup_epochs": 2})
    np.testing.assert_array_equal(arch_update_points(c, 10), [20, 30])
    c.search.alpha_cadence, c.search.alpha_every_steps = "steps", 7
    np.testing.assert_array_equal(arch_update_points(c, 10), [21, 28, 35])
    c.search.method = "darts_1st"
    np.testing.assert_array_equal(arch_update_points(c, 10), np.arange(20, 40))
    c.search.freeze_alpha = True
    assert arch_update_points(c, 10).size == 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("full"))
    return run_search(search_config(), workdir, progress=False), workdir


@pytest.mark.slow
def test_search_writes_genotype_logs_and_results(uninterrupted):
    result, workdir = uninterrupted
    records = read_records(workdir)
    epochs = [r for r in records if r["kind"] == "epoch"]
    updates = [r for r in records if r["kind"] == "alpha_update"]
    assert [r["epoch"] for r in epochs] == [0, 1, 2]
    assert len(updates) == 2  # epochs 1 and 2 start with an update; epoch 0 is warm-up
    assert all(u["num_evaluations"] >= 2 for u in updates)
    assert epochs[0]["shapley"] is None and epochs[-1]["shapley"] is not None
    # alpha is frozen during warm-up (the first update comes after epoch 0) and moves afterwards
    assert records.index(updates[0]) == records.index(epochs[0]) + 1
    assert not np.allclose(epochs[1]["alpha"], epochs[0]["alpha"])
    results = json.load(open(os.path.join(workdir, "results.json")))
    assert parse_genotype(results["genotype_str"]) == result.genotype
    assert results["genotype"] == result.genotype.to_json()
    np.testing.assert_array_equal(np.asarray(results["alpha"]), result.alpha)
    for name in ("config.json", "environment.json"):
        assert os.path.exists(os.path.join(workdir, name))
    env = json.load(open(os.path.join(workdir, "environment.json")))
    assert env["seed"] == 0 and "jax" in env["versions"]


@pytest.mark.slow
def test_each_shapley_update_records_its_estimates_noise(uninterrupted):
    from shapley_nas_jax.analysis.ranking import estimate_agreement

    result, workdir = uninterrupted
    config = search_config()
    space = get_space(config.space)
    players = space.player_mask()
    updates = [r for r in read_records(workdir) if r["kind"] == "alpha_update"]
    for i, update in enumerate(updates):
        se = np.asarray(update["shapley_se"], np.float64)
        assert se.shape == np.asarray(update["shapley"]).shape == space.alpha_shape
        assert np.all(se[players] >= 0) and np.all(se[~players] == 0)
        assert 1 <= update["chain_players_mean"] <= players.sum()
        assert 0 <= update["value_full"] <= 1
        previous = [u["shapley"] for u in updates[:i]]
        if i == 0:
            assert update["estimate_agreement"] is None  # nothing to agree with yet
        else:
            assert update["estimate_agreement"] == pytest.approx(
                estimate_agreement(previous, update["shapley"], players), abs=1e-12)
    # the estimate the record carries is the one alpha moved by
    np.testing.assert_allclose(updates[-1]["shapley"], result.shapley, rtol=1e-6)
    assert any(np.any(np.asarray(u["shapley_se"])[players] > 0) for u in updates)


@pytest.mark.slow
@pytest.mark.parametrize("event,count", [("alpha_update", 1), ("step", 6), ("epoch_end", 2)])
def test_killed_and_resumed_run_matches_uninterrupted(uninterrupted, tmp_path, event, count):
    reference, reference_dir = uninterrupted
    seen = []

    def kill(name, state):
        if name == event:
            seen.append(name)
        return len(seen) == count

    workdir = str(tmp_path / "killed")
    with pytest.raises(SearchInterrupted):
        run_search(search_config(), workdir, progress=False, interrupt=kill)
    resumed = run_search(search_config(), workdir, progress=False)
    np.testing.assert_array_equal(resumed.alpha, reference.alpha)
    assert resumed.genotype == reference.genotype
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
    assert strip(read_records(workdir)) == strip(read_records(reference_dir))


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_where_the_run_stops_and_the_rerun_resumes_there(uninterrupted, tmp_path, request):
    reference, reference_dir = uninterrupted
    # Python's own Ctrl-C handler, whatever the process running the test (a pytest-xdist worker) had set
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous_handler))

    def ctrl_c(event, state):  # as if Ctrl-C were pressed during weight step 5 (mid-epoch, after an update)
        if event == "step" and int(state.step) == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return False

    workdir = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt, match="rerun the same command to resume"):
        run_search(search_config(), str(workdir), progress=False, interrupt=ctrl_c)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the driver's handler is gone
    done_updates = sum(r["kind"] == "alpha_update" and r["step"] < 5 for r in read_records(reference_dir))
    assert max(map(int, os.listdir(workdir / "checkpoints"))) == 5 + done_updates  # checkpoint id: step + updates
    resumed = run_search(search_config(), str(workdir), progress=False)
    np.testing.assert_array_equal(resumed.alpha, reference.alpha)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
    assert strip(read_records(workdir)) == strip(read_records(reference_dir))


@pytest.mark.slow
def test_shapley_signal_repeats_estimates_on_a_finished_run(uninterrupted):
    from shapley_nas_jax.analysis import shapley_signal as signal

    _, workdir = uninterrupted
    variants = [signal.parse_variant("base="), signal.parse_variant("m3=shapley.samples=3")]
    assert variants == [("base", []), ("m3", ["shapley.samples=3"])]
    rows = signal.repeated_estimates(workdir, variants, repeats=2, log=lambda line: None)
    assert [r["variant"] for r in rows] == ["base", "m3"] and rows[1]["overrides"] == {"shapley.samples": "3"}
    for row in rows:
        estimates = np.asarray(row["estimates"])
        assert estimates.shape[0] == 2 and np.abs(estimates).sum() > 0
        assert not np.array_equal(estimates[0], estimates[1])  # fresh batches and permutations each time
        assert 1 <= row["players_per_chain"] <= row["players"] and row["evals"] >= 2
        space = get_space(json.load(open(os.path.join(workdir, "config.json")))["space"])
        assert row["mean_cell"] == str(space.genotype(estimates.mean(0)))  # the cell of the mean estimate
    # agreement of identical estimates is perfect, of a reversed ranking perfectly negative
    players = np.zeros((1, 2, 3), bool)
    players[..., :] = True
    same = np.stack([np.arange(6.0).reshape(1, 2, 3)] * 2)
    assert signal.edge_figures(same, players)["spearman"] == pytest.approx(1.0)
    assert signal.edge_figures(same, players)["top_op_agreement"] == 1.0
    assert signal.edge_figures(np.stack([same[0], -same[0]]), players)["spearman"] == pytest.approx(-1.0)
    with pytest.raises(UserError, match="'shapley.nonsense' is not key=value"):
        signal.parse_variant("bad=shapley.nonsense")
    with pytest.raises(ConfigError, match="unknown config key 'shapley.nonsense'"):
        signal.repeated_estimates(workdir, [("bad", ["shapley.nonsense=1"])], repeats=2)


@pytest.mark.slow
def test_rerun_with_a_different_config_is_refused(uninterrupted):
    _, workdir = uninterrupted
    with pytest.raises(WorkdirConflictError, match="train.epochs: 3 -> 4"):
        run_search(search_config(**{"train.epochs": 4}), workdir, progress=False)


def test_a_run_started_before_a_config_key_existed_resumes_while_the_key_holds_its_default(tmp_path):
    from shapley_nas_jax.config import base_config
    from shapley_nas_jax.runs import RunDir

    saved = json.loads(tiny_config().to_json_best_effort())
    del saved["data"]["split_order"]  # as written by a version without the key
    os.makedirs(tmp_path / "run")
    with open(tmp_path / "run" / "config.json", "w") as f:
        json.dump(saved, f)
    RunDir(str(tmp_path / "run")).prepare(tiny_config(), defaults=base_config())  # default: same behaviour
    with pytest.raises(WorkdirConflictError, match="data.split_order: '<absent>' -> 'ordered'"):
        RunDir(str(tmp_path / "run")).prepare(tiny_config(**{"data.split_order": "ordered"}), defaults=base_config())
    with pytest.raises(WorkdirConflictError, match="data.split_order"):  # without defaults every key counts
        RunDir(str(tmp_path / "run")).prepare(tiny_config())


def test_a_checkpoint_saved_before_an_optional_state_field_existed_restores_it_as_none(tmp_path):
    import flax.struct

    from shapley_nas_jax.checkpointing import Checkpointer

    @flax.struct.dataclass
    class Before:
        weights: jax.Array
        beta: jax.Array | None

    @flax.struct.dataclass
    class After:
        weights: jax.Array
        beta: jax.Array | None
        extra: jax.Array | None = None  # e.g. the state of an option that is off

    checkpointer = Checkpointer(str(tmp_path / "ckpt"))
    checkpointer.save(1, Before(weights=jnp.arange(3.0), beta=None), {"step": 1})
    state, meta = checkpointer.restore(jax.eval_shape(lambda: After(weights=jnp.zeros(3), beta=None)))
    np.testing.assert_array_equal(np.asarray(state.weights), [0.0, 1.0, 2.0])
    assert state.extra is None and state.beta is None and meta == {"step": 1}
    with pytest.raises(ValueError):  # a field the template needs (not None) is never silently left out
        checkpointer.restore(jax.eval_shape(lambda: After(weights=jnp.zeros(3), beta=None, extra=jnp.zeros(2))))
    checkpointer.close()


LEGACY_RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy_checkpoint")


@pytest.mark.slow
def test_a_search_checkpointed_before_the_state_was_grouped_resumes(tmp_path):
    """tests/data/legacy_checkpoint: a search killed after its first update by the code before ``SearchState``
    was grouped by role (14 flat fields; made by tests/data/make_legacy_checkpoint.py), with every leaf it
    saved in state.npz. Today's code restores each leaf where it now lives and finishes the run."""
    import shutil

    from shapley_nas_jax.checkpointing import Checkpointer
    from shapley_nas_jax.search import SearchProgram

    workdir = tmp_path / "legacy"
    shutil.copytree(LEGACY_RUN, workdir, ignore=shutil.ignore_patterns("state.npz"))
    config = search_config(**{"train.clip_with_alpha_grad": True})
    program = SearchProgram(config, get_space(config.space), image_shape=(8, 8, 1), num_classes=10)
    template = jax.eval_shape(program.init_state, jax.random.PRNGKey(0))
    checkpointer = Checkpointer(str(workdir / "checkpoints"))
    state, _ = checkpointer.restore(template)
    checkpointer.close()
    with np.load(os.path.join(LEGACY_RUN, "state.npz")) as saved:
        # the old state's paths start with its field (".alpha..."); flat()'s with the dict key ("['alpha']...")
        flat_leaves = {re.sub(r"^\['(\w+)'\]", r".\1", jax.tree_util.keystr(path)): leaf
                       for path, leaf in jax.tree_util.tree_leaves_with_path(state.flat())}
        assert sorted(flat_leaves) == sorted(saved.files)
        for name, leaf in flat_leaves.items():
            np.testing.assert_array_equal(np.asarray(leaf), saved[name], err_msg=name)
    assert state.reference is not None and state.arch.beta is None
    assert (int(state.step), int(state.alpha_updates)) == (4, 1)

    result = run_search(config, str(workdir), progress=False)
    updates = [r for r in read_records(str(workdir)) if r["kind"] == "alpha_update"]
    assert [u["step"] for u in updates] == [4, 8] and int(result.state.step) == 12
    assert np.all(np.isfinite(result.alpha)) and not np.array_equal(result.alpha, state.arch.alpha)
    assert os.path.exists(workdir / "results.json")


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    # on the NB201 space, which compiles faster than DARTS's; divergence is checked by the loop, not the space
    config = search_config("nb201", **{"train.learning_rate": 1e30, "train.grad_clip": 1e30,
                                       "search.warmup_epochs": 3})
    with pytest.raises(SearchDivergedError, match="non-finite at weight step"):
        run_search(config, str(tmp_path), progress=False)
    assert not os.path.exists(tmp_path / "results.json")


@pytest.mark.parametrize("key,value,message", [
    ("space", "dartz", "space='dartz' is not valid"),
    ("shapley.truncation", 1.5, "must lie in (0, 1]"),
    ("shapley.truncation", 0.0, "must lie in (0, 1]"),
    ("shapley.samples", 0, "must be >= 1"),
    ("search.method", "enas", "search.method='enas' is not valid"),
])
def test_bad_options_get_one_line_errors(tmp_path, key, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")) as error:
        run_search(tiny_config(**{key: value}), str(tmp_path), progress=False)
    assert "\n" not in str(error.value)


def test_a_missing_dataset_or_benchmark_leaves_no_workdir_behind(tmp_path):
    # a rerun with the path corrected would otherwise meet a workdir holding the wrong config
    with pytest.raises(UserError, match="image folder .* does not exist"):
        run_search(tiny_config(**{"data.name": f"folder:{tmp_path / 'no_images'}"}), str(tmp_path / "run"),
                   progress=False)
    with pytest.raises(ConfigError, match="search.method='random' scores architectures by a benchmark table"):
        run_search(tiny_config("nb201", **{"search.method": "random"}), str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()


def test_value_batch_larger_than_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="larger than"):
        run_search(tiny_config(**{"shapley.value_batch_size": 100000}), str(tmp_path), progress=False)


@pytest.mark.slow
def test_nb201_search_logs_benchmark_accuracy_of_each_epochs_genotype(tmp_path):
    """With search.benchmark set, every epoch record and results.json carry the table's accuracies of the
    genotype of that moment (a table of all 15,625 cells whose accuracy encodes the arch)."""
    import csv
    import itertools

    from shapley_nas_jax.spaces.nb201 import NB201_OPS, arch_from_ops
    from shapley_nas_jax.benchmarks.nb201 import TABLE_COLUMNS

    def accuracy(ops):  # a distinct number per arch
        return float(sum(op * 5 ** i for i, op in enumerate(ops))) / 100

    table = tmp_path / "table.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch_str", *TABLE_COLUMNS.values()])
        for ops in itertools.product(range(len(NB201_OPS)), repeat=6):
            writer.writerow([arch_from_ops(list(ops)), *[accuracy(ops)] * len(TABLE_COLUMNS)])
    config = search_config("nb201", **{"search.benchmark": str(table), "train.epochs": 2})
    result = run_search(config, str(tmp_path / "run"), progress=False)
    epochs = [r for r in read_records(str(tmp_path / "run")) if r["kind"] == "epoch"]
    assert len(epochs) == 2
    for record in epochs + [json.load(open(tmp_path / "run" / "results.json"))]:
        ops = [NB201_OPS.index(op) for op in parse_genotype(record["genotype_str"]).ops]
        assert record["benchmark"]["cifar10"]["test"] == pytest.approx(accuracy(ops))
        assert record["benchmark"]["imagenet16"]["valid"] == pytest.approx(accuracy(ops))
    assert str(result.genotype) == epochs[-1]["genotype_str"]


@pytest.mark.slow
def test_batched_chunks_are_capped_by_the_memory_budget():
    from shapley_nas_jax.search.steps import SearchProgram

    def chunk(**overrides):
        config = tiny_config(quick_darts_space(), **{"shapley.chunk_size": 0, "shapley.scoring": "batched",
                                                     "model.layers": 1, **overrides})
        # one (reduction) cell of the two-op test space: quick to trace for the memory estimate
        program = SearchProgram(config, get_space(config.space), image_shape=(8, 8, 1), num_classes=10)
        return program.plan.chunk_size, program.game.num_players

    tiny, players = chunk(**{"shapley.memory_budget_mb": 1})
    huge, _ = chunk(**{"shapley.memory_budget_mb": 10**6})
    default, _ = chunk()
    assert tiny == 1 and huge == players + 1  # a chain never has more than players + 1 positions
    assert 1 <= default <= players + 1
    # an explicit size is the most positions per call: used as given when it fits, cut down when it does not
    assert chunk(**{"shapley.chunk_size": 5, "shapley.memory_budget_mb": 10**6})[0] == 5
    assert chunk(**{"shapley.chunk_size": 5, "shapley.memory_budget_mb": 1})[0] == 1
    assert chunk(**{"shapley.scoring": "sequential"})[0] == 0  # sequential scoring needs no chunks


@pytest.mark.slow
def test_sequential_and_batched_scoring_give_the_same_alpha_update():
    from shapley_nas_jax.search.steps import SearchProgram
    from shapley_nas_jax.spaces import get_space

    def program(scoring):
        config = tiny_config(quick_darts_space(), **{
            "shapley.scoring": scoring, "shapley.formulation": "lax", "shapley.samples": 3, "shapley.chunk_size": 4,
            "shapley.truncation": 0.9, "shapley.metric": "neg_cross_entropy",
            "model.layers": 1})  # one (reduction) cell of the two-op test space: quick compile
        program = SearchProgram(config, get_space(config.space), image_shape=(8, 8, 1), num_classes=10)
        assert program.plan.scoring == scoring
        return program

    programs = {scoring: program(scoring) for scoring in ("batched", "sequential")}
    # the same for both: scoring does not change the supernet
    state = programs["batched"].init_state(jax.random.PRNGKey(0))
    batches = {"image": jax.random.uniform(jax.random.PRNGKey(1), (3, 16, 8, 8, 1)),
               "label": jax.random.randint(jax.random.PRNGKey(2), (3, 16), 0, 10)}

    def update(scoring):
        fresh_state = jax.tree.map(jnp.copy, state)  # shapley_step donates the state it is given
        hyper = Hyperparameters.from_config(programs[scoring].config, steps_per_epoch=4)
        new_state, metrics = programs[scoring].shapley_step(fresh_state, batches, hyper)
        return new_state, jax.device_get(metrics)

    batched, batched_metrics = update("batched")
    sequential, sequential_metrics = update("sequential")
    assert np.abs(np.asarray(batched.arch.shapley)).max() > 0
    np.testing.assert_allclose(np.asarray(sequential.arch.shapley), np.asarray(batched.arch.shapley), atol=1e-5)
    np.testing.assert_allclose(np.asarray(sequential.arch.alpha), np.asarray(batched.arch.alpha), atol=1e-5)
    assert sequential_metrics["num_computed"] == sequential_metrics["num_evaluations"]
    assert batched_metrics["num_computed"] >= batched_metrics["num_evaluations"]


def test_scoring_defaults_follow_backend_and_topology():
    from shapley_nas_jax.config import validate
    from shapley_nas_jax.models import scoring_defaults, training_formulation
    from shapley_nas_jax.search.steps import SearchProgram
    from shapley_nas_jax.spaces import get_space

    assert scoring_defaults("darts", "cpu", sequential=True) == ("shifted", True, False)
    assert scoring_defaults("darts", "cpu", sequential=False) == ("shifted", False, False)  # no skipping under vmap
    assert scoring_defaults("nb201", "cpu", sequential=True) == ("lax", False, False)
    assert scoring_defaults("darts", "gpu", sequential=False) == ("lax", False, True)

    def program(**overrides):
        config = tiny_config(**overrides)
        return SearchProgram(config, get_space(config.space), image_shape=(8, 8, 1), num_classes=10)

    darts = program(**{"model.formulation": "auto"})  # CPU, auto: sequential, shifted, the staged game
    assert (darts.plan.scoring, darts.plan.formulation) == ("sequential", "shifted")
    assert darts.game.staged is not None
    assert program(**{"shapley.formulation": "lax"}).plan.formulation == "lax"
    nb201 = program(space="nb201", **{"model.formulation": "auto"})
    assert (nb201.plan.scoring, nb201.plan.formulation, nb201.game.staged) == ("sequential", "lax", None)
    # training steps: per topology on CPU (models.CPU_TRAINING), or as the config says
    assert (darts.plan.training_formulation, nb201.plan.training_formulation) == (training_formulation("darts", "cpu"),
                                                                                training_formulation("nb201", "cpu"))
    assert training_formulation("darts", "gpu") == "lax"
    assert program(**{"model.formulation": "lax"}).plan.training_formulation == "lax"
    with pytest.raises(ConfigError, match="model.formulation"):
        validate(tiny_config(**{"model.formulation": "fast"}))


@pytest.mark.slow
def test_scoring_with_edges_one_module_each_gives_the_training_models_values(uninterrupted):
    """On CPU DARTS coalitions are scored by a supernet with one module per edge (models.CPU_SCORING) while
    training scans the edges: the program converts the variables, and values must not change."""
    from shapley_nas_jax.api import Search
    from shapley_nas_jax.value import make_value_fn

    state = uninterrupted[0].state  # the trained variables of a 3-cell supernet (normal and reduction cells)
    program = Search.from_config(search_config()).program  # the program that trained them
    assert program.config.model.layers == 3
    assert program.model.scan_edges and not program.scoring_model.scan_edges
    batch = {"image": jax.random.uniform(jax.random.PRNGKey(1), (32, 8, 8, 1)),
             "label": jax.random.randint(jax.random.PRNGKey(2), (32,), 0, 10)}
    mask = (jax.random.uniform(jax.random.PRNGKey(3), state.arch.alpha.shape) > 0.4).astype(jnp.float32)
    training_value = make_value_fn(program.model, metric="neg_cross_entropy")  # scanned, stacked variables
    scoring_value = make_value_fn(program.scoring_model, metric="neg_cross_entropy")
    expected = jax.jit(training_value)(state.weights.params, state.weights.batch_stats, state.arch.alpha, mask, batch)
    score = jax.jit(lambda p, s: scoring_value(program.scoring_variables(p), program.scoring_variables(s),
                                               state.arch.alpha, mask, batch))
    got = score(state.weights.params, state.weights.batch_stats)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-5)


@pytest.mark.slow
def test_model_remat_option_gives_the_same_weight_step():
    from shapley_nas_jax.search.steps import SearchProgram
    from shapley_nas_jax.spaces import get_space

    batch = {"image": jax.random.uniform(jax.random.PRNGKey(1), (48, 8, 8, 1)),
             "label": jax.random.randint(jax.random.PRNGKey(2), (48,), 0, 10)}
    params, state = {}, None
    for remat in (False, True):
        # one (reduction) cell of the two-op test space: quick compile (remat wraps cells, whatever their ops)
        config = tiny_config(quick_darts_space(), **{"model.remat": remat, "model.layers": 1})
        program = SearchProgram(config, get_space(config.space), image_shape=(8, 8, 1), num_classes=10)
        assert program.model.remat is remat
        # remat does not change the variables
        state = program.init_state(jax.random.PRNGKey(0)) if state is None else state
        hyper = Hyperparameters.from_config(config, steps_per_epoch=4)
        params[remat] = program.weight_step(jax.tree.map(jnp.copy, state), batch, hyper).weights.params  # (donates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), params[True], params[False])


def test_reference_learning_rate_is_one_epoch_ahead_like_the_original_scheduler():
    """The original steps CosineAnnealingLR(T_max=50) at the start of every epoch: epoch e trains at
    0.05 (1 + cos(pi (e + 1) / 50)), so epoch 0 at about 0.0999 and epoch 49 at exactly the minimum, 0."""
    from shapley_nas_jax.optim import learning_rate_schedule

    reference = experiment_config("darts_cifar10_reference")
    paper_config = experiment_config("darts_cifar10_paper")
    schedule = learning_rate_schedule(reference.train, steps_per_epoch=98)
    for epoch in (0, 1, 24, 48, 49):
        for step in (epoch * 98, epoch * 98 + 97):
            expected = 0.05 * (1 + np.cos(np.pi * (epoch + 1) / 50))
            np.testing.assert_allclose(float(schedule(jnp.int32(step))), expected, rtol=1e-5, atol=1e-7)
    assert float(schedule(jnp.int32(49 * 98))) == 0.0
    paper = learning_rate_schedule(paper_config.train, steps_per_epoch=98)  # no offset: epoch 0 at 0.1
    np.testing.assert_allclose(float(paper(jnp.int32(0))), 0.1, rtol=1e-6)
    assert reference.data.split_order == "ordered" and paper_config.data.split_order == "random"


@pytest.mark.slow
def test_plots_hook_draws_the_runs_figures_every_nth_epoch(uninterrupted, tmp_path):
    import shutil

    from shapley_nas_jax.config import validate
    from shapley_nas_jax.errors import ConfigError
    from shapley_nas_jax.search.run import Plots, space_info
    from shapley_nas_jax.spaces import get_space

    _, workdir = uninterrupted
    run = tmp_path / "run"  # mid-search: no results.json yet
    shutil.copytree(workdir, run, ignore=shutil.ignore_patterns("checkpoints", "plots", "results.json"))
    hook = Plots(str(run), every=2, space=space_info(get_space(search_config().space)))
    hook.epoch_end(None, 0, {})
    assert not (run / "plots").exists()  # epoch 0 is not the 2nd
    hook.epoch_end(None, 1, {})
    drawn = sorted(p.name for p in (run / "plots").iterdir())
    # the space names the figures as the final draw will (no numbered cell types left behind)
    assert drawn == ["alpha_curves_normal.png", "alpha_curves_reduce.png", "alpha_heatmap.png", "cell.png",
                     "estimate_diagnostics.png", "shapley_heatmap.png"]
    with pytest.raises(ConfigError, match="search.plot_every_epochs=-1 must be >= 0"):
        validate(tiny_config(**{"search.plot_every_epochs": -1}))
