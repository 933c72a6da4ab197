"""CosmoPower theory: the networks, get_Cl units, the training box, parameters, CLASS, chains."""

import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cobaya.likelihood import Likelihood
from cobaya.log import LoggedError
from cobaya.model import get_model

pytest.importorskip("cosmopower_jax", reason="needs the optional extra 'emulator'")

from cobaya_plugins.emulator import INPUTS, LMAX, CMBEmulator  # noqa: E402
from cobaya_plugins.theories import CosmoComputationError  # noqa: E402

REPO = Path(__file__).parents[2]
THEORY = "cobaya_plugins.theories.CosmoPower"
#: Planck 2018 best fit (as cobaya_plugins/data/make_fiducial.py), emulator input names.
FIDUCIAL = {
    "omega_b": 0.022383,
    "omega_cdm": 0.12011,
    "h": 0.6732,
    "tau_reio": 0.0543,
    "n_s": 0.96605,
    "ln10^{10}A_s": 3.0448,
}
#: The same point in Cobaya names (H0, logA).
COBAYA_FIDUCIAL = {
    "omega_b": 0.022383,
    "omega_cdm": 0.12011,
    "H0": 67.32,
    "tau_reio": 0.0543,
    "n_s": 0.96605,
    "logA": 3.0448,
}
T_MODEL = 2.7  # a model T_cmb other than FIRAS's 2.7255 K, so "muK2" and "FIRASmuK2" differ


class SpectraLike(Likelihood):
    """Test likelihood: requests ``spectra`` up to ``lmax``; logp = 0."""

    spectra: list = ["tt", "te", "ee", "pp"]
    lmax: int = LMAX

    def get_requirements(self):
        return {"Cl": dict.fromkeys(self.spectra, self.lmax)}

    def logp(self, **params_values):
        return 0.0


def model_for(params=None, theory_options=None, spectra=("tt", "te", "ee", "pp"), lmax=LMAX):
    """A Cobaya model: CosmoPower + SpectraLike, all parameters fixed by default."""
    like = type("Like", (SpectraLike,), {"spectra": list(spectra), "lmax": lmax})
    return get_model(
        {
            "theory": {THEORY: theory_options or {}},
            "likelihood": {"spectra": {"external": like}},
            "params": params if params is not None else dict(COBAYA_FIDUCIAL),
        }
    )


# --- the networks ---------------------------------------------------------------------------


@pytest.mark.slow
def test_networks_match_cosmopower_jax():
    """Our numpy forward pass = cosmopower-jax's own predict (float32 rounding), 3 points."""
    from cosmopower_jax.cosmopower_jax import CosmoPowerJAX

    points = [FIDUCIAL, {**FIDUCIAL, "h": 0.75, "n_s": 1.0}, {**FIDUCIAL, "tau_reio": 0.1}]
    emulator = CMBEmulator()
    batch = emulator({p: np.array([pt[p] for pt in points]) for p in INPUTS})
    for spectrum in ("tt", "te", "ee", "pp"):
        reference = CosmoPowerJAX(probe=f"cmb_{spectrum}", verbose=False)
        for i, point in enumerate(points):
            expected = np.asarray(reference.predict(np.array([point[p] for p in INPUTS])), float)
            ours = emulator(point)[spectrum]
            assert ours.shape == (LMAX + 1,) and np.all(ours[:2] == 0)
            scale = np.max(np.abs(expected))
            assert np.max(np.abs(ours[2:] - expected)) / scale < 2e-5, spectrum
            np.testing.assert_allclose(batch[spectrum][i], ours, rtol=2e-5, atol=2e-5 * scale)


def test_emulator_inputs_and_spectra_checked():
    with pytest.raises(ValueError, match="No CosmoPower CMB network for"):
        CMBEmulator(["bb"])
    with pytest.raises(ValueError, match="Missing emulator inputs"):
        CMBEmulator(["tt"])({"omega_b": 0.02})


