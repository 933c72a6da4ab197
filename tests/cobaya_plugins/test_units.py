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
