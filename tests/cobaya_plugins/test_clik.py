"""open_clik(...).loglike against clipy called directly, on the mock files of every kind."""

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from cobaya_plugins import clik as clik_module
from cobaya_plugins.clik import find_compiled_clik, open_clik
from cobaya_plugins.fiducial import load_fiducial, load_fiducial_pp
from cobaya_plugins.mock import CMB_KINDS, KINDS, default_nuisance
from cobaya_plugins.unit_check import UnitMistakeError

os.environ.setdefault("CLIPY_NOJAX", "1")
import clipy  # noqa: E402

ORDER = ("tt", "ee", "bb", "te", "tb", "eb")


@pytest.fixture(scope="module")
def fid():
    return {**load_fiducial(), "pp": load_fiducial_pp()}


@pytest.fixture(scope="module")
def direct(mock_paths):
    """clipy objects opened directly (not through the plugin)."""
    return {kind: clipy.clik(str(path)) for kind, path in mock_paths.items()}


def hand_vector(lkl_direct, cls, nuisance):
    """The call vector assembled by hand from clipy's own lmax and parameter names (lensing
    files: seven lmax, C^pp first)."""
    lmax = lkl_direct.get_lmax()
    order = ORDER if len(lmax) == 6 else ("pp",) + ORDER
    parts = [cls[n][: lm + 1] for n, lm in zip(order, lmax, strict=True) if lm != -1]
    parts.append([nuisance[p] for p in lkl_direct.get_extra_parameter_names()])
    return np.concatenate(parts)


@pytest.mark.parametrize("kind", KINDS)
def test_loglike_equals_clipy_direct(kind, mock_paths, direct, fid):
    lkl = open_clik(mock_paths[kind])
    nuis = default_nuisance(kind)
    expected = float(direct[kind](hand_vector(direct[kind], fid, nuis)))
    assert lkl.loglike(fid, nuis) == pytest.approx(expected, rel=1e-8, abs=1e-8)
    assert np.isfinite(expected)


@pytest.mark.parametrize("kind", KINDS)
def test_loglike_equals_clipy_direct_everything_moved(kind, mock_paths, direct, fid):
    """Every nuisance at its own value and the CMB rescaled: a name mix-up cannot hide."""
    rng = np.random.default_rng(11)
    nuis = {
        k: (v if v else 1.0) * rng.uniform(0.97, 1.03) for k, v in default_nuisance(kind).items()
    }
    assert len(set(nuis.values())) == len(nuis)
    cls = {k: v * 1.004 for k, v in fid.items()}
    expected = float(direct[kind](hand_vector(direct[kind], cls, nuis)))
    assert np.isfinite(expected)
    assert open_clik(mock_paths[kind]).loglike(cls, nuis) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_metadata_matches_clipy(kind, mock_paths, direct):
    lkl = open_clik(mock_paths[kind])
    lmax = direct[kind].get_lmax()
    order = ORDER if len(lmax) == 6 else ("pp",) + ORDER
    assert lkl.lmax == {n: int(lm) for n, lm in zip(order, lmax, strict=True) if lm != -1}
    assert lkl.nuisance_names == tuple(direct[kind].get_extra_parameter_names())
    assert lkl.backend == "clipy"


@pytest.mark.parametrize("kind", CMB_KINDS)  # lensing: test_lensing.py
def test_self_check_evaluates_the_files_check_point(kind, mock_paths, direct):
    # independent: the stored point and value read by hand, the loglike from clipy directly
    from astropy.io import fits

    clik_dir = mock_paths[kind] / "clik"
    stored = dict(line.split(None, 2)[::2] for line in (clik_dir / "_mdb").read_text().splitlines())
    with fits.open(clik_dir / "check_param") as hdus:
        point = np.asarray(hdus[0].data, dtype=float)
    check = open_clik(mock_paths[kind]).self_check
    assert check.expected == float(stored["check_value"])
    assert check.got == pytest.approx(float(direct[kind](point)), rel=1e-12)
    assert check.passed and "passed" in str(check)