def test_no_jax_imported_by_the_theory():
    """Importing and running the theory leaves JAX unimported (clipy's numpy path untouched)."""
    code = (
        "import sys\n"
        "from cobaya_plugins.emulator import CMBEmulator\n"
        "import cobaya_plugins.theories\n"
        f"CMBEmulator()({FIDUCIAL!r})\n"
        "print('jax' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "False"


# --- get_Cl -----------------------------------------------------------------------------------


@pytest.mark.parametrize("units", ["1", "muK2", "K2", "FIRASmuK2", "FIRASK2", 3.5])
@pytest.mark.parametrize("ell_factor", [False, True])
def test_get_cl_units(units, ell_factor):
    """Every units option and ell_factor against hand conversion of the networks' output."""
    model = model_for(theory_options={"T_cmb": T_MODEL})
    model.logposterior({})
    cls = model.theory[THEORY].get_Cl(ell_factor=ell_factor, units=units)
    raw = CMBEmulator()(FIDUCIAL)  # dimensionless C_ell (ΔT/T; φφ)
    per_field = {
        "1": 1.0,
        "muK2": T_MODEL * 1e6,
        "K2": T_MODEL,
        "FIRASmuK2": 2.7255e6,
        "FIRASK2": 2.7255,
        3.5: 3.5,
    }[units]
    ell = np.arange(LMAX + 1.0)
    assert np.array_equal(cls["ell"], ell)
    for spectrum in ("tt", "te", "ee"):
        dl = ell * (ell + 1) / (2 * np.pi) if ell_factor else 1
        expected = raw[spectrum] * per_field**2 * dl
        np.testing.assert_allclose(cls[spectrum], expected, rtol=1e-12, atol=0)
        assert np.all(cls[spectrum][:2] == 0)
    # Cobaya's classy: φφ takes no temperature factor, and [ell(ell+1)]²/2π with ell_factor
    expected_pp = raw["pp"] * ((ell * (ell + 1)) ** 2 / (2 * np.pi) if ell_factor else 1)
    np.testing.assert_allclose(cls["pp"], expected_pp, rtol=1e-12, atol=0)


def test_get_cl_new_arrays_and_unknown_units():
    model = model_for()
    model.logposterior({})
    theory = model.theory[THEORY]
    first = theory.get_Cl()
    first["tt"][:] = 0
    assert np.any(theory.get_Cl()["tt"] != 0)
    with pytest.raises(LoggedError, match="Unknown Cobaya units"):
        theory.get_Cl(units="mK2")


def test_serves_only_requested_spectra():
    model = model_for(spectra=("tt",), lmax=29)
    model.logposterior({})
    assert set(model.theory[THEORY].get_Cl()) == {"ell", "tt"}


def test_refuses_what_it_cannot_compute():
    with pytest.raises(LoggedError, match="does not provide; it provides tt, te, ee, pp"):
        model_for(spectra=("bb",))
    with pytest.raises(LoggedError, match="stop at ell = 2508"):
        model_for(spectra=("tt",), lmax=3000)


# --- parameters -------------------------------------------------------------------------------


def test_derived_parameters_from_h0_and_loga():
    params = {**COBAYA_FIDUCIAL, "h": None, "A_s": None, "As": None}
    model = model_for(params)
    derived = model.logposterior({}).derived
    values = dict(zip(model.parameterization.derived_params(), derived, strict=False))
    assert values["h"] == pytest.approx(0.6732, rel=1e-14)
    assert values["A_s"] == pytest.approx(math.exp(3.0448) * 1e-10, rel=1e-14)
    assert values["As"] == values["A_s"]


def test_derived_parameters_from_h_and_as():
    params = {
        **{k: v for k, v in COBAYA_FIDUCIAL.items() if k not in ("H0", "logA")},
        "h": 0.7,
        "A_s": 2.1e-9,
        "H0": None,
        "logA": None,
    }
    model = model_for(params)
    values = dict(
        zip(model.parameterization.derived_params(), model.logposterior({}).derived, strict=False)
    )
    assert values["H0"] == pytest.approx(70.0, rel=1e-14)
    assert values["logA"] == pytest.approx(math.log(21.0), rel=1e-14)
    # and the spectra are those of the equivalent emulator input
    expected = CMBEmulator(["tt"])({**FIDUCIAL, "h": 0.7, "ln10^{10}A_s": math.log(21.0)})["tt"]
    np.testing.assert_allclose(
        model.theory[THEORY].get_Cl(units="1")["tt"], expected, rtol=1e-12, atol=0
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"h": 0.7}, r"exactly one of \['h', 'H0'\].*found \['h', 'H0'\]. If one is computed"),
        ({"A_s": 2e-9}, r"\['logA', 'A_s', 'As'\].*found \['logA', 'A_s'\].*'drop: true'"),
        ({"n_s": None}, r"exactly one of \['n_s'\].*found none"),
    ],
)
def test_parameter_mistakes(change, message):
    params = {**COBAYA_FIDUCIAL, **change}
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(LoggedError, match=message):
        model_for(params)


