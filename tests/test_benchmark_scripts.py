"""scripts/bench_shapley.py runs every strategy on tiny supernets and writes the JSON the README promises;
scripts/bench_ops.py runs, and its horizontal-fusion experiment computes the same values as the per-op path."""

import json
import os
import subprocess
import sys

from repo_files import REPO

TINY = ["--channels", "4", "--batch", "8", "--samples", "2", "--prefixes", "3", "--start", "1", "--repeats", "1",
        "--fast-compile"]


def run_bench(tmp_path, devices, *args):
    out = tmp_path / "bench.json"
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "scripts/bench_shapley.py", *TINY, "--json", str(out), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text()), proc.stdout


def check_result(result, space, strategies):
    assert {"evals_per_s", "s_per_update", "strategy", "device_kind", "device_count", "peak_memory_bytes",
            "settings"} <= set(result)
    assert {row["strategy"] for row in result["strategies"]} == strategies
    best = min(result["strategies"], key=lambda row: row["s_per_eval"])
    assert result["strategy"] == best["strategy"]
    assert abs(result["evals_per_s"] - 1 / best["s_per_eval"]) < 1e-6 * result["evals_per_s"]
    assert result["settings"]["space"] == space and result["num_players"] > 0


def test_bench_shapley_darts_every_one_device_strategy(tmp_path):
    result, stdout = run_bench(tmp_path, 1, "--space", "darts_reference", "--layers", "1", "--partial-channels", "2")
    check_result(result, "darts_reference",
                 {"single", "sequential", "sequential_skip", "sequential_plain", "vmap_chunk2"})
    assert "sharded: skipped (devices=1)" in stdout and result["device_count"] == 1


def test_bench_shapley_nb201_sharded_over_two_devices(tmp_path):
    result, _ = run_bench(tmp_path, 2, "--space", "nb201", "--cells", "1", "--strategies", "single,sequential,sharded")
    check_result(result, "nb201", {"single", "sequential", "sharded"})
    assert result["device_count"] == 2


def test_bench_ops_runs_and_its_horizontal_fusion_is_exact():
    # The script itself asserts that the shared first stages equal the per-op primitives; a wrong offset or
    # dilation in the fused path fails it.
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "scripts/bench_ops.py", "--batch", "2", "--repeats", "1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fusion_rows = proc.stdout.split("horizontal fusion")[1].splitlines()[2:]
    assert [row.split()[0] for row in fusion_rows] == ["32x32x4", "16x16x8", "8x8x16"]
    assert all(float(t) > 0 for row in fusion_rows for t in row.split()[1:])