def test_expected_lmax_of_each_kind(mock_paths):
    assert open_clik(mock_paths["lowl_TT"]).lmax == {"tt": 29}
    assert open_clik(mock_paths["highl_TTTEEE"]).lmax == {"tt": 2508, "ee": 2508, "te": 2508}
    assert len(open_clik(mock_paths["highl_TTTEEE"]).nuisance_names) == 47
    assert open_clik(mock_paths["highl_TTTEEE_lite"]).nuisance_names == ("A_planck",)


def test_nuisance_order_does_not_matter_but_values_do(mock_paths, fid):
    lkl = open_clik(mock_paths["highl_TTTEEE"])
    nuis = default_nuisance("highl_TTTEEE")
    reference = lkl.loglike(fid, nuis)
    shuffled = dict(reversed(list(nuis.items())))
    assert lkl.loglike(fid, shuffled) == reference
    swapped = dict(nuis)
    swapped["calib_100T"], swapped["calib_217T"] = nuis["calib_217T"], nuis["calib_100T"]
    assert nuis["calib_100T"] != nuis["calib_217T"]
    assert abs(lkl.loglike(fid, swapped) - reference) > 1e-3


@pytest.mark.parametrize("kind", CMB_KINDS)  # C^pp has no units: not for lensing
def test_same_spectrum_in_every_unit_gives_same_loglike(kind, mock_paths, fid):
    lkl = open_clik(mock_paths[kind])
    nuis = default_nuisance(kind)
    reference = lkl.loglike(fid, nuis)
    T = 2.7255e6
    ell = np.arange(len(fid["tt"]))
    dl = ell * (ell + 1) / (2 * np.pi)  # by hand, not the package's factor
    variants = [
        ({k: v * dl for k, v in fid.items()}, "muK2", True),
        ({k: v * 1e-12 for k, v in fid.items()}, "K2", False),
        ({k: v * 1e-12 * dl for k, v in fid.items()}, "K2", True),
        ({k: v / T**2 for k, v in fid.items()}, "dimensionless", False),
    ]
    for cls, units, ell_factor in variants:
        value = lkl.loglike(cls, nuis, units=units, ell_factor=ell_factor)
        assert value == pytest.approx(reference, rel=1e-10), (units, ell_factor)
    # a different T_cmb for dimensionless input is honoured
    cls = {k: v / (2.7e6) ** 2 for k, v in fid.items()}
    assert lkl.loglike(cls, nuis, units="dimensionless", T_cmb=2.7) == pytest.approx(
        reference, rel=1e-10
    )


def test_calibration_enters_as_clipy_says(mock_paths, fid, direct):
    lkl = open_clik(mock_paths["lowl_TT"])
    for a_planck in (1.0, 1.01):
        expected = float(
            direct["lowl_TT"](hand_vector(direct["lowl_TT"], fid, {"A_planck": a_planck}))
        )
        assert lkl.loglike(fid, {"A_planck": a_planck}) == pytest.approx(expected, rel=1e-12)
    assert lkl.loglike(fid, {"A_planck": 1.0}) != lkl.loglike(fid, {"A_planck": 1.01})


def test_inputs_are_not_modified(mock_paths, fid):
    lkl = open_clik(mock_paths["highl_TTTEEE_lite"])
    cls = {k: v.copy() for k, v in fid.items()}
    nuis = {"A_planck": 1.0}
    lkl.loglike(cls, nuis, units="muK2")
    for k in fid:
        np.testing.assert_array_equal(cls[k], fid[k])
    assert nuis == {"A_planck": 1.0}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_spectra_give_minus_inf(mock_paths, fid, bad):
    lkl = open_clik(mock_paths["highl_TTTEEE_lite"])
    cls = {k: v.copy() for k, v in fid.items()}
    cls["te"][1000] = bad
    assert lkl.loglike(cls, {"A_planck": 1.0}) == -np.inf


