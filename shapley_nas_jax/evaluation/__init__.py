"""From genotype to trained network: evaluation networks, their complexity, and training from scratch.

* :mod:`.networks`: ``NetworkCIFAR``, ``NetworkImageNet``, ``NB201Network`` and ``build_network``;
* :mod:`.complexity`: parameter counts and multiply-adds from shapes (``genotype_complexity``);
* :mod:`.config`: the training config schema (``base_train_config``) and its validation;
* :mod:`.program`: the training state and its jitted steps (``TrainProgram``, ``TrainState``);
* :mod:`.train`: ``run_training(config, genotype, workdir)``, the training schedule driven with its files;

The ``shapley-nas train`` and ``shapley-nas info`` subcommands live in :mod:`shapley_nas_jax.cli`. Names are
imported lazily, so importing this package does not load JAX.
"""

import importlib

_EXPORTS = {
    "AuxiliaryHead": "networks",
    "EvalCell": "networks",
    "NB201Network": "networks",
    "NetworkCIFAR": "networks",
    "NetworkImageNet": "networks",
    "build_network": "networks",
    "drop_path": "networks",
    "Complexity": "complexity",
    "count_madds": "complexity",
    "count_params": "complexity",
    "genotype_complexity": "complexity",
    "network_complexity": "complexity",
    "TrainProgram": "program",
    "TrainState": "program",
    "Training": "train",
    "TrainingInterrupted": "train",
    "base_train_config": "config",
    "run_training": "train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
