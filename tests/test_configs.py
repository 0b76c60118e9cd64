"""The experiment files of configs/: each loads (by path, as --config loads it, and as a module of the installed
package), validates and shows its own command line in its docstring; removed files name their replacement."""

import ast
import importlib
import pathlib
import re
import sys

import pytest
from absl import flags
from ml_collections import config_flags

from shapley_nas_jax import config as config_lib
from shapley_nas_jax.errors import UserError
from shapley_nas_jax.evaluation.config import validate_train_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.py") if p.stem != "__init__")
SEARCH_CONFIGS = [name for name in CONFIGS if not name.startswith("train_")]
ROBUST_DARTS = [f"{space},{dataset}" for space in ("s1", "s2", "s3", "s4") for dataset in ("cifar10", "cifar100", "svhn")]
ARGUMENTS = {"robust_darts": ROBUST_DARTS, "nb201_cifar10_cpu": [None, "/data/cifar10-images"]}
EXPERIMENTS = [(name, arg) for name in CONFIGS for arg in ARGUMENTS.get(name, [None])]


def _path(name: str) -> str:
    return str(ROOT / "configs" / f"{name}.py")


def _docstring(name: str) -> str:
    return ast.get_docstring(ast.parse(pathlib.Path(_path(name)).read_text())) or ""


def _parse_config_flag(value: str):
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "config file", flag_values=fv)
    fv(["prog", f"--config={value}"])
    return fv.config


@pytest.fixture
def configs_package(monkeypatch):
    """shapley_nas_jax.configs from this tree's configs/, as an install maps it (pyproject's package-dir)."""
    spec = importlib.util.spec_from_file_location("shapley_nas_jax.configs", _path("__init__"),
                                                  submodule_search_locations=[str(ROOT / "configs")])
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    for name in [m for m in sys.modules if m.startswith("shapley_nas_jax.configs.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "shapley_nas_jax.configs", package)
    yield package
    for name in [m for m in sys.modules if m.startswith("shapley_nas_jax.configs.")]:
        del sys.modules[name]


@pytest.mark.parametrize("name,arg", EXPERIMENTS, ids=[f"{n}:{a}" if a else n for n, a in EXPERIMENTS])
def test_every_config_file_loads_by_path_and_validates(name, arg, monkeypatch):
    config = config_lib.load_config_file(_path(name), arg)
    if name.startswith("train_"):
        validate_train_config(config)
    else:
        config_lib.validate(config)
    # as the CLI loads it from the repository root (a config building on another finds it beside itself)
    monkeypatch.chdir(ROOT)
    assert _parse_config_flag(f"configs/{name}.py" + (f":{arg}" if arg else "")).to_dict() == config.to_dict()


def test_every_experiment_config_loads_as_a_module_of_the_installed_package_and_validates(configs_package):
    experiments = [(name, arg) for name, arg in EXPERIMENTS if name in SEARCH_CONFIGS]
    assert len(experiments) >= 19
    for name, arg in experiments:
        module = importlib.import_module(f"shapley_nas_jax.configs.{name}")
        config = module.get_config() if arg is None else module.get_config(arg)
        config_lib.validate(config)
        assert config.to_dict() == config_lib.load_config_file(_path(name), arg).to_dict()
        assert module.__doc__.count("shapley-nas search") >= 1


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_docstring_shows_a_command_line_that_names_the_file(name):
    command = "train" if name.startswith("train_") else "search"
    assert re.search(rf"^\s*shapley-nas {command} .*--config configs/{name}\.py[:\s]", _docstring(name), re.MULTILINE), (
        f"configs/{name}.py: its docstring has no `shapley-nas {command} ... --config configs/{name}.py` line")


def test_robust_darts_takes_space_and_dataset_and_refuses_anything_else_in_one_line():
    configs = {arg: config_lib.load_config_file(_path("robust_darts"), arg) for arg in ROBUST_DARTS}
    assert {(c.space, c.data.name) for c in configs.values()} == {
        (s, d) for s in ("s1", "s2", "s3", "s4") for d in ("cifar10", "cifar100", "svhn_cropped")}
    assert [arg for arg, c in configs.items() if not c.data.flip] == ["s1,svhn", "s2,svhn", "s3,svhn", "s4,svhn"]
    usage = re.escape("e.g. configs/robust_darts.py:s2,cifar10")
    for bad in ("s5,cifar10", "s2", "s2,imagenet", "cifar10,s2", "s2,cifar10,x"):
        with pytest.raises(UserError, match=rf"^configs/robust_darts.py:{bad} is not a RobustDARTS experiment: .*{usage}"):
            config_lib.load_config_file(_path("robust_darts"), bad)
    with pytest.raises(UserError, match=rf"needs a space and a dataset: .*{usage}") as error:
        config_lib.load_config_file(_path("robust_darts"))
    assert "\n" not in str(error.value)
    # --config path:arg (ml_collections would wrap a ValueError in a traceback; the UserError comes through as is)
    config = _parse_config_flag(f"{_path('robust_darts')}:s3,cifar100")
    assert (config.space, config.data.name) == ("s3", "cifar100")
    with pytest.raises(UserError, match=r"^configs/robust_darts.py:s3,mnist is not a RobustDARTS experiment"):
        _parse_config_flag(f"{_path('robust_darts')}:s3,mnist")


@pytest.mark.parametrize("space", ["s1", "s2", "s3", "s4"])
@pytest.mark.parametrize("dataset,data_name", [("cifar10", "cifar10"), ("cifar100", "cifar100"), ("svhn", "svhn_cropped")])
def test_a_removed_robust_darts_file_names_its_replacement(space, dataset, data_name):
    for given in (f"configs/{space}_{dataset}.py", f"{ROOT}/configs/{space}_{dataset}.py:unused"):
        hint = config_lib.moved_config_hint(given)
        assert "\n" not in hint and hint.startswith(f"config file {given.split(':')[0]} was replaced")
        replacement = hint.rsplit("use --config ", 1)[1]
        assert replacement.startswith(given.split(":")[0].replace(f"{space}_{dataset}.py", "robust_darts.py:"))
    path, arg = config_lib.moved_config_hint(f"{ROOT}/configs/{space}_{dataset}.py").rsplit(" ", 1)[1].split(":")
    config = config_lib.load_config_file(path, arg)
    assert (config.space, config.data.name, config.data.flip) == (space, data_name, dataset != "svhn")


@pytest.mark.parametrize("given", ["configs/demo.py", "configs/robust_darts.py:s2,cifar10", "s5_cifar10.py",
                                   "configs/s2_cifar10_x.py", "configs/nb201_cifar10.py", "my_s2_cifar10.py"])
def test_a_config_that_was_not_removed_has_no_hint(given):
    assert config_lib.moved_config_hint(given) is None
