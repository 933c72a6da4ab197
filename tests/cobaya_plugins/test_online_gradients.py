"""The gradient tools through OnlineEmulator's JAX form: BestFit checks its best fit against the
exact code and minimizes again until the two agree (the exact model here: the analytic spectra
of ``analytic_cls`` through CallableCls; its posterior peaks at the known truth)."""

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
