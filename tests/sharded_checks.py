"""Multi-device checks on simulated CPU devices, run in their own process by tests/test_sharding.py.

    python tests/sharded_checks.py [--devices 8] [--json FILE]

The device count must be fixed before JAX's backend starts, so this script sets it first thing and
prints one JSON object (the last stdout line) with the measured differences; the test asserts on it.
On a machine with real accelerators (scripts/device_check.sh) pass ``--devices 0`` to use them as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--devices", type=int, default=8, help="simulated CPU devices (0: the real devices)")
ARGS.add_argument("--json", default="", help="also write the result to this file")
ARGS.add_argument("--fast-compile", action="store_true", help="jax_disable_most_optimizations (CPU tests)")
ARGS.add_argument("--loop", choices=("none", "mesh", "compare"), default="mesh",
                  help="end-to-end search loop: skip, run on the mesh only, or also on one device and compare")
OPTS = ARGS.parse_args()
if OPTS.devices:
    # Simulated devices are threads of this process: on a loaded 2-core machine one can reach a collective
    # minutes after the others, and XLA:CPU aborts the process after 40 s of waiting by default.
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""),
                                        "--xla_cpu_collective_call_warn_stuck_timeout_seconds=300",
                                        "--xla_cpu_collective_call_terminate_timeout_seconds=1800"]).strip()

import jax  # noqa: E402

if OPTS.fast_compile:  # before the backend starts, so its XLA flags count
    from shapley_nas_jax.compilation_cache import use_fast_compile

    use_fast_compile()

if OPTS.devices:
    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", OPTS.devices)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

from shapley_nas_jax import sharding as sharding_lib  # noqa: E402
from shapley_nas_jax.errors import ConfigError  # noqa: E402
from shapley_nas_jax.search.steps import SearchProgram  # noqa: E402
from shapley_nas_jax.shapley import games as G  # noqa: E402
from shapley_nas_jax.shapley import permutation_shapley  # noqa: E402
from shapley_nas_jax.spaces import get_space  # noqa: E402


def max_diff(a, b) -> float:
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    diffs = [float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)), initial=0.0))
             for x, y in zip(leaves_a, leaves_b)]
    return max(diffs, default=0.0)


def replicated_everywhere(x) -> bool:
    """All addressable shards hold the full array with identical values."""
    shards = x.addressable_shards
    first = np.asarray(shards[0].data)
    return bool(x.sharding.is_fully_replicated and len(shards) == len(x.sharding.device_set)
                and all(s.data.shape == x.shape and np.array_equal(np.asarray(s.data), first) for s in shards))


# The sharding is the same for every space (state replicated, batches or coalitions split): NB201 cells
# (scanned like edges, converted per edge for scoring, as DARTS cells) compile about twice as fast as the
# 3-cell DARTS-topology s2 supernet, whose search loop tests/test_search.py runs on one device.
SPACE = "nb201"


def tiny_config(devices: int, **overrides):
    """The tiny search of every check: the loop's digits config (tests/search_configs.py) at the step checks'
    sizes, so the end-to-end loop on the mesh reuses the compiled steps of the coalition-sharded step check
    (Search.from_config and run_search share one program per config)."""
    from search_configs import tiny_config as search_config

    from shapley_nas_jax.config import override

    c = search_config(SPACE)
    c.data.train_fraction = 0.05  # 89 digits: 5 weight steps per epoch in the loop
    c.train.batch_size = 16
    c.train.epochs = 2
    c.shapley.samples = 3  # 3 chains x chunk 4 = 12 coalitions: does not divide 8 devices (padded to 16)
    c.shapley.chunk_size = 4
    c.shapley.scoring = "batched"  # like the coalition-sharded runs, so num_computed (chunk padding) compares too
    c.shapley.value_batch_size = 8
    # lax arithmetic while scoring too: it compiles faster at 8x8 than the shifted formulation (the CPU
    # default), whose values test_formulations.py checks; on accelerators "auto" is lax anyway.
    c.shapley.formulation = "lax"
    c.mesh.devices = devices
    return override(c, overrides)


def tiny_search(devices: int, **overrides):
    """The Search (and compiled program) that run_search builds for ``tiny_config(devices, **overrides)``."""
    from shapley_nas_jax import Search

    search = Search.from_config(tiny_config(devices, **overrides))
    assert tuple(search.data.image_shape) == STEP_KWARGS["image_shape"], search.data.image_shape
    assert int(search.data.num_classes) == STEP_KWARGS["num_classes"]
    return search


def host(tree):
    return jax.tree.map(lambda x: None if x is None else np.array(x), tree)


STEP_KWARGS = dict(image_shape=(8, 8, 1), num_classes=10)  # the digits' shapes


def step_data():
    rng = np.random.default_rng(0)
    image = STEP_KWARGS["image_shape"]
    batch = {"image": rng.normal(size=(16, *image)).astype(np.float32),
             "label": rng.integers(0, 10, 16).astype(np.int32)}
    value = {"image": rng.normal(size=(3, 8, *image)).astype(np.float32),
             "label": rng.integers(0, 10, (3, 8)).astype(np.int32)}
    return batch, value


def single_device_steps() -> dict:
    """The reference: one weight step then one Shapley step without a mesh."""
    search = tiny_search(1)
    single = search.program
    assert single.mesh is None
    batch, value = step_data()
    state0 = host(search.init_state())
    t0 = time.perf_counter()
    s1 = search.weight_step(jax.tree.map(jnp.asarray, state0), batch)
    s1, m1 = search.shapley_step(s1, value)
    jax.block_until_ready(s1)
    return {"state0": state0, "state": s1, "metrics": m1, "seconds": time.perf_counter() - t0}


def check_steps(num_devices: int, shard_coalitions: bool, reference: dict) -> dict:
    """One weight step and one Shapley step on the mesh vs the single-device reference (same state, data)."""
    search = tiny_search(num_devices, **{"mesh.shard_coalitions": shard_coalitions})
    sharded = search.program
    assert sharded.mesh is not None
    batch, value = step_data()
    state0, s1, m1, t_single = reference["state0"], reference["state"], reference["metrics"], reference["seconds"]

    t0 = time.perf_counter()
    placed_batch = sharded.put_train_batch(batch)
    s8 = search.weight_step(sharded.place_state(state0), placed_batch)
    weight_alpha_ok = replicated_everywhere(s8.arch.alpha)
    params_replicated = all(replicated_everywhere(x) for x in jax.tree.leaves(s8.weights.params))
    s8, m8 = search.shapley_step(s8, sharded.put_value_batches(value))
    jax.block_until_ready(s8)
    t_sharded = time.perf_counter() - t0

    fresh = search.init_state()  # the jitted, replicated init equals the eager single-device one
    return {
        "devices": int(sharded.mesh.devices.size),
        "batch_shard_rows": sorted({int(s.data.shape[0]) for s in placed_batch["image"].addressable_shards}),
        "init_diff": max_diff(host(fresh), state0),
        "params_diff": max_diff(s8.weights.params, s1.weights.params),
        "batch_stats_diff": max_diff(s8.weights.batch_stats, s1.weights.batch_stats),
        "epoch_sums_diff": max_diff(s8.epoch_sums, s1.epoch_sums),
        "alpha_diff": max_diff(s8.arch.alpha, s1.arch.alpha),
        "shapley_diff": max_diff(s8.arch.shapley, s1.arch.shapley),
        "metrics_diff": max_diff(m8, m1),
        "alpha_moved": bool(max_diff(s1.arch.alpha, state0.arch.alpha) > 0),
        "alpha_replicated": bool(weight_alpha_ok and replicated_everywhere(s8.arch.alpha)),
        "params_replicated": bool(params_replicated
                                  and all(replicated_everywhere(x) for x in jax.tree.leaves(s8.weights.params))),
        "state_replicated": all(replicated_everywhere(x) for x in jax.tree.leaves(s8)),
        "seconds_single": t_single,
        "seconds_sharded": t_sharded,
    }


def sampled_table_value(shared, mask, sample):
    """A table game scaled per chain by its sample: exercises the per-chain sample gather."""
    return G.table_value(shared, mask) * sample["scale"]


def check_estimator(num_devices: int) -> dict:
    """permutation_shapley with and without the coalition sharding on reference games (M does not divide D)."""
    mesh = sharding_lib.make_mesh(num_devices)
    coalitions = NamedSharding(mesh, P(sharding_lib.DATA_AXIS))
    out = {}
    game = G.random_table_game(6, seed=3)
    key = jax.random.PRNGKey(7)
    samples = {"scale": jnp.linspace(0.5, 1.5, 5)}
    for name, value_fn, smp, trunc in (("table", game.value_fn, None, 0.5),
                                       ("table_sampled", sampled_table_value, samples, None)):
        kw = dict(num_permutations=5, truncation=trunc, chunk_size=3, shared=game.shared, samples=smp)
        plain = permutation_shapley(value_fn, game.num_players, key, **kw)
        split = permutation_shapley(value_fn, game.num_players, key, coalition_sharding=coalitions, **kw)
        out[name] = {
            "values_diff": max_diff(split.values, plain.values),
            "chain_values_equal": bool(np.array_equal(np.asarray(split.chain_values), np.asarray(plain.chain_values),
                                                      equal_nan=True)),
            "num_evaluations_equal": int(split.num_evaluations) == int(plain.num_evaluations),
            "num_computed_equal": int(split.num_computed) == int(plain.num_computed),
        }
    # A larger M that divides the device count, and exact Shapley of the glove game as a sanity anchor.
    glove = G.glove_game(3, 3)
    kw = dict(num_permutations=64, truncation=None, chunk_size=7, shared=glove.shared)
    plain = permutation_shapley(glove.value_fn, glove.num_players, key, **kw)
    split = permutation_shapley(glove.value_fn, glove.num_players, key, coalition_sharding=coalitions, **kw)
    out["glove"] = {"values_diff": max_diff(split.values, plain.values),
                    "error_vs_exact": float(np.max(np.abs(np.asarray(split.values) - glove.shapley_values)))}
    return out


def check_errors(num_devices: int) -> dict:
    space = get_space(SPACE)
    messages = {}
    for key, value in (("train.batch_size", 12), ("shapley.value_batch_size", 12)):
        cfg = tiny_config(num_devices, **{key: value, "mesh.shard_coalitions": False})
        try:
            SearchProgram(cfg, space, **STEP_KWARGS)
            messages[key] = None
        except ConfigError as e:
            messages[key] = str(e)
    return messages


def check_chunk_sizes(num_devices: int, budget_mb: int = 32) -> dict:
    """Batched chunks sized from one memory budget per device: without a mesh, with coalitions split over
    the devices, and with the value batches split (each device then holds a share of the work)."""
    sizes = {}
    for mode, devices, shard in (("single", 1, False), ("coalitions", num_devices, True), ("data", num_devices, False)):
        cfg = tiny_config(devices, **{"shapley.chunk_size": 0, "shapley.memory_budget_mb": budget_mb,
                                      "mesh.shard_coalitions": shard})
        sizes[mode] = SearchProgram(cfg, get_space(SPACE), **STEP_KWARGS).plan.chunk_size
    return sizes


def check_loop(num_devices: int, compare: bool) -> dict:
    """A whole tiny search (digits, 8x8) through run_search on the mesh: alpha replicated (and, with
    `compare`, equal to a single-device run of the same config). It runs the programs the step checks
    compiled (same configs)."""
    import tempfile

    from shapley_nas_jax.search import run_search

    results = {}
    for devices in ((1, num_devices) if compare else (num_devices,)):
        with tempfile.TemporaryDirectory() as workdir:
            results[devices] = run_search(tiny_config(devices), workdir, progress=False)
    many = results[num_devices]
    out = {"alpha_replicated": replicated_everywhere(many.state.arch.alpha),
           "alpha_finite": bool(np.all(np.isfinite(many.alpha))), "alpha_updates": int(many.state.alpha_updates)}
    if compare:
        one = results[1]
        out.update(alpha_diff=float(np.max(np.abs(one.alpha - many.alpha))), same_genotype=one.genotype == many.genotype)
    return out


def check_population(members: int = 4) -> dict:
    """A population of ``members`` seeds split over as many devices (members per device) and over twice as
    many (each member's batches split over two devices) against the same population on one device; and the
    one-line errors of a population the devices do not divide."""
    import tempfile

    from shapley_nas_jax.errors import ConfigError
    from shapley_nas_jax.search.population import Population, run_population

    results, out = {}, {}
    for devices in (1, members, 2 * members):
        with tempfile.TemporaryDirectory() as workdir:
            config = tiny_config(devices, **{"search.population": members})
            results[devices] = run_population(config, workdir, progress=False)
    alphas = {d: np.stack([r.alpha for r in results[d].results]) for d in results}
    genotypes = {d: [str(r.genotype) for r in results[d].results] for d in results}
    for devices, name in ((members, "per_device"), (2 * members, "data_parallel")):
        population = Population.from_config(tiny_config(devices, **{"search.population": members}))
        batch = next(population.train_batches(0))
        state = population.weight_step(population.init_state(), batch)
        step_text = population.steps.weight_step.lower(state.members, batch, population.hyper).compile().as_text()
        out[name] = {"alpha_diff": float(np.max(np.abs(alphas[1] - alphas[devices]))),
                     "same_genotypes": genotypes[1] == genotypes[devices],
                     "mesh": dict(population.mesh.shape),
                     "state_devices": len(state.members.arch.alpha.sharding.device_set),
                     "alpha_shard_rows": sorted({int(s.data.shape[0])
                                                 for s in state.members.arch.alpha.addressable_shards}),
                     "batch_shard_shape": sorted({tuple(s.data.shape[:2])
                                                  for s in batch["image"].addressable_shards}),
                     "collectives": sorted({op for op in ("all-reduce", "all-gather") if op in step_text})}
    out["members_differ"] = bool(not np.allclose(alphas[1][0], alphas[1][1]))
    for name, devices, overrides in (("indivisible_error", members, {"search.population": members - 1}),
                                     ("batch_error", 2 * members, {"search.population": members,
                                                                   "train.batch_size": 15})):
        try:
            Population.from_config(tiny_config(devices, **overrides))
            out[name] = None
        except ConfigError as error:
            out[name] = str(error)
    return out


def main() -> None:
    t0 = time.perf_counter()
    n = len(jax.devices())
    result = {"platform": jax.devices()[0].platform, "num_devices": n, "process_count": jax.process_count(),
              "mesh": sharding_lib.describe(sharding_lib.make_mesh(0))}
    seconds = {}

    def timed(name, check, *args):
        start = time.perf_counter()
        value = check(*args)
        seconds[name] = round(time.perf_counter() - start, 1)
        return value

    result["estimator"] = timed("estimator", check_estimator, 0)
    result["errors"] = timed("errors", check_errors, 0)
    result["chunk_sizes"] = timed("chunk_sizes", check_chunk_sizes, 0)
    reference = timed("single_device_steps", single_device_steps)
    result["steps"] = timed("steps", check_steps, 0, True, reference)
    result["steps_data_parallel_scoring"] = timed("steps_data_parallel_scoring", check_steps, 0, False, reference)
    if OPTS.loop != "none":
        result["loop"] = timed("loop", check_loop, n, OPTS.loop == "compare")
    result["population"] = timed("population", check_population, 4)
    result["check_seconds"] = seconds  # where the subprocess's time goes (the suite's longest test setup)
    result["seconds"] = time.perf_counter() - t0
    text = json.dumps(result)
    if OPTS.json:
        with open(OPTS.json, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
