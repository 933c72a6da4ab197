"""Tests of the shipped fiducial spectrum and of load_fiducial."""

import numpy as np
import pytest

from cobaya_plugins.fiducial import FIDUCIAL_FILE, load_fiducial


def dl_table(cls: dict, lmax: int) -> np.ndarray:
    """CAMB lensedCls.dat-like table (ell, D_TT, D_EE, D_BB, D_TE) from C_ell dicts."""
    ell = np.arange(2, lmax + 1)
    factor = ell * (ell + 1) / (2 * np.pi)
    return np.column_stack(
        [ell] + [cls[n][2 : lmax + 1] * factor for n in ("tt", "ee", "bb", "te")]
    )


def test_shipped_file_units_and_shape():
    cls = load_fiducial()
    assert FIDUCIAL_FILE.is_file()
    assert set(cls) == {"tt", "ee", "bb", "te"}
    for cl in cls.values():
        assert cl.shape == (2601,)
        assert cl[0] == cl[1] == 0
    # C_ell in muK^2: TT at ell = 200 is about 0.875 muK^2, i.e. D_200 ~ 5600 muK^2
    assert cls["tt"][200] == pytest.approx(0.8752, rel=2e-3)
    assert cls["tt"][200] * 200 * 201 / (2 * np.pi) == pytest.approx(5600, rel=2e-3)
    # physical spectra: positive autos, |TE| <= sqrt(TT EE), lensing B modes present
    assert np.all(cls["tt"][2:] > 0) and np.all(cls["ee"][2:] > 0) and np.all(cls["bb"][2:] > 0)
    assert np.all(cls["te"] ** 2 <= cls["tt"] * cls["ee"])
    # first acoustic peak near ell = 220 in D_ell
    ell = np.arange(2601)
    dl_tt = cls["tt"] * ell * (ell + 1) / (2 * np.pi)
    assert 200 < np.argmax(dl_tt) < 240


def test_lmax_truncates():
    full = load_fiducial()
    short = load_fiducial(lmax=100)
    for name in full:
        assert short[name].shape == (101,)
        np.testing.assert_array_equal(short[name], full[name][:101])


def test_round_trip_of_a_user_file(tmp_path):
    ell = np.arange(3001)
    cls = {
        "tt": 1000.0 / (ell + 10.0) ** 2,
        "ee": 10.0 / (ell + 20.0) ** 2,
        "bb": 0.1 / (ell + 30.0) ** 2,
        "te": -30.0 / (ell + 15.0) ** 2,
    }
    path = tmp_path / "test_lensedCls.dat"
    np.savetxt(path, dl_table(cls, 3000), header="L TT EE BB TE", fmt="%.10e")
    got = load_fiducial(path)
    for name, cl in cls.items():
        assert got[name].shape == (3001,)
        np.testing.assert_allclose(got[name][2:], cl[2:], rtol=1e-9)
        assert got[name][0] == got[name][1] == 0
    assert load_fiducial(str(path), lmax=2508)["tt"].shape == (2509,)


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "lensedCls.dat"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_fiducial(missing)


def test_wrong_number_of_columns(tmp_path):
    path = tmp_path / "four_columns.dat"
    np.savetxt(path, dl_table(load_fiducial(lmax=50), 50)[:, :4])
    with pytest.raises(ValueError, match="4 columns.*ell TT EE BB TE") as info:
        load_fiducial(path)
    assert str(path) in str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.dat"
    path.write_text("# L TT EE BB TE\n")
    with pytest.raises(ValueError, match="no data rows"):
        load_fiducial(path)


def test_ell_column_must_start_at_2_without_gaps(tmp_path):
    table = dl_table(load_fiducial(lmax=50), 50)
    path = tmp_path / "gap.dat"
    np.savetxt(path, np.delete(table, 10, axis=0))
    with pytest.raises(ValueError, match="2, 3, 4"):
        load_fiducial(path)


def test_lmax_beyond_the_file_says_the_files_lmax():
    with pytest.raises(ValueError, match="lmax=2600") as info:
        load_fiducial(lmax=3000)
    assert "3000" in str(info.value) and str(FIDUCIAL_FILE) in str(info.value)


@pytest.mark.slow
def test_make_fiducial_reproduces_the_shipped_file():
    from cobaya_plugins.data.make_fiducial import compute_dell

    shipped = np.loadtxt(FIDUCIAL_FILE)
    recomputed = compute_dell()
    np.testing.assert_array_equal(recomputed[:, 0], shipped[:, 0])
    # the file keeps 6 significant digits
    np.testing.assert_allclose(recomputed[:, 1:], shipped[:, 1:], rtol=1e-5, atol=1e-12)
