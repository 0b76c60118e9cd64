"""``shapley-nas plot``: write a run's figures as PNG into ``WORKDIR/plots/``."""

from __future__ import annotations

from shapley_nas_jax.cli.common import parse_flags
from shapley_nas_jax.errors import UsageError

SUMMARY = "write a run's figures (alpha curves, cells, heatmaps) as PNG"
USAGE = "shapley-nas plot WORKDIR"


def plot_command(argv: list[str]) -> int:
    from shapley_nas_jax.analysis import plots

    _, positional = parse_flags(argv, lambda fv: None, USAGE)
    if len(positional) != 1:
        raise UsageError("plot needs exactly one run directory: shapley-nas plot WORKDIR")
    for path in plots.plot_run(positional[0]):
        print(path)
    return 0
