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
