"""NAS-Bench-201 searches of several methods over seeds, compared: the paper's Table 5 and its figures
(``scripts/nb201_report.py``).

A method is a ``scripts/run_seeds.py`` root (``ROOT/seed<k>/``, read by ``load_method``): its finished seeds
(those with ``results.json``) are read, unfinished ones are counted and left out of every table; the curves
draw the epochs an unfinished seed has logged so far, one dashed line each, marked "in progress". Seeds whose
run directories are gone but whose found cells were recorded join by ``add_recorded``. The benchmark table only
reports: it never chooses anything. ``report`` writes into its output folder:

* ``report.md``: the Table 5 layout (mean ± std over seeds, benchmark valid/test accuracy of each found
  cell) with the paper's rows, each seed's cell, the CIFAR-10 test accuracy of its current cell at the
  first epoch and at its best during the search (reported only), and the time each search spent in its steps;
* ``curves.png``: per epoch, the CIFAR-10 test accuracy of each method's current cell (mean and range over
  seeds) and its skip-connection count (the collapse of DARTS), and each unfinished seed's epochs so far;
* ``op_strengths_<method>.png``: softmax(alpha) per edge over epochs of each method's first seed (Fig. 4);
* ``correlation.png`` and the table's tau column: Kendall's tau between a sampled cell's op strength (the
  mean over its 6 edges of the final strength of the op it picks: Shapley values for Shapley-NAS,
  softmax(alpha) for DARTS) and its CIFAR-10 test accuracy (Fig. 5). Every method is scored on the same
  sampled cells, drawn among those without ``none``: ``none`` is no player of the Shapley game, so it has
  no Shapley value (stored as 0);
* the agreement of each Shapley-NAS seed's successive estimates: how far beyond noise they agree
  (``analysis.ranking.update_signal``) and how many edges of the current cell each update changed;
* each Shapley-NAS seed's mean estimate per op (± its standard error over the updates) beside the
  benchmark's mean accuracy of the cells holding the op;
* ``estimate_noise.png`` and its table: each Shapley update's own noise diagnostics;
* where a method ran with alpha frozen (``alpha_rule.name=frozen``): each other method's estimates beside
  those of the same seed with alpha frozen, update by update (``paired_agreement``);
* ``report.json``: all of it as numbers.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
from etils import epath

from shapley_nas_jax.analysis import plots, tables
from shapley_nas_jax.analysis.correlation import strength_correlation
from shapley_nas_jax.analysis.ranking import estimate_agreement, estimate_size_and_error, update_signal
from shapley_nas_jax.benchmarks.nb201 import load_benchmark
from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError
from shapley_nas_jax.runs import seed_runs
from shapley_nas_jax.search.game import NULL_OPS
from shapley_nas_jax.search.methods import get_method
from shapley_nas_jax.spaces.nb201 import nb201_ops_from_arch

# Table 5 of the paper (searched directly on CIFAR-10): CIFAR-10, CIFAR-100, ImageNet16-120 x valid, test.
PAPER_ROWS = {
    "RSPS (published)": [(84.16, 1.69), (87.66, 1.69), (45.78, 6.33), (46.60, 6.57), (31.09, 5.65), (30.78, 6.12)],
    "DARTS (published)": [(39.77, 0.0), (54.30, 0.0), (38.57, 0.0), (38.97, 0.0), (18.87, 0.0), (18.41, 0.0)],
    "Shapley-NAS (published)": [(91.61, 0.0), (94.37, 0.0), (73.49, 0.0), (73.51, 0.0), (46.57, 0.08), (46.85, 0.12)],
}


def paper_summary(row) -> dict:
    """A paper row as an ``nb201_summary``-shaped dict."""
    cells = iter(row)
    return {d: {m: dict(zip(("mean", "std"), next(cells)), n=None) for m in tables.NB201_METRICS}
            for d in tables.NB201_DATASETS}


def load_method(root: str) -> dict:
    """The finished seeds of one run_seeds root: results, epoch records and time in steps per seed; and the
    unfinished ones: their paths (``unfinished``) and, where they have logged epochs, their config and epoch
    records so far (``in_progress``)."""
    seeds, unfinished, in_progress = [], [], []
    for run in seed_runs(root).values():
        if run.results is None:
            unfinished.append(run.path)
            if run.config is not None and run.records("epoch"):
                in_progress.append({"seed": run.config["seed"], "workdir": run.path, "config": run.config,
                                    "epochs": run.records("epoch")})
            continue
        epochs = run.records("epoch")
        seconds = sum(sum(r.get("seconds", {}).values()) for r in epochs)
        seeds.append({"seed": run.results["config"]["seed"], "workdir": run.path, "results": run.results,
                      "epochs": epochs, "seconds": seconds, "updates": plots.estimate_records(run.metrics or [])})
    if not seeds and not in_progress:
        raise PathNotFoundError(f"{root} has no finished seed (no seed*/results.json) and no seed with epochs logged")
    config = seeds[0]["results"]["config"] if seeds else in_progress[0]["config"]
    return {"root": root, "label": tables.method_label(config), "seeds": seeds, "unfinished": unfinished,
            "in_progress": in_progress, "recorded": []}


def add_recorded(methods: list[dict], path: str) -> list[dict]:
    """``methods`` with the recorded seeds of ``path`` added to the method of their label (a method of its own
    where no root has that label). A seed both recorded and run is refused: the two could disagree."""
    entries = json.loads(epath.Path(path).read_text()).get("seeds", [])
    by_label = {m["label"]: m for m in methods}
    for entry in entries:
        missing = sorted({"method", "seed", "genotype_str"} - set(entry))
        if missing:
            raise InvalidInputError(f"an entry of {path} lacks {', '.join(missing)}; each needs method, seed and "
                                    "genotype_str")
        method = by_label.get(entry["method"])
        if method is None:
            method = by_label[entry["method"]] = {"root": None, "label": entry["method"], "seeds": [],
                                                  "unfinished": [], "in_progress": [], "recorded": []}
            methods = [*methods, method]
        if entry["seed"] in [s["seed"] for s in method["seeds"]] + [r["seed"] for r in method["recorded"]]:
            raise InvalidInputError(f"seed {entry['seed']} of {entry['method']} is both in {path} and in a run (or "
                                    "twice in the file); keep one of them")
        method["recorded"].append(entry)
    return methods


def op_strengths(seed: dict) -> tuple[str, np.ndarray] | None:
    """(source, final op strengths) the method derives its cell from, or None (RSPS: no op strengths)."""
    results = seed["results"]
    method = get_method(results["config"]["search"]["method"])
    if method.estimates_shapley or results.get("derived_from") == "shapley":
        return "shapley", np.asarray(results["shapley"], float)
    if method.ranks_ops_by_alpha:
        return "alpha", np.asarray(results["weights"], float)
    return None


def epoch_series(seeds: list[dict], value) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values [seeds, epochs]) of ``value(record)`` over the epochs every seed has (NaN if absent)."""
    count = min(len(s["epochs"]) for s in seeds)
    rows = [[value(r) if value(r) is not None else np.nan for r in s["epochs"][:count]] for s in seeds]
    return np.arange(count), np.asarray(rows, float).reshape(len(seeds), count)


