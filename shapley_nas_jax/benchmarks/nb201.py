"""NAS-Bench-201 lookup: what did a discrete NB201 architecture score (200-epoch training).

Two back ends answer the same questions:

* ``NB201Table`` reads a CSV table (optionally gzipped) with one row per architecture: an
  ``arch_str`` column and the accuracy columns listed in ``TABLE_COLUMNS``.
* ``NatsBenchAPI`` wraps the official NATS-Bench topology file (``tss``) through the optional
  ``nats_bench`` package (``pip install 'shapley-nas-jax[nats]'``).

Every accuracy is in percent, averaged over the benchmark's training seeds, after 200 epochs.
Datasets and metrics follow the Shapley-NAS paper's Table 5:

================  =======================================  ==========================================
key               ``valid``                                ``test``
================  =======================================  ==========================================
``cifar10``       trained on the 25k half of CIFAR-10      trained on the full 50k train set, tested
                  train ("cifar10-valid"), evaluated on     on the 10k test set ("cifar10",
                  the other 25k ("x-valid")                 "ori-test")
``cifar100``      "cifar100", "x-valid" half of test set   "cifar100", "x-test" half of test set
``imagenet16``    "ImageNet16-120", "x-valid"              "ImageNet16-120", "x-test"
================  =======================================  ==========================================

NATS-Bench mapping (``api.get_more_info(index, name, hp="200", is_random=False)``, from the
public ``nats_bench`` code): for ``"cifar10-valid"`` the dict holds ``valid-accuracy`` (x-valid)
and ``test-accuracy`` (ori-test of the model trained on the 25k split; *not* Table 5's test
column); for ``"cifar10"`` it holds ``test-accuracy`` (ori-test of the model trained on all 50k)
and no ``valid-accuracy``; for ``"cifar100"`` and ``"ImageNet16-120"`` it holds
``valid-accuracy`` (x-valid), ``test-accuracy`` (x-test) and ``valtest-accuracy`` (ori-test =
both halves). ``NATS_QUERIES`` encodes the choice made here.

About "best": the paper's "optimal" row lists the best value of *each column independently*
(e.g. the arch with the best CIFAR-10 valid accuracy is not the one with the best CIFAR-10 test
accuracy). ``best(dataset, metric)`` returns the single arch that maximises the chosen column
together with all its accuracies; ``column_optimum`` gives the per-column maximum.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from shapley_nas_jax.spaces.nb201 import (
    arch_format_hint,
    nb201_ops_from_arch,
    normalize_arch,
)
from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError, UnknownNameError, UserError

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16")
"""Dataset keys of every query result."""

METRICS: tuple[str, ...] = ("valid", "test")
"""Metric keys under each dataset."""

TABLE_COLUMNS: dict[tuple[str, str], str] = {
    ("cifar10", "valid"): "cifar10_valid",
    ("cifar10", "test"): "cifar10_test",
    ("cifar100", "valid"): "cifar100_valid",
    ("cifar100", "test"): "cifar100_test",
    ("imagenet16", "valid"): "imagenet16_valid",
    ("imagenet16", "test"): "imagenet16_test",
}
"""CSV column holding each (dataset, metric) accuracy in percent."""

NATS_QUERIES: dict[tuple[str, str], tuple[str, str]] = {
    ("cifar10", "valid"): ("cifar10-valid", "valid-accuracy"),
    ("cifar10", "test"): ("cifar10", "test-accuracy"),
    ("cifar100", "valid"): ("cifar100", "valid-accuracy"),
    ("cifar100", "test"): ("cifar100", "test-accuracy"),
    ("imagenet16", "valid"): ("ImageNet16-120", "valid-accuracy"),
    ("imagenet16", "test"): ("ImageNet16-120", "test-accuracy"),
}
"""(dataset, metric) -> (NATS-Bench dataset name, ``get_more_info`` key)."""

NATS_HP = "200"
"""Training-epoch setting queried from NATS-Bench (``"12"`` is the low-fidelity one)."""

NATS_INSTALL_HINT = (
    "reading the official NATS-Bench file needs the nats_bench package: "
    "pip install 'shapley-nas-jax[nats]' (or pass a .csv/.csv.gz table instead)"
)

Accuracies = dict[str, dict[str, float]]
"""``{"cifar10": {"valid": float, "test": float}, "cifar100": {...}, "imagenet16": {...}}``."""


class MissingDependencyError(UserError, ImportError):
    """An optional package is needed (an ImportError the CLI prints as one line)."""


class UnknownArchError(UserError, KeyError):
    """The arch string is not in the benchmark (a KeyError whose message prints without quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _check_key(dataset: str, metric: str) -> None:
    if dataset not in DATASETS:
        raise UnknownNameError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if metric not in METRICS:
        raise UnknownNameError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def _unknown_arch(arch_str: str) -> UnknownArchError:
    try:
        nb201_ops_from_arch(arch_str)
        what = "is not in the benchmark"
    except ValueError:
        what = "is not a well-formed NB201 arch string, so it is not in the benchmark"
    return UnknownArchError(f"arch {arch_str!r} {what}; {arch_format_hint()}")


class NB201Benchmark:
    """Common interface of the NB201 back ends.

    Subclasses provide ``archs()``, ``__len__`` and ``_lookup(arch) -> Accuracies`` (arch already
    normalised; raises ``UnknownArchError``), and may override ``_column(dataset, metric)``.
    """

    def archs(self) -> Iterator[str]:
        """Iterate over every arch string of the benchmark, in benchmark index order."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _lookup(self, arch: str) -> Accuracies:
        raise NotImplementedError

    def __contains__(self, arch_str: object) -> bool:
        if not isinstance(arch_str, str):
            return False
        try:
            self._lookup(normalize_arch(arch_str))
        except UnknownArchError:
            return False
        return True

    def query(self, arch_str: str) -> Accuracies:
        """Accuracies (percent) of one architecture.

        Args:
          arch_str: NB201 arch string; whitespace is ignored.

        Returns:
          ``{"cifar10": {"valid": v, "test": t}, "cifar100": {...}, "imagenet16": {...}}``.

        Raises:
          UnknownArchError (a KeyError): the arch is not in the benchmark.
        """
        return self._lookup(normalize_arch(arch_str))

    def accuracy(self, arch_str: str, dataset: str = "cifar10", metric: str = "test") -> float:
        """One accuracy (percent) of one architecture."""
        _check_key(dataset, metric)
        return self.query(arch_str)[dataset][metric]

    def _column(self, dataset: str, metric: str) -> np.ndarray:
        """float64 ``[len(self)]``: the chosen accuracy of every arch, in ``archs()`` order."""
        return np.array([self._lookup(a)[dataset][metric] for a in self.archs()], dtype=np.float64)

    def best(self, dataset: str = "cifar10", metric: str = "test") -> tuple[str, Accuracies]:
        """The architecture with the highest ``metric`` accuracy on ``dataset``.

        Ties go to the lowest benchmark index; NaN entries are ignored.

        Returns:
          ``(arch_str, accuracies)`` with all of that arch's accuracies (see ``query``).
        """
        _check_key(dataset, metric)
        column = self._column(dataset, metric)
        if column.size == 0 or not np.isfinite(column).any():
            raise InvalidInputError(f"the benchmark holds no {dataset} {metric} accuracies")
        index = int(np.nanargmax(column))
        arch = next(a for i, a in enumerate(self.archs()) if i == index)
        return arch, self._lookup(arch)

    def column_optimum(self) -> Accuracies:
        """The best value of every (dataset, metric) column independently (Table 5 "optimal")."""
        return {
            d: {m: float(np.nanmax(self._column(d, m))) for m in METRICS} for d in DATASETS
        }


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return open(path, "r", newline="", encoding="utf-8")


def _to_float(text: str | None) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


class NB201Table(NB201Benchmark):
    """NB201 results read from a CSV table (plain or gzip-compressed; detected from the content).

    The table needs an ``arch_str`` column and the six columns of ``TABLE_COLUMNS``; other columns
    are ignored; empty or non-numeric cells read as NaN. Rows keep the file order (the benchmark
    index order for the shared file); a repeated arch keeps its first row.

    Attributes:
      path: the file read.
      accuracies: float64 ``[num_archs, 3, 2]`` indexed ``[arch, DATASETS.index, METRICS.index]``.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        if not self.path.is_file():
            raise PathNotFoundError(f"NB201 table not found: {self.path}")
        with _open_text(self.path) as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            needed = ["arch_str", *TABLE_COLUMNS.values()]
            missing = [c for c in needed if c not in fields]
            if missing:
                raise InvalidInputError(f"NB201 table {self.path} lacks column(s) {', '.join(missing)}")
            archs: list[str] = []
            rows: list[list[float]] = []
            index: dict[str, int] = {}
            for row in reader:
                arch = normalize_arch(row["arch_str"] or "")
                if not arch or arch in index:
                    continue
                index[arch] = len(archs)
                archs.append(arch)
                rows.append([_to_float(row[TABLE_COLUMNS[(d, m)]]) for d in DATASETS for m in METRICS])
        self._archs = archs
        self._index = index
        self.accuracies = np.asarray(rows, dtype=np.float64).reshape(len(archs), len(DATASETS), len(METRICS))

    def archs(self) -> Iterator[str]:
        return iter(self._archs)

    def __len__(self) -> int:
        return len(self._archs)

    def _lookup(self, arch: str) -> Accuracies:
        row = self._index.get(arch)
        if row is None:
            raise _unknown_arch(arch)
        values = self.accuracies[row]
        return {
            d: {m: float(values[i, j]) for j, m in enumerate(METRICS)} for i, d in enumerate(DATASETS)
        }

    def _column(self, dataset: str, metric: str) -> np.ndarray:
        return self.accuracies[:, DATASETS.index(dataset), METRICS.index(metric)]

    def best(self, dataset: str = "cifar10", metric: str = "test") -> tuple[str, Accuracies]:
        _check_key(dataset, metric)
        column = self._column(dataset, metric)
        if column.size == 0 or not np.isfinite(column).any():
            raise InvalidInputError(f"the benchmark holds no {dataset} {metric} accuracies")
        arch = self._archs[int(np.nanargmax(column))]
        return arch, self._lookup(arch)


class NatsBenchAPI(NB201Benchmark):
    """NB201 results from the official NATS-Bench topology benchmark (``tss``).

    Args:
      path_or_api: path of the benchmark file or directory (e.g. ``NATS-tss-v1_0-3ffb9-simple``),
        ``None`` for the ``nats_bench`` default location (``$TORCH_HOME``), or an already created
        API object offering ``query_index_by_arch``, ``get_more_info``, ``arch`` and ``len()``.

    Every query uses ``hp="200"`` and ``is_random=False`` (the mean over seeds) with the dataset
    names and keys of ``NATS_QUERIES``. Results are cached per arch. ``best`` and
    ``column_optimum`` scan all 15,625 archs, which with ``fast_mode=True`` loads every arch's
    record from disk (minutes); prefer a CSV table for those.
    """

    def __init__(self, path_or_api: Any = None):
        if path_or_api is None or isinstance(path_or_api, (str, os.PathLike)):
            if path_or_api is not None and not Path(path_or_api).exists():
                raise PathNotFoundError(f"NATS-Bench file not found: {path_or_api}")
            try:
                from nats_bench import create  # type: ignore[import-not-found]
            except ImportError:
                raise MissingDependencyError(NATS_INSTALL_HINT) from None
            path = None if path_or_api is None else str(path_or_api)
            self.api = create(path, "tss", fast_mode=True, verbose=False)
        else:
            self.api = path_or_api
        self._cache: dict[str, Accuracies] = {}

    def archs(self) -> Iterator[str]:
        for index in range(len(self.api)):
            yield normalize_arch(self.api.arch(index))

    def __len__(self) -> int:
        return len(self.api)

    def _lookup(self, arch: str) -> Accuracies:
        cached = self._cache.get(arch)
        if cached is not None:
            return cached
        try:
            nb201_ops_from_arch(arch)
        except ValueError:
            raise _unknown_arch(arch) from None
        index = self.api.query_index_by_arch(arch)
        if index is None or int(index) < 0:
            raise _unknown_arch(arch)
        infos: dict[str, Mapping[str, Any]] = {}
        result: Accuracies = {d: {} for d in DATASETS}
        for (dataset, metric), (nats_name, key) in NATS_QUERIES.items():
            if nats_name not in infos:
                infos[nats_name] = self.api.get_more_info(int(index), nats_name, hp=NATS_HP, is_random=False)
            value = infos[nats_name].get(key)
            result[dataset][metric] = float("nan") if value is None else float(value)
        self._cache[arch] = result
        return result


def _is_table_path(path: Any) -> bool:
    if not isinstance(path, (str, os.PathLike)):
        return False
    name = Path(path).name.lower()
    return name.endswith((".csv", ".csv.gz"))


def load_benchmark(path: Any) -> NB201Benchmark:
    """Open an NB201 benchmark, choosing the back end from ``path``.

    Args:
      path: a ``.csv`` / ``.csv.gz`` file -> ``NB201Table``; any other path, ``None`` (the
        nats_bench default location) or an API object -> ``NatsBenchAPI``; an ``NB201Benchmark``
        is returned as is.

    Raises:
      FileNotFoundError: the path does not exist.
      MissingDependencyError (an ImportError): a NATS-Bench file was given but ``nats_bench`` is
        not installed.
    """
    if isinstance(path, NB201Benchmark):
        return path
    if isinstance(path, (str, os.PathLike)) and not Path(path).exists():
        raise PathNotFoundError(f"NB201 benchmark not found: {path}")
    if _is_table_path(path):
        return NB201Table(path)
    return NatsBenchAPI(path)


def random_search(
    benchmark: NB201Benchmark,
    num_samples: int,
    seed: int,
    dataset: str = "cifar10",
    metric: str = "valid",
) -> tuple[str, Accuracies, list[dict[str, Any]]]:
    """Random-search baseline with a fixed budget, scored by the benchmark.

    Draws ``num_samples`` distinct architectures uniformly (without replacement; the whole space
    if the budget covers it) and keeps the one with the highest ``metric`` accuracy on ``dataset``
    (ties: the earliest sampled).

    Returns:
      ``(best_arch, accuracies, history)``: ``accuracies`` are all of best_arch's accuracies (see
      ``NB201Benchmark.query``); ``history`` has one dict per sample, in sampling order, with keys
      ``step`` (int), ``arch`` (str), ``score`` (float, percent), ``best_arch`` (str) and
      ``best_score`` (float, percent, the running maximum).
    """
    _check_key(dataset, metric)
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    archs = list(benchmark.archs())
    if not archs:
        raise ValueError("the benchmark holds no architectures")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(archs))[:num_samples]
    best_arch, best_score = None, -np.inf
    history: list[dict[str, Any]] = []
    for step, i in enumerate(order):
        arch = archs[int(i)]
        score = benchmark.accuracy(arch, dataset, metric)
        if best_arch is None or score > best_score:
            best_arch, best_score = arch, score
        history.append(
            {"step": step, "arch": arch, "score": score, "best_arch": best_arch, "best_score": float(best_score)}
        )
    assert best_arch is not None
    return best_arch, benchmark.query(best_arch), history


