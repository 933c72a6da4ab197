"""Tests of the Planck-like mock .clik writer, read back with clipy (the real reader)."""

import os

os.environ.setdefault("CLIPY_NOJAX", "1")

import contextlib  # noqa: E402
import io  # noqa: E402
from pathlib import Path  # noqa: E402

import clipy  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from astropy.io import fits  # noqa: E402
from planck_names import PLIK_NAMES  # noqa: E402

from cobaya_plugins.fiducial import load_fiducial  # noqa: E402
from cobaya_plugins.mock import (  # noqa: E402
    CMB_KINDS,
    default_nuisance,
    highl_ttteee,
    write_mock,
)
from cobaya_plugins.mock.instrument import FSKY_LOWL  # noqa: E402

EXPECTED_LMAX = {
    "lowl_TT": [29, -1, -1, -1, -1, -1],
    "highl_TTTEEE": [2508, 2508, -1, 2508, -1, -1],
    "highl_TTTEEE_lite": [2508, 2508, -1, 2508, -1, -1],
}
EXPECTED_EXTRA = {
    "lowl_TT": ["A_planck"],
    "highl_TTTEEE": PLIK_NAMES,
    "highl_TTTEEE_lite": ["A_planck"],
}
# Number of data points: 28 multipoles; plik's 2289 binned cross-spectra; plik_lite's 613 bins.
N_DATA = {"lowl_TT": 28, "highl_TTTEEE": 2289, "highl_TTTEEE_lite": 613}
# Files holding the simulated data of each kind (they must change with the seed).
DATA_FILE = {
    "lowl_TT": "clik/lkl_0/_external/sigma.fits",
    "highl_TTTEEE": "clik/lkl_0/Rq_hat",
    "highl_TTTEEE_lite": "clik/lkl_0/_external/cl_cmb_plik_v22.dat",
}