def cifar10_test(record: dict):
    bench = record.get("benchmark") or {}
    return (bench.get("cifar10") or {}).get("test")


def cell_follows_alpha(seed: dict) -> bool:
    """Whether the seed's epoch records show the cell its search would end on: not for RSPS (no current cell
    before its final choice) nor for DARTS+Shapley(*) (decided by one Shapley estimate at the end). ``seed``:
    a finished seed (its ``results``) or one in progress (its ``config``)."""
    search = (seed["results"]["config"] if "results" in seed else seed["config"])["search"]
    return get_method(search["method"]).current_cell and not search.get("final_shapley")


def current_cell_path(seed: dict) -> dict | None:
    """The CIFAR-10 test accuracy of a seed's current cell over its epochs: at the first epoch, at its best
    (the first epoch reaching it) and at the last; None where the epochs show no current cell of the method
    (``cell_follows_alpha``) or carry no benchmark figures. Only reported: a search never sees it."""
    if not cell_follows_alpha(seed):
        return None
    path = [(k, a) for k, r in enumerate(seed["epochs"]) if (a := cifar10_test(r)) is not None]
    if not path:
        return None
    best_epoch, best = max(path, key=lambda item: (item[1], -item[0]))
    return {"first": path[0][1], "best": best, "best_epoch": best_epoch, "last": path[-1][1]}


