"""Search methods are registered strategies: the built-ins' schedules, the registry's rules, and a method
defined outside the package running through ``shapley-nas search --config.search.method=NAME``."""

import json
import os

import numpy as np
import pytest

from search_configs import quick_darts_space, tiny_config
from shapley_nas_jax import SearchMethod, list_methods, register_method
from shapley_nas_jax.config import validate
from shapley_nas_jax.errors import ConfigError, UnknownNameError
from shapley_nas_jax.registry import DuplicateNameError
from shapley_nas_jax.search import arch_update_points
from shapley_nas_jax.search.methods import DARTS, RSPS, RandomSearch, ShapleyNAS, get_method

HERE = os.path.dirname(os.path.abspath(__file__))


def test_builtin_methods_are_registered():
    assert {"shapley", "darts_1st", "darts_2nd", "rsps", "random"} <= set(list_methods())
    assert [type(get_method(name)) for name in ("shapley", "darts_1st", "darts_2nd", "rsps", "random")] == [
        ShapleyNAS, DARTS, DARTS, RSPS, RandomSearch]
    with pytest.raises(UnknownNameError, match="known methods: .*darts_1st"):
        get_method("darts_3rd")
    with pytest.raises(DuplicateNameError, match="overwrite=True"):
        register_method("shapley", get_method("shapley"))
    with pytest.raises(TypeError, match="SearchMethod instance"):
        register_method("not_a_method", object())
    with pytest.raises(ConfigError, match="search.method='nope' is not valid; choose one of .*rsps"):
        validate(tiny_config(**{"search.method": "nope"}))


@pytest.mark.parametrize("method,cadence,expected", [
    ("shapley", "epoch", [2 * 4, 3 * 4]),  # the start of each epoch after the warm-up
    ("shapley", "steps", [9, 12, 15]),  # every 3 weight steps from the warm-up's end
    ("darts_1st", "epoch", list(range(8, 16))),  # before every weight step after the warm-up
    ("darts_2nd", "epoch", list(range(8, 16))),
    ("rsps", "epoch", []),  # trains single paths, chooses at the end
])
def test_each_method_says_when_alpha_moves(method, cadence, expected):
    config = tiny_config("nb201", **{"search.method": method, "train.epochs": 4, "search.warmup_epochs": 2,
                                     "search.alpha_cadence": cadence, "search.alpha_every_steps": 3})
    assert arch_update_points(config, steps_per_epoch=4).tolist() == expected
    config.search.freeze_alpha = True
    assert arch_update_points(config, steps_per_epoch=4).tolist() == []


def test_methods_validate_their_own_options():
    with pytest.raises(ConfigError, match="one op per edge"):
        validate(tiny_config("s2", **{"search.method": "rsps"}))
    with pytest.raises(ConfigError, match="benchmark table"):
        validate(tiny_config("nb201", **{"search.method": "random"}))
    with pytest.raises(ConfigError, match="derive_from='shapley' needs Shapley values"):
        validate(tiny_config(**{"search.method": "darts_1st", "search.derive_from": "shapley"}))


# A method defined outside the package: alpha becomes the last Shapley estimate itself (a config file
# registers it, as a user's would, so the command line can name it).
CONFIG_FILE = '''
import sys
sys.path.insert(0, {tests!r})
from search_configs import quick_darts_space, tiny_config
import shapley_nas_jax as sn
from shapley_nas_jax.search.methods import ShapleyNAS


class ShapleyArgmax(ShapleyNAS):
    """Each update sets alpha to the estimate (scaled), instead of stepping the alpha rule."""

    def arch_step(self, program, state, value_batches, *, hyper, bn_mode):
        state, metrics = super().arch_step(program, state, value_batches, hyper=hyper, bn_mode=bn_mode)
        return state.with_arch(alpha={scale} * state.arch.shapley), metrics


sn.register_method("shapley_argmax", ShapleyArgmax(), overwrite=True)


def get_config():
    return tiny_config(quick_darts_space(), **{{"train.epochs": 2, "search.warmup_epochs": 1,
                                              "train.batch_size": 16, "data.train_fraction": 0.05,
                                              "shapley.value_batch_size": 16, "shapley.samples": 2}})
'''


@pytest.mark.slow
def test_a_method_registered_outside_the_package_runs_from_the_command_line(tmp_path, capsys):
    from shapley_nas_jax.cli import main

    config_file = tmp_path / "argmax_config.py"
    config_file.write_text(CONFIG_FILE.format(tests=HERE, scale=10.0))
    workdir = tmp_path / "run"
    assert main(["shapley-nas", "search", f"--config={config_file}", f"--workdir={workdir}", "--noprogress",
                 "--config.search.method=shapley_argmax"]) == 0
    assert "genotype:" in capsys.readouterr().out
    results = json.loads((workdir / "results.json").read_text())
    updates = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    updates = [r for r in updates if r["kind"] == "alpha_update"]
    assert results["config"]["search"]["method"] == "shapley_argmax" and results["alpha_updates"] == 1
    assert len(updates) == 1 and updates[0]["method"] == "shapley_argmax"
    # the method's own rule ran: alpha is 10 x the update's estimate (the built-in rule moves it by 0.1 at most)
    np.testing.assert_allclose(results["alpha"], 10.0 * np.asarray(updates[0]["shapley"]), rtol=1e-6)
    assert results["shapley"] == updates[0]["shapley"]  # and the search logged it as a Shapley method


def test_a_subclass_inherits_the_quiet_defaults():
    class Frozen(SearchMethod):
        pass

    method = Frozen()
    config = tiny_config(quick_darts_space())
    assert method.update_points(config, 4).tolist() == [] and method.arch_inputs(None, None) == ()
    assert method.supernet and not method.estimates_shapley and not method.chooses_at_end


def test_no_method_name_is_compared_outside_its_module():
    """The search and its reports ask the method (its attributes and hooks), never compare names."""
    import ast
    import pathlib

    package = pathlib.Path(HERE).parent / "shapley_nas_jax"
    names = set(list_methods())
    found = []
    for path in package.rglob("*.py"):
        if "methods" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and "method" in ast.unparse(node):  # e.g. search.method == "rsps"
                constants = [c for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                constants += [e for c in node.comparators if isinstance(c, (ast.Tuple, ast.List, ast.Set))
                              for e in c.elts if isinstance(e, ast.Constant)]
                found += [f"{path.name}:{node.lineno}" for c in constants if c.value in names]
    assert found == []
