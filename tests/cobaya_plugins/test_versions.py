"""The supported ranges of the packages whose internals cobaya_plugins relies on: declared in
setup.cfg and checked at import with a clear message."""

import configparser
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cobaya_plugins import versions

SETUP_CFG = Path(__file__).parents[2] / "setup.cfg"


def declared(name):
    """The specifier setup.cfg gives ``name`` (install_requires or an extra)."""
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    lines = config["options"]["install_requires"].split("\n")
    lines += [line for extra in config["options.extras_require"].values()
              for line in extra.split("\n")]  # fmt: skip
    found = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return next(r.specifier for r in found if r.name == name)


@pytest.mark.parametrize("name", list(versions.CHECKED))
def test_checked_packages_have_upper_bounds_and_the_installed_one_is_inside(name):
    from importlib import metadata

    specifier = declared(name)
    assert any(s.operator in ("<", "<=", "==", "~=") for s in specifier), specifier
    assert specifier.contains(metadata.version(name))  # what the tests run with
    versions.supported_range.cache_clear()
    assert versions.supported_range(name) is not None
    versions.require(name)  # no error


def test_outside_the_range_says_which_range_and_how_to_fix(monkeypatch):
    real = versions.metadata.version
    monkeypatch.setattr(versions.metadata, "version",
                        lambda d: "3.7.0" if d == "cobaya" else real(d))  # fmt: skip
    with pytest.raises(ImportError) as err:
        versions.require("cobaya")
    msg = str(err.value)
    assert "supports cobaya >=3.6.2,<3.7" in msg and "this Python has cobaya 3.7.0" in msg
    assert "pip install 'cobaya>=3.6.2,<3.7'" in msg and versions.SKIP_ENV in msg
    monkeypatch.setenv(versions.SKIP_ENV, "1")
    versions.require("cobaya")  # the escape hatch


def test_checked_when_the_cobaya_classes_are_imported():
    """A fresh Python that reports cobaya 3.7.0: importing the likelihood classes stops with the
    message (no traceback from deep inside)."""
    code = ("import importlib.metadata as m\nreal = m.version\n"
            "m.version = lambda d: '3.7.0' if d == 'cobaya' else real(d)\n"
            "try:\n    import cobaya_plugins.planck\n"
            "except ImportError as error:\n    print(type(error).__name__, error)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout  # fmt: skip
    assert out.startswith("UnsupportedVersionError cobaya_plugins supports cobaya >=3.6.2,<3.7")
