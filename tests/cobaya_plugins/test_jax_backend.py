"""JAX backend: the logL of clipy's numpy path, clik's totcalP, gradients vs finite differences.

References: the public ``clipy`` module imported on numpy (CLIPY_NOJAX=1, set by conftest) — an
independent load of the installed package, not our private copies — and central finite
differences of the logL itself. Budget: 2.5-3 min on 2 shared cores (JAX loads and compiles
each mock file once per session: 30-60 s for plik), so the module is marked slow.
"""

import os

import numpy as np
import pytest

jax = pytest.importorskip("jax")

os.environ.setdefault("CLIPY_NOJAX", "1")
import clipy  # noqa: E402  - the public module, on numpy: the reference
from cobaya.model import get_model  # noqa: E402
from fixed_theory import FixedCls  # noqa: E402

from cobaya_plugins.clik import open_clik  # noqa: E402
from cobaya_plugins.clipy_loader import PRIVATE_NAMES, load_clipy  # noqa: E402
from cobaya_plugins.fiducial import load_fiducial, load_fiducial_pp  # noqa: E402
from cobaya_plugins.mock import CMB_KINDS, KINDS, default_nuisance  # noqa: E402
from cobaya_plugins.vector import CMB_SPECTRA, LENSING_SPECTRA, CallVector  # noqa: E402

# `slow` (> ~5 s): the tests that compile plik or every mock (the module fixtures, the gradient of
# each kind); the others take about a second.


@pytest.fixture(scope="module")
def jax_cliks(mock_paths):
    """The JaxClik of each mock kind, as open_clik(path, "jax") loads (and shares) it."""
    return {kind: open_clik(path, "jax")._file.lkl for kind, path in mock_paths.items()}


@pytest.fixture(scope="module")
def numpy_cliks(mock_paths):
    """The public clipy (numpy) object of each mock kind."""
    return {kind: clipy.clik(str(path)) for kind, path in mock_paths.items()}


def layout_of(lkl) -> CallVector:
    lmax = lkl.get_lmax()
    names = LENSING_SPECTRA if len(lmax) == len(LENSING_SPECTRA) else CMB_SPECTRA
    lmax = {n: lm for n, lm in zip(names, lmax, strict=True) if lm != -1}
    return CallVector(lmax, lkl.get_extra_parameter_names())


def fiducial(kind):
    """The shipped fiducial spectra (µK²), with C^φφ for the lensing kind."""
    cls = load_fiducial()
    return {**cls, "pp": load_fiducial_pp()} if kind == "lensing" else cls


def moved_point(kind):
    """Fiducial spectra × 1.02 and nuisance values moved off their defaults (A_pol = 1.1...)."""
    cls = {k: 1.02 * v for k, v in fiducial(kind).items()}
    nuis = default_nuisance(kind)
    moved = {
        "A_planck": 1.003,
        "A_pol": 1.1,
        "calib_100T": 1.001,
        "A_cib_217": 60.0,
        "ksz_norm": 3.0,
        "galf_TE_A_100": 0.2,
        "galf_EE_index": -2.2,
    }
    nuis.update({k: v for k, v in moved.items() if k in nuis})
    return cls, nuis


def test_private_copies_run_each_mode_and_leave_public_clipy_alone():
    before = os.environ.get("CLIPY_NOJAX")
    on_jax, on_numpy = load_clipy(jax=True), load_clipy(jax=False)
    assert (on_jax.__name__, on_numpy.__name__) == (PRIVATE_NAMES[True], PRIVATE_NAMES[False])
    assert on_jax.hasjax and not on_numpy.hasjax
    assert not clipy.hasjax  # the public module keeps the mode it was imported in
    assert load_clipy(jax=True) is on_jax  # loaded once
    assert os.environ.get("CLIPY_NOJAX") == before


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_jax_equals_numpy_clipy(kind, jax_cliks, numpy_cliks):
    jax_lkl, ref = jax_cliks[kind], numpy_cliks[kind]
    assert jax_lkl.get_lmax() == [int(v) for v in ref.get_lmax()]
    assert jax_lkl.get_extra_parameter_names() == list(ref.get_extra_parameter_names())
    assert "got" in jax_lkl.self_check
    layout = layout_of(jax_lkl)
    for cls, nuis in [(fiducial(kind), default_nuisance(kind)), moved_point(kind)]:
        assert layout.fill(cls, nuis)
        vector = layout.buffer.copy()
        expected = float(ref(vector.copy()))
        assert jax_lkl(vector) == pytest.approx(expected, rel=1e-10)


