"""The online emulator: learn exact calls, predict spectra and derived parameters with an error.

:class:`Emulator` puts the pieces together (no Cobaya here; the Cobaya Theory is
:class:`cobaya_plugins.theories.OnlineEmulator`):

* :meth:`Emulator.add` learns exact calls: once there are ``min_points``, a **fit** (PCA of the
  spectra, :mod:`.compress`; GPs of the coefficients and derived parameters, :mod:`.regress`),
  redone when the training set has grown by ``refit_growth`` since the last one, or when an
  exact call found a coefficient or derived parameter more than ``SURPRISE`` standard
  deviations from its prediction (the GPs' hyperparameters no longer fit); in between,
  each new point is an **update**: projected on the current PCA directions (the norm of what
  they miss is kept as an estimate of that error) and conditioned on by the GPs with their
  hyperparameters unchanged (milliseconds).
* :meth:`Emulator.predict` gives the mean spectra and derived parameters at a point with the
  calibrated error ``κ ε`` in Δ log L (:mod:`.control`) and whether it is within the tolerance
  there (``accurate``). It is never "accurate" before the first fit, where an input that was
  constant in training has another value, outside the training points' cloud (farther from
  their mean, in the GP's whitened inputs, than any of them, or farther from the nearest than
  any of them is from its own nearest: the emulator never extrapolates, even where a GP that
  found its output nearly linear would claim a small error), where the point is closer to a
  point at which the exact
  code failed than to any point where it succeeded, or where a derived parameter's calibrated
  error exceeds ``derived_tolerance`` times its spread over the training points.
* :meth:`Emulator.check` compares a prediction with the exact result at the same point (made
  before learning it): these out-of-sample comparisons, with the leave-one-out ones of the
  training set, set κ (:func:`.control.calibration_factor`). Nothing is served before
  ``HELD_OUT_MIN`` such comparisons exist (they are stored with the points, so a second run or
  another process has them at once).
* :meth:`Emulator.note_loglike` keeps the best point seen so far (the highest log-likelihood the
  caller reports), from which the tolerance and the error estimate measure the distance.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cobaya_plugins.online.compress import Compression
from cobaya_plugins.online.control import (
    DEFAULT_KAPPA,
    FSKY,
    GaussianMetric,
    calibration_factor,
    error_estimate,
    near_delta,
    tolerance_at,
)
from cobaya_plugins.online.regress import GaussianProcesses
from cobaya_plugins.online.store import TrainingPoint
from cobaya_plugins.threads import BlasThreads

#: The smallest calibration factor used.
KAPPA_FLOOR = 1.0
#: Out-of-sample comparisons kept for the calibration (the most recent).
HELD_OUT_WINDOW = 50
#: Out-of-sample comparisons needed before they enter the calibration.
HELD_OUT_MIN = 5
#: An error of a predicted coefficient or derived parameter beyond this many of its standard
#: deviations, at an exact call, makes the next update a full refit.
SURPRISE = 4.0
#: New points' errors outside the PCA directions kept for the estimate t (the most recent).
OUTSIDE_WINDOW = 20


def _upper_quantile(values: np.ndarray, q: float = 0.95) -> float:
    """A conservative q-quantile of a sample: its ⌈q(n+1)⌉-th smallest value (the largest while
    n < 1/(1-q) - 1), which exceeds the true quantile with probability >= ~q/2 even for small n."""
    ordered = np.sort(np.asarray(values, dtype=float))
    return float(ordered[min(len(ordered), math.ceil(q * (len(ordered) + 1))) - 1])


@dataclass
class Prediction:
    """The emulator at one point: ``coefficients`` and their ``variances`` (K,), the derived
    parameters (``derived``: name -> mean, ``derived_errors``: name -> calibrated error,
    ``derived_limits``: name -> the error allowed, ``derived_tolerance`` × its training spread),
    ``estimate`` ε (uncalibrated rms Δ log L), ``error`` = κ ε, the ``tolerance`` there,
    ``delta`` (estimated Δ log L below the best point), ``accurate`` and, when not, ``reason``.
    :meth:`Emulator.spectra` gives the mean spectra."""

    x: np.ndarray
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros(0))
    variances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    variances_derived: np.ndarray = field(default_factory=lambda: np.zeros(0))
    derived: dict[str, float] = field(default_factory=dict)
    derived_errors: dict[str, float] = field(default_factory=dict)
    derived_limits: dict[str, float] = field(default_factory=dict)
    estimate: float = math.inf
    error: float = math.inf
    tolerance: float = 0.0
    delta: float = 0.0
    accurate: bool = False
    reason: str = ""
    fit_id: int = -1


class Emulator:
    """Spectra and derived parameters as functions of the inputs, learned online (module doc).

    ``inputs``: the input parameter names (a point is a mapping with these keys);
    ``lmax``: spectrum -> highest ell to emulate (C_ell from ell = 0, µK², φφ raw: the units of
    the training points); ``derived``: derived parameter names to emulate; ``metric_spectra``:
    auto spectra the metric needs beyond the emulated ones (e.g. ``{"tt": 1996}`` for ``te``
    alone; present in the training points). Options (``docs/online_emulator.md``):
    ``tolerance`` (|Δ log L| near the best point), ``slope`` (its growth per unit of Δ log L
    beyond ``near``, default ½χ²_{d,0.99}), ``error_target`` (PCA reconstruction, √Δχ²),
    ``max_components``, ``kernel``, ``min_points`` (default 2·len(inputs) + 2),
    ``refit_growth``, ``fit_points``, ``derived_tolerance``, ``fsky`` and ``noise`` (the
    metric, :class:`~.control.GaussianMetric`).
    """

    def __init__(
        self,
        inputs: Sequence[str],
        lmax: Mapping[str, int],
        derived: Sequence[str] = (),
        *,
        metric_spectra: Mapping[str, int] | None = None,
        tolerance: float = 0.1,
        slope: float = 0.1,
        near: float | None = None,
        error_target: float = 0.02,
        max_components: int = 60,
        kernel: str = "matern52",
        min_points: int | None = None,
        refit_growth: float = 0.2,
        fit_points: int = 150,
        derived_tolerance: float = 0.05,
        fsky: float = FSKY,
        noise: str | Mapping[str, float] = "planck",
    ):
        self.inputs = list(inputs)
        self.lmax = {s: int(v) for s, v in lmax.items()}
        self.derived_names = list(derived)
        self.metric_spectra = dict(metric_spectra or {})
        self.tolerance, self.slope, self.near = float(tolerance), float(slope), near
        self.error_target, self.max_components = float(error_target), int(max_components)
        self.kernel, self.refit_growth, self.fit_points = kernel, float(refit_growth), fit_points
        self.min_points = int(min_points or 2 * len(self.inputs) + 2)
        self.derived_tolerance = float(derived_tolerance)
        self.fsky, self.noise = fsky, noise
        #: Successful training points, and the inputs of failed ones (array (n, D)).
        self.points: list[TrainingPoint] = []
        self.failures = np.zeros((0, len(self.inputs)))
        self._by_inputs: dict[tuple[float, ...], TrainingPoint] = {}
        self.compression: Compression | None = None
        self.gp: GaussianProcesses | None = None
        self.kappa = DEFAULT_KAPPA
        self.kappa_derived = DEFAULT_KAPPA
        self.fit_id = 0
        self._n_at_fit = 0
        self._x = np.zeros((0, len(self.inputs)))
        self._outputs = np.zeros((0, 0))
        self._held_out: deque[tuple[float, ...]] = deque(maxlen=HELD_OUT_WINDOW)
        self._held_out_derived: deque[np.ndarray] = deque(maxlen=HELD_OUT_WINDOW)
        self._outside: deque[float] = deque(maxlen=OUTSIDE_WINDOW)
        self._best: tuple[float, dict[str, np.ndarray]] | None = None
        self._best_c: np.ndarray | None = None
        self._derived_scale = np.zeros(0)
        self._surprised = False
        #: What the last :meth:`add` did: ``"fit"``, ``"update"`` or ``None``, its seconds, and
        #: how many offered points were not usable (and why).
        self.last_action: str | None = None
        self.last_seconds = 0.0
        self.skipped: dict[str, int] = {}

    # --- learning ---------------------------------------------------------------------------

    def _usable(self, point: TrainingPoint) -> str | None:
        """Why ``point`` cannot be learned here, or None."""
        if set(point.params) != set(self.inputs):
            return "other input parameters"
        needed = {**self.lmax, **self.metric_spectra}
        if any(s not in point.cls or len(point.cls[s]) < needed[s] + 1 for s in needed):
            return "spectra missing or to a lower lmax"
        if any(d not in point.derived for d in self.derived_names):
            return "derived parameters missing"
        return None

    def add(self, points: Sequence[TrainingPoint]) -> None:
        """Learn exact calls (successful or failed); fit or update (see :attr:`last_action`)."""
        with BlasThreads(1):  # small matrices: one BLAS thread is 5-10x faster on busy cores
            self._add(points)

    def _add(self, points: Sequence[TrainingPoint]) -> None:
        self.last_action, start = None, time.perf_counter()
        new = []
        for point in points:
            why = self._usable(point) if not point.failed else None
            if why:
                self.skipped[why] = self.skipped.get(why, 0) + 1
                continue
            x = np.array([point.params[p] for p in self.inputs], dtype=float)
            if point.failed:
                self.failures = np.vstack([self.failures, x])
                continue
            new.append(point)
            self._by_inputs[tuple(x.tolist())] = point
            if point.check:
                check = point.check
                self._held_out.append(
                    (check["mean"], check["std"], check["estimate"], check.get("delta", 0.0))
                )
                z = [check["derived"].get(d) for d in self.derived_names]
                if self.derived_names and None not in z:
                    self._held_out_derived.append(np.array(z, dtype=float))
        if not new:
            return
        self.points.extend(new)
        self._x = np.array([[p.params[n] for n in self.inputs] for p in self.points])
        n = len(self.points)
        if n < self.min_points:
            return
        refit = (
            self.gp is None
            or self._surprised
            or n >= self._n_at_fit * (1 + self.refit_growth)
            or not all(self.gp.in_domain(x) for x in self._x[-len(new) :])
        )
        if refit:
            self._fit()
            self._surprised = False
            self.last_action = "fit"
        else:
            c, outside = self.compression.coefficients(self._stack(new))
            self._outside.extend(np.atleast_1d(outside).tolist())
            rows = np.hstack([np.atleast_2d(c), self._derived_matrix(new)])
            self._outputs = np.vstack([self._outputs, rows])
            self.gp = self.gp.condition(self._x, self._outputs)
            self.last_action = "update"
        self.fit_id += 1
        self._measure_cloud()
        self._calibrate()
        self.last_seconds = time.perf_counter() - start

    def known(self, params: Mapping[str, float]) -> TrainingPoint | None:
        """The successful exact call learned at exactly ``params`` (every input equal), or None."""
        return self._by_inputs.get(tuple(float(params[p]) for p in self.inputs))

    def _stack(self, points: Sequence[TrainingPoint]) -> dict[str, np.ndarray]:
        spectra = {**self.lmax, **self.metric_spectra}
        return {s: np.array([p.cls[s][: spectra[s] + 1] for p in points]) for s in spectra}

    def _derived_matrix(self, points: Sequence[TrainingPoint]) -> np.ndarray:
        return np.array([[p.derived[d] for d in self.derived_names] for p in points]).reshape(
            len(points), len(self.derived_names)
        )

    def _fit(self) -> None:
        spectra = self._stack(self.points)
        reference = {s: np.median(v, axis=0) for s, v in spectra.items()}
        metric = GaussianMetric(self.lmax, reference, self.fsky, self.noise)
        self.compression = Compression.fit(spectra, metric, self.error_target, self.max_components)
        derived = self._derived_matrix(self.points)
        self._outputs = np.hstack([self.compression.training_coefficients, derived])
        start = None
        if self.gp is not None and self.gp.hyperparameters.shape[0] == self._outputs.shape[1]:
            start = self.gp.hyperparameters
        self.gp = GaussianProcesses.fit(
            self._x, self._outputs, self.kernel, start=start, fit_points=self.fit_points,
            seed=len(self.points),
        )  # fmt: skip
        self._derived_scale = derived.std(axis=0)
        self._n_at_fit = len(self.points)
        if self._best is not None:
            self._best_c = self.compression.coefficients(self._best[1])[0]

    def _measure_cloud(self) -> None:
        """The training points' extent in the GP's whitened inputs: the largest distance from
        their mean, and the largest distance from a point to its nearest neighbour."""
        z = self.gp.whiten_inputs(self._x)
        self._radius = float(np.sqrt(np.max(np.sum(z**2, axis=1))))
        d2 = np.sum((z[:, None, :] - z[None, :, :]) ** 2, axis=2)
        np.fill_diagonal(d2, np.inf)
        self._gap = float(np.sqrt(np.max(np.min(d2, axis=1))))

    def _near(self) -> float:
        return self.near if self.near is not None else near_delta(int(self.gp.varying.sum()))

    def _calibrate(self) -> None:
        """κ from the leave-one-out predictions and the out-of-sample comparisons (each set
        restricted to the points within ``near`` of the best point when it has enough of them:
        the tolerance is the strictest there, and the GP's errors far out in a burn-in would
        otherwise set κ for the whole posterior); κ_derived from the derived parameters'."""
        k = self.compression.n_components
        true, mean, var = self.gp.leave_one_out()
        delta = true[:, :k] - mean[:, :k]
        offsets = mean[:, :k] - self._best_coefficients()
        estimates = error_estimate(var[:, :k], offsets)
        means = -np.sum(offsets * delta, axis=1) - 0.5 * np.sum(delta**2, axis=1)
        stds = np.sqrt(np.sum(delta**2, axis=1))
        far = 0.5 * np.sum(offsets**2, axis=1) if self._best is not None else np.zeros(len(means))
        loo = np.column_stack([means, stds, np.maximum(estimates, 1e-300), far])
        self.kappa_loo = self._kappa(loo)
        self.kappa_held = self._kappa(np.array(self._held_out)) if self._held_out else None
        if len(self._held_out) < HELD_OUT_MIN:
            self.kappa_held = None
        self.kappa = max(KAPPA_FLOOR, self.kappa_loo, self.kappa_held or 0.0)
        if self.derived_names:
            z = (np.abs(true[:, k:] - mean[:, k:]) / np.sqrt(var[:, k:])).ravel()
            kappas = [1.96, _upper_quantile(z)]
            if len(self._held_out_derived) >= HELD_OUT_MIN:
                kappas.append(_upper_quantile(np.concatenate(self._held_out_derived)))
            self.kappa_derived = max(kappas)

    def _kappa(self, samples: np.ndarray) -> float:
        """:func:`calibration_factor` of rows (mean, std, estimate, Δ from best), on the rows
        near the best point if there are at least ``HELD_OUT_MIN`` of them, else on all."""
        near = samples[samples[:, 3] <= self._near()]
        chosen = near if len(near) >= HELD_OUT_MIN else samples
        return calibration_factor(chosen[:, 0], chosen[:, 1], chosen[:, 2])

    def _best_coefficients(self) -> np.ndarray:
        if self._best_c is None:
            return np.zeros(self.compression.n_components)
        return self._best_c

    def note_loglike(self, spectra: Mapping[str, np.ndarray], loglike: float) -> None:
        """Report the log-likelihood of the run at spectra the caller served or computed; the
        highest is the best point (tolerance and error estimate are measured from it)."""
        if not np.isfinite(loglike) or (self._best is not None and loglike <= self._best[0]):
            return
        needed = {**self.lmax, **self.metric_spectra}
        if any(s not in spectra or len(spectra[s]) < needed[s] + 1 for s in needed):
            return
        self._best = (float(loglike), {s: np.array(spectra[s][: needed[s] + 1]) for s in needed})
        if self.compression is not None:
            self._best_c = self.compression.coefficients(self._best[1])[0]

    @property
    def best_loglike(self) -> float | None:
        """The highest log-likelihood reported by :meth:`note_loglike`, or None."""
        return None if self._best is None else self._best[0]

    # --- predicting -------------------------------------------------------------------------

    @property
    def outside_error(self) -> float:
        """t: the estimated norm (√Δχ²) of a new point's part outside the PCA directions."""
        train = float(np.max(self.compression.residuals, initial=0.0))
        if len(self._outside) >= 3:
            return max(train, float(np.quantile(np.array(self._outside), 0.9)))
        return max(train, self.error_target)

    def predict(self, params: Mapping[str, float]) -> Prediction:
        """The prediction at ``params`` (the input names -> values) and its error (module
        docstring)."""
        with BlasThreads(1):
            return self._predict(params)

    def _predict(self, params: Mapping[str, float]) -> Prediction:
        x = np.array([params[p] for p in self.inputs], dtype=float)
        if self.gp is None:
            return Prediction(
                x, reason=f"not trained yet ({len(self.points)} of {self.min_points} points)"
            )
        k = self.compression.n_components
        mean, var = self.gp.predict(x)
        c, s2 = mean[:k], var[:k]
        offsets = c - self._best_coefficients()
        estimate = float(error_estimate(s2, offsets, self.outside_error**2))
        delta = 0.5 * float(np.sum(offsets**2)) if self._best is not None else 0.0
        tolerance = tolerance_at(delta, self.tolerance, self._near(), self.slope)
        derived = dict(zip(self.derived_names, mean[k:].tolist(), strict=True))
        derived_errors = dict(
            zip(self.derived_names, (self.kappa_derived * np.sqrt(var[k:])).tolist(), strict=True)
        )
        limits = (self.derived_tolerance * self._derived_scale).tolist()
        prediction = Prediction(
            x=x,
            coefficients=c,
            variances=s2,
            variances_derived=var[k:],
            derived=derived,
            derived_errors=derived_errors,
            derived_limits=dict(zip(self.derived_names, limits, strict=True)),
            estimate=estimate,
            error=self.kappa * estimate,
            tolerance=tolerance,
            delta=delta,
            fit_id=self.fit_id,
        )
        prediction.reason = self._refusal(prediction, var[k:])
        prediction.accurate = not prediction.reason
        return prediction

    def _refusal(self, prediction: Prediction, derived_var: np.ndarray) -> str:
        if not self.gp.in_domain(prediction.x):
            return "an input constant over the training points has another value"
        if len(self._held_out) < HELD_OUT_MIN:
            return (
                f"calibrating: {len(self._held_out)} of {HELD_OUT_MIN} checks on points it had "
                "not learned"
            )
        z = self.gp.whiten_inputs(np.vstack([prediction.x, self._x]))
        if np.sqrt(np.sum(z[0] ** 2)) > self._radius:
            return "outside the training points' cloud (no extrapolation)"
        if np.sqrt(np.min(np.sum((z[1:] - z[0]) ** 2, axis=1))) > self._gap:
            return "farther from the training points than they are from each other"
        if not prediction.error <= prediction.tolerance:
            return f"error {prediction.error:.3g} > tolerance {prediction.tolerance:.3g}"
        bad = [
            d for d in self.derived_names
            if not prediction.derived_errors[d] <= prediction.derived_limits[d]
        ]  # fmt: skip
        if bad:
            return f"derived parameter(s) {bad} not accurate enough"
        if len(self.failures):
            z = self.gp.whiten_inputs(np.vstack([prediction.x, self._x, self.failures]))
            distance = np.sum((z[1:] - z[0]) ** 2, axis=1)
            if np.argmin(distance) >= len(self._x):
                return "closer to a point where the exact code failed than to any success"
        return ""

    def spectra(self, prediction: Prediction) -> dict[str, np.ndarray]:
        """The predicted spectra (C_ell from ell = 0 to each lmax, zero at ell < 2)."""
        cls = self.compression.reconstruct(prediction.coefficients)
        return {s: cls[s] for s in self.lmax}

    def check(self, prediction: Prediction, point: TrainingPoint) -> dict[str, float]:
        """Compare a prediction with the exact result at its point, before learning the point:
        the comparison is kept in ``point.check`` (stored with it, so that other processes and
        later runs use it too) and enters the calibration when the point is learned. Returns
        ``{"error": realised rms Δ log L, "estimate": κ ε, "ratio": error / (κ ε)}``; empty
        when there is nothing to compare."""
        if self.compression is None or prediction.fit_id < 0 or point.failed:
            return {}
        if prediction.fit_id != self.fit_id or not np.isfinite(prediction.estimate):
            return {}
        metric = self.compression.metric
        predicted = self.compression.reconstruct(prediction.coefficients)
        truth = {s: point.cls[s][: self.lmax[s] + 1] for s in self.lmax}
        delta = metric.whiten(metric.pack(truth) - metric.pack(predicted))
        offsets = self.compression.expand(prediction.coefficients - self._best_coefficients())
        mean = -float(offsets @ delta) - 0.5 * float(delta @ delta)
        std = float(np.sqrt(delta @ delta))
        sigma = np.sqrt(prediction.variances_derived)
        truth_c = self.compression.project(delta) + prediction.coefficients
        z = np.abs(truth_c - prediction.coefficients) / np.sqrt(prediction.variances)
        derived_z = [
            abs(point.derived[d] - prediction.derived[d]) / max(s, 1e-300)
            for d, s in zip(self.derived_names, sigma, strict=True)
        ]
        if max(z.max(initial=0), *derived_z, 0) > SURPRISE:
            self._surprised = True  # the GPs are wrong here: refit with this point
        point.check = {
            "mean": mean,
            "std": std,
            "estimate": max(prediction.estimate, 1e-300),
            "delta": prediction.delta,
            "derived": dict(zip(self.derived_names, derived_z, strict=True)),
        }
        error = math.sqrt(mean**2 + std**2)
        return {"error": error, "estimate": prediction.error, "ratio": error / prediction.error}

    def jax_function(self):
        """The mean prediction as a JAX-traceable function ``x (D,) -> (spectra, derived)``
        (inputs in :attr:`inputs` order; spectra as :meth:`spectra` gives them)."""
        import jax.numpy as jnp

        if self.gp is None:
            raise ValueError("The emulator has no fit yet.")
        mean = self.gp.jax_mean()
        compression, k, names = self.compression, self.compression.n_components, self.derived_names
        lmax = dict(self.lmax)

        def function(x):
            out = mean(x)
            cls = compression.reconstruct(out[:k], xp=jnp)
            return {s: cls[s] for s in lmax}, {d: out[k + i] for i, d in enumerate(names)}

        return function

    def status(self) -> dict[str, Any]:
        """Numbers for a progress line: ``points``, ``failures``, ``components``, ``kappa``,
        ``held_out`` (comparisons in the calibration window), ``fits``."""
        return {
            "points": len(self.points),
            "failures": len(self.failures),
            "components": self.compression.n_components if self.compression else 0,
            "kappa": self.kappa,
            "kappa_loo": getattr(self, "kappa_loo", None),
            "kappa_held": getattr(self, "kappa_held", None),
            "held_out": len(self._held_out),
            "fits": self.fit_id,
        }
