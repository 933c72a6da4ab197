"""Fixtures and helpers of the cobaya_plugins tests: Planck-like mock .clik files written once per
test session, and mock files laid out like the real Planck product."""

import os

os.environ.setdefault("CLIPY_NOJAX", "1")  # clipy reads it at import time

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402
from planck_product import product_tarball  # noqa: E402

from cobaya_plugins.install import install  # noqa: E402
from cobaya_plugins.mock import KINDS, write_mock  # noqa: E402

HERE = Path(__file__).parent
REPO = HERE.parents[1]
MOCK_SEED = 1


@pytest.fixture(scope="session")
def mock_paths(tmp_path_factory) -> dict[str, Path]:
    """All mock kinds written with seed 1 into one session directory: kind -> path of .clik."""
    outdir = tmp_path_factory.mktemp("mock_clik")
    return {kind: write_mock(kind, outdir, seed=MOCK_SEED) for kind in KINDS}


def run_cobaya_subprocess(
    info: dict,
    tmp_path: Path,
    name: str = "run",
    check: bool = True,
    timeout: float = 600,
    args: tuple = (),
) -> subprocess.CompletedProcess:
    """``cobaya-run`` in a subprocess, the way users run it, on ``info`` written as YAML.

    The output prefix is ``tmp_path/chains/<name>`` unless ``info`` sets one; the tests directory
    (``fixed_theory``) and the repository are on PYTHONPATH. With ``check``, a non-zero exit fails
    the test showing the end of both output streams.
    """
    info = {"output": str(tmp_path / "chains" / name), **info}
    yaml_file = tmp_path / f"{name}.yaml"
    yaml_file.write_text(yaml.safe_dump(info))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(REPO)]))
    cobaya_run = Path(sys.executable).parent / "cobaya-run"
    proc = subprocess.run(
        [str(cobaya_run), *args, str(yaml_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def cobaya_run(tmp_path):
    """``cobaya_run(info, name="run", check=True)``: see :func:`run_cobaya_subprocess`."""

    def run(info, name="run", check=True, **kwargs):
        return run_cobaya_subprocess(info, tmp_path, name=name, check=check, **kwargs)

    return run


@pytest.fixture(scope="session")
def product_mocks(mock_paths):
    """The mock files of the four kinds the Planck classes use (lensing included)."""
    return mock_paths


@pytest.fixture(scope="session")
def tarball(product_mocks):
    """The bytes of a .tar.gz of the mock files at the real product's paths."""
    return product_tarball(product_mocks)


@pytest.fixture(scope="session")
def installed_mocks(tarball, tmp_path_factory):
    """A data directory (as <packages_path>/data/planck_2018) holding the installed mocks."""
    root = tmp_path_factory.mktemp("installed")
    archive = root / "product.tar.gz"
    archive.write_bytes(tarball)
    directory = root / "packages" / "data" / "planck_2018"
    install("planck2018", directory, url=archive.as_uri(), progress=False, log=lambda _: None)
    return directory