@pytest.mark.slow
def test_batch_equals_single_calls(jax_cliks):
    lkl = jax_cliks["highl_TTTEEE_lite"]
    layout = layout_of(lkl)
    vectors = []
    for amp in (0.98, 1.0, 1.02):
        layout.fill({k: amp * v for k, v in load_fiducial().items()}, {"A_planck": 1.0})
        vectors.append(layout.buffer.copy())
    np.testing.assert_allclose(lkl.batch(np.array(vectors)), [lkl(v) for v in vectors], rtol=1e-12)


def model_rq(lkl, vector):
    """smica's model R_q, shape (bins, m, m), of a call vector (clipy's own pieces)."""
    cls, nuis = lkl.normalize(vector)
    return np.asarray(lkl._internal.get_model_rq(cls, nuis | lkl._default))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_totcalP_scales_polarisation_as_clik(backend, mock_paths, jax_cliks, numpy_cliks):
    """clik (src/plik/smica.c, comp_totcalP_update): TP blocks / A_pol, PP blocks / A_pol²."""
    lkl = numpy_cliks["highl_TTTEEE"] if backend == "numpy" else jax_cliks["highl_TTTEEE"]._lkl
    layout = layout_of(lkl)
    nuis = default_nuisance("highl_TTTEEE")
    rq = {}
    for a_pol in (1.0, 1.25):
        layout.fill(load_fiducial(), {**nuis, "A_pol": a_pol})
        rq[a_pol] = model_rq(lkl, layout.buffer.copy())
    n_t = 3  # mock plik: 100, 143, 217 GHz in T, then in E
    ratio = rq[1.25] / rq[1.0]
    np.testing.assert_allclose(ratio[:, :n_t, :n_t], 1.0, rtol=1e-12)
    np.testing.assert_allclose(ratio[:, :n_t, n_t:], 1 / 1.25, rtol=1e-12)
    np.testing.assert_allclose(ratio[:, n_t:, :n_t], 1 / 1.25, rtol=1e-12)
    np.testing.assert_allclose(ratio[:, n_t:, n_t:], 1 / 1.25**2, rtol=1e-12)


def test_fits_integers_reach_jax_in_native_byte_order(mock_paths):
    smica = os.path.join(mock_paths["highl_TTTEEE"], "clik", "lkl_0")
    raw = clipy.cldf.open(smica)["bin_lmin"]
    assert not raw.dtype.isnative  # FITS: big-endian
    lkl_module = load_clipy(jax=True).lkl
    adapted = lkl_module.cldf.open(smica)["bin_lmin"]
    assert adapted.dtype.isnative
    np.testing.assert_array_equal(adapted, raw)


def central_difference(f, x0: float, step: float) -> float:
    return (f(x0 + step) - f(x0 - step)) / (2 * step)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("units,ell_factor", [("muK2", False), ("dimensionless", True)])