@pytest.mark.parametrize(
    "right, typo",
    [("omega_cdm", "omega_cmd"), ("H0", "h0"), ("logA", "loga"), ("tau_reio", "tau_rieo")],
)
def test_misspelled_input_is_named_with_the_input_it_stands_for(right, typo):
    params = {**COBAYA_FIDUCIAL}
    params[typo] = params.pop(right)
    with pytest.raises(LoggedError, match=rf"'{typo}' \(did you mean '{right}'\?\) in 'params'"):
        model_for(params)


def test_claimed_misspelling_used_by_another_component_is_left_to_it(caplog):
    """omega_m is a one-letter change of omega_b: claimed by the theory (for the message above)
    but, omega_b being given, it goes on to the likelihood that uses it, with no warning."""

    def bao(omega_m):
        return -0.5 * ((omega_m - 0.14) / 0.01) ** 2

    info = {
        "theory": {THEORY: {}},
        "likelihood": {"spectra": {"external": SpectraLike}, "bao": bao},
        "params": {**COBAYA_FIDUCIAL, "omega_m": 0.15},
    }
    with caplog.at_level(logging.WARNING):
        model = get_model(info)
    assert model.loglikes({})[0][1] == pytest.approx(-0.5)  # bao got omega_m = 0.15
    assert "omega_m" not in caplog.text


def test_misspelled_duplicate_used_by_nothing_is_warned(caplog):
    with caplog.at_level(logging.WARNING):
        model_for({**COBAYA_FIDUCIAL, "omega_bb": 0.03})
    assert "'omega_bb' (did you mean 'omega_b'?) in 'params' is not an input" in caplog.text


# --- the training box -------------------------------------------------------------------------


def test_rejects_points_outside_the_box_and_counts(caplog):
    params = {**COBAYA_FIDUCIAL, "H0": {"prior": {"min": 50, "max": 120}}}
    model = model_for(params)
    theory = model.theory[THEORY]
    with caplog.at_level(logging.DEBUG):
        assert model.logposterior({"H0": 105.0}).logpost == -np.inf
        assert model.logposterior({"H0": 110.0}).logpost == -np.inf
        assert np.isfinite(model.logposterior({"H0": 70.0}).logpost)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "h = 1.05 not in [0.2, 1]" in warnings[0].getMessage()
    assert theory.n_rejected == 2


def test_box_option_shrinks_and_widens(caplog):
    params = {**COBAYA_FIDUCIAL, "H0": {"prior": {"min": 50, "max": 120}}}
    model = model_for(params, {"box": {"h": [0.6, 0.7]}})
    assert model.logposterior({"H0": 72.0}).logpost == -np.inf
    assert np.isfinite(model.logposterior({"H0": 68.0}).logpost)
    with caplog.at_level(logging.WARNING):
        model = model_for(params, {"box": {"h": [0.2, 1.1]}})
    assert "beyond the training range [0.2, 1]" in caplog.text
    assert np.isfinite(model.logposterior({"H0": 105.0}).logpost)