def test_outside_value_becomes_minus_inf(mock_paths):
    lkl = open_clik(mock_paths["lowl_TT"])
    vector = np.zeros(lkl.vector_size)
    vector[-1] = 1.0
    raw = clipy.clik(str(mock_paths["lowl_TT"]))(vector.copy())
    assert raw <= -1e30  # clipy's own "outside" answer for TT = 0
    assert lkl.loglike_vector(vector) == -np.inf


def test_too_short_and_missing_spectra(mock_paths, fid):
    lkl = open_clik(mock_paths["highl_TTTEEE"])
    nuis = default_nuisance("highl_TTTEEE")
    short = dict(fid, ee=fid["ee"][:2000])
    with pytest.raises(ValueError, match=r"'ee' has shape \(2000,\).*ell = 0..2508"):
        lkl.loglike(short, nuis)
    with pytest.raises(ValueError, match="'te' is required"):
        lkl.loglike({"tt": fid["tt"], "ee": fid["ee"]}, nuis)


def test_missing_and_unknown_nuisance(mock_paths, fid):
    lkl = open_clik(mock_paths["highl_TTTEEE"])
    nuis = default_nuisance("highl_TTTEEE")
    del nuis["A_sz"]
    with pytest.raises(ValueError, match=r"Missing nuisance parameter\(s\) \['A_sz'\]"):
        lkl.loglike(fid, nuis)
    nuis = dict(default_nuisance("highl_TTTEEE"), A_SZ=1.0)
    with pytest.raises(
        ValueError,
        match=r"Unknown nuisance parameter\(s\) 'A_SZ' \(did you "
        r"mean 'A_sz'\?\)",
    ):
        lkl.loglike(fid, nuis)
    typo = default_nuisance("highl_TTTEEE")
    typo["calib_100t"] = typo.pop("calib_100T")
    with pytest.raises(
        ValueError,
        match=r"Missing .*\['calib_100T'\]. Unknown: 'calib_100t' "
        r"\(did you mean 'calib_100T'\?\)",
    ):
        lkl.loglike(fid, typo)
    with pytest.raises(TypeError, match="must be a dict by name"):
        lkl.loglike(fid, list(default_nuisance("highl_TTTEEE").values()))


def test_unit_mistake_is_named(mock_paths, fid):
    lkl = open_clik(mock_paths["highl_TTTEEE"])
    nuis = default_nuisance("highl_TTTEEE")
    ell = np.arange(len(fid["tt"]))
    dl = {k: v * ell * (ell + 1) / (2 * np.pi) for k, v in fid.items()}
    with pytest.raises(
        UnitMistakeError, match="TT at ell=200 is 5599 .*D_ell in muK2; pass ell_factor=True"
    ):
        lkl.loglike(dl, nuis)
    with pytest.raises(UnitMistakeError, match="looks like C_ell in K2; pass units='K2'"):
        lkl.loglike({k: v * 1e-12 for k, v in fid.items()}, nuis)
    # the same input, declared as what it is, is accepted and gives the fiducial's logL
    assert lkl.loglike(dl, nuis, ell_factor=True) == pytest.approx(lkl.loglike(fid, nuis))


def test_far_from_lcdm_warns_once_and_goes_on(mock_paths, fid, caplog):
    lkl = open_clik(mock_paths["highl_TTTEEE_lite"])
    direct = clipy.clik(str(mock_paths["highl_TTTEEE_lite"]))
    for amplitude in (20.0, 25.0):
        cls = {k: amplitude * v for k, v in fid.items()}
        with caplog.at_level("WARNING", logger="cobaya_plugins.clik"):
            value = lkl.loglike(cls, {"A_planck": 1.0})
        assert value == pytest.approx(float(direct(hand_vector(direct, cls, {"A_planck": 1.0}))))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "TT at ell=200" in warnings[0] and "20 times the fiducial" in warnings[0]