def _two_panels(ylabels: tuple[str, str]):
    """A figure of two side-by-side panels with these y labels."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = [fig.add_subplot(1, 2, k + 1) for k in range(2)]
    for ax, ylabel in zip(axes, ylabels):
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    return fig, axes


def _mean_band(ax, x, values: np.ndarray, label: str, **style):
    """The mean over the rows of ``values [seeds, x]`` as a line, their min to max as a band (NaN skipped)."""
    with warnings.catch_warnings():  # a column of NaN (e.g. the first update's agreement) draws nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, low, high = np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)
    line, = ax.plot(x, mean, label=f"{label} (n={len(values)})", **style)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)


def _save_panels(fig, axes, xlabel: str, path: Path):
    for ax in axes:
        ax.set_xlabel(xlabel)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    fig.savefig(path, dpi=110)
    return fig


def plot_curves(methods: list[dict], path: Path):
    values_of = (cifar10_test, lambda r: r.get("skip_count"))
    fig, axes = _two_panels(("CIFAR-10 test accuracy of the current cell (%)", "skip connections in the current cell"))
    for ax, value in zip(axes, values_of):
        for method in methods:
            if method["seeds"] and cell_follows_alpha(method["seeds"][0]):
                epochs, values = epoch_series(method["seeds"], value)
                if np.isfinite(values).any():
                    _mean_band(ax, epochs, values, method["label"])
            for seed in method["in_progress"]:
                if cell_follows_alpha(seed):
                    epochs, values = epoch_series([seed], value)
                    ax.plot(epochs, values[0], linestyle="--",
                            label=f"{method['label']} seed {seed['seed']} (in progress, {len(seed['epochs'])} epochs)")
    return _save_panels(fig, axes, "epoch", path)


def correlations(methods: list[dict], benchmark, num_archs: int) -> dict:
    """Per method: Kendall's tau per seed between summed op strengths and CIFAR-10 test accuracy, over the
    same sampled cells for every method (none using a non-player op)."""
    out = {}
    for method in methods:
        taus, first = [], None
        for seed in method["seeds"]:
            found = op_strengths(seed)
            if found is None:
                continue
            source, strengths = found
            r = strength_correlation(strengths[0], benchmark, num_archs=num_archs, seed=0, dataset="cifar10",
                                     metric="test", exclude_ops=NULL_OPS)
            taus.append(float(r["tau"]))
            first = first or {"source": source, "strengths": r["strengths"].tolist(),
                              "accuracies": r["accuracies"].tolist()}
        if taus:
            out[method["label"]] = {"taus": taus, "tau": tables.mean_std(taus), "first_seed": first}
    return out


def logged_updates(seed: dict) -> tuple[np.ndarray, list[int], np.ndarray]:
    """A Shapley-NAS seed's estimates as its epoch records logged them, one per epoch that ran an update
    (every update when a search updates alpha once per epoch, as the NB201 configs do): (estimates
    ``[updates, cell_types, edges, ops]``, the edges of the current cell each update changed, the players
    mask ``[cell_types, edges, ops]``: ops not in ``NULL_OPS``)."""
    space = seed["results"]["space"]
    players = np.array([[[op not in NULL_OPS for op in ops] for ops in edges] for edges in space["edge_ops"]])
    estimates, changed, previous = [], [], None
    shapley_updates = get_method(seed["results"]["config"]["search"]["method"]).estimates_shapley  # not DARTS' steps
    for record in seed["epochs"] if shapley_updates else []:
        if previous is not None and record.get("shapley") is not None \
                and record["alpha_updates"] > previous["alpha_updates"]:
            estimates.append(record["shapley"])
            changed.append(sum(a != b for a, b in zip(record["genotype_str"].split("|"),
                                                       previous["genotype_str"].split("|"))))
        previous = record
    return np.asarray(estimates, float).reshape(-1, *players.shape), changed, players


def update_agreement(seed: dict) -> dict | None:
    """How much one Shapley-NAS seed's successive estimates agree (``analysis.ranking.update_signal``, over
    the players), and how many edges of the current cell each update changed; None without 2 updates."""
    estimates, changed, players = logged_updates(seed)
    if len(estimates) < 2:
        return None
    half = len(changed) // 2
    return {**update_signal(estimates, players), "updates": len(estimates), "edges_changed": changed,
            "edges_changed_late": float(np.mean(changed[half:]))}


def alpha_frozen(method: dict) -> bool:
    """Whether every seed of ``method`` ran with ``alpha_rule.name=frozen`` (estimates logged, alpha never moved)."""
    return bool(method["seeds"]) and all(s["results"]["config"].get("alpha_rule", {}).get("name") == "frozen"
                                         for s in method["seeds"])


def paired_agreement(seed: dict, frozen: dict) -> list[float] | None:
    """Per Shapley update both runs made, the agreement (``analysis.ranking.estimate_agreement``) of a search's
    k-th estimate with the k-th of the same seed's run with alpha frozen: 1 when both order the ops of every
    edge alike, 0 when unrelated. What the loop between alpha and the weights it trains changes in the
    estimate; None without a common update."""
    searched, _, players = logged_updates(seed)
    held, _, _ = logged_updates(frozen)
    count = min(len(searched), len(held))
    return [estimate_agreement(held[k:k + 1], searched[k], players) for k in range(count)] or None


def op_preferences(seed: dict) -> dict[str, tuple[float, float]] | None:
    """Per player op: the mean over updates of its estimate averaged over the edges, and the standard error of
    that mean over the updates; None without 2 updates. The ops of NB201 are the same on every edge."""
    estimates, _, players = logged_updates(seed)
    if len(estimates) < 2:
        return None
    per_update = estimates.mean(axis=(1, 2))  # [updates, ops]
    ops = seed["results"]["space"]["edge_ops"][0][0]
    return {op: (float(per_update[:, k].mean()), float(per_update[:, k].std(ddof=1) / np.sqrt(len(per_update))))
            for k, op in enumerate(ops) if players[..., k].all()}


def estimate_noise(seed: dict) -> dict | None:
    """What a seed's Shapley update records say of their estimates' noise (runs since these diagnostics):
    per update the agreement with the earlier estimates, the mean standard error over the players against
    the mean size of the per-edge centred estimate (``noise_ratio``: above 1, one estimate cannot order an
    edge's ops), players per chain and the full supernet's value; None without such records."""
    rows = seed.get("updates") or []
    if not rows:
        return None
    size, error = estimate_size_and_error([r["shapley"] for r in rows], [r["shapley_se"] for r in rows])
    return {"agreement": [r.get("estimate_agreement") for r in rows],  # None: the first update
            "noise_ratio": (error / size).tolist(),
            # budgeted estimators have no chains: None
            "chain_players": [r.get("chain_players_mean") for r in rows],
            "value_full": [r.get("value_full") for r in rows]}


def plot_estimate_noise(methods: list[dict], path: Path):
    """Per method, mean over its seeds (band: min to max) of each update's agreement with the earlier ones and
    of its noise ratio (mean standard error / mean |centred estimate|)."""
    fig, axes = _two_panels(("agreement with the earlier estimates", "standard error / |centred estimate|"))
    for ax, key, reference in zip(axes, ("agreement", "noise_ratio"), (0, 1)):
        for method in methods:
            series = [n[key] for s in method["seeds"] if (n := estimate_noise(s))]
            if series:
                count = min(map(len, series))
                values = np.asarray([v[:count] for v in series], float)
                _mean_band(ax, np.arange(1, count + 1), values, method["label"], marker="o", markersize=3)
        ax.axhline(reference, color="grey", lw=0.8, ls="--")
    return _save_panels(fig, axes, "Shapley update", path)


def benchmark_op_means(benchmark, ops) -> dict[str, float]:
    """Per op: the benchmark's mean CIFAR-10 test accuracy over all cells, each cell counted once per edge
    that holds the op (what the op does on average wherever it sits)."""
    sums, counts = dict.fromkeys(ops, 0.0), dict.fromkeys(ops, 0)
    for arch in benchmark.archs():
        accuracy = benchmark.accuracy(arch, "cifar10", "test")
        for op in nb201_ops_from_arch(arch):
            if op in sums:
                sums[op] += accuracy
                counts[op] += 1
    return {op: sums[op] / counts[op] for op in ops if counts[op]}


def plot_correlation(corr: dict, path: Path, columns: int = 3):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    count = max(len(corr), 1)
    rows, cols = -(-count // columns), min(count, columns)
    fig = Figure(figsize=(4.2 * cols, 3.6 * rows), layout="constrained")
    for i, (label, c) in enumerate(corr.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        first = c["first_seed"]
        strength = "Shapley value" if first["source"] == "shapley" else "softmax(alpha)"
        plots.plot_correlation(first["strengths"], first["accuracies"], c["taus"][0], title=label,
                               xlabel=f"{strength}, mean over the cell's ops",
                               ylabel="CIFAR-10 test accuracy (%)", ax=ax)
        ax.title.set_fontsize(9)
        ax.xaxis.set_major_locator(MaxNLocator(4))
    fig.savefig(path, dpi=110)
    return fig


def report(methods: list[dict], benchmark_path: str, out: Path, num_archs: int = 200) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    benchmark = load_benchmark(benchmark_path)
    rows, summary = {}, {}
    for method in methods:
        cells = [s["results"]["genotype_str"] for s in method["seeds"]] + [r["genotype_str"] for r in method["recorded"]]
        accuracies = [benchmark.query(cell) for cell in cells]
        rows[method["label"]] = summary[method["label"]] = tables.nb201_summary(accuracies)
    for label, row in PAPER_ROWS.items():
        rows[label] = paper_summary(row)
    corr = correlations(methods, benchmark, num_archs)
    lines = ["## Table 5 layout (benchmark accuracy of the found cells, mean ± std over seeds)", "",
             tables.format_table5(rows), "", "## Seeds", ""]
    seed_rows = []
    for method in methods:
        rows_of_method = []
        for s in method["seeds"]:
            acc = benchmark.query(s["results"]["genotype_str"])
            path = current_cell_path(s)
            during = f"{path['first']:.2f} / {path['best']:.2f} ({path['best_epoch']})" if path else ""
            rows_of_method.append([method["label"], s["seed"], f"{acc['cifar10']['test']:.2f}", during,
                                   s["results"].get("skip_count"), f"{s['seconds'] / 60:.1f}", s["results"]["genotype_str"]])
        for r in method["recorded"]:
            acc = benchmark.query(r["genotype_str"])
            rows_of_method.append([method["label"], r["seed"], f"{acc['cifar10']['test']:.2f}", "",
                                   r["genotype_str"].count("skip_connect"), "recorded", r["genotype_str"]])
        seed_rows += sorted(rows_of_method, key=lambda row: row[1])
        if method["unfinished"]:
            seed_rows.append([method["label"], f"{len(method['unfinished'])} unfinished", "", "", "", "", ""])
    lines.append(tables.format_table(
        ["method", "seed", "C10 test", "current cell: first / best (epoch)", "skips", "step min", "cell"], seed_rows))
    if corr:
        lines += ["", "## Op strength vs CIFAR-10 test accuracy (Kendall's tau over sampled cells without `none`)", "",
                  tables.format_table(["method", "tau (mean ± std over seeds)"],
                                      [[label, tables.format_mean_std(c["tau"], 3)] for label, c in corr.items()])]
    agreement = {m["label"]: [(s["seed"], a) for s in m["seeds"] if (a := update_agreement(s))] for m in methods}
    agreement = {label: seeds for label, seeds in agreement.items() if seeds}
    if agreement:
        lines += ["", "## Agreement of successive Shapley estimates (consistency: |mean| / rms of the per-edge "
                  "centred estimates; pure noise gives 1/sqrt(updates))", "",
                  tables.format_table(
                      ["method", "seed", "updates", "consistency", "pure noise", "signal / noise",
                       "edges changed per update", "later half, mean"],
                      [[label, seed, a["updates"], f"{a['consistency']:.3f}", f"{a['noise_level']:.3f}",
                        f"{a['signal_to_noise']:.2f}", " ".join(map(str, a["edges_changed"])),
                        f"{a['edges_changed_late']:.1f}"] for label, seeds in agreement.items() for seed, a in seeds])]
    preferences = [(m["label"], s["seed"], p) for m in methods for s in m["seeds"] if (p := op_preferences(s))]
    if preferences:
        ops = list(preferences[0][2])
        bench_means = benchmark_op_means(benchmark, ops)
        lines += ["", "## Mean Shapley estimate per op (over the updates and the 6 edges; ± standard error over the "
                  "updates), against the benchmark", "",
                  tables.format_table(
                      ["method", "seed", *ops],
                      [[label, seed, *(f"{p[op][0]:+.4f} ± {p[op][1]:.4f}" if op in p else "" for op in ops)]
                       for label, seed, p in preferences]
                      + [["benchmark: mean CIFAR-10 test of the cells with the op, per edge", "",
                          *(f"{bench_means[op]:.2f}" for op in ops)]])]
    pairs = [(m["label"], f["label"], s["seed"], a) for f in methods if alpha_frozen(f)
             for m in methods if not alpha_frozen(m) for s in m["seeds"] for t in f["seeds"]
             if s["seed"] == t["seed"] and (a := paired_agreement(s, t))]
    if pairs:
        lines += ["", "## The search's estimates beside those of the same seed with alpha frozen (agreement of the "
                  "k-th estimates over the per-edge centred values: 1 the same order of ops, 0 unrelated)", "",
                  tables.format_table(["method", "alpha frozen", "seed", "updates", "agreement per update", "mean"],
                                      [[label, frozen, seed, len(a), " ".join(f"{x:+.2f}" for x in a),
                                        f"{np.mean(a):+.2f}"] for label, frozen, seed, a in pairs])]
    noise = [(m["label"], s["seed"], n) for m in methods for s in m["seeds"] if (n := estimate_noise(s))]
    if noise:
        def mean(values, digits=2):
            values = np.asarray(values, float)  # None -> NaN
            return f"{np.nanmean(values):.{digits}f}" if np.isfinite(values).any() else "-"

        lines += ["", "## The estimate's noise at each Shapley update (the runs' own diagnostics; agreement: with "
                  "the mean of the earlier estimates, 0 is what noise gives; noise ratio: mean standard error / mean "
                  "|per-edge centred estimate|)", "",
                  tables.format_table(
                      ["method", "seed", "updates", "agreement: mean / last", "noise ratio: mean",
                       "players per chain", "full value: first / last"],
                      [[label, seed, len(n["agreement"]),
                        f"{mean(n['agreement'][1:])} / {mean(n['agreement'][-1:])}", mean(n["noise_ratio"]),
                        mean(n["chain_players"], 1),
                        f"{mean(n['value_full'][:1], 3)} / {mean(n['value_full'][-1:], 3)}"] for label, seed, n in noise])]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    written = [out / "report.md"]
    if noise:
        plot_estimate_noise(methods, out / "estimate_noise.png")
        written.append(out / "estimate_noise.png")
    plot_curves(methods, out / "curves.png")
    written.append(out / "curves.png")
    for method in methods:
        first = method["seeds"][0] if method["seeds"] else None
        if first and first["epochs"] and cell_follows_alpha(first):
            slug = re.sub(r"[^a-z0-9]+", "_", method["label"].lower()).strip("_")
            space = first["results"]["space"]
            plots.plot_alpha_grid(first["epochs"], space["edge_ops"], 0, space["cell_types"][0],
                                  path=out / f"op_strengths_{slug}.png")
            written.append(out / f"op_strengths_{slug}.png")
    if corr:
        plot_correlation(corr, out / "correlation.png")
        written.append(out / "correlation.png")
    data = {"benchmark": benchmark_path, "methods": {m["label"]: {
        "root": m["root"], "table5": summary[m["label"]], "unfinished": m["unfinished"],
        "in_progress": [{"seed": s["seed"], "epochs": len(s["epochs"])} for s in m["in_progress"]],
        "seeds": [{"seed": s["seed"], "genotype_str": s["results"]["genotype_str"], "seconds": s["seconds"],
                   "skip_count": s["results"].get("skip_count"), "current_cell": current_cell_path(s)}
                  for s in m["seeds"]], "recorded": m["recorded"]} for m in methods},
        "correlation": {k: {"taus": v["taus"], "tau": v["tau"]} for k, v in corr.items()},
        "update_agreement": {label: {str(seed): a for seed, a in seeds} for label, seeds in agreement.items()},
        "op_preferences": [{"method": label, "seed": seed, "ops": p} for label, seed, p in preferences],
        "alpha_frozen_agreement": [{"method": label, "alpha_frozen": frozen, "seed": seed, "agreement": a}
                                   for label, frozen, seed, a in pairs],
        "estimate_noise": [{"method": label, "seed": seed, **n} for label, seed, n in noise]}
    (out / "report.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    written.append(out / "report.json")
    return {"markdown": "\n".join(lines), "written": written, **data}
