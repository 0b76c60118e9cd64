"""Every entry point uses JAX's persistent compilation cache, and a resumed search finds its steps there.

The resume check runs in fresh processes: within one process the in-memory jit caches would hide a
cache-key difference, and a rerun after a kill is a new process.
"""

import json
import os
import subprocess
import sys

import jax
import pytest

from shapley_nas_jax import compilation_cache

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STEPS = ("_weight_step", "_arch_step", "_evaluate")  # the search's jitted programs (jit_<name>-<hash>-cache)

# A tiny NB201 search (it compiles faster than the DARTS spaces; 4 weight steps of 16 images per epoch) with an
# alpha update at the start of each of its 2 epochs (no warm-up), so that the first process compiles every step
# before it stops at the end of epoch 0, and the resumed one needs all of them.
SEARCH = r"""
import json, sys
sys.path.insert(0, {tests!r})
import jax
jax.config.update("jax_disable_most_optimizations", True)
from search_configs import tiny_config
from shapley_nas_jax.search import SearchInterrupted, run_search
workdir, stop = sys.argv[1], sys.argv[2] == "stop"
config = tiny_config("nb201", **{{"train.epochs": 2, "search.warmup_epochs": 0, "train.batch_size": 16,
                                             "data.train_fraction": 0.05, "shapley.value_batch_size": 16}})
try:
    result = run_search(config, workdir, progress=False,
                        interrupt=(lambda event, state: event == "epoch_end") if stop else None)
    print(json.dumps({{"cache": jax.config.jax_compilation_cache_dir, "genotype": str(result.genotype)}}))
except SearchInterrupted:
    print(json.dumps({{"cache": jax.config.jax_compilation_cache_dir, "interrupted": True}}))
""".format(tests=HERE)


def cache_entries(directory) -> set[str]:
    return {name for name in os.listdir(directory) if name.endswith("-cache")} if os.path.isdir(directory) else set()


def step_entries(entries) -> dict[str, list[str]]:
    return {step: sorted(e for e in entries if e.startswith(f"jit_{step}-")) for step in STEPS}


