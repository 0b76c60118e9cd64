"""The wheel must contain every subpackage: pyproject lists them explicitly (configs/ is mapped in)."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "shapley_nas_jax").rglob("__init__.py")}
    found.add("shapley_nas_jax.configs")
    assert found == listed

