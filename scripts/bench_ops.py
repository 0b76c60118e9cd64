"""Micro-benchmark of the primitives and the DARTS ops under each formulation (PC-DARTS shapes).

    .venv/bin/python scripts/bench_ops.py [--batch 256] [--repeats 20] [--formulations lax,shifted]

Median of ``--repeats`` jitted calls (after a compile call), in ms, for batch x 32 x 32 x 4 inputs (one
PC-DARTS partial-channel slice of the first cells), plus whole ops (with BN) and a whole MixedOp with K=4.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, ".")
from shapley_nas_jax.models.supernet import MixedOp  # noqa: E402
from shapley_nas_jax.ops import make_op, primitives as P  # noqa: E402
from shapley_nas_jax.spaces import get_space  # noqa: E402


def median_ms(fn, x, repeats):
    jitted = jax.jit(lambda x: fn(x))  # fresh function per formulation: jit caches traces per function object
    jitted(x).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jitted(x).block_until_ready()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--formulations", default="lax,shifted")
    args = ap.parse_args()
    b, forms = args.batch, args.formulations.split(",")
    key = jax.random.key(0)
    x4 = jax.random.normal(key, (b, 32, 32, 4))
    x16 = jax.random.normal(key, (b, 32, 32, 16))
    k3, k5, pk = jax.random.normal(key, (3, 3, 4)), jax.random.normal(key, (5, 5, 4)), jax.random.normal(key, (4, 4))
    prims = {
        "depthwise 3x3": lambda x: P.depthwise_conv(x, k3),
        "depthwise 5x5 dil 2": lambda x: P.depthwise_conv(x, k5, 1, 2),
        "depthwise 3x3 stride 2": lambda x: P.depthwise_conv(x, k3, 2),
        "pointwise 4->4": lambda x: P.pointwise_conv(x, pk),
        "max pool 3x3 s1": lambda x: P.max_pool_3x3(x, 1),
        "avg pool 3x3 s1": lambda x: P.avg_pool_3x3(x, 1),
    }
    space = get_space("darts_reference")
    weights = jax.nn.softmax(jnp.zeros((7,)))
    print(f"{'block':<28}" + "".join(f"{f:>12}" for f in forms) + "   (ms, median)")
    rows = [(name, fn, x4) for name, fn in prims.items()]
    for name in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3"):
        op = make_op(name, 4, 1)
        variables = op.init(key, x4[:2])
        rows.append((f"{name} op", lambda x, op=op, v=variables: op.apply(v, x), x4))
    mixed = MixedOp(space.edge_ops[0][0], 1, 4)
    mv = mixed.init(key, x16[:2], weights)
    rows.append(("MixedOp (7 ops, K=4, C=16)", lambda x: mixed.apply(mv, x, weights), x16))
    for name, fn, x in rows:
        cells = []
        for f in forms:
            P.set_formulation(f)
            cells.append(median_ms(fn, x, args.repeats))
        print(f"{name:<28}" + "".join(f"{c:>12.2f}" for c in cells), flush=True)
    P.set_formulation("auto")


if __name__ == "__main__":
    main()
