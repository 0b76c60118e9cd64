"""Tests of the NAS-Bench-201 lookup (benchmarks/nb201.py)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from shapley_nas_jax.spaces.nb201 import arch_from_ops
from shapley_nas_jax.benchmarks import nb201
from shapley_nas_jax.errors import UserError
from shapley_nas_jax.benchmarks.nb201 import (
    NB201Table,
    NatsBenchAPI,
    UnknownArchError,
    load_benchmark,
    query_main,
    random_search,
)

SHARED_CSV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nb201" / "nb201_200ep.csv.gz"

ARCH_A = arch_from_ops(["nor_conv_3x3"] * 6)
ARCH_B = arch_from_ops(["skip_connect"] * 6)
ARCH_C = arch_from_ops(["none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3", "skip_connect", "none"])

# Columns of the shared file, including ones the adapter ignores.
HEADER = [
    "index", "arch_str", "cifar10_valid", "cifar10_test", "cifar10valid_test", "cifar10valid_train",
    "cifar100_valid", "cifar100_test", "cifar100_train", "imagenet16_valid", "imagenet16_test", "imagenet16_train",
]
# arch -> (c10 valid, c10 test, c100 valid, c100 test, in16 valid, in16 test)
VALUES = {
    ARCH_A: (91.0, 94.0, 72.0, 73.0, 45.0, 46.0),
    ARCH_B: (80.0, 85.0, 74.0, 60.0, 30.0, 31.0),
    ARCH_C: (92.0, 93.0, 50.0, 51.0, 47.0, 20.0),
}


def write_table(path: Path, values=VALUES, compress: bool = False) -> Path:
    opener = gzip.open if compress else open
    with opener(path, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i, (arch, (c10v, c10t, c100v, c100t, i16v, i16t)) in enumerate(values.items()):
            writer.writerow([i, arch, c10v, c10t, 1.0, 2.0, c100v, c100t, 3.0, i16v, i16t, 4.0])
    return path


@pytest.fixture()
def table(tmp_path: Path) -> NB201Table:
    return NB201Table(write_table(tmp_path / "nb201.csv"))


def test_query_values(table):
    result = table.query(ARCH_A)
    assert result == {
        "cifar10": {"valid": 91.0, "test": 94.0},
        "cifar100": {"valid": 72.0, "test": 73.0},
        "imagenet16": {"valid": 45.0, "test": 46.0},
    }
    assert table.accuracy(ARCH_C, "imagenet16", "valid") == 47.0
    assert len(table) == 3
    assert list(table.archs()) == [ARCH_A, ARCH_B, ARCH_C]


def test_query_strips_whitespace(table):
    padded = "  " + ARCH_B.replace("+", " + ") + "\n"
    assert table.query(padded)["cifar10"]["test"] == 85.0
    assert padded in table


def test_best_per_dataset_and_metric(table):
    assert table.best("cifar10", "test")[0] == ARCH_A
    assert table.best("cifar10", "valid")[0] == ARCH_C
    assert table.best("cifar100", "valid")[0] == ARCH_B
    assert table.best("cifar100")[0] == ARCH_A
    arch, accuracies = table.best("imagenet16", "valid")
    assert arch == ARCH_C and accuracies["imagenet16"] == {"valid": 47.0, "test": 20.0}
    optimum = table.column_optimum()
    assert optimum["cifar10"] == {"valid": 92.0, "test": 94.0}
    assert optimum["imagenet16"] == {"valid": 47.0, "test": 46.0}
    with pytest.raises(ValueError, match="unknown dataset"):
        table.best("mnist")


def test_unknown_arch_error_is_one_line(table):
    missing = arch_from_ops(["avg_pool_3x3"] * 6)
    with pytest.raises(KeyError) as info:
        table.query(missing)
    message = str(info.value)
    assert "\n" not in message
    assert "is not in the benchmark" in message
    assert "|nor_conv_3x3~0|+" in message  # shows a valid example
    with pytest.raises(UnknownArchError, match="not a well-formed"):
        table.query("|conv~0|+|conv~0|")


def test_missing_file_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        NB201Table(tmp_path / "absent.csv")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_benchmark(tmp_path / "absent.csv.gz")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_benchmark(str(tmp_path / "NATS-tss-v1_0-3ffb9-simple"))


def test_missing_column_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("arch_str,cifar10_valid\nx,1\n")
    with pytest.raises(ValueError, match="lacks column"):
        NB201Table(path)


def test_gzip_table_and_load_benchmark(tmp_path):
    path = write_table(tmp_path / "nb201.csv.gz", compress=True)
    benchmark = load_benchmark(path)
    assert isinstance(benchmark, NB201Table)
    assert benchmark.query(ARCH_C)["cifar100"] == {"valid": 50.0, "test": 51.0}


def test_load_benchmark_without_nats_bench(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_nats(name, *args, **kwargs):
        if name.startswith("nats_bench"):
            raise ImportError("No module named 'nats_bench'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_nats)
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    with pytest.raises(ImportError) as info:
        load_benchmark(folder)
    assert "pip install 'shapley-nas-jax[nats]'" in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UserError)  # the CLI prints it as one line


class FakeNatsAPI:
    """Mimics the nats_bench tss API: only the methods the adapter uses, recording its calls."""

    def __init__(self):
        self.meta_archs = [ARCH_A, ARCH_B]
        self.calls = []

    def __len__(self):
        return len(self.meta_archs)

    def arch(self, index):
        return self.meta_archs[index]

    def query_index_by_arch(self, arch):
        return self.meta_archs.index(arch) if arch in self.meta_archs else -1

    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True):
        self.calls.append((index, dataset, hp, is_random))
        base = 10.0 * (index + 1)
        # Key sets as the real get_more_info returns them for each dataset name.
        if dataset == "cifar10-valid":
            return {"train-accuracy": 0.0, "valid-accuracy": base + 1, "test-accuracy": base + 2}
        if dataset == "cifar10":
            return {"train-accuracy": 0.0, "test-accuracy": base + 3}
        if dataset == "cifar100":
            return {"valid-accuracy": base + 4, "test-accuracy": base + 5, "valtest-accuracy": base + 99}
        if dataset == "ImageNet16-120":
            return {"valid-accuracy": base + 6, "test-accuracy": base + 7, "valtest-accuracy": base + 99}
        raise ValueError(f"fake api: unknown dataset {dataset}")


def test_nats_adapter_queries_hp200_and_right_names():
    fake = FakeNatsAPI()
    benchmark = load_benchmark(fake)
    assert isinstance(benchmark, NatsBenchAPI)
    result = benchmark.query(ARCH_B)
    assert result == {
        "cifar10": {"valid": 21.0, "test": 23.0},
        "cifar100": {"valid": 24.0, "test": 25.0},
        "imagenet16": {"valid": 26.0, "test": 27.0},
    }
    assert {c[1] for c in fake.calls} == {"cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"}
    assert all(hp == "200" and is_random is False for _, _, hp, is_random in fake.calls)
    assert all(index == 1 for index, *_ in fake.calls)
    # cached: a second query makes no calls
    count = len(fake.calls)
    benchmark.query(ARCH_B)
    assert len(fake.calls) == count
    assert benchmark.best("cifar10", "test")[0] == ARCH_B
    assert list(benchmark.archs()) == [ARCH_A, ARCH_B]
    with pytest.raises(KeyError, match="is not in the benchmark"):
        benchmark.query(ARCH_C)


def test_random_search_covers_all_finds_best(tmp_path):
    rng = np.random.default_rng(3)
    values = {}
    for i in range(40):
        ops = rng.integers(0, 5, size=6)
        values[arch_from_ops(list(ops))] = tuple(float(v) for v in rng.uniform(10, 90, size=6))
    benchmark = NB201Table(write_table(tmp_path / "t.csv", values))
    expected_arch = max(values, key=lambda a: values[a][0])  # cifar10 valid
    arch, accuracies, history = random_search(benchmark, num_samples=len(benchmark) + 5, seed=0)
    assert arch == expected_arch
    assert accuracies["cifar10"]["valid"] == values[expected_arch][0]
    assert len(history) == len(benchmark)
    assert sorted(h["arch"] for h in history) == sorted(values)
    best_scores = [h["best_score"] for h in history]
    assert best_scores == sorted(best_scores) and best_scores[-1] == values[expected_arch][0]
    # a smaller budget: deterministic in the seed, best of what it sampled
    arch5, _, history5 = random_search(benchmark, 5, seed=1, dataset="cifar100", metric="test")
    assert len(history5) == 5
    assert arch5 == max((h["arch"] for h in history5), key=lambda a: values[a][3])
    assert random_search(benchmark, 5, seed=1, dataset="cifar100", metric="test")[2] == history5


def test_query_main_table_and_json(tmp_path):
    path = str(write_table(tmp_path / "nb201.csv"))
    as_json = json.loads(query_main(ARCH_A, path, best=False, as_json=True))
    assert as_json == {
        "cifar10": {"valid": 91.0, "test": 94.0},
        "cifar100": {"valid": 72.0, "test": 73.0},
        "imagenet16": {"valid": 45.0, "test": 46.0},
    }
    text = query_main(ARCH_A, path, best=False, as_json=False)
    assert "94.00" in text and "imagenet16" in text and ARCH_A in text
    best_json = json.loads(query_main(None, path, best=True, as_json=True))
    assert best_json["cifar10"] == {"arch": ARCH_A, "valid": 91.0, "test": 94.0}
    assert best_json["imagenet16"]["arch"] == ARCH_A
    best_text = query_main(None, path, best=True, as_json=False)
    assert "optimal" in best_text and ARCH_A in best_text
    with pytest.raises(ValueError):
        query_main(None, path, best=False, as_json=False)


@pytest.mark.data
@pytest.mark.skipif(not SHARED_CSV.is_file(), reason="shared NB201 table ../shared/data/nb201 not present")
def test_shared_table_spot_values():
    benchmark = load_benchmark(SHARED_CSV)
    assert len(benchmark) == 15625
    assert benchmark.best("cifar10", "test")[1]["cifar10"]["test"] == pytest.approx(94.3733, abs=1e-4)
    assert benchmark.best("cifar100", "test")[1]["cifar100"]["test"] == pytest.approx(73.5133, abs=1e-4)
    assert benchmark.best("imagenet16", "test")[1]["imagenet16"]["test"] == pytest.approx(47.3111, abs=1e-4)
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    result = benchmark.query(arch)
    rounded = {d: {m: round(v, 2) for m, v in r.items()} for d, r in result.items()}
    assert rounded == {
        "cifar10": {"valid": 91.55, "test": 94.36},
        "cifar100": {"valid": 73.49, "test": 73.51},
        "imagenet16": {"valid": 46.37, "test": 46.34},
    }


def test_module_documents_nats_mapping():
    assert nb201.NATS_QUERIES[("cifar10", "valid")] == ("cifar10-valid", "valid-accuracy")
    assert nb201.NATS_QUERIES[("cifar10", "test")] == ("cifar10", "test-accuracy")
    assert nb201.NATS_HP == "200"
