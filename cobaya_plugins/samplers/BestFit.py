r"""Best fit by L-BFGS on a Cobaya model's JAX log-posterior, as a Cobaya sampler (a minimizer).

``sampler: {cobaya_plugins.samplers.BestFit: {...}}`` in a YAML whose components all have a JAX
form (:mod:`cobaya_plugins.gradients`). It maximises the posterior (or, with ``ignore_prior:
true``, the likelihood within the prior's bounds, as Cobaya's ``minimize``) with scipy's
L-BFGS-B and the exact JAX gradient, from ``starts`` points drawn from the ``ref``
distribution (divided among MPI processes), in the parameters' own coordinates with the prior
bounds as bounds, so a maximum on a bound is found on it.

It writes what Cobaya's ``minimize`` writes, ``<prefix>.minimum.txt`` (Cobaya's collection
format, with ``chi2__`` columns) and ``<prefix>.minimum`` (GetDist's format; ``.bestfit*`` with
``ignore_prior``), and ``products()["minimum"]``. It adds the **Hessian at the maximum**
(central differences of the exact gradient): its inverse is written as ``<prefix>.covmat``
(Cobaya's format: a proposal for ``mcmc`` or a mass matrix for ``HMC``), and the Laplace
errors √diag(−H⁻¹) are logged. Parameters on a prior bound get no Laplace error (the maximum
is not a stationary point there): the covmat gives them their ``proposal`` width, uncorrelated.

Each start's log line says why L-BFGS-B stopped, in words, and its largest projected gradient
per parameter width (:meth:`~cobaya_plugins.samplers.optimize.Maximum.explain`); one line then
says whether the best fit is trusted: a maximum (gradient below
:data:`~cobaya_plugins.samplers.optimize.TRUSTED_GRADIENT`) that other starts reach too (within
:data:`AGREE` in χ²), a warning otherwise.

Through a theory whose JAX form approximates its exact code (``OnlineEmulator``), the best fit
is computed exactly; where its χ² differs from the JAX one by more than ``exact_tolerance``,
the emulator has learned the point, and L-BFGS runs again from there with its refreshed JAX
form (at most ``exact_rounds`` times). The values written are always the exact code's.
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import Any

import numpy as np
from cobaya import mpi
from cobaya.collection import OnePoint
from cobaya.log import LoggedError
from cobaya.sampler import CovmatSampler, Minimizer

from cobaya_plugins.cobaya_internals import getdist_point_text
from cobaya_plugins.gradients import ExactCheck, LogPosterior, check_finite_gradient
from cobaya_plugins.samplers.optimize import (
    TRUSTED_GRADIENT,
    Maximum,
    covariance,
    hessian,
    maximize,
)

#: File extensions, as Cobaya's ``minimize`` (posterior) and with ``ignore_prior``.
EXTENSION = {False: ".minimum", True: ".bestfit"}

#: Starts whose χ² is within this of the best one reached the same maximum.
AGREE = 0.01

#: A parameter closer than this to a bound (relative to its Laplace or proposal width) is "on"
#: it.
ON_BOUND = 1e-3


class BestFit(Minimizer, CovmatSampler):
    """L-BFGS maximum of the posterior (or likelihood) with JAX gradients; ``BestFit.yaml``."""

    ignore_prior: bool
    starts: int
    max_evaluations: int
    gtol: float
    exact_tolerance: float
    exact_rounds: int
    covmat: Any
    covmat_params: Any

    def initialize(self):
        """Check the options and build the differentiable posterior (no compiling yet)."""
        for option in ("starts", "max_evaluations", "exact_rounds"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LoggedError(
                    self.log,
                    f"{self.get_name()}: `{option}: {value}` is not valid: it must be a positive "
                    "integer.",
                )
        tolerance = self.exact_tolerance
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance <= 0:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: `exact_tolerance: {tolerance}` is not valid: it must be a "
                "positive number (a Δχ²).",
            )
        self.posterior = LogPosterior(self.model, ignore_prior=bool(self.ignore_prior))
        self.names = self.posterior.sampled_names
        self.minimum: OnePoint | None = None
        self.results: list[Maximum] = []
        self.full_set_of_mins: dict[str, float] = {}
        self.hessian: np.ndarray | None = None
        self.covariance: np.ndarray | None = None

    def _scale(self) -> np.ndarray:
        """Expected width of each parameter: from ``covmat``, else ``proposal``/``ref``/prior."""
        cov, _ = self.initial_proposal_covmat()
        return np.sqrt(np.diag(cov))

    def run(self):
        """L-BFGS from each start; the best one, its Hessian, and the output files."""
        scale = mpi.share_mpi(self._scale() if mpi.is_main_process() else None)
        n_local = len(range(mpi.rank(), self.starts, mpi.size()))
        starts = np.array(
            [self.model.prior.reference(random_state=self.random_state) for _ in range(n_local)]
        )
        bounds = self.posterior.bounds

        def value_and_grad(x):
            value, grad = self.posterior.value_and_grad(x)
            return value, grad

        self.posterior.value_and_grad(starts[0]) if n_local else None  # compile, announced
        begin = time.perf_counter()
        local = []
        for x0 in starts:
            value, grad = value_and_grad(x0)
            if math.isfinite(value):
                check_finite_gradient(self.names, x0, grad, self.log)
            found = maximize(value_and_grad, x0, scale, bounds, self.max_evaluations, self.gtol)
            local.append(found)
            self.log.info(
                "Start %d: %s %.4f after %d evaluations; %s.",
                mpi.rank() + mpi.size() * len(local) - mpi.size() + 1,
                self._what(), -2 * found.value, found.n_evaluations, found.explain(),
            )  # fmt: skip
        elapsed = time.perf_counter() - begin
        self.results = [r for group in mpi.allgather(local) for r in group]
        self.minimization_seconds = max(mpi.allgather(elapsed))
        finite = [r for r in self.results if math.isfinite(r.value)]
        if not finite:
            raise LoggedError(
                self.log,
                "No start reached a finite posterior: check the `ref` of the parameters and that "
                "the likelihoods accept them.",
            )
        best = max(finite, key=lambda r: r.value)
        chi2s = sorted(-2 * r.value for r in finite)
        self.full_set_of_mins = {str(i): -r.value for i, r in enumerate(self.results)}
        self.mpi_info(
            "L-BFGS from %d start(s): %s at the best %.4f; spread of the starts %.4f; "
            "minimization %.1f s (%d evaluations in all).",
            len(self.results), self._what(), chi2s[0], chi2s[-1] - chi2s[0],
            self.minimization_seconds, sum(r.n_evaluations for r in self.results),
        )  # fmt: skip
        self._judge(best, chi2s)
        if mpi.is_main_process():
            best = self._check_with_exact(best, scale)
            self._finish(best.x)
        self.minimum = mpi.share_mpi(self.minimum)
        self.covariance = mpi.share_mpi(self.covariance)

    def _judge(self, best: Maximum, chi2s: list[float]) -> None:
        """Say whether the best fit is trusted: a maximum (its projected gradient) that the
        other starts reach too (within :data:`AGREE`)."""
        others = sum(c - chi2s[0] <= AGREE for c in chi2s) - 1
        gradient = f"its largest projected gradient is {best.gradient:.1e} per parameter width"
        if not best.trusted:
            self.mpi_warning(
                "The best fit is NOT trusted: %s (a maximum has below %g): L-BFGS %s. Raise "
                "`max_evaluations`, or look at the posterior there (a kink, a rejected region).",
                gradient, TRUSTED_GRADIENT, best.stop(),
            )  # fmt: skip
        elif others:
            self.mpi_info(
                "The best fit is trusted: %s (below %g) and %d other start(s) of %d reach the "
                "same %s within %g.",
                gradient, TRUSTED_GRADIENT, others, len(chi2s) - 1, self._what(), AGREE,
            )  # fmt: skip
        else:
            self.mpi_warning(
                "The best fit is a maximum (%s, below %g), but %s: another maximum may be "
                "higher. More `starts` tell.",
                gradient, TRUSTED_GRADIENT,
                "no other start reaches it" if len(chi2s) > 1 else "from one start only",
            )  # fmt: skip

    def _check_with_exact(self, best: Maximum, scale: np.ndarray) -> Maximum:
        """Through theories whose JAX form approximates their exact code: the best fit checked
        and, where needed, found again (:class:`~cobaya_plugins.gradients.ExactCheck`, with
        ``exact_tolerance`` and ``exact_rounds``). Returns the final maximum."""
        check = ExactCheck(self.model, self.ignore_prior, self.exact_tolerance, self.exact_rounds)
        if not check.active:
            return best
        found: list[Maximum] = []

        def find(posterior: LogPosterior, x0: np.ndarray) -> tuple[np.ndarray, float]:
            if not found:  # the first round: the best of the starts, already found
                found.append(best)
            else:  # a refreshed posterior: maximise again from x0
                found.append(maximize(posterior.value_and_grad, x0, scale, posterior.bounds,
                                      self.max_evaluations, self.gtol))  # fmt: skip
            return found[-1].x, found[-1].value

        self.posterior, _, _, rounds, agreed = check.refine(self.posterior, find, best.x)
        for round_, (jax_chi2, exact_chi2) in enumerate(rounds, start=1):
            self.log.info(
                "Best fit through %s, round %d: %s %.4f (JAX) and %.4f (exact code), Δχ² %.3g.",
                check.names, round_, self._what(), jax_chi2, exact_chi2, jax_chi2 - exact_chi2,
            )  # fmt: skip
        if agreed:
            self.log.info(
                "The best fit through %s agrees with the exact code within `exact_tolerance: "
                "%g` (Δχ²).", check.names, self.exact_tolerance,
            )  # fmt: skip
        else:
            self.log.warning(
                "The best fit through %s still differs from the exact code by more than "
                "`exact_tolerance: %g` (Δχ²) after `exact_rounds: %d`: the values written are "
                "the exact code's at that point, but the point may not be its maximum. Raise "
                "`exact_rounds`, or train the emulator longer first (an mcmc run on its cache).",
                check.names, self.exact_tolerance, self.exact_rounds,
            )  # fmt: skip
        return found[-1]

    def _what(self) -> str:
        return "-2 log(likelihood)" if self.ignore_prior else "-2 log(posterior)"

    def _finish(self, x: np.ndarray) -> None:
        """Check against Cobaya, write the minimum, the Hessian's covmat, the Laplace errors."""
        point = self.model.logposterior(x, cached=False)
        cobaya = point.loglike if self.ignore_prior else point.logpost
        jax_value = self.posterior.value(x)
        if not math.isclose(cobaya, jax_value, abs_tol=0.01):
            self.log.warning(
                "At the best fit Cobaya's log-%s is %.6f and the JAX one %.6f: expected with "
                "the emulator's `precision: float32` only to ~1e-3.",
                "likelihood" if self.ignore_prior else "posterior", cobaya, jax_value,
            )  # fmt: skip
        self.minimum = OnePoint(
            self.model,
            self.output,
            name="",
            extension=EXTENSION[bool(self.ignore_prior)].lstrip(".") + ".txt",
        )
        self.minimum.add(
            x,
            derived=point.derived,
            logpost=point.logpost,
            logpriors=point.logpriors,
            loglikes=point.loglikes,
        )
        self.log.info("Parameter values at the best fit:\n%s", self.minimum.data.to_string())
        self.minimum.out_update()
        self._write_getdist()
        self._curvature(x)

    def _curvature(self, x: np.ndarray) -> None:
        """Hessian at ``x``, Laplace errors (logged) and ``<prefix>.covmat``."""
        bounds = self.posterior.bounds
        scale = self._scale()
        step = 1e-4 * scale
        on_bound = (x - bounds[:, 0] < ON_BOUND * scale) | (bounds[:, 1] - x < ON_BOUND * scale)
        shifted = np.clip(x, bounds[:, 0] + 2 * step, bounds[:, 1] - 2 * step)
        free = ~on_bound
        self.hessian = hessian(lambda xs: self.posterior.batch_value_and_grad(xs)[1], shifted, step)
        cov = np.diag(scale**2)
        laplace = np.full(len(x), np.nan)
        if free.any():
            sub, raised = covariance(self.hessian[np.ix_(free, free)], scale[free])
            cov[np.ix_(free, free)] = sub
            laplace[free] = np.sqrt(np.diag(sub))
            if raised:
                self.log.warning(
                    "The Hessian is flat or not negative in %d direction(s): their Laplace "
                    "errors are not meaningful.",
                    raised,
                )
        self.covariance = cov
        lines = [
            f"  {name:20s} {value: .6g}  ± {error:.3g}"
            if math.isfinite(error)
            else f"  {name:20s} {value: .6g}  (on a prior bound: no Laplace error)"
            for name, value, error in zip(self.names, x, laplace, strict=True)
        ]
        self.log.info("Laplace errors (−H⁻¹ at the best fit):\n%s", "\n".join(lines))
        if self.output:
            path = os.path.join(self.output.folder, self.output.prefix + ".covmat")
            np.savetxt(path, cov, header=" ".join(self.names))
            self.log.info("Covariance from the Hessian written to %s.", path)

    def _write_getdist(self) -> None:
        """``<prefix>.minimum`` (or ``.bestfit``) in GetDist's format, with Cobaya's writer."""
        if not self.output:
            return
        text = getdist_point_text(self.model, self.minimum, self.minimum["minuslogpost"])
        path = os.path.join(
            self.output.folder, self.output.prefix + EXTENSION[bool(self.ignore_prior)]
        )
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def products(self) -> dict:
        """As Cobaya's ``minimize``: ``minimum`` (a ``OnePoint``), ``full_set_of_mins``
        (−log(posterior or likelihood) per start), ``result_object`` (the L-BFGS results);
        plus ``covmat`` (from the Hessian, (d, d)), ``covmat_params`` and ``hessian``."""
        return {
            "minimum": self.minimum,
            "full_set_of_mins": self.full_set_of_mins,
            "result_object": self.results,
            "covmat": self.covariance,
            "covmat_params": list(self.names),
            "hessian": self.hessian,
        }

    @classmethod
    def output_files_regexps(cls, output, info=None, minimal=False):
        """The minimum's two files and the covmat."""
        extension = EXTENSION[bool((info or {}).get("ignore_prior", False))].lstrip(".")
        names = [extension + ".txt", extension] + ([] if minimal else ["covmat"])
        return [
            (re.compile(output.prefix_regexp_str + re.escape(name) + "$"), None) for name in names
        ]

    @classmethod
    def check_force_resume(cls, output, info=None):
        """A best fit is not resumed (as Cobaya's ``minimize``): --resume is refused."""
        if output and output.is_resuming() and mpi.is_main_process():
            raise LoggedError(
                output.log,
                "BestFit does not resume (it takes seconds): run again with --force (-f).",
            )
        super().check_force_resume(output, info=info)
