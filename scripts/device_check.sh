#!/usr/bin/env bash
# Device check for a GPU machine with no network (one H100: at most about 9.5 minutes, bounded by the timeouts below).
#
#   scripts/device_check.sh --prepare   # HERE, with the project venv: copy the pure-Python packages the
#                                       # project imports but the device lacks into build/device_pylib
#   scripts/device_check.sh             # ON THE DEVICE (carry build/device_pylib): benchmarks + sharding checks
#
# The device has jax, flax, optax, chex, orbax and absl. The search code also imports ml_collections
# (config.py, steps.py, run.py; it needs PyYAML) and tqdm (driver.py) at module level; they are pure Python,
# so --prepare copies them from the local venv (or `pip download ml-collections PyYAML tqdm -d DIR` and
# `pip install --no-index --find-links DIR ...` where wheels are preferred). sklearn (only the embedded
# digits data set), tensorflow_datasets (only tfds data), matplotlib (only plots) and scipy (only
# correlation analysis) are imported lazily and are not needed by the benchmark or the sharding checks.
#
# Output: results under ${OUT:-build/device_check}/ (bench_*.json, sharded_checks.json, table.txt) and one
# table on stdout. Environment: PYTHON (default: python3, or .venv/bin/python when present),
# BENCH_TIMEOUT (DARTS benchmark seconds, default 210), NB201_TIMEOUT (default 120), POP_TIMEOUT (population
# benchmark, default 120), CHECK_TIMEOUT (sharding checks, default 120); worst case 9.5 minutes. BENCH_EXTRA
# (arguments appended to both Shapley benchmark commands, overriding theirs), POP_EXTRA (the same for the
# population benchmark) and CHECK_LOOP (the sharding checks' --loop, default compare) let
# tests/test_benchmark_scripts.py run this whole script on tiny shapes.
set -uo pipefail
cd "$(dirname "$0")/.."
PYLIB=build/device_pylib

if [[ "${1:-}" == "--prepare" ]]; then
  PY=${PYTHON:-.venv/bin/python}
  rm -rf "$PYLIB" && mkdir -p "$PYLIB"
  "$PY" - "$PYLIB" <<'EOF'
