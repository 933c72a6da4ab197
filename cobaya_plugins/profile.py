r"""Profile likelihoods: the best fit of every other parameter at fixed values of one.

``python -m cobaya_plugins profile YAML --param H0 --values 64:70:13`` builds the YAML's model
once, compiles its JAX log-posterior (:mod:`cobaya_plugins.gradients`) once, finds the global best
fit (L-BFGS-B from the ``ref`` point), then, for each value of the parameter — nearest to the
best fit first, outwards on both sides — maximises over all the other sampled parameters,
starting from the solution at the neighbouring value (a warm start: a few dozen gradient calls
per point instead of a few hundred).

χ² here is −2 log(posterior) (the nuisance parameters' Gaussian priors, e.g. the calibrations and
the SZ prior, belong to the Planck likelihood, and a uniform prior adds a constant), or −2
log(likelihood) with ``--ignore-prior``; Δχ² is measured from the smallest χ² found (the global
fit or a profile point). The 1σ (2σ) interval is where Δχ² < 1 (4), from linear interpolation
between the points.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cobaya_plugins.samplers.optimize import maximize

#: Δχ² of the 1σ and 2σ levels of one parameter.
LEVELS = {"1σ": 1.0, "2σ": 4.0}


@dataclass
class Profile:
    """A profile: ``param``, its ``values`` (n,), ``chi2`` (n,), the other parameters at each
    value (``points``: (n, d) in ``names`` order), the global best fit (``best_x``,
    ``best_chi2``), ``evaluations`` per point and the wall ``seconds`` of the minimisations."""

    param: str
    names: list[str]
    values: np.ndarray
    chi2: np.ndarray
    points: np.ndarray
    best_x: np.ndarray
    best_chi2: float
    evaluations: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def chi2_min(self) -> float:
        """The smallest χ² found (global fit or profile point)."""
        return float(min(self.best_chi2, np.min(self.chi2)))

    @property
    def delta_chi2(self) -> np.ndarray:
        """χ² − :attr:`chi2_min` at each value (n,)."""
        return self.chi2 - self.chi2_min

    def interval(self, level: float) -> tuple[float, float] | None:
        """Where Δχ² < ``level``, by linear interpolation: (low, high), with ±inf when the
        profile does not cross the level on that side; None when no point is below it."""
        order = np.argsort(self.values)
        v, dc = self.values[order], self.delta_chi2[order]
        below = np.nonzero(dc < level)[0]
        if below.size == 0:
            return None

        def crossing(i: int, j: int) -> float:
            return float(v[i] + (level - dc[i]) * (v[j] - v[i]) / (dc[j] - dc[i]))

        first, last = below[0], below[-1]
        low = crossing(first - 1, first) if first > 0 else -math.inf
        high = crossing(last, last + 1) if last < len(v) - 1 else math.inf
        return low, high

    def table(self) -> str:
        """The profile as text: value, Δχ², χ², and the other parameters."""
        others = [n for n in self.names if n != self.param]
        index = [self.names.index(n) for n in others]
        header = f"{self.param:>12s} {'Δχ²':>9s} {'χ²':>11s} " + " ".join(
            f"{n:>12s}" for n in others
        )
        order = np.argsort(self.values)
        rows = [
            f"{self.values[k]:12.6g} {self.delta_chi2[k]:9.3f} {self.chi2[k]:11.3f} "
            + " ".join(f"{self.points[k, i]:12.6g}" for i in index)
            for k in order
        ]
        return "\n".join([header, *rows])


def parse_values(text: str) -> np.ndarray:
    """``"64:70:13"`` (start:stop:number, both ends included) or ``"64,65.5,67"`` -> values."""
    try:
        if ":" in text:
            start, stop, number = text.split(":")
            if int(number) < 1:
                raise ValueError
            return np.linspace(float(start), float(stop), int(number))
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise ValueError(
            f"--values {text!r}: give start:stop:number (e.g. 64:70:13) or a list (64,65,66)"
        ) from None


def expected_widths(model: Any) -> np.ndarray:
    """Each sampled parameter's expected width: its ``proposal``, else its ``ref``'s σ, else
    its prior's σ (what the first steps of L-BFGS are scaled by)."""
    infos = model.parameterization.sampled_params_info()
    reference = np.sqrt(model.prior.reference_variances())
    widths = []
    for k, info in enumerate(infos.values()):
        proposal = info.get("proposal")
        if proposal:
            widths.append(float(proposal))
        elif np.isfinite(reference[k]) and reference[k] > 0:
            widths.append(float(reference[k]))
        else:
            widths.append(float(model.prior.pdf[k].std()))
    return np.array(widths)


