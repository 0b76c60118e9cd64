"""What the docs say about the code, checked against the code: the benchmark scripts' options and JSON, the
scoring goal's verdict against its table, the run-directory listing, the SLURM lines of docs/multihost.md,
the options scripts/nb201_cpu_results.sh passes, and the README's recipes for the NB201 table and the
CIFAR-10 image folder."""

import csv
import json
import os
import pathlib
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from shapley_nas_jax.benchmarks.nb201 import TABLE_COLUMNS, load_benchmark
from shapley_nas_jax.data import load_dataset
from shapley_nas_jax.hardware import write_benchmark_json

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BENCH_SCRIPTS = sorted((ROOT / "scripts").glob("bench_*.py"))


def _readme_row(first_cell: str) -> str:
    return next(line for line in README.splitlines() if line.startswith(f"| {first_cell} |"))


def test_every_bench_script_writes_json_through_the_shared_writer_and_the_readme_names_reference_takers():
    assert len(BENCH_SCRIPTS) >= 4
    for script in BENCH_SCRIPTS:
        source = script.read_text()
        assert '"--json"' in source and "write_benchmark_json(args.json" in source, script.name
    takers = {s.name for s in BENCH_SCRIPTS if '"--reference"' in s.read_text()}
    row = _readme_row("`scripts/bench_*.py`")
    clause = re.search(r"; ([^;]*) also take `--reference DIR`", row).group(1)
    assert takers == set(re.findall(r"`(bench_\w+\.py)`", clause)), (takers, clause)


def test_benchmark_json_carries_the_machine_and_replaces_the_file_whole(tmp_path):
    path = tmp_path / "bench.json"
    write_benchmark_json(str(path), {"rows": [1]})
    write_benchmark_json(str(path), {"rows": [1, 2], "machine": {"cpu": "given"}})
    assert json.loads(path.read_text()) == {"rows": [1, 2], "machine": {"cpu": "given"}}
    write_benchmark_json(str(path), {"rows": []})
    record = json.loads(path.read_text())
    assert {"cpu", "isa", "backend", "jax"} <= set(record["machine"]) and os.listdir(tmp_path) == ["bench.json"]