@pytest.mark.parametrize(
    "box, message",
    [
        ({"H0": [60, 70]}, "unknown parameter 'H0'"),
        ({"h": [0.7, 0.6]}, r"must be \[min, max\] with min < max"),
        ({"h": 0.7}, r"must be \[min, max\]"),
        ([0.6, 0.7], "must be a dict"),
    ],
)
def test_box_option_mistakes(box, message):
    with pytest.raises(LoggedError, match=message):
        model_for(theory_options={"box": box})


def test_stop_at_error_stops_outside_the_box():
    params = {**COBAYA_FIDUCIAL, "H0": {"prior": {"min": 50, "max": 120}}}
    model = model_for(params, {"stop_at_error": True})
    with pytest.raises(CosmoComputationError, match="outside its box"):
        model.logposterior({"H0": 105.0})


# --- the likelihoods with JAX around ------------------------------------------------------------

_LOGL_SCRIPT = """
import os, sys
from cobaya_plugins.clik import open_clik
from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.mock import default_nuisance
if sys.argv[1] == "jax":
    import jax
    jax.config.update("jax_enable_x64", True)
    import cosmopower_jax.cosmopower_jax  # noqa: F401
    from cobaya_plugins.theories import CosmoPower  # noqa: F401
    from cobaya_plugins.emulator import CMBEmulator
    CMBEmulator()({"omega_b": 0.0224, "omega_cdm": 0.12, "h": 0.67, "tau_reio": 0.054,
                   "n_s": 0.965, "ln10^{10}A_s": 3.04})
cls = load_fiducial()
for kind, path in zip(sys.argv[2::2], sys.argv[3::2]):
    print(kind, repr(open_clik(path).loglike(cls, default_nuisance(kind))))
"""