def quiet_clik(path: Path):
    """clipy.clik(path) with its printout silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        return clipy.clik(str(path))


@pytest.fixture(scope="module")
def loaded(mock_paths):
    return {kind: quiet_clik(path) for kind, path in mock_paths.items()}


@pytest.fixture(scope="module")
def fiducial():
    return load_fiducial(lmax=2508)


def fiducial_vector(kind: str, cls: dict, nuisance: dict) -> np.ndarray:
    """Call vector: C_ell of the used spectra (TT EE BB TE order) from ell = 0, then nuisance."""
    names = ("tt", "ee", "bb", "te", "tb", "eb")
    lmaxs = EXPECTED_LMAX[kind]
    parts = [cls[n][: lmax + 1] for n, lmax in zip(names, lmaxs, strict=True) if lmax >= 0]
    return np.concatenate(parts + [np.array(list(nuisance.values()))])


def file_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def check_value_of(path: Path) -> float:
    for line in (path / "clik" / "_mdb").read_text().splitlines():
        key, kind, value = line.split(" ", 2)
        if key == "check_value":
            assert kind == "float"
            return float(value)
    raise AssertionError("no check_value in clik/_mdb")


@pytest.mark.parametrize("kind", CMB_KINDS)  # lensing: test_lensing.py
def test_metadata_as_planck(kind, loaded):
    lkl = loaded[kind]
    assert list(lkl.get_lmax()) == EXPECTED_LMAX[kind]
    assert list(lkl.get_extra_parameter_names()) == EXPECTED_EXTRA[kind]
    assert list(default_nuisance(kind)) == EXPECTED_EXTRA[kind]


def test_plik_default_nuisance_values():
    values = default_nuisance("highl_TTTEEE")
    # fixed in Planck's baseline, and Gaussian-prior means
    assert values["calib_100P"] == 1.021 and values["A_pol"] == 1.0
    assert values["galf_EE_A_217"] == 0.70 and values["cib_index"] == -1.3
    assert values["gal545_A_217"] == 91.9 and values["calib_217T"] == 0.99805
    assert values["A_planck"] == 1.0
    # uniform-prior parameters: Planck-like best fit inside the prior range
    assert 0 < values["A_cib_217"] < 200 and 0 <= values["xi_sz_cib"] <= 1
    assert all(0 < values[f"ps_A_{p}"] < 400 for p in ("100_100", "143_143", "143_217", "217_217"))
    assert default_nuisance("lowl_TT") == {"A_planck": 1.0}


@pytest.mark.parametrize("kind", CMB_KINDS)  # lensing: test_lensing.py
def test_self_check_matches_clipy(kind, mock_paths, loaded, fiducial):
    """check_param is the fiducial + default nuisances; clipy gives check_value on it."""
    path = mock_paths[kind]
    check_param = fits.getdata(path / "clik" / "check_param")
    expected = fiducial_vector(kind, fiducial, default_nuisance(kind))
    np.testing.assert_array_equal(check_param, expected)
    assert float(loaded[kind](np.asarray(check_param, dtype=float))) == pytest.approx(
        check_value_of(path), abs=1e-8
    )


@pytest.mark.parametrize("kind", CMB_KINDS)  # lensing: test_lensing.py
def test_chi2_at_fiducial_is_realistic(kind, loaded, fiducial):
    """-2 logL at the fiducial is a chi2 draw with about one unit per data point."""
    loglike = float(loaded[kind](fiducial_vector(kind, fiducial, default_nuisance(kind))))
    n = N_DATA[kind]
    assert abs(-2 * loglike - n) < 6 * np.sqrt(2 * n)


@pytest.mark.parametrize(
    "kind",
    [  # lensing: test_lensing.py; plik: two writes of ~3 s, slow
        pytest.param(k, marks=pytest.mark.slow) if k == "highl_TTTEEE" else k for k in CMB_KINDS
    ],
)
def test_same_seed_identical_files_other_seed_other_data(kind, mock_paths, tmp_path):
    first = file_bytes(mock_paths[kind])
    again = file_bytes(write_mock(kind, tmp_path / "same", seed=1))
    assert again == first
    other = file_bytes(write_mock(kind, tmp_path / "other", seed=2))
    assert other.keys() == first.keys()
    assert other[DATA_FILE[kind]] != first[DATA_FILE[kind]]
    assert other["clik/lmax"] == first["clik/lmax"]
    assert check_value_of(tmp_path / "other" / f"{kind}.clik") != check_value_of(mock_paths[kind])


def test_plik_every_nuisance_parameter_changes_loglike(loaded, fiducial):
    lkl = loaded["highl_TTTEEE"]
    nuisance = default_nuisance("highl_TTTEEE")
    base = float(lkl(fiducial_vector("highl_TTTEEE", fiducial, nuisance)))
    inert = []
    for name, value in nuisance.items():
        step = 0.2 * abs(value) if value else 0.5
        moved = float(
            lkl(fiducial_vector("highl_TTTEEE", fiducial, {**nuisance, name: value + step}))
        )
        if not abs(moved - base) > 1e-5:
            inert.append(name)
    assert inert == []


def _plik_loglike_from_file(path: Path, rq_model: np.ndarray) -> float:
    """-1/2 delta^T Sigma^-1 delta from the file's data, mask and inverse covariance."""
    lkl = path / "clik" / "lkl_0"
    rq_hat = fits.getdata(lkl / "Rq_hat").reshape(rq_model.shape)
    mask = fits.getdata(lkl / "criterion_gauss_mask").reshape(rq_model.shape)
    pairs = fits.getdata(lkl / "criterion_gauss_ordering").reshape(-1, 2)
    delta = np.concatenate([(rq_hat - rq_model)[mask[:, i, j] == 1, i, j] for i, j in pairs])
    inverse = fits.getdata(lkl / "criterion_gauss_mat").reshape(len(delta), len(delta))
    return -0.5 * delta @ inverse @ delta


def test_plik_templates_reproduce_the_writers_model(mock_paths, loaded, fiducial):
    """clipy's smica components, reading the written templates, give the writer's own model.

    Checked at the defaults and at a random point where every nuisance and the CMB move.
    """
    path = mock_paths["highl_TTTEEE"]
    lkl = loaded["highl_TTTEEE"]
    rng = np.random.default_rng(7)
    defaults = default_nuisance("highl_TTTEEE")
    moved = {
        k: v * rng.uniform(0.8, 1.2) if v else rng.uniform(0.5, 2) for k, v in defaults.items()
    }
    tilt = (np.arange(2509) / 1000.0) ** 0.02
    moved_cls = {name: cl * tilt * 1.01 for name, cl in fiducial.items()}
    for cls, nuisance in ((fiducial, defaults), (moved_cls, moved)):
        mine = _plik_loglike_from_file(path, highl_ttteee.model_rq(cls, nuisance))
        theirs = float(lkl(fiducial_vector("highl_TTTEEE", cls, nuisance)))
        assert theirs == pytest.approx(mine, rel=1e-9, abs=1e-6)
    assert mine < -5000  # the moved point is far from the data: the check is not trivial