import importlib, os, shutil, sys
dest = sys.argv[1]
for name in ("ml_collections", "yaml", "tqdm"):
    module = importlib.import_module(name)
    src = os.path.dirname(module.__file__)
    shutil.copytree(src, os.path.join(dest, name), ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    print(f"copied {name} from {src}")
EOF
  du -sh "$PYLIB"
  exit 0
fi

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT_DIR=${OUT:-build/device_check}
mkdir -p "$OUT_DIR"
BENCH_TIMEOUT=${BENCH_TIMEOUT:-210}
NB201_TIMEOUT=${NB201_TIMEOUT:-120}
POP_TIMEOUT=${POP_TIMEOUT:-120}
CHECK_TIMEOUT=${CHECK_TIMEOUT:-120}
BENCH_EXTRA=${BENCH_EXTRA:-}
POP_EXTRA=${POP_EXTRA:-}
CHECK_LOOP=${CHECK_LOOP:-compare}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PYTHON" -c "import ml_collections, tqdm" 2>/dev/null; then
  if [[ -d "$PYLIB" ]]; then
    export PYTHONPATH="$PYTHONPATH:$PWD/$PYLIB"
  fi
fi
"$PYTHON" - <<'EOF'
import importlib
missing = []
for name in ("jax", "flax", "optax", "chex", "orbax.checkpoint", "absl", "ml_collections", "yaml", "tqdm"):
    try:
        importlib.import_module(name)
    except Exception as e:  # noqa: BLE001
        missing.append(f"{name} ({type(e).__name__})")
if "jax" not in " ".join(missing):
    import jax
    print(f"jax {jax.__version__} on {jax.devices()}")
if missing:
    print("MISSING: " + ", ".join(missing) + " -- run scripts/device_check.sh --prepare here and carry build/device_pylib")
EOF

declare -A STATUS
run_step() {  # name, timeout, command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "== $name: $*"
  rm -f "$OUT_DIR/$name.json"  # never report a previous run's results
  timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$OUT_DIR/$name.log"
  STATUS[$name]="rc=$rc $((SECONDS - t0))s"
}

if [[ -f scripts/bench_shapley.py ]]; then
  # The GPU goal compares an alpha update scored one mask per call (single) with vmapped chunks of
  # M=4 chains x c positions (vmap_chunk{c}: 32, 16, 8 coalitions per call); sequential is the CPU path,
  # for reference. Strategies compile in this order; --budget-s skips the rest once 60 % of the step's time
  # is spent and ends timing in time, and the JSON is rewritten after every timing round. A chunk that does
  # not fit in memory is reported as failed and the rest still run.
  run_step bench_darts_reference "$BENCH_TIMEOUT" "$PYTHON" scripts/bench_shapley.py --space darts_reference \
    --strategies single,vmap,sequential --samples 4 --prefixes 8 --chunks 8,4,2 --max-evals 8 --repeats 3 \
    --budget-s $((BENCH_TIMEOUT - 30)) --json "$OUT_DIR/bench_darts_reference.json" $BENCH_EXTRA
  run_step bench_nb201 "$NB201_TIMEOUT" "$PYTHON" scripts/bench_shapley.py --space nb201 --channels 16 \
    --cells 5 --strategies single,vmap,sequential --samples 4 --prefixes 8 --chunks 8,4,2 --max-evals 8 --repeats 3 \
    --budget-s $((NB201_TIMEOUT - 20)) --json "$OUT_DIR/bench_nb201.json" $BENCH_EXTRA
else
  echo "scripts/bench_shapley.py not found: benchmarks skipped"
fi
# The population goal: 8 members of the full NB201 search (C=16, 5 cells per stage) do >= 3x the work per
# second of 8 single searches one after another (weight step and Shapley update, both timed).
run_step bench_population "$POP_TIMEOUT" "$PYTHON" scripts/bench_population.py --setups nb201 --sizes 8 \
  --samples 2 --repeats 3 --json "$OUT_DIR/bench_population.json" $POP_EXTRA
# Sharding checks on 8 simulated CPU devices (the machine has one GPU; the mesh logic is device-agnostic),
# including a whole search on the mesh compared with one device.
run_step sharded_checks "$CHECK_TIMEOUT" "$PYTHON" tests/sharded_checks.py --devices 8 --fast-compile --loop "$CHECK_LOOP" \
  --json "$OUT_DIR/sharded_checks.json"

STATUS_LINES=""
for k in "${!STATUS[@]}"; do STATUS_LINES+="$k ${STATUS[$k]}"$'\n'; done
export STATUS_LINES
"$PYTHON" - "$OUT_DIR" <<'EOF' | tee "$OUT_DIR/table.txt"
import json, os, sys
out = sys.argv[1]
status = dict(line.split(" ", 1) for line in os.environ.get("STATUS_LINES", "").splitlines() if line)


def bench_lines(result):
    s = result["settings"]
    yield (f"{result['device_kind']} x{result['device_count']}, jax {result['jax']}, {result['formulation']}, "
           f"C={s['channels']} batch={s['batch']} M={s['samples']} prefixes={s['prefixes']}, "
           f"complete={result['complete']}, skipped={result['skipped'] or '-'}, "
           f"peak {result['peak_memory_bytes'] / 2**20:.0f} MiB ({result['peak_memory_kind']})")
    yield f"{'strategy':<18}{'s/eval':>10}{'s/update':>10}{'x single':>10}{'act MiB':>9}{'compile s':>11}{'rounds':>8}"
    for r in result["strategies"]:
        speedup = f"{r['speedup_vs_single']:>10.2f}" if "speedup_vs_single" in r else f"{'-':>10}"
        act = f"{r['activation_bytes'] / 2**20:>9.0f}" if r.get("activation_bytes") is not None else f"{'-':>9}"
        yield (f"{r['strategy']:<18}{r['s_per_eval']:>10.4f}{r['s_per_update']:>10.3f}{speedup}{act}"
               f"{r['compile_s']:>11.1f}{r['rounds']:>8}")
    vmapped = [r for r in result["strategies"] if r["strategy"].startswith("vmap") and "speedup_vs_single" in r]
    if vmapped:
        top = max(vmapped, key=lambda r: r["speedup_vs_single"])
        yield f"GPU goal (>= 10x per alpha update): {top['strategy']} is {top['speedup_vs_single']:.1f}x single"


def population_lines(result):
    yield f"{'setup':<10}{'P':>3}{'weight s':>10}{'x singles':>10}{'update s':>10}{'x singles':>10}{'compile s':>11}"
    for r in result["rows"]:
        yield (f"{r['setup']:<10}{r['members']:>3}{r['population_weight_s']:>10.4f}{r['weight_speedup']:>10.2f}"
               f"{r['population_update_s']:>10.3f}{r['update_speedup']:>10.2f}"
               f"{r['population_weight_compile_s'] + r['population_update_compile_s']:>11.1f}")
    for r in result["rows"]:
        if r["members"] == 8:
            yield (f"GPU goal (>= 3x at P = 8): weight step {r['weight_speedup']:.2f}x, "
                   f"Shapley update {r['update_speedup']:.2f}x")


def flat(prefix, obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flat(f"{prefix}.{k}" if prefix else k, v)
    elif isinstance(obj, list) and len(obj) > 6:
        yield f"{prefix}: [{len(obj)} items]"
    else:
        yield f"{prefix}: {obj:.6g}" if isinstance(obj, float) else f"{prefix}: {obj}"


LINES = {"bench_darts_reference": bench_lines, "bench_nb201": bench_lines, "bench_population": population_lines}
for name in ("bench_darts_reference", "bench_nb201", "bench_population", "sharded_checks"):
    print(f"[{name}] {status.get(name, 'not run')}")
    path = os.path.join(out, f"{name}.json")
    if not os.path.exists(path):
        print("  no results")
        continue
    try:
        result = json.load(open(path))
        for line in LINES.get(name, lambda r: flat("", r))(result):
            print("  " + line)
    except Exception as e:  # noqa: BLE001
        print(f"  unreadable results: {type(e).__name__}: {e}")
EOF
