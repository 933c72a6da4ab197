import numpy as np
import pytest

from cobaya_plugins.units import cl_to_dl_factor
from cobaya_plugins.vector import CallVector


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
    assert vec.fill_cls(cls)
    vec.fill_nuisance({"a": 1.5, "b": -2.0})
    np.testing.assert_array_equal(
        vec.buffer,
        [1, 2, 3, 4, 5, 6, 100, 101, 102, 103, 200, 201, 202, 203, 204, -2.0, 1.5],
    )


def test_optional_tb_eb_zero_and_passed_through():
    vec = CallVector({"tt": 3, "tb": 3}, [])
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
    with pytest.raises(ValueError, match=r"Unknown nuisance parameter\(s\) 'y':"):
        vec.fill_nuisance({"A_planck": 1, "x": 2, "y": 3})
    vec.fill_nuisance({"A_planck": 1, "x": 2, "y": 3}, strict=False)
    np.testing.assert_array_equal(vec.buffer[-2:], [1, 2])


def test_mistyped_nuisance_names_get_did_you_mean():
    vec = CallVector({"tt": 3}, ["A_planck", "calib_100T", "calib_217T"])
    with pytest.raises(ValueError) as err:
        vec.fill_nuisance({"A_plank": 1.0, "calib_100t": 1.0, "calib_217T": 1.0})
    msg = str(err.value)
    assert "Missing nuisance parameter(s) ['A_planck', 'calib_100T']" in msg
    assert "'A_plank' (did you mean 'A_planck'?)" in msg
    assert "'calib_100t' (did you mean 'calib_100T'?)" in msg
    # extra keys are allowed with strict=False, but a likely typo is still named
    with pytest.raises(ValueError, match=r"'calib_100t' \(did you mean 'calib_100T'\?\)"):
        vec.fill_nuisance(
            {"A_planck": 1.0, "calib_100t": 1.0, "calib_217T": 1.0, "h": 0.7}, strict=False
        )
    with pytest.raises(ValueError) as err:
        vec.fill_nuisance({"A_planck": 1.0, "calib_217T": 1.0, "h": 0.7}, strict=False)
    assert "'h'" not in str(err.value).split("expects")[0]


@pytest.mark.parametrize("bad", [[1.0, 1.0], np.ones(2), 1.0])
def test_nuisance_must_be_a_dict(bad):
    vec = CallVector({"tt": 3}, ["A_planck", "x"])
    with pytest.raises(
        TypeError,
        match="must be a dict by name.*expects, in order: "
        r"\['A_planck', 'x'\]",
    ):
        vec.fill_nuisance(bad)


def test_spectra_must_be_a_dict():
    vec = CallVector({"tt": 3}, [])
    with pytest.raises(TypeError, match="spectra must be a dict by name"):
        vec.fill_cls([np.ones(4)])


def test_input_arrays_are_not_modified():
    vec = CallVector({"tt": 300}, [])
    cls = cmb_like(300)
    dl = cls["tt"] * cl_to_dl_factor(300)
    keep = dl.copy()
    assert vec.fill_cls({"tt": dl}, ell_factor=True)
    np.testing.assert_array_equal(dl, keep)
    # and the buffer holds C_ell (D_ell × 2π/(ell(ell+1)) by hand), zero at ell = 0, 1
    ell = np.arange(301)
    expected = np.zeros(301)
    expected[2:] = dl[2:] * 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    np.testing.assert_allclose(vec.buffer, expected, rtol=1e-13, atol=0)
    np.testing.assert_allclose(vec.buffer[2:], cls["tt"][2:], rtol=1e-13)


def test_units_reach_the_buffer_as_muk2():
    vec = CallVector({"tt": 3}, [])
    assert vec.fill_cls({"tt": np.array([0.0, 0.0, 2e-12, 3e-12])}, units="K2")
    np.testing.assert_allclose(vec.buffer, [0, 0, 2, 3], rtol=1e-15)
    assert vec.fill_cls({"tt": np.array([0.0, 0.0, 1.0, 2.0])}, units="dimensionless", T_cmb=2.0)
    np.testing.assert_allclose(vec.buffer, [0, 0, 4e12, 8e12], rtol=1e-15)
