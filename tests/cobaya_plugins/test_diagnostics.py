"""Residual diagnostics against independent references: clipy called directly (whole file and
clipy's own `crop` of one block), the mock writers' own models, and planted signals."""

import contextlib
import io
import os
import shutil

os.environ.setdefault("CLIPY_NOJAX", "1")

import clipy  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cobaya_plugins import clikdata  # noqa: E402
from cobaya_plugins.diagnostics import (  # noqa: E402
    read_cls_file,
    read_nuisance_file,
    residuals,
)
from cobaya_plugins.fiducial import FIDUCIAL_FILE, load_fiducial  # noqa: E402
from cobaya_plugins.mock import default_nuisance, highl_ttteee, highl_ttteee_lite  # noqa: E402
from cobaya_plugins.mock.cldf import fits_bytes  # noqa: E402
from cobaya_plugins.plots import residuals_figure  # noqa: E402

ORDER = ("tt", "ee", "bb", "te", "tb", "eb")


def clipy_chi2(path, cls, nuisance, crop=None):
    """-2 logL from clipy itself (optionally cropped with clipy's own crop command)."""
    with contextlib.redirect_stdout(io.StringIO()):
        lkl = clipy.clik(str(path), **({"crop": [crop]} if crop else {}))
        parts = [cls[n][: lm + 1] for n, lm in zip(ORDER, lkl.get_lmax(), strict=True)
                 if lm != -1]  # fmt: skip
        vector = np.concatenate(parts + [[nuisance[p] for p in lkl.get_extra_parameter_names()]])
        return -2 * float(lkl(vector))


@pytest.fixture(scope="module")
def theory():
    """A model away from the data's fiducial: 1% more power, slightly tilted."""
    fid = load_fiducial(lmax=2508)
    ell = np.arange(2509)
    tilt = 1.01 * (np.maximum(ell, 2) / 1000.0) ** 0.005
    return {k: v * tilt for k, v in fid.items()}


@pytest.fixture(scope="module")
def lite(mock_paths, theory):
    return residuals(mock_paths["highl_TTTEEE_lite"], theory, {"A_planck": 1.002})


@pytest.fixture(scope="module")
def plik(mock_paths, theory):
    return residuals(mock_paths["highl_TTTEEE"], theory, default_nuisance("highl_TTTEEE"))


def test_plik_lite_total_is_minus_two_loglike(lite, mock_paths, theory):
    expected = clipy_chi2(mock_paths["highl_TTTEEE_lite"], theory, {"A_planck": 1.002})
    assert lite.chi2["total"] == pytest.approx(expected, rel=1e-6)
    assert -2 * lite.loglike == pytest.approx(expected, rel=1e-10)
    assert lite.n_bins == {"TT": 215, "TE": 199, "EE": 199, "total": 613}


def only_block(path, block, tmp_path):
    """A copy of a plik_lite file that keeps one block, through clik's own bin-range keys
    (bin_min_XX/bin_max_XX in lkl_0/_mdb; an empty range drops a spectrum)."""
    copy = tmp_path / f"only_{block}.clik"
    shutil.copytree(path, copy)
    mdb = copy / "clik" / "lkl_0" / "_mdb"
    ranges = {"tt": 215, "te": 199, "ee": 199}
    lines = [
        f"bin_min_{n} int 1\nbin_max_{n} int {last if n == block.lower() else 0}\n"
        for n, last in ranges.items()
    ]
    mdb.write_text(mdb.read_text() + "".join(lines))
    return copy


@pytest.mark.parametrize("block", ["TT", "TE", "EE"])
def test_plik_lite_blocks_equal_clipy_on_that_block(lite, mock_paths, theory, block, tmp_path):
    """Each block's chi2 (full covariance restricted to it) is what clipy computes when the
    file itself keeps only that block. (clipy's `crop` commands cannot do this for plik_lite:
    they test bin weights against 1, and plik_lite's weights include ell(ell+1)/2pi.)"""
    copy = only_block(mock_paths["highl_TTTEEE_lite"], block, tmp_path)
    expected = clipy_chi2(copy, theory, {"A_planck": 1.002})
    assert lite.chi2[block] == pytest.approx(expected, rel=1e-6)
    alone = residuals(copy, theory, {"A_planck": 1.002})
    assert list(alone.spectra) == [block] and alone.chi2["total"] == pytest.approx(expected)


