"""Benchmark Shapley value evaluations of the full supernet across scoring strategies.

    .venv/bin/python scripts/bench_shapley.py                       # quick: DARTS reference supernet, batch 256
    .venv/bin/python scripts/bench_shapley.py --reference /tmp/orig # ... and the original PyTorch code beside it
    .venv/bin/python scripts/bench_shapley.py --full --json out.json # every strategy
    .venv/bin/python scripts/bench_shapley.py --space nb201 --batch 64 --json out.json
    .venv/bin/python scripts/bench_shapley.py --formulation lax     # the lax reference formulation

Modes: the default ``--quick`` times only the search's own CPU path against the one-mask-per-call baseline
(``--strategies single,sequential``, ``--repeats 2``, ``--max-evals 2``), so that a default run of the full
DARTS reference supernet (C=16, 8 cells, K=4, batch 256) takes a few minutes on a 2-core CPU, most of it
compiling. ``--full`` times every strategy below (``--strategies
single,sequential,sequential_skip,sequential_plain,vmap,sharded``, ``--repeats 3``, ``--max-evals 3``).
An explicit ``--strategies``, ``--repeats`` or ``--max-evals`` wins over either mode's default.

Weights are random, so truncation would be random; instead every strategy scores a fixed number of
prefixes (``--prefixes`` positions of each of ``--samples`` chains from position ``--start``, i.e. with
``start`` players already removed; ``s_per_update`` = time for ``samples * prefixes`` evaluations, i.e. an
alpha update whose chains all truncate after ``prefixes - 1`` removals). Strategies:

* ``single``: a jitted single-mask value function called in a Python loop (the reference's way),
  at most ``--max-evals`` calls (then extrapolated);
* ``sequential``: the estimator's CPU path (``shapley.scoring=sequential``, ``shapley.score_chains``): one
  jitted call walks each chain over its ``prefixes`` positions, one coalition at a time, skipping masked-out
  ops (``skip_absent_ops``) and reusing the prefix cells (stem + cells before the first reduction) while a
  chain removes reduction-cell ops; ``sequential_skip`` without the prefix reuse, ``sequential_plain``
  without either;
* ``vmap_chunk{c}``: ``shapley.permutation.score_chunk`` (the estimator's inner call: M chains x c positions
  vmapped) for each ``c`` in ``--chunks``;
* ``sharded``: the search's coalition-parallel path (``score_chunk(..., coalition_sharding=...)`` over a
  mesh of all devices, ``prefixes`` positions of every chain in one call); skipped on one device.

Every strategy runs the supernet as the search scores it on this backend (``models.scoring_defaults``: on
CPU, DARTS cells with one module per edge, their variables converted from the scanned training layout);
``--scan-edges on|off`` forces either layout, ``--formulation`` the op arithmetic.

Timings: every strategy is compiled first (one call each, in the order of ``--strategies``), then timed in
turns, ``--repeats`` rounds, so that drifts of a shared machine hit all strategies alike; medians of wall and
process CPU time are shown (the CPU time is less sensitive to other processes), and ``x single`` is each
strategy's speed-up over ``single`` per alpha update (the GPU goal's measure). ``act MiB`` is each
strategy's activation memory per call (XLA's memory analysis of its compiled function: temporaries and
outputs); the peak memory line is the whole process's (device peak on accelerators, max RSS on CPU).

``--reference DIR`` also times the original PyTorch implementation in the same run (``scripts/original_code.py``;
DIR is a checkout of it, with its ``model_search.py``; needs ``torch``; DARTS-topology spaces only): one
coalition's value evaluation the way its Shapley estimate runs it (one no-grad forward pass of its eval-mode
PC-DARTS supernet with masked mixing weights), with the run's C, layers, K (``--partial-channels``), batch and
32x32 images, median of ``--max-evals`` evaluations after a warm-up. It prints ``original: X s/eval``, and
``x orig`` is each strategy's speed-up per evaluation over it (the original's s/eval / the strategy's s/eval);
the JSON gets ``ref_s_per_eval`` and per-row ``speedup_vs_original``. The original is timed first, inside
``--budget-s``.

The header line and the JSON's ``machine`` record the machine (``shapley_nas_jax.hardware.machine_info``: CPU
model, vector ISA ``isa`` avx512 / avx2, capped by ``--xla_cpu_max_isa``, backend, versions), since XLA:CPU's
speed differs between ISAs.

``--budget-s`` bounds the run for machines lent by the minute: no strategy starts compiling after 60 % of
the budget (it is reported as skipped), and timing rounds stop once another would overrun it (at least one
round runs). The JSON file is rewritten after every round (``complete`` false until the last), so a run
killed from outside still leaves the rounds it finished.

Compiles are cold by default: the persistent compilation cache is off, so ``compile s`` (and the
``--budget-s`` bookkeeping built on it) is what a fresh machine pays. ``--cache`` turns the cache on
(``shapley_nas_jax.compilation_cache``: ``$JAX_COMPILATION_CACHE_DIR`` or ``~/.cache/shapley-nas-jax/xla``)
to iterate on the timed calls without recompiling; ``compile s`` then measures cache loads.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, ".")
from shapley_nas_jax.compilation_cache import add_compile_options, apply_compile_options  # noqa: E402
from shapley_nas_jax.hardware import host_peak_rss_bytes, machine_info, write_benchmark_json  # noqa: E402
from shapley_nas_jax.memory import activation_bytes  # noqa: E402
from shapley_nas_jax.models import build_supernet, per_edge_variables, scoring_defaults  # noqa: E402
from shapley_nas_jax.search.game import SupernetGame, player_positions  # noqa: E402
from shapley_nas_jax.sharding import coalition_sharding, make_mesh  # noqa: E402
from shapley_nas_jax.spaces import get_space  # noqa: E402
from shapley_nas_jax.shapley.permutation import (  # noqa: E402
    permutation_ranks,
    sample_permutations,
    score_chains,
    score_chunk,
)
from shapley_nas_jax.value import make_value_fn  # noqa: E402

import original_code  # noqa: E402  (scripts/, sys.path[0] when this script runs)

IMAGE_SIZE = 32  # random 32x32 images (CIFAR-10's size), for the JAX strategies and the original alike
QUICK = dict(strategies="single,sequential", repeats=2, max_evals=2)  # the default run
FULL = dict(strategies="single,sequential,sequential_skip,sequential_plain,vmap,sharded", repeats=3, max_evals=3)


def peak_memory_bytes():
    dev = jax.devices()[0]
    if dev.platform != "cpu":
        stats = dev.memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return int(stats["peak_bytes_in_use"]), "device peak_bytes_in_use"
    return host_peak_rss_bytes(), "host max RSS"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="darts_reference")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--layers", type=int, default=8, help="DARTS cells (NB201: cells per stage = layers // 3 + ... see --cells)")
    ap.add_argument("--cells", type=int, default=5, help="NB201 cells per stage")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--partial-channels", type=int, default=4)
    ap.add_argument("--samples", type=int, default=2, help="M permutations (chains)")
    ap.add_argument("--prefixes", type=int, default=4, help="positions scored per chain (fixed truncation)")
    ap.add_argument("--eta", type=float, default=0.5, help="recorded only: truncation is fixed by --prefixes")
    ap.add_argument("--chunks", default="2", help="comma-separated chunk sizes for the vmapped strategy")
    ap.add_argument("--max-evals", type=int, default=None,
                    help="cap on timed calls of the single-mask strategy and of the original's evaluation "
                         f"(default: {QUICK['max_evals']}, --full {FULL['max_evals']})")
    ap.add_argument("--repeats", type=int, default=None,
                    help=f"timing rounds (default: {QUICK['repeats']}, --full {FULL['repeats']})")
    ap.add_argument("--start", type=int, default=0, help="first scored chain position (players already removed)")
    ap.add_argument("--formulation", default="auto",
                    help="op formulation; auto = the search's scoring default for this backend and space")
    ap.add_argument("--strategies", default=None,
                    help=f"comma-separated, in compile order (default: {QUICK['strategies']}, "
                         f"--full {FULL['strategies']})")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="the default: only the search's CPU path against single, 2 rounds, 2 single-mask calls")
    mode.add_argument("--full", action="store_true",
                      help="every strategy, 3 rounds, 3 single-mask calls (explicit --strategies/--repeats/"
                           "--max-evals still win)")
    ap.add_argument("--reference", default="",
                    help="checkout of the original PyTorch code: time its evaluation too (DARTS spaces only)")
    ap.add_argument("--scan-edges", choices=("auto", "on", "off"), default="auto",
                    help="edges run by nn.scan in groups (on) or one module per edge (off); auto = the search's "
                         "scoring default for this backend and space (models.CPU_SCORING)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--budget-s", type=float, default=None,
                    help="wall-clock budget: later compiles are skipped and timing rounds stop to stay within it")
    add_compile_options(ap, cache_option=True)
    args = ap.parse_args(argv)
    args.quick = not args.full
    for key, value in (FULL if args.full else QUICK).items():
        if getattr(args, key) is None:  # explicit options win over the mode's defaults
            setattr(args, key, value)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.reference:
        if get_space(args.space).topology != "darts":
            ap.error(f"--reference times the original's DARTS supernet; --space {args.space} is not a DARTS space")
        try:
            args.reference = original_code.check_checkout(args.reference)
        except ValueError as error:
            ap.error(str(error))
    apply_compile_options(args)  # --cache, else cold compiles

    defaults = scoring_defaults(get_space(args.space).topology, jax.default_backend(), sequential=True)
    args.scan_edges = defaults.scan_edges if args.scan_edges == "auto" else args.scan_edges == "on"
    model = build_supernet(args.space, channels=args.channels, layers=args.layers, cells_per_stage=args.cells,
                           partial_channels=args.partial_channels, scan_edges=args.scan_edges)
    formulation = args.formulation = defaults.formulation if args.formulation == "auto" else args.formulation
    model = model.clone(formulation=formulation)  # the scoring supernet's op arithmetic, as the search sets it
    space = model.space
    shape = tuple(space.alpha_shape)
    x = jax.random.normal(jax.random.key(1), (args.batch, IMAGE_SIZE, IMAGE_SIZE, 3))
    # initialised scanned under jit (fast to compile), converted per edge as the search does for scoring
    variables = jax.jit(model.clone(scan_edges=True).init)(jax.random.key(0), x[:2], jnp.zeros(shape), jnp.ones(shape))
    if not args.scan_edges:
        variables = per_edge_variables(variables, space)
    game = SupernetGame(shape, player_positions(space), make_value_fn(model, "accuracy", "running"))
    n, m = game.num_players, args.samples
    shared = (variables["params"], variables["batch_stats"], jnp.zeros(shape), None)
    labels = jax.random.randint(jax.random.key(2), (args.batch,), 0, 10)
    samples = {"image": jnp.broadcast_to(x, (m,) + x.shape), "label": jnp.broadcast_to(labels, (m, args.batch))}
    ranks = permutation_ranks(sample_permutations(jax.random.key(3), n, m))
    total = m * args.prefixes
    strategies = args.strategies.split(",")
    candidates = []  # (strategy, evaluations per update call, jitted function, its argument tuples)

    if "single" in strategies:
        one = jax.jit(lambda mask, sample: game.value_fn(shared, mask, sample))
        masks = [(ranks[j] >= args.start + p).astype(jnp.float32) for j in range(m) for p in range(args.prefixes)]
        calls = min(args.max_evals, len(masks))
        sample0 = jax.tree_util.tree_map(lambda a: a[0], samples)
        candidates.append(("single", calls, one, [(mk, sample0) for mk in masks[:calls]]))

    for name, skip, staged in (("sequential", True, True), ("sequential_skip", True, False),
                               ("sequential_plain", False, False)):
        if name not in strategies:
            continue
        seq_game = SupernetGame(shape, game.positions, make_value_fn(model.clone(skip_absent_ops=skip), "accuracy",
                                                                      "running"))
        value_fn = seq_game.staged if staged and seq_game.staged is not None else seq_game.value_fn
        fn = jax.jit(lambda value_fn=value_fn: score_chains(value_fn, shared, samples, ranks, 0.0, truncate=False,
                                                            num_positions=args.prefixes, first_position=args.start))
        candidates.append((name, total, fn, [()]))

    if "vmap" in strategies:
        for c in [int(v) for v in args.chunks.split(",")]:
            fn = jax.jit(lambda start, c=c: score_chunk(game.value_fn, shared, samples, ranks, start, c))
            calls = -(-args.prefixes // c)
            candidates.append((f"vmap_chunk{c}", calls * c * m, fn,
                               [(jnp.int32(args.start + i * c),) for i in range(calls)]))

    device_count = jax.device_count()
    if "sharded" in strategies:
        if device_count < 2:
            print(f"sharded: skipped (devices={device_count})")
        else:  # the search's coalition-parallel path: each chunk's M x c coalitions split over all devices
            split = coalition_sharding(make_mesh())
            c = max(1, args.prefixes)
            fn = jax.jit(lambda: score_chunk(game.value_fn, shared, samples, ranks, args.start, c,
                                             coalition_sharding=split))
            candidates.append(("sharded", m * c, fn, [()]))

    # Compile every strategy first, then time them in turns, so that a shared machine's drifts hit all alike.
    def family(name):  # vmap_chunk4 -> vmap
        return "vmap" if name.startswith("vmap_chunk") else name

    candidates.sort(key=lambda c: strategies.index(family(c[0])))
    print(f"compiling {', '.join(c[0] for c in candidates)}", flush=True)
    started = time.perf_counter()

    def elapsed():
        return time.perf_counter() - started

    ref_s_per_eval = None
    if args.reference:  # the original's one-forward-per-coalition evaluation, same supernet, batch and images
        ref_s_per_eval = original_code.time_evaluation(args.reference, args.batch, IMAGE_SIZE, args.channels,
                                                       args.layers, args.partial_channels, args.max_evals)

    compile_s, memory_bytes, calls, skipped = {}, {}, {}, []
    for name, _, fn, arg_tuples in candidates:
        if args.budget_s is not None and compile_s and elapsed() > 0.6 * args.budget_s:
            print(f"{name}: skipped (time budget)", flush=True)
            skipped.append(name)
            continue
        t0 = time.perf_counter()
        try:  # compile ahead of time (every argument tuple has the same shapes), then one warm-up call
            compiled = fn.lower(*arg_tuples[0]).compile()
            calls[name] = lambda compiled=compiled, arg_tuples=arg_tuples: [compiled(*a) for a in arg_tuples]
            jax.block_until_ready(calls[name]())
        except Exception as error:  # noqa: BLE001 -- e.g. out of memory for a wide chunk: report, keep the rest
            print(f"{name}: failed ({type(error).__name__}: {str(error).splitlines()[0][:200]})", flush=True)
            skipped.append(name)
            continue
        compile_s[name] = time.perf_counter() - t0
        memory_bytes[name] = activation_bytes(compiled)
        print(f"{name}: compiled in {compile_s[name]:.1f} s", flush=True)
    candidates = [c for c in candidates if c[0] not in skipped]
    if not candidates:
        raise SystemExit("bench_shapley: no strategy ran (all failed or were skipped)")
    machine = machine_info()
    settings_line = (f"{args.space} C={args.channels} layers={args.layers} batch={args.batch} K={args.partial_channels} "
                     f"M={m} prefixes={args.prefixes} start={args.start} players={n} "
                     f"formulation={formulation} device={jax.devices()[0].device_kind} "
                     f"x{device_count} isa={machine['isa']} scan_edges={args.scan_edges}" + (" (quick)" if args.quick else ""))

    walls, cpus = {c[0]: [] for c in candidates}, {c[0]: [] for c in candidates}
    for round_index in range(args.repeats):
        round_start = time.perf_counter()
        for name, *_ in candidates:
            w, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(calls[name]())
            walls[name].append(time.perf_counter() - w)
            cpus[name].append(time.process_time() - c)
        last = round_index == args.repeats - 1 or (
            args.budget_s is not None and elapsed() + (time.perf_counter() - round_start) > args.budget_s)
        rows = summarize(candidates, walls, cpus, compile_s, memory_bytes, total, ref_s_per_eval)
        if args.json:
            write_json(args, rows, skipped, complete=last, device_count=device_count, num_players=n, machine=machine,
                       ref_s_per_eval=ref_s_per_eval)
        if last:
            break

    print(settings_line)
    print(f"{'strategy':<18}{'evals':>7}{'compile s':>11}{'s/eval':>9}{'cpu s/eval':>12}{'evals/s':>9}{'s/update':>10}"
          f"{'x single':>10}" + (f"{'x orig':>8}" if ref_s_per_eval is not None else "") + f"{'act MiB':>10}")
    for r in rows:
        speedup = f"{r['speedup_vs_single']:>10.2f}" if "speedup_vs_single" in r else f"{'-':>10}"
        orig = f"{r['speedup_vs_original']:>8.2f}" if ref_s_per_eval is not None else ""
        mib = f"{r['activation_bytes'] / 2**20:>10.0f}" if r["activation_bytes"] is not None else f"{'-':>10}"
        print(f"{r['strategy']:<18}{r['evals']:>7}{r['compile_s']:>11.1f}{r['s_per_eval']:>9.3f}"
              f"{r['cpu_s_per_eval']:>12.3f}{r['evals_per_s']:>9.2f}{r['s_per_update']:>10.2f}{speedup}{orig}{mib}")
    if ref_s_per_eval is not None:
        print(f"original: {ref_s_per_eval:.3f} s/eval ({1 / ref_s_per_eval:.2f} evals/s)")
    best = min(rows, key=lambda r: r["s_per_eval"])
    peak, peak_kind = peak_memory_bytes()
    print(f"best: {best['strategy']} {best['evals_per_s']:.2f} evals/s; peak memory {peak / 2**20:.0f} MiB ({peak_kind}); "
          f"{len(walls[best['strategy']])} timing round(s)" + (f"; skipped or failed: {', '.join(skipped)}" if skipped else ""))


def summarize(candidates, walls, cpus, compile_s, memory_bytes, evals_per_update, ref_s_per_eval=None):
    """One row per timed strategy: medians per evaluation, rates, activation memory, the speed-up per
    update over ``single`` and, when the original was timed, the speed-up per evaluation over it."""
    rows = []
    for name, evals, *_ in candidates:
        s_per_eval = float(np.median(walls[name])) / evals
        rows.append(dict(strategy=name, evals=evals, compile_s=compile_s[name], s_per_eval=s_per_eval,
                         cpu_s_per_eval=float(np.median(cpus[name])) / evals, evals_per_s=1.0 / s_per_eval,
                         # a vmapped chunk that overshoots the update's positions still pays for them
                         s_per_update=max(evals, evals_per_update) * s_per_eval, rounds=len(walls[name]),
                         activation_bytes=memory_bytes[name]))
        if ref_s_per_eval is not None:
            rows[-1]["speedup_vs_original"] = ref_s_per_eval / s_per_eval
    single = next((r for r in rows if r["strategy"] == "single"), None)
    if single is not None:
        for r in rows:
            r["speedup_vs_single"] = single["s_per_update"] / r["s_per_update"]
    return rows


def write_json(args, rows, skipped, complete, device_count, num_players, machine, ref_s_per_eval=None):
    best = min(rows, key=lambda r: r["s_per_eval"])
    peak, peak_kind = peak_memory_bytes()
    out = dict(evals_per_s=best["evals_per_s"], s_per_update=best["s_per_update"], strategy=best["strategy"],
               device_kind=jax.devices()[0].device_kind, device_count=device_count, peak_memory_bytes=peak,
               peak_memory_kind=peak_kind, formulation=args.formulation, jax=jax.__version__,
               settings=vars(args), num_players=num_players, strategies=rows, skipped=skipped, complete=complete,
               machine=machine)
    if ref_s_per_eval is not None:
        out["ref_s_per_eval"] = ref_s_per_eval
    write_benchmark_json(args.json, out)  # a kill mid-write leaves the previous round's file


if __name__ == "__main__":
    main()
