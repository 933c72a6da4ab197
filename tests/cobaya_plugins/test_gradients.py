"""gradients.LogPosterior: equal to Cobaya's model.logpost, gradients against finite differences
of Cobaya's own numpy posterior or against hand arithmetic, and the errors for a component that
has no JAX form."""

from pathlib import Path

import numpy as np
import pytest
from cobaya.log import LoggedError
from cobaya.model import get_model

from cobaya_plugins.gradients import LogPosterior

# A correlated Gaussian likelihood (external lambda), a uniform, a normal and a truncated prior,
# an input parameter defined by a lambda, and an external prior: every piece of the contract.
MEAN = np.array([0.2, -0.1, 1.0])
COV = np.array([[0.04, 0.018, 0.0], [0.018, 0.01, 0.002], [0.0, 0.002, 0.09]])


def gaussian_info() -> dict:
    return {
        "likelihood": {
            "gauss": {
                "external": "lambda a, b, c2: stats.multivariate_normal.logpdf("
                "np.array([a, b, c2]), mean=np.array([0.2, -0.1, 1.0]), "
                "cov=np.array([[0.04, 0.018, 0.0], [0.018, 0.01, 0.002], [0.0, 0.002, 0.09]]))"
            }
        },
        "params": {
            "a": {"prior": {"min": -2, "max": 2}, "ref": 0.1},
            "b": {"prior": {"dist": "norm", "loc": 0.0, "scale": 0.5}, "ref": 0.0},
            "c": {"prior": {"min": 0.1, "max": 3}, "ref": 1.0, "drop": True},
            "c2": {"value": "lambda c: np.sqrt(c) ** 2"},
        },
        "prior": {"ab": "lambda a, b: stats.norm.logpdf(a - b, loc=0.3, scale=2.0)"},
    }


def hand_logpost(x: np.ndarray) -> float:
    """The same posterior by hand: Gaussian logL + log(1/4) + N(0, 0.5) + log(1/2.9) + N(0.3, 2)."""
    a, b, c = x
    r = np.array([a, b, c]) - MEAN
    loglike = -0.5 * r @ np.linalg.solve(COV, r) - 0.5 * np.log(np.linalg.det(2 * np.pi * COV))
    normal = lambda v, m, s: -0.5 * ((v - m) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi))  # noqa: E731
    return loglike - np.log(4) + normal(b, 0, 0.5) - np.log(2.9) + normal(a - b, 0.3, 2.0)


def hand_gradient(x: np.ndarray) -> np.ndarray:
    a, b, c = x
    r = np.array([a, b, c]) - MEAN
    grad = -np.linalg.solve(COV, r)
    grad[1] += -b / 0.5**2
    grad[0] += -(a - b - 0.3) / 2.0**2
    grad[1] += (a - b - 0.3) / 2.0**2
    return grad


@pytest.fixture(scope="module")
def gaussian():
    model = get_model(gaussian_info())
    return model, LogPosterior(model)


def test_analytic_value_and_gradient(gaussian):
    model, posterior = gaussian
    assert posterior.sampled_names == ["a", "b", "c"]
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = np.array([rng.uniform(-1, 1), rng.normal(0, 0.3), rng.uniform(0.2, 2.5)])
        value, grad = posterior.value_and_grad(x)
        assert value == pytest.approx(model.logpost(x), abs=1e-10)
        assert value == pytest.approx(hand_logpost(x), abs=1e-10)
        np.testing.assert_allclose(grad, hand_gradient(x), rtol=1e-8, atol=1e-10)


def test_outside_prior_is_minus_infinity(gaussian):
    model, posterior = gaussian
    x = np.array([2.5, 0.0, 1.0])  # a outside [-2, 2]
    assert model.logpost(x) == -np.inf
    assert posterior.value(x) == -np.inf


def test_parts_match_cobaya(gaussian):
    model, posterior = gaussian
    xs = np.array([[0.1, 0.0, 1.0], [0.3, -0.2, 0.5]])
    points = posterior.cobaya_points(xs)
    for x, point in zip(xs, points, strict=True):
        cobaya = model.logposterior(x)
        np.testing.assert_allclose(point.logpriors, cobaya.logpriors, atol=1e-10)
        np.testing.assert_allclose(point.loglikes, cobaya.loglikes, atol=1e-10)
        np.testing.assert_allclose(point.derived, cobaya.derived, atol=1e-10)


