import numpy as np
import pytest

from cobaya_plugins.units import cl_to_dl_factor
from cobaya_plugins.vector import CallVector, check_units


def cmb_like(lmax):
    """A smooth CMB-like TT/EE/TE in C_ell µK² (D_ell TT ~ 1000-5600, EE ~ 1-40)."""
    ell = np.arange(lmax + 1, dtype=float)
    dl_tt = 1000 + 4600 * np.exp(-(((ell - 220) / 120) ** 2))
    dl_ee = 1 + 30 * np.exp(-(((ell - 1000) / 400) ** 2))
    c = np.zeros(lmax + 1)
    c[2:] = 1 / cl_to_dl_factor(lmax)[2:]
    return {"tt": dl_tt * c, "ee": dl_ee * c, "te": 0.1 * dl_tt * c, "bb": 0.01 * c}


def test_layout_order_and_nuisance():
    vec = CallVector({"tt": 5, "ee": 3, "te": 4}, ["b", "a"])
    assert vec.buffer.size == 6 + 4 + 5 + 2
    cls = {"tt": np.arange(10.0) + 1, "ee": np.arange(4.0) + 100, "te": np.arange(5.0) + 200}
    vec._guard_spectrum = None  # toy amplitudes: no unit guard here
    assert vec.fill_cls(cls)
    vec.fill_nuisance({"a": 1.5, "b": -2.0})
    np.testing.assert_array_equal(
        vec.buffer,
        [1, 2, 3, 4, 5, 6, 100, 101, 102, 103, 200, 201, 202, 203, 204, -2.0, 1.5],
    )


def test_optional_tb_eb_zero_and_passed_through():
    vec = CallVector({"tt": 3, "tb": 3}, [])
    vec._guard_spectrum = None
    vec.buffer[:] = 7
    assert vec.fill_cls({"tt": np.ones(4)})
    np.testing.assert_array_equal(vec.buffer[4:], 0)
    assert vec.fill_cls({"tt": np.ones(4), "tb": np.full(4, 3.0)})
    np.testing.assert_array_equal(vec.buffer[4:], 3)


def test_missing_and_short_spectra():
    vec = CallVector({"tt": 300, "ee": 300}, [])
    cls = cmb_like(400)
    with pytest.raises(ValueError, match="'ee' is required"):
        vec.fill_cls({"tt": cls["tt"]})
    with pytest.raises(ValueError, match=r"'tt' has shape \(200,\).*ell = 0..300"):
        vec.fill_cls({"tt": cls["tt"][:200], "ee": cls["ee"]})


def test_nan_and_inf_report_false():
    vec = CallVector({"tt": 300}, [])
    cls = cmb_like(300)
    assert vec.fill_cls(cls)
    cls["tt"][100] = np.nan
    assert not vec.fill_cls(cls)
    cls["tt"][100] = np.inf
    assert not vec.fill_cls(cls)


def test_nuisance_missing_and_unknown():
    vec = CallVector({"tt": 3}, ["A_planck", "x"])
    missing = r"Missing nuisance parameter\(s\) \['x'\].*'A_planck', 'x'"
    with pytest.raises(ValueError, match=missing):
        vec.fill_nuisance({"A_planck": 1})
    with pytest.raises(ValueError, match=r"Unknown nuisance parameter\(s\) \['y'\]"):
        vec.fill_nuisance({"A_planck": 1, "x": 2, "y": 3})
    vec.fill_nuisance({"A_planck": 1, "x": 2, "y": 3}, strict=False)
    np.testing.assert_array_equal(vec.buffer[-2:], [1, 2])


def test_input_arrays_are_not_modified():
    vec = CallVector({"tt": 300}, [])
    cls = cmb_like(300)
    dl = cls["tt"] * cl_to_dl_factor(300)
    keep = dl.copy()
    assert vec.fill_cls({"tt": dl}, ell_factor=True)
    np.testing.assert_array_equal(dl, keep)


@pytest.mark.parametrize(
    "scale, declared, ell_factor, words",
    [
        ("dl", "muK2", False, "looks like D_ell in muK2; pass ell_factor=True"),
        ("K2", "muK2", False, "looks like C_ell in K2; pass units='K2'"),
        ("dimensionless", "muK2", False, "looks like C_ell in dimensionless; pass units='dimens"),
        ("muK2", "K2", False, "looks like C_ell in muK2; pass units='muK2'"),
        ("muK2", "muK2", True, "looks like C_ell in muK2; pass ell_factor=False"),
    ],
)
def test_unit_guard_names_the_mistake(scale, declared, ell_factor, words):
    tt = cmb_like(300)["tt"]
    given = {
        "dl": tt * cl_to_dl_factor(300),
        "K2": tt * 1e-12,
        "dimensionless": tt / (2.7255e6) ** 2,
        "muK2": tt,
    }[scale]
    vec = CallVector({"tt": 300}, [])
    with pytest.raises(ValueError, match="TT at ell=200") as err:
        vec.fill_cls({"tt": given}, units=declared, ell_factor=ell_factor)
    assert words in str(err.value)


def test_unit_guard_uses_highest_ell_for_low_l_files():
    tt = cmb_like(29)["tt"]
    check_units("tt", tt, "muK2", False)  # plausible: no error
    with pytest.raises(ValueError, match="TT at ell=29.*ell_factor=True"):
        check_units("tt", tt * cl_to_dl_factor(29), "muK2", False)


def test_unit_guard_on_ee_only():
    ee = cmb_like(300)["ee"]
    vec = CallVector({"ee": 300}, [])
    assert vec.fill_cls({"ee": ee})
    with pytest.raises(ValueError, match="EE at ell=200.*units='K2'"):
        vec.fill_cls({"ee": ee * 1e-12})