@pytest.mark.slow
def test_loglike_unchanged_with_jax_x64_and_the_theory_loaded(mock_paths):
    """logL of every CMB mock identical (bit for bit) in a process with JAX x64 and the theory."""
    from cobaya_plugins.mock import CMB_KINDS

    args = [str(x) for kind in CMB_KINDS for x in (kind, mock_paths[kind])]
    env = {k: v for k, v in os.environ.items() if k != "CLIPY_NOJAX"}  # the package sets it
    outputs = [
        subprocess.run(
            [sys.executable, "-c", _LOGL_SCRIPT, mode, *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env=env,
        ).stdout  # fmt: skip
        for mode in ("plain", "jax")
    ]
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == len(CMB_KINDS)


@pytest.mark.slow
def test_mock_cli_works_with_jax_installed(tmp_path):
    """The mock writer's self-check reads the file with clipy's numpy path even with JAX."""
    env = {k: v for k, v in os.environ.items() if k != "CLIPY_NOJAX"}
    subprocess.run(
        [sys.executable, "-m", "cobaya_plugins", "mock", "highl_TTTEEE", str(tmp_path)],
        check=True, cwd=REPO, env=env, capture_output=True,
    )  # fmt: skip
    assert (tmp_path / "highl_TTTEEE.clik").is_dir()


# --- against CLASS ----------------------------------------------------------------------------


@pytest.mark.slow
def test_emulator_matches_class_at_the_fiducial():
    """CLASS with the settings the docs recommend (massless neutrinos, linear lensing).

    Tolerances (docs/emulator.md): |ΔC_ell| <= 0.6 σ_cv(ell) for TT, TE, EE at every ell 2..2508
    (measured 0.41, 0.22, 0.45) and φφ within 3% for ell 2..2000 (measured 1.9%).
    """
    from classy import Class

    cosmo = Class()
    cosmo.set(
        {
            "output": "tCl,pCl,lCl",
            "lensing": "yes",
            "l_max_scalars": LMAX,
            "N_ur": 3.046,
            "N_ncdm": 0,
            **FIDUCIAL,
        }
    )
    cosmo.compute()
    cl = cosmo.lensed_cl(LMAX)
    cosmo.struct_cleanup()
    cosmo.empty()
    emu = CMBEmulator()(FIDUCIAL)
    ell = np.arange(2, LMAX + 1)
    sigma = {
        "tt": np.sqrt(2 / (2 * ell + 1)) * cl["tt"][2:],
        "ee": np.sqrt(2 / (2 * ell + 1)) * cl["ee"][2:],
        "te": np.sqrt((cl["tt"][2:] * cl["ee"][2:] + cl["te"][2:] ** 2) / (2 * ell + 1)),
    }
    for spectrum, sig in sigma.items():
        assert np.max(np.abs(emu[spectrum][2:] - cl[spectrum][2:]) / sig) < 0.6, spectrum
    ratio = emu["pp"][2:2001] / cl["pp"][2:2001]
    assert np.max(np.abs(ratio - 1)) < 0.03


# --- chains -----------------------------------------------------------------------------------


def test_short_chain(mock_paths, tmp_path):
    """A short cobaya-run MCMC of the six LCDM parameters on the mock lowl TT + plik_lite."""
    from cobaya.run import run

    info = short_chain_info(mock_paths, tmp_path / "chain", max_samples=60)
    _, sampler = run(info)
    samples = sampler.products()["sample"]
    assert len(samples) > 10
    assert np.all(np.isfinite(samples["chi2"]))
    # h is derived by the theory (A_s here is the chain's own lambda of logA: nothing to check)
    np.testing.assert_allclose(samples["h"], samples["H0"] / 100, rtol=1e-14)


def short_chain_info(mock_paths, output, max_samples):
    """Input of a short emulator chain near the truth (sampled: all six LCDM parameters)."""
    sampled = {
        "omega_b": (0.02238, 0.00015),
        "omega_cdm": (0.1201, 0.0012),
        "H0": (67.3, 0.5),
        "tau_reio": (0.054, 0.007),
        "n_s": (0.966, 0.004),
        "logA": (3.045, 0.014),
    }
    params = {
        name: {
            "prior": {"min": loc - 10 * scale, "max": loc + 10 * scale},
            "ref": {"dist": "norm", "loc": loc, "scale": scale / 4},
            "proposal": scale / 2,
        }
        for name, (loc, scale) in sampled.items()
    }
    params["logA"]["drop"] = True
    params["A_s"] = {"value": "lambda logA: 1e-10*np.exp(logA)"}
    params["h"] = None
    params["A_planck"] = 1.0
    return {
        "theory": {THEORY: None},
        "likelihood": {
            "cobaya_plugins.planck.LowlTT": {"clik_file": str(mock_paths["lowl_TT"])},
            "cobaya_plugins.planck.HighlTTTEEELite": {
                "clik_file": str(mock_paths["highl_TTTEEE_lite"])
            },
        },
        "params": params,
        "sampler": {"mcmc": {"max_samples": max_samples, "seed": 3, "learn_proposal": False}},
        "output": str(output),
        "force": True,
    }


# --- importance reweighting with CLASS (Cobaya's post) ------------------------------------------

#: CLASS settings of the reweighting test: the emulator's training physics (the fastest CLASS).
REWEIGHT_CLASS = {"N_ur": 3.046, "N_ncdm": 0, "non_linear": "none"}
LIKES = {
    "lowl_TT": "cobaya_plugins.planck.LowlTT",
    "highl_TTTEEE_lite": "cobaya_plugins.planck.HighlTTTEEELite",
}


def read_chain(path: Path) -> dict[str, np.ndarray]:
    """A Cobaya chain text file as {column name: values}."""
    names = path.read_text().splitlines()[0].lstrip("#").split()
    table = np.loadtxt(path, ndmin=2)
    return {name: table[:, i] for i, name in enumerate(names)}


def independent_loglikes(point: dict, mock_paths: dict) -> tuple[float, float]:
    """(logL with CLASS, logL with the emulator) summed over LIKES, computed without Cobaya."""
    from classy import Class

    from cobaya_plugins.clik import open_clik

    x = {
        "omega_b": point["omega_b"],
        "omega_cdm": point["omega_cdm"],
        "h": point["H0"] / 100,
        "tau_reio": point["tau_reio"],
        "n_s": point["n_s"],
        "ln10^{10}A_s": point["logA"],
    }
    emulated = CMBEmulator(["tt", "te", "ee"])(x)
    cosmo = Class()
    cosmo.set(
        {
            "output": "tCl,pCl,lCl",
            "lensing": "yes",
            "l_max_scalars": LMAX,
            **REWEIGHT_CLASS,
            "omega_b": point["omega_b"],
            "omega_cdm": point["omega_cdm"],
            "H0": point["H0"],
            "tau_reio": point["tau_reio"],
            "n_s": point["n_s"],
            "A_s": 1e-10 * math.exp(point["logA"]),
        }
    )
    cosmo.compute()
    computed = cosmo.lensed_cl(LMAX)
    cosmo.struct_cleanup()
    cosmo.empty()
    totals = []
    for cls in (computed, emulated):
        total = 0.0
        for kind in LIKES:
            lkl = open_clik(mock_paths[kind])
            total += lkl.loglike(cls, {"A_planck": point["A_planck"]}, units="dimensionless")
        totals.append(total)
    return totals[0], totals[1]


@pytest.mark.slow
def test_reweighting_with_class_weights_are_exp_delta_loglike(mock_paths, tmp_path):
    """An emulator chain post-processed by Cobaya with CLASS instead of the emulator: each point's
    weight changes by exp(logL_CLASS − logL_emulator) (up to one overall constant), checked with
    CLASS and the likelihoods called directly."""
    from cobaya.post import post
    from cobaya.run import run

    root = tmp_path / "chain"
    run(short_chain_info(mock_paths, root, max_samples=2))
    post(
        {
            "output": str(root),
            "post": {
                "suffix": "classy",
                # h is a derived parameter of the emulator chain, but a CLASS input: remove it,
                # or Cobaya passes both H0 and h to CLASS
                "remove": {"theory": [THEORY], "likelihood": list(LIKES.values()), "params": ["h"]},
                "add": {
                    "theory": {"classy": {"extra_args": dict(REWEIGHT_CLASS)}},
                    "likelihood": {
                        name: {"clik_file": str(mock_paths[kind])} for kind, name in LIKES.items()
                    },
                },
            },
        }
    )
    before = read_chain(tmp_path / "chain.1.txt")
    after = read_chain(tmp_path / "chain.post.classy.1.txt")
    assert len(after["weight"]) == len(before["weight"]) >= 2
    ratios = []
    for i in range(len(before["weight"])):
        point = {p: before[p][i] for p in ("omega_b", "omega_cdm", "H0", "tau_reio", "n_s")}
        point.update(logA=before["logA"][i], A_planck=1.0)
        assert after["H0"][i] == point["H0"]
        logl_class, logl_emulator = independent_loglikes(point, mock_paths)
        # CLASS ran at the chain's (8-digit) values, as here: the same logL to the file's digits
        assert after["chi2"][i] == pytest.approx(-2 * logl_class, abs=1e-4)
        # the emulator ran at the unrounded values: its float32 products differ by ~1e-3 in chi2
        assert before["chi2"][i] == pytest.approx(-2 * logl_emulator, abs=1e-2)
        # Cobaya reweights with the emulator logL it recorded in the chain
        weight_ratio = after["weight"][i] / before["weight"][i]
        ratios.append(weight_ratio / math.exp(logl_class + before["chi2"][i] / 2))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-4)
    # and the weights did change (the test is not trivially passing)
    assert np.ptp(after["chi2"] - before["chi2"]) > 0.1


