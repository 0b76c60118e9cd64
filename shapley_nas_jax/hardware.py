"""What the machine is, as far as op arithmetic cares: the backend and, on CPU, the widest vector ISA.

XLA:CPU's speed can differ between CPUs with AVX-512 and those with only AVX2, so every benchmark records
:func:`machine_info` beside its figures. The CPU defaults (``models.CPU_SCORING``, ``models.CPU_TRAINING``)
are keyed by topology, not by ISA: both ISAs were measured on one AVX-512 CPU in the same session (natively
and capped with ``XLA_FLAGS=--xla_cpu_max_isa=AVX2``) and chose alike (BENCHMARKS.md). A table keyed by ISA
is the place for a future CPU where they differ.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re

ISAS = ("avx512", "avx2", "other")  # widest first
_XLA_ISA_NAMES = {"avx512": "AVX512", "avx2": "AVX2"}


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_flags(cpuinfo: str) -> set[str]:
    match = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def _xla_max_isa(xla_flags: str) -> str | None:
    """The cap set with ``--xla_cpu_max_isa=...`` in ``XLA_FLAGS`` (e.g. AVX2), as one of ``ISAS``."""
    match = re.search(r"--xla_cpu_max_isa=(\S+)", xla_flags)
    if not match:
        return None
    value = match.group(1).upper()
    if value.startswith("AVX512"):
        return "avx512"
    return "avx2" if value.startswith("AVX2") else "other"


def cpu_vector_isa(cpuinfo: str | None = None, xla_flags: str | None = None) -> str:
    """``"avx512"``, ``"avx2"`` or ``"other"``: the widest vector ISA of this CPU (from /proc/cpuinfo's
    flags) that XLA:CPU may use, i.e. capped by ``--xla_cpu_max_isa`` in ``XLA_FLAGS``. Not x86 or
    unreadable: ``"other"``."""
    flags = _cpu_flags(_cpuinfo() if cpuinfo is None else cpuinfo)
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    cap = _xla_max_isa(os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags)
    if cap is not None and ISAS.index(cap) > ISAS.index(isa):
        isa = cap
    return isa


def _cpuinfo_field(cpuinfo: str, name: str) -> str | None:
    """The first ``name : value`` line's value in /proc/cpuinfo's text, or None."""
    match = re.search(rf"^{name}\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else None


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    return _cpuinfo_field(_cpuinfo(), "model name") or platform.processor() or platform.machine()


def cpu_identity(cpuinfo: str | None = None, xla_flags: str | None = None) -> dict:
    """Which CPU XLA:CPU compiled for: model name, family and model number (e.g. AMD family 25 is Zen 3/4,
    26 is Zen 5), the vector ISA it may use and ``XLA_FLAGS``. Floats, and so a search's cell, can differ
    between CPUs for the same code, versions and seed (RESULTS.md), so every run records this."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    return {"model_name": _cpuinfo_field(text, "model name") or platform.processor() or platform.machine(),
            "family": _cpuinfo_field(text, "cpu family"), "model": _cpuinfo_field(text, "model"),
            "isa": cpu_vector_isa(text, xla_flags),
            "xla_flags": os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags}


def machine_info() -> dict:
    """The facts a benchmark figure needs beside it: CPU model, core count, vector ISA (and whether it was
    capped by XLA_FLAGS), backend, devices and package versions."""
    import jax
    import jaxlib

    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "isa": cpu_vector_isa(),
        "native_isa": cpu_vector_isa(xla_flags=""),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
    }


def host_peak_rss_bytes() -> int:
    """This process's peak resident memory so far, in bytes (Linux reports ``ru_maxrss`` in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_benchmark_json(path: str, payload: dict) -> None:
    """Writes a benchmark script's ``payload`` to ``path`` as JSON, with :func:`machine_info` under ``machine``
    unless the payload holds one. Through a temporary file: a run killed mid-write keeps the previous file,
    so scripts that rewrite it after every row leave the rows they finished."""
    record = {**payload, "machine": payload.get("machine") or machine_info()}
    with open(f"{path}.tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(f"{path}.tmp", path)


def xla_isa_flag(isa: str) -> str:
    """The XLA_FLAGS entry that caps XLA:CPU at ``isa`` (to emulate a smaller CPU on a bigger one)."""
    return f"--xla_cpu_max_isa={_XLA_ISA_NAMES[isa]}"