def test_plik_lite_parts_add_up_and_model_is_the_writers_binning(
    lite, theory, mock_paths, tmp_path
):
    chi2 = lite.chi2
    assert chi2["TT"] + chi2["TE"] + chi2["EE"] + chi2["cross"] == pytest.approx(chi2["total"])
    # the cross term is what clipy gives for the whole file minus clipy on each block alone
    path = mock_paths["highl_TTTEEE_lite"]
    blocks = sum(clipy_chi2(only_block(path, b, tmp_path), theory, {"A_planck": 1.002})
                 for b in ("TT", "TE", "EE"))  # fmt: skip
    expected_cross = clipy_chi2(path, theory, {"A_planck": 1.002}) - blocks
    assert chi2["cross"] == pytest.approx(expected_cross, rel=1e-6, abs=1e-6)
    binned = highl_ttteee_lite.binned_dl(theory)  # the mock writer's own binning
    for name in ("TT", "TE", "EE"):
        np.testing.assert_allclose(lite.spectra[name].model * 1.002**2, binned[name.lower()],
                                   rtol=1e-12)  # fmt: skip
    tt = lite.spectra["TT"]
    assert (tt.ell_min[0], tt.ell_max[-1]) == (30, 2508) and tt.ell_max[0] == 34
    # data and errors are the file's own columns (ell, D_ell, sigma; TT bins first)
    table = np.loadtxt(next((path / "clik" / "lkl_0" / "_external").glob("cl_cmb_plik_v*.dat")))
    np.testing.assert_array_equal(tt.data, table[:215, 1])
    np.testing.assert_allclose(tt.sigma, table[:215, 2], rtol=1e-14)
    np.testing.assert_allclose(tt.normalized_residual, (tt.data - tt.model) / tt.sigma)
    # the model has ~0.6% too much power (x1.01 / A_planck^2): residuals are mostly negative
    assert np.mean(tt.normalized_residual) < -0.2


def test_plik_total_and_parts(plik, mock_paths, theory):
    nuis = default_nuisance("highl_TTTEEE")
    expected = clipy_chi2(mock_paths["highl_TTTEEE"], theory, nuis)
    chi2 = plik.chi2
    assert chi2["total"] == pytest.approx(expected, rel=1e-6)
    parts = chi2["TT"] + chi2["TE"] + chi2["EE"] + chi2["cross"] + chi2["frequency"]
    assert parts == pytest.approx(chi2["total"], rel=1e-9)
    assert plik.n_bins == {"TT": 215, "TE": 199, "EE": 199, "total": 2289}
    assert sum(v["n_bins"] for v in plik.cross_spectra.values()) == 2289
    assert len(plik.cross_spectra) == 16
    # 2289 - 613 degrees of freedom are left for the inter-frequency part
    assert abs(chi2["frequency"] - 1676) < 6 * np.sqrt(2 * 1676)


def test_plik_cross_spectrum_equals_clipy_crop(plik, mock_paths, theory):
    nuis = default_nuisance("highl_TTTEEE")
    expected = clipy_chi2(mock_paths["highl_TTTEEE"], theory, nuis, crop="only TE 100x143")
    assert plik.cross_spectra["TE 100x143"]["chi2"] == pytest.approx(expected, rel=1e-6)
    assert plik.cross_spectra["TE 100x143"]["n_bins"] == 114


@pytest.fixture(scope="module")
def planted(mock_paths, tmp_path_factory):
    """A copy of the plik mock whose data are noiseless: the writer's own model (CMB with a
    planted +4% TT feature at ell 600-800 and -3% EE at 300-400, plus foregrounds and
    calibrations) computed by the mock writer, not by clipy."""
    fid = load_fiducial(lmax=2508)
    ell = np.arange(2509)
    true = dict(fid)
    true["tt"] = fid["tt"] * np.where((ell >= 600) & (ell <= 800), 1.04, 1.0)
    true["ee"] = fid["ee"] * np.where((ell >= 300) & (ell <= 400), 0.97, 1.0)
    path = tmp_path_factory.mktemp("planted") / "plik.clik"
    shutil.copytree(mock_paths["highl_TTTEEE"], path)
    rq = highl_ttteee.model_rq(true, default_nuisance("highl_TTTEEE"))
    (path / "clik" / "lkl_0" / "Rq_hat").write_bytes(fits_bytes(rq.ravel()))
    return path, true, fid


