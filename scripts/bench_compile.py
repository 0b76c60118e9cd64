"""Trace and compile time of every jitted function of a search, and of training a found cell.

    .venv/bin/python scripts/bench_compile.py                          # every setup, every step (long)
    .venv/bin/python scripts/bench_compile.py --setups demo,reference --json compile.json
    .venv/bin/python scripts/bench_compile.py --setups reference --steps weight_step,shapley_sequential

Setups: ``demo`` (configs/demo.py: the README's search), ``reference`` (configs/darts_cifar10_reference.py:
the full DARTS reference supernet, C=16, 8 cells, K=4, batch 256, M=10 x 1024 images), ``nb201``
(configs/nb201_cifar10.py), ``eval20`` (configs/train_cifar10.py: the 20-cell, C=36 evaluation network of
the paper's CIFAR-10 cell, batch 96). Steps of a search setup: ``weight_step``, ``shapley_sequential`` and
``shapley_batched`` (the Shapley step with each scoring mode), ``darts_1st``, ``darts_2nd``, ``evaluate``;
of ``eval20``: ``train_step``, ``eval_step``. Each is lowered from abstract inputs (``trace_s``: tracing +
lowering to StableHLO) and compiled by XLA (``compile_s``) with the persistent compilation cache off, i.e.
what a new user waits for on an empty cache. ``--json FILE`` writes the rows and the machine (CPU, ISA).
``--layers N`` builds the DARTS search setups with N cells instead of their configs' (tests: a smaller supernet).

``--seeds N`` times instead, per search setup, the first weight step (initialisation included) of seeds 0..N-1
of its config one after another in one process, through the public API (``Search.from_config``), with the
persistent cache off: the seeds share one compiled program, so seed 1 onwards should only run the step.

    .venv/bin/python scripts/bench_compile.py --setups demo --seeds 2 --json seeds.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)
from shapley_nas_jax.compilation_cache import add_compile_options, apply_compile_options  # noqa: E402
from shapley_nas_jax.config import load_config_file  # noqa: E402
from shapley_nas_jax.hardware import machine_info, write_benchmark_json  # noqa: E402
from shapley_nas_jax.search.state import Hyperparameters  # noqa: E402
from shapley_nas_jax.search.steps import SearchProgram  # noqa: E402
from shapley_nas_jax.spaces import get_space  # noqa: E402

SEARCH_STEPS = ("weight_step", "shapley_sequential", "shapley_batched", "darts_1st", "darts_2nd", "evaluate")
TRAIN_STEPS = ("train_step", "eval_step")


def search_setup(name: str, layers: int = 0):
    """``(config, image_shape, num_classes)`` of a search setup (with ``layers`` DARTS cells when given)."""
    files = {"demo": ("demo.py", (8, 8, 3)), "reference": ("darts_cifar10_reference.py", (32, 32, 3)),
             "nb201": ("nb201_cifar10.py", (32, 32, 3))}
    if name not in files:
        raise ValueError(f"unknown search setup {name!r}")
    file, image_shape = files[name]
    config = load_config_file(os.path.join(REPO, "configs", file))
    if layers:
        config.model.layers = layers
    return config, image_shape, 10


def _batch(batch: int, image_shape, leading=()):
    return {"image": jax.ShapeDtypeStruct((*leading, batch, *image_shape), jnp.float32),
            "label": jax.ShapeDtypeStruct((*leading, batch), jnp.int32)}


def search_step(config, image_shape, num_classes, step: str):
    """The jitted function and abstract arguments of one search step."""
    config = config.copy_and_resolve_references()
    if step.startswith("shapley_"):
        config.shapley.scoring = step.split("_", 1)[1]
        if config.shapley.bn_mode not in ("running", "batch"):  # a schedule compiles the step once per mode:
            config.shapley.bn_mode = "running"                   # time the running-statistics one
    if step.startswith("darts_"):
        config.search.method = step
    program = SearchProgram(config, get_space(config.space), image_shape=image_shape, num_classes=num_classes)
    state = jax.eval_shape(program.init_state, jax.random.PRNGKey(0))
    hyper = jax.eval_shape(lambda: Hyperparameters.from_config(config, steps_per_epoch=100))
    train = _batch(config.train.batch_size, image_shape)
    if step == "weight_step":
        return program.weight_step, (state, train, hyper)
    if step.startswith("shapley_"):
        s = config.shapley
        return program.shapley_step, (state, _batch(s.value_batch_size, image_shape, (s.samples,)), hyper)
    if step.startswith("darts_"):
        return program.arch_step, (state, train, train, hyper)
    if step == "evaluate":
        return program.evaluate, (state, train)
    raise ValueError(f"unknown search step {step!r}; known: {', '.join(SEARCH_STEPS)}")


def train_step(step: str):
    """The jitted function and abstract arguments of a step of training the paper's CIFAR-10 cell."""
    from shapley_nas_jax.evaluation.config import base_train_config
    from shapley_nas_jax.evaluation.program import TrainProgram
    from shapley_nas_jax.genotypes import resolve_genotype

    config = base_train_config()
    program = TrainProgram(config, resolve_genotype("shapley_nas_cifar10"), image_shape=(32, 32, 3), num_classes=10,
                           steps_per_epoch=100)
    state = jax.eval_shape(program.init_state)
    batch = _batch(config.train.batch_size, (32, 32, 3))
    if step == "train_step":
        return program.train_step, (state, batch)
    if step == "eval_step":
        return program.eval_step, (state, {**batch, "weight": jax.ShapeDtypeStruct(batch["label"].shape, jnp.float32)})
    raise ValueError(f"unknown training step {step!r}; known: {', '.join(TRAIN_STEPS)}")


