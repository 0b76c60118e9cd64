"""scripts/bench_shapley.py runs every strategy on tiny supernets and writes the JSON the README promises,
by default only the quick ones; it and scripts/bench_train.py time a checkout of the original code beside
themselves (here a stand-in); scripts/bench_ops.py runs, and its horizontal-fusion experiment computes the same
values as the per-op path."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from repo_files import REPO

pytestmark = pytest.mark.slow  # every test runs a script (all but the argument checks in a subprocess)

TINY = ["--channels", "4", "--batch", "8", "--samples", "2", "--prefixes", "3", "--start", "1", "--repeats", "1",
        "--fast-compile"]


def run_bench(tmp_path, devices, *args, env=None):
    out = tmp_path / "bench.json"
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu", **(env or {})}
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
    assert result["complete"] and result["skipped"] == []
    assert all(row["activation_bytes"] > 0 for row in result["strategies"])  # XLA:CPU has a memory analysis
    if "single" in strategies:
        for row in result["strategies"]:
            single = next(r for r in result["strategies"] if r["strategy"] == "single")
            assert abs(row["speedup_vs_single"] * row["s_per_update"] - single["s_per_update"]) < 1e-9


def test_bench_shapley_default_is_quick_and_records_the_machine(tmp_path):
    # No --strategies, --max-evals or --full: the quick mode's strategies and call cap; TINY's --repeats 1 wins.
    # --no-scan-edges: the search's CPU scoring layout, one module per edge, variables converted from scanned.
    # s2: DARTS cells (the CPU default's shifted ops, skipped absent ops, reused prefix cells) with 2 ops per edge
    # instead of the reference's 7, which compile in half the time.
    result, stdout = run_bench(tmp_path, 1, "--space", "s2", "--layers", "1", "--partial-channels", "2",
                               "--scan-edges", "off")
    check_result(result, "s2", {"single", "sequential"})
    assert [row["strategy"] for row in result["strategies"]] == ["single", "sequential"]
    assert result["settings"]["scan_edges"] is False and "scan_edges=False" in stdout
    assert result["settings"]["quick"] and result["settings"]["repeats"] == 1
    assert result["settings"]["max_evals"] == 2 and result["strategies"][0]["evals"] == 2
    assert result["machine"]["isa"] in ("avx512", "avx2", "other") and result["machine"]["cpu_count"] > 0
    assert f"isa={result['machine']['isa']}" in stdout
    assert "ref_s_per_eval" not in result and "x orig" not in stdout


# A stand-in for a checkout of the original PyTorch code: its model_search.Network's constructor and forward
# signature (and alphas), built from a few torch layers; it checks how a value evaluation calls it.
FAKE_MODEL_SEARCH = """
    import torch
    import torch.nn as nn


    class Network(nn.Module):
        def __init__(self, C, num_classes, layers, criterion, steps=4, multiplier=4, stem_multiplier=3, k=4):
            super().__init__()
            self._criterion = criterion
            self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU())
            self.global_pooling = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(C, num_classes)
            self.alphas_normal = nn.Parameter(1e-3 * torch.randn(14, 8))
            self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(14, 8))

        def forward(self, input, weights_dict=None):
            if not self.training:  # a value evaluation: masked weights, no autograd
                w = weights_dict["normal"]
                assert not torch.is_grad_enabled() and w.shape == weights_dict["reduce"].shape == (14, 8)
                assert (w == 0).any() and (w > 0).any()  # softmaxed alphas times a 0/1 mask
            out = self.global_pooling(self.stem(input))
            return self.classifier(out.view(out.size(0), -1))
