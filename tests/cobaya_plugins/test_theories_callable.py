"""CallableCls: a user's Python function as a Cobaya theory (units, parameters, errors, runs)."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from cobaya.likelihood import Likelihood
from cobaya.log import LoggedError
from cobaya.model import get_model

from cobaya_plugins.clik import open_clik
from cobaya_plugins.mock import default_nuisance
from cobaya_plugins.models import template
from cobaya_plugins.theories import CallableCls, CosmoComputationError

REPO = Path(__file__).parents[2]
THEORY = "cobaya_plugins.theories.CallableCls"
LMAX = 300
T_MODEL = 2.7  # a model T_cmb other than FIRAS's 2.7255 K, so "muK2" and "FIRASmuK2" differ
PLANCK = {
    "lowl_TT": "cobaya_plugins.planck.LowlTT",
    "highl_TTTEEE": "cobaya_plugins.planck.HighlTTTEEE",
    "highl_TTTEEE_lite": "cobaya_plugins.planck.HighlTTTEEELite",
}


class SpectraLike(Likelihood):
    """Test likelihood: requests ``spectra`` up to ``lmax``; logp = -Σ C_ell (FIRAS µK²)·1e-3."""

    spectra: list = ["tt", "te", "ee"]
    lmax: int = LMAX

    def get_requirements(self):
        return {"Cl": dict.fromkeys(self.spectra, self.lmax)}

    def logp(self, **params_values):
        cls = self.provider.get_Cl(units="FIRASmuK2")
        return -1e-3 * sum(np.sum(cls[s][2 : self.lmax + 1]) for s in self.spectra)


def true_cl(amplitude=1.0):
    """The test spectrum: C_ell in µK² (at the model's temperature), ell = 0..2600."""
    out = template.scaled(amplitude)
    del out["derived"]
    return out


def in_units(cls, units, ell_factor, T_cmb):
    """Hand conversion of C_ell µK² into ``units`` (C_ell or D_ell), independent of units.py."""
    ell = np.arange(len(cls["tt"]))
    factor = {"muK2": 1.0, "K2": 1e-12, "dimensionless": 1 / (T_cmb * 1e6) ** 2}[units]
    dl = ell * (ell + 1) / (2 * np.pi) if ell_factor else 1.0
    return {k: v * factor * dl for k, v in cls.items()}


def function_returning(units, ell_factor, T_cmb=2.7255):
    def model(amplitude):
        return in_units(true_cl(amplitude), units, ell_factor, T_cmb)

    return model


def callable_model(function, params=None, likelihood=None, **options):
    info = {
        "theory": {THEORY: {"function": function, "units": "muK2", **options}},
        "likelihood": likelihood or {"spectra": {"external": SpectraLike}},
        "params": {"amplitude": {"prior": {"min": 0.5, "max": 1.5}}} if params is None else params,
    }
    return get_model(info)


def theory_of(model) -> CallableCls:
    return model.theory[THEORY]


INPUTS = [(u, e) for u in ("muK2", "K2", "dimensionless") for e in (False, True)]


@pytest.mark.parametrize(("units", "ell_factor"), INPUTS)
def test_get_Cl_all_units_and_ell_factor_against_hand_conversion(units, ell_factor):
    function = function_returning(units, ell_factor, T_cmb=T_MODEL)
    model = callable_model(function, units=units, ell_factor=ell_factor, T_cmb=T_MODEL)
    assert np.isfinite(model.logposterior({"amplitude": 1.1}).logpost)
    theory = theory_of(model)
    truth = true_cl(1.1)  # µK² at T_MODEL
    ell = np.arange(2601)
    firas2 = (2.7255 / T_MODEL) ** 2
    expected_factor = {
        "muK2": 1.0,
        "K2": 1e-12,
        "FIRASmuK2": firas2,
        "FIRASK2": firas2 * 1e-12,
        "1": 1 / (T_MODEL * 1e6) ** 2,
        3.5: 3.5**2 / (T_MODEL * 1e6) ** 2,
    }
    for out_units, factor in expected_factor.items():
        for out_ell_factor in (False, True):
            cls = theory.get_Cl(ell_factor=out_ell_factor, units=out_units)
            np.testing.assert_array_equal(cls["ell"], ell)
            dl = ell * (ell + 1) / (2 * np.pi) if out_ell_factor else 1.0
            for spectrum in ("tt", "ee", "bb", "te"):
                expected = truth[spectrum] * factor * dl
                np.testing.assert_allclose(cls[spectrum][2:], expected[2:], rtol=1e-13, atol=0)
                # D_ell input carries nothing at ell = 0, 1; the fiducial C_ell is 0 there too
                np.testing.assert_array_equal(cls[spectrum][:2], 0.0)


def test_get_Cl_returns_new_arrays_and_rejects_unknown_units():
    model = callable_model(function_returning("muK2", False))
    model.logposterior({"amplitude": 1.0})
    theory = theory_of(model)
    theory.get_Cl()["tt"][:] = -1.0
    assert theory.get_Cl()["tt"][100] > 0
    with pytest.raises(LoggedError, match="Unknown Cobaya units 'microK2'.*FIRASmuK2"):
        theory.get_Cl(units="microK2")


@pytest.mark.parametrize("kind", list(PLANCK))
def test_same_logl_for_muK2_cl_K2_dl_and_dimensionless_through_each_mock(kind, mock_paths):
    nuisance = default_nuisance(kind)
    likelihood = {PLANCK[kind]: {"clik_file": str(mock_paths[kind])}}
    logls = {}
    for units, ell_factor in (("muK2", False), ("K2", True), ("dimensionless", False)):
        model = callable_model(
            function_returning(units, ell_factor),
            likelihood=likelihood,
            units=units,
            ell_factor=ell_factor,
        )
        point = {p: nuisance[p] for p in model.parameterization.sampled_params() if p in nuisance}
        logls[units] = model.loglikes({"amplitude": 1.02, **point}, as_dict=True)[0][PLANCK[kind]]
    direct = open_clik(mock_paths[kind]).loglike(true_cl(1.02), nuisance)
    assert np.isfinite(direct)
    for units, logl in logls.items():
        assert logl == pytest.approx(direct, rel=1e-10, abs=0), units


def test_parameters_from_theory_params_block_input_params_list_and_fixed_values():
    def model(amplitude, tilt):
        return template.scaled(amplitude, tilt)

    under_theory = get_model(
        {
            "theory": {
                THEORY: {
                    "function": model,
                    "units": "muK2",
                    "params": {"amplitude": {"prior": {"min": 0.5, "max": 1.5}}, "tilt": 0.05},
                }
            },
            "likelihood": {"spectra": {"external": SpectraLike}},
        }
    )
    listed = get_model(
        {
            "theory": {
                THEORY: {"function": model, "units": "muK2", "input_params": ["amplitude", "tilt"]}
            },
            "likelihood": {"spectra": {"external": SpectraLike}},
            "params": {"amplitude": {"prior": {"min": 0.5, "max": 1.5}}, "tilt": 0.05},
        }
    )
    expected = template.scaled(1.2, 0.05)["tt"] * 1.0
    for model_ in (under_theory, listed):
        assert sorted(theory_of(model_).input_params) == ["amplitude", "tilt"]
        model_.logposterior({"amplitude": 1.2})
        np.testing.assert_allclose(theory_of(model_).get_Cl(units="muK2")["tt"], expected)


def test_optional_arguments_keep_their_defaults():
    model = callable_model("cobaya_plugins.models.template.scaled")  # tilt, ell_pivot unset
    assert theory_of(model).input_params == ["amplitude"]
    model.logposterior({"amplitude": 0.9})
    cls = theory_of(model).get_Cl(units="muK2")
    np.testing.assert_allclose(cls["te"], 0.9 * true_cl()["te"], rtol=1e-14)


def test_derived_parameters_returned_by_the_function():
    info_theory = {
        "function": "cobaya_plugins.models.template:scaled",
        "units": "muK2",
        "params": {"sigma_T": {"derived": True, "latex": r"\sigma_T"}},
    }
    model = get_model(
        {
            "theory": {THEORY: info_theory},
            "likelihood": {"spectra": {"external": SpectraLike}},
            "params": {"amplitude": {"prior": {"min": 0.5, "max": 1.5}}},
        }
    )
    result = model.logposterior({"amplitude": 1.21})
    sigma_T = dict(zip(model.parameterization.derived_params(), result.derived, strict=True))
    assert sigma_T["sigma_T"] == pytest.approx(1.1 * template.scaled()["derived"]["sigma_T"])


def test_declared_derived_parameter_not_returned_is_an_error():
    model = callable_model(
        function_returning("muK2", False),
        params={"amplitude": 1.0, "sigma8": {"derived": True}},
        output_params=["sigma8"],
    )
    with pytest.raises(
        LoggedError, match=r"did not return the derived parameter\(s\) \['sigma8'\]"
    ):
        model.logposterior({})


def test_function_from_a_python_file(tmp_path):
    (tmp_path / "my_model.py").write_text(
        "from cobaya_plugins.models.template import scaled\n\n"
        "def spectra(amplitude):\n    return scaled(amplitude)\n"
    )
    model = callable_model(f"{tmp_path / 'my_model.py'}:spectra")
    model.logposterior({"amplitude": 1.3})
    cls = theory_of(model).get_Cl(units="muK2")
    np.testing.assert_allclose(cls["tt"], 1.3 * true_cl()["tt"], rtol=1e-14)


def test_ell_array_starting_at_2():
    def model(amplitude):
        cls = {k: v[2:] for k, v in true_cl(amplitude).items()}
        return {"ell": np.arange(2, 2601), **cls}

    fitted = callable_model(model)
    fitted.logposterior({"amplitude": 1.0})
    np.testing.assert_allclose(theory_of(fitted).get_Cl(units="muK2")["ee"], true_cl()["ee"])


# --- errors -------------------------------------------------------------------------------------


def test_unknown_module_says_how_to_make_it_importable():
    with pytest.raises(LoggedError, match="Cannot import module 'no_such_models'.*PYTHONPATH"):
        callable_model("no_such_models:spectra")


def test_unknown_function_lists_the_functions_of_the_module():
    with pytest.raises(
        LoggedError, match="has no function 'scaledd'.*Functions defined there: scaled"
    ):
        callable_model("cobaya_plugins.models.template:scaledd")


def test_missing_file_names_the_full_path(tmp_path):
    with pytest.raises(LoggedError, match=f"Cannot find the file '{tmp_path}/nope.py'"):
        callable_model(f"{tmp_path}/nope.py:spectra")


def test_options_are_checked():
    with pytest.raises(LoggedError, match="set 'units'.*muK2, K2, dimensionless"):
        callable_model(function_returning("muK2", False), units=None)
    with pytest.raises(LoggedError, match="'ell_factor' must be true .* or false"):
        callable_model(function_returning("muK2", False), ell_factor="yes")
    with pytest.raises(LoggedError, match="'T_cmb' must be a temperature in K"):
        callable_model(function_returning("muK2", False), T_cmb=-1.0)
    with pytest.raises(LoggedError, match="'lmax' must be an integer >= 2"):
        callable_model(function_returning("muK2", False), lmax=2508.5)
    assert (
        theory_of(callable_model(function_returning("muK2", False), lmax=np.int64(400))).lmax == 400
    )


def test_missing_parameter_is_named():
    def model(amplitude, tilt):
        return template.scaled(amplitude, tilt)

    with pytest.raises(LoggedError, match=r"needs the parameter\(s\) \['tilt'\], which are not"):
        callable_model(model)


def test_parameter_the_function_does_not_take_is_named():
    with pytest.raises(LoggedError, match=r"\['n_s'\] are assigned to the function"):
        get_model(
            {
                "theory": {
                    THEORY: {
                        "function": function_returning("muK2", False),
                        "units": "muK2",
                        "params": {"amplitude": 1.0, "n_s": 0.96},
                    }
                },
                "likelihood": {"spectra": {"external": SpectraLike}},
            }
        )


def test_too_short_output_says_spectrum_and_both_lmax():
    def model(amplitude):
        return {k: v[:201] for k, v in true_cl(amplitude).items()}

    fitted = callable_model(model)
    with pytest.raises(
        LoggedError, match=r"'tt' up to ell = 200, but a likelihood needs it up to ell = 300"
    ):
        fitted.logposterior({"amplitude": 1.0})


def test_lmax_option_below_the_request_fails_at_start():
    with pytest.raises(LoggedError, match=r"needs 'tt' up to ell = 300.*only up to ell = 250"):
        callable_model(function_returning("muK2", False), lmax=250)


def test_missing_requested_spectrum_and_unknown_keys():
    def no_ee(amplitude):
        return {"tt": true_cl(amplitude)["tt"], "te": true_cl(amplitude)["te"]}

    with pytest.raises(LoggedError, match=r"returned no \['ee'\], which the likelihoods need"):
        callable_model(no_ee).logposterior({"amplitude": 1.0})

    def upper_case(amplitude):
        return {k.upper(): v for k, v in true_cl(amplitude).items()}

    with pytest.raises(LoggedError, match=r"unknown key\(s\) \['TT', 'EE', 'BB', 'TE'\]"):
        callable_model(upper_case).logposterior({"amplitude": 1.0})


def test_bad_shapes_and_ell_arrays():
    def two_d(amplitude):
        return {k: np.vstack([v, v]) for k, v in true_cl(amplitude).items()}

    with pytest.raises(LoggedError, match=r"'tt' with shape \(2, 2601\); expected a 1-d array"):
        callable_model(two_d).logposterior({"amplitude": 1.0})

    def late_start(amplitude):
        return {"ell": np.arange(10, 2601), **{k: v[10:] for k, v in true_cl(amplitude).items()}}

    with pytest.raises(LoggedError, match="not consecutive integers starting at 0, 1 or 2"):
        callable_model(late_start).logposterior({"amplitude": 1.0})


def test_nan_output_rejects_the_point_and_sampling_goes_on():
    def model(amplitude):
        cls = true_cl(amplitude)
        if amplitude > 1.2:
            cls["ee"][1500] = np.nan
        return cls

    fitted = callable_model(model)
    assert fitted.logposterior({"amplitude": 1.3}).logpost == -np.inf
    assert np.isfinite(fitted.logposterior({"amplitude": 1.1}).logpost)
    strict = callable_model(model, stop_at_error=True)
    with pytest.raises(CosmoComputationError, match=r"'ee' is not finite \(first at ell = 1500\)"):
        strict.logposterior({"amplitude": 1.3})


def test_d_ell_entries_at_ell_0_and_1_are_not_used():
    def model(amplitude):
        dl = in_units(true_cl(amplitude), "muK2", True, 2.7255)
        dl["tt"][:2] = np.nan  # e.g. from dividing by ell(ell+1) somewhere
        return dl

    fitted = callable_model(model, ell_factor=True)
    assert np.isfinite(fitted.logposterior({"amplitude": 1.0}).logpost)
    np.testing.assert_array_equal(theory_of(fitted).get_Cl()["tt"][:2], 0.0)


def test_exception_in_the_function_rejects_the_point(caplog):
    def model(amplitude):
        if amplitude > 1.2:
            raise ValueError("no solution for this amplitude")
        return true_cl(amplitude)

    fitted = callable_model(model)
    assert fitted.logposterior({"amplitude": 1.3}).logpost == -np.inf
    assert "no solution for this amplitude" in caplog.text and "rejected" in caplog.text
    assert np.isfinite(fitted.logposterior({"amplitude": 1.0}).logpost)


def test_request_it_cannot_provide():
    class LensingLike(SpectraLike):
        spectra = ["pp"]

    with pytest.raises(LoggedError, match="requested the spectrum 'pp'.*tt, ee, bb, te, tb, eb"):
        callable_model(
            function_returning("muK2", False), likelihood={"lens": {"external": LensingLike}}
        )


# --- the YAML example through cobaya-run ------------------------------------------------------


@pytest.mark.slow
def test_cobaya_run_of_the_callable_example(mock_paths, tmp_path, cobaya_run):
    example = yaml.safe_load((REPO / "yaml_examples" / "callable_template_mock.yaml").read_text())
    for name, options in example["likelihood"].items():
        kind = next(k for k, cls in PLANCK.items() if cls == name)
        options["clik_file"] = str(mock_paths[kind])
    example["output"] = str(tmp_path / "chains" / "callable")
    example["sampler"]["mcmc"].update({"max_samples": 200, "Rminus1_stop": 0.001})
    cobaya_run(example)
    lines = (tmp_path / "chains" / "callable.1.txt").read_text().splitlines()
    header = lines[0].split()[1:]
    rows = np.loadtxt(lines[1:], ndmin=2)
    assert {"amplitude", "tilt", "sigma_T", "A_planck"} <= set(header)
    assert len(rows) >= 20
    amplitude = rows[:, header.index("amplitude")]
    assert np.ptp(amplitude) > 0
    # sigma_T is computed by the function from the sampled parameters, row by row
    tilt = rows[:, header.index("tilt")]
    sigma_T = [template.scaled(a, t)["derived"]["sigma_T"] for a, t in np.c_[amplitude, tilt]]
    np.testing.assert_allclose(rows[:, header.index("sigma_T")], sigma_T, rtol=1e-6)