def test_unit_check_modes(mock_paths, fid, caplog):
    ell = np.arange(len(fid["tt"]))
    dl = {k: v * ell * (ell + 1) / (2 * np.pi) for k, v in fid.items()}
    lkl = open_clik(mock_paths["highl_TTTEEE_lite"])
    with caplog.at_level("WARNING", logger="cobaya_plugins.clik"):
        lkl.loglike(dl, {"A_planck": 1.0}, unit_check="off")
        assert not caplog.records
        lkl.loglike(dl, {"A_planck": 1.0}, unit_check="warn")
    assert "It looks like D_ell in muK2" in caplog.records[0].getMessage()
    with pytest.raises(ValueError, match="unit_check must be one of error, warn, off"):
        lkl.loglike(fid, {"A_planck": 1.0}, unit_check="strict")


def test_instances_share_the_file_but_not_their_state(mock_paths, monkeypatch, fid):
    path = mock_paths["lowl_TT"]
    monkeypatch.chdir(path.parent)
    a, b = open_clik(path.name), open_clik(str(path) + "/")
    assert a is not b and a._file is b._file  # one loaded file, two instances
    a.blas_threads, b.blas_threads = 2, None
    assert (a.blas_threads, b.blas_threads) == (2, None)
    assert a._vector.buffer is not b._vector.buffer
    assert a.loglike(fid, {"A_planck": 1.0}) == b.loglike(fid, {"A_planck": 1.0})


def test_one_instance_per_thread_gives_correct_values(mock_paths, fid):
    from concurrent.futures import ThreadPoolExecutor

    path = mock_paths["highl_TTTEEE_lite"]
    direct = clipy.clik(str(path))
    amplitudes = np.linspace(0.98, 1.02, 8)
    expected = [
        float(direct(hand_vector(direct, {k: a * v for k, v in fid.items()}, {"A_planck": 1.0})))
        for a in amplitudes
    ]

    def evaluate(amplitude):
        lkl = open_clik(path)
        return [
            lkl.loglike({k: amplitude * v for k, v in fid.items()}, {"A_planck": 1.0})
            for _ in range(5)
        ]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(evaluate, amplitudes))
    for values, reference in zip(results, expected, strict=True):
        assert values == pytest.approx([reference] * 5, rel=1e-12)


def test_missing_path_error(tmp_path):
    missing = tmp_path / "nowhere" / "plik.clik"
    with pytest.raises(FileNotFoundError) as err:
        open_clik(missing)
    msg = str(err.value)
    assert "not found" in msg and str(missing) in msg
    assert "Planck Legacy Archive" in msg and "mock" in msg


@pytest.mark.parametrize("name", ["LowlTT", "HighlTTTEEE", "HighlTTTEEELite", "Lensing"])
def test_missing_planck_file_names_the_class_that_installs_it(name, tmp_path):
    """A missing Planck 2018 file (each class's own default ``clik_file``, from its YAML) is
    answered with the ``cobaya-install`` of that class, not of another (plik for plik_lite)."""
    import cobaya_plugins.planck as planck

    default = getattr(planck, name).get_defaults()["clik_file"]
    with pytest.raises(FileNotFoundError) as err:
        open_clik(tmp_path / default)
    msg = str(err.value)
    assert f"`cobaya-install cobaya_plugins.planck.{name} -p PACKAGES`" in msg
    assert "planck_2018_highl_plik" not in msg


def test_mock_file_names_are_those_the_mock_command_writes():
    from cobaya_plugins.clik import MOCK_FILE_KINDS
    from cobaya_plugins.mock import KINDS, mock_filename

    assert MOCK_FILE_KINDS == {mock_filename(kind): kind for kind in KINDS}


def test_missing_mock_file_names_the_mock_command(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        open_clik(tmp_path / "mock_data" / "highl_TTTEEE_lite.clik")
    msg = str(err.value)
    assert f"`python -m cobaya_plugins mock highl_TTTEEE_lite {tmp_path / 'mock_data'}`" in msg


def test_relative_missing_path_names_full_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "x.clik")):
        open_clik("x.clik")


def test_not_a_clik_directory(tmp_path):
    with pytest.raises(ValueError, match="is a directory but not a clik likelihood"):
        open_clik(tmp_path)
    archive = tmp_path / "plik.clik.tar.gz"
    archive.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file, not a clik.*unpacked"):
        open_clik(archive)


