"""Validation against the published Planck 2018 chi2: mechanics on installed mock files, and
the opt-in check of a real install (skipped, saying how to enable it, when absent)."""

import os
from pathlib import Path

import numpy as np
import pytest

from cobaya_plugins import validate as val
from cobaya_plugins.clik import open_clik
from cobaya_plugins.clikdata import read_mdb
from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.install import default_data_directory
from cobaya_plugins.mock.plik_foregrounds import PARAMETER_NAMES

#: clik's own self-test value stored in the real plik_rd12_HM_v22b_TTTEEE.clik.
REAL_PLIK_CHECK = -1172.47
DATA_ENV = "COBAYA_PLUGINS_PLANCK_DATA"


def test_best_fit_nuisance_complete():
    values = val.best_fit_nuisance()
    assert sorted(values) == sorted(PARAMETER_NAMES)
    assert values["A_planck"] == 1.00044 and values["calib_100P"] == 1.021
    assert values["gal545_A_217"] == 95.5 and values["galf_EE_A_217"] == 0.70
    assert values["A_pol"] == 1.0 and values["cib_index"] == -1.3


def test_rows_for_installed_mocks(installed_mocks):
    fid = load_fiducial(lmax=2508)
    dimensionless = {k: v / 2.7255e6**2 for k, v in fid.items()}
    checks = val.validate(installed_mocks, cls=dimensionless, log=lambda _: None)
    assert [c.reference.name for c in checks] == ["LowlTT", "HighlTTTEEE", "HighlTTTEEELite"]
    nuisance = val.best_fit_nuisance()
    for check in checks:
        lkl = open_clik(check.path)
        expected = lkl.loglike(fid, {n: nuisance[n] for n in lkl.nuisance_names})
        assert check.loglike == pytest.approx(expected, rel=1e-10)
        assert check.chi2 == pytest.approx(-2 * expected, rel=1e-10)
    # the mocks are not the real data: their chi2 differ from the published ones
    table = val.format_checks(checks)
    assert "FAIL" in table and "23.16" in table and "2344.75" in table and "584.24" in table
    assert [c.passed for c in checks] == [abs(c.chi2 - c.reference.chi2) <= 0.5 for c in checks]


def test_missing_files_are_listed(tmp_path):
    checks = val.validate(tmp_path, log=lambda _: None)
    assert all(c.loglike is None and c.passed is None for c in checks)
    assert val.format_checks(checks).count("not installed") == 3


def test_default_data_directory(tmp_path, monkeypatch):
    assert default_data_directory(tmp_path) == tmp_path / "data" / "planck_2018"
    monkeypatch.setenv("COBAYA_PACKAGES_PATH", str(tmp_path))
    assert default_data_directory() == tmp_path / "data" / "planck_2018"


@pytest.fixture(scope="module")
def class_cls():
    return val.class_spectra()


@pytest.mark.slow
def test_class_spectra_are_the_fiducial_cosmology(class_cls, installed_mocks):
    """CLASS at the best fit reproduces the shipped fiducial (made by CLASS, 6 digits), and
    the mocks drawn around it give chi2 within 0.05 of the fiducial's."""
    fid = load_fiducial(lmax=2508)
    ell = np.arange(30, 2509)
    np.testing.assert_allclose(class_cls["tt"][ell] * 2.7255e6**2, fid["tt"][ell], rtol=2e-5)
    checks = val.validate(installed_mocks, cls=class_cls, log=lambda _: None)
    dimensionless = {k: v / 2.7255e6**2 for k, v in fid.items()}
    reference = val.validate(installed_mocks, cls=dimensionless, log=lambda _: None)
    for got, ref in zip(checks, reference, strict=True):
        assert got.chi2 == pytest.approx(ref.chi2, abs=0.05)


def real_data_directory():
    """(directory, reason): the real Planck 2018 data if found, else None and why not."""
    how = (
        f"to run it, install the real files (`python -m cobaya_plugins install planck2018 "
        f"--path DIR`, or `cobaya-install cobaya_plugins.planck.HighlTTTEEE -p PACKAGES`) "
        f"and set {DATA_ENV}=DIR (or COBAYA_PACKAGES_PATH=PACKAGES)"
    )
    given = os.environ.get(DATA_ENV)
    directory = Path(given) if given else default_data_directory()
    if directory is None:
        return (
            None,
            f"real Planck 2018 files not found (no {DATA_ENV}, no Cobaya packages path); {how}",
        )
    plik = directory / val.REFERENCES[1].clik_file
    if not plik.exists():
        return None, f"real Planck 2018 files not found under {directory}; {how}"
    check = read_mdb(plik / "clik").get("check_value")
    if check is None or abs(float(check) - REAL_PLIK_CHECK) > 0.01:
        return None, (
            f"{plik} is not the real Planck file (self-check value {check}, real "
            f"{REAL_PLIK_CHECK}: a mock?); {how}"
        )
    return directory, ""


@pytest.mark.slow
def test_real_planck_2018_published_chi2(request):
    """Opt-in: the real files give the published chi2 at the best fit (tolerance 0.5)."""
    directory, reason = real_data_directory()
    if directory is None:
        pytest.skip(reason)
    class_cls = request.getfixturevalue("class_cls")  # CLASS only when the data are there
    checks = val.validate(directory, cls=class_cls, log=lambda _: None)
    print(val.format_checks(checks))
    assert all(c.passed for c in checks if c.loglike is not None), val.format_checks(checks)
