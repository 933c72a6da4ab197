"""Why L-BFGS-B stopped, in words, and whether a best fit is trusted: the projected gradient at
the end (checked by hand on functions whose gradient is known) and the starts that agree."""

import logging

import numpy as np
import pytest
from cobaya.run import run

from cobaya_plugins.samplers.optimize import (
    LINE_SEARCH_STOP,
    TRUSTED_GRADIENT,
    Maximum,
    maximize,
)

START = np.array([1.3, -0.7])


def gaussian(x):
    return -0.5 * float(x @ x), -x


def test_converged_gaussian_is_trusted():
    found = maximize(gaussian, START, np.ones(2))
    assert found.stop() == "converged: the projected gradient fell below gtol"
    assert found.gradient < 1e-8 and found.trusted
    assert found.explain().endswith("per width: a maximum")


def test_evaluation_limit_is_said_and_not_trusted():
    """Rosenbrock's banana after 5 evaluations: far from (1, 1); the projected gradient is the
    gradient itself (no bound), written out by hand, times the widths (here 1)."""

    def rosenbrock(x):
        a, b = x
        value = -((1 - a) ** 2 + 100 * (b - a**2) ** 2)
        grad = -np.array([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)])
        return value, grad

    found = maximize(rosenbrock, np.array([-1.2, 1.0]), np.ones(2), max_evaluations=5)
    assert found.status == 1
    assert found.stop() in ("stopped at the evaluation limit", "stopped at the iteration limit")
    assert found.gradient == pytest.approx(np.max(np.abs(rosenbrock(found.x)[1])), rel=1e-12)
    assert found.gradient > TRUSTED_GRADIENT and not found.trusted
    assert "NOT a stationary point" in found.explain()


def test_gradient_pushing_against_a_bound_does_not_count():
    """a + b within a <= 1, b <= 2: the maximum is the corner, where the gradient (1, 1) points
    out of the box: its projection is 0."""
    found = maximize(lambda x: (float(x.sum()), np.ones(2)), START, np.array([0.5, 2.0]),
                     bounds=np.array([[-5.0, 1.0], [-5.0, 2.0]]))  # fmt: skip
    np.testing.assert_allclose(found.x, [1.0, 2.0])
    assert found.gradient == 0 and found.trusted


def test_a_kink_is_not_a_stationary_point():
    """-|a| - |b|: the value stops at 0 but the gradient there is ±1 per unit (0 exactly at 0)
    times the widths 3 and 1."""
    widths = np.array([3.0, 1.0])
    found = maximize(lambda x: (-float(np.abs(x).sum()), -np.sign(x)), START, widths)
    assert abs(found.value) < 1e-10
    by_hand = np.max(np.abs(np.sign(found.x)) * widths)
    assert by_hand >= 1 and found.gradient == by_hand and not found.trusted


def test_abnormal_line_search_stop_in_words():
    """scipy 1.15+ ends a failed line search with status 2 and the message "ABNORMAL: " (what
    BestFit used to print): said in words, with the verdict from the gradient."""
    value_rounded = maximize(
        lambda x: (float(np.float32(600 - 0.5 * x @ np.diag([1, 1e2, 1e4]) @ x)) - 600,
                   -np.diag([1, 1e2, 1e4]) @ x),
        np.array([1.3, -0.07, 0.01]), np.ones(3),
    )  # fmt: skip
    assert (value_rounded.status, value_rounded.message) == (2, "ABNORMAL: ")
    assert value_rounded.stop() == LINE_SEARCH_STOP
    made = Maximum(np.zeros(1), -1.0, 10, False, "ABNORMAL: ", status=2, gradient=1e-5)
    assert made.explain() == (
        "stopped: the line search found no higher point; largest projected gradient 1.0e-05 per "
        "width: a maximum"
    )


def target(starts: int, seed: int = 3) -> dict:
    """Two separated Gaussian peaks in a (at ±1, σ = 0.1; the one at +1 higher by 2 in log)."""
    return {
        "likelihood": {
            "two": "lambda a, b: np.log(np.exp(-0.5 * ((a - 1) / 0.1) ** 2 + 2) "
            "+ np.exp(-0.5 * ((a + 1) / 0.1) ** 2)) - 0.5 * (b / 0.1) ** 2"
        },
        "params": {
            "a": {"prior": {"min": -2, "max": 2}, "ref": {"dist": "norm", "loc": 0, "scale": 1},
                  "proposal": 0.1},
            "b": {"prior": {"min": -1, "max": 1}, "ref": 0.05, "proposal": 0.1},
        },
        "sampler": {"cobaya_plugins.samplers.BestFit": {"starts": starts, "seed": seed}},
    }  # fmt: skip


def bestfit_log(info: dict, caplog) -> tuple[str, dict]:
    with caplog.at_level(logging.INFO):
        _, sampler = run(info)
    return caplog.text, sampler.products()


@pytest.mark.slow
def test_bestfit_says_why_it_trusts_the_best_fit(caplog):
    text, products = bestfit_log(target(starts=6), caplog)
    values = sorted(2 * np.array(list(products["full_set_of_mins"].values())))
    agree = sum(v - values[0] <= 0.01 for v in values) - 1  # the other starts at the best
    assert 0 < agree < 5, values  # some starts in each peak (seed 3)
    assert "ABNORMAL" not in text
    assert text.count("per width: a maximum") == 6
    assert (
        "The best fit is trusted: its largest projected gradient is" in text
        and f"and {agree} other start(s) of 5 reach the same -2 log(posterior) within 0.01" in text
    )
    assert products["minimum"]["a"] == pytest.approx(1.0, abs=1e-4)


def test_bestfit_from_one_start_says_so(caplog):
    text, _ = bestfit_log(target(starts=1), caplog)
    assert "The best fit is a maximum (its largest projected gradient is" in text
    assert "but from one start only: another maximum may be higher. More `starts` tell." in text
