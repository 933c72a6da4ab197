"""The lensing mock (clik_lensing, pp first) and cobaya_plugins.planck.Lensing, against clipy."""

import contextlib
import io
import os

os.environ.setdefault("CLIPY_NOJAX", "1")

import clipy  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from astropy.io import fits  # noqa: E402
from cobaya.log import LoggedError  # noqa: E402
from cobaya.model import get_model  # noqa: E402
from fixed_theory import FixedCls  # noqa: E402

from cobaya_plugins.clik import open_clik  # noqa: E402
from cobaya_plugins.fiducial import load_fiducial, load_fiducial_pp  # noqa: E402
from cobaya_plugins.mock import lensing, write_mock  # noqa: E402

LENSING = "cobaya_plugins.planck.Lensing"


@pytest.fixture(scope="module")
def lens_path(mock_paths):
    return mock_paths["lensing"]


@pytest.fixture(scope="module")
def direct(lens_path):
    with contextlib.redirect_stdout(io.StringIO()):
        return clipy.clik(str(lens_path))


@pytest.fixture(scope="module")
def fid():
    return {**load_fiducial(lmax=2500), "pp": load_fiducial_pp(lmax=2500)}


def hand_vector(cls, a_planck):
    """pp, then TT EE BB TE (clik order), ell 0..2500, then A_planck: built by hand."""
    return np.concatenate([cls[n][:2501] for n in ("pp", "tt", "ee", "bb", "te")] + [[a_planck]])


def test_layout_as_planck(lens_path, direct):
    assert lens_path.name == "lensing.clik_lensing"
    assert (lens_path / "clik_lensing").is_dir() and not (lens_path / "clik").exists()
    assert list(direct.get_lmax()) == [2500, 2500, 2500, 2500, 2500, -1, -1]
    assert list(direct.get_extra_parameter_names()) == ["A_planck"]
    mdb = (lens_path / "clik_lensing" / "_mdb").read_text()
    for line in (
        "itype int 4",
        "lmax int 2500",
        "nbins int 9",
        "renorm int 1",
        "ren1 int 1",
        "has_calib int 1",
    ):
        assert line in mdb
    assert list(fits.getdata(lens_path / "clik_lensing" / "hascl")) == [1, 1, 1, 1, 0, 0]
    bins = fits.getdata(lens_path / "clik_lensing" / "bins").reshape(9, 2501)
    used = np.flatnonzero(bins.sum(axis=0))
    assert (used[0], used[-1]) == (8, 400)  # Planck 2018 conservative range


def test_open_clik_metadata(lens_path):
    lkl = open_clik(lens_path)
    assert lkl.is_lensing and lkl.lkl_type == "lensing"
    assert list(lkl.lmax) == ["pp", "tt", "ee", "bb", "te"]
    assert lkl.nuisance_names == ("A_planck",)
    assert lkl.vector_size == 5 * 2501 + 1


@pytest.mark.parametrize("scale, a_planck", [(1.0, 1.0), (1.07, 1.0), (0.95, 1.01)])
def test_loglike_equals_clipy_direct(lens_path, direct, fid, scale, a_planck):
    cls = {k: scale * v for k, v in fid.items()}
    expected = float(direct(hand_vector(cls, a_planck)))
    got = open_clik(lens_path).loglike(cls, {"A_planck": a_planck})
    assert got == pytest.approx(expected, rel=1e-8, abs=1e-8)


def test_order_matters_pp_first(lens_path, direct, fid):
    """Swapping the CMB spectra or moving pp changes clipy's value: the order is tested."""
    cls = {k: 1.05 * v for k, v in fid.items()}
    good = float(direct(hand_vector(cls, 1.0)))
    swapped = dict(cls, ee=cls["tt"], tt=cls["ee"])
    assert float(direct(hand_vector(swapped, 1.0))) != pytest.approx(good, rel=1e-6)


def test_own_model_matches_clipy(lens_path, direct, fid):
    """The writer's bandpower model (binned φφ + linear corrections) is what clipy computes."""
    data = fits.getdata(lens_path / "clik_lensing" / "pp_hat")
    siginv = fits.getdata(lens_path / "clik_lensing" / "siginv").reshape(9, 9)
    cls = {k: v * (1.1 if k == "tt" else 0.97) for k, v in fid.items()}
    delta = data - lensing.model_bandpowers(cls, fid, a_planck=1.02)
    assert -0.5 * delta @ siginv @ delta == pytest.approx(
        float(direct(hand_vector(cls, 1.02))), rel=1e-10
    )


def test_check_value_and_realistic_chi2(lens_path, fid):
    lkl = open_clik(lens_path)
    value = lkl.loglike(fid, {"A_planck": 1.0})
    mdb = (lens_path / "clik_lensing" / "_mdb").read_text()
    stored = float(next(x for x in mdb.splitlines() if x.startswith("check ")).split()[2])
    assert value == pytest.approx(stored, abs=1e-10)
    assert lkl.self_check.passed and lkl.self_check.expected == pytest.approx(stored, abs=1e-10)
    assert -2 * value < 9 + 6 * np.sqrt(18)  # 9 bandpowers


def test_same_seed_same_bytes(lens_path, tmp_path):
    again = write_mock("lensing", tmp_path, seed=1)
    for member in ("pp_hat", "siginv", "cors", "cl_fid", "_mdb"):
        assert (again / "clik_lensing" / member).read_bytes() == (
            lens_path / "clik_lensing" / member
        ).read_bytes()


class FixedWithPP(FixedCls):
    """The fiducial CMB × amp plus the fiducial C^φφ × amp_pp (unitless, as Cobaya's pp)."""

    params = {"amp": None, "amp_pp": None}

    def initialize(self):
        super().initialize()
        self._pp = load_fiducial_pp(lmax=2508)

    def calculate(self, state, want_derived=True, **params_values):
        super().calculate(state, want_derived, amp=params_values["amp"])
        state["pp"] = params_values["amp_pp"] * self._pp

    def get_Cl(self, ell_factor=False, units="FIRASmuK2"):
        out = super().get_Cl(ell_factor=ell_factor, units=units)
        pp = self.current_state["pp"].copy()
        if ell_factor:
            ell = np.arange(len(pp))
            pp *= (ell * (ell + 1.0)) ** 2 / (2 * np.pi)
        out["pp"] = pp
        return out


def lensing_model(path, **extra):
    info = {
        "theory": {"fixed": {"external": FixedWithPP}},
        "likelihood": {LENSING: {"clik_file": str(path), **extra}},
        "params": {"amp": 1.02, "amp_pp": 0.93},
    }
    return get_model(info)


def test_cobaya_class_matches_clipy(lens_path, direct, fid):
    model = lensing_model(lens_path)
    like = model.likelihood[LENSING]
    assert like.get_requirements() == {
        "Cl": {"pp": 2500, "tt": 2500, "ee": 2500, "bb": 2500, "te": 2500}
    }
    assert list(model.parameterization.sampled_params()) == ["A_planck"]
    logl = model.loglikes({"A_planck": 1.004}, as_dict=True)[0][LENSING]
    cls = {k: 1.02 * v for k, v in fid.items() if k != "pp"}
    cls["pp"] = 0.93 * fid["pp"]
    assert logl == pytest.approx(float(direct(hand_vector(cls, 1.004))), rel=1e-8)


def test_cobaya_class_refuses_cmb_file(mock_paths):
    with pytest.raises(LoggedError, match=r"is a Commander .*this class reads a CMB lensing"):
        lensing_model(mock_paths["lowl_TT"])
