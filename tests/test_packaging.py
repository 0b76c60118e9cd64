"""The wheel must contain every subpackage: pyproject lists them explicitly (configs/ is mapped in)."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "shapley_nas_jax").rglob("__init__.py")}
    found.add("shapley_nas_jax.configs")
    assert found == listed


def test_every_experiment_config_loads_and_validates():
    import importlib

    from shapley_nas_jax import config as config_lib

    names = [p.stem for p in (ROOT / "configs").glob("*.py") if p.stem != "__init__" and not p.stem.startswith("train")]
    assert len(names) >= 19
    for name in names:
        config = importlib.import_module(f"shapley_nas_jax.configs.{name}").get_config()
        config_lib.validate(config)
        assert importlib.import_module(f"shapley_nas_jax.configs.{name}").__doc__.count("shapley-nas search") >= 1
