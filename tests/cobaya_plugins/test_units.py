import numpy as np
import pytest

from cobaya_plugins import units


def test_factors_have_the_documented_values():
    assert units.to_muK2_factor("muK2") == 1.0
    assert units.to_muK2_factor("K2") == 1e12
    assert units.to_muK2_factor("dimensionless") == pytest.approx((2.7255e6) ** 2, rel=1e-15)
    assert units.to_muK2_factor("dimensionless", T_cmb=2.7) == pytest.approx((2.7e6) ** 2)


def test_reference_numbers_from_class():
    # CLASS TT[200] = 1.178e-13 (ΔT/T)² -> 0.8752 µK² -> D_200 = 5599.8 µK²
    c = np.zeros(201)
    c[200] = 1.178e-13
    muk = units.to_muK2_cl(c, "dimensionless")
    assert muk[200] == pytest.approx(1.178e-13 * 2.7255e6**2, rel=1e-14)
    d200 = (muk * units.cl_to_dl_factor(200))[200]
    assert d200 == pytest.approx(1.178e-13 * 2.7255e6**2 * 200 * 201 / (2 * np.pi), rel=1e-14)
    assert d200 == pytest.approx(5598.66, abs=0.01)  # the hand product, to 0.01 µK²


def test_ell_factors_are_inverse_and_zero_below_two():
    d = units.cl_to_dl_factor(10)
    c = units.dl_to_cl_factor(10)
    np.testing.assert_allclose(d, [l * (l + 1) / (2 * np.pi) for l in range(11)], rtol=1e-15)
    assert units.llp1_over_2pi(200) == pytest.approx(6398.028, abs=1e-3)
    assert c[0] == 0 and c[1] == 0
    np.testing.assert_allclose(d[2:] * c[2:], 1.0, rtol=1e-15)


@pytest.mark.parametrize("u", units.UNITS)
@pytest.mark.parametrize("dl", [False, True])
def test_round_trip(u, dl):
    rng = np.random.default_rng(0)
    cl = rng.uniform(1, 2, 50)
    cl[:2] = 0
    back = units.to_muK2_cl(units.from_muK2_cl(cl, u, dl), u, dl)
    np.testing.assert_allclose(back, cl, rtol=1e-13)


def test_input_is_not_modified():
    cl = np.ones(10)
    units.to_muK2_cl(cl, "K2", ell_factor=True)
    assert np.all(cl == 1)


def test_bad_units_and_temperature():
    with pytest.raises(ValueError, match="Unknown units 'uK2'.*muK2"):
        units.to_muK2_factor("uK2")
    with pytest.raises(ValueError, match="T_cmb must be a positive"):
        units.to_muK2_factor("dimensionless", T_cmb=-1)


def test_cobaya_temperature_factor():
    assert units.cobaya_temperature_factor("FIRASmuK2", T_cmb=2.7) == 2.7255e6
    assert units.cobaya_temperature_factor("muK2", T_cmb=2.7) == 2.7e6
    assert units.cobaya_temperature_factor("K2", T_cmb=2.7) == 2.7
    assert units.cobaya_temperature_factor("1") == 1.0
    assert units.cobaya_temperature_factor(3.0) == 3.0
    with pytest.raises(ValueError, match="Unknown Cobaya units"):
        units.cobaya_temperature_factor("mK2")


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
    diagnosis = units.diagnose_units("tt", given, declared, ell_factor)
    assert diagnosis is not None and diagnosis.ell == 200
    assert diagnosis.explained_by == units.UnitReading(*truth)
    # the value reported is the input as given, and D_ell what the declared units make of it
    assert diagnosis.value == given[200]
    expected_dl = given[200] * units.to_muK2_factor(declared) * (1 if ell_factor else LLP1_200)
    assert diagnosis.dl_muK2 == pytest.approx(expected_dl, rel=1e-12)
    assert diagnosis.reference == pytest.approx(5600, rel=2e-3)


@pytest.mark.parametrize("amplitude", [1.0, 0.2, 7.0])
def test_plausible_amplitudes_pass(amplitude):
    assert units.diagnose_units("tt", fiducial_tt() * amplitude) is None


@pytest.mark.parametrize("amplitude", [20.0, 0.05, 300.0, 0.0, -1.0])
def test_far_from_lcdm_but_no_unit_mistake_explains_it(amplitude):
    diagnosis = units.diagnose_units("tt", fiducial_tt() * amplitude)
    assert diagnosis is not None and diagnosis.explained_by is None
    text = diagnosis.describe()
    assert "TT at ell=200" in text and "fiducial ΛCDM value 5599 µK²" in text


def test_non_finite_values_are_not_unit_mistakes():
    tt = fiducial_tt()
    tt[200] = np.nan
    assert units.diagnose_units("tt", tt) is None


def test_low_ell_spectra_are_checked_at_their_highest_ell():
    tt = fiducial_tt()[:30]
    assert units.diagnose_units("tt", tt) is None
    diagnosis = units.diagnose_units("tt", tt * 29 * 30 / (2 * np.pi))
    assert diagnosis.ell == 29 and diagnosis.explained_by == units.UnitReading("muK2", True)
    assert units.diagnose_units("tt", tt[:2]) is None  # nothing to check below ell = 2


def test_ee_check_and_fix_phrasings():
    from cobaya_plugins.fiducial import load_fiducial

    ee = load_fiducial(lmax=300)["ee"]
    assert units.diagnose_units("ee", ee) is None
    diagnosis = units.diagnose_units("ee", ee * 1e-12)
    declared = units.UnitReading("muK2", False)
    assert diagnosis.explained_by.python_fix(declared) == "units='K2'"
    assert diagnosis.explained_by.yaml_fix(declared) == "`units: K2`"
    both = units.UnitReading("K2", True)
    assert both.python_fix(declared) == "units='K2', ell_factor=True"
    assert both.yaml_fix(declared) == "`units: K2` and `ell_factor: true`"
    assert str(both) == "D_ell in K2"