def test_plik_data_vector_layout(mock_paths):
    lkl = mock_paths["highl_TTTEEE"] / "clik" / "lkl_0"
    mask = fits.getdata(lkl / "criterion_gauss_mask").reshape(215, 6, 6)
    pairs = fits.getdata(lkl / "criterion_gauss_ordering").reshape(-1, 2)
    per_spectrum = [int(mask[:, i, j].sum()) for i, j in pairs]
    # TT 100x100 to 1197, 143x143 to 1996, 143x217 and 217x217 to 2508; EE and TE alike
    assert per_spectrum[:4] == [136, 199, 215, 215]
    assert per_spectrum[4:10] == per_spectrum[10:] == [114, 114, 55, 199, 140, 140]
    assert sum(per_spectrum) == 2289


def test_lowl_is_the_exact_inverse_gamma_likelihood(mock_paths, loaded, fiducial):
    """Commander-like loglike = sum -nu/2 (D_hat/D - ln(D_hat/D) - 1), nu = (2l+1) fsky."""
    lkl = loaded["lowl_TT"]
    dl_hat = fits.getdata(mock_paths["lowl_TT"] / "clik/lkl_0/_external/sigma.fits", ext=3)
    ell = np.arange(2, 30)
    nu = (2 * ell + 1) * FSKY_LOWL
    for a_planck in (1.0, 0.98, 1.03):
        dl = fiducial["tt"][2:30] * ell * (ell + 1) / (2 * np.pi) / a_planck**2
        ratio = dl_hat / dl
        exact = np.sum(-nu / 2 * (ratio - np.log(ratio) - 1))
        got = float(lkl(np.concatenate([fiducial["tt"][:30], [a_planck]])))
        assert got == pytest.approx(exact, abs=1e-5)


def planck_bins_by_hand():
    """Planck's high-ell bins (published): widths 5 (30-99), 9 (100-1503), 17 (1504-2013),
    33 (2014-2508); returns the (first, last) ell of each of the 215 bins."""
    edges = []
    for first, last, width in ((30, 99, 5), (100, 1503, 9), (1504, 2013, 17), (2014, 2508, 33)):
        edges += [(lo, lo + width - 1) for lo in range(first, last + 1, width)]
    return edges


def fortran_matrix(path, n):
    """A Fortran unformatted record of n² float64, one triangle stored: C + Cᵀ - diag(C)."""
    raw = path.read_bytes()
    assert np.frombuffer(raw[:4], np.int32)[0] == 8 * n * n == np.frombuffer(raw[-4:], np.int32)[0]
    c = np.frombuffer(raw[4:-4], np.float64).reshape(n, n)
    return c + c.T - np.diag(np.diag(c))


def test_lite_loglike_is_gaussian_in_binned_dl(mock_paths, loaded, fiducial):
    """plik_lite = Gaussian in bin-averaged D_ell; bins, data and covariance read by hand."""
    lkl = loaded["highl_TTTEEE_lite"]
    external = mock_paths["highl_TTTEEE_lite"] / "clik/lkl_0/_external"
    data = np.loadtxt(external / "cl_cmb_plik_v22.dat")[:, 1]
    covariance = fortran_matrix(external / "c_matrix_plik_v22.dat", 613)
    bins = planck_bins_by_hand()
    assert len(bins) == 215

    def binned(cl, n_bins):
        return [
            np.mean([cl[l] * l * (l + 1) / (2 * np.pi) for l in range(lo, hi + 1)])
            for lo, hi in bins[:n_bins]
        ]

    model = np.array(
        binned(fiducial["tt"], 215) + binned(fiducial["te"], 199) + binned(fiducial["ee"], 199)
    )
    for a_planck in (1.0, 1.01):
        delta = data - model / a_planck**2
        exact = -0.5 * delta @ np.linalg.solve(covariance, delta)
        got = float(lkl(fiducial_vector("highl_TTTEEE_lite", fiducial, {"A_planck": a_planck})))
        assert got == pytest.approx(exact, rel=1e-7)


