"""The `shapley-nas` command: a thin layer over the library, one module per subcommand.

    shapley-nas search [--config configs/<name>.py] [--workdir DIR] [--config.key=value ...]
    shapley-nas train  --genotype <name|file|string> [--config configs/train_cifar10.py] [--workdir DIR]
    shapley-nas info   --genotype <name|file|string> [--dataset cifar10|cifar100|imagenet] [--json]
    shapley-nas query  --benchmark FILE (--arch '|...|' | --best) [--json]
    shapley-nas plot   WORKDIR

Every subcommand parses its own absl flags (``--help`` lists them); config files are ml_collections files
with `get_config()`. Errors caused by input or the environment (``errors.UserError``: a bad option, a missing
dataset, a conflicting workdir, a diverged loss) print one line `shapley-nas: error: ...` and exit with
status 2 (`--debug` shows the traceback instead); any other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import sys
from typing import Callable

from shapley_nas_jax.cli import info, plot, query, search, train
from shapley_nas_jax.cli.common import HelpShown, default_config_path, one_line
from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.errors import UsageError, UserError

__all__ = ["COMMANDS", "USAGE", "UsageError", "default_config_path", "main"]

_MODULES = {"search": search, "query": query, "train": train, "info": info, "plot": plot}
# Each module names its entry point <command>_command(argv) -> exit status.
COMMANDS: dict[str, Callable[[list[str]], int]] = {name: getattr(module, f"{name}_command")
                                                   for name, module in _MODULES.items()}

USAGE = "\n".join([
    "usage: shapley-nas <command> [flags]",
    "",
    "commands:",
    *(f"  {name:<8} {module.SUMMARY}" for name, module in _MODULES.items()),
    "",
    "`shapley-nas <command> --help` lists a command's flags.",
])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if len(argv) >= 2 else 2
    command = COMMANDS.get(argv[1])
    if command is None:
        print(f"shapley-nas: error: unknown command {argv[1]!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    enable_compilation_cache()
    try:
        return command([f"shapley-nas {argv[1]}", *argv[2:]])
    except HelpShown:
        return 0
    except UserError as error:
        if "--debug" in argv:
            raise
        print(f"shapley-nas: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("shapley-nas: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
