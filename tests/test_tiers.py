"""The tests come in two tiers: ``pytest -m "not slow"`` (minutes on 2 cores) and the whole suite (CI). Tests that
compile a supernet's search steps or run a script or the CLI in a subprocess are marked ``slow``; the fast tier
must still reach every module of the package. Checked here from the test files' source: every module is imported
by a test file that holds a test the fast tier runs."""

import ast
import functools
import importlib
import inspect
import pathlib
import pkgutil

import shapley_nas_jax

TESTS = pathlib.Path(__file__).parent


def _is_slow(node: ast.expr) -> bool:
    """Whether a decorator or ``pytestmark`` value is (or lists) ``pytest.mark.slow``."""
    return "pytest.mark.slow" in ast.unparse(node)


def has_fast_tests(tree: ast.Module) -> bool:
    """Whether the file holds a test function (at the top or in a class) that the fast tier runs."""
    marks = [node.value for node in tree.body if isinstance(node, ast.Assign)
             and any(isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets)]
    if any(_is_slow(mark) for mark in marks):
        return False
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef) and not any(map(_is_slow, node.decorator_list))):
        functions += [node for node in cls.body if isinstance(node, ast.FunctionDef)]
    return any(f.name.startswith("test") and not any(map(_is_slow, f.decorator_list)) for f in functions)


def used_names(tree: ast.Module) -> set[str]:
    """Dotted names of the package a file uses: the modules it imports, the names it imports from them and the
    attributes it reads of those (``plots.plot_cell`` after ``from shapley_nas_jax.analysis import plots``)."""
    local, names = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.name)
                local[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            for alias in node.names:
                local[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    names |= set(local.values())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in local:
            names.add(f"{local[node.value.id]}.{node.attr}")
    return {name for name in names if name.split(".")[0] == "shapley_nas_jax"}


def defining_module(name: str) -> str | None:
    """The module that is, or defines, what the dotted ``name`` names (None where it names nothing): a module, the
    module of a function or class, or for a constant the module its package imports it from."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        thing = owner
        for attr in parts[k:]:
            owner, thing = thing, getattr(thing, attr, None)
        if inspect.ismodule(thing):
            return thing.__name__
        if inspect.isclass(thing) or callable(thing):
            return getattr(thing, "__module__", None)
        return source_of(owner, parts[-1]) if inspect.ismodule(owner) else None
    return None


def source_of(module, name: str) -> str:
    """The module ``module`` imports ``name`` from (``from x import name``), else ``module`` itself."""
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and any(alias.name == name for alias in node.names):
            return node.module
    return module.__name__


def imported_modules(tree: ast.Module) -> set[str]:
    """The package's modules a file uses (``used_names``, each resolved to its defining module), with the packages
    above each (importing a module runs them)."""
    modules = set()
    for name in used_names(tree):
        for module in (name, defining_module(name)):
            parts = (module or "").split(".")
            modules.update(".".join(parts[:k]) for k in range(1, len(parts) + 1) if parts[0] == "shapley_nas_jax")
    return {m for m in modules if m in package_modules()}


@functools.cache
def package_modules() -> frozenset[str]:
    return frozenset({"shapley_nas_jax"} | {info.name for info in pkgutil.walk_packages(shapley_nas_jax.__path__,
                                                                                      "shapley_nas_jax.")})


def test_the_fast_tier_imports_every_module_of_the_package():
    covered = set()
    for path in TESTS.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if has_fast_tests(tree):
            covered |= imported_modules(tree)
    modules = {m for m in package_modules() if not m.endswith(".__main__")}  # `python -m` runs it: a subprocess
    assert len(modules) > 50  # the walk found the package
    missing = sorted(modules - covered)
    assert not missing, f"no test file with fast tests imports {', '.join(missing)}: import it in one, or test it"


def test_the_checks_see_marks_and_imports():
    tree = ast.parse(
        "import pytest\n"
        "from shapley_nas_jax.analysis import plots\n"
        "@pytest.mark.slow\n"
        "def test_a():\n"
        "    import shapley_nas_jax.cli.common\n"
        "class TestB:\n"
        "    def test_b(self):\n"
        "        plots.plot_cell\n")
    assert has_fast_tests(tree)
    assert imported_modules(tree) == {"shapley_nas_jax", "shapley_nas_jax.analysis", "shapley_nas_jax.analysis.plots",
                                      "shapley_nas_jax.analysis.plots.cells", "shapley_nas_jax.cli",
                                      "shapley_nas_jax.cli.common"}
    assert not has_fast_tests(ast.parse("import pytest\npytestmark = pytest.mark.slow\ndef test_a():\n    pass\n"))
    assert not has_fast_tests(ast.parse("import pytest\n@pytest.mark.slow\ndef test_a():\n    pass\n"))
    assert not has_fast_tests(ast.parse("pytestmark = [pytest.mark.data, pytest.mark.slow]\ndef test_a(): pass\n"))