def _format_table(rows: list[tuple[str, Mapping[str, float]]]) -> list[str]:
    lines = [f"{'dataset':<12}{'valid':>8}{'test':>8}"]
    for name, acc in rows:
        lines.append(f"{name:<12}{acc['valid']:>8.2f}{acc['test']:>8.2f}")
    return lines


def query_main(
    arch: str | None,
    benchmark_path: str | None,
    best: bool = False,
    as_json: bool = False,
) -> str:
    """Text printed by ``shapley-nas query``.

    Args:
      arch: NB201 arch string to look up (ignored when ``best``).
      benchmark_path: CSV table or NATS-Bench file (see ``load_benchmark``).
      best: report, per dataset, the arch with the best test accuracy and its valid/test
        accuracies, plus the column-wise optimum (Table 5's "optimal" row).
      as_json: return one JSON object instead of a text table. For an arch it is exactly
        ``{"cifar10": {"valid": v, "test": t}, "cifar100": {...}, "imagenet16": {...}}``; with
        ``best`` it is ``{dataset: {"arch": str, "valid": v, "test": t}}``.

    Returns:
      the text (no trailing newline). Accuracies are percent.
    """
    benchmark = load_benchmark(benchmark_path)
    if best:
        per_dataset = {}
        for dataset in DATASETS:
            best_arch, accuracies = benchmark.best(dataset, "test")
            per_dataset[dataset] = {"arch": best_arch, **accuracies[dataset]}
        if as_json:
            return json.dumps(per_dataset)
        lines = ["best architecture per dataset (by test accuracy):"]
        for dataset in DATASETS:
            lines.append(f"  {dataset}: {per_dataset[dataset]['arch']}")
        lines += _format_table([(d, per_dataset[d]) for d in DATASETS])
        optimum = benchmark.column_optimum()
        lines.append("optimal value of each column independently:")
        lines += _format_table([(d, optimum[d]) for d in DATASETS])
        return "\n".join(lines)
    if arch is None:
        raise ValueError("give an NB201 arch string to query, or ask for the best architectures")
    accuracies = benchmark.query(arch)
    if as_json:
        return json.dumps(accuracies)
    lines = [f"arch: {normalize_arch(arch)}"]
    lines += _format_table([(d, accuracies[d]) for d in DATASETS])
    return "\n".join(lines)
