"""``shapley-nas query``: NAS-Bench-201 accuracies of an arch string, or the benchmark's best."""

from __future__ import annotations

from absl import flags

from shapley_nas_jax.cli.common import parse_flags
from shapley_nas_jax.errors import UsageError

SUMMARY = "NAS-Bench-201 accuracies of an arch string, or the benchmark's best"
USAGE = "shapley-nas query --benchmark FILE (--arch '|...|' | --best) [--json]"


def query_command(argv: list[str]) -> int:
    from shapley_nas_jax.benchmarks import nb201

    def define(fv):
        flags.DEFINE_string("arch", None, "NB201 arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|.", flag_values=fv)
        flags.DEFINE_string("benchmark", None, "NB201 CSV table or nats_bench benchmark file/dir.", flag_values=fv)
        flags.DEFINE_bool("best", False, "Print the optimum arch per dataset instead.", flag_values=fv)
        flags.DEFINE_bool("json", False, "Print one JSON object.", flag_values=fv)

    fv, _ = parse_flags(argv, define, USAGE)
    if not fv.benchmark:
        raise UsageError("query needs --benchmark FILE (an NB201 table or nats_bench file)")
    if bool(fv.arch) == bool(fv.best):
        raise UsageError("query needs exactly one of --arch '<arch string>' or --best")
    print(nb201.query_main(fv.arch, fv.benchmark, fv.best, fv.json))
    return 0
