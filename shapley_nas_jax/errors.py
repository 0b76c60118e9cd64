"""Errors that reach a user as one line (the CLI prints them without a traceback)."""


class UserError(Exception):
    """Bad input or an unrecoverable run condition, explained in one line."""


class ConfigError(UserError, ValueError):
    """An option has a value the search cannot use."""


class WorkdirConflictError(UserError):
    """A workdir holds a run whose config differs from the requested one."""


class SearchDivergedError(UserError):
    """The training loss became non-finite; the last good checkpoint is kept."""
