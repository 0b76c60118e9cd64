"""A run's workdir: resolved config, environment, metrics log and results.

Layout of a workdir:

    config.json        the resolved config (a rerun with a different config is refused)
    environment.json   seed, command line, Python/JAX/Flax/optax/orbax/numpy versions, devices
    metrics.jsonl      one JSON object per line (``{"kind": "epoch", ...}``, ``{"kind": "alpha_update", ...}``)
    events/            TensorBoard event file when ``tensorboardX`` is installed
    checkpoints/       orbax checkpoints of the whole search state
    results.json       the found genotype, alpha, last Shapley values, config (written at the end)
    plots/             figures written by ``shapley-nas plot``
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from typing import Any, Iterable

import jax
import ml_collections

from shapley_nas_jax.errors import WorkdirConflictError

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
    }


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        flat = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: tree}


def config_differences(old: dict, new: dict, defaults: dict | None = None) -> list[str]:
    """Human-readable `key: old -> new` lines for every differing leaf. A key absent from ``old`` (a run
    started before the key existed) whose new value is its value in ``defaults`` is no difference: a new key's
    default keeps the behaviour it had before."""
    flat_old, flat_new, flat_defaults = _flatten(old), _flatten(new), _flatten(defaults or {})
    keys = sorted(set(flat_old) | set(flat_new))
    return [f"{k}: {flat_old.get(k, '<absent>')!r} -> {flat_new.get(k, '<absent>')!r}"
            for k in keys if flat_old.get(k, "<absent>") != flat_new.get(k, "<absent>")
            and not (k not in flat_old and k in flat_defaults and flat_new.get(k) == flat_defaults[k])]


class RunDir:
    """Reads and writes the files of one run's workdir."""

    def __init__(self, workdir: str):
        self.path = os.path.abspath(workdir)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def checkpoint_dir(self) -> str:
        return self.file("checkpoints")

    def prepare(self, config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict | None = None) -> None:
        """Create the workdir, or check that an existing one was started with the same config (keys added to
        the schema since then count as equal where they hold their ``defaults`` value)."""
        os.makedirs(self.path, exist_ok=True)
        resolved = json.loads(config.to_json_best_effort())
        config_path = self.file("config.json")
        if os.path.exists(config_path):
            with open(config_path) as f:
                saved = json.load(f)
            diffs = config_differences(saved, resolved,
                                       None if defaults is None else json.loads(defaults.to_json_best_effort()))
            if diffs:
                raise WorkdirConflictError(
                    f"workdir {self.path} holds a run with a different config ({'; '.join(diffs[:3])}"
                    f"{'; ...' if len(diffs) > 3 else ''}); use a new --workdir or the same config to resume"
                )
        else:
            self.write_json("config.json", resolved)
        self.write_json("environment.json", environment(config.seed))

    def write_json(self, name: str, payload: Any) -> None:
        tmp = self.file(name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=1)
        os.replace(tmp, self.file(name))

    def read_json(self, name: str) -> Any:
        with open(self.file(name)) as f:
            return json.load(f)


class MetricsLog:
    """Appends JSON records to metrics.jsonl (and scalars to TensorBoard when tensorboardX is installed).

    On resume, `truncate_after(step)` drops records written after the restored checkpoint, so the log of
    a resumed run equals that of an uninterrupted one.
    """

    def __init__(self, rundir: RunDir):
        self.path = rundir.file("metrics.jsonl")
        self._tb = None
        try:
            from tensorboardX import SummaryWriter  # optional

            self._tb = SummaryWriter(rundir.file("events"))
        except ImportError:
            pass

    def records(self) -> list[dict]:
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def truncate_after(self, step: int, alpha_updates: int) -> None:
        """Drop records of points after (step, alpha_updates)."""
        # Every record is written just before the checkpoint of the same (step, alpha_updates) point.
        kept = [r for r in self.records() if (r.get("step", 0), r.get("alpha_updates", 0)) <= (step, alpha_updates)]
        with open(self.path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)

    def write(self, record: dict, scalars: Iterable[str] = ()) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key in scalars:
                if record.get(key) is not None:
                    self._tb.add_scalar(key, record[key], record.get("step", 0))
            self._tb.flush()