# --- the YAML examples ------------------------------------------------------------------------

EXAMPLE_KINDS = {
    "cobaya_plugins.planck.LowlTT": "lowl_TT",
    "cobaya_plugins.planck.HighlTTTEEE": "highl_TTTEEE",
    "cobaya_plugins.planck.HighlTTTEEELite": "highl_TTTEEE_lite",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lcdm_emulator_mock_lite", "lcdm_emulator_mock"])
def test_yaml_examples_build_and_fit_the_truth(name, mock_paths):
    """Each emulator example builds; at the mock's true values its posterior is finite and the
    shipped covmat covers every sampled cosmological parameter and names nothing unsampled."""
    import yaml

    from cobaya_plugins.fiducial import fiducial_parameters

    example = yaml.safe_load((REPO / "yaml_examples" / f"{name}.yaml").read_text())
    for like, options in example["likelihood"].items():
        options["clik_file"] = str(mock_paths[EXAMPLE_KINDS[like]])
    model = get_model({k: example[k] for k in ("theory", "likelihood", "params")})
    truth = fiducial_parameters()
    point = {p: truth.get(p) for p in model.parameterization.sampled_params()}
    nuisance = {p for p, v in point.items() if v is None}
    defaults = model.prior.reference()  # nuisance: their reference values
    point.update({p: v for p, v in zip(model.parameterization.sampled_params(), defaults,
                                       strict=True) if p in nuisance})  # fmt: skip
    assert np.isfinite(model.logposterior(point).logpost)
    covmat = REPO / example["sampler"]["mcmc"]["covmat"]
    names = covmat.read_text().splitlines()[0].lstrip("#").split()
    sampled = set(model.parameterization.sampled_params())
    assert sampled - nuisance <= set(names) <= sampled
    matrix = np.loadtxt(covmat)
    assert matrix.shape == (len(names), len(names)) and np.all(np.linalg.eigvalsh(matrix) > 0)


# --- anchoring on CLASS -------------------------------------------------------------------------


def test_anchor_correction_by_hand():
    """AnchorCorrection: exact at the anchor; elsewhere the formulas of cobaya_plugins.anchor."""
    from cobaya_plugins.anchor import AnchorCorrection

    ell = np.arange(6.0)
    emu0 = {
        "tt": np.r_[0, 0, 2.0, 3, 4, 5],
        "ee": np.r_[0, 0, 1.0, 1, 2, 2],
        "te": np.r_[0, 0, -0.5, 0.2, 1, -1],
        "pp": np.r_[0, 0, 9.0, 8, 7, 6],
    }
    ref0 = {
        "tt": emu0["tt"] * 1.1,
        "ee": emu0["ee"] * 0.9,
        "te": emu0["te"] + 0.3,
        "pp": emu0["pp"] * 1.02,
    }
    correction = AnchorCorrection.measure(emu0, ref0)
    at_anchor = correction.apply(emu0)
    for s in ref0:
        np.testing.assert_allclose(at_anchor[s][2:], ref0[s][2:], rtol=1e-14)
    emu1 = {s: v * (1 + 0.1 * ell) for s, v in emu0.items()}
    out = correction.apply(emu1)
    np.testing.assert_allclose(out["tt"], emu1["tt"] * 1.1, rtol=1e-14)
    np.testing.assert_allclose(out["ee"], emu1["ee"] * 0.9, rtol=1e-14)
    np.testing.assert_allclose(out["pp"], emu1["pp"] * 1.02, rtol=1e-14)
    # TE: the shift 0.3 at the anchor, scaled as sqrt(TT EE), i.e. by (1 + 0.1 ell) here (by hand)
    expected_te = emu1["te"] + np.r_[0, 0, 0.3 * (1 + 0.1 * ell[2:])]
    np.testing.assert_allclose(out["te"], expected_te, rtol=1e-14)
    assert out["tt"][0] == 0 and out["te"][1] == 0


@pytest.mark.parametrize(
    "options, message",
    [
        ({"anchor": "planck"}, "'anchor' must be a dict of CLASS settings"),
        ({"anchor": {}, "anchor_point": {"omega_b": 0.0224}}, "'anchor_point' needs exactly one"),
    ],
)
def test_anchor_option_mistakes(options, message):
    with pytest.raises(LoggedError, match=message):
        model_for(theory_options=options)


@pytest.mark.slow
def test_anchored_emulator_reproduces_class(mock_paths):
    """Anchored on CLASS (Planck baseline physics): CLASS's spectra at the anchor, and a Δχ²
    on the mock plik_lite near CLASS's away from it, where the plain emulator is far off."""
    from classy import Class

    from cobaya_plugins.clik import open_clik

    baseline = {"N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.06, "non_linear": "hmcode"}

    def direct_class(point):
        cosmo = Class()
        cosmo.set(
            {
                "output": "tCl,pCl,lCl",
                "lensing": "yes",
                "l_max_scalars": LMAX,
                "T_cmb": 2.7255,
                **baseline,
                **point,
            }
        )
        cosmo.compute()
        cls = {s: np.array(v) for s, v in cosmo.lensed_cl(LMAX).items()}
        cosmo.struct_cleanup()
        cosmo.empty()
        return cls

    lite = open_clik(mock_paths["highl_TTTEEE_lite"])

    def chi2(cls):
        return -2 * lite.loglike(
            {s: cls[s] for s in ("tt", "te", "ee")}, {"A_planck": 1.0}, units="dimensionless"
        )

    sampled = {p: {"prior": {"min": v * 0.5, "max": v * 1.5}} for p, v in COBAYA_FIDUCIAL.items()}
    anchored = model_for(sampled, {"anchor": baseline}, spectra=("tt", "te", "ee"))
    plain = model_for(sampled, spectra=("tt", "te", "ee"))
    at_anchor = direct_class(FIDUCIAL)
    anchored.logposterior(COBAYA_FIDUCIAL)
    got = anchored.theory[THEORY].get_Cl(units="1")
    # (the theory's point is H0/100 = 0.6731999999999999: the float32 networks do not notice)
    for s in ("tt", "ee"):
        np.testing.assert_allclose(got[s][2:], at_anchor[s][2:], rtol=1e-5)
    te_scale = np.sqrt(at_anchor["tt"][2:] * at_anchor["ee"][2:])
    assert np.max(np.abs(got["te"][2:] - at_anchor["te"][2:]) / te_scale) < 1e-5
    # half a Planck sigma away in every parameter
    shift = {
        "omega_b": 0.00008,
        "omega_cdm": -0.0006,
        "h": 0.0027,
        "tau_reio": 0.0036,
        "n_s": 0.002,
        "ln10^{10}A_s": 0.007,
    }
    point = {p: FIDUCIAL[p] + shift[p] for p in FIDUCIAL}
    cobaya_point = {
        "omega_b": point["omega_b"],
        "omega_cdm": point["omega_cdm"],
        "H0": 100 * point["h"],
        "tau_reio": point["tau_reio"],
        "n_s": point["n_s"],
        "logA": point["ln10^{10}A_s"],
    }
    reference = chi2(direct_class(point))
    results = {}
    for name, model in (("anchored", anchored), ("plain", plain)):
        model.logposterior(cobaya_point)
        results[name] = chi2(model.theory[THEORY].get_Cl(units="1")) - reference
    assert abs(results["anchored"]) < 2.0, results
    assert abs(results["plain"]) > 8.0, results
