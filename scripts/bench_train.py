"""Benchmark one weight step of a supernet (forward, backward, gradient clipping, SGD), as the search runs it.

    .venv/bin/python scripts/bench_train.py                                   # DARTS reference supernet, batch 64
    .venv/bin/python scripts/bench_train.py --batch 64,256 --formulations lax,shifted --reference /tmp/orig
    .venv/bin/python scripts/bench_train.py --space nb201 --channels 16 --cells 5 --batch 64

The step is ``SearchProgram.weight_step`` (the search's own jitted step: cross-entropy of the full supernet,
``optax.clip_by_global_norm``, weight decay, SGD with momentum) on random 32x32 images, compiled ahead of
time: ``trace_s`` is tracing + lowering, ``compile_s`` XLA's compile (the persistent compilation cache is
off, so it is a cold compile), ``step_s`` the median wall time of ``--steps`` steps after one warm-up step.

``--reference DIR`` also times the original PyTorch code's step on the same machine in the same run: DIR is a
checkout of the original implementation (its ``model_search.Network``, PC-DARTS with ``k`` partial
channels; needs ``torch``), stepped the way its ``train_search.py`` steps it (zero_grad, forward,
cross-entropy, backward, ``clip_grad_norm_(5)``, SGD with momentum 0.9 and weight decay 3e-4). Only for
DARTS-topology spaces. ``speedup`` = ``ref_step_s / step_s``.

``--remat on`` rematerialises each cell in the backward pass (``model.remat``: less activation memory, one
more forward pass). Each row records the compiled step's memory from XLA's ``memory_analysis()``
(``temp_mb``: activations and other temporaries; ``argument_mb``) and ``peak_rss_mb``, the process's peak
resident memory so far (it includes the original's step when ``--reference`` is given and every earlier row:
run one setting per process, without ``--reference``, to measure one step alone).

Each row records the CPU's vector ISA (``isa``: avx512 / avx2, from /proc/cpuinfo, capped by
``--xla_cpu_max_isa`` in XLA_FLAGS), since XLA:CPU's speed differs between them. ``--json FILE`` writes
``rows`` (each with ``step_s``, ``ref_step_s`` when timed, ``trace_s``, ``compile_s``) and ``machine``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from shapley_nas_jax.compilation_cache import add_compile_options, apply_compile_options  # noqa: E402
from shapley_nas_jax.config import base_config  # noqa: E402
from shapley_nas_jax.hardware import host_peak_rss_bytes, machine_info, write_benchmark_json  # noqa: E402
from shapley_nas_jax.search.state import Hyperparameters  # noqa: E402
from shapley_nas_jax.search.steps import SearchProgram  # noqa: E402
from shapley_nas_jax.spaces import get_space  # noqa: E402

import original_code  # noqa: E402  (scripts/, sys.path[0] when this script runs)


def program_config(args, formulation: str, batch: int):
    config = base_config()
    config.space = args.space
    config.model.channels = args.channels
    config.model.layers = args.layers
    config.model.cells_per_stage = args.cells
    config.model.partial_channels = args.partial_channels
    config.model.formulation = formulation
    config.model.scan_edges = args.scan_edges == "on"
    config.model.remat = args.remat == "on"
    config.train.batch_size = batch
    config.mesh.devices = 1
    return config


def random_batch(batch: int, image_size: int, num_classes: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"image": jnp.asarray(rng.normal(size=(batch, image_size, image_size, 3)), jnp.float32),
            "label": jnp.asarray(rng.integers(0, num_classes, batch), jnp.int32)}


def time_jax_step(args, formulation: str, batch: int) -> dict:
    space = get_space(args.space)
    program = SearchProgram(program_config(args, formulation, batch), space, image_shape=(args.image_size,) * 2 + (3,),
                            num_classes=10)
    state = program.init_state(jax.random.PRNGKey(0))
    data = random_batch(batch, args.image_size, 10)
    hyper = Hyperparameters.from_config(program.config, steps_per_epoch=100, epochs=50)
    t0 = time.perf_counter()
    lowered = program.weight_step.lower(state, data, hyper)
    trace_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    step = lowered.compile()
    compile_s = time.perf_counter() - t0
    memory = step.memory_analysis()
    state = jax.block_until_ready(step(state, data, hyper))  # warm-up
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        state = jax.block_until_ready(step(state, data, hyper))
        times.append(time.perf_counter() - t0)
    loss = float(state.epoch_sums[0] / state.epoch_sums[2])
    return {"formulation": program.plan.training_formulation, "remat": args.remat == "on", "trace_s": trace_s,
            "compile_s": compile_s, "step_s": statistics.median(times), "mean_loss": loss,
            "temp_mb": memory.temp_size_in_bytes / 2**20, "argument_mb": memory.argument_size_in_bytes / 2**20,
            "peak_rss_mb": host_peak_rss_bytes() / 2**20}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="darts_reference")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--layers", type=int, default=8, help="DARTS cells")
    ap.add_argument("--cells", type=int, default=5, help="NB201 cells per stage")
    ap.add_argument("--partial-channels", type=int, default=4, help="PC-DARTS K (DARTS spaces)")
    ap.add_argument("--batch", default="64", help="comma-separated batch sizes")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--formulations", default="auto", help="comma-separated: auto, lax, shifted")
    ap.add_argument("--scan-edges", choices=("on", "off"), default="on",
                    help="training supernet's edges scanned in groups (the search's default) or one module each")
    ap.add_argument("--remat", choices=("on", "off"), default="off",
                    help="rematerialise each cell in the backward pass (model.remat)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per row (after one warm-up step)")
    ap.add_argument("--reference", default="", help="checkout of the original PyTorch code to time its step too")
    ap.add_argument("--ref-steps", type=int, default=3)
    add_compile_options(ap)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    apply_compile_options(args, cache=False)  # cold compiles: compile_s is what a new user waits for
    if args.reference:
        if get_space(args.space).topology != "darts":
            ap.error(f"--reference times the original's DARTS supernet; --space {args.space} is not a DARTS space")
        try:
            original_code.check_checkout(args.reference)
        except ValueError as error:
            ap.error(str(error))

    machine = machine_info()
    batches = [int(b) for b in args.batch.split(",")]
    print(f"{args.space} C={args.channels} layers={args.layers} cells={args.cells} K={args.partial_channels} "
          f"image={args.image_size} scan_edges={args.scan_edges} remat={args.remat} cpu={machine['cpu']!r} "
          f"isa={machine['isa']} device={machine['device_kind']}")
    print(f"{'formulation':<12}{'batch':>6}{'trace s':>9}{'compile s':>11}{'step s':>9}{'ref step s':>12}{'speedup':>9}"
          f"{'temp MB':>9}{'peak RSS MB':>13}", flush=True)
    rows = []
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    for batch in batches:
        ref = original_code.time_train_step(args.reference, batch, args.image_size, args.channels, args.layers,
                                            args.partial_channels, args.ref_steps) if args.reference else None
        for formulation in args.formulations.split(","):
            row = {"batch": batch, "isa": machine["isa"], **time_jax_step(args, formulation, batch)}
            if ref is not None:
                row.update(ref_step_s=ref, speedup=ref / row["step_s"])
            rows.append(row)
            ref_text = f"{ref:12.3f}{ref / row['step_s']:9.2f}" if ref is not None else f"{'-':>12}{'-':>9}"
            print(f"{row['formulation']:<12}{batch:>6}{row['trace_s']:9.1f}{row['compile_s']:11.1f}{row['step_s']:9.3f}"
                  f"{ref_text}{row['temp_mb']:9.0f}{row['peak_rss_mb']:13.0f}", flush=True)
            if args.json:
                write_benchmark_json(args.json, {"settings": settings, "machine": machine, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
