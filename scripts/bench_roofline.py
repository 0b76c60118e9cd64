"""How far each search step is from this machine's limit: XLA's FLOPs and bytes against measured peaks.

    .venv/bin/python scripts/bench_roofline.py                                   # every setup and step (long)
    .venv/bin/python scripts/bench_roofline.py --setups nb201_cpu --json roofline.json
    .venv/bin/python scripts/bench_roofline.py --setups reference --batch 64 --value-batch 256

For each search setup (``reference``: configs/darts_cifar10_reference.py, the DARTS reference supernet, C=16,
8 cells, K=4; ``nb201``: configs/nb201_cifar10.py; ``nb201_cpu``: configs/nb201_cifar10_cpu.py) and each step
(``weight_step``: one SGD step of the supernet; ``scoring``: one value evaluation, the Shapley scoring pass
of the scoring model on one coalition of ``shapley.value_batch_size`` images; ``darts_1st``: one first-order
DARTS architecture step), it prints and records:

* ``flops`` and ``bytes``: XLA's cost analysis of the compiled program (``compiled.cost_analysis()``);
* this machine's peak, measured in the same run: f32 matmul FLOP/s (``--matmul`` square matrices, jitted)
  and memory bandwidth (bytes read and written per second by a jitted elementwise pass over ``--stream-mb``);
* the floor ``max(flops / peak, bytes / bandwidth)``, the measured seconds per call (median of
  ``--repeats`` after a compiling call) and their ratio (how many times the floor the step takes), and
  which limit binds (``compute`` or ``memory``).

``--batch`` / ``--value-batch`` (and ``--channels``, ``--cells-per-stage``, ``--layers``) override the configs' sizes
(the reference's own batches are 256 and 1024).
``--json FILE`` writes the rows, the peaks and the machine (CPU, ISA); cap the ISA with
``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` to measure an AVX2 machine on an AVX-512 one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)
from shapley_nas_jax.compilation_cache import add_compile_options, apply_compile_options  # noqa: E402
from shapley_nas_jax.config import add_size_options, apply_size_options, complete, load_config_file  # noqa: E402
from shapley_nas_jax.hardware import machine_info, write_benchmark_json  # noqa: E402
from shapley_nas_jax.search.state import Hyperparameters  # noqa: E402
from shapley_nas_jax.search.steps import SearchProgram  # noqa: E402
from shapley_nas_jax.spaces import get_space  # noqa: E402
from shapley_nas_jax.value import make_value_fn  # noqa: E402

SETUPS = {"reference": "darts_cifar10_reference.py", "nb201": "nb201_cifar10.py", "nb201_cpu": "nb201_cifar10_cpu.py"}
STEPS = ("weight_step", "scoring", "darts_1st")
IMAGE_SHAPE = (32, 32, 3)


def median_seconds(fn, args, repeats: int) -> float:
    """Median seconds per call of the jitted ``fn(*args)`` after one (compiling) call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_peaks(matmul: int, stream_mb: int, repeats: int) -> dict:
    """f32 matmul FLOP/s and elementwise memory bandwidth (bytes/s) of this machine, as XLA reaches them."""
    a = jax.random.normal(jax.random.PRNGKey(0), (matmul, matmul), jnp.float32)
    flops = median_seconds(jax.jit(lambda x, y: x @ y), (a, a), repeats)
    n = stream_mb * 2**20 // 4
    x = jax.random.normal(jax.random.PRNGKey(1), (n,), jnp.float32)
    stream = median_seconds(jax.jit(lambda v: v * 1.5 + 2.0), (x,), repeats)
    return {"matmul_size": matmul, "peak_flops": 2 * matmul**3 / flops,
            "stream_mb": stream_mb, "bandwidth_bytes": 2 * n * 4 / stream}


def random_batch(key, batch: int, leading=()):
    k1, k2 = jax.random.split(key)
    return {"image": jax.random.normal(k1, (*leading, batch, *IMAGE_SHAPE), jnp.float32),
            "label": jax.random.randint(k2, (*leading, batch), 0, 10, jnp.int32)}


