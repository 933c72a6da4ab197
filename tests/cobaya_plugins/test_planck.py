"""The Cobaya likelihood classes give the same logL as open_clik(...).loglike."""

from pathlib import Path

import numpy as np
import pytest
from cobaya.log import LoggedError
from cobaya.model import get_model
from fixed_theory import FixedCls
from planck_names import PLIK_FIXED, PLIK_NAMES, PLIK_PRIORS, PLIK_SAMPLED

from cobaya_plugins.clik import open_clik
from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.mock import default_nuisance

HERE = Path(__file__).parent
CLASSES = {
    "lowl_TT": "cobaya_plugins.planck.LowlTT",
    "highl_TTTEEE": "cobaya_plugins.planck.HighlTTTEEE",
    "highl_TTTEEE_lite": "cobaya_plugins.planck.HighlTTTEEELite",
}


def model_for(likelihoods, params, **extra):
    info = {
        "theory": {"fixed": {"external": FixedCls}},
        "likelihood": likelihoods,
        "params": {"amp": 1.0, **params},
        "debug": False,
        **extra,
    }
    return get_model(info)


def expected_loglike(path, nuisance, amp=1.0):
    cls = {k: amp * v for k, v in load_fiducial().items()}
    return open_clik(path).loglike(cls, nuisance)


@pytest.mark.parametrize("kind", list(CLASSES))
def test_class_matches_open_clik(kind, mock_paths):
    nuis = default_nuisance(kind)
    model = model_for({CLASSES[kind]: {"clik_file": str(mock_paths[kind])}}, {})
    sampled = list(model.parameterization.sampled_params())
    point = {p: nuis[p] for p in sampled}
    logls = model.loglikes(point, as_dict=True)[0]
    # the fixed values are Planck's published ones (typed in planck_names), not read from the YAML
    nuis_used = {**nuis, **(PLIK_FIXED if kind == "highl_TTTEEE" else {}), **point}
    assert logls[CLASSES[kind]] == pytest.approx(
        expected_loglike(mock_paths[kind], nuis_used), rel=1e-10
    )


def test_highl_declares_47_parameters_with_21_sampled(mock_paths):
    model = model_for({CLASSES["highl_TTTEEE"]: {"clik_file": str(mock_paths["highl_TTTEEE"])}}, {})
    like = model.likelihood[CLASSES["highl_TTTEEE"]]
    assert len(PLIK_NAMES) == 47 and len(PLIK_SAMPLED) == 21
    assert list(like.clik.nuisance_names) == PLIK_NAMES
    assert sorted(like.input_params) == sorted(PLIK_NAMES)
    assert sorted(model.parameterization.sampled_params()) == sorted(PLIK_SAMPLED)
    assert model.parameterization.constant_params() == pytest.approx(dict(PLIK_FIXED, amp=1.0))
    infos = model.parameterization.sampled_params_info()
    for name, (dist, a, b) in PLIK_PRIORS.items():
        prior = infos[name]["prior"]
        if dist == "norm":
            assert (prior["dist"], prior["loc"], prior["scale"]) == ("norm", a, b), name
        else:
            assert (prior["min"], prior["max"]) == (a, b) and "dist" not in prior, name
    # the joint SZ prior: ksz_norm + 1.6 A_sz ~ N(9.5, 3), by hand
    point = {
        p: default_nuisance("highl_TTTEEE")[p] for p in model.parameterization.sampled_params()
    }
    base = model.logprior(point)
    before = point["ksz_norm"] + 1.6 * point["A_sz"]
    point["ksz_norm"] = point["A_sz"] = 0.0
    expected = -0.5 * ((0 - 9.5) / 3) ** 2 + 0.5 * ((before - 9.5) / 3) ** 2
    assert model.logprior(point) - base == pytest.approx(expected, rel=1e-10)


def test_generic_clik_takes_names_from_file(mock_paths):
    nuis = default_nuisance("highl_TTTEEE")
    like = {"cobaya_plugins.planck.Clik": {"clik_file": str(mock_paths["highl_TTTEEE"])}}
    model = model_for(like, dict(nuis))
    logl = model.loglikes({}, as_dict=True)[0]["cobaya_plugins.planck.Clik"]
    assert logl == pytest.approx(expected_loglike(mock_paths["highl_TTTEEE"], nuis), rel=1e-10)