def run_search_process(workdir, cache_dir, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != compilation_cache.ENV_NO_CACHE}
    env.update(JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(cache_dir),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",  # store every program, however quick to compile
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", SEARCH, str(workdir), mode], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=900)
    assert proc.returncode == 0, f"search ({mode}) failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_resumed_search_loads_its_steps_from_the_persistent_cache(tmp_path):
    """A search stopped after its first epoch and rerun on its workdir in a new process compiles none of
    its steps again: the restored state gives the jitted steps the same programs (cache keys) as the first
    process's, whose compiles are on disk."""
    cache_dir, workdir = tmp_path / "xla", tmp_path / "run"
    first = run_search_process(workdir, cache_dir, "stop")
    assert first == {"cache": str(cache_dir), "interrupted": True}
    before = cache_entries(cache_dir)
    compiled = step_entries(before)
    assert all(compiled.values()), f"the first process did not store every step: {compiled}"

    resumed = run_search_process(workdir, cache_dir, "resume")
    assert resumed["cache"] == str(cache_dir) and resumed["genotype"].startswith("|")  # an NB201 cell
    new = cache_entries(cache_dir) - before
    recompiled = {step: entries for step, entries in step_entries(new).items() if entries}
    assert not recompiled, (f"the resumed run compiled its steps again (new cache keys): {recompiled}; "
                            f"all new entries: {sorted(new)}")


def test_enable_compilation_cache_keeps_a_set_folder_else_uses_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv(compilation_cache.ENV_NO_CACHE, raising=False)
    previous = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_enable_compilation_cache", True)  # off for in-process tests (conftest.py)
    try:
        jax.config.update("jax_compilation_cache_dir", str(tmp_path))
        assert compilation_cache.enable_compilation_cache() == str(tmp_path)  # $JAX_COMPILATION_CACHE_DIR wins
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        expected = str(tmp_path / "home" / ".cache" / "shapley-nas-jax" / "xla")
        assert compilation_cache.default_cache_dir() == expected
        assert compilation_cache.enable_compilation_cache() == expected
        assert jax.config.jax_compilation_cache_dir == expected
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
        jax.config.update("jax_enable_compilation_cache", False)


def test_enable_compilation_cache_respects_opt_outs(monkeypatch):
    previous_dir, previous_enabled = jax.config.jax_compilation_cache_dir, jax.config.jax_enable_compilation_cache
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv(compilation_cache.ENV_NO_CACHE, "1")
        assert compilation_cache.enable_compilation_cache() is None
        assert not jax.config.jax_compilation_cache_dir  # JAX's settings are left alone
        monkeypatch.setenv(compilation_cache.ENV_NO_CACHE, "0")
        jax.config.update("jax_enable_compilation_cache", False)  # what bench scripts do for cold compiles
        assert compilation_cache.enable_compilation_cache() is None
        assert not jax.config.jax_compilation_cache_dir
    finally:
        jax.config.update("jax_compilation_cache_dir", previous_dir)
        jax.config.update("jax_enable_compilation_cache", previous_enabled)


def test_tests_share_one_cache_folder_with_their_subprocesses():
    """conftest.py points the session's cache, and its subprocesses' (CLI, scripts, examples), at one folder
    (a temporary one unless $JAX_COMPILATION_CACHE_DIR was set), never at ~/.cache by default."""
    folder = jax.config.jax_compilation_cache_dir
    assert folder and os.environ["JAX_COMPILATION_CACHE_DIR"] == folder


def test_compile_options_set_fast_compile_and_the_cache_as_asked(monkeypatch, tmp_path):
    import argparse

    monkeypatch.delenv(compilation_cache.ENV_NO_CACHE, raising=False)
    parser = argparse.ArgumentParser()
    compilation_cache.add_compile_options(parser, cache_option=True)
    previous = {name: jax.config.values[name] for name in
                ("jax_disable_most_optimizations", "jax_enable_compilation_cache", "jax_compilation_cache_dir")}
    try:
        jax.config.update("jax_disable_most_optimizations", False)  # conftest.py may have set it
        jax.config.update("jax_compilation_cache_dir", str(tmp_path))
        jax.config.update("jax_enable_compilation_cache", True)
        compilation_cache.apply_compile_options(parser.parse_args([]))  # no --cache: cold compiles
        assert not jax.config.values["jax_disable_most_optimizations"]
        assert not jax.config.jax_enable_compilation_cache
        jax.config.update("jax_enable_compilation_cache", True)
        monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
        compilation_cache.apply_compile_options(parser.parse_args(["--fast-compile", "--cache"]))
        assert jax.config.values["jax_disable_most_optimizations"]
        # the fast-compile XLA flags join the user's, for this process's backend (if not started) and children
        assert os.environ["XLA_FLAGS"].split() == ["--xla_cpu_max_isa=AVX2", *compilation_cache.FAST_COMPILE_XLA_FLAGS]
        monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")  # a flag the user set wins
        compilation_cache.use_fast_compile()
        assert os.environ["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"
        assert jax.config.jax_enable_compilation_cache and jax.config.jax_compilation_cache_dir == str(tmp_path)
        compilation_cache.apply_compile_options(parser.parse_args(["--cache"]), cache=False)  # the script decides
        assert not jax.config.jax_enable_compilation_cache
        without_cache = argparse.ArgumentParser()
        compilation_cache.add_compile_options(without_cache)
        jax.config.update("jax_enable_compilation_cache", True)
        compilation_cache.apply_compile_options(without_cache.parse_args([]))  # no --cache option: left alone
        assert jax.config.jax_enable_compilation_cache
        with pytest.raises(SystemExit):
            without_cache.parse_args(["--cache"])
    finally:
        for name, value in previous.items():
            jax.config.update(name, value)
