"""ModifiedClassy: Cobaya's classy with extra inputs, extra derived parameters and a postprocess.

Tests marked slow run CLASS (a few seconds per point); the others only build the model.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml
from cobaya.likelihood import Likelihood
from cobaya.log import LoggedError
from cobaya.model import get_model

from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.models import birefringence
from cobaya_plugins.theories import CosmoComputationError, ModifiedClassy

REPO = Path(__file__).parents[2]
THEORY = "cobaya_plugins.theories.ModifiedClassy"
LMAX = 300
COSMOLOGY = {
    "A_s": 2.1e-9,
    "n_s": 0.965,
    "H0": 67.5,
    "omega_b": 0.0224,
    "omega_cdm": 0.12,
    "tau_reio": 0.054,
}
PLANCK = {
    "cobaya_plugins.planck.LowlTT": "lowl_TT",
    "cobaya_plugins.planck.HighlTTTEEE": "highl_TTTEEE",
}


class PolarizationLike(Likelihood):
    """Test likelihood: TT TE EE BB up to LMAX; logp = -Σ D_ell^TT·1e-6 (µK², FIRAS)."""

    def get_requirements(self):
        return {"Cl": dict.fromkeys(("tt", "te", "ee", "bb"), LMAX)}

    def logp(self, **params_values):
        return -1e-6 * np.sum(self.provider.get_Cl(ell_factor=True)["tt"][2 : LMAX + 1])


def rotate_below_20_degrees(cls, beta_deg):
    """birefringence.rotate that fails for beta_deg > 20 (to test rejected points)."""
    if beta_deg > 20:
        raise ValueError("this test model has no solution above 20 degrees")
    return birefringence.rotate(cls, beta_deg)


def modified_classy_model(theory_options, params):
    options = {"extra_args": {"non_linear": "none"}, **theory_options}
    return get_model(
        {
            "theory": {THEORY: options},
            "likelihood": {"pol": {"external": PolarizationLike}},
            "params": params,
        }
    )


def theory_of(model) -> ModifiedClassy:
    return model.theory[THEORY]


@pytest.mark.slow
def test_postprocess_and_extra_derived_through_get_model():
    model = modified_classy_model(
        {"postprocess": rotate_below_20_degrees, "extra_derived": ["Omega_r", "theta_star_100"]},
        {
            **COSMOLOGY,
            "beta_deg": {"prior": {"min": -45, "max": 45}},
            "Omega_r": None,
            "theta_star_100": None,
        },
    )
    theory = theory_of(model)
    assert "beta_deg" in theory.input_params
    derived_names = list(model.parameterization.derived_params())
    assert derived_names == ["Omega_r", "theta_star_100"]

    result = model.logposterior({"beta_deg": 0.0})
    assert np.isfinite(result.logpost)
    derived = dict(zip(derived_names, result.derived, strict=True))
    # read from the CLASS object of this point (Omega_r: a method CLASS's derived list lacks)
    assert derived["Omega_r"] == theory.classy.Omega_r()
    assert derived["theta_star_100"] == theory.classy.theta_star_100()
    assert 8e-5 < derived["Omega_r"] < 1e-4 and 1.03 < derived["theta_star_100"] < 1.06
    assert "beta_deg" not in theory.classy.pars  # postprocess parameters never reach CLASS
    cls0 = theory.get_Cl(units="muK2")
    np.testing.assert_array_equal(cls0["tb"], 0.0)

    assert np.isfinite(model.logposterior({"beta_deg": 3.0}).logpost)
    cls3 = theory.get_Cl(units="muK2")
    b = np.radians(3.0)
    np.testing.assert_allclose(cls3["tt"], cls0["tt"], rtol=1e-12)
    np.testing.assert_allclose(cls3["te"], cls0["te"] * np.cos(2 * b), rtol=1e-12)
    np.testing.assert_allclose(cls3["tb"], cls0["te"] * np.sin(2 * b), rtol=1e-12)
    np.testing.assert_allclose(
        cls3["ee"], cls0["ee"] * np.cos(2 * b) ** 2 + cls0["bb"] * np.sin(2 * b) ** 2, rtol=1e-12
    )
    np.testing.assert_allclose(cls3["eb"], 0.5 * (cls0["ee"] - cls0["bb"]) * np.sin(4 * b))
    # TB/EB get the units of a CMB spectrum (two temperature factors) like the others
    np.testing.assert_allclose(theory.get_Cl(units="K2")["eb"], 1e-12 * cls3["eb"], rtol=1e-14)

    # A failing postprocess rejects the point; the next point is computed normally
    assert model.logposterior({"beta_deg": 30.0}).logpost == -np.inf
    assert np.isfinite(model.logposterior({"beta_deg": 3.0}).logpost)
    again = theory.get_Cl(units="muK2")  # the spectra of 3°, not stale ones of 0° or 30°
    np.testing.assert_allclose(again["tb"], cls0["te"] * np.sin(2 * b), rtol=1e-12)
    np.testing.assert_allclose(again["eb"], 0.5 * (cls0["ee"] - cls0["bb"]) * np.sin(4 * b))

    # An extra derived name the CLASS object does not have: the error lists what it has
    theory._extra_derived["nonsense"] = "no_such_quantity"
    with pytest.raises(LoggedError, match="'no_such_quantity' from CLASS.*Methods of this CLASS"):
        theory._read_extra_derived("nonsense")


def test_extra_input_params_reach_classy_when_the_theory_has_its_own_params():
    params = {**COSMOLOGY, "N_ur": 2.0328, "beta_deg": 1.0}
    own = {"A_s": params.pop("A_s")}
    model = modified_classy_model(
        {
            "postprocess": "cobaya_plugins.models.birefringence:rotate",
            "extra_input_params": ["N_ur", "n_s", "omega_b", "omega_cdm", "tau_reio"],
            "params": own,
        },
        {**params, "H0": 67.5},
    )
    assert set(theory_of(model).input_params) >= {"A_s", "N_ur", "beta_deg", "tau_reio"}
    with pytest.raises(LoggedError, match="N_ur"):
        modified_classy_model(
            {"postprocess": "cobaya_plugins.models.birefringence:rotate", "params": own}, params
        )


def test_missing_postprocess_parameter_is_named():
    with pytest.raises(LoggedError, match=r"needs the parameter\(s\) \['beta_deg'\]"):
        modified_classy_model(
            {"postprocess": "cobaya_plugins.models.birefringence.rotate"}, dict(COSMOLOGY)
        )


def faulty_postprocess(cls, fault):
    """A postprocess that returns what ``fault`` says (0: fine, 1: drops 'ee', 2: short, 3: NaN)."""
    out = birefringence.rotate(cls, 1.0)
    if fault == 1:
        del out["ee"]
    elif fault == 2:
        out["tb"] = out["tb"][:-1]
    elif fault == 3:
        out["eb"][100] = np.nan
    return out


def test_postprocess_output_is_checked():
    # The checks on made-up CLASS-like spectra: no CLASS run needed.
    model = modified_classy_model({"postprocess": faulty_postprocess}, {**COSMOLOGY, "fault": 0})
    theory = theory_of(model)
    ell = np.arange(LMAX + 1)
    cls = {k: v[: LMAX + 1] * 1e-12 for k, v in load_fiducial().items()} | {"ell": ell}
    out = theory._apply_postprocess(cls, {"fault": 0})
    np.testing.assert_array_equal(out["ell"], ell)
    np.testing.assert_allclose(out["tb"], cls["te"] * np.sin(np.radians(2)))
    with pytest.raises(LoggedError, match=r"must return a dict with \(at least\) the keys"):
        theory._apply_postprocess(cls, {"fault": 1})
    with pytest.raises(LoggedError, match=r"'tb' with shape \(300,\); it must keep CLASS's"):
        theory._apply_postprocess(cls, {"fault": 2})
    with pytest.raises(CosmoComputationError, match="fault=3: 'eb' is not finite"):
        theory._apply_postprocess(cls, {"fault": 3})


def test_option_errors():
    with pytest.raises(LoggedError, match="'postprocess'.*has no function 'rotat'.*rotate"):
        modified_classy_model(
            {"postprocess": "cobaya_plugins.models.birefringence:rotat"}, dict(COSMOLOGY)
        )
    with pytest.raises(LoggedError, match=r"\['beta_deg'\] are both 'extra_input_params'"):
        modified_classy_model(
            {
                "postprocess": "cobaya_plugins.models.birefringence:rotate",
                "extra_input_params": ["beta_deg"],
            },
            dict(COSMOLOGY),
        )
    with pytest.raises(LoggedError, match="'extra_derived' must be a list of parameter names"):
        modified_classy_model({"extra_derived": 3}, dict(COSMOLOGY))


@pytest.mark.slow
def test_cobaya_run_of_the_birefringence_example_writes_the_extra_derived(
    mock_paths, tmp_path, cobaya_run
):
    example = yaml.safe_load(
        (REPO / "yaml_examples" / "modified_classy_birefringence.yaml").read_text()
    )
    for name, options in example["likelihood"].items():
        options["clik_file"] = str(mock_paths[PLANCK[name]])
    example["sampler"] = {"evaluate": {"override": {"beta_deg": 2.0}}}
    example["output"] = str(tmp_path / "chains" / "biref")
    cobaya_run(example)
    lines = (tmp_path / "chains" / "biref.1.txt").read_text().splitlines()
    header = lines[0].split()[1:]
    row = dict(zip(header, np.loadtxt(lines[1:], ndmin=2)[0], strict=True))
    assert row["beta_deg"] == 2.0 and np.isfinite(row["minuslogpost"])
    # the chain's Omega_r is CLASS's at the same cosmology (background only: fast)
    import classy

    direct = classy.Class()
    direct.set(
        {
            **example["theory"][THEORY]["extra_args"],
            **{p: row[p] for p in ("A_s", "n_s", "H0", "omega_b", "omega_cdm")},
            "tau_reio": example["params"]["tau_reio"],
        }
    )
    direct.compute()
    assert row["Omega_r"] == pytest.approx(direct.Omega_r(), rel=1e-6)
    assert row["theta_star_100"] == pytest.approx(direct.theta_star_100(), rel=1e-6)


@pytest.mark.slow
def test_extra_input_params_are_passed_to_class():
    """N_ur declared as an extra input reaches the CLASS object with its value."""
    params = {**COSMOLOGY, "N_ur": 2.0328, "beta_deg": 1.0}
    model = modified_classy_model(
        {
            "postprocess": "cobaya_plugins.models.birefringence:rotate",
            "extra_input_params": ["N_ur"],
        },
        params,
    )
    assert np.isfinite(model.logposterior({}).logpost)
    classy = theory_of(model).classy
    assert float(classy.pars["N_ur"]) == 2.0328
    assert classy.Neff() == pytest.approx(2.0328, rel=1e-3)  # no massive neutrino here
