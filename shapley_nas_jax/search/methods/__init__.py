"""Search methods as registered strategies (:class:`SearchMethod`): Shapley-NAS, DARTS of both orders, RSPS
and random search. ``search.method`` names one; :func:`register_method` adds another."""

from __future__ import annotations

from shapley_nas_jax.registry import Registry
from shapley_nas_jax.search.methods.base import SearchMethod, every_epoch_after_warmup
from shapley_nas_jax.search.methods.darts import DARTS
from shapley_nas_jax.search.methods.random_search import RandomSearch
from shapley_nas_jax.search.methods.rsps import RSPS
from shapley_nas_jax.search.methods.shapley import ShapleyNAS

_METHODS: Registry[SearchMethod] = Registry("search method")


def register_method(name: str, method: SearchMethod, *, overwrite: bool = False) -> None:
    """Make ``search.method=name`` run ``method`` (an instance of a :class:`SearchMethod` subclass)."""
    if not isinstance(method, SearchMethod):
        raise TypeError(f"a search method must be a SearchMethod instance, got {type(method).__name__}")
    _METHODS.register(name, method, overwrite=overwrite)


def get_method(name: str) -> SearchMethod:
    """The method registered as ``name`` (UnknownNameError listing the known ones otherwise)."""
    return _METHODS.get(name)


def list_methods() -> tuple[str, ...]:
    return _METHODS.names()


register_method("shapley", ShapleyNAS())
register_method("darts_1st", DARTS(order=1))
register_method("darts_2nd", DARTS(order=2))
register_method("rsps", RSPS())
register_method("random", RandomSearch())

__all__ = ["DARTS", "RSPS", "RandomSearch", "SearchMethod", "ShapleyNAS", "every_epoch_after_warmup", "get_method",
           "list_methods", "register_method"]
