"""The gradient tools through OnlineEmulator's JAX form, checked against the exact code: BestFit
and profile minimize again until the two agree at each maximum, HMC redoes a chunk whose draws
the emulator could not serve within its tolerance (the exact model here: the analytic spectra of
``analytic_cls`` through CallableCls; its posterior peaks at the known truth)."""

import logging
import re

import jax.numpy as jnp
import numpy as np
import pytest
from cobaya.log import LoggedError
from cobaya.model import get_model
from cobaya.run import run
from test_online_emulator import NAMES, SIGMA, TRUTH, SpectraLike, draws, exact_block, online_info

ONLINE = "cobaya_plugins.theories.OnlineEmulator"
BESTFIT = "cobaya_plugins.samplers.BestFit"


class SpectraLikeJax(SpectraLike):
    """SpectraLike with its JAX form (the products' spectra are C_ell in FIRAS µK²)."""

    def jax_logp(self):
        ell = np.arange(1001)
        factor = jnp.asarray((ell * (ell + 1) / (2 * np.pi))[30:])
        fid = {s: jnp.asarray(v[30:1001]) for s, v in self._fid.items()}

        def logp(products, params):
            cls = products["Cl"]
            return -0.5 * sum(
                jnp.sum(((cls[s][30:1001] * factor - f) / 30.0) ** 2) for s, f in fid.items()
            )

        return logp


def info_with(tmp_path, **options):
    info = online_info(tmp_path, likelihood={"spectra": {"external": SpectraLikeJax}}, **options)
    for name, x in zip(NAMES, TRUTH, strict=True):  # starts near the truth
        info["params"][name]["ref"] = {"dist": "norm", "loc": float(x), "scale": 0.0}
    return info


@pytest.mark.slow
def test_bestfit_through_the_emulator_is_checked_against_the_exact_code(tmp_path, caplog):
    info = info_with(tmp_path)
    model = get_model(info)
    for x in draws(12, 30.0, seed=2):  # a coarse training set: the first best fit is off
        model.logposterior(x)
    model.close()
    caplog.set_level(logging.INFO)
    _, sampler = run({**info, "sampler": {BESTFIT: {"starts": 1, "seed": 1}}})
    text = caplog.text
    chi2 = [
        (float(a), float(b)) for a, b in re.findall(r"round \d: .* (\S+) \(JAX\) and (\S+) ", text)
    ]
    assert len(chi2) >= 2  # the first best fit was off by more than 0.1, and found again
    assert abs(chi2[0][0] - chi2[0][1]) > 0.1 and abs(chi2[-1][0] - chi2[-1][1]) <= 0.1
    assert "agrees with the exact code" in text
    minimum = sampler.products()["minimum"]
    x = np.array([minimum[p] for p in NAMES])
    assert np.all(np.abs(x - TRUTH) < 0.1 * SIGMA)  # the exact posterior's maximum
    plain = get_model({**info, "theory": exact_block()})
    exact = plain.logposterior(x)
    assert minimum["minuslogpost"] == pytest.approx(-exact.logpost, abs=1e-8)


def test_bestfit_exact_options_are_checked(tmp_path):
    info = info_with(tmp_path)
    with pytest.raises(LoggedError, match=r"`exact_tolerance: -1` is not valid"):
        run({**info, "sampler": {BESTFIT: {"exact_tolerance": -1}}})
    with pytest.raises(LoggedError, match=r"`exact_rounds: 0` is not valid"):
        run({**info, "sampler": {BESTFIT: {"exact_rounds": 0}}})


@pytest.mark.slow
def test_profile_through_the_emulator_is_the_exact_codes_profile(tmp_path):
    """Each profile point is checked against the exact code (found again where they differ by
    more than 0.1 in χ²): its χ² is the exact model's there, and no lower χ² at that value of
    the parameter is found by Nelder-Mead on the exact model from the same point."""
    from scipy.optimize import minimize

    from cobaya_plugins.profile import profile

    info = info_with(tmp_path)
    model = get_model(info)
    for x in draws(12, 30.0, seed=2):
        model.logposterior(x)
    model.close()
    lines: list[str] = []
    values = TRUTH[0] + np.array([-2.0, 0.0, 2.0]) * SIGMA[0]
    result = profile(info, "amp", values, progress=lines.append)
    assert any("round(s))" in line for line in lines) and not any(
        "WARNING" in line for line in lines
    )
    plain = get_model({**info, "theory": exact_block()})
    for k, v in enumerate(values):
        x = result.points[k]
        assert result.chi2[k] == pytest.approx(-2 * plain.logposterior(x).logpost, abs=1e-8)

        def chi2(y, v=v):
            return -2 * plain.logposterior([v, *y]).logpost

        better = minimize(chi2, x[1:], method="Nelder-Mead",
                          options={"xatol": 1e-9, "fatol": 1e-6})  # fmt: skip
        assert result.chi2[k] <= better.fun + 0.1