def test_the_scoring_goal_verdict_follows_its_same_run_table():
    section = (ROOT / "BENCHMARKS.md").read_text().split("### Against the bar", 1)[1].split("\n### ", 1)[0]
    rows = [[c.strip().strip("*") for c in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| path")]
    ratios = [float(ratio) for _, s_per_eval, original, ratio in rows]
    for _, s_per_eval, original, ratio in rows:  # each ratio is its own row's original over its own time
        assert float(ratio) == pytest.approx(float(original) / float(s_per_eval), abs=0.006)
    verdict = re.search(r"\*\*The CPU goal is (met|missed)", section).group(1)
    assert verdict == ("met" if min(ratios) >= 5 else "missed")


def test_the_readme_lists_every_entry_of_a_run_directory():
    layout = (ROOT / "shapley_nas_jax" / "runs.py").read_text().split("Layout of a workdir:", 1)[1].split('"""')[0]
    entries = re.findall(r"^    (\S+)\s", layout, re.MULTILINE)
    listing = README.split("Every workdir holds", 1)[1].split("\n\n", 1)[0]
    assert {"events/", "plots/"} <= set(entries)
    assert [e for e in entries if f"`{e}`" not in listing] == []


def test_multihost_slurm_lines_use_every_gpu_of_a_host():
    # JAX limits a process started by SLURM to the GPU of its local rank unless JAX_LOCAL_DEVICE_IDS says more
    # (jax.distributed, cluster auto-detection); a task bound to its own GPU sees it as GPU 0.
    text = (ROOT / "docs" / "multihost.md").read_text().replace("\\\n", " ")  # continued lines joined
    commands = [c for line in text.splitlines() if not line.lstrip().startswith("#")
                for c in re.findall(r"srun [^`\n]*", line)]
    assert commands
    for command in commands:
        assert "--gpus-per-task" not in command and "SHAPLEY_NAS_DISTRIBUTED=1" in command, command
        tasks = int(re.search(r"--ntasks-per-node=(\d+)", command).group(1))
        gpus = int(re.search(r"--gpus-per-node=(\d+)", command).group(1))
        ids = re.search(r"JAX_LOCAL_DEVICE_IDS=([\d,]+)", command)
        assert tasks * (len(ids.group(1).split(",")) if ids else 1) == gpus, command


@pytest.mark.slow
def test_nb201_cpu_results_passes_the_torch_classifier_init_that_results_md_rows_ran_with(tmp_path):
    # A stand-in `python` first on PATH records every command the script runs (and runs its seed parsing).
    log = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nif [ "$1" = -c ]; then exec {sys.executable} "$@"; fi\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "scripts/nb201_cpu_results.sh", "IMAGES", "TABLE", str(tmp_path / "runs"), "0",
                           "--config.model.init=flax"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    searches = [line.split() for line in log.read_text().splitlines() if "run_seeds.py" in line]
    assert len(searches) == 5
    for argv in searches:  # the default first, so that an option given to the script overrides it
        assert argv.index("--config.model.init=torch") < argv.index("--config.model.init=flax")
    assert "--config.model.init=torch" in (ROOT / "RESULTS.md").read_text()


def _readme_python_block(containing: str) -> str:
    return textwrap.dedent(next(b for b in re.findall(r"```python\n(.*?)```", README, re.DOTALL) if containing in b))


@pytest.mark.slow
def test_the_readme_recipe_for_an_nb201_table_writes_one_the_benchmark_reads(tmp_path):
    source = tmp_path / "source.csv"
    archs = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
             "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"]
    with open(source, "w", newline="") as f:
        table = csv.writer(f)
        table.writerow(["arch_str", *TABLE_COLUMNS.values()])
        for i, arch in enumerate(archs):
            table.writerow([arch, *(10.0 * i + j for j in range(len(TABLE_COLUMNS)))])
    recipe = _readme_python_block("TABLE_COLUMNS").replace('"NATS-tss-v1_0-3ffb9-simple"', repr(str(source)))
    subprocess.run([sys.executable, "-c", recipe], cwd=tmp_path, check=True, timeout=120)
    written, expected = load_benchmark(tmp_path / "nb201_200ep.csv"), load_benchmark(source)
    assert list(written.archs()) == archs and np.array_equal(written.accuracies, expected.accuracies)


@pytest.mark.slow
def test_the_readme_recipe_for_cifar10_writes_an_image_folder_the_folder_source_reads(tmp_path):
    # CIFAR-10's Python version, in miniature: batches of 3072 bytes per image (channel-major), bytes keys
    src = tmp_path / "cifar-10-batches-py"
    src.mkdir()
    (src / "batches.meta").write_bytes(pickle.dumps({"label_names": ["airplane", "automobile", "bird"]}))
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": [0, 1, 2]}
        (src / name).write_bytes(pickle.dumps(batch))
    subprocess.run([sys.executable, "-c", _readme_python_block("cifar-10-batches-py")], cwd=tmp_path, check=True,
                   timeout=120)
    train = load_dataset(f"folder:{tmp_path / 'cifar10-images'}", "train")
    test = load_dataset(f"folder:{tmp_path / 'cifar10-images'}", "test")
    assert (len(train), len(test), train.num_classes, tuple(train.image_shape)) == (15, 3, 3, (32, 32, 3))
    last = pickle.loads((src / "test_batch").read_bytes())[b"data"][2].reshape(3, 32, 32).transpose(1, 2, 0)
    images, labels = test.get_batch(np.arange(3))
    assert labels.tolist() == [0, 1, 2] and np.array_equal(images[2], last)  # lossless, in class order
