"""Built-in model functions: birefringence.rotate and template.scaled."""

import numpy as np
import pytest

from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.models import birefringence, template


@pytest.fixture(scope="module")
def fiducial():
    cls = load_fiducial(lmax=2000)
    cls["ell"] = np.arange(2001)
    cls["pp"] = np.linspace(0.0, 1.0, 2001)
    return cls


def test_rotate_by_zero_is_the_identity(fiducial):
    out = birefringence.rotate(fiducial, 0.0)
    for key in ("tt", "te", "ee", "bb", "ell", "pp"):
        np.testing.assert_array_equal(out[key], fiducial[key])
    np.testing.assert_array_equal(out["tb"], 0.0)
    np.testing.assert_array_equal(out["eb"], 0.0)


def test_rotate_one_degree_matches_the_formulas(fiducial):
    beta = np.pi / 180.0  # 1 degree
    te, ee, bb = fiducial["te"], fiducial["ee"], fiducial["bb"]
    out = birefringence.rotate(fiducial, 1.0)
    np.testing.assert_allclose(out["te"], te * np.cos(2 * beta), rtol=1e-14)
    np.testing.assert_allclose(out["tb"], te * np.sin(2 * beta), rtol=1e-14)
    np.testing.assert_allclose(
        out["ee"], ee * np.cos(2 * beta) ** 2 + bb * np.sin(2 * beta) ** 2, rtol=1e-14
    )
    np.testing.assert_allclose(
        out["bb"], bb * np.cos(2 * beta) ** 2 + ee * np.sin(2 * beta) ** 2, rtol=1e-14
    )
    np.testing.assert_allclose(out["eb"], 0.5 * (ee - bb) * np.sin(4 * beta), rtol=1e-14)
    # BB << EE at ell = 1000, so EB/EE ≈ ½ sin 4° ≈ 3.5%
    assert out["eb"][1000] / ee[1000] == pytest.approx(0.5 * np.sin(np.radians(4)), rel=1e-2)
    np.testing.assert_array_equal(out["tt"], fiducial["tt"])


@pytest.mark.parametrize("beta_deg", [-3.0, 1.0, 27.0, 90.0])
def test_rotate_conserves_ee_plus_bb(fiducial, beta_deg):
    once = birefringence.rotate(fiducial, 0.7)  # with TB, EB already non-zero
    out = birefringence.rotate(once, beta_deg)
    np.testing.assert_allclose(out["ee"] + out["bb"], fiducial["ee"] + fiducial["bb"], rtol=1e-12)


def test_rotations_add(fiducial):
    two_steps = birefringence.rotate(birefringence.rotate(fiducial, 0.4), 1.1)
    one_step = birefringence.rotate(fiducial, 1.5)
    for key in ("te", "tb", "ee", "bb", "eb"):
        scale = np.max(np.abs(fiducial["ee"]))
        np.testing.assert_allclose(two_steps[key], one_step[key], rtol=0, atol=1e-13 * scale)


def test_rotate_by_45_degrees_swaps_e_and_b_and_90_flips_them(fiducial):
    scale = np.max(np.abs(fiducial["te"]))
    out = birefringence.rotate(fiducial, 45.0)  # E' = -B, B' = E
    np.testing.assert_allclose(out["ee"], fiducial["bb"], atol=1e-14 * scale)
    np.testing.assert_allclose(out["bb"], fiducial["ee"], atol=1e-14 * scale)
    np.testing.assert_allclose(out["tb"], fiducial["te"], atol=1e-14 * scale)
    np.testing.assert_allclose(out["te"], 0.0, atol=1e-14 * scale)
    out = birefringence.rotate(fiducial, 90.0)  # E' = -E, B' = -B
    np.testing.assert_allclose(out["te"], -fiducial["te"], atol=1e-14 * scale)
    np.testing.assert_allclose(out["ee"], fiducial["ee"], atol=1e-14 * scale)
    np.testing.assert_allclose(out["eb"], 0.0, atol=1e-14 * scale)


def test_rotate_does_not_modify_its_input(fiducial):
    copy = {k: v.copy() for k, v in fiducial.items()}
    birefringence.rotate(fiducial, 5.0)
    for key, values in copy.items():
        np.testing.assert_array_equal(fiducial[key], values)


def test_rotate_errors_name_the_problem(fiducial):
    with pytest.raises(ValueError, match=r"\['bb'\] missing"):
        birefringence.rotate({"te": fiducial["te"], "ee": fiducial["ee"]}, 1.0)
    with pytest.raises(ValueError, match="one shape"):
        birefringence.rotate({**fiducial, "bb": fiducial["bb"][:100]}, 1.0)


def test_scaled_defaults_give_the_fiducial():
    out = template.scaled()
    fid = load_fiducial()
    assert set(out) == {"tt", "ee", "bb", "te", "derived"}
    for key in ("tt", "ee", "bb", "te"):
        np.testing.assert_allclose(out[key], fid[key], rtol=1e-15)
        assert out[key].shape == (2601,)


def test_scaled_amplitude_and_tilt_about_the_pivot():
    fid = load_fiducial()
    out = template.scaled(amplitude=1.2, tilt=-0.1, ell_pivot=500.0)
    assert out["tt"][500] == pytest.approx(1.2 * fid["tt"][500], rel=1e-14)
    assert out["ee"][1000] == pytest.approx(1.2 * 2**-0.1 * fid["ee"][1000], rel=1e-14)
    assert out["te"][250] == pytest.approx(1.2 * 2**0.1 * fid["te"][250], rel=1e-14)
    assert out["tt"][0] == out["tt"][1] == 0.0


def test_scaled_sigma_T_by_hand():
    fid = load_fiducial()
    ell = np.arange(len(fid["tt"]))
    by_hand = np.sqrt(sum((2 * l + 1) * fid["tt"][l] for l in ell[2:]) / (4 * np.pi))
    assert template.scaled()["derived"]["sigma_T"] == pytest.approx(by_hand, rel=1e-12)
    assert 100 < by_hand < 130  # the CMB temperature rms is ~110 µK
    assert template.scaled(amplitude=4.0)["derived"]["sigma_T"] == pytest.approx(2 * by_hand)


def test_scaled_returns_fresh_arrays():
    first = template.scaled()
    first["tt"][:] = -1.0
    assert template.scaled()["tt"][100] > 0


def test_scaled_rejects_bad_pivot():
    with pytest.raises(ValueError, match="ell_pivot"):
        template.scaled(ell_pivot=0.0)
