"""``shapley-nas info``: parameters and multiply-adds of a genotype's evaluation network."""

from __future__ import annotations

import json

from absl import flags

from shapley_nas_jax.cli.common import parse_flags
from shapley_nas_jax.cli.train import GENOTYPE_HELP
from shapley_nas_jax.errors import UsageError

SUMMARY = "parameters and multiply-adds of a genotype's network"
USAGE = "shapley-nas info --genotype <name|file|string> [--dataset cifar10|cifar100|imagenet] [--json]"


def info_command(argv: list[str]) -> int:
    """Print a genotype's parameters and multiply-adds (millions) at the dataset's evaluation resolution."""
    from shapley_nas_jax.evaluation.complexity import DATASET_INPUTS, genotype_complexity
    from shapley_nas_jax.genotypes import resolve_genotype
    from shapley_nas_jax.genotypes import NB201Genotype

    def define(fv):
        flags.DEFINE_string("genotype", None, GENOTYPE_HELP, flag_values=fv)
        flags.DEFINE_enum("dataset", "cifar10", list(DATASET_INPUTS),
                          "Evaluation setting: cifar10/cifar100 (32x32; DARTS C=36, 20 cells) or imagenet (224x224 "
                          "mobile network C=48, 14 cells; NB201 arch strings: ImageNet16-120 at 16x16).",
                          flag_values=fv)
        flags.DEFINE_integer("channels", None, "Override the initial channels C.", flag_values=fv)
        flags.DEFINE_integer("layers", None, "Override the number of DARTS cells.", flag_values=fv)
        flags.DEFINE_bool("json", False, "Print one JSON object with params_m and madds_m.", flag_values=fv)

    fv, positional = parse_flags(argv, define, USAGE)
    if positional:
        raise UsageError(f"info takes no positional arguments, got {positional}; use --genotype")
    if not fv.genotype:
        raise UsageError("info needs --genotype <name|file|string>")
    genotype = resolve_genotype(fv.genotype)
    if fv.channels is not None and fv.channels < 2:
        raise UsageError(f"--channels={fv.channels} must be >= 2")
    if fv.layers is not None and fv.layers < 3:
        raise UsageError(f"--layers={fv.layers} must be >= 3 (two reduction cells)")
    c = genotype_complexity(genotype, fv.dataset, channels=fv.channels, layers=fv.layers)
    network = "nb201" if isinstance(genotype, NB201Genotype) else ("imagenet" if fv.dataset == "imagenet" else "cifar")
    if fv.json:
        print(json.dumps({"genotype": str(genotype), "dataset": fv.dataset, "network": network,
                          "image_shape": list(c.image_shape), "params": c.params, "params_m": c.params_m,
                          "madds": c.madds, "madds_m": c.madds_m}))
    else:
        h, w, _ = c.image_shape
        print(f"genotype: {genotype}")
        print(f"network: {network} ({fv.dataset}, {h}x{w})")
        print(f"params: {c.params_m:.3f} M (auxiliary head excluded)")
        print(f"multiply-adds: {c.madds_m:.1f} M")
    return 0
