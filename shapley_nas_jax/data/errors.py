"""The errors of the data layer: one line each, saying what was wrong and what would be right."""

from __future__ import annotations

from shapley_nas_jax.errors import UserError

__all__ = ["DataError", "DatasetNotPreparedError", "first_line"]


class DataError(UserError, ValueError):
    """A dataset cannot be loaded or used as asked; the message says why in one line."""


class DatasetNotPreparedError(DataError):
    """A tfds dataset is not prepared (in ArrayRecord format) in the data directory."""


def first_line(exc: BaseException) -> str:
    """``"TypeName: first line of the message"``: a library's error, shortened for a one-line `DataError`."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
