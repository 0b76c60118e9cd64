"""Loading a checkout of the original code: its modules imported from their directory as they are, and its
``shap_estimation`` with given permutations and batches (see the package docstring)."""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import os
import sys
import types
from typing import Sequence

import numpy as np

__all__ = ["ORIGINAL_MODULES", "Batches", "check_checkout", "load_original"]

ORIGINAL_MODULES = ("genotypes", "operations", "utils", "model_search", "model_search_imagenet", "model")


def check_checkout(path: str | None) -> str:
    """``path`` made absolute if it holds the original code and torch is importable; else a one-line
    ValueError saying what is missing."""
    if not path:
        raise ValueError("no checkout of the original code given (set SHAPLEY_NAS_ORIGINAL or pass --original)")
    files = [f"{m}.py" for m in (*ORIGINAL_MODULES, "train_search")]
    missing = [f for f in files if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise ValueError(f"{path!r} is not a checkout of the original code: no {', '.join(missing)}")
    if importlib.util.find_spec("torch") is None:
        raise ValueError("comparing with the original code needs torch, which is not installed")
    return os.path.abspath(path)


@contextlib.contextmanager
def _importing_from(checkout: str):
    """``checkout`` first on sys.path, and a stub torchvision if there is none; afterwards sys.path and
    sys.modules are as before, so the generic names the original uses (utils, model, ...) clash with nothing."""
    saved = {n: sys.modules.pop(n) for n in ORIGINAL_MODULES if n in sys.modules}
    stubs: dict[str, types.ModuleType] = {}
    if importlib.util.find_spec("torchvision") is None:
        stubs = {n: types.ModuleType(n) for n in ("torchvision", "torchvision.transforms", "torchvision.datasets")}
        stubs["torchvision"].transforms = stubs["torchvision.transforms"]
        stubs["torchvision"].datasets = stubs["torchvision.datasets"]
        sys.modules.update(stubs)
    sys.path.insert(0, checkout)
    try:
        yield
    finally:
        sys.path.remove(checkout)
        for n in (*ORIGINAL_MODULES, *stubs):
            sys.modules.pop(n, None)
        sys.modules.update(saved)


def _functions_from(path: str, names: Sequence[str], namespace: dict) -> dict:
    """The top-level functions ``names`` of the file ``path``, defined in ``namespace`` (only their ``def``
    statements run, not the rest of the module)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    if {d.name for d in defs} != set(names):
        raise ValueError(f"{path} does not define {', '.join(sorted(set(names) - {d.name for d in defs}))}")
    exec(compile(ast.Module(body=defs, type_ignores=[]), path, "exec"), namespace)
    return {n: namespace[n] for n in names}


@functools.lru_cache(maxsize=4)
def load_original(checkout: str) -> types.SimpleNamespace:
    """The original's modules (``genotypes``, ``operations``, ``utils``, ``model_search``,
    ``model_search_imagenet``, ``model``) and its
    ``shap_estimation`` from ``train_search.py``, imported from ``checkout``."""
    checkout = check_checkout(checkout)
    with _importing_from(checkout):
        modules = {n: importlib.import_module(n) for n in ORIGINAL_MODULES}
    import torch

    def shap_estimation(permutations):
        """The original's ``shap_estimation`` whose ``np.random.permutation`` calls return ``permutations``
        (rows, in order); it needs batches whose ``.cuda()`` is a no-op, as :class:`Batches` gives."""
        namespace = {"np": _FixedPermutationsNumpy(permutations), "torch": torch, "utils": modules["utils"]}
        return _functions_from(os.path.join(checkout, "train_search.py"), ("remove_players", "shap_estimation"),
                               namespace)["shap_estimation"]

    return types.SimpleNamespace(checkout=checkout, shap_estimation=shap_estimation, **modules)


class _FixedPermutationsNumpy:
    """NumPy, except that ``random.permutation(n)`` returns the given permutations one after another."""

    def __init__(self, permutations):
        rows = iter(np.asarray(permutations))
        self.random = types.SimpleNamespace(permutation=lambda n: _checked_row(next(rows), n))

    def __getattr__(self, name):
        return getattr(np, name)


def _checked_row(row, n):
    if len(row) != n:
        raise ValueError(f"a permutation of {len(row)} players was given for {n}")
    return row


def _host_tensor_class():
    import torch

    class HostTensor(torch.Tensor):
        """A CPU tensor whose ``.cuda()`` returns it as a plain tensor (the original moves batches to GPU)."""

        def cuda(self, *args, **kwargs):
            return self.as_subclass(torch.Tensor)

    return HostTensor


class Batches:
    """A stand-in for a DataLoader: every ``iter()`` starts at the next batch (the original takes
    ``next(iter(valid_queue))`` once per permutation, so permutation j scores batch j). ``chain_lengths()``:
    how many forward passes of ``net`` each permutation took (counted by a forward hook while in use)."""

    def __init__(self, images, labels, net):
        host = _host_tensor_class()
        self._batches = [(x.as_subclass(host), y.as_subclass(host)) for x, y in zip(images, labels)]
        self._starts: list[int] = []
        self._forwards = 0
        self._hook = net.register_forward_hook(lambda *_: self._count())

    def _count(self):
        self._forwards += 1

    def __iter__(self):
        self._starts.append(self._forwards)
        return iter([self._batches[len(self._starts) - 1]])

    def chain_lengths(self) -> np.ndarray:
        self._hook.remove()
        return np.diff([*self._starts, self._forwards])