def profile(
    info: Mapping[str, Any],
    param: str,
    values: Sequence[float],
    ignore_prior: bool = False,
    seed: int | None = 0,
    log: Any = None,
) -> Profile:
    """The profile of ``param`` over ``values`` for the Cobaya input ``info`` (a dict, as from
    a YAML file; its ``sampler`` and ``output`` are ignored). Raises ``ValueError`` for a
    parameter that is not sampled or values outside its prior."""
    from cobaya.model import get_model

    from cobaya_plugins.gradients import LogPosterior

    info = {k: v for k, v in info.items() if k not in ("sampler", "output")}
    model = get_model(info)
    posterior = LogPosterior(model, ignore_prior=ignore_prior)
    names = posterior.sampled_names
    if param not in names:
        raise ValueError(
            f"--param {param}: not a sampled parameter of this model; sampled: {names}"
        )
    i = names.index(param)
    bounds = posterior.bounds
    values = np.asarray(values, dtype=float)
    outside = [v for v in values if not bounds[i, 0] <= v <= bounds[i, 1]]
    if outside:
        raise ValueError(
            f"--values {outside} are outside the prior of {param}, [{bounds[i, 0]:g}, "
            f"{bounds[i, 1]:g}]."
        )
    widths = expected_widths(model)
    x_ref = model.prior.reference(random_state=np.random.default_rng(seed))
    posterior.value_and_grad(x_ref)  # compile (announced)
    start = time.perf_counter()
    best = maximize(posterior.value_and_grad, x_ref, widths, bounds)
    others = np.array([k for k in range(len(names)) if k != i])

    def conditional(v: float):
        def value_and_grad(y: np.ndarray) -> tuple[float, np.ndarray]:
            x = np.insert(y, i, v)
            value, grad = posterior.value_and_grad(x)
            return value, grad[others]

        return value_and_grad

    order = np.argsort(np.abs(values - best.x[i]))
    solutions: dict[int, np.ndarray] = {}
    chi2 = np.full(len(values), np.nan)
    evaluations = [0] * len(values)
    for k in order:
        done = list(solutions)
        if done:  # warm start from the nearest value already done
            nearest = min(done, key=lambda j: abs(values[j] - values[k]))
            y0 = solutions[nearest][others]
        else:
            y0 = best.x[others]
        found = maximize(conditional(values[k]), y0, widths[others], bounds[others])
        solutions[k] = np.insert(found.x, i, values[k])
        chi2[k] = -2 * found.value
        evaluations[k] = found.n_evaluations
        if log is not None:
            log.info(
                "%s = %g: chi2 %.3f (%d evaluations)",
                param, values[k], chi2[k], found.n_evaluations,
            )  # fmt: skip
    return Profile(
        param=param,
        names=names,
        values=values,
        chi2=chi2,
        points=np.array([solutions[k] for k in range(len(values))]),
        best_x=best.x,
        best_chi2=-2 * best.value,
        evaluations=evaluations,
        seconds=time.perf_counter() - start,
    )


def plot(result: Profile, path: str | Path, dpi: int = 100) -> None:
    """Δχ² against the parameter, with the 1σ and 2σ levels, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(result.values)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(result.values[order], result.delta_chi2[order], "o-", color="C0", label="profile")
    for (name, level), style in zip(LEVELS.items(), ("--", ":"), strict=True):
        ax.axhline(level, color="0.4", ls=style, lw=1, label=f"{name} (Δχ² = {level:g})")
    ax.set_xlabel(result.param)
    ax.set_ylabel(r"$\Delta\chi^2$")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
