"""A run's workdir: resolved config, environment, metrics log and results.

Layout of a workdir:

    config.json        the resolved config (a rerun with a different config is refused)
    environment.json   seed, command line, Python/JAX/Flax/optax/orbax/numpy versions, devices, CPU
    metrics.jsonl      one JSON object per line (``{"kind": "epoch", ...}``, ``{"kind": "alpha_update", ...}``)
    events/            TensorBoard event file when ``tensorboardX`` is installed
    checkpoints/       orbax checkpoints of the whole search state
    results.json       the found genotype, alpha, last Shapley values, config (written at the end)
    plots/             figures written by ``shapley-nas plot`` (and during a search with ``search.plot_every_epochs``)

The workdir may be a local path or a URL ``etils.epath`` opens (``gs://bucket/run``). On several hosts only
process 0 writes these files; every process reads them and calls orbax for the checkpoints. ``RunDir`` and
``MetricsLog`` write a run; ``RunRecord`` is the one reader of a finished (or running) run's files, for the CLI,
the analyses and the experiment scripts.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import platform
import re
import sys
from typing import Any, Iterable

import jax
import ml_collections
from etils import epath

from shapley_nas_jax import hardware
from shapley_nas_jax.errors import InvalidInputError, PathNotFoundError, UserError, WorkdirConflictError

_VERSIONED_PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "chex", "numpy", "ml-collections",
                       "tensorflow-datasets", "shapley-nas-jax")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment(seed: int) -> dict[str, Any]:
    return {
        "seed": seed,
        "command": sys.argv,
        "versions": package_versions(),
        "platform": platform.platform(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "cpu": hardware.cpu_identity(),
    }


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        flat = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: tree}


def _as_dict(config: ml_collections.ConfigDict | dict | None) -> dict:
    if isinstance(config, ml_collections.ConfigDict):
        return json.loads(config.to_json_best_effort())
    return config or {}


def config_differences(old: dict, new, defaults=None) -> list[str]:
    """Human-readable `key: old -> new` lines for every differing leaf. A key absent from ``old`` (a run
    started before the key existed) whose new value is its value in ``defaults`` is no difference: a new key's
    default keeps the behaviour it had before. ``new`` and ``defaults`` may be ConfigDicts."""
    flat_old, flat_new, flat_defaults = _flatten(old), _flatten(_as_dict(new)), _flatten(_as_dict(defaults))
    keys = sorted(set(flat_old) | set(flat_new))
    return [f"{k}: {flat_old.get(k, '<absent>')!r} -> {flat_new.get(k, '<absent>')!r}"
            for k in keys if flat_old.get(k, "<absent>") != flat_new.get(k, "<absent>")
            and not (k not in flat_old and k in flat_defaults and flat_new.get(k) == flat_defaults[k])]


def is_url(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an object store location such as ``gs://bucket/run`` rather than a local path."""
    return "://" in os.fspath(path)


def absolute_path(path: str | os.PathLike) -> epath.Path:
    """``path`` as an ``etils.epath.Path``: a local path made absolute, a URL (``gs://bucket/run``) kept as is."""
    return epath.Path(path) if is_url(path) else epath.Path(os.path.abspath(path))


def is_writer() -> bool:
    """Whether this process writes the workdir's logs and JSON files: process 0 only (every process computes
    the same values; checkpoints are orbax's business, which all processes call)."""
    return jax.process_index() == 0


class _Workdir:
    """A run's workdir: a local path (made absolute) or a URL that ``etils.epath`` opens."""

    def __init__(self, workdir: str | os.PathLike):
        self.root = absolute_path(workdir)
        self.path = os.fspath(self.root)

    def file(self, name: str) -> str:
        return os.fspath(self.root / name)

    @property
    def checkpoint_dir(self) -> str:
        return self.file("checkpoints")


