"""Data-parallel weight steps and coalition-parallel Shapley scoring on 8 simulated CPU devices.

The device count is fixed when JAX's backend starts, and other test modules start it with one device, so
the multi-device checks run in a subprocess (tests/sharded_checks.py) whose JSON report is asserted here.
The single-device parts (mesh-less programs, config validation) run in this process.
"""

import json
import os
import subprocess
import sys

import pytest

from shapley_nas_jax.config import base_config, validate
from shapley_nas_jax.errors import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Float tolerance of a sharded step against the single-device one (reassociated all-reduces).
ATOL = 1e-5


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded") / "report.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, os.path.join(HERE, "sharded_checks.py"), "--devices", "8",
                           "--fast-compile", "--loop", "mesh", "--json", str(out)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, f"sharded_checks.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(out.read_text())


@pytest.mark.slow
def test_runs_on_eight_devices(report):
    assert report["num_devices"] == 8 and report["platform"] == "cpu"
    assert "'data': 8" in report["mesh"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["steps", "steps_data_parallel_scoring"])
def test_sharded_search_steps_match_single_device(report, mode):
    r = report[mode]
    assert r["devices"] == 8
    assert r["batch_shard_rows"] == [2]  # batch 16 split 2 rows per device
    for key in ("init_diff", "params_diff", "batch_stats_diff", "alpha_diff", "shapley_diff", "metrics_diff"):
        assert r[key] <= ATOL, (key, r[key])
    assert r["epoch_sums_diff"] <= 1e-4  # a loss sum times 16 examples
    assert r["alpha_moved"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["steps", "steps_data_parallel_scoring"])
def test_state_and_alpha_replicated_on_every_device(report, mode):
    r = report[mode]
    assert r["alpha_replicated"] and r["params_replicated"] and r["state_replicated"]


@pytest.mark.slow
@pytest.mark.parametrize("game", ["table", "table_sampled"])
def test_sharded_estimator_equals_unsharded(report, game):
    r = report["estimator"][game]  # 5 chains x chunk 3 = 15 coalitions on 8 devices (padded)
    assert r["values_diff"] == 0.0
    assert r["chain_values_equal"] and r["num_evaluations_equal"] and r["num_computed_equal"]


@pytest.mark.slow
def test_sharded_estimator_on_glove_game(report):
    r = report["estimator"]["glove"]
    assert r["values_diff"] == 0.0
    assert r["error_vs_exact"] < 0.25


@pytest.mark.slow
def test_memory_sized_chunks_grow_with_the_mesh(report):
    # Same per-device budget: split coalitions or split value batches leave each device a share of the work.
    sizes = report["chunk_sizes"]
    assert 1 <= sizes["single"] < sizes["coalitions"] and sizes["single"] < sizes["data"]


@pytest.mark.slow
def test_indivisible_batches_give_one_line_errors(report):
    for key, message in report["errors"].items():
        assert message is not None, key
        assert "\n" not in message and key in message and "8 devices" in message


@pytest.mark.slow
def test_search_loop_on_the_mesh(report):
    r = report["loop"]
    assert r["alpha_replicated"] and r["alpha_finite"] and r["alpha_updates"] == 1


@pytest.mark.slow
def test_population_split_over_devices_equals_it_on_one(report):
    r = report["population"]
    one_per_device, data_parallel = r["per_device"], r["data_parallel"]
    assert one_per_device["mesh"] == {"population": 4, "data": 1} and one_per_device["alpha_shard_rows"] == [1]
    assert one_per_device["state_devices"] == 4 and one_per_device["batch_shard_shape"] == [[1, 16]]
    # 8 devices for 4 members: each member on two, its 16 images split 8 + 8, its state on both
    assert data_parallel["mesh"] == {"population": 4, "data": 2} and data_parallel["alpha_shard_rows"] == [1]
    assert data_parallel["state_devices"] == 8 and data_parallel["batch_shard_shape"] == [[1, 8]]
    # members share nothing; a member's two halves sum their gradients and BatchNorm statistics, and no
    # device gathers the other's images
    assert one_per_device["collectives"] == [] and data_parallel["collectives"] == ["all-reduce"]
    for split in (one_per_device, data_parallel):
        assert split["alpha_diff"] <= ATOL and split["same_genotypes"]
    assert r["members_differ"]
    assert "population of 3 members cannot be split evenly over 4 devices" in r["indivisible_error"]
    assert "train.batch_size=15 is not divisible by the 2 devices of each member" in r["batch_error"]
    assert "\n" not in r["indivisible_error"] + r["batch_error"]


def test_mesh_options_have_defaults_and_validate():
    c = base_config()
    assert c.mesh.devices == 0 and c.mesh.shard_coalitions is True
    validate(c)
    c.mesh.devices = -1
    with pytest.raises(ConfigError, match="mesh.devices"):
        validate(c)
    c.mesh.devices = 3  # 256 is not a multiple of 3
    with pytest.raises(ConfigError, match="train.batch_size=256 is not divisible by mesh.devices=3"):
        validate(c)


def test_single_device_has_no_mesh():
    from shapley_nas_jax import sharding

    assert sharding.make_mesh(1) is None
    assert sharding.put_batch({"x": [1, 2, 3]}, None) == {"x": [1, 2, 3]}
    with pytest.raises(ConfigError, match="only"):
        sharding.make_mesh(10_000)
