"""A population of searches as one vmapped program: equal to its members' single searches, resumable, a
diverged member held while the others go on, and its grid validated with one-line errors."""

import json
import os

import numpy as np
import pytest

from search_configs import tiny_config
from shapley_nas_jax.config import validate
from shapley_nas_jax.errors import ConfigError, SearchDivergedError
from shapley_nas_jax.search import SearchInterrupted, run_search
from shapley_nas_jax.search.population import member_configs, parse_grid, run_population

# NB201 compiles faster than the DARTS spaces; 3 epochs of 4 weight steps, updates before epochs 1 and 2
SMALL = {"train.batch_size": 16, "data.train_fraction": 0.05, "shapley.value_batch_size": 16}


def population_config(**overrides):
    return tiny_config("nb201", **{**SMALL, **overrides})


def records(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def assert_records_close(got, want):
    """Records equal key by key, with floats to 1e-5 relative (vmapping reorders XLA's sums in the losses)."""
    def close(a, b, where):
        if isinstance(a, dict):
            assert isinstance(b, dict) and sorted(a) == sorted(b), where
            for key in a:
                if key != "seconds":
                    close(a[key], b[key], f"{where}.{key}")
        elif isinstance(a, list):
            assert isinstance(b, list) and len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                close(x, y, f"{where}[{i}]")
        elif isinstance(a, float):
            assert b == pytest.approx(a, rel=1e-5, abs=1e-7), where
        else:
            assert a == b, where

    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        close(a, b, f"record {i}")


def test_grid_is_parsed_and_crossed_with_the_seeds():
    assert parse_grid("") == []
    assert parse_grid("alpha_rule.momentum=0.5,0.8; train.learning_rate=0.05") == [
        ("alpha_rule.momentum", (0.5, 0.8)), ("train.learning_rate", (0.05,))]
    config = population_config(seed=3, **{"search.population": 2,
                                          "search.population_grid": "alpha_rule.step_size=0.1,0.3"})
    members = member_configs(config)
    assert [(m.seed, m.alpha_rule.step_size) for m in members] == [(3, 0.1), (3, 0.3), (4, 0.1), (4, 0.3)]
    assert all(m.search.population == 1 and m.search.population_grid == "" for m in members)


@pytest.mark.parametrize("grid,message", [
    ("model.channels=4,8", "OPTION one of train.learning_rate, alpha_rule.momentum"),
    ("alpha_rule.momentum", "write OPTION=V1,V2"),
    ("alpha_rule.momentum=0.5,high", "the values must be numbers"),
    ("alpha_rule.momentum=0.5;alpha_rule.momentum=0.8", "names alpha_rule.momentum twice"),
])
def test_a_bad_grid_is_one_line_saying_what_would_be_right(grid, message):
    with pytest.raises(ConfigError, match=message) as error:
        validate(population_config(**{"search.population_grid": grid}))
    assert "\n" not in str(error.value)


def test_a_grid_value_out_of_range_names_its_member():
    config = population_config(**{"search.population_grid": "alpha_rule.momentum=0.5,1.5"})
    with pytest.raises(ConfigError, match=r"population member 1 \(seed 0, alpha_rule.momentum=1.5\): "
                                          r"alpha_rule.momentum must lie in \[0, 1\)"):
        member_configs(config)
    with pytest.raises(ConfigError, match="search.population=0 must be >= 1"):
        validate(population_config(**{"search.population": 0}))


def test_run_search_points_a_population_to_run_population(tmp_path):
    with pytest.raises(ConfigError, match="use shapley_nas_jax.run_population"):
        run_search(population_config(**{"search.population": 2}), str(tmp_path), progress=False)


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    """Two seeds crossed with two alpha-rule step sizes, and the four single searches they stand for."""
    root = tmp_path_factory.mktemp("population")
    config = population_config(**{"search.population": 2, "search.population_grid": "alpha_rule.step_size=0.1,0.4"})
    result = run_population(config, str(root / "pop"), progress=False)
    singles = [run_search(member, str(root / f"single{i}"), progress=False)
               for i, member in enumerate(member_configs(config))]
    return config, result, singles, root


@pytest.mark.slow
def test_every_member_equals_its_single_search(population):
    _, result, singles, root = population
    for i, (member, single) in enumerate(zip(result.results, singles)):
        # the same arithmetic up to the order of XLA's sums (the losses differ in the 7th digit)
        np.testing.assert_allclose(member.alpha, single.alpha, rtol=1e-6, atol=1e-7)
        assert member.genotype == single.genotype
        assert_records_close(records(os.path.join(result.workdir, f"member{i}")), records(single.workdir))
    alphas = [m.alpha for m in result.results]
    assert not np.allclose(alphas[0], alphas[1])  # the step sizes differ
    assert not np.allclose(alphas[0], alphas[2])  # the seeds differ
    rows = json.load(open(os.path.join(result.workdir, "population.json")))["members"]
    assert [(r["seed"], r["hyperparameters"]) for r in rows] == [
        (0, {"alpha_rule.step_size": 0.1}), (0, {"alpha_rule.step_size": 0.4}),
        (1, {"alpha_rule.step_size": 0.1}), (1, {"alpha_rule.step_size": 0.4})]
    assert [r["genotype"] for r in rows] == [str(s.genotype) for s in singles]
    member_config = json.load(open(os.path.join(result.workdir, "member3", "config.json")))
    assert member_config["seed"] == 1 and member_config["alpha_rule"]["step_size"] == 0.4


@pytest.mark.slow
@pytest.mark.parametrize("event,count", [("alpha_update", 1), ("step", 6)])
def test_a_killed_population_resumes_to_the_same_results(population, tmp_path, event, count):
    config, result, _, _ = population
    seen = []

    def kill(name, state):
        seen.append(name == event)
        return sum(seen) == count

    workdir = str(tmp_path / "killed")
    with pytest.raises(SearchInterrupted):
        run_population(config, workdir, progress=False, interrupt=kill)
    resumed = run_population(config, workdir, progress=False)
    for i, (got, want) in enumerate(zip(resumed.results, result.results)):
        np.testing.assert_array_equal(got.alpha, want.alpha)
        strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
        assert strip(records(os.path.join(workdir, f"member{i}"))) == strip(
            records(os.path.join(result.workdir, f"member{i}")))


@pytest.mark.slow
def test_a_diverged_member_is_held_and_reported_while_the_other_finishes(population, tmp_path):
    # member 1 trains at a rate that diverges; member 0 must finish as its single search does. Learning rates
    # are step values, so both run the module fixture's compiled program.
    config = population_config(**{"alpha_rule.step_size": 0.1, "search.population_grid": "train.learning_rate=0.1,1e30"})
    alone = run_search(member_configs(config)[0], str(tmp_path / "alone"), progress=False)
    out = run_population(config, str(tmp_path / "pop"), progress=False)
    np.testing.assert_allclose(out.results[0].alpha, alone.alpha, rtol=1e-6, atol=1e-7)
    assert out.results[1] is None
    row = out.rows[1]
    assert row["diverged_at"] is not None and "genotype" not in row
    kinds = [r["kind"] for r in records(os.path.join(out.workdir, "member1"))]
    assert kinds.count("diverged") == 1 and kinds[-1] == "diverged"
    assert not os.path.exists(os.path.join(out.workdir, "member1", "results.json"))


@pytest.mark.slow
def test_the_population_stops_only_when_every_member_diverged(population, tmp_path):
    config = population_config(**{"train.learning_rate": 1e30, "search.population": 2})
    with pytest.raises(SearchDivergedError, match="non-finite"):
        run_population(config, str(tmp_path), progress=False)


@pytest.mark.slow
def test_run_seeds_runs_unfinished_seeds_as_one_population_and_reads_its_members(tmp_path):
    from shapley_nas_jax.experiments import run_seeds
    from shapley_nas_jax.runs import seed_runs

    root = str(tmp_path / "seeds")
    config = population_config(**{"train.epochs": 2})
    summary = run_seeds(config, [0, 1], root, progress=False, log=lambda line: None, population=True)
    runs = seed_runs(root)
    assert sorted(runs) == [0, 1]
    assert all(os.fspath(run.root).endswith(f"population-0-1/member{seed}") for seed, run in runs.items())
    assert [r["genotype_str"] for r in summary["runs"]] == [runs[s].results["genotype_str"] for s in (0, 1)]
    written = os.path.getmtime(os.path.join(root, "population-0-1", "population.json"))
    again = run_seeds(config, [0, 1], root, progress=False, log=lambda line: None, population=True)
    assert os.path.getmtime(os.path.join(root, "population-0-1", "population.json")) == written  # nothing rerun
    assert [r["genotype_str"] for r in again["runs"]] == [r["genotype_str"] for r in summary["runs"]]
    with pytest.raises(ConfigError, match="a population runs consecutive seeds"):
        run_seeds(config, [4, 6], root, progress=False, log=lambda line: None, population=True)


@pytest.mark.slow
def test_a_darts_population_equals_its_single_searches(tmp_path):
    """DARTS' architecture step (one before every weight step after warm-up) vmapped over two seeds. Adam
    divides by the root of its second moment, so where a gradient is near 0 the last-digit differences of
    reordered sums move alpha by a fraction of the learning rate: alpha agrees within a quarter of it."""
    config = population_config(**{"search.method": "darts_1st", "train.epochs": 2, "search.population": 2})
    result = run_population(config, str(tmp_path / "pop"), progress=False)
    for i, member in enumerate(member_configs(config)):
        single = run_search(member, str(tmp_path / f"single{i}"), progress=False)
        moved = np.abs(single.alpha).max()
        assert moved > config.darts.learning_rate  # several DARTS steps moved alpha
        np.testing.assert_allclose(result.results[i].alpha, single.alpha, rtol=0, atol=config.darts.learning_rate / 4)
        assert result.results[i].genotype == single.genotype