def test_generic_clik_lists_missing_names(mock_paths):
    nuis = default_nuisance("highl_TTTEEE")
    del nuis["A_sz"], nuis["ksz_norm"]
    like = {"cobaya_plugins.planck.Clik": {"clik_file": str(mock_paths["highl_TTTEEE"])}}
    with pytest.raises(LoggedError) as err:
        model_for(like, nuis)
    assert "Missing (define them in 'params'): ['A_sz', 'ksz_norm']" in str(err.value)


def test_parameter_mismatch_lists_unexpected(mock_paths):
    like = {
        "cobaya_plugins.planck.Clik": {
            "clik_file": str(mock_paths["lowl_TT"]),
            "params": {"A_planck": 1.0, "A_extra": 1.0},
        }
    }
    with pytest.raises(LoggedError, match=r"Unexpected: 'A_extra'"):
        model_for(like, {})


def test_a_planck_shared_between_low_and_high_l(mock_paths):
    like = {
        CLASSES["lowl_TT"]: {"clik_file": str(mock_paths["lowl_TT"])},
        CLASSES["highl_TTTEEE_lite"]: {"clik_file": str(mock_paths["highl_TTTEEE_lite"])},
    }
    model = model_for(like, {})
    assert list(model.parameterization.sampled_params()) == ["A_planck"]
    logls = model.loglikes({"A_planck": 1.003}, as_dict=True)[0]
    for kind in ("lowl_TT", "highl_TTTEEE_lite"):
        assert logls[CLASSES[kind]] == pytest.approx(
            expected_loglike(mock_paths[kind], {"A_planck": 1.003}), rel=1e-10
        )


def test_requirements_and_speed(mock_paths):
    model = model_for({CLASSES["highl_TTTEEE"]: {"clik_file": str(mock_paths["highl_TTTEEE"])}}, {})
    like = model.likelihood[CLASSES["highl_TTTEEE"]]
    assert like.get_requirements() == {"Cl": {"tt": 2508, "ee": 2508, "te": 2508}}
    assert like.speed == 30


def test_missing_file_error_names_path_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoggedError) as err:
        model_for({CLASSES["lowl_TT"]: {"clik_file": "nowhere/lowl.clik"}}, {})
    msg = str(err.value)
    assert "not found" in msg and str(tmp_path / "nowhere" / "lowl.clik") in msg
    assert "Planck Legacy Archive" in msg


def test_relative_path_resolved_against_path_option(mock_paths):
    path = mock_paths["lowl_TT"]
    like = {CLASSES["lowl_TT"]: {"clik_file": path.name, "path": str(path.parent)}}
    model = model_for(like, {"A_planck": 1.0})
    assert model.likelihood[CLASSES["lowl_TT"]].clik.path == path.resolve()


def test_nan_spectrum_gives_minus_inf(mock_paths):
    model = model_for(
        {CLASSES["lowl_TT"]: {"clik_file": str(mock_paths["lowl_TT"])}},
        {"A_planck": 1.0, "amp": np.nan},
    )
    assert model.loglikes({}, as_dict=True)[0][CLASSES["lowl_TT"]] == -np.inf


class DlInsteadOfCl(FixedCls):
    """A buggy theory: returns D_ell whatever get_Cl is asked for."""

    def get_Cl(self, ell_factor=False, units="FIRASmuK2"):
        return super().get_Cl(ell_factor=True, units=units)


def test_unit_mistake_in_theory_stops_the_run(mock_paths):
    info = {
        "theory": {"buggy": {"external": DlInsteadOfCl}},
        "likelihood": {
            CLASSES["highl_TTTEEE_lite"]: {"clik_file": str(mock_paths["highl_TTTEEE_lite"])}
        },
        "params": {"amp": 1.0, "A_planck": 1.0},
    }
    model = get_model(info)
    with pytest.raises(
        LoggedError,
        match="spectra from buggy do not look like a CMB spectrum: "
        "TT at ell=200 .* it looks like D_ell in muK2 arrived where C_ell in muK2 "
        "was asked for",
    ):
        model.loglikes({})
    # unit_check: warn lets it run (with a warning)
    info["likelihood"][CLASSES["highl_TTTEEE_lite"]]["unit_check"] = "warn"
    assert np.isfinite(get_model(info).loglikes({})[0][0])


