"""``shapley-nas train``: train a genotype's evaluation network from scratch (or resume its training).

``--genotype`` accepts a library name (``darts_v2``, ``pc_darts_cifar``, ``shapley_nas_imagenet``, ...), a
DARTS ``Genotype(...)`` string, an NB201 arch string, a genotype JSON file, a search's ``results.json`` or a
finished search workdir.
"""

from __future__ import annotations

import os

from absl import flags

from shapley_nas_jax.cli.common import default_config_path, load_config, parse_flags, split_overrides
from shapley_nas_jax.errors import UsageError

SUMMARY = "train a genotype from scratch (DARTS / ImageNet-mobile / NB201 networks)"
USAGE = ("shapley-nas train --genotype <name|file|string> [--config configs/train_cifar10.py] [--workdir DIR] "
         "[--config.key=value ...]")

GENOTYPE_HELP = ("Genotype: a library name (darts_v1, darts_v2, pc_darts_cifar, pc_darts_imagenet, "
                 "shapley_nas_cifar10, shapley_nas_imagenet), a Genotype(...) or NB201 '|op~0|+...' string, "
                 "a genotype JSON file, a search's results.json or its workdir.")


def _genotype_label(spec: str) -> str:
    """A short name for default workdirs: the library name, the file's/directory's name, or 'custom'."""
    from shapley_nas_jax.genotypes import known_genotypes

    spec = spec.strip()
    if spec in known_genotypes():
        return spec
    if os.path.exists(spec):
        path = os.path.abspath(spec)
        base = os.path.basename(os.path.dirname(path) if os.path.basename(path) == "results.json" else path)
        return os.path.splitext(base)[0] or "custom"
    return "custom"


def train_command(argv: list[str]) -> int:
    """Train (or resume) a genotype from scratch; prints the workdir, test accuracy, params and multiply-adds."""
    from shapley_nas_jax.evaluation.train import run_training
    from shapley_nas_jax.genotypes import resolve_genotype

    overrides, argv = split_overrides(argv)

    def define(fv):
        flags.DEFINE_string("config", default_config_path("train_demo"), "Training config file (configs/train_*.py).",
                            flag_values=fv)
        flags.DEFINE_string("genotype", None, GENOTYPE_HELP + " Default: the config's genotype.", flag_values=fv)
        flags.DEFINE_string("workdir", None, "Run directory (default runs/<config>-<genotype>-seed<seed>).",
                            flag_values=fv)
        flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=fv)

    fv, positional = parse_flags(argv, define, USAGE)
    if positional:
        raise UsageError(f"train takes no positional arguments, got {positional}; use --genotype and --workdir")
    config = load_config(fv.config, overrides)
    spec = fv.genotype if fv.genotype is not None else config.genotype
    if not spec:
        raise UsageError("train needs --genotype <name|file|string> (or a config with a genotype)")
    genotype = resolve_genotype(spec)
    config_name = os.path.splitext(os.path.basename(fv.config.partition(":")[0]))[0]
    workdir = fv.workdir or os.path.join("runs", f"{config_name}-{_genotype_label(spec)}-seed{config.seed}")
    results = run_training(config, genotype, workdir, progress=fv.progress)
    print(f"workdir: {results['workdir']}")
    print(f"genotype: {results['genotype_str']}")
    print(f"test accuracy: {100 * results['test_accuracy']:.2f}% (top-5 {100 * results['test_top5_accuracy']:.2f}%; "
          f"best {100 * results['best_test_accuracy']:.2f}% at epoch {results['best_epoch']})")
    print(f"params: {results['params_m']:.3f} M (auxiliary head excluded); multiply-adds: {results['madds_m']:.1f} M "
          f"at {results['image_shape'][0]}x{results['image_shape'][1]}")
    return 0