"""


def fake_checkout(tmp_path):
    checkout = tmp_path / "orig"
    checkout.mkdir()
    (checkout / "model_search.py").write_text(textwrap.dedent(FAKE_MODEL_SEARCH))
    return checkout


def run_script(script, *args, env=None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "OMP_NUM_THREADS": "1", **(env or {})}  # one torch thread: tiny shapes
    return subprocess.run([sys.executable, f"scripts/{script}", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def darts_full(tmp_path_factory):
    """One --full run on the DARTS reference space (lax arithmetic: compiles faster than the CPU default,
    which the quick-mode test runs), timing a stand-in checkout of the original code beside it when torch is
    installed: asserted by the every-strategy test and the original-code test. With --cache its programs go
    to the session's compilation cache, where the device-check test's DARTS benchmark (same shapes) finds them."""
    tmp_path = tmp_path_factory.mktemp("darts_full")
    reference = ["--reference", str(fake_checkout(tmp_path))] if importlib.util.find_spec("torch") else []
    return run_bench(tmp_path, 1, "--full", "--space", "darts_reference", "--layers", "1", "--partial-channels", "2",
                     "--formulation", "lax", "--cache", *reference, env={"OMP_NUM_THREADS": "1"})


FULL_ONE_DEVICE = {"single", "sequential", "sequential_skip", "sequential_plain", "vmap_chunk2"}


def test_bench_shapley_darts_every_one_device_strategy(darts_full):
    result, stdout = darts_full
    check_result(result, "darts_reference", FULL_ONE_DEVICE)
    assert "sharded: skipped (devices=1)" in stdout and result["device_count"] == 1
    assert result["settings"]["max_evals"] == 3 and not result["settings"]["quick"]


def test_bench_scripts_time_a_checkout_of_the_original_code(darts_full, tmp_path):
    pytest.importorskip("torch")
    result, stdout = darts_full
    check_result(result, "darts_reference", FULL_ONE_DEVICE)
    ref = result["ref_s_per_eval"]
    assert isinstance(ref, float) and ref > 0
    for row in result["strategies"]:
        assert row["speedup_vs_original"] > 0
        assert abs(row["speedup_vs_original"] * row["s_per_eval"] - ref) < 1e-9 * ref
    assert f"original: {ref:.3f} s/eval" in stdout and "x orig" in stdout

    # bench_train.py's reference step beside a weight step of s2 (DARTS cells, as --reference needs, with 2 ops
    # per edge: compiles faster than the reference space's 7).
    out = tmp_path / "train.json"
    proc = run_script("bench_train.py", "--space", "s2", "--channels", "4", "--layers", "1",
                      "--partial-channels", "2", "--batch", "8", "--steps", "1", "--ref-steps", "1", "--fast-compile",
                      "--formulations", "lax", "--remat", "on", "--reference", str(fake_checkout(tmp_path)),
                      "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["ref_step_s"] > 0 and row["speedup"] > 0
    # the step's memory: XLA's temporaries and arguments of the compiled step, the process's peak so far
    assert row["remat"] is True and row["temp_mb"] > 0 and row["argument_mb"] > 0
    assert row["peak_rss_mb"] > row["temp_mb"]
    assert abs(row["speedup"] * row["step_s"] - row["ref_step_s"]) < 1e-9 * row["ref_step_s"]


def script_main(script):
    """The ``main(argv)`` of ``scripts/<script>.py``, imported into this process as the script imports its
    neighbours (scripts/ first on sys.path, which is restored afterwards): argument errors are checked without
    a subprocess's Python and JAX start-up (every script checked so runs once as a subprocess above or below)."""
    spec = importlib.util.spec_from_file_location(f"script_{script}", os.path.join(REPO, "scripts", f"{script}.py"))
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module.main


