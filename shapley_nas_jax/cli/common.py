"""What every subcommand shares: flag parsing (with ``--help``), config files with ``--config.key=value``
overrides, and one-line errors."""

from __future__ import annotations

import os
from typing import Callable

import ml_collections
from absl import flags

from shapley_nas_jax.config import load_config_file, moved_config_hint, override
from shapley_nas_jax.errors import UsageError

HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "--helpfull")


class HelpShown(Exception):
    """``--help`` was given: the command's flags are printed and the command has nothing else to do."""


def default_config_path(name: str = "demo") -> str:
    """The installed experiment file ``configs/<name>.py``."""
    import shapley_nas_jax.configs

    return os.path.join(os.path.dirname(shapley_nas_jax.configs.__file__), f"{name}.py")


def split_overrides(argv: list[str], flag: str = "config") -> tuple[list[str], list[str]]:
    """``--<flag>.key=value`` arguments taken out of ``argv``: (their ``key=value`` parts, the other arguments)."""
    prefix = f"--{flag}."
    overrides = [arg[len(prefix):] for arg in argv if arg.startswith(prefix)]
    for text in overrides:
        if "=" not in text:
            raise UsageError(f"{prefix}{text} needs a value: write {prefix}{text}=VALUE")
    return overrides, [arg for arg in argv if not arg.startswith(prefix)]


def load_config(spec: str, overrides: list[str] = ()) -> ml_collections.ConfigDict:
    """The config of a ``--config`` value (``file.py`` or ``file.py:argument``) with ``key=value`` overrides
    applied (``config.override``), locked against new keys. A missing file is a one-line UsageError."""
    file, _, argument = spec.partition(":")
    if not os.path.isfile(file):
        raise UsageError(moved_config_hint(spec)
                         or f"config file {file} not found; pass one of the files in configs/ (e.g. configs/demo.py)")
    config = load_config_file(file, argument or None)
    config.lock()
    return override(config, overrides)


def _wants_help(argv: list[str]) -> bool:
    args = argv[1:]
    if "--" in args:
        args = args[:args.index("--")]
    return any(arg in HELP_FLAGS for arg in args)


def parse_flags(argv: list[str], define: Callable[[flags.FlagValues], None],
                usage: str) -> tuple[flags.FlagValues, list[str]]:
    """Define a subcommand's flags and parse ``argv``; returns the flag values and the positional arguments.

    ``argv[0]`` is the program name. With ``--help`` the flags are printed and ``HelpShown`` is raised. A
    bad flag raises ``UsageError``. Take ``--config.key=value`` overrides out first (``split_overrides``).
    """
    fv = flags.FlagValues()
    try:
        flags.DEFINE_bool("debug", False, "Show tracebacks instead of one-line errors.", flag_values=fv)
        define(fv)
        if _wants_help(argv):
            print(help_text(usage, fv))
            raise HelpShown()
        positional = fv(argv)[1:]
    except flags.Error as error:
        raise UsageError(one_line(error)) from None
    return fv, positional


def help_text(usage: str, fv: flags.FlagValues) -> str:
    """The command's usage line and one entry per flag (help text and default)."""
    lines = [f"usage: {usage}", "", "flags:"]
    for name in sorted(fv):
        flag = fv[name]
        if name != flag.name:  # short names
            continue
        shown = f"--[no]{name}" if flag.boolean else f"--{name}"
        default = ""
        if flag.default is not None:
            default = " (default: " + flag.default_as_str.strip("'") + ")"
        lines.append(f"  {shown}: {' '.join(flag.help.split())}{default}")
    if "config" in fv:
        lines.append("  --config.<key>=VALUE: override one key of the config file, e.g. --config.seed=1")
    return "\n".join(lines)


def one_line(error: BaseException) -> str:
    """The error's message on one line.

    absl wraps flag errors (with the underlying traceback text: keep its last line).
    """
    text = str(error.args[0]) if error.args else str(error)
    if isinstance(error, flags.Error):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = lines[-1] if lines else text
    return " ".join(text.split()) or type(error).__name__
