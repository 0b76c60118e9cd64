"""The rows a parity check returns (:class:`Check`), how they are computed, and the checks of BatchNorm
running averages that several checks share."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Sequence

import numpy as np

from shapley_nas_jax.interop.convert import to_numpy

__all__ = ["BIASED_VARIANCE", "BN_MOMENTUM", "Check", "bn_input_sizes", "bn_stat_keys", "compare",
           "compare_state_dicts", "flat_entries", "running_stat_checks"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One comparison: ``ok`` iff every ``|got - want| <= atol + rtol * |want|`` (``np.allclose``).

    ``known``: for a difference this project keeps on purpose or has not fixed, why it differs; such a
    check is reported but does not count as a failure (``failed`` is False) whatever its outcome.
    """

    name: str
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    ok: bool
    known: str = ""

    @property
    def failed(self) -> bool:
        return not self.ok and not self.known

    @property
    def status(self) -> str:
        if self.known:
            return "known difference" if not self.ok else "ok (known difference gone?)"
        return "ok" if self.ok else "FAIL"

    def __str__(self) -> str:
        why = f" ({self.known})" if self.known else ""
        return (f"{self.name}: max abs diff {self.max_abs:.3g}, max rel diff {self.max_rel:.3g} "
                f"(rtol {self.rtol:g}, atol {self.atol:g}) {self.status}{why}")


def compare(name: str, got, want, *, rtol: float = 1e-4, atol: float = 1e-5, known: str = "") -> Check:
    """A :class:`Check` of ``got`` against the reference ``want`` (same shapes)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise ValueError(f"{name}: shapes differ, {got.shape} vs {want.shape}")
    diff = np.abs(got - want)
    max_abs = float(diff.max(initial=0.0))
    max_rel = float((diff / np.maximum(np.abs(want), 1e-12)).max(initial=0.0))
    ok = bool(np.all(diff <= atol + rtol * np.abs(want)))
    return Check(name, max_abs, max_rel, rtol, atol, ok, known)


def flat_entries(state_dict: dict, keys: Sequence[str]) -> np.ndarray:
    return np.concatenate([to_numpy(state_dict[k]).astype(np.float64).ravel() for k in keys])


def compare_state_dicts(name: str, got: dict, want: dict, keys: Sequence[str], **options) -> Check:
    """One :class:`Check` over the entries ``keys`` of two state dicts (concatenated)."""
    return compare(name, flat_entries(got, keys), flat_entries(want, keys), **options)


# torch.nn.BatchNorm2d(momentum=0.1) and ours (flax momentum 0.9) weight the batch statistics by this much.
BN_MOMENTUM = 0.1
BIASED_VARIANCE = ("ours updates running_var with the biased batch variance (flax), torch with the unbiased "
                   "one: a factor n/(n-1), n = batch x height x width")


@contextlib.contextmanager
def bn_input_sizes(net):
    """Yields ``{BN module name: n}``, filled as ``net`` runs: the number of values per channel each of its
    BatchNorm2d layers normalised in its last call (batch x height x width)."""
    import torch

    sizes: dict[str, int] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: sizes.__setitem__(
                 name, args[0].numel() // args[0].shape[1]))
             for name, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    try:
        yield sizes
    finally:
        for h in hooks:
            h.remove()


def running_stat_checks(what: str, ours: dict, theirs: dict, before: dict, sizes: dict, **tol) -> list[Check]:
    """BN running averages after one train-mode forward: ours (a state dict) against torch's ``theirs``,
    both from ``before``. ``running_var`` twice: as torch computes it (a known difference, see
    :data:`BIASED_VARIANCE`), and as torch would with the biased batch variance (recomputed from torch's
    own update and ``sizes``, from :func:`bn_input_sizes`), which must match."""
    means, variances = bn_stat_keys(theirs, "running_mean"), bn_stat_keys(theirs, "running_var")
    old, new = flat_entries(before, variances), flat_entries(theirs, variances)
    n = np.concatenate([np.full(to_numpy(theirs[k]).size, sizes[k.rsplit(".", 1)[0]], np.float64)
                        for k in variances])
    unbiased = (new - (1 - BN_MOMENTUM) * old) / BN_MOMENTUM
    with_biased = (1 - BN_MOMENTUM) * old + BN_MOMENTUM * unbiased * (n - 1) / n
    return [
        compare_state_dicts(f"{what}: BN running_mean", ours, theirs, means, **tol),
        compare_state_dicts(f"{what}: BN running_var", ours, theirs, variances, known=BIASED_VARIANCE, **tol),
        compare(f"{what}: BN running_var, torch's update with the biased batch variance", flat_entries(ours, variances),
                with_biased, **tol),
    ]


def bn_stat_keys(state_dict: dict, stat: str) -> list[str]:
    return sorted(k for k in state_dict if k.endswith(f".{stat}"))
