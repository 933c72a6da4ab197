"""The online emulator: learn exact calls, predict spectra and derived parameters with an error.

:class:`Emulator` puts the pieces together (no Cobaya here; the Cobaya Theory is
:class:`cobaya_plugins.theories.OnlineEmulator`):

* :meth:`Emulator.add` learns exact calls: once there are ``min_points``, a **fit** (PCA of the
  spectra, :mod:`.compress`; GPs of the coefficients and derived parameters, :mod:`.regress`),
  redone when the training set has grown by ``refit_growth`` since the last one; in between,
  each new point is an **update**: projected on the current PCA directions (the norm of what
  they miss is kept as an estimate of that error) and conditioned on by the GPs with their
  hyperparameters unchanged (milliseconds).
* :meth:`Emulator.predict` gives the mean spectra and derived parameters at a point with the
  calibrated error ``κ ε`` in Δ log L (:mod:`.control`) and whether it is within the tolerance
  there (``accurate``). It is never "accurate" before the first fit, where an input that was
  constant in training has another value, where the point is closer to a point at which the exact
  code failed than to any point where it succeeded, or where a derived parameter's calibrated
  error exceeds ``derived_tolerance`` times its spread over the training points.
* :meth:`Emulator.check` compares a prediction with the exact result at the same point (made
  before learning it): these out-of-sample comparisons, with the leave-one-out ones of the
  training set, set κ (:func:`.control.calibration_factor`).
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

#: The smallest calibration factor used.
KAPPA_FLOOR = 0.1
#: Out-of-sample comparisons kept for the calibration (the most recent).
HELD_OUT_WINDOW = 50
#: Out-of-sample comparisons needed before they enter the calibration.
HELD_OUT_MIN = 5
#: New points' errors outside the PCA directions kept for the estimate t (the most recent).
OUTSIDE_WINDOW = 20


@dataclass
class Prediction:
    """The emulator at one point: ``coefficients`` and their ``variances`` (K,), the derived
    parameters (``derived``: name -> mean, ``derived_errors``: name -> calibrated error),
    ``estimate`` ε (uncalibrated rms Δ log L), ``error`` = κ ε, the ``tolerance`` there,
    ``delta`` (estimated Δ log L below the best point), ``accurate`` and, when not, ``reason``.
    :meth:`Emulator.spectra` gives the mean spectra."""

    x: np.ndarray
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros(0))
    variances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    variances_derived: np.ndarray = field(default_factory=lambda: np.zeros(0))
    derived: dict[str, float] = field(default_factory=dict)
    derived_errors: dict[str, float] = field(default_factory=dict)
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
        self.compression: Compression | None = None
        self.gp: GaussianProcesses | None = None
        self.kappa = DEFAULT_KAPPA
        self.kappa_derived = DEFAULT_KAPPA
        self.fit_id = 0
        self._n_at_fit = 0
        self._x = np.zeros((0, len(self.inputs)))
        self._outputs = np.zeros((0, 0))
        self._held_out: deque[tuple[float, float, float]] = deque(maxlen=HELD_OUT_WINDOW)
        self._held_out_derived: deque[np.ndarray] = deque(maxlen=HELD_OUT_WINDOW)
        self._outside: deque[float] = deque(maxlen=OUTSIDE_WINDOW)
        self._best: tuple[float, dict[str, np.ndarray]] | None = None
        self._best_c: np.ndarray | None = None
        self._derived_scale = np.zeros(0)
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
            else:
                new.append(point)
        if not new:
            return
        self.points.extend(new)
        self._x = np.array([[p.params[n] for n in self.inputs] for p in self.points])
        n = len(self.points)
        if n < self.min_points:
            return
        refit = (
            self.gp is None
            or n >= self._n_at_fit * (1 + self.refit_growth)
            or not all(self.gp.in_domain(x) for x in self._x[-len(new) :])
        )
        if refit:
            self._fit()
            self.last_action = "fit"
        else:
            c, outside = self.compression.coefficients(self._stack(new))
            self._outside.extend(np.atleast_1d(outside).tolist())
            rows = np.hstack([np.atleast_2d(c), self._derived_matrix(new)])
            self._outputs = np.vstack([self._outputs, rows])
            self.gp = self.gp.condition(self._x, self._outputs)
            self.last_action = "update"
        self.fit_id += 1
        self._calibrate()
        self.last_seconds = time.perf_counter() - start

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

    def _calibrate(self) -> None:
        """κ from the leave-one-out predictions and the out-of-sample comparisons; κ_derived
        from the derived parameters' leave-one-out predictions."""
        k = self.compression.n_components
        true, mean, var = self.gp.leave_one_out()
        delta = true[:, :k] - mean[:, :k]
        offsets = mean[:, :k] - self._best_coefficients()
        estimates = error_estimate(var[:, :k], offsets)
        means = -np.sum(offsets * delta, axis=1) - 0.5 * np.sum(delta**2, axis=1)
        stds = np.sqrt(np.sum(delta**2, axis=1))
        self.kappa_loo = calibration_factor(means, stds, np.maximum(estimates, 1e-300))
        self.kappa_held = None
        if len(self._held_out) >= HELD_OUT_MIN:
            held = np.array(self._held_out)
            self.kappa_held = calibration_factor(held[:, 0], held[:, 1], held[:, 2])
        self.kappa = max(KAPPA_FLOOR, self.kappa_loo, self.kappa_held or 0.0)
        if self.derived_names:
            z = (np.abs(true[:, k:] - mean[:, k:]) / np.sqrt(var[:, k:])).ravel()
            kappas = [1.96, float(np.quantile(z, 0.95))]
            if len(self._held_out_derived) >= HELD_OUT_MIN:
                kappas.append(float(np.quantile(np.concatenate(self._held_out_derived), 0.95)))
            self.kappa_derived = max(kappas)

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
        near = self.near if self.near is not None else near_delta(int(self.gp.varying.sum()))
        tolerance = tolerance_at(delta, self.tolerance, near, self.slope)
        derived = dict(zip(self.derived_names, mean[k:].tolist(), strict=True))
        derived_errors = dict(
            zip(self.derived_names, (self.kappa_derived * np.sqrt(var[k:])).tolist(), strict=True)
        )
        prediction = Prediction(
            x, c, s2, var[k:], derived, derived_errors, estimate, self.kappa * estimate,
            tolerance, delta, fit_id=self.fit_id,
        )  # fmt: skip
        prediction.reason = self._refusal(prediction, var[k:])
        prediction.accurate = not prediction.reason
        return prediction

    def _refusal(self, prediction: Prediction, derived_var: np.ndarray) -> str:
        if not self.gp.in_domain(prediction.x):
            return "an input constant over the training points has another value"
        if not prediction.error <= prediction.tolerance:
            return f"error {prediction.error:.3g} > tolerance {prediction.tolerance:.3g}"
        bad = [
            d
            for d, err, scale in zip(
                self.derived_names, prediction.derived_errors.values(), self._derived_scale,
                strict=True,
            )
            if not err <= self.derived_tolerance * scale
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
        """Compare a prediction with the exact result at its point (before learning the point):
        the comparison enters the calibration. Returns ``{"error": realised rms Δ log L,
        "estimate": κ ε, "ratio": error / (κ ε)}``; empty when there is nothing to compare."""
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
        self._held_out.append((mean, std, max(prediction.estimate, 1e-300)))
        if self.derived_names:
            sigma = np.sqrt(prediction.variances_derived)
            errors = np.array(
                [point.derived[d] - prediction.derived[d] for d in self.derived_names]
            )
            self._held_out_derived.append(np.abs(errors) / np.maximum(sigma, 1e-300))
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
