"""The two packages never import each other, and featviz_extras needs no Cobaya."""

import subprocess
import sys

import pytest

_SCRIPT = """
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(package.__path__, sys.argv[1] + "."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize(
    "package,forbidden",
    [("featviz_extras", {"cobaya", "cobaya_plugins"}), ("cobaya_plugins", {"featviz_extras"})],
)
def test_package_imports_neither_the_other_nor_cobaya(package, forbidden):
    """Every module of one package imported in a fresh Python: the other package (and, for
    featviz_extras, Cobaya) never appears in ``sys.modules``."""
    out = subprocess.run([sys.executable, "-c", _SCRIPT, package], capture_output=True,
                         text=True, check=True, timeout=300).stdout  # fmt: skip
    assert not forbidden & set(out.split()), out


def _import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its code (also inside functions),
    read from the source; a module's own parent packages are left out (Python imports them
    first anyway)."""
    import ast
    from pathlib import Path

    root = Path(__file__).parents[1] / package
    modules = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                module = (f"{base}.{node.module}" if node.module else base) if node.level else \
                    node.module  # fmt: skip
                found |= {module} | {f"{module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found & set(modules) if m != name and
                       not name.startswith(m + ".")}  # fmt: skip
    return graph


@pytest.mark.parametrize("package", ["cobaya_plugins", "featviz_extras"])
def test_no_import_cycles(package):
    """No module imports, directly or through others, a module that imports it back."""
    graph = _import_graph(package)

    def reaches(start: str, target: str) -> list[str] | None:
        stack, seen = [[start]], set()
        while stack:
            path = stack.pop()
            for nxt in sorted(graph[path[-1]]):
                if nxt == target:
                    return [*path, nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append([*path, nxt])
        return None

    cycles = [cycle for module in sorted(graph) if (cycle := reaches(module, module))]
    assert not cycles, " -> ".join(cycles[0])