def test_user_fiducial_dict_and_file(tmp_path, fiducial):
    scaled = {name: 1.1 * cl for name, cl in fiducial.items()}
    path = write_mock("lowl_TT", tmp_path / "dict", fiducial=scaled)
    np.testing.assert_allclose(fits.getdata(path / "clik/check_param")[:30], scaled["tt"][:30])
    ell = np.arange(2, 41)
    table = np.column_stack(
        [ell]
        + [
            fiducial[n][2:41] * ell * (ell + 1) / (2 * np.pi) * 1.1
            for n in ("tt", "ee", "bb", "te")
        ]
    )
    np.savetxt(tmp_path / "my_lensedCls.dat", table)
    path = write_mock("lowl_TT", tmp_path / "file", fiducial=tmp_path / "my_lensedCls.dat")
    np.testing.assert_allclose(fits.getdata(path / "clik/check_param")[:30], scaled["tt"][:30])


def test_fiducial_too_short_for_the_kind(tmp_path, fiducial):
    short = {name: cl[:2001] for name, cl in fiducial.items()}
    with pytest.raises(ValueError, match=r"ell = 0\.\.2508"):
        write_mock("highl_TTTEEE_lite", tmp_path, fiducial=short)
    with pytest.raises(ValueError, match="lacks 'ee'"):
        write_mock("highl_TTTEEE", tmp_path, fiducial={"tt": fiducial["tt"]})
    assert not (tmp_path / "highl_TTTEEE.clik").exists()


def test_unknown_kind_lists_the_kinds(tmp_path):
    with pytest.raises(ValueError, match="lowl_TT, highl_TTTEEE, highl_TTTEEE_lite"):
        write_mock("highl_TT", tmp_path)
    with pytest.raises(ValueError, match="highl_TTTEEE_lite"):
        default_nuisance("lowl_EE")


def test_existing_target_needs_overwrite(tmp_path):
    path = write_mock("lowl_TT", tmp_path, seed=3)
    before = file_bytes(path)
    with pytest.raises(FileExistsError, match="overwrite=True") as info:
        write_mock("lowl_TT", tmp_path, seed=4)
    assert str(path) in str(info.value)
    assert file_bytes(path) == before
    assert write_mock("lowl_TT", tmp_path, seed=4, overwrite=True) == path
    assert file_bytes(path) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lowl_TT.clik"]  # no leftovers


def test_bad_seed(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        write_mock("lowl_TT", tmp_path, seed=-1)


def test_plik_file_is_compact(mock_paths):
    size = sum(p.stat().st_size for p in mock_paths["highl_TTTEEE"].rglob("*") if p.is_file())
    assert size < 10e6  # the 2289^2 inverse covariance alone is 42 MB uncompressed


def test_mock_records_its_truth(mock_paths, tmp_path):
    """Every mock carries what it was drawn from; other files have no truth."""
    from cobaya_plugins.clik import open_clik
    from cobaya_plugins.fiducial import FIDUCIAL_FILE
    from cobaya_plugins.mock import read_truth
    from cobaya_plugins.planck2018 import BEST_FIT

    truth = read_truth(mock_paths["highl_TTTEEE"])
    assert (truth.kind, truth.seed, truth.fiducial) == ("highl_TTTEEE", 1, "shipped")
    assert truth.cosmology["H0"] == BEST_FIT["H0"] and truth.cosmology["h"] == pytest.approx(0.6732)
    assert truth.nuisance == default_nuisance("highl_TTTEEE")
    assert list(truth.nuisance) == list(open_clik(mock_paths["highl_TTTEEE"]).nuisance_names)
    from_file = write_mock("lowl_TT", tmp_path, seed=3, fiducial=FIDUCIAL_FILE)
    truth = read_truth(from_file)
    assert truth.fiducial == str(FIDUCIAL_FILE.resolve()) and truth.cosmology is None
    assert truth.nuisance == {"A_planck": 1.0} and truth.seed == 3
    assert read_truth(tmp_path) is None