def argument_error(capsys, main, *argv):
    """Exit code and stderr of ``main(argv)``, which must stop as argparse does on a bad argument (SystemExit,
    any other exception propagates: a traceback)."""
    capsys.readouterr()  # drop what came before
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("script", ["bench_shapley", "bench_train"])
def test_bench_scripts_reject_a_bad_reference_in_one_line(tmp_path, script, capsys):
    # The arguments are checked before anything is built or compiled; argparse's error is the last line of stderr.
    main = script_main(script)
    for args, message in (((), "has no model_search.py"), (("--space", "nb201"), "is not a DARTS space")):
        code, stderr = argument_error(capsys, main, "--reference", str(tmp_path / "missing"), *args)
        assert code == 2 and "Traceback" not in stderr, stderr[-2000:]
        errors = [line for line in stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and message in errors[0] and errors[0] == stderr.splitlines()[-1]


def test_bench_shapley_nb201_sharded_over_two_devices(tmp_path):
    result, _ = run_bench(tmp_path, 2, "--space", "nb201", "--cells", "1", "--strategies", "single,sequential,sharded")
    check_result(result, "nb201", {"single", "sequential", "sharded"})
    assert result["device_count"] == 2


def test_bench_shapley_keeps_to_its_time_budget_and_the_order_given(tmp_path):
    # A zero budget: the first strategy listed still compiles and is timed once, every later one is skipped.
    # --cache: the device-check test's NB201 benchmark (same shapes) loads vmap_chunk2 from the session's cache.
    result, stdout = run_bench(tmp_path, 1, "--space", "nb201", "--cells", "1", "--strategies", "vmap,single",
                               "--repeats", "3", "--budget-s", "0", "--cache")
    assert [row["strategy"] for row in result["strategies"]] == ["vmap_chunk2"]
    assert result["strategies"][0]["rounds"] == 1 and result["complete"]
    assert result["skipped"] == ["single"] and "single: skipped (time budget)" in stdout
    assert "speedup_vs_single" not in result["strategies"][0]


def test_bench_ops_runs_and_its_horizontal_fusion_is_exact(tmp_path):
    # The script itself asserts that the shared first stages equal the per-op primitives; a wrong offset or
    # dilation in the fused path fails it. The ops rows run lax arithmetic, the fusion experiment the shifted one.
    out = tmp_path / "ops.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "scripts/bench_ops.py", "--batch", "2", "--repeats", "1",
                           "--formulations", "lax", "--fast-compile", "--json", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fusion_rows = proc.stdout.split("horizontal fusion")[1].splitlines()[2:]
    assert [row.split()[0] for row in fusion_rows] == ["32x32x4", "16x16x8", "8x8x16"]
    assert all(float(t) > 0 for row in fusion_rows for t in row.split()[1:])
    # the same rows in its JSON, with the settings and the machine
    record = json.loads(out.read_text())
    assert record["settings"]["formulations"] == "lax" and record["machine"]["isa"] in ("avx512", "avx2", "other")
    assert record["rows"][0]["block"] == "depthwise 3x3" and record["rows"][-1]["block"].startswith("MixedOp")
    assert all(set(row["ms"]) == {"lax"} and row["ms"]["lax"] > 0 for row in record["rows"])
    assert [row["shape"] for row in record["fusion"]] == ["32x32x4", "16x16x8", "8x8x16"]


# scripts/bench_population.py on a tiny NB201 supernet (2 channels, 1 cell per stage), sharing compiles, in lax
# arithmetic (compiles in half the time of the CPU config's shifted ops; test_formulations.py checks those)
TINY_POPULATION = "--setups nb201_cpu --channels 2 --cells-per-stage 1 --batch 4 --value-batch 4 --samples 1 " \
                  "--repeats 1 --fast-compile --cache --formulation lax"


@pytest.fixture(scope="module")
def device_check(tmp_path_factory):
    """scripts/device_check.sh run once on tiny shapes: its output folder, asserted by the device-check test and
    by the population benchmark's test (its population step runs scripts/bench_population.py at P = 1 and 2)."""
    # The GPU check itself, on this CPU: both benchmarks on tiny supernets, and the sharding checks cut off by
    # their timeout, which must show as a timed-out step with no results rather than stop the table.
    # The shapes of TINY and --cache: the benchmarks load the programs that the DARTS --full run and the NB201
    # budget test above compiled (vmap_chunk2; single and sequential too for DARTS) from the session's cache.
    tmp_path = tmp_path_factory.mktemp("device_check")
    tiny = "--channels 4 --batch 8 --layers 1 --cells 1 --partial-channels 2 --fast-compile --max-evals 1 " \
           "--samples 2 --prefixes 3 --start 1 --chunks 2 --repeats 1 --formulation lax --cache"
    env = {**os.environ, "OUT": str(tmp_path), "BENCH_EXTRA": tiny, "POP_EXTRA": f"{TINY_POPULATION} --sizes 1,2",
           "POP_TIMEOUT": "600", "CHECK_TIMEOUT": "1",
           "CHECK_LOOP": "none", "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(["bash", "scripts/device_check.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp_path


def test_device_check_script_end_to_end_on_tiny_shapes(device_check):
    table = (device_check / "table.txt").read_text()
    for space in ("bench_darts_reference", "bench_nb201"):
        assert f"[{space}] rc=0" in table
        result = json.loads((device_check / f"{space}.json").read_text())
        assert [row["strategy"] for row in result["strategies"]] == ["single", "vmap_chunk2", "sequential"]
    assert table.count("GPU goal (>= 10x per alpha update): vmap_chunk2 is") == 2
    assert "[bench_population] rc=0" in table
    population_rows = json.loads((device_check / "bench_population.json").read_text())["rows"]
    assert [(row["setup"], row["members"]) for row in population_rows] == [("nb201_cpu", 1), ("nb201_cpu", 2)]
    for members in (1, 2):  # its rows in the table
        assert re.search(rf"nb201_cpu\s+{members}\s+\d+\.\d{{4}}\s+\d+\.\d{{2}}", table)
    assert "[sharded_checks] rc=124" in table and table.rstrip().endswith("no results")


def test_bench_compile_times_the_steps_it_is_asked_for(tmp_path, capsys):
    """scripts/bench_compile.py lowers and compiles the named steps of a setup and writes one row each with
    the machine's ISA; an unknown step is a one-line error."""
    out = tmp_path / "compile.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    command = [sys.executable, "scripts/bench_compile.py", "--setups", "demo", "--layers", "1", "--fast-compile"]
    proc = subprocess.run([*command, "--steps", "evaluate,weight_step", "--json", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert [row["step"] for row in result["rows"]] == ["weight_step", "evaluate"]
    assert all(row["setup"] == "demo" and row["trace_s"] > 0 and row["compile_s"] > 0 for row in result["rows"])
    assert result["machine"]["isa"] in ("avx512", "avx2", "other")
    code, stderr = argument_error(capsys, script_main("bench_compile"), *command[2:], "--steps", "warp_step")
    assert code == 2 and "unknown step(s) warp_step" in stderr
    assert "Traceback" not in stderr


def test_bench_population_compares_a_population_with_its_singles(device_check):
    """scripts/bench_population.py times P members as one program and P single searches, and writes one row
    per size with both timings, their ratio and the compile times."""
    # TINY_POPULATION at P = 1 and 2: the device check's population step (one run of the script for both tests)
    result = json.loads((device_check / "bench_population.json").read_text())
    assert [row["members"] for row in result["rows"]] == [1, 2]
    for row in result["rows"]:
        assert row["formulation"] == "lax"  # --formulation reaches the programs
        assert row["population_weight_s"] > 0 and row["singles_update_s"] > 0
        assert row["weight_speedup"] == pytest.approx(row["singles_weight_s"] / row["population_weight_s"])
        assert row["weight_memory_per_member_mb"] > 0
    assert result["rows"][0]["single_weight_compile_s"] > 0 and "isa" in result["machine"]


def test_bench_roofline_sets_each_step_against_the_measured_peaks(tmp_path):
    """scripts/bench_roofline.py: XLA's FLOPs and bytes of each step, the floor from this machine's measured
    peaks, and the measured time's ratio to it."""
    out = tmp_path / "roofline.json"
    args = ["--setups", "nb201_cpu", "--channels", "4", "--cells-per-stage", "1", "--batch", "8", "--value-batch", "8",
            "--repeats", "1", "--matmul", "128", "--stream-mb", "8", "--cache-mb", "0.5", "--fast-compile"]
    # training steps in lax (they compile faster than shifted at these shapes); the op rows in the weight step's
    # formulation ("training": lax) and in shifted, one run for both (a row each)
    command = [sys.executable, "scripts/bench_roofline.py", *args, "--formulation", "lax", "--ops",
               "--op-formulations", "training,shifted", "--json", str(out)]
    proc = subprocess.run(command, cwd=REPO, env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    peaks = result["peaks"]
    assert peaks["peak_flops"] > 0 and peaks["bandwidth_bytes"] > 0 and peaks["cache_bandwidth_bytes"] > 0
    # the space's op kinds after the steps (NB201: `none` computes nothing and has no row), each formulation
    ops = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert [(row["step"], row["formulation"]) for row in result["rows"]] == [
        ("weight_step", "lax"), ("scoring", "lax"), ("darts_1st", "lax"),
        *((f"op:{op}:{formulation}", formulation) for op in ops for formulation in ("lax", "shifted"))]
    for row in result["rows"]:
        assert row["bytes"] > 0 and row["seconds"] > 0
        # XLA counts no FLOPs in the identity's gradient nor in pooling windows: those rows are bounded by bytes
        assert row["flops"] > 0 or row["step"].split(":")[1] in ("skip_connect", "avg_pool_3x3")
        floor = max(row["flops"] / peaks["peak_flops"], row["bytes"] / peaks["cache_bandwidth_bytes"])
        assert row["floor_s"] == pytest.approx(floor) and row["times_floor"] == pytest.approx(row["seconds"] / floor)
        assert row["dram_floor_s"] == pytest.approx(row["bytes"] / peaks["bandwidth_bytes"])
    # a weight step (forward and backward) costs more than one forward pass of the same supernet
    flops = {row["step"]: row["flops"] / (row["batch"] if row["step"] != "scoring" else row["value_batch"])
             for row in result["rows"]}
    assert flops["weight_step"] > flops["scoring"]
    for formulation in ("shifted", "lax"):  # 9 taps against 1
        assert flops[f"op:nor_conv_3x3:{formulation}"] > flops[f"op:nor_conv_1x1:{formulation}"] > 0
    # --steps none: op rows only (in this process; the script ran as a subprocess above), one formulation (no
    # suffix): without --formulation, the weight step's default on CPU, shifted
    ops_only = script_main("bench_roofline")([*args, "--steps", "none", "--ops"])
    assert [(row["step"], row["formulation"]) for row in ops_only["rows"]] == [(f"op:{op}", "shifted") for op in ops]


def test_compare_estimators_runs_as_a_script(tmp_path):
    """scripts/compare_estimators.py end to end on the 5-player games: this library's estimators beside shapiq's
    KernelSHAP (when shapiq is installed), one JSON row per (game, estimator, budget)."""
    pytest.importorskip("shapley_nas_jax.shapley.estimators")
    out = tmp_path / "compare.json"
    proc = run_script("compare_estimators.py", "--tiny", "--games", "synthetic", "--seeds", "2", "--budgets", "32",
                      "--estimators", "permutation_uniform", "kernelshap_paired", "--shapiq", "KernelSHAP",
                      "--supernet-dir", str(tmp_path), "--json", str(out),
                      env={"JAX_DISABLE_MOST_OPTIMIZATIONS": "1"})  # tiny games: XLA's optimisations cost, not pay
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert {row["library"] for row in rows} <= {"shapley_nas_jax", "shapiq"}
    assert all(row["library"] == "shapiq" for row in rows if row["estimator"].startswith("shapiq_"))
    assert len({row["game"] for row in rows}) == 4 and "vs permutation_uniform" in proc.stdout
    assert {row["estimator"] for row in rows} >= {"permutation_uniform", "kernelshap_paired"}