def test_gradient_matches_finite_differences(kind, units, ell_factor, mock_paths):
    """loglike_and_grad: d logL / d C_ell in the caller's units and d logL / d nuisance, against
    central differences of the numpy backend's loglike, at a point away from the fiducial."""
    lkl, ref = open_clik(mock_paths[kind], "jax"), open_clik(mock_paths[kind], "clipy")
    cls_muK2, nuis = moved_point(kind)
    ell = np.arange(max(len(v) for v in cls_muK2.values()))
    scale = (2.7255e6) ** 2 if units == "dimensionless" else 1.0
    to_input = ell * (ell + 1) / (2 * np.pi) if ell_factor else np.ones_like(ell, dtype=float)
    cls = {k: v if k == "pp" else v * to_input[: len(v)] / scale for k, v in cls_muK2.items()}

    def loglike(c, n):
        return ref.loglike(c, n, units=units, ell_factor=ell_factor)

    value, dcls, dnuis = lkl.loglike_and_grad(cls, nuis, units=units, ell_factor=ell_factor)
    assert value == pytest.approx(loglike(cls, nuis), rel=1e-10)
    assert set(dcls) == set(cls) | set(lkl.lmax)
    for name in set(cls) - set(lkl.lmax):
        assert np.all(dcls[name] == 0)  # spectra the file does not use
    for name, lm in lkl.lmax.items():
        d = dcls[name]
        assert d.shape == ((len(cls[name]),) if name in cls else (lm + 1,))
        assert np.all(d[lm + 1 :] == 0) and np.all(d[:2] == 0)
        if name not in cls:  # tb, eb: zeros were passed
            continue
        # the most sensitive multipole and two others
        for ell_i in {int(np.argmax(np.abs(d))), lm // 2, lm - 3}:

            def f(x, name=name, ell_i=ell_i):
                c = {k: v.copy() for k, v in cls.items()}
                c[name][ell_i] = x
                return loglike(c, nuis)

            x0 = cls[name][ell_i]
            fd = central_difference(f, x0, 1e-3 * abs(x0))
            assert d[ell_i] == pytest.approx(fd, rel=1e-4, abs=1e-7 * np.abs(d).max())
    assert list(dnuis) == list(lkl.nuisance_names)
    for name in lkl.nuisance_names:

        def g(x, name=name):
            return loglike(cls, {**nuis, name: x})

        x0 = nuis[name]
        fd = central_difference(g, x0, 1e-4 * max(abs(x0), 1e-2))
        assert dnuis[name] == pytest.approx(fd, rel=1e-4, abs=1e-6), name


def test_gradient_needs_the_jax_backend(mock_paths):
    lkl = open_clik(mock_paths["highl_TTTEEE_lite"], "clipy")
    with pytest.raises(NotImplementedError, match="backend='jax'"):
        lkl.loglike_and_grad(load_fiducial(), {"A_planck": 1.0})


@pytest.mark.slow
def test_nan_spectra_give_minus_inf_and_nan_gradients(mock_paths):
    lkl = open_clik(mock_paths["highl_TTTEEE_lite"], "jax")
    cls = load_fiducial()
    cls["tt"] = cls["tt"].copy()
    cls["tt"][100] = np.nan
    value, dcls, dnuis = lkl.loglike_and_grad(cls, {"A_planck": 1.0})
    assert value == -np.inf
    assert np.all(np.isnan(dcls["tt"][: lkl.lmax["tt"] + 1])) and np.isnan(dnuis["A_planck"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", CMB_KINDS)
def test_cobaya_class_with_backend_jax(kind, mock_paths):
    name = {
        "lowl_TT": "LowlTT",
        "highl_TTTEEE": "HighlTTTEEE",
        "highl_TTTEEE_lite": "HighlTTTEEELite",
    }[kind]
    name = f"cobaya_plugins.planck.{name}"
    logls = []
    for backend in ("auto", "jax"):
        info = {
            "theory": {"fixed": {"external": FixedCls}},
            "likelihood": {name: {"clik_file": str(mock_paths[kind]), "backend": backend}},
            "params": {"amp": 1.01, **default_nuisance(kind)},
            "debug": False,
        }
        model = get_model(info)
        assert model.likelihood[name].clik.backend == ("jax" if backend == "jax" else "clipy")
        logls.append(model.loglikes({})[0][0])
    assert logls[1] == pytest.approx(logls[0], rel=1e-10)


def test_backend_jax_without_jax_says_what_to_install(mock_paths, monkeypatch):
    from cobaya.log import LoggedError

    import cobaya_plugins.clik as clik_module

    monkeypatch.setattr(clik_module, "jax_available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install 'cobaya-planck-clik\[jax\]'"):
        open_clik(mock_paths["highl_TTTEEE_lite"], "jax")
    info = {
        "theory": {"fixed": {"external": FixedCls}},
        "likelihood": {
            "cobaya_plugins.planck.HighlTTTEEELite": {
                "clik_file": str(mock_paths["highl_TTTEEE_lite"]),
                "backend": "jax",
            }
        },
        "params": {"amp": 1.0, "A_planck": 1.0},
        "debug": False,
    }
    with pytest.raises(LoggedError, match="`backend: jax` needs jax"):
        get_model(info)
