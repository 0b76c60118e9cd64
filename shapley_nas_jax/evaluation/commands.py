"""The ``shapley-nas train`` and ``shapley-nas info`` subcommands (registered in :mod:`shapley_nas_jax.cli`).

    shapley-nas train --genotype <name|file|string> [--config configs/train_cifar10.py] [--workdir DIR]
                      [--config.key=value ...]
    shapley-nas info  --genotype <name|file|string> [--dataset cifar10|cifar100|imagenet] [--json]

``--genotype`` accepts a library name (``darts_v2``, ``pc_darts_cifar``, ``shapley_nas_imagenet``, ...), a
DARTS ``Genotype(...)`` string, an NB201 arch string, a genotype JSON file, a search's ``results.json`` or a
finished search workdir. Errors caused by input are raised as ``UserError`` (one line from the CLI).
"""

from __future__ import annotations

import json
import os

from absl import flags
from ml_collections import config_flags

from shapley_nas_jax.errors import UserError

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
    from shapley_nas_jax.cli import _parse, check_config_file, default_config_path

    check_config_file(argv)
    from shapley_nas_jax.evaluation.train import run_training
    from shapley_nas_jax.genotypes import resolve_genotype

    def define(fv):
        config_flags.DEFINE_config_file("config", default_config_path("train_demo"),
                                        "Training config file (configs/train_*.py).", flag_values=fv,
                                        lock_config=True, sys_argv=list(argv))  # overrides read from argv
        flags.DEFINE_string("genotype", None, GENOTYPE_HELP + " Default: the config's genotype.", flag_values=fv)
        flags.DEFINE_string("workdir", None, "Run directory (default runs/<config>-<genotype>-seed<seed>).",
                            flag_values=fv)
        flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=fv)

    fv, positional = _parse(argv, define)
    if positional:
        raise UserError(f"train takes no positional arguments, got {positional}; use --genotype and --workdir")
    config = fv.config
    spec = fv.genotype if fv.genotype is not None else config.genotype
    if not spec:
        raise UserError("train needs --genotype <name|file|string> (or a config with a genotype)")
    genotype = resolve_genotype(spec)
    config_name = os.path.splitext(os.path.basename(fv["config"].config_filename))[0]
    workdir = fv.workdir or os.path.join("runs", f"{config_name}-{_genotype_label(spec)}-seed{config.seed}")
    results = run_training(config, genotype, workdir, progress=fv.progress)
    print(f"workdir: {results['workdir']}")
    print(f"genotype: {results['genotype_str']}")
    print(f"test accuracy: {100 * results['test_accuracy']:.2f}% (top-5 {100 * results['test_top5_accuracy']:.2f}%; "
          f"best {100 * results['best_test_accuracy']:.2f}% at epoch {results['best_epoch']})")
    print(f"params: {results['params_m']:.3f} M (auxiliary head excluded); multiply-adds: {results['madds_m']:.1f} M "
          f"at {results['image_shape'][0]}x{results['image_shape'][1]}")
    return 0


def info_command(argv: list[str]) -> int:
    """Print a genotype's parameters and multiply-adds (millions) at the dataset's evaluation resolution."""
    from shapley_nas_jax.cli import _parse
    from shapley_nas_jax.evaluation.complexity import DATASET_INPUTS, genotype_complexity
    from shapley_nas_jax.genotypes import NB201Genotype, resolve_genotype

    def define(fv):
        flags.DEFINE_string("genotype", None, GENOTYPE_HELP, flag_values=fv)
        flags.DEFINE_enum("dataset", "cifar10", list(DATASET_INPUTS),
                          "Evaluation setting: cifar10/cifar100 (32x32; DARTS C=36, 20 cells) or imagenet (224x224 "
                          "mobile network C=48, 14 cells; NB201 arch strings: ImageNet16-120 at 16x16).",
                          flag_values=fv)
        flags.DEFINE_integer("channels", None, "Override the initial channels C.", flag_values=fv)
        flags.DEFINE_integer("layers", None, "Override the number of DARTS cells.", flag_values=fv)
        flags.DEFINE_bool("json", False, "Print one JSON object with params_m and madds_m.", flag_values=fv)

    fv, positional = _parse(argv, define)
    if positional:
        raise UserError(f"info takes no positional arguments, got {positional}; use --genotype")
    if not fv.genotype:
        raise UserError("info needs --genotype <name|file|string>")
    genotype = resolve_genotype(fv.genotype)
    if fv.channels is not None and fv.channels < 2:
        raise UserError(f"--channels={fv.channels} must be >= 2")
    if fv.layers is not None and fv.layers < 3:
        raise UserError(f"--layers={fv.layers} must be >= 3 (two reduction cells)")
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
