"""Fig. 5: Kendall's tau between operation strength and NB201 test accuracy, from a finished NB201 search.

    python scripts/correlation.py --workdir runs/nb201-c10 --benchmark ../shared/data/nb201/nb201_200ep.csv.gz \
        [--num-archs 200] [--seed 0] [--source alpha|shapley] [--metric test]

Op strengths come from the run's results.json: ``softmax(alpha)`` (``--source alpha``, the DARTS view) or
the last Shapley values (``--source shapley``, ours; falls back to the last epoch record of
metrics.jsonl that holds Shapley values). The default source is ``shapley`` when the run has Shapley
values, else ``alpha``. ``--num-archs`` architectures are sampled uniformly from the benchmark (with
``--seed``); an architecture's strength is the mean over the 6 edges of the strength of its op there
(``operation_strength``), and tau is computed against the benchmark accuracy on each of CIFAR-10,
CIFAR-100 and ImageNet16-120. Architectures using ``none`` are not sampled, for either source: ``none``
is no player of the Shapley game, so it has no Shapley value (its stored 0 would outrank every negative
estimate), and both sources are scored on the same architectures.

Writes ``<workdir>/correlation_<source>.json`` (tau, p-value, and the sampled archs with their
strengths and accuracies per dataset) and ``<workdir>/correlation_<source>.png`` (one scatter per
dataset, as in Fig. 5), or into ``--out-dir``. The work is ``shapley_nas_jax.analysis.correlation.correlate``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shapley_nas_jax.analysis.correlation import correlate, plot_datasets
from shapley_nas_jax.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="finished NB201 search run directory")
    parser.add_argument("--benchmark", required=True, help="NB201 table (.csv/.csv.gz) or nats_bench file")
    parser.add_argument("--num-archs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", choices=("alpha", "shapley"), default=None)
    parser.add_argument("--metric", choices=("valid", "test"), default="test")
    parser.add_argument("--out-dir", default=None, help="where to write (default: the workdir)")
    args = parser.parse_args(argv)
    try:
        result = correlate(args.workdir, args.benchmark, args.num_archs, args.seed, args.source, args.metric)
    except UserError as error:
        parser.exit(2, f"correlation: error: {error}\n")
    out_dir = Path(args.out_dir or args.workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"correlation_{result['source']}.json"
    png_path = out_dir / f"correlation_{result['source']}.png"
    json_path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot_datasets(result, png_path)
    for dataset, r in result["datasets"].items():
        print(f"{dataset:<12} tau = {r['tau']:+.3f}  (p = {r['p_value']:.2g}, n = {len(r['archs']) - r['num_dropped']})")
    print(json_path)
    print(png_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
