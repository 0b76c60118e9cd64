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
dataset, as in Fig. 5), or into ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from shapley_nas_jax.analysis.correlation import strength_correlation, to_float_array
from shapley_nas_jax.analysis.tables import NB201_DATASET_LABELS, NB201_DATASETS
from shapley_nas_jax.search.game import NULL_OPS
from shapley_nas_jax.benchmarks.nb201 import load_benchmark


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _last_logged_shapley(workdir: Path):
    path = workdir / "metrics.jsonl"
    if not path.is_file():
        return None
    last = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                if record.get("kind") == "epoch" and record.get("shapley") is not None:
                    last = record["shapley"]
    return last


def load_strengths(workdir: str | os.PathLike, source: str | None = None) -> tuple[str, np.ndarray]:
    """``(source, strengths [cell_types, edges, ops])`` of a finished NB201 search."""
    workdir = Path(workdir)
    path = workdir / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results.json in {workdir}: is the search finished?")
    results = json.loads(path.read_text(encoding="utf-8"))
    space = (results.get("space") or {}).get("topology")
    if space is not None and space != "nb201":
        raise ValueError(f"{workdir} is a {space!r} search; the correlation needs an NB201 search")
    shapley = results.get("shapley")
    if shapley is None:
        shapley = _last_logged_shapley(workdir)
    if source is None:
        source = "shapley" if shapley is not None else "alpha"
    if source == "shapley":
        if shapley is None:
            raise ValueError(f"{workdir} has no Shapley values (a DARTS run without final_shapley?); "
                             "use --source alpha")
        return source, to_float_array(shapley)
    if source == "alpha":
        if results.get("alpha") is None:
            raise ValueError(f"{workdir}/results.json has no alpha (a random-search run?)")
        return source, _softmax(to_float_array(results["alpha"]))
    raise ValueError(f"--source={source!r} is not valid; choose alpha or shapley")


def correlate(workdir, benchmark, num_archs: int = 200, seed: int = 0, source: str | None = None,
              metric: str = "test") -> dict:
    """Kendall's tau per dataset; the JSON-ready result dict."""
    bench = load_benchmark(benchmark)
    source, strengths = load_strengths(workdir, source)
    out = {"workdir": str(workdir), "benchmark": str(benchmark), "source": source, "num_archs": num_archs,
           "seed": seed, "metric": metric, "excluded_ops": list(NULL_OPS), "datasets": {}}
    for dataset in NB201_DATASETS:
        r = strength_correlation(strengths, bench, num_archs=num_archs, seed=seed, dataset=dataset, metric=metric,
                                 exclude_ops=NULL_OPS)
        out["datasets"][dataset] = {
            "tau": r["tau"], "p_value": r["p_value"], "num_dropped": r["num_dropped"], "archs": r["archs"],
            "strengths": r["strengths"].tolist(), "accuracies": r["accuracies"].tolist(),
        }
    return out


def plot(result: dict, path: str | os.PathLike):
    """One scatter per dataset of the result, written as PNG to ``path``; returns the Figure."""
    from matplotlib.figure import Figure

    datasets = list(result["datasets"])
    fig = Figure(figsize=(4.2 * len(datasets), 3.8), layout="constrained")
    label = "Shapley value" if result["source"] == "shapley" else "softmax(alpha)"
    for i, dataset in enumerate(datasets):
        r = result["datasets"][dataset]
        ax = fig.add_subplot(1, len(datasets), i + 1)
        ax.scatter(r["strengths"], r["accuracies"], s=10, alpha=0.7, edgecolors="none")
        ax.set_title(f"{NB201_DATASET_LABELS.get(dataset, dataset)}: tau = {r['tau']:.3f}")
        ax.set_xlabel(f"operation strength ({label})")
        ax.set_ylabel(f"{result['metric']} accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"operation strength vs accuracy, {len(r['archs'])} sampled archs")
    fig.savefig(path, dpi=120)
    return fig


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="finished NB201 search run directory")
    parser.add_argument("--benchmark", required=True, help="NB201 table (.csv/.csv.gz) or nats_bench file")
    parser.add_argument("--num-archs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", choices=("alpha", "shapley"), default=None)
    parser.add_argument("--metric", choices=("valid", "test"), default="test")
    parser.add_argument("--out-dir", default=None, help="where to write (default: the workdir)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    result = correlate(args.workdir, args.benchmark, args.num_archs, args.seed, args.source, args.metric)
    out_dir = Path(args.out_dir or args.workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"correlation_{result['source']}.json"
    png_path = out_dir / f"correlation_{result['source']}.png"
    json_path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot(result, png_path)
    for dataset, r in result["datasets"].items():
        print(f"{dataset:<12} tau = {r['tau']:+.3f}  (p = {r['p_value']:.2g}, n = {len(r['archs']) - r['num_dropped']})")
    print(json_path)
    print(png_path)
    return result


if __name__ == "__main__":
    main()
