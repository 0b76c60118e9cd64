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
* this machine's peaks, measured in the same run: f32 matmul FLOP/s (``--matmul`` square matrices, jitted)
  and two bandwidths, bytes read and written per second by a jitted elementwise pass: over ``--stream-mb``
  (main memory) and over ``--cache-mb`` (a buffer the size of a step's activations, which stays in the
  caches; the pass repeats in one call);
* the floor ``max(flops / peak, bytes / cache bandwidth)``: XLA's "bytes accessed" counts every operand of
  every fused op, most of them cache hits at these shapes, so only the faster bandwidth gives a bound the
  step cannot beat; ``dram_floor_s`` (bytes over the main-memory bandwidth) is recorded beside it;
* the measured seconds per call (median of ``--repeats`` after a compiling call), its ratio to the floor
  (how many times the floor the step takes) and which limit binds (``compute`` or ``memory``).

``--ops`` adds one row per op kind of the setup's space (``op:<name>``): one training-mode forward and
backward of that op alone on a batch of the first cells' shape (``train.batch_size`` x 32 x 32 x channels /
K), in the formulation the setup's weight step trains with (``--op-formulations lax,shifted``: one row per op
and formulation, ``op:<name>:<formulation>``), so the table shows which ops are furthest from their floor.
``--steps none`` leaves the steps out (op rows only).

