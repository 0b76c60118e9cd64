"""The package's modules import each other without cycles: every module-level import points down the layers
(genotypes below spaces, spaces below models, ...)."""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "shapley_nas_jax")


def modules() -> dict[str, str]:
    """Dotted module name -> file, for every module of the package (a package is its __init__)."""
    found = {}
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                parts = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].split(os.sep)
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def module_level_imports(path: str, known: set[str]) -> set[str]:
    """The package's modules that ``path`` imports when it is imported (not inside functions, not under
    ``if TYPE_CHECKING``)."""
    tree = ast.parse(open(path).read())
    targets = set()
    for node in tree.body:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from package import submodule`` imports the submodule (the package is every submodule's parent)
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                     for alias in node.names]
        targets.update(name for name in names if name in known)
    return targets


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_module_level_imports_have_no_cycle():
    found = modules()
    graph = {name: module_level_imports(path, set(found)) - {name} for name, path in found.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_genotypes_import_no_search_space():
    """The genotype formats sit below the spaces: a space derives genotypes, a genotype needs no space."""
    source = open(os.path.join(PACKAGE, "genotypes.py")).read()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert not any(name and name.startswith("shapley_nas_jax.spaces") for name in imported)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
