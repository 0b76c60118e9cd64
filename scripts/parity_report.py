"""Compare this project with the original PyTorch code of Shapley-NAS and print the differences.

Runs the checks of ``tests/parity`` (the parity harness; the ones ``tests/test_parity.py`` asserts, and more:
every mask in both BN modes, the Shapley estimate at the original's threshold in both BN modes and with
both ways of scoring chains) for each op formulation of ours, and prints one row per check: the largest
absolute and relative difference, the tolerance and the outcome. Exits 1 if any check fails (known
differences are listed but do not fail), 2 if the checkout or torch is missing.

    python scripts/parity_report.py --original /path/to/Shapley-NAS [--formulation lax shifted] [--quick]

``--quick`` skips the slow checks (the weight step and the Shapley estimates). Needs torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# the parity harness is test code (not installed with the package): tests/parity
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def run_checks(orig, formulations, quick: bool):
    """Yields ``(formulation, check)`` for every check."""
    import parity

    for f in formulations:
        yield from ((f, c) for c in parity.supernet_checks(orig, formulation=f))
        yield from ((f, c) for c in parity.network_checks(orig, "shapley_nas_cifar10", formulation=f))
        yield from ((f, c) for c in parity.network_checks(orig, "shapley_nas_imagenet", network="imagenet",
                                                          batch=2, formulation=f))
        if quick:
            continue
        yield from ((f, c) for c in parity.weight_step_checks(orig, formulation=f, scan_edges=True))
        # both BN modes, each with one of our two ways of scoring the chains
        for bn_mode, scoring in (("running", "sequential"), ("batch", "batched")):
            yield from ((f, c) for c in parity.shapley_checks(orig, bn_mode=bn_mode, scoring=scoring, formulation=f))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original", required=True, help="checkout of the original code (model_search.py, ...)")
    parser.add_argument("--formulation", nargs="+", default=["lax", "shifted"], choices=["lax", "shifted"],
                        help="op formulations of ours to check (default: both)")
    parser.add_argument("--quick", action="store_true", help="skip the weight step and Shapley estimates")
    args = parser.parse_args(argv)

    import parity

    try:
        orig = parity.load_original(args.original)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    start = time.time()
    rows = list(run_checks(orig, args.formulation, args.quick))
    width = max(len(c.name) for _, c in rows)
    print(f"{'formulation':<11}  {'check':<{width}}  {'max abs':>9}  {'max rel':>9}  {'rtol':>6}  {'atol':>6}  result")
    for f, c in rows:
        print(f"{f:<11}  {c.name:<{width}}  {c.max_abs:9.2e}  {c.max_rel:9.2e}  {c.rtol:6.0e}  {c.atol:6.0e}  "
              f"{c.status}")
    for why in sorted({c.known for _, c in rows if c.known}):
        print(f"known difference: {why}")
    failed = [c for _, c in rows if c.failed]
    print(f"{len(rows)} checks, {len(failed)} failed ({time.time() - start:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
