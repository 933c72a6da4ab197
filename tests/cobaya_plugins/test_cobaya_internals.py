"""Cobaya's private names are used only in cobaya_plugins/cobaya_internals.py (under the version
check), and the two things reached there give what Cobaya's own code paths give."""

import ast
import math
from pathlib import Path

import cobaya
import numpy as np
import pytest
from cobaya.model import get_model

from cobaya_plugins import cobaya_internals

PACKAGE = Path(__file__).parents[2] / "cobaya_plugins"
ADAPTER = PACKAGE / "cobaya_internals.py"
#: Private Cobaya names still reached outside the adapter, each with its reason (keep it short).
KNOWN: set[tuple[str, str]] = set()


def private_names(tree: ast.AST) -> set[str]:
    """``_name`` (not dunder) attributes assigned on ``self``/``cls``, methods and class-level
    annotations or assignments defined in ``tree``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    names.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def cobaya_private_names() -> set[str]:
    found = set()
    for path in Path(cobaya.__file__).parent.rglob("*.py"):
        found |= private_names(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_private_cobaya_names_only_in_the_adapter():
    """Any ``obj._name`` read in the package, where Cobaya defines ``_name`` and the module does
    not define it itself (its own attribute or its own override), is a use of Cobaya's
    internals: only the adapter may have one."""
    cobaya_names = cobaya_private_names()
    assert {"_chi2_names", "_rng", "_must_provide"} <= cobaya_names  # the scan sees them
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == ADAPTER:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own = private_names(tree)
        for name in read_names(tree):
            if name in cobaya_names and name not in own:
                found.add((str(path.relative_to(PACKAGE)), name))
    assert found - KNOWN == set(), "move these to cobaya_plugins/cobaya_internals.py"


def read_names(tree: ast.AST) -> set[str]:
    """Attribute names read in ``tree``: ``obj.name``, and ``getattr``/``hasattr`` with the
    name as a string literal (``getattr(obj, "_name", None)`` is the same read)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            names.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            names.add(node.args[1].value)
    return names


def test_the_scan_finds_a_private_name_outside_the_adapter():
    tree = ast.parse(
        "def f(model, like):\n    return model._chi2_names, getattr(like, '_current_state', None)\n"
    )
    found = read_names(tree) & cobaya_private_names() - private_names(tree)
    assert found == {"_chi2_names", "_current_state"}


def test_chi2_groups_sum_as_cobaya_does():
    """Two likelihoods of type 'cmb' and one of type 'bao': the chi2__cmb and chi2__bao that
    Cobaya derives equal the sums over the groups."""
    model = get_model(
        {
            "likelihood": {
                "one": {"external": "lambda a: -0.5 * a**2", "type": "cmb"},
                "two": {"external": "lambda a: -0.5 * (a - 1)**2", "type": "cmb"},
                "three": {"external": "lambda a: -2.0 * a**2", "type": "bao"},
            },
            "params": {"a": {"prior": {"min": -3, "max": 3}}},
        }
    )
    point = model.logposterior({"a": 0.4})
    derived = dict(zip(model.parameterization.derived_params(), point.derived, strict=True))
    groups = dict(cobaya_internals.chi2_groups(model))
    assert set(groups) == {"chi2__cmb", "chi2__bao"}
    for name, indices in groups.items():
        assert derived[name] == pytest.approx(-2 * sum(point.loglikes[i] for i in indices))
    assert derived["chi2__cmb"] == pytest.approx(0.4**2 + 0.6**2)  # by hand


def test_getdist_point_text_is_read_back_by_getdist(tmp_path):
    """The .minimum text, read with GetDist's own reader, gives the point's values and its
    -log(posterior)."""
    from cobaya.collection import OnePoint
    from getdist.types import BestFit

    model = get_model(
        {
            "likelihood": {"g": {"external": "lambda a, b: -0.5 * (a**2 + b**2)", "type": "t"}},
            "params": {"a": {"prior": {"min": -3, "max": 3}, "latex": r"\\alpha"},
                       "b": {"prior": {"min": -3, "max": 3}},
                       "c": {"derived": "lambda a, b: a + b"}},
        }
    )  # fmt: skip
    x = np.array([0.3, -1.2])
    logpost = model.logposterior(x)
    point = OnePoint(model, None, name="")
    point.add(x, derived=logpost.derived, logpost=logpost.logpost,
              logpriors=logpost.logpriors, loglikes=logpost.loglikes)  # fmt: skip
    text = cobaya_internals.getdist_point_text(model, point, point["minuslogpost"])
    (tmp_path / "p.minimum").write_text(text)
    read = BestFit(str(tmp_path / "p.minimum"))
    values = {p.name: p.best_fit for p in read.names}
    assert values["a"] == pytest.approx(0.3) and values["b"] == pytest.approx(-1.2)
    assert values["c"] == pytest.approx(-0.9)
    assert read.logLike == pytest.approx(0.5 * (0.09 + 1.44) + 2 * math.log(6))