def test_unknown_backend(mock_paths):
    with pytest.raises(ValueError, match="Unknown backend 'cl1k'"):
        open_clik(mock_paths["lowl_TT"], backend="cl1k")


def test_unrelated_clik_package_is_not_taken_for_planck(monkeypatch, mock_paths):
    # PyPI's 'clik' (a CLI toolkit) has no likelihood class: it must be ignored.
    fake = types.ModuleType("clik")
    fake.app = lambda *a, **k: None
    monkeypatch.setitem(sys.modules, "clik", fake)
    assert find_compiled_clik() is None
    with pytest.raises(ImportError, match="needs the compiled Planck clik module"):
        open_clik(mock_paths["lowl_TT"], backend="clik")


def test_compiled_clik_is_recognised_by_api_and_used(monkeypatch, mock_paths, fid):
    # A stand-in with the compiled module's API (a 'clik' class); it delegates to clipy.
    class FakeCompiled:
        calls = 0

        def __init__(self, path):
            self._inner = clipy.clik(path)

        def get_lmax(self):
            return self._inner.get_lmax()

        def get_extra_parameter_names(self):
            return self._inner.get_extra_parameter_names()

        def __call__(self, vector):
            FakeCompiled.calls += 1
            return self._inner(vector)

    fake = types.ModuleType("clik")
    fake.clik = FakeCompiled
    fake.clik_lensing = FakeCompiled
    monkeypatch.setitem(sys.modules, "clik", fake)
    monkeypatch.setattr(clik_module, "_loaded", {})
    assert find_compiled_clik() is fake
    lkl = open_clik(mock_paths["lowl_TT"])
    assert lkl.backend == "clik"
    via_clipy = clik_module.ClikLikelihood(mock_paths["lowl_TT"], backend="clipy")
    assert lkl.loglike(fid, {"A_planck": 1.0}) == via_clipy.loglike(fid, {"A_planck": 1.0})
    assert FakeCompiled.calls == 2  # the self-check, then this call


def copy_of(path, tmp_path):
    import shutil

    return Path(shutil.copytree(path, tmp_path / path.name))


def test_missing_member_says_the_file_is_incomplete(mock_paths, tmp_path):
    broken = copy_of(mock_paths["lowl_TT"], tmp_path)
    (broken / "clik" / "lkl_0" / "_external" / "sigma.fits").unlink()
    with pytest.raises(ValueError) as err:
        open_clik(broken)
    msg = str(err.value)
    assert str(broken) in msg and "incomplete" in msg
    assert "clik/lkl_0/_external/sigma.fits" in msg and "download" in msg


def test_failed_self_check_is_reported(mock_paths, tmp_path):
    edited = copy_of(mock_paths["lowl_TT"], tmp_path)
    mdb = edited / "clik" / "_mdb"
    lines = mdb.read_text().splitlines()
    value = float(next(line for line in lines if line.startswith("check_value")).split()[2])
    mdb.write_text(
        "\n".join(
            f"check_value float {value + 6.5!r}" if line.startswith("check_value") else line
            for line in lines
        )
        + "\n"
    )
    check = open_clik(edited).self_check
    assert not check.passed and check.expected == value + 6.5
    assert check.got == pytest.approx(value, abs=1e-8) and "FAILED" in str(check)


def test_clik_file_knows_its_kind(mock_paths, tmp_path):
    """One value for "which kind of .clik is this": the group clik reads and lkl_type, path-like."""
    from cobaya_plugins.clikdata import ClikFile

    lens = ClikFile.find(mock_paths["lensing"])
    plik = ClikFile.find(mock_paths["highl_TTTEEE"])
    assert lens.is_lensing and lens.lkl_type == "lensing" and lens.group.name == "clik_lensing"
    assert not plik.is_lensing and plik.lkl_type == "smica" and plik.group.name == "clik"
    assert os.fspath(plik) == str(mock_paths["highl_TTTEEE"].resolve())
    assert open_clik(plik).lkl_type == "smica"  # usable wherever a path is
    assert ClikFile.find(tmp_path) is None
