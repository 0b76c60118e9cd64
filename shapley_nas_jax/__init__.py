"""Shapley-NAS in JAX/Flax: architecture search driven by Shapley values of operations.

The public API is importable from here; names load lazily on first use (``import shapley_nas_jax`` does
not import JAX)::

    import shapley_nas_jax as sn

    sn.shapley_values(lambda m: m @ w, num_players=5)          # any game, exact or Monte-Carlo
    sn.register_space("toy", factory); sn.register_op("my_op", builder)
    sn.register_value_metric("latency_acc", fn); sn.register_alpha_rule("my_rule", factory)
    sn.register_estimator("my_estimator", fn)                  # fn(game, budget, key) -> sn.Estimate
    sn.register_method("my_method", MyMethod())                # a SearchMethod subclass
    search = sn.Search.from_config(sn.base_config()); state = search.init_state()

See ``docs/extending.md`` and ``docs/shapley_games.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # api.py: any game, and a search driven step by step
    "Search": "shapley_nas_jax.api",
    "MaskGame": "shapley_nas_jax.api",
    "mask_game": "shapley_nas_jax.api",
    "shapley_values": "shapley_nas_jax.api",
    # Shapley machinery
    "Estimate": "shapley_nas_jax.shapley",
    "available_estimators": "shapley_nas_jax.shapley",
    "register_estimator": "shapley_nas_jax.shapley",
    "exact_shapley": "shapley_nas_jax.shapley",
    "permutation_shapley": "shapley_nas_jax.shapley",
    "sample_permutations": "shapley_nas_jax.shapley",
    # search spaces and ops
    "SearchSpace": "shapley_nas_jax.spaces",
    "get_space": "shapley_nas_jax.spaces",
    "list_spaces": "shapley_nas_jax.spaces",
    "register_space": "shapley_nas_jax.spaces",
    "uniform_darts_space": "shapley_nas_jax.spaces",
    "known_ops": "shapley_nas_jax.ops",
    "make_op": "shapley_nas_jax.ops",
    "register_op": "shapley_nas_jax.ops",
    # supernets and value functions
    "build_supernet": "shapley_nas_jax.models",
    "mixing_weights": "shapley_nas_jax.models",
    "available_value_metrics": "shapley_nas_jax.value",
    "get_value_metric": "shapley_nas_jax.value",
    "make_value_fn": "shapley_nas_jax.value",
    "register_value_metric": "shapley_nas_jax.value",
    # alpha rules
    "available_alpha_rules": "shapley_nas_jax.alpha_rules",
    "get_alpha_rule": "shapley_nas_jax.alpha_rules",
    "paper_rule": "shapley_nas_jax.alpha_rules",
    "reference_rule": "shapley_nas_jax.alpha_rules",
    "register_alpha_rule": "shapley_nas_jax.alpha_rules",
    # search methods
    "SearchMethod": "shapley_nas_jax.search.methods",
    "register_method": "shapley_nas_jax.search.methods",
    "list_methods": "shapley_nas_jax.search.methods",
    # search loop, config, genotypes
    "SearchResult": "shapley_nas_jax.search",
    "SearchState": "shapley_nas_jax.search",
    "run_search": "shapley_nas_jax.search",
    "Population": "shapley_nas_jax.search.population",
    "run_population": "shapley_nas_jax.search.population",
    "base_config": "shapley_nas_jax.config",
    "validate_config": "shapley_nas_jax.config:validate",
    "derive_genotype": "shapley_nas_jax.genotypes",
    "get_genotype": "shapley_nas_jax.genotypes",
    "parse_genotype": "shapley_nas_jax.genotypes",
}

_SUBMODULES = ("alpha_rules", "analysis", "api", "benchmarks", "config", "data", "evaluation", "exact_games",
               "genotypes", "models", "ops", "search", "shapley", "spaces", "value")

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is not None:
        module_name, _, attr = target.partition(":")
        value = getattr(importlib.import_module(module_name), attr or name)
        globals()[name] = value  # later lookups skip this hook
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))


if TYPE_CHECKING:  # static analysers and IDEs see the real names
    from shapley_nas_jax.alpha_rules import (available_alpha_rules, get_alpha_rule, paper_rule, reference_rule,
                                             register_alpha_rule)
    from shapley_nas_jax.api import MaskGame, Search, mask_game, shapley_values
    from shapley_nas_jax.config import base_config
    from shapley_nas_jax.config import validate as validate_config
    from shapley_nas_jax.genotypes import derive_genotype, get_genotype, parse_genotype
    from shapley_nas_jax.models import build_supernet, mixing_weights
    from shapley_nas_jax.ops import known_ops, make_op, register_op
    from shapley_nas_jax.search import SearchResult, SearchState, run_search
    from shapley_nas_jax.search.methods import SearchMethod, list_methods, register_method
    from shapley_nas_jax.search.population import Population, run_population
    from shapley_nas_jax.shapley import (Estimate, available_estimators, exact_shapley, permutation_shapley,
                                         register_estimator, sample_permutations)
    from shapley_nas_jax.spaces import SearchSpace, get_space, list_spaces, register_space, uniform_darts_space
    from shapley_nas_jax.value import available_value_metrics, get_value_metric, make_value_fn, register_value_metric