@pytest.mark.slow
def test_plik_coadd_recovers_a_planted_cmb_exactly(planted):
    path, true, fid = planted
    nuis = default_nuisance("highl_TTTEEE")
    result = residuals(path, fid, nuis)
    assert result.chi2["frequency"] == pytest.approx(0.0, abs=1e-6)  # frequencies agree
    lows, highs = clikdata.smica_bin_edges(path)
    tt = result.spectra["TT"]
    ratio = tt.data / tt.model
    inside = (tt.ell_min >= 600) & (tt.ell_max <= 800)
    outside = (tt.ell_max < 590) | (tt.ell_min > 810)
    np.testing.assert_allclose(ratio[inside], 1.04, rtol=1e-8)
    np.testing.assert_allclose(ratio[outside], 1.0, rtol=1e-8)
    ee = result.spectra["EE"]
    np.testing.assert_allclose((ee.data / ee.model)[(ee.ell_min >= 300) & (ee.ell_max <= 400)],
                               0.97, rtol=1e-8)  # fmt: skip
    assert result.spectra["TE"].chi2 == pytest.approx(0.0, abs=1e-6)
    assert result.chi2["TT"] > 100  # a 4% feature over 22 bins is very significant
    # and with the true model everything vanishes
    exact = residuals(path, true, nuis)
    assert exact.chi2["total"] == pytest.approx(0.0, abs=1e-6)


def test_figure_written(lite, tmp_path):
    out = residuals_figure(lite, tmp_path / "figs" / "lite.png")
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_read_cls_file_camb_layout(tmp_path):
    cls = read_cls_file(FIDUCIAL_FILE, units="muK2", ell_factor=True)
    fid = load_fiducial()
    # D_ell -> C_ell by hand from the file's columns (ell TT EE BB TE)
    columns = np.loadtxt(FIDUCIAL_FILE)
    ell_file = columns[:, 0].astype(int)
    for i, name in enumerate(("tt", "ee", "bb", "te"), start=1):
        np.testing.assert_allclose(cls[name][ell_file],
                                   columns[:, i] * 2 * np.pi / (ell_file * (ell_file + 1.0)),
                                   rtol=1e-12)  # fmt: skip
        assert np.all(cls[name][:2] == 0)
    # the same spectrum as dimensionless C_ell from ell = 0
    ell = np.arange(len(fid["tt"]))
    table = np.column_stack([ell] + [fid[n] / (2.7255e6) ** 2 for n in ("tt", "ee", "bb", "te")])
    np.savetxt(tmp_path / "cls.txt", table)
    again = read_cls_file(tmp_path / "cls.txt", units="dimensionless")
    np.testing.assert_allclose(again["te"], fid["te"], rtol=1e-12)
    np.savetxt(tmp_path / "bad.txt", table[:, :4])
    with pytest.raises(ValueError, match="expected ell TT EE BB TE"):
        read_cls_file(tmp_path / "bad.txt")


def test_read_nuisance_file(tmp_path):
    (tmp_path / "a.yaml").write_text("A_planck: 1.001\ncalib_100T: 1.0002\n")
    assert read_nuisance_file(tmp_path / "a.yaml") == {"A_planck": 1.001, "calib_100T": 1.0002}
    (tmp_path / "b.yaml").write_text(
        "params:\n  A_pol: 1.0\n  A_sz: {value: 7.0}\n  A_cib_217: {prior: {min: 0, max: 200}}\n"
    )
    assert read_nuisance_file(tmp_path / "b.yaml") == {"A_pol": 1.0, "A_sz": 7.0}


def test_errors(mock_paths, theory):
    with pytest.raises(ValueError, match="residuals support plik_lite"):
        residuals(mock_paths["lowl_TT"], theory)
    with pytest.raises(ValueError, match=r"Missing nuisance value\(s\) \['A_cib_217'"):
        residuals(mock_paths["highl_TTTEEE"], theory, {"A_planck": 1.0})
    with pytest.raises(ValueError, match="needed from ell = 0 to 2508"):
        residuals(mock_paths["highl_TTTEEE_lite"], {k: v[:2000] for k, v in theory.items()})
