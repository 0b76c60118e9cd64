"""A population of P searches as one vmapped program against P single searches run one after another.

    .venv/bin/python scripts/bench_population.py                                # nb201_cpu and demo, P = 1 2 4 8
    .venv/bin/python scripts/bench_population.py --setups nb201_cpu --sizes 1,4 --json population.json

For each setup (``nb201_cpu``: configs/nb201_cifar10_cpu.py's supernet, 8 channels, 2 cells per stage, batch
64, 32x32 images; ``demo``: configs/demo.py's; ``nb201``: configs/nb201_cifar10.py's, the full search's
16 channels and 5 cells per stage, for accelerators) and each population size P, on random images of the setup's
shapes: seconds per weight step and per Shapley update of the population (``PopulationSteps``) and of P single
searches' steps one after another (``SearchProgram``), both after a first, compiling call; their ratio (work
per second of the population over the singles': the issue's goal is >= 1.3 at P = 4 on CPU); the compile
time of each population step against the single step's; and XLA's memory estimate of the population's
weight step per member (arguments + temporaries + outputs, ``compiled.memory_analysis()``). Shapley updates
use ``--samples`` chains (default 2, not the config's 10, to keep P = 8 short); the table says so.
``--devices N`` splits the members over N devices as a population does (``population_mesh``: whole members per
device, or each member data-parallel over N / P devices when N > P); on a CPU, make
them with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``: each simulated device runs its members
beside the others', the way two single-threaded searches share two cores. The single searches run on the
first device. ``--formulation lax|shifted`` sets the training steps' op arithmetic (default: the config's;
each row records the one that ran). ``--json FILE`` writes the rows and the machine (CPU, ISA).

    XLA_FLAGS=--xla_force_host_platform_device_count=2 .venv/bin/python scripts/bench_population.py \
        --setups nb201_cpu --sizes 2,4 --devices 2 --json population-2dev.json
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
from shapley_nas_jax.config import (  # noqa: E402
    add_formulation_option, add_size_options, apply_size_options, complete, load_config_file)
from shapley_nas_jax.hardware import machine_info, write_benchmark_json  # noqa: E402
from shapley_nas_jax.errors import ConfigError  # noqa: E402
from shapley_nas_jax.search.population import (  # noqa: E402
    PopulationSteps,
    batch_sharding,
    member_sharding,
    population_mesh,
)
from shapley_nas_jax.search.state import Hyperparameters  # noqa: E402
from shapley_nas_jax.search.steps import SearchProgram  # noqa: E402
from shapley_nas_jax.spaces import get_space  # noqa: E402

SETUPS = {"nb201_cpu": ("nb201_cifar10_cpu.py", (32, 32, 3)), "demo": ("demo.py", (8, 8, 3)),
          "nb201": ("nb201_cifar10.py", (32, 32, 3))}  # the full NB201 search (C=16, 5 cells per stage): GPUs


def random_batch(key, leading, batch, image_shape, classes=10):
    k1, k2 = jax.random.split(key)
    return {"image": jax.random.normal(k1, (*leading, batch, *image_shape), jnp.float32),
            "label": jax.random.randint(k2, (*leading, batch), 0, classes, jnp.int32)}


def timed(fn, repeats: int) -> float:
    """Seconds per call of ``fn()`` (which returns what to block on), after one warm-up call."""
    jax.block_until_ready(fn())
    t0 = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn())
    return (time.perf_counter() - t0) / repeats


def bench_setup(name: str, sizes: list[int], samples: int, repeats: int, devices: int, args) -> list[dict]:
    file, image_shape = SETUPS[name]
    config = apply_size_options(complete(load_config_file(os.path.join(REPO, "configs", file))), args)
    config.shapley.samples = samples
    config.shapley.bn_mode = "running"
    config.mesh.devices = 1  # each member on one device, as a population's (search/population.py)
    program = SearchProgram(config, get_space(config.space), image_shape=image_shape, num_classes=10)
    hyper = Hyperparameters.from_config(config, steps_per_epoch=100)
    s = config.shapley
    # the single search's compile times, before anything of the program has run (the baseline of the goal
    # "a population step compiles within 1.5x of a single search's")
    state = program.init_state(jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    program.weight_step.lower(state, random_batch(jax.random.PRNGKey(1), (), config.train.batch_size, image_shape),
                              hyper).compile()
    single_weight_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    program.arch_step.lower(state, random_batch(jax.random.PRNGKey(2), (s.samples,), s.value_batch_size,
                                                image_shape), hyper, bn_mode=program.bn_modes[0]).compile()
    single_update_compile = time.perf_counter() - t0
    rows = []
    for size in sizes:
        try:  # as a population of this size splits over the devices (population.population_mesh)
            mesh = population_mesh(size, jax.devices()[:devices], int(config.train.batch_size))
        except ConfigError as error:
            print(f"{name:10s} P={size}: skipped, {error}", flush=True)
            continue
        steps = PopulationSteps(program, mesh)
        keys = jax.random.split(jax.random.PRNGKey(0), size)
        singles = [program.init_state(k) for k in keys]
        members = jax.tree.map(lambda *xs: jnp.stack(xs), *singles)  # new arrays: the singles keep theirs
        hypers = jax.tree.map(lambda x: jnp.stack([x] * size), hyper)
        train = random_batch(jax.random.PRNGKey(1), (size,), config.train.batch_size, image_shape)
        value = random_batch(jax.random.PRNGKey(2), (size, s.samples), s.value_batch_size, image_shape)
        if mesh is not None:  # placed as the steps return them: no second compile for another placement
            members, hypers, value = jax.device_put((members, hypers, value), member_sharding(mesh))
            train = jax.device_put(train, batch_sharding(mesh))
        mode = program.bn_modes[0]

        t0 = time.perf_counter()
        compiled_weight = steps.weight_step.lower(members, train, hypers).compile()
        pop_weight_compile = time.perf_counter() - t0
        t0 = time.perf_counter()
        steps.arch_step[mode].lower(members, value, hypers).compile()
        pop_arch_compile = time.perf_counter() - t0
        memory = compiled_weight.memory_analysis()
        per_member_mb = None
        if memory is not None:
            total = memory.argument_size_in_bytes + memory.temp_size_in_bytes + memory.output_size_in_bytes
            per_member_mb = total / size / 2**20

        state = {"members": members}

        def population_weight():
            state["members"] = steps.weight_step(state["members"], train, hypers)
            return state["members"].step

        def population_update():
            state["members"], _ = steps.arch_step[mode](state["members"], value, hypers)
            return state["members"].step

        single_state = {"states": singles}

        def singles_weight():
            single_state["states"] = [program.weight_step(st, jax.tree.map(lambda x: x[i], train), hyper)
                                      for i, st in enumerate(single_state["states"])]
            return [st.step for st in single_state["states"]]

        def singles_update():
            single_state["states"] = [
                program.arch_step(st, jax.tree.map(lambda x: x[i], value), hyper, bn_mode=mode)[0]
                for i, st in enumerate(single_state["states"])]
            return [st.step for st in single_state["states"]]

        row = {"setup": name, "members": size, "samples": samples, "devices": devices,
               "formulation": program.model.formulation,
               "mesh": dict(mesh.shape) if mesh is not None else None,
               "arch_step": "lax.map" if steps.maps_arch_step else "vmap",
               "population_weight_s": timed(population_weight, repeats),
               "singles_weight_s": timed(singles_weight, repeats),
               "population_update_s": timed(population_update, max(1, repeats // 2)),
               "singles_update_s": timed(singles_update, max(1, repeats // 2)),
               "population_weight_compile_s": pop_weight_compile,
               "population_update_compile_s": pop_arch_compile,
               "single_weight_compile_s": single_weight_compile,
               "single_update_compile_s": single_update_compile,
               "weight_memory_per_member_mb": per_member_mb}
        row["weight_speedup"] = row["singles_weight_s"] / row["population_weight_s"]
        row["update_speedup"] = row["singles_update_s"] / row["population_update_s"]
        rows.append(row)
        print(f"{name:10s} P={size}: weight {row['population_weight_s']:.3f} s vs {row['singles_weight_s']:.3f} s "
              f"({row['weight_speedup']:.2f}x), update {row['population_update_s']:.2f} s vs "
              f"{row['singles_update_s']:.2f} s ({row['update_speedup']:.2f}x), compile weight "
              f"{pop_weight_compile:.1f} s, update {pop_arch_compile:.1f} s, "
              f"memory/member {per_member_mb if per_member_mb is None else round(per_member_mb, 1)} MB", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setups", default="nb201_cpu,demo")
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--samples", type=int, default=2, help="Shapley chains per update (the configs use 10)")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--devices", type=int, default=1,
                    help="split the members over this many devices (CPU: run with XLA_FLAGS="
                         "--xla_force_host_platform_device_count=N)")
    add_size_options(ap)
    add_formulation_option(ap)
    add_compile_options(ap, cache_option=True)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    apply_compile_options(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for name in args.setups.split(","):
        if name not in SETUPS:
            ap.error(f"unknown setup {name!r}; known: {', '.join(SETUPS)}")
        rows += bench_setup(name, sizes, args.samples, args.repeats, args.devices, args)
        if args.json:
            write_benchmark_json(args.json, {"rows": rows})
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cpu_count']} cores, ISA {info['isa']}, {info['backend']}")
    return rows


if __name__ == "__main__":
    main()