class RunDir(_Workdir):
    """Writes the files of one run's workdir (process 0 only) and refuses to mix two configs in it."""

    def prepare(self, config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict | None = None) -> None:
        """Create the workdir, or check that an existing one was started with the same config (keys added to
        the schema since then count as equal where they hold their ``defaults`` value)."""
        if is_writer():
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UserError(f"cannot create workdir {self.path}: {error}; pass a writable --workdir") from None
        saved = RunRecord(self.root).config
        if saved is not None:
            diffs = config_differences(saved, config, defaults)
            if diffs:
                raise WorkdirConflictError(
                    f"workdir {self.path} holds a run with a different config ({'; '.join(diffs[:3])}"
                    f"{'; ...' if len(diffs) > 3 else ''}); use a new --workdir or the same config to resume"
                )
        else:
            self.write_json("config.json", _as_dict(config))
        self.write_json("environment.json", environment(config.seed))

    def write_json(self, name: str, payload: Any) -> None:
        if not is_writer():
            return
        tmp = self.root / (name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(self.root / name)  # a reader never sees half a file


def read_records(file: epath.Path) -> list[dict]:
    """The JSON objects of a ``.jsonl`` file, one per non-empty line; [] where the file does not exist."""
    if not file.exists():
        return []
    records = []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{file}:{number} is not valid JSON ({error.msg})") from None
    return records


class RunRecord(_Workdir):
    """What one run's workdir holds, each file read on first use: ``config`` (config.json), ``environment``,
    ``results`` (results.json: None until the run has finished) and ``metrics`` (metrics.jsonl's records);
    each is None where its file does not exist. The one reader of run directories: the CLI, the analyses and
    the experiment scripts read runs through it, local or at a URL (``gs://bucket/run``)."""

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> RunRecord:
        """The run in ``workdir``; PathNotFoundError where there is no such directory."""
        record = cls(workdir)
        if not record.root.is_dir():
            raise PathNotFoundError(f"run directory not found: {workdir}")
        return record

    def _json(self, name: str) -> Any:
        file = self.root / name
        if not file.exists():
            return None
        try:
            return json.loads(file.read_text())
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"{file} is not valid JSON ({error.msg})") from None

    @functools.cached_property
    def config(self) -> dict | None:
        return self._json("config.json")

    @functools.cached_property
    def environment(self) -> dict | None:
        return self._json("environment.json")

    @functools.cached_property
    def results(self) -> dict | None:
        return self._json("results.json")

    @functools.cached_property
    def metrics(self) -> list[dict] | None:
        file = self.root / "metrics.jsonl"
        return read_records(file) if file.exists() else None

    def records(self, kind: str) -> list[dict]:
        """The metrics records of one kind (``epoch``, ``alpha_update``, ...), in the order written."""
        return [r for r in self.metrics or [] if r.get("kind") == kind]

    def config_differences(self, config, defaults=None) -> list[str]:
        """`key: stored -> given` for every leaf where ``config`` differs from the run's config, keys the run
        predates counting as equal at their ``defaults`` value (see ``config_differences``)."""
        return config_differences(self.config or {}, config, defaults)


def seed_runs(root: str | os.PathLike) -> dict[int, RunRecord]:
    """The run directory of each seed under ``root`` (a multi-seed root, as ``scripts/run_seeds.py`` writes),
    by seed in increasing order; {} where ``root`` does not exist. A seed's run is ``seed<k>``, else the member
    of that seed of a finished population without a grid (``root`` itself or a directory in it, holding
    ``population.json``: ``search/population.py``)."""
    root = absolute_path(root)
    if not root.is_dir():
        return {}
    found = {int(match[1]): RunRecord(path) for path in root.iterdir()
             if (match := re.fullmatch(r"seed(\d+)", path.name)) and path.is_dir()}
    for population in [root, *(path for path in root.iterdir() if path.is_dir())]:
        summary = population / "population.json"
        if not summary.exists():
            continue
        info = json.loads(summary.read_text())
        if info.get("grid"):  # members share seeds: no one run per seed
            continue
        for row in info["members"]:
            found.setdefault(int(row["seed"]), RunRecord(population / f"member{row['member']}"))
    return dict(sorted(found.items()))


class MetricsLog:
    """Appends JSON records to metrics.jsonl (and scalars to TensorBoard when tensorboardX is installed).

    On resume, `truncate_after(step)` drops records written after the restored checkpoint, so the log of
    a resumed run equals that of an uninterrupted one. Only process 0 writes.
    """

    def __init__(self, rundir: RunDir):
        self._file = rundir.root / "metrics.jsonl"
        self.path = os.fspath(self._file)
        self._tb = None
        if not is_writer():
            return
        try:
            from tensorboardX import SummaryWriter  # optional

            self._tb = SummaryWriter(rundir.file("events"))
        except ImportError:
            pass

    def records(self) -> list[dict]:
        return read_records(self._file)

    def truncate_after(self, step: int, alpha_updates: int) -> None:
        """Drop records of points after (step, alpha_updates)."""
        if not is_writer():
            return
        # Every record is written just before the checkpoint of the same (step, alpha_updates) point.
        kept = [r for r in self.records() if (r.get("step", 0), r.get("alpha_updates", 0)) <= (step, alpha_updates)]
        self._file.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict, scalars: Iterable[str] = ()) -> None:
        if not is_writer():
            return
        line = json.dumps(record) + "\n"
        if is_url(self.path):  # object stores (gs://, s3://) cannot append: rewrite the whole log
            self._file.write_text((self._file.read_text() if self._file.exists() else "") + line)
        else:
            with self._file.open("a") as f:
                f.write(line)
        if self._tb is not None:
            for key in scalars:
                if record.get(key) is not None:
                    self._tb.add_scalar(key, record[key], record.get("step", 0))
            self._tb.flush()