def test_ignore_prior_gives_the_likelihood(gaussian):
    model, _ = gaussian
    likelihood = LogPosterior(model, ignore_prior=True)
    x = np.array([0.1, 0.05, 1.2])
    assert likelihood.value(x) == pytest.approx(float(model.loglike(x, return_derived=False)))


def test_wrong_point_size(gaussian):
    _, posterior = gaussian
    with pytest.raises(ValueError, match="3 values"):
        posterior.value([0.1, 0.2])


def info_with(change: dict) -> dict:
    info = gaussian_info()
    for key, value in change.items():
        info[key] = {**info.get(key, {}), **value}
    return info


def test_prior_without_jax_form_is_named():
    info = info_with({"params": {"b": {"prior": {"dist": "halfnorm", "scale": 1}, "ref": 0.1}}})
    with pytest.raises(LoggedError, match=r"prior of 'b' is scipy's 'halfnorm'"):
        LogPosterior(get_model(info))


def test_numpy_only_likelihood_is_named(tmp_path, monkeypatch):
    module = tmp_path / "numpy_only_like.py"
    module.write_text(
        "import numpy\n"
        "def loglike(a, b, c2):\n"
        "    return float(-numpy.sum(numpy.square([a, b, c2])))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import numpy_only_like

    info = gaussian_info()
    info["likelihood"] = {"plain": {"external": numpy_only_like.loglike}}
    posterior = LogPosterior(get_model(info))
    with pytest.raises(LoggedError, match="likelihood 'plain' cannot be evaluated with JAX"):
        posterior.value([0.1, 0.0, 1.0])


def callable_info(mock_paths, **theory_options) -> dict:
    """Low-l TT + plik_lite mocks with CallableCls (the template model) as the theory."""
    return {
        "theory": {
            "cobaya_plugins.theories.CallableCls": {
                "function": "cobaya_plugins.models.template:scaled_jax",
                "units": "muK2",
                "ell_factor": False,
                "params": {"sigma_T": {"derived": True}},
                **theory_options,
            }
        },
        "likelihood": {
            "cobaya_plugins.planck.LowlTT": {"clik_file": str(mock_paths["lowl_TT"])},
            "cobaya_plugins.planck.HighlTTTEEELite": {
                "clik_file": str(mock_paths["highl_TTTEEE_lite"])
            },
        },
        "params": {
            "amplitude": {"prior": {"min": 0.8, "max": 1.2}, "ref": 1.0, "proposal": 0.005},
            "tilt": {"prior": {"min": -0.2, "max": 0.2}, "ref": 0.0, "proposal": 0.005},
            "A_planck": {"prior": {"dist": "norm", "loc": 1, "scale": 0.0025}, "ref": 1.0},
        },
    }


@pytest.mark.slow
def test_callable_jax_model_against_cobaya(mock_paths):
    """CallableCls with jax: true, at three points: value = Cobaya's numpy logpost (|Δ| ≤ 1e-9;
    measured ≤ 3e-13 for logL ~ -300 to -470), gradient = its central finite differences with
    h = 1e-5 (relative 1e-6; measured ≤ 4e-8, the differences' own truncation error), derived
    parameter as Cobaya computes it."""
    model = get_model(callable_info(mock_paths, jax=True))
    posterior = LogPosterior(model)
    points = [[1.004, 0.003, 0.999], [0.99, -0.01, 1.002], [1.01, 0.008, 0.997]]
    for x in map(np.array, points):
        value, grad = posterior.value_and_grad(x)
        assert value == pytest.approx(model.logpost(x), abs=1e-9)
        for i in range(len(x)):
            up, down = x.copy(), x.copy()
            up[i] += 1e-5
            down[i] -= 1e-5
            finite = (model.logpost(up) - model.logpost(down)) / 2e-5
            assert grad[i] == pytest.approx(finite, rel=1e-6), (x, i)
        point = posterior.cobaya_points(x[None])[0]
        np.testing.assert_allclose(point.derived, model.logposterior(x).derived, rtol=1e-10)


def test_callable_without_jax_option_says_how(mock_paths):
    with pytest.raises(LoggedError, match=r"set `jax: true` in the theory's YAML block"):
        LogPosterior(get_model(callable_info(mock_paths)))


@pytest.mark.slow
def test_likelihood_backend_without_gradients_is_named(mock_paths):
    info = callable_info(mock_paths, jax=True)
    info["likelihood"]["cobaya_plugins.planck.HighlTTTEEELite"]["backend"] = "clipy"
    with pytest.raises(LoggedError, match=r"`backend: clipy` has no gradients.*`backend: jax`"):
        LogPosterior(get_model(info))


def test_theory_without_jax_form_is_named(mock_paths):
    info = callable_info(mock_paths)
    info["theory"] = {"fixed_theory.FixedCls": None}
    info["params"] = {"amp": 1.0, "A_planck": 1.0, "x": {"prior": {"min": 0, "max": 1}}}
    info["likelihood"]["flat"] = "lambda x: 0.0"
    with pytest.raises(LoggedError, match=r"'fixed_theory.FixedCls'.*has no JAX form"):
        LogPosterior(get_model(info))


# --- the shipped emulator examples: Cobaya's numpy path is the reference --------------------

EXAMPLE_FILES = {
    "cobaya_plugins.planck.LowlTT": "lowl_TT",
    "cobaya_plugins.planck.HighlTTTEEE": "highl_TTTEEE",
    "cobaya_plugins.planck.HighlTTTEEELite": "highl_TTTEEE_lite",
}


def example_model(name: str, mock_paths, **theory_options):
    import yaml

    examples = Path(__file__).parents[2] / "yaml_examples"
    info = yaml.safe_load((examples / f"{name}.yaml").read_text())
    for like, options in info["likelihood"].items():
        options["clik_file"] = str(mock_paths[EXAMPLE_FILES[like]])
    info["theory"]["cobaya_plugins.theories.CosmoPower"].update(theory_options)
    return get_model({k: info[k] for k in ("theory", "likelihood", "params")})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lcdm_emulator_mock_lite", "lcdm_emulator_mock"])
def test_examples_value_and_gradient_against_cobaya(name, mock_paths):
    """The demo and full-plik examples with the networks in float64 on both paths, at three
    points drawn from the reference distribution (inside the emulator's box): value = Cobaya's
    model.logpost (|Δ| ≤ 1e-8; measured ≤ 6e-12 on lite, ≤ 6e-11 on full plik, where logL is
    -1.6e3 to -1.3e4), every gradient component = central finite differences of Cobaya's own
    numpy posterior with steps of 1e-3 reference widths (relative 1e-5, or 1e-5 per reference
    width; measured ≤ 2e-7 relative, ≤ 1.5e-6 per width: the differences' truncation error)."""
    model = example_model(name, mock_paths, precision="float64")
    posterior = LogPosterior(model)
    rng = np.random.default_rng(7)
    width = np.sqrt(model.prior.reference_variances())
    for x in [model.prior.reference(random_state=rng) for _ in range(3)]:
        value, grad = posterior.value_and_grad(x)
        assert value == pytest.approx(model.logpost(x), abs=1e-8)
        for i, name_i in enumerate(posterior.sampled_names):
            h = 1e-3 * width[i]
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            finite = (model.logpost(up) - model.logpost(down)) / (2 * h)
            assert grad[i] == pytest.approx(finite, rel=1e-5, abs=1e-5 / width[i]), name_i


@pytest.mark.slow
def test_demo_value_with_float32_networks_against_cobaya(mock_paths):
    """The demo example with the networks as shipped (float32, the default): Cobaya's numpy path
    runs them in float32, the JAX path always in float64, so the values agree only to
    |Δ| ≤ 1e-2 (measured ≤ 2.3e-3 on lite, ≤ 1.5e-3 on full plik, at five reference draws)."""
    model = example_model("lcdm_emulator_mock_lite", mock_paths)
    assert model.theory["cobaya_plugins.theories.CosmoPower"].precision == "float32"
    posterior = LogPosterior(model)
    rng = np.random.default_rng(7)
    for x in [model.prior.reference(random_state=rng) for _ in range(3)]:
        assert posterior.value(x) == pytest.approx(model.logpost(x), abs=1e-2)


@pytest.mark.slow
def test_point_outside_the_emulator_box_is_rejected_not_a_crash(mock_paths):
    """A point outside the `box` has zero density on both paths, with no exception."""
    model = example_model("lcdm_emulator_mock_lite", mock_paths, box={"h": [0.6, 0.72]})
    posterior = LogPosterior(model)
    x = model.prior.reference(random_state=np.random.default_rng(1))
    x[posterior.sampled_names.index("H0")] = 75.0  # h = 0.75: outside the box
    assert model.logpost(x) == -np.inf
    value, _ = posterior.value_and_grad(x)
    assert value == -np.inf
