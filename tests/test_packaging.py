"""Packaging: every folder of Python files in the two packages is in setup.cfg's `packages`, so
that `pip install` raises no "is absent from the `packages` configuration" warning."""

from pathlib import Path

from setuptools import find_namespace_packages, find_packages

REPO = Path(__file__).parents[1]
INCLUDE = ["cobaya_plugins", "cobaya_plugins.*", "featviz_extras", "featviz_extras.*"]


def test_every_folder_with_python_files_is_a_listed_package():
    """setuptools warns for a folder Python can import (a namespace package: any folder) that
    holds modules but that `packages = find:` (folders with __init__.py) leaves out."""
    listed = set(find_packages(where=REPO, include=INCLUDE))
    importable = {
        name
        for name in find_namespace_packages(where=REPO, include=INCLUDE)
        if any((REPO / name.replace(".", "/")).glob("*.py"))
    }
    assert importable - listed == set(), "add an __init__.py to these folders"
    assert {"cobaya_plugins.data", "featviz_extras.data"} <= listed
