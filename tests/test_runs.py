"""A run's files go through etils.epath (so a gs:// workdir is written and read where it says), only process 0
writes them, and RunRecord reads them, each file on first use."""

import contextlib
import json
import os

import jax
import ml_collections
import pytest
from etils import epath
from etils.epath import gpath, testing

from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError, WorkdirConflictError
from shapley_nas_jax.runs import MetricsLog, RunDir, RunRecord, absolute_path, seed_runs


def small_config(seed=0):
    return ml_collections.ConfigDict({"seed": seed, "train": {"learning_rate": 0.025}})


@contextlib.contextmanager
def fake_bucket(root):
    """gs://bucket/... is read and written under ``root/bucket/...`` (etils.epath's own filesystem mock)."""
    def local(path):
        text = os.fspath(path)
        if text.startswith(str(root)):  # the backend's own nested calls (replace asks isdir) are mapped already
            return text
        assert text.startswith("gs://"), text  # every file access goes through the gs:// path
        return os.path.join(root, text[len("gs://"):])

    def one(original, path, *args, **kwargs):
        return original(local(path), *args, **kwargs)

    def two(original, path, dst, *args, **kwargs):
        return original(local(path), local(dst), *args, **kwargs)

    with testing.mock_epath(open=one, exists=one, isdir=one, makedirs=one, mkdir=one, remove=one, stat=one,
                            listdir=one, rename=two, replace=two), \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(gpath, "_is_tf_installed", lambda: False, raising=False)  # keep gs:// on the mocked backend
        yield


def test_a_run_is_written_to_a_gs_workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a local write to "gs://..." would land
    with fake_bucket(tmp_path):
        rundir = RunDir("gs://bucket/runs/demo")
        assert rundir.path == "gs://bucket/runs/demo"  # not mangled into <cwd>/gs:/bucket/...
        assert rundir.checkpoint_dir == "gs://bucket/runs/demo/checkpoints"
        rundir.prepare(small_config())
        log = MetricsLog(rundir)
        for step in (1, 2, 3):
            log.write({"kind": "epoch", "step": step, "alpha_updates": step})
        log.truncate_after(2, 2)
        log.write({"kind": "epoch", "step": 3, "alpha_updates": 3, "resumed": True})
        rundir.write_json("results.json", {"genotype": "g"})
        assert [r["step"] for r in log.records()] == [1, 2, 3] and log.records()[-1]["resumed"]
        RunDir("gs://bucket/runs/demo").prepare(small_config())  # the same config resumes
        run = RunRecord.load("gs://bucket/runs/demo")  # and reads it back from the bucket
        assert run.path == "gs://bucket/runs/demo" and run.results == {"genotype": "g"}
        assert run.config["seed"] == 0 and run.environment["seed"] == 0
        assert [r["step"] for r in run.records("epoch")] == [1, 2, 3]
        assert list(seed_runs("gs://bucket/runs")) == []  # demo is no seed<k> folder
        with pytest.raises(PathNotFoundError, match="run directory not found: gs://bucket/runs/other"):
            RunRecord.load("gs://bucket/runs/other")
        with pytest.raises(WorkdirConflictError, match="gs://bucket/runs/demo holds a run with a different config"):
            RunDir("gs://bucket/runs/demo").prepare(small_config(seed=1))

    run = tmp_path / "bucket" / "runs" / "demo"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "environment.json", "metrics.jsonl",
                                                     "results.json"]
    assert json.loads((run / "config.json").read_text())["seed"] == 0
    environment = json.loads((run / "environment.json").read_text())
    assert environment["cpu"]["isa"] in ("avx512", "avx2", "other") and "xla_flags" in environment["cpu"]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    assert not (tmp_path / "gs:").exists()


def test_local_workdirs_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert RunDir("runs/x").path == str(tmp_path / "runs" / "x")
    assert absolute_path("gs://bucket/a/../b") == epath.Path("gs://bucket/a/../b")


def test_only_process_0_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    rundir = RunDir(tmp_path / "run")
    rundir.prepare(small_config())
    log = MetricsLog(rundir)
    log.write({"kind": "epoch", "step": 1})
    log.truncate_after(0, 0)
    rundir.write_json("results.json", {"genotype": "g"})
    assert not (tmp_path / "run").exists()

    monkeypatch.setattr(jax, "process_index", lambda: 0)
    rundir.prepare(small_config())  # process 0 writes; the others then read what it wrote
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    with pytest.raises(WorkdirConflictError):
        rundir.prepare(small_config(seed=1))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "environment.json"]


def test_plots_are_drawn_by_process_0_only(tmp_path, monkeypatch):
    from shapley_nas_jax.analysis import plots

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    assert plots.plot_run(tmp_path / "no_such_run") == []
    assert list(tmp_path.iterdir()) == []


def test_run_record_reads_each_file_on_first_use_and_compares_configs_with_defaults(tmp_path, monkeypatch):
    rundir = RunDir(tmp_path / "run")
    rundir.prepare(small_config())
    MetricsLog(rundir).write({"kind": "epoch", "step": 1})
    MetricsLog(rundir).write({"kind": "alpha_update", "step": 1})
    run = RunRecord.load(tmp_path / "run")
    assert run.results is None and run.records("epoch") == [{"kind": "epoch", "step": 1}]  # unfinished
    assert len(run.metrics) == 2 and run.config == {"seed": 0, "train": {"learning_rate": 0.025}}
    reads = []
    original = epath.Path.read_text
    monkeypatch.setattr(epath.Path, "read_text", lambda self, *a, **k: reads.append(self.name) or original(self, *a, **k))
    run.config, run.metrics, run.records("epoch")
    assert reads == []  # read once, kept
    assert RunRecord(tmp_path / "run").environment["seed"] == 0 and reads == ["environment.json"]  # only that file
    # the stored config against a rerun's: keys the run predates count as equal at their default
    newer = ml_collections.ConfigDict({"seed": 0, "train": {"learning_rate": 0.025, "warmup": 0}})
    assert run.config_differences(newer) == ["train.warmup: '<absent>' -> 0"]
    assert run.config_differences(newer, defaults={"train": {"warmup": 0}}) == []
    assert run.config_differences(newer, defaults={"train": {"warmup": 5}}) == ["train.warmup: '<absent>' -> 0"]
    (tmp_path / "run" / "results.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="results.json is not valid JSON"):
        RunRecord(tmp_path / "run").results
    (tmp_path / "run" / "metrics.jsonl").write_text('{"kind": "epoch"}\n{oops\n')
    with pytest.raises(InvalidInputError, match="metrics.jsonl:2 is not valid JSON"):
        RunRecord(tmp_path / "run").metrics


def test_seed_runs_of_a_multi_seed_root_in_seed_order(tmp_path):
    for name in ("seed10", "seed2", "seed0", "summary.json", "train", "seedx"):
        (tmp_path / name).mkdir() if not name.endswith(".json") else (tmp_path / name).write_text("{}")
    runs = seed_runs(tmp_path)
    assert list(runs) == [0, 2, 10] and runs[10].path == str(tmp_path / "seed10")
    assert seed_runs(tmp_path / "missing") == {}
