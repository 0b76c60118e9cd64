"""``shapley-nas search``: run (or resume) an architecture search."""

from __future__ import annotations

import os
import re

from absl import flags
from ml_collections import config_flags

from shapley_nas_jax.cli.common import check_config_file, default_config_path, parse_flags

SUMMARY = "run (or resume) an architecture search; with no --config, the embedded demo"
USAGE = "shapley-nas search [--config configs/<name>.py] [--workdir DIR] [--config.key=value ...]"


def search_command(argv: list[str]) -> int:
    """Run the search of ``--config`` in ``--workdir``; prints the workdir and the found genotype."""
    from shapley_nas_jax.search import run_search

    check_config_file(argv)

    def define(fv):
        config_flags.DEFINE_config_file("config", default_config_path(), "Search config file (configs/*.py).",
                                        flag_values=fv, lock_config=True, sys_argv=list(argv))
        flags.DEFINE_string("workdir", None, "Run directory (default runs/<config name>-seed<seed>).", flag_values=fv)
        flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=fv)

    fv, _ = parse_flags(argv, define, USAGE)
    config = fv.config
    config_file, _, config_arg = fv["config"].config_filename.partition(":")
    config_name = os.path.splitext(os.path.basename(config_file))[0]
    if config_arg:  # e.g. robust_darts.py:s2,cifar10 -> robust_darts-s2-cifar10
        config_name += "-" + re.sub(r"[^A-Za-z0-9_.]+", "-", config_arg).strip("-")
    workdir = fv.workdir or os.path.join("runs", f"{config_name}-seed{config.seed}")
    result = run_search(config, workdir, progress=fv.progress)
    print(f"workdir: {result.workdir}")
    print(f"genotype: {result.genotype_str}")
    return 0
