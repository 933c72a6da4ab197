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

The parameter's name is checked against the YAML's sampled parameters (its ``params`` block and
its components' defaults) before the model is built, so a misspelling is answered in seconds,
with a suggestion. ``progress`` receives a line at each stage (model built, global fit, each
point); :meth:`Profile.table` is the whole table (the file), :meth:`Profile.summary` a narrow one
for the screen.

Through a theory whose JAX form approximates its exact code (``OnlineEmulator``), the global fit
and every profile point are checked against the exact code and found again where the two χ²
differ by more than 0.1 (:class:`cobaya_plugins.gradients.ExactCheck`); the χ² reported are then
the exact code's, and each progress line says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cobaya_plugins.samplers.optimize import maximize
from cobaya_plugins.suggest import close_match

if TYPE_CHECKING:  # (imported where used: JAX loads with it)
    from cobaya_plugins.gradients import ExactCheck, LogPosterior

#: Δχ² of the 1σ and 2σ levels of one parameter.
LEVELS = {"1σ": 1.0, "2σ": 4.0}

#: Other parameters shown by :meth:`Profile.summary` (those that move most along the profile),
#: at most, within a line of :data:`SCREEN_WIDTH` characters; a parameter whose best fit moves
#: by less than :data:`STILL` of its expected width over the profile is not shown.
SUMMARY_COLUMNS = 4
SCREEN_WIDTH = 100
STILL = 0.01


@dataclass
class Profile:
    """A profile: ``param``, its ``values`` (n,), ``chi2`` (n,), the other parameters at each
    value (``points``: (n, d) in ``names`` order), the global best fit (``best_x``,
    ``best_chi2``), ``evaluations`` per point, the wall ``seconds`` of the minimisations and
    the ``widths`` (d,) the parameters' steps were scaled by (their expected widths)."""

    param: str
    names: list[str]
    values: np.ndarray
    chi2: np.ndarray
    points: np.ndarray
    best_x: np.ndarray
    best_chi2: float
    evaluations: list[int] = field(default_factory=list)
    seconds: float = 0.0
    widths: np.ndarray | None = None

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

    def table(self, others: Sequence[str] | None = None) -> str:
        """The profile as text, one row per value: the value, Δχ², χ², then ``others`` (names;
        default: every other parameter) at their best fit for that value."""
        if others is None:
            others = [n for n in self.names if n != self.param]
        index = [self.names.index(n) for n in others]
        width = [max(12, len(n)) for n in others]
        header = f"{self.param:>12s} {'Δχ²':>9s} {'χ²':>11s} " + " ".join(
            f"{n:>{w}s}" for n, w in zip(others, width, strict=True)
        )
        order = np.argsort(self.values)
        rows = [
            f"{self.values[k]:12.6g} {self.delta_chi2[k]:9.3f} {self.chi2[k]:11.3f} "
            + " ".join(f"{self.points[k, i]:{w}.6g}" for i, w in zip(index, width, strict=True))
            for k in order
        ]
        return "\n".join([header, *rows])

    def moving(self, n: int = SUMMARY_COLUMNS, width: int = SCREEN_WIDTH) -> list[str]:
        """Up to ``n`` other parameters, those that move most along the profile (the range of
        their best-fit values over the points, in units of :attr:`widths`; those moving less
        than :data:`STILL` of a width are left out), as many as fit in a :meth:`table` of
        ``width`` characters."""
        others = [k for k, name in enumerate(self.names) if name != self.param]
        spread = np.ptp(self.points[:, others], axis=0)
        if self.widths is not None:
            spread = spread / np.asarray(self.widths, dtype=float)[others]
        chosen: list[str] = []
        used = 12 + 1 + 9 + 1 + 11
        for k in np.argsort(-spread, kind="stable")[:n]:
            name = self.names[others[k]]
            if self.widths is not None and spread[k] < STILL:
                break
            used += 1 + max(12, len(name))
            if used > width:
                break
            chosen.append(name)
        return chosen

    def summary(self, n: int = SUMMARY_COLUMNS) -> str:
        """:meth:`table` with only the :meth:`moving` other parameters (for a screen)."""
        return self.table(self.moving(n))


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


def sampled_parameters(info: Mapping[str, Any]) -> list[str]:
    """The sampled parameters of the Cobaya input ``info``, read from its ``params`` block and
    its components' default ``params`` (Cobaya's ``update_info``), without building the model
    (seconds instead of the tens of seconds a model with an anchored emulator and plik take)."""
    from cobaya.input import update_info
    from cobaya.parameterization import is_sampled_param

    full = update_info({k: v for k, v in info.items() if k not in ("sampler", "output")})
    return [p for p, value in (full.get("params") or {}).items() if is_sampled_param(value)]


def check_parameter(param: str, names: Sequence[str]) -> None:
    """``ValueError`` (in the command's flag, with a "did you mean") when ``param`` is not one
    of the sampled parameters ``names``."""
    if param in names:
        return
    match = close_match(param, names)
    hint = f" (did you mean --param {match}?)" if match else ""
    raise ValueError(
        f"--param {param}: not a sampled parameter of this model{hint}; sampled: {list(names)}"
    )


def profile(
    info: Mapping[str, Any],
    param: str,
    values: Sequence[float],
    ignore_prior: bool = False,
    seed: int | None = 0,
    progress: Callable[[str], None] | None = None,
) -> Profile:
    """The profile of ``param`` over ``values`` for the Cobaya input ``info`` (a dict, as from
    a YAML file; its ``sampler`` and ``output`` are ignored). Raises ``ValueError`` for a
    parameter that is not sampled (before building the model) or values outside its prior.
    ``progress``, if given, is called with one line of text at each stage and each point."""
    from cobaya.model import get_model

    from cobaya_plugins.gradients import ExactCheck, LogPosterior

    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    info = {k: v for k, v in info.items() if k not in ("sampler", "output")}
    check_parameter(param, sampled_parameters(info))
    say("Building the model and its JAX log-posterior...")
    begin = time.perf_counter()
    model = get_model(info)
    posterior = LogPosterior(model, ignore_prior=ignore_prior)
    names = posterior.sampled_names
    check_parameter(param, names)
    say(
        f"Model built in {time.perf_counter() - begin:.1f} s; compiling and finding the best fit..."
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
    check = ExactCheck(model, ignore_prior)
    evaluations_of: list[int] = []

    def find_best(posterior: LogPosterior, x0: np.ndarray) -> tuple[np.ndarray, float]:
        found = maximize(posterior.value_and_grad, x0, widths, bounds)
        evaluations_of.append(found.n_evaluations)
        return found.x, found.value

    start = time.perf_counter()
    posterior, best_x, best_value, rounds, agreed = check.refine(posterior, find_best, x_ref)
    say(
        f"Best fit: χ² {-2 * best_value:.3f} at {param} = {best_x[i]:.6g} "
        f"({sum(evaluations_of)} evaluations, {time.perf_counter() - start:.1f} s)"
        f"{_checked(check, rounds, agreed)}; now {len(values)} value(s) of {param}, nearest "
        "first:"
    )
    others = np.array([k for k in range(len(names)) if k != i])

    def find_at(v: float):
        def find(posterior: LogPosterior, x0: np.ndarray) -> tuple[np.ndarray, float]:
            def value_and_grad(y: np.ndarray) -> tuple[float, np.ndarray]:
                value, grad = posterior.value_and_grad(np.insert(y, i, v))
                return value, grad[others]

            found = maximize(value_and_grad, x0[others], widths[others], bounds[others])
            evaluations_of.append(found.n_evaluations)
            return np.insert(found.x, i, v), found.value

        return find

    order = np.argsort(np.abs(values - best_x[i]))
    solutions: dict[int, np.ndarray] = {}
    chi2 = np.full(len(values), np.nan)
    evaluations = [0] * len(values)
    for step, k in enumerate(order, start=1):
        point_start = time.perf_counter()
        done = list(solutions)
        if done:  # warm start from the nearest value already done
            nearest = min(done, key=lambda j: abs(values[j] - values[k]))
            x0 = solutions[nearest]
        else:
            x0 = best_x
        evaluations_of.clear()
        posterior, solutions[k], value, rounds, agreed = check.refine(
            posterior, find_at(values[k]), x0
        )
        chi2[k] = -2 * value
        evaluations[k] = sum(evaluations_of)
        say(
            f"  [{step}/{len(values)}] {param} = {values[k]:.6g}: χ² {chi2[k]:.3f}, Δχ² from the "
            f"global fit {chi2[k] + 2 * best_value:.3f} ({evaluations[k]} evaluations, "
            f"{time.perf_counter() - point_start:.1f} s){_checked(check, rounds, agreed)}"
        )
    return Profile(
        param=param,
        names=names,
        values=values,
        chi2=chi2,
        points=np.array([solutions[k] for k in range(len(values))]),
        best_x=best_x,
        best_chi2=-2 * best_value,
        evaluations=evaluations,
        seconds=time.perf_counter() - start,
        widths=widths,
    )


def _checked(check: ExactCheck, rounds: list[tuple[float, float]], agreed: bool) -> str:
    """What the check against the exact code found, for a progress line ("" without one)."""
    if not check.active:
        return ""
    jax_chi2, exact_chi2 = rounds[-1]
    if agreed:
        return (
            f"; χ² of the exact code there (JAX {jax_chi2:.3f}, Δχ² {jax_chi2 - exact_chi2:.2g}"
            f", {len(rounds)} round(s))"
        )
    return (
        f"; χ² of the exact code there, but WARNING: the JAX one ({jax_chi2:.3f}) still differs "
        f"by {jax_chi2 - exact_chi2:.2g} after {len(rounds)} rounds: the point may not be the "
        "exact code's maximum (train the emulator longer first)"
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