def test_bad_blas_threads_option(mock_paths):
    like = {CLASSES["lowl_TT"]: {"clik_file": str(mock_paths["lowl_TT"]), "blas_threads": 0}}
    with pytest.raises(LoggedError, match="`blas_threads: 0`: blas_threads must be a positive"):
        model_for(like, {"A_planck": 1.0})


def test_cobaya_run_evaluate(mock_paths, tmp_path, cobaya_run):
    info = {
        "theory": {"fixed_theory.FixedCls": None},
        "likelihood": {CLASSES["lowl_TT"]: {"clik_file": str(mock_paths["lowl_TT"])}},
        "params": {"amp": 1.0, "A_planck": 1.0},
        "sampler": {"evaluate": None},
    }
    cobaya_run(info)
    root = tmp_path / "chains" / "run"
    rows = np.loadtxt(str(root) + ".1.txt", ndmin=2)
    header = open(str(root) + ".1.txt").readline().split()[1:]
    chi2 = rows[0, header.index("chi2__" + CLASSES["lowl_TT"])]
    assert chi2 == pytest.approx(
        -2 * expected_loglike(mock_paths["lowl_TT"], {"A_planck": 1.0}), rel=1e-6
    )


def test_cobaya_run_short_mcmc(mock_paths, tmp_path, cobaya_run):
    info = {
        "theory": {"fixed_theory.FixedCls": None},
        "likelihood": {CLASSES["lowl_TT"]: {"clik_file": str(mock_paths["lowl_TT"])}},
        "params": {"amp": {"prior": {"min": 0.5, "max": 1.5}, "ref": 1.0, "proposal": 0.05}},
        "sampler": {"mcmc": {"max_samples": 60, "burn_in": 0, "learn_proposal": False, "seed": 3}},
    }
    cobaya_run(info)
    root = tmp_path / "chains" / "run"
    text = open(str(root) + ".1.txt").read().splitlines()
    header = text[0].split()[1:]
    rows = np.loadtxt(text[1:], ndmin=2)
    assert {"amp", "A_planck"} <= set(header)
    assert len(rows) >= 10
    amp = rows[:, header.index("amp")]
    assert np.all((amp >= 0.5) & (amp <= 1.5)) and np.ptp(amp) > 0
    assert np.all(np.isfinite(rows[:, header.index("minuslogpost")]))


@pytest.mark.slow
def test_with_classy_for_real(mock_paths):
    """CLASS through Cobaya's classy: the likelihoods see CLASS's ΔT/T spectra in FIRAS µK²."""
    like = {
        CLASSES["lowl_TT"]: {"clik_file": str(mock_paths["lowl_TT"])},
        CLASSES["highl_TTTEEE_lite"]: {"clik_file": str(mock_paths["highl_TTTEEE_lite"])},
    }
    info = {
        "theory": {"classy": {"extra_args": {"N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.06}}},
        "likelihood": like,
        "params": {
            "omega_b": 0.022383,
            "omega_cdm": 0.12011,
            "H0": 67.32,
            "tau_reio": 0.0543,
            "A_s": 1e-10 * np.exp(3.0448),
            "n_s": 0.96605,
            "A_planck": 1.0,
        },
    }
    model = get_model(info)
    logls = model.loglikes({}, as_dict=True)[0]
    cls = model.provider.get_Cl(ell_factor=False, units="1")  # dimensionless, as CLASS gives
    assert cls["tt"][200] == pytest.approx(1.178e-13, rel=0.01)
    for kind in ("lowl_TT", "highl_TTTEEE_lite"):
        direct = open_clik(mock_paths[kind]).loglike(
            cls, {"A_planck": 1.0}, units="dimensionless", T_cmb=2.7255
        )
        assert logls[CLASSES[kind]] == pytest.approx(direct, rel=1e-10)
    # the mock data were drawn around this very model: a realistic chi2 per data point
    assert -2 * logls[CLASSES["highl_TTTEEE_lite"]] / 613 == pytest.approx(1.0, abs=0.25)
