"""pyproject.toml against the code: the wheel contains every subpackage (listed explicitly; configs/ is mapped
in), what the package imports is declared and what is declared is imported, and every extra resolves."""

import ast
import importlib.metadata
import json
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "shapley_nas_jax").rglob("__init__.py")}
    found.add("shapley_nas_jax.configs")
    assert found == listed



PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# imported by the package but declared by no requirement of its own, each with the reason
UNDECLARED_IMPORTS = {
    "jaxlib": "installed and pinned by jax",
    "tensorboardx": "optional: runs.py writes TensorBoard events only when it is installed",
}


def _dist(name: str) -> str:
    """A distribution or requirement name in its normalised form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements) -> set[str]:
    return {_dist(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}


def _imported_distributions() -> dict[str, str]:
    """Third-party distribution -> one installed file importing it, over the installed package (configs too).
    Modules of distributions not installed here count under their own name."""
    by_module = importlib.metadata.packages_distributions()
    found = {}
    for path in [*(ROOT / "shapley_nas_jax").rglob("*.py"), *(ROOT / "configs").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for top in {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"shapley_nas_jax"}:
                for dist in by_module.get(top, [top]):
                    found.setdefault(_dist(dist), str(path.relative_to(ROOT)))
    return found


def test_every_imported_distribution_is_declared_and_every_dependency_is_imported():
    runtime = _requirement_names(PYPROJECT["dependencies"])
    extras = {name: _requirement_names(reqs) for name, reqs in PYPROJECT["optional-dependencies"].items()}
    imported = _imported_distributions()
    declared = runtime.union(*extras.values())
    undeclared = {d: f for d, f in imported.items() if d not in declared and d not in UNDECLARED_IMPORTS}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    assert runtime <= set(imported), f"runtime dependencies the package never imports: {runtime - set(imported)}"
    assert "scipy" in runtime and "chex" in extras["test"]  # chex serves one test file only


def test_extras_for_accelerators_and_cloud_storage_and_their_install_lines():
    extras = PYPROJECT["optional-dependencies"]
    assert extras["cuda12"] == ["jax[cuda12]>=0.10.2"] and extras["tpu"] == ["jax[tpu]>=0.10.2"]
    assert any(r.startswith("etils[") and "epath-gcs" in r for r in extras["gcs"])
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e '.[cuda12]'" in readme and "pip install -e '.[tpu]'" in readme
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "configs").glob("*.py")]
    docs = "\n".join(p.read_text() for p in files)
    named = {e for group in re.findall(r"(?:shapley-nas-jax|\.)\[([a-z0-9_,-]+)\]'", docs) for e in group.split(",")}
    assert named and named <= set(extras), f"install lines name unknown extras: {named - set(extras)}"


_UNREACHABLE = ("NewConnectionError", "Could not fetch URL", "Temporary failure in name resolution",
                "Network is unreachable", "ProxyError", "ConnectTimeout", "ReadTimeout")


@pytest.mark.slow
def test_every_requirement_and_extra_resolves_on_the_package_index(tmp_path):
    # --no-deps: each requirement of pyproject (runtime and every extra) is resolved on its own, its wheel's
    # metadata fetched (no large downloads); the report then shows whether each named extra exists, e.g. jax's
    # "tpu" and etils' "epath-gcs" (pip only warns about a missing one).
    requirements = [*PYPROJECT["dependencies"], *sum(PYPROJECT["optional-dependencies"].values(), [])]
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                           "--no-deps", "--retries", "1", "--timeout", "30", "--report", str(report), *requirements],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and any(s in proc.stderr for s in _UNREACHABLE):
        pytest.skip(f"the package index cannot be reached: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    provided = {_dist(i["metadata"]["name"]): {_dist(e) for e in i["metadata"].get("provides_extra") or []}
                for i in json.loads(report.read_text())["install"]}
    for requirement in requirements:
        name = _dist(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        wanted = re.search(r"\[([^\]]+)\]", requirement)
        assert name in provided, f"{requirement} did not resolve"
        missing = {_dist(e) for e in wanted.group(1).split(",")} - provided[name] if wanted else set()
        assert not missing, f"{requirement}: {name} has no extra {missing}"