``--batch`` / ``--value-batch`` (and ``--channels``, ``--cells-per-stage``, ``--layers``) override the configs' sizes
(the reference's own batches are 256 and 1024); ``--formulation lax|shifted`` the training steps' op arithmetic
(``model.formulation``; default: the config's).
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
from shapley_nas_jax.config import (  # noqa: E402
    add_formulation_option, add_size_options, apply_size_options, complete, load_config_file)
from shapley_nas_jax.hardware import machine_info, write_benchmark_json  # noqa: E402
from shapley_nas_jax.ops import make_op  # noqa: E402
from shapley_nas_jax.ops import primitives as P  # noqa: E402
from shapley_nas_jax.search.game import NULL_OPS  # noqa: E402
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


def elementwise_bandwidth(megabytes: float, passes: int, repeats: int) -> float:
    """Bytes read and written per second by ``passes`` jitted elementwise passes over a ``megabytes`` buffer
    (each pass depends on the last, so none is skipped)."""
    n = int(megabytes * 2**20) // 4
    x = jax.random.normal(jax.random.PRNGKey(1), (n,), jnp.float32)
    seconds = median_seconds(jax.jit(lambda v: jax.lax.fori_loop(0, passes, lambda _, u: u * 0.5 + 1.0, v)),
                             (x,), repeats)
    return 2 * n * 4 * passes / seconds


def measure_peaks(matmul: int, stream_mb: int, cache_mb: float, repeats: int) -> dict:
    """f32 matmul FLOP/s and elementwise bandwidths (bytes/s) of this machine, as XLA reaches them."""
    a = jax.random.normal(jax.random.PRNGKey(0), (matmul, matmul), jnp.float32)
    flops = median_seconds(jax.jit(lambda x, y: x @ y), (a, a), repeats)
    return {"matmul_size": matmul, "peak_flops": 2 * matmul**3 / flops,
            "stream_mb": stream_mb, "bandwidth_bytes": elementwise_bandwidth(stream_mb, 1, repeats),
            "cache_mb": cache_mb, "cache_bandwidth_bytes": elementwise_bandwidth(cache_mb, 64, repeats)}


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
    return config, program.model.formulation, {
        # the weight and DARTS steps donate their state: undonated copies keep the timing loop's state alive
        "weight_step": (jax.jit(program._weight_step), (state, train, hyper), program.model.formulation),
        "scoring": (jax.jit(value_fn), scoring_args, program.scoring_model.formulation),
        "darts_1st": (jax.jit(lambda s, t, v, h: darts._arch_step(s, t, v, h, bn_mode="running")),
                      (darts_state, train, train, hyper), darts.model.formulation),
    }


def op_steps(config, space, formulations: list[str]) -> dict:
    """``{"op:<name>": (jitted forward and backward, arguments, formulation)}``: every op kind of the space's
    first edge (``none`` excepted: it computes nothing), training mode, on the first cells' activations, in
    each of ``formulations`` (more than one: keys ``op:<name>:<formulation>``)."""
    channels = config.model.channels // config.model.partial_channels  # PC-DARTS: ops see C / K channels
    key = jax.random.PRNGKey(3)
    x = jax.random.normal(key, (config.train.batch_size, *IMAGE_SHAPE[:2], channels), jnp.float32)
    steps = {}
    for name in dict.fromkeys(space.edge_ops[0][0]):
        if name in NULL_OPS:
            continue
        op = make_op(name, channels, 1, pool_bn=config.model.pool_bn)
        variables = op.init(key, x[:2])

        def loss(params, inputs, cotangent, op=op, rest={k: v for k, v in variables.items() if k != "params"}):
            out, _ = op.apply({"params": params, **rest}, inputs, train=True, mutable=["batch_stats"])
            return jnp.vdot(out, cotangent)  # an argument, not sum(out): XLA would fold a linear op's backward

        for formulation in formulations:
            def traced_loss(*loss_args, formulation=formulation, loss=loss):
                with P.formulation(formulation):
                    return loss(*loss_args)

            suffix = f":{formulation}" if len(formulations) > 1 else ""
            steps[f"op:{name}{suffix}"] = (
                jax.jit(jax.grad(traced_loss, argnums=(0, 1))),
                (variables.get("params", {}), x, jax.random.normal(key, x.shape, jnp.float32)), formulation)
    return steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setups", default="nb201_cpu,nb201,reference")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--matmul", type=int, default=2048)
    ap.add_argument("--stream-mb", type=int, default=256)
    ap.add_argument("--cache-mb", type=float, default=2.0)
    ap.add_argument("--ops", action="store_true", help="also one row per op kind of each setup's space")
    ap.add_argument("--op-formulations", default="training",
                    help="comma-separated formulations of the op rows; 'training': the weight step's")
    add_size_options(ap)
    add_formulation_option(ap)
    add_compile_options(ap)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    apply_compile_options(args)
    steps = [] if args.steps == "none" else args.steps.split(",")
    for name in args.setups.split(","):
        if name not in SETUPS:
            ap.error(f"unknown setup {name!r}; known: {', '.join(SETUPS)}")
    for step in steps:
        if step not in STEPS:
            ap.error(f"unknown step {step!r}; known: {', '.join(STEPS)}")
    peaks = measure_peaks(args.matmul, args.stream_mb, args.cache_mb, max(args.repeats, 3))
    print(f"peak: {peaks['peak_flops'] / 1e9:.1f} GFLOP/s (f32 matmul {args.matmul}), "
          f"{peaks['bandwidth_bytes'] / 1e9:.1f} GB/s (elementwise, {args.stream_mb} MB), "
          f"{peaks['cache_bandwidth_bytes'] / 1e9:.1f} GB/s (elementwise, {args.cache_mb} MB)", flush=True)
    rows = []
    for name in args.setups.split(","):
        config, training_formulation, table = setup_steps(name, args)
        if args.ops:
            formulations = [training_formulation if f == "training" else f for f in args.op_formulations.split(",")]
            table.update(op_steps(config, get_space(config.space), formulations))
        for step in [*steps, *(k for k in table if k.startswith("op:") and args.ops)]:
            fn, fn_args, formulation = table[step]
            cost = fn.lower(*fn_args).compile().cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            flops, nbytes = float(cost.get("flops", 0.0)), float(cost.get("bytes accessed", 0.0))
            seconds = median_seconds(fn, fn_args, args.repeats)
            compute, memory = flops / peaks["peak_flops"], nbytes / peaks["cache_bandwidth_bytes"]
            floor = max(compute, memory)
            row = {"setup": name, "step": step, "formulation": formulation, "batch": config.train.batch_size,
                   "value_batch": config.shapley.value_batch_size, "flops": flops, "bytes": nbytes,
                   "seconds": seconds, "floor_s": floor, "times_floor": seconds / floor if floor else None,
                   "bound": "compute" if compute >= memory else "memory", "compute_floor_s": compute,
                   "dram_floor_s": nbytes / peaks["bandwidth_bytes"]}
            rows.append(row)
            print(f"{name:9s} {step:27s} {formulation or '':8s} {flops / 1e9:9.3f} GFLOP {nbytes / 1e9:8.3f} GB  "
                  f"{seconds:8.4f} s  floor {floor:7.4f} s ({row['bound']})  x{row['times_floor']:.1f}", flush=True)
            if args.json:
                write_benchmark_json(args.json, {"peaks": peaks, "rows": rows})
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cpu_count']} cores, ISA {info['isa']}, {info['backend']}")
    return {"peaks": peaks, "rows": rows}


if __name__ == "__main__":
    main()