def setup_steps(name: str, args):
    """``{step: (jitted function, concrete arguments)}`` of a setup (the state is donated by the steps, so each
    call gets fresh copies through ``fresh``)."""
    config = apply_size_options(complete(load_config_file(os.path.join(REPO, "configs", SETUPS[name]))), args)
    config.shapley.bn_mode = "running"
    program = SearchProgram(config, get_space(config.space), image_shape=IMAGE_SHAPE, num_classes=10)
    state = program.init_state(jax.random.PRNGKey(0))
    hyper = Hyperparameters.from_config(config, steps_per_epoch=100)
    train = random_batch(jax.random.PRNGKey(1), config.train.batch_size)
    value = random_batch(jax.random.PRNGKey(2), config.shapley.value_batch_size)
    darts_config = config.copy_and_resolve_references()
    darts_config.search.method = "darts_1st"
    darts = SearchProgram(darts_config, get_space(config.space), image_shape=IMAGE_SHAPE, num_classes=10)
    darts_state = darts.init_state(jax.random.PRNGKey(0))
    value_fn = make_value_fn(program.scoring_model, metric=config.shapley.metric)
    mask = jnp.ones(program.space.alpha_shape, jnp.float32)
    weights = state.weights
    scoring_args = (program.scoring_variables(weights.params), program.scoring_variables(weights.batch_stats),
                    state.arch.alpha, mask, value)
    return config, {
        # the weight and DARTS steps donate their state: undonated copies keep the timing loop's state alive
        "weight_step": (jax.jit(program._weight_step), (state, train, hyper)),
        "scoring": (jax.jit(value_fn), scoring_args),
        "darts_1st": (jax.jit(lambda s, t, v, h: darts._arch_step(s, t, v, h, bn_mode="running")),
                      (darts_state, train, train, hyper)),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setups", default="nb201_cpu,nb201,reference")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--matmul", type=int, default=2048)
    ap.add_argument("--stream-mb", type=int, default=256)
    add_size_options(ap)
    add_compile_options(ap)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    apply_compile_options(args)
    steps = args.steps.split(",")
    for name in args.setups.split(","):
        if name not in SETUPS:
            ap.error(f"unknown setup {name!r}; known: {', '.join(SETUPS)}")
    for step in steps:
        if step not in STEPS:
            ap.error(f"unknown step {step!r}; known: {', '.join(STEPS)}")
    peaks = measure_peaks(args.matmul, args.stream_mb, max(args.repeats, 3))
    print(f"peak: {peaks['peak_flops'] / 1e9:.1f} GFLOP/s (f32 matmul {args.matmul}), "
          f"{peaks['bandwidth_bytes'] / 1e9:.1f} GB/s (elementwise, {args.stream_mb} MB)", flush=True)
    rows = []
    for name in args.setups.split(","):
        config, table = setup_steps(name, args)
        for step in steps:
            fn, fn_args = table[step]
            cost = fn.lower(*fn_args).compile().cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            flops, nbytes = float(cost.get("flops", 0.0)), float(cost.get("bytes accessed", 0.0))
            seconds = median_seconds(fn, fn_args, args.repeats)
            compute, memory = flops / peaks["peak_flops"], nbytes / peaks["bandwidth_bytes"]
            floor = max(compute, memory)
            row = {"setup": name, "step": step, "batch": config.train.batch_size,
                   "value_batch": config.shapley.value_batch_size, "flops": flops, "bytes": nbytes,
                   "seconds": seconds, "floor_s": floor, "times_floor": seconds / floor if floor else None,
                   "bound": "compute" if compute >= memory else "memory"}
            rows.append(row)
            print(f"{name:9s} {step:11s} {flops / 1e9:9.2f} GFLOP {nbytes / 1e9:8.2f} GB  "
                  f"{seconds:8.3f} s  floor {floor:7.3f} s ({row['bound']})  x{row['times_floor']:.1f}", flush=True)
            if args.json:
                write_benchmark_json(args.json, {"peaks": peaks, "rows": rows})
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cpu_count']} cores, ISA {info['isa']}, {info['backend']}")
    return {"peaks": peaks, "rows": rows}


if __name__ == "__main__":
    main()
