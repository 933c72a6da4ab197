"""The two packages never import each other, and featviz_extras needs no Cobaya."""

import ast
import subprocess
import sys
from pathlib import Path

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


REPO = Path(__file__).parents[1]

#: Top-level packages that each package must never import, in any statement anywhere.
FORBIDDEN = {"featviz_extras": {"cobaya", "cobaya_plugins"}, "cobaya_plugins": {"featviz_extras"}}

#: Calls whose first argument names a module to import (``importlib.import_module("x")``,
#: ``__import__("x")``, ``importlib.util.find_spec("x")``).
_IMPORTING_CALLS = {"import_module", "__import__", "find_spec"}


def imports_in(source: str, here: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import anywhere in ``source`` (module level, in
    functions, classes, ``try`` and ``if`` blocks): ``import x`` gives x; ``from x import y``
    gives x and x.y (y may be a submodule); relative imports are resolved against ``here`` (the
    package the source lives in); a string (or an f-string whose head is a literal or
    ``{__name__}``) passed to ``import_module``/``__import__``/``find_spec`` gives that string."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            found += [(node.lineno, module)]
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in _IMPORTING_CALLS and (name := _literal_head(node.args[0], here)):
                found.append((node.lineno, name))
    return sorted(found)


def _literal_head(node: ast.expr, here: str) -> str | None:
    """The module named by a string argument: a literal, or an f-string's part before its first
    placeholder (``{__name__}`` read as the module's package); None when it is not known."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr) or not node.values:
        return None
    head = node.values[0]
    if isinstance(head, ast.Constant):
        return head.value.rstrip(".") or None
    if isinstance(head.value, ast.Name) and head.value.id == "__name__":
        return here
    return None


def _modules(package_dir: Path) -> dict[str, tuple[Path, str]]:
    """Module name -> (path, the package its relative imports start from) for every .py file."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        name = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        modules[name] = (path, name if path.name == "__init__.py" else name.rpartition(".")[0])
    return modules


def forbidden_imports(package_dir: Path, forbidden: set[str]) -> list[str]:
    """``"path:line: name"`` for every import, in every .py file under ``package_dir``, of a
    module whose top-level package is in ``forbidden``."""
    hits = []
    for path, here in _modules(package_dir).values():
        for line, name in imports_in(path.read_text(), here):
            if name.split(".")[0] in forbidden:
                hits.append(f"{path.relative_to(package_dir.parent)}:{line}: {name}")
    return sorted(set(hits))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_statement_anywhere_names_the_other_package(package):
    """Every import statement of every file, also those inside functions (which the import test
    above never executes), read with ``ast``: none names the other package (or Cobaya, for
    featviz_extras)."""
    modules = _modules(REPO / package)
    assert len(modules) > 10  # the scan saw the package's files
    assert forbidden_imports(REPO / package, FORBIDDEN[package]) == []


def test_the_scan_sees_imports_in_functions_classes_and_strings():
    """The scanner on a source written for it: every kind of import, and where it is."""
    source = """import numpy
def f():
    import cobaya.log
class A:
    def m(self):
        from cobaya_plugins.gradients import LogPosterior
try:
    import featviz_extras as fv
except ImportError:
    pass
if TYPE_CHECKING:
    from cobaya import model
x = importlib.import_module("cobaya_plugins.planck")
y = __import__("cobaya")
z = importlib.import_module(f"{__name__}.render")
w = lambda: importlib.util.find_spec(f"featviz_extras.{name}")
from . import sibling
from ..up import thing
v = importlib.import_module(name)
"""
    assert imports_in(source, here="pkg.sub") == [
        (1, "numpy"),
        (3, "cobaya.log"),
        (6, "cobaya_plugins.gradients"),
        (6, "cobaya_plugins.gradients.LogPosterior"),
        (8, "featviz_extras"),
        (12, "cobaya"),
        (12, "cobaya.model"),
        (13, "cobaya_plugins.planck"),
        (14, "cobaya"),
        (15, "pkg.sub"),
        (16, "featviz_extras"),
        (17, "pkg.sub"),
        (17, "pkg.sub.sibling"),
        (18, "pkg.up"),
        (18, "pkg.up.thing"),
    ]


def test_the_scan_fails_on_a_copy_with_an_import_inside_a_function(tmp_path):
    """A copy of featviz_extras passes; the same copy with one function that imports
    cobaya_plugins (never run on import) fails, naming the file and line."""
    copy = tmp_path / "featviz_extras"
    for path in (REPO / "featviz_extras").rglob("*.py"):
        target = copy / path.relative_to(REPO / "featviz_extras")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    assert forbidden_imports(copy, FORBIDDEN["featviz_extras"]) == []
    (copy / "sneaky.py").write_text(
        '"""Doc."""\n\n\ndef later():\n    from cobaya.log import LoggedError\n'
    )
    assert forbidden_imports(copy, FORBIDDEN["featviz_extras"]) == [
        "featviz_extras/sneaky.py:5: cobaya.log",
        "featviz_extras/sneaky.py:5: cobaya.log.LoggedError",
    ]


def _import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its code (also inside functions),
    read from the source; a module's own parent packages are left out (Python imports them
    first anyway)."""
    modules = _modules(REPO / package)
    graph = {}
    for name, (path, here) in modules.items():
        found = {module for _, module in imports_in(path.read_text(), here)}
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
