"""Fixtures of the cobaya_plugins tests: mock files laid out like the real Planck product."""

import pytest
from planck_product import product_tarball

from cobaya_plugins.install import install
from cobaya_plugins.mock import write_mock


@pytest.fixture(scope="session")
def product_mocks(mock_paths, tmp_path_factory):
    """The mock files of the four kinds the Planck classes use (lensing included)."""
    paths = dict(mock_paths)
    if "lensing" not in paths:
        paths["lensing"] = write_mock("lensing", tmp_path_factory.mktemp("lens"), seed=1)
    return paths


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
