"""Errors that reach a user as one line.

``UserError`` is the root of every error that bad input or a bad environment causes (a wrong option, an
unknown name, a missing file, a conflicting workdir, a diverged loss). The CLI prints these as one line
and exits with status 2; any other exception is a bug and keeps its traceback. Subclasses that replace a
built-in error keep it as a second base (``ValueError``, ``KeyError``, ``FileNotFoundError``), so code
that catches the built-in one still works.
"""


class UserError(Exception):
    """Bad input or an unrecoverable run condition, explained in one line."""


class UsageError(UserError):
    """Wrong command-line usage: an unknown flag, a missing or extra argument."""


class ConfigError(UserError, ValueError):
    """An option has a value the search cannot use."""


class InvalidInputError(UserError, ValueError):
    """A value, string or file given as input is malformed or does not fit what it is used for."""


class UnknownNameError(InvalidInputError):
    """A name (space, op, genotype, metric, alpha rule, formulation, network, ...) that is not known."""


class PathNotFoundError(UserError, FileNotFoundError):
    """A file or directory named as input does not exist."""


class WorkdirConflictError(UserError):
    """A workdir holds a run whose config differs from the requested one."""


class SearchDivergedError(UserError):
    """The training loss became non-finite; the last good checkpoint is kept."""
