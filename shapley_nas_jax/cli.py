"""The `shapley-nas` command: a thin layer over the library.

    shapley-nas search [--config configs/<name>.py] [--workdir DIR] [--config.key=value ...]
    shapley-nas train  --genotype <name|file|string> [--config configs/train_cifar10.py] [--workdir DIR]
    shapley-nas info   --genotype <name|file|string> [--dataset cifar10|imagenet] [--json]
    shapley-nas query  --benchmark FILE (--arch '|...|' | --best) [--json]
    shapley-nas plot   WORKDIR

Every subcommand parses its own absl flags; config files are ml_collections files with `get_config()`.
Errors caused by input (bad option, missing dataset, conflicting workdir, diverged loss) print one line
`shapley-nas: error: ...` and exit with status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from absl import flags
from ml_collections import config_flags

from shapley_nas_jax.compilation_cache import enable_compilation_cache
from shapley_nas_jax.evaluation.commands import info_command, train_command

USAGE = """usage: shapley-nas <command> [flags]

commands:
  search   run (or resume) an architecture search; with no --config, the embedded demo
  query    NAS-Bench-201 accuracies of an arch string, or the benchmark's best
  train    train a genotype from scratch (DARTS / ImageNet-mobile / NB201 networks)
  info     parameters and multiply-adds of a genotype's network
  plot     write a run's figures (alpha curves, cells, heatmaps) as PNG

`shapley-nas <command> --help` lists a command's flags."""


def default_config_path(name: str = "demo") -> str:
    import shapley_nas_jax.configs

    return os.path.join(os.path.dirname(shapley_nas_jax.configs.__file__), f"{name}.py")


def _parse(argv: list[str], define: Callable[[flags.FlagValues], None]) -> tuple[flags.FlagValues, list[str]]:
    """Parse a subcommand's flags; returns the flag values and the positional arguments."""
    fv = flags.FlagValues()
    flags.DEFINE_bool("debug", False, "Show tracebacks instead of one-line errors.", flag_values=fv)
    define(fv)
    positional = fv(argv)[1:]
    return fv, positional


def check_config_file(argv: list[str]) -> None:
    """Refuse a missing --config file in one line (ml_collections would print a traceback)."""
    for i, arg in enumerate(argv):
        path = arg.split("=", 1)[1] if arg.startswith("--config=") else (
            argv[i + 1] if arg == "--config" and i + 1 < len(argv) else None)
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"config file {path} not found; pass one of the files in configs/ (e.g. configs/demo.py)")


def search_command(argv: list[str]) -> int:
    from shapley_nas_jax.search import run_search

    check_config_file(argv)

    def define(fv):
        config_flags.DEFINE_config_file("config", default_config_path(), "Search config file (configs/*.py).",
                                        flag_values=fv, lock_config=True, sys_argv=list(argv))
        flags.DEFINE_string("workdir", None, "Run directory (default runs/<config name>-seed<seed>).", flag_values=fv)
        flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=fv)

    fv, _ = _parse(argv, define)
    config = fv.config
    config_name = os.path.splitext(os.path.basename(fv["config"].config_filename))[0]
    workdir = fv.workdir or os.path.join("runs", f"{config_name}-seed{config.seed}")
    result = run_search(config, workdir, progress=fv.progress)
    print(f"workdir: {result.workdir}")
    print(f"genotype: {result.genotype_str}")
    return 0


def query_command(argv: list[str]) -> int:
    from shapley_nas_jax.benchmarks import nb201

    def define(fv):
        flags.DEFINE_string("arch", None, "NB201 arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|.", flag_values=fv)
        flags.DEFINE_string("benchmark", None, "NB201 CSV table or nats_bench benchmark file/dir.", flag_values=fv)
        flags.DEFINE_bool("best", False, "Print the optimum arch per dataset instead.", flag_values=fv)
        flags.DEFINE_bool("json", False, "Print one JSON object.", flag_values=fv)

    fv, _ = _parse(argv, define)
    if not fv.benchmark:
        raise UsageError("query needs --benchmark FILE (an NB201 table or nats_bench file)")
    if bool(fv.arch) == bool(fv.best):
        raise UsageError("query needs exactly one of --arch '<arch string>' or --best")
    print(nb201.query_main(fv.arch, fv.benchmark, fv.best, fv.json))
    return 0


def plot_command(argv: list[str]) -> int:
    from shapley_nas_jax.analysis import plots

    _, positional = _parse(argv, lambda fv: None)
    if len(positional) != 1:
        raise UsageError("plot needs exactly one run directory: shapley-nas plot WORKDIR")
    for path in plots.plot_run(positional[0]):
        print(path)
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "search": search_command,
    "train": train_command,
    "info": info_command,
    "query": query_command,
    "plot": plot_command,
}


def one_line(error: BaseException) -> str:
    """The error's message on one line.

    absl wraps flag errors (with the underlying traceback text: keep its last line), and ml_collections
    reports an unknown config key as the repr of a KeyError message.
    """
    text = str(error.args[0]) if error.args else str(error)
    if isinstance(error, flags.Error):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = lines[-1] if lines else text
    if len(text) > 1 and text[0] == text[-1] == "'":
        text = text[1:-1].replace("\\'", "'").replace("\\n", " ")
    if "Did you mean" in text:
        text = f"unknown config key {text}"
    return " ".join(text.split()) or type(error).__name__


class UsageError(Exception):
    """Wrong command-line usage."""


def main(argv: list[str] | None = None) -> int:
    from shapley_nas_jax.errors import UserError

    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if len(argv) >= 2 else 2
    command = COMMANDS.get(argv[1])
    if command is None:
        print(f"shapley-nas: error: unknown command {argv[1]!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    debug = "--debug" in argv
    enable_compilation_cache()
    try:
        return command([f"shapley-nas {argv[1]}", *argv[2:]])
    except (UserError, UsageError, flags.Error, ValueError, KeyError, OSError, AttributeError) as error:
        if debug:
            raise
        print(f"shapley-nas: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("shapley-nas: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
