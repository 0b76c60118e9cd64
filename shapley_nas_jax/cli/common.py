"""What every subcommand shares: flag parsing (with ``--help``), the config-file check and one-line errors."""

from __future__ import annotations

import os
from typing import Callable

from absl import flags

from shapley_nas_jax.config import moved_config_hint
from shapley_nas_jax.errors import UsageError

HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "--helpfull")


class HelpShown(Exception):
    """``--help`` was given: the command's flags are printed and the command has nothing else to do."""


def default_config_path(name: str = "demo") -> str:
    """The installed experiment file ``configs/<name>.py``."""
    import shapley_nas_jax.configs

    return os.path.join(os.path.dirname(shapley_nas_jax.configs.__file__), f"{name}.py")


def check_config_file(argv: list[str]) -> None:
    """Refuse a missing --config file in one line (ml_collections would print a traceback)."""
    for i, arg in enumerate(argv):
        path = arg.split("=", 1)[1] if arg.startswith("--config=") else (
            argv[i + 1] if arg == "--config" and i + 1 < len(argv) else None)
        if path is None:
            continue
        file = path.split(":", 1)[0]  # ml_collections' file.py:argument form
        if not os.path.isfile(file):
            raise UsageError(moved_config_hint(path)
                             or f"config file {file} not found; pass one of the files in configs/ (e.g. configs/demo.py)")


def _wants_help(argv: list[str]) -> bool:
    args = argv[1:]
    if "--" in args:
        args = args[:args.index("--")]
    return any(arg in HELP_FLAGS for arg in args)


def parse_flags(argv: list[str], define: Callable[[flags.FlagValues], None],
                usage: str) -> tuple[flags.FlagValues, list[str]]:
    """Define a subcommand's flags and parse ``argv``; returns the flag values and the positional arguments.

    ``argv[0]`` is the program name. With ``--help`` the flags are printed and ``HelpShown`` is raised. A
    bad flag or config override raises ``UsageError``.
    """
    fv = flags.FlagValues()
    try:
        flags.DEFINE_bool("debug", False, "Show tracebacks instead of one-line errors.", flag_values=fv)
        define(fv)  # a config file flag loads its file here and applies the --config.key overrides
        if _wants_help(argv):
            print(help_text(usage, fv))
            raise HelpShown()
        positional = fv(argv)[1:]
    except flags.Error as error:
        raise UsageError(one_line(error)) from None
    except (AttributeError, KeyError) as error:  # ml_collections' answer to an override of an unknown key
        message = _unknown_config_key(error, argv)
        if message is None:
            raise  # not about an override: a bug (in the config file or here) keeps its traceback
        raise UsageError(message) from None
    return fv, positional


def help_text(usage: str, fv: flags.FlagValues) -> str:
    """The command's usage line and one entry per flag (help text and default)."""
    lines = [f"usage: {usage}", "", "flags:"]
    for name in sorted(fv):
        flag = fv[name]
        if name != flag.name or name.startswith("config."):  # short names; given config overrides
            continue
        shown = f"--[no]{name}" if flag.boolean else f"--{name}"
        default = ""
        if flag.default is not None and name != "config":  # the config flag's default is a whole ConfigDict
            default = " (default: " + flag.default_as_str.strip("'") + ")"
        lines.append(f"  {shown}: {' '.join(flag.help.split())}{default}")
    if "config" in fv:
        lines.append("  --config.<key>=VALUE: override one key of the config file, e.g. --config.seed=1")
    return "\n".join(lines)


def _unknown_config_key(error: AttributeError | KeyError, argv: list[str]) -> str | None:
    """The one-line message for an override of a key the config does not have, or None for other errors.

    ml_collections raises a KeyError (wrapped in an AttributeError for a nested key) whose message is the
    quoted key and, when one is close, a "Did you mean" suggestion.
    """
    cause = error.args[0] if error.args and isinstance(error.args[0], BaseException) else error
    text = " ".join(str(cause.args[0] if cause.args else cause).split())
    key = text.split("'")[1] if text.count("'") >= 2 else text
    overridden = {part for arg in argv if arg.startswith("--config.")
                  for part in arg[len("--config."):].split("=", 1)[0].split(".")}
    return f"unknown config key {text}" if key in overridden else None


def one_line(error: BaseException) -> str:
    """The error's message on one line.

    absl wraps flag errors (with the underlying traceback text: keep its last line).
    """
    text = str(error.args[0]) if error.args else str(error)
    if isinstance(error, flags.Error):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = lines[-1] if lines else text
    return " ".join(text.split()) or type(error).__name__
