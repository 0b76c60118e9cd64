"""Named registries (spaces, ops, alpha rules, value metrics, formulations) and a cache that follows them.

One rule everywhere: registering a name that is already taken raises :class:`DuplicateNameError` unless
``overwrite=True``; looking up an unknown name raises :class:`~shapley_nas_jax.errors.UnknownNameError`, whose one-line message
lists the known names. Both are :class:`~shapley_nas_jax.errors.InvalidInputError`s: a
:class:`~shapley_nas_jax.errors.UserError` and a ``ValueError``.

Every registration bumps the registry's ``version``. Compiled programs close over registered objects (a space's
ops, a value metric, an alpha rule), so their caches are made with :func:`cache_by_registry_versions`: a
re-registration under an old name builds a new program instead of reusing the stale one.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Generic, Iterator, TypeVar

from shapley_nas_jax.errors import InvalidInputError, UnknownNameError

T = TypeVar("T")


class RegistryError(InvalidInputError):
    """A registry refused a name (also a ValueError, the type callers of the registries catch)."""


class DuplicateNameError(RegistryError):
    """A name registered twice without ``overwrite=True``."""


_ALL: list["Registry"] = []  # every registry made, for registry_versions()


class Registry(Generic[T]):
    """``name -> value`` (usually a factory) of one kind of extension.

    ``kind`` names the entries in messages ("search space", "alpha rule"); the list of known names says
    ``known <last word of kind>s`` ("known spaces: darts, nb201").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self.version = 0
        self._entries: dict[str, T] = {}
        _ALL.append(self)

    def register(self, name: str, value: T, *, overwrite: bool = False) -> None:
        """Store ``value`` under ``name``; a taken name raises unless ``overwrite=True``."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        if name in self._entries and not overwrite:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered (pass overwrite=True to replace it)")
        self._entries[name] = value
        self.version += 1

    def get(self, name: str) -> T:
        """The value registered as ``name``; UnknownNameError listing the known names otherwise."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        plural = self.kind.split()[-1] + "s"
        raise UnknownNameError(f"unknown {self.kind} {name!r}; known {plural}: {', '.join(self.names())}")

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries


@contextlib.contextmanager
def registrations_undone() -> Iterator[None]:
    """Within the block, register freely; on leaving it every registry holds what it held on entry.

    For throwaway extensions (a test's toy estimator, a notebook cell's trial op) that must not leak into
    later code: a leaked name would show in the known-names lists of every later error message.
    """
    saved = [(registry, dict(registry._entries)) for registry in _ALL]
    try:
        yield
    finally:
        for registry, entries in saved:
            if any(registry._entries.get(name) is not value for name, value in entries.items()):
                registry.version += 1  # an entry comes back: what was compiled against its replacement is stale
            # (names new in the block just go: registering one again bumps the version anyway)
            registry._entries = entries


def registry_versions() -> tuple[tuple[str, int], ...]:
    """``(kind, version)`` of every registry: it changes whenever anything is registered anywhere."""
    return tuple((r.kind, r.version) for r in _ALL)


def cache_by_registry_versions(maxsize: int) -> Callable[[Callable], Callable]:
    """``functools.lru_cache(maxsize)`` whose key also holds :func:`registry_versions`, so what is cached (a
    compiled program) never outlives a re-registration of something it was built from."""

    def decorate(build: Callable) -> Callable:
        @functools.lru_cache(maxsize=maxsize)
        def cached(versions, *args, **kwargs):
            del versions  # part of the key only
            return build(*args, **kwargs)

        @functools.wraps(build)
        def call(*args, **kwargs):
            return cached(registry_versions(), *args, **kwargs)

        call.cache_clear = cached.cache_clear
        call.cache_info = cached.cache_info
        return call

    return decorate