def exact_logpost(x: np.ndarray) -> np.ndarray:
    """SpectraLike's log-likelihood of the analytic model at points x (n, 3), written out with
    the model's function directly (flat priors: the log-posterior up to a constant)."""
    import analytic_cls

    ell = slice(30, 1001)
    fid = {s: v[ell] for s, v in analytic_cls.spectra().items() if s != "derived"}
    out = []
    for point in x:
        spectra = analytic_cls.spectra(*point)
        out.append(-0.5 * sum(np.sum(((spectra[s][ell] - f) / 30.0) ** 2) for s, f in fid.items()))
    return np.array(out)


@pytest.mark.slow
def test_hmc_through_the_emulator_checks_every_chunk_and_samples_the_exact_posterior(
    tmp_path, caplog
):
    """From a coarse training set (11 points far out), HMC's chunks whose draws the emulator
    cannot serve within its tolerance are redone after it learned them; the chain's means and
    widths are the exact posterior's, from importance sampling of the exact model written out
    here (a Gaussian proposal twice as wide as the chain)."""
    info = info_with(tmp_path)
    model = get_model(info)
    for x in draws(12, 30.0, seed=2):
        model.logposterior(x)
    model.close()
    caplog.set_level(logging.INFO)
    options = {"seed": 3, "warmup": 200, "min_ess": 400, "Rminus1_stop": 0.02}
    run({**info, "sampler": {"cobaya_plugins.samplers.HMC": options},
         "output": str(tmp_path / "chains" / "hmc")})  # fmt: skip
    assert "Chunk redone with the refreshed emulator" in caplog.text
    chain = np.loadtxt(tmp_path / "chains" / "hmc.1.txt")
    for i in (2, 3, 4):
        chain = np.vstack([chain, np.loadtxt(tmp_path / "chains" / f"hmc.{i}.txt")])
    x = chain[:, 2:5]  # weight, minuslogpost, amp, tilt, stretch
    mean, cov = x.mean(axis=0), np.cov(x, rowvar=False)
    rng = np.random.default_rng(0)
    proposal = rng.multivariate_normal(mean, 4 * cov, size=20000)
    log_q = -0.5 * np.einsum(
        "ni,ij,nj->n", proposal - mean, np.linalg.inv(4 * cov), proposal - mean
    )
    log_w = exact_logpost(proposal) - log_q
    w = np.exp(log_w - log_w.max())
    assert w.sum() ** 2 / np.sum(w**2) > 2000  # the importance sampling is reliable
    exact_mean = np.average(proposal, axis=0, weights=w)
    exact_sigma = np.sqrt(np.average((proposal - exact_mean) ** 2, axis=0, weights=w))
    sigma = x.std(axis=0)
    assert np.all(np.abs(mean - exact_mean) < 0.15 * exact_sigma)
    assert np.all(np.abs(sigma / exact_sigma - 1) < 0.1)


@pytest.mark.slow
def test_hmc_keeps_a_chunk_redone_too_often_and_says_so(tmp_path, caplog, monkeypatch):
    """With at most one try per chunk, the first chunk that needs exact calls is kept with a
    warning (no endless loop), and the run ends with its chains written."""
    import importlib

    module = importlib.import_module("cobaya_plugins.samplers.HMC")  # (the package exports the
    monkeypatch.setattr(module, "MAX_REDONE", 1)  # class under the module's name)
    info = info_with(tmp_path)
    model = get_model(info)
    for x in draws(12, 30.0, seed=2):
        model.logposterior(x)
    model.close()
    options = {"seed": 3, "warmup": 100, "min_ess": 100, "Rminus1_stop": 0.1, "max_draws": 300}
    run({**info, "sampler": {"cobaya_plugins.samplers.HMC": options},
         "output": str(tmp_path / "chains" / "hmc")})  # fmt: skip
    assert "redone 1 times and its draws still needed exact calls" in caplog.text
    assert "Chunk redone with the refreshed emulator" in caplog.text
    assert len(np.atleast_2d(np.loadtxt(tmp_path / "chains" / "hmc.1.txt"))) >= 25
