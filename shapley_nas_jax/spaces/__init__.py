"""Search-space registry: ``register_space(name, factory)`` / ``get_space(name)``."""

from __future__ import annotations

from typing import Callable

from shapley_nas_jax.registry import Registry
from shapley_nas_jax.spaces.base import (
    EdgeOps,
    SearchSpace,
    darts_edge_endpoints,
    nb201_edge_endpoints,
)
from shapley_nas_jax.spaces import darts as _darts
from shapley_nas_jax.spaces import nb201 as _nb201
from shapley_nas_jax.spaces.darts import DARTS_OPS, REFERENCE_OPS, uniform_darts_space
from shapley_nas_jax.spaces.nb201 import NB201_OPS

_SPACES: Registry[Callable[[], SearchSpace]] = Registry("search space")


def register_space(name: str, factory: Callable[[], SearchSpace], *, overwrite: bool = False) -> None:
    """Register ``factory`` (no arguments -> SearchSpace) under ``name``; a taken name raises unless
    ``overwrite=True``."""
    _SPACES.register(name, factory, overwrite=overwrite)


def list_spaces() -> tuple[str, ...]:
    """Registered space names, sorted."""
    return _SPACES.names()


def get_space(name: str) -> SearchSpace:
    """The space registered as ``name`` (a SearchSpace passes through); an error listing the known names
    otherwise."""
    if isinstance(name, SearchSpace):
        return name
    return _SPACES.get(name)()


for _name, _factory in (
    ("darts", _darts.darts_space),
    ("darts_reference", _darts.darts_reference_space),
    ("s1", _darts.s1_space),
    ("s2", _darts.s2_space),
    ("s3", _darts.s3_space),
    ("s4", _darts.s4_space),
    ("nb201", _nb201.nb201_space),
):
    register_space(_name, _factory)

__all__ = [
    "DARTS_OPS",
    "EdgeOps",
    "NB201_OPS",
    "REFERENCE_OPS",
    "SearchSpace",
    "darts_edge_endpoints",
    "get_space",
    "list_spaces",
    "nb201_edge_endpoints",
    "register_space",
    "uniform_darts_space",
]
