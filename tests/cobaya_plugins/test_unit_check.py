"""The unit-mistake check (cobaya_plugins.unit_check) on spectra given in declared units."""

import numpy as np
import pytest

from cobaya_plugins import units
from cobaya_plugins.unit_check import UnitReading
from cobaya_plugins.unit_check import diagnose as diagnose_muK2


def diagnose(spectrum, given, declared="muK2", ell_factor=False):
    """The check of numbers ``given`` in ``declared`` units, converted to C_ell µK² by hand as
    clik receives them (T_cmb 2.7255 K)."""
    given = np.asarray(given, float)
    ell = np.arange(len(given))
    scale = {"muK2": 1.0, "K2": 1e12, "dimensionless": 2.7255e6**2}[declared]
    to_cl = np.zeros(len(given))
    to_cl[2:] = 2 * np.pi / (ell[2:] * (ell[2:] + 1.0))
    cl_muK2 = given * scale * (to_cl if ell_factor else 1.0)
    return diagnose_muK2(spectrum, cl_muK2, UnitReading(declared, ell_factor))


# --- the unit-mistake check -------------------------------------------------------------------
# Reference numbers by hand: the shipped fiducial has D_200^TT ≈ 5600 µK² (CLASS, Planck 2018
# best fit; test_fiducial checks it), and 200·201/2π = 6398.0.

LLP1_200 = 200 * 201 / (2 * np.pi)


def fiducial_tt():
    from cobaya_plugins.fiducial import load_fiducial

    return load_fiducial(lmax=2508)["tt"]


@pytest.mark.parametrize(
    "scale, declared, ell_factor, truth",
    [
        (LLP1_200, "muK2", False, ("muK2", True)),  # D_ell given, C_ell declared
        (1e-12, "muK2", False, ("K2", False)),  # K² given, µK² declared
        (1 / (2.7255e6) ** 2, "muK2", False, ("dimensionless", False)),  # ΔT/T as µK²
        (1e-12 * LLP1_200, "muK2", False, ("K2", True)),  # D_ell in K² as C_ell µK²
        (1.0, "K2", False, ("muK2", False)),  # µK² declared as K²
        (1 / LLP1_200, "muK2", True, ("muK2", False)),  # C_ell declared as D_ell (scale ×ℓ-fac)
    ],
)
def test_unit_mistakes_are_explained(scale, declared, ell_factor, truth):
    tt = fiducial_tt()
    given = tt * scale if not ell_factor else tt * LLP1_200 * scale
    diagnosis = diagnose("tt", given, declared, ell_factor)
    assert diagnosis is not None and diagnosis.ell == 200
    assert diagnosis.explained_by == UnitReading(*truth)
    # the value reported is the input as given, and D_ell what the declared units make of it
    assert diagnosis.value == pytest.approx(given[200], rel=1e-12)
    expected_dl = given[200] * units.to_muK2_factor(declared) * (1 if ell_factor else LLP1_200)
    assert diagnosis.dl_muK2 == pytest.approx(expected_dl, rel=1e-12)
    assert diagnosis.reference == pytest.approx(5600, rel=2e-3)


@pytest.mark.parametrize("amplitude", [1.0, 0.2, 7.0])
def test_plausible_amplitudes_pass(amplitude):
    assert diagnose("tt", fiducial_tt() * amplitude) is None


@pytest.mark.parametrize("amplitude", [20.0, 0.05, 300.0, 0.0, -1.0])
def test_far_from_lcdm_but_no_unit_mistake_explains_it(amplitude):
    diagnosis = diagnose("tt", fiducial_tt() * amplitude)
    assert diagnosis is not None and diagnosis.explained_by is None
    text = diagnosis.describe()
    assert "TT at ell=200" in text and "fiducial ΛCDM value 5599 µK²" in text


def test_non_finite_values_are_not_unit_mistakes():
    tt = fiducial_tt()
    tt[200] = np.nan
    assert diagnose("tt", tt) is None


def test_low_ell_spectra_are_checked_at_their_highest_ell():
    tt = fiducial_tt()[:30]
    assert diagnose("tt", tt) is None
    diagnosis = diagnose("tt", tt * 29 * 30 / (2 * np.pi))
    assert diagnosis.ell == 29 and diagnosis.explained_by == UnitReading("muK2", True)
    assert diagnose("tt", tt[:2]) is None  # nothing to check below ell = 2


def test_ee_check_and_fix_phrasings():
    from cobaya_plugins.fiducial import load_fiducial

    ee = load_fiducial(lmax=300)["ee"]
    assert diagnose("ee", ee) is None
    diagnosis = diagnose("ee", ee * 1e-12)
    declared = UnitReading("muK2", False)
    assert diagnosis.explained_by.python_fix(declared) == "units='K2'"
    assert diagnosis.explained_by.yaml_fix(declared) == "`units: K2`"
    both = UnitReading("K2", True)
    assert both.python_fix(declared) == "units='K2', ell_factor=True"
    assert both.yaml_fix(declared) == "`units: K2` and `ell_factor: true`"
    assert str(both) == "D_ell in K2"