def seed_first_steps(config, seeds: int) -> list[dict]:
    """Seconds to the end of the first weight step (initialisation, data, trace, compile, run) of each seed."""
    from shapley_nas_jax import Search

    rows = []
    for seed in range(seeds):
        config = config.copy_and_resolve_references()
        config.seed = seed
        t0 = time.perf_counter()
        search = Search.from_config(config)
        state = search.weight_step(search.init_state(), search.train_batch(0))
        jax.block_until_ready(state)
        rows.append({"seed": seed, "first_weight_step_s": time.perf_counter() - t0})
    return rows


def time_compile(fn, args) -> tuple[float, float]:
    t0 = time.perf_counter()
    lowered = fn.lower(*args)
    trace_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lowered.compile()
    return trace_s, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setups", default="demo,reference,nb201,eval20")
    ap.add_argument("--steps", default="", help="comma-separated step names (default: every step of each setup)")
    ap.add_argument("--layers", type=int, default=0, help="DARTS cells of the search setups (default: the config's)")
    ap.add_argument("--seeds", type=int, default=0, help="time the first weight step of this many seeds instead")
    add_compile_options(ap)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    apply_compile_options(args, cache=False)
    machine = machine_info()
    print(f"cpu={machine['cpu']!r} isa={machine['isa']} device={machine['device_kind']} jax={machine['jax']}")
    print(f"{'setup':<11}{'step':<20}{'trace s':>9}{'compile s':>11}", flush=True)
    wanted = set(filter(None, args.steps.split(",")))
    unknown = wanted - set(SEARCH_STEPS) - set(TRAIN_STEPS)
    if unknown:
        ap.error(f"unknown step(s) {', '.join(sorted(unknown))}; known: {', '.join(SEARCH_STEPS + TRAIN_STEPS)}")
    setups = args.setups.split(",")
    for setup in setups:
        if setup not in ("demo", "reference", "nb201", "eval20"):
            ap.error(f"unknown setup {setup!r}; choose from demo, reference, nb201, eval20")
    rows = []
    if args.seeds:
        for setup in setups:
            if setup == "eval20":
                ap.error("--seeds times search setups: demo, reference, nb201")
            for row in seed_first_steps(search_setup(setup, args.layers)[0], args.seeds):
                rows.append({"setup": setup, **row})
                print(f"{setup:<11}{'seed ' + str(row['seed']):<20}{'':>9}{row['first_weight_step_s']:11.1f}",
                      flush=True)
        if args.json:
            write_benchmark_json(args.json, {"machine": machine, "rows": rows})
        return rows
    for setup in setups:
        steps = TRAIN_STEPS if setup == "eval20" else SEARCH_STEPS
        for step in steps:
            if wanted and step not in wanted:
                continue
            fn, fn_args = train_step(step) if setup == "eval20" else search_step(*search_setup(setup, args.layers), step)
            trace_s, compile_s = time_compile(fn, fn_args)
            rows.append({"setup": setup, "step": step, "trace_s": trace_s, "compile_s": compile_s})
            print(f"{setup:<11}{step:<20}{trace_s:9.1f}{compile_s:11.1f}", flush=True)
            if args.json:
                write_benchmark_json(args.json, {"machine": machine, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
