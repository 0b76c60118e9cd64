"""``shapley-nas search``: run (or resume) an architecture search."""

from __future__ import annotations

import os
import re

from absl import flags

from shapley_nas_jax.cli.common import default_config_path, load_config, parse_flags, split_overrides

SUMMARY = "run (or resume) an architecture search; with no --config, the embedded demo"
USAGE = "shapley-nas search [--config configs/<name>.py] [--workdir DIR] [--config.key=value ...]"


def search_command(argv: list[str]) -> int:
    """Run the search of ``--config`` in ``--workdir``; prints the workdir and the found genotype."""
    from shapley_nas_jax.search import run_search
    from shapley_nas_jax.search.population import is_population, run_population

    overrides, argv = split_overrides(argv)

    def define(fv):
        flags.DEFINE_string("config", default_config_path(), "Search config file (configs/*.py[:argument]).",
                            flag_values=fv)
        flags.DEFINE_string("workdir", None, "Run directory (default runs/<config name>-seed<seed>).", flag_values=fv)
        flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=fv)

    fv, _ = parse_flags(argv, define, USAGE)
    config = load_config(fv.config, overrides)
    config_file, _, config_arg = fv.config.partition(":")
    config_name = os.path.splitext(os.path.basename(config_file))[0]
    if config_arg:  # e.g. robust_darts.py:s2,cifar10 -> robust_darts-s2-cifar10
        config_name += "-" + re.sub(r"[^A-Za-z0-9_.]+", "-", config_arg).strip("-")
    workdir = fv.workdir or os.path.join("runs", f"{config_name}-seed{config.seed}")
    if is_population(config):  # search.population seeds (and a grid) as one program: one row per member
        population = run_population(config, workdir, progress=fv.progress)
        print(f"workdir: {population.workdir}")
        for row in population.rows:
            values = "".join(f" {k}={v}" for k, v in row["hyperparameters"].items())
            found = row.get("genotype") or f"diverged at weight step {row['diverged_at']}"
            print(f"member{row['member']} (seed {row['seed']}{values}): {found}")
        return 0
    result = run_search(config, workdir, progress=fv.progress)
    print(f"workdir: {result.workdir}")
    print(f"genotype: {result.genotype_str}")
    return 0
