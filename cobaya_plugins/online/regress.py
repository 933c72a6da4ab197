r"""Gaussian processes: several outputs from the same inputs, each with an uncertainty.

One independent GP per output column (e.g. one per PCA coefficient, one per derived parameter),
all sharing the training inputs:

* **inputs** whitened by the training points' mean and covariance (z = W(x - mean), so the
  degenerate directions of a posterior become unit directions), constant inputs left out;
* **outputs** standardised per column: mean 0, and divided by the spread of what a linear fit
  leaves (so that the kernel's amplitude and jitter are measured against the non-linear part,
  often 10-1000 times smaller than the linear trend over a burn-in);
* **mean** linear in the whitened inputs, its coefficients marginalised under a flat prior
  (Rasmussen & Williams 2006, §2.7): the spectra are nearly linear in the parameters over a
  posterior, so the GP only learns what is not, and its variance grows (quadratically) away from
  the training points, where the linear coefficients' uncertainty takes over;
* **kernel** ARD Matérn-5/2 (default) or squared exponential, with per-output amplitude
  σ_f ≤ 10, a length scale per input, and a white-noise variance σ_f²·r with r ≥ 1e-8 (a jitter
  that keeps the kernel matrix's condition number below ~1e9, or the exact code's own numerical
  noise when it has some);
* **hyperparameters** maximise the sum of the outputs' restricted log marginal likelihoods
  (:func:`restricted_likelihood`; independent, so each output gets its own optimum) with scipy's
  L-BFGS-B on the analytic gradient, output by output, from the previous fit's values when there
  is one, on at
  most ``fit_points`` training points (a random subset: the cost is cubic in their number); the
  training set is then conditioned on in full. (The gradient is written out in numpy: JAX 0.10's
  CPU gradient of a batched Cholesky solve took 5-200 ms where this takes ~1 ms, measured on
  8 outputs × 32 points.)

:meth:`GaussianProcesses.predict` (numpy, ~1 ms for 30 outputs and 300 points) gives the mean
and variance of the outputs (the variance includes the noise term: it is the error against a new
exact call); :meth:`~GaussianProcesses.jax_mean` is the same mean as a JAX-traceable function
(for the gradient samplers); :meth:`~GaussianProcesses.leave_one_out` the closed-form
leave-one-out predictions (Rasmussen & Williams 2006, eq. 5.12, with K⁻¹ replaced by the
precision P that marginalises the mean) used to calibrate the uncertainty.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cobaya_plugins.threads import BlasThreads

#: Kernels understood by :class:`GaussianProcesses`.
KERNELS = ("matern52", "rbf")
#: Bounds of the hyperparameters (natural log): amplitude σ_f (standardised outputs), length
#: scales (whitened inputs), noise ratio r = σ_n²/σ_f².
LOG_AMPLITUDE = (math.log(1e-3), math.log(10.0))
LOG_LENGTH = (math.log(5e-2), math.log(1e3))
LOG_NOISE = (math.log(1e-8), math.log(1.0))
#: Starting hyperparameters of a first fit: σ_f, length scale, noise ratio.
START = (1.0, 2.0, 1e-6)


def _kernel_of_r2(r2: Any, kernel: str, xp: Any) -> Any:
    """Unit-amplitude kernel of the scaled squared distance r²."""
    if kernel == "rbf":
        return xp.exp(-0.5 * r2)
    r = xp.sqrt(xp.maximum(r2, 1e-300))
    s5 = math.sqrt(5.0) * r
    return (1 + s5 + 5.0 / 3.0 * r2) * xp.exp(-s5)


def _kernel_derivative(r2: np.ndarray, kernel: str) -> np.ndarray:
    """d k / d r² of the unit-amplitude kernel."""
    if kernel == "rbf":
        return -0.5 * np.exp(-0.5 * r2)
    s5 = np.sqrt(5.0 * r2)
    return -5.0 / 6.0 * (1 + s5) * np.exp(-s5)


def restricted_likelihood(
    theta: np.ndarray, z: np.ndarray, ys: np.ndarray, kernel: str
) -> tuple[float, np.ndarray]:
    """Minus the restricted log marginal likelihood, summed over outputs, and its gradient.

    ``theta``: (m, d+2) log σ_f, log length scales, log noise ratio; ``z``: whitened inputs
    (N, d); ``ys``: standardised outputs (N, m). With K = σ_f²(k + r I), the linear mean
    marginalised (H = (1, z)), P = K⁻¹ - K⁻¹H(HᵀK⁻¹H)⁻¹HᵀK⁻¹ and α = P y, the value is
    ½ yᵀα + ½ log|K| + ½ log|HᵀK⁻¹H| (R&W eq. 2.45 without its constant) and its derivative by
    θ_j is ½ tr((P - ααᵀ) ∂K/∂θ_j). Returns (value, gradient (m, d+2)).
    """
    d = z.shape[1]
    amp2 = np.exp(2 * theta[:, 0])
    lengths = np.exp(theta[:, 1 : 1 + d])
    noise = np.exp(theta[:, -1])
    diff2 = (z[:, None, :] - z[None, :, :]) ** 2  # (N, N, d)
    scaled = diff2[None, :, :, :] / lengths[:, None, None, :] ** 2  # (m, N, N, d)
    r2 = scaled.sum(axis=3)
    unit = _kernel_of_r2(r2, kernel, np)
    n = len(z)
    k = amp2[:, None, None] * (unit + noise[:, None, None] * np.eye(n))
    chol = np.linalg.cholesky(k)
    k_inv = np.linalg.inv(k)
    h = np.hstack([np.ones((n, 1)), z])
    k_inv_h = k_inv @ h
    a = np.einsum("np,mnq->mpq", h, k_inv_h)
    chol_a = np.linalg.cholesky(a)
    a_inv = np.linalg.inv(a)
    p = k_inv - np.einsum("mip,mpq,mjq->mij", k_inv_h, a_inv, k_inv_h)
    alpha = np.einsum("mij,jm->mi", p, ys)
    value = (
        0.5 * np.sum(alpha * ys.T)
        + np.sum(np.log(np.einsum("mii->mi", chol)))
        + np.sum(np.log(np.einsum("mii->mi", chol_a)))
    )
    w = 0.5 * (p - alpha[:, :, None] * alpha[:, None, :])  # (m, N, N)
    grad = np.empty_like(theta)
    grad[:, 0] = 2 * np.sum(w * k, axis=(1, 2))
    grad[:, -1] = amp2 * noise * np.einsum("mii->m", w)
    dk = amp2[:, None, None] * _kernel_derivative(r2, kernel)  # ∂K/∂r²
    # ∂r²/∂log l_j = -2 (Δz_j / l_j)²
    grad[:, 1 : 1 + d] = -2 * np.einsum("mij,mijd->md", w * dk, scaled)
    return float(value), grad


class GaussianProcesses:
    """Independent GPs for the columns of an output matrix (module docstring); see :meth:`fit`.

    Attributes: ``kernel``, ``hyperparameters`` (shape (m, d+2): log σ_f, log length scales,
    log noise ratio, in standardised/whitened units), ``varying`` (bool (D,): the inputs that
    vary over the training set; the others must keep their training value), ``n_points``.
    """

    kernel: str
    hyperparameters: np.ndarray
    varying: np.ndarray
    n_points: int

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        kernel: str = "matern52",
        start: np.ndarray | None = None,
        fit_points: int = 100,
        max_iterations: int = 100,
        seed: int = 0,
    ) -> GaussianProcesses:
        """Fit on inputs ``x`` (N, D) and outputs ``y`` (N, m), N >= 2: input whitening,
        output scaling, hyperparameters (L-BFGS-B from ``start``, shape (m, d+2) for the d
        varying inputs, or :data:`START`), then conditioning on every point."""
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}.")
        x, y = np.atleast_2d(np.asarray(x, dtype=float)), np.asarray(y, dtype=float)
        y = y.reshape(len(x), -1)
        if len(x) < 2:
            raise ValueError("A Gaussian process needs at least 2 training points.")
        self = cls()
        self.kernel = kernel
        self.varying = np.ptp(x, axis=0) > 0
        self._fixed_values = x[0, ~self.varying].copy()
        xv = x[:, self.varying]
        d = xv.shape[1]
        self._x_mean = xv.mean(axis=0)
        # standardise first, then whiten the correlations: inputs of very different scales
        # (A_s ~ 1e-9 beside H0 ~ 70) would otherwise fall below the eigenvalue floor and vanish
        spread = xv.std(axis=0)
        corr = np.atleast_2d(np.corrcoef(xv, rowvar=False)) if d > 1 else np.ones((d, d))
        values, vectors = np.linalg.eigh(corr) if d else (np.zeros(0), np.zeros((0, 0)))
        floor = 1e-12 * max(values.max(initial=0.0), 1e-300)
        # z = W (x - mean)
        self._whitening = (vectors / np.sqrt(np.maximum(values, floor))).T / spread
        z = self._whiten(xv)
        self._y_mean = y.mean(axis=0)
        self._y_scale = self._residual_scale(z, y)
        ys = (y - self._y_mean) / self._y_scale
        m = ys.shape[1]
        if start is None or np.shape(start) != (m, d + 2):
            start = np.tile(
                [math.log(START[0]), *[math.log(START[1])] * d, math.log(START[2])], (m, 1)
            )
        theta0 = np.clip(start, *np.transpose(self._bounds(d)))
        subset = np.arange(len(z))
        if len(z) > fit_points:
            subset = np.sort(np.random.default_rng(seed).choice(len(z), fit_points, replace=False))
        z_fit, ys_fit = z[subset], ys[subset]

        hyperparameters, iterations = np.empty_like(theta0), []
        with BlasThreads(1):  # small matrices: one BLAS thread is 5-10x faster on busy cores
            for j in range(m):
                hyperparameters[j], nit = self._fit_one(theta0[j], z_fit, ys_fit[:, j], kernel,
                                                        max_iterations)  # fmt: skip
                iterations.append(nit)
            self.hyperparameters = hyperparameters
            #: L-BFGS-B iterations of each output's fit.
            self.optimizer_iterations = iterations
            self._condition(z, ys)
        return self

    def _fit_one(
        self, theta0: np.ndarray, z: np.ndarray, y: np.ndarray, kernel: str, max_iterations: int
    ) -> tuple[np.ndarray, int]:
        """One output's hyperparameters (the outputs are independent: one small problem each
        converges fastest) and the L-BFGS-B iterations it took."""
        from scipy.optimize import minimize

        def fun(flat):
            try:
                value, grad = restricted_likelihood(flat[None, :], z, y[:, None], kernel)
            except np.linalg.LinAlgError:
                return 1e300, np.zeros_like(flat)
            if not np.isfinite(value) or not np.all(np.isfinite(grad)):
                return 1e300, np.zeros_like(flat)
            return value, grad[0]

        result = minimize(
            fun, theta0, jac=True, method="L-BFGS-B", bounds=self._bounds(len(theta0) - 2),
            options={"maxiter": max_iterations, "ftol": 1e-7},
        )  # fmt: skip
        return result.x, int(result.nit)

    @staticmethod
    def _residual_scale(z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per output, the spread of what a linear fit in z leaves (the part the kernel models;
        the linear part has a flat prior), or the output's spread when there are too few points
        for that; 1 where both are zero. Keeps the jitter floor relative to the small
        non-linear part, not to the (often far larger) linear trend over a burn-in."""
        h = GaussianProcesses._basis(z)
        scale = y.std(axis=0)
        if len(z) > h.shape[1] + 1:
            coefficients, *_ = np.linalg.lstsq(h, y, rcond=None)
            residual = (y - h @ coefficients).std(axis=0)
            scale = np.where(residual > 1e-12 * scale, residual, scale)
        return np.where(scale > 0, scale, 1.0)

    @staticmethod
    def _bounds(d: int) -> list[tuple[float, float]]:
        return [LOG_AMPLITUDE, *[LOG_LENGTH] * d, LOG_NOISE]

    def _whiten(self, xv: np.ndarray) -> np.ndarray:
        return (xv - self._x_mean) @ self._whitening.T

    def _scaled_r2(self, z1: np.ndarray, z2: np.ndarray) -> np.ndarray:
        """Scaled squared distances (m, n1, n2) for every output's length scales."""
        lengths = np.exp(self.hyperparameters[:, 1:-1])  # (m, d)
        a = z1[None, :, :] / lengths[:, None, :]
        b = z2[None, :, :] / lengths[:, None, :]
        sq_a, sq_b = np.sum(a**2, axis=2), np.sum(b**2, axis=2)
        return np.maximum(sq_a[:, :, None] + sq_b[:, None, :] - 2 * a @ np.swapaxes(b, 1, 2), 0)

    def _condition(self, z: np.ndarray, ys: np.ndarray) -> None:
        """Factorise every output's kernel matrix on the standardised training set, with the
        linear mean's coefficients marginalised (flat prior)."""
        self.n_points = len(z)
        self._z = z
        self._ys = ys
        amp2 = np.exp(2 * self.hyperparameters[:, 0])
        noise = np.exp(self.hyperparameters[:, -1])
        k = _kernel_of_r2(self._scaled_r2(z, z), self.kernel, np)
        k = amp2[:, None, None] * (k + noise[:, None, None] * np.eye(len(z)))
        k_inv = np.linalg.inv(k)
        self._k_inv = 0.5 * (k_inv + np.swapaxes(k_inv, 1, 2))
        h = self._basis(z)  # (N, p)
        self._k_inv_h = self._k_inv @ h  # (m, N, p)
        a = np.einsum("np,mnq->mpq", h, self._k_inv_h)
        self._a_inv = np.linalg.inv(a)
        k_inv_y = np.einsum("mij,jm->mi", self._k_inv, ys)
        self._beta = np.einsum("mpq,np,mn->mq", self._a_inv, h, k_inv_y)  # (m, p)
        self._alpha = np.einsum("mij,jm->mi", self._k_inv, ys - (h @ self._beta.T))
        # P = K^-1 - K^-1 H A^-1 H^T K^-1: the leave-one-out precision with the mean marginalised
        self._p_diag = np.einsum("mii->mi", self._k_inv) - np.einsum(
            "mip,mpq,miq->mi", self._k_inv_h, self._a_inv, self._k_inv_h
        )

    @staticmethod
    def _basis(z: np.ndarray) -> np.ndarray:
        """The linear mean's basis (1, z), shape (n, d+1)."""
        return np.hstack([np.ones((len(z), 1)), z])

    def condition(self, x: np.ndarray, y: np.ndarray) -> GaussianProcesses:
        """A copy conditioned on a new training set (N, D), (N, m), with the same
        hyperparameters, input whitening and output scaling (a cheap update between fits).
        Inputs that were constant must still have their value."""
        x, y = np.atleast_2d(np.asarray(x, dtype=float)), np.asarray(y, dtype=float)
        if np.any(x[:, ~self.varying] != self._fixed_values):
            raise ValueError("An input constant in the fit changed: refit instead.")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._condition(
            self._whiten(x[:, self.varying]), (y.reshape(len(x), -1) - self._y_mean) / self._y_scale
        )
        return new

    def whiten_inputs(self, x: np.ndarray) -> np.ndarray:
        """Whitened coordinates (n, d) of inputs ``x`` (n, D) (the constant inputs left out)."""
        return self._whiten(np.atleast_2d(np.asarray(x, dtype=float))[:, self.varying])

    def in_domain(self, x: np.ndarray) -> bool:
        """Whether the inputs constant in the training set have their training value at ``x``
        (D,): elsewhere the GP knows nothing."""
        return bool(np.all(np.asarray(x, dtype=float)[~self.varying] == self._fixed_values))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance (each (m,)) of the outputs at one input ``x`` (D,), in output units;
        the variance includes the noise term. ``x`` outside the domain (:meth:`in_domain`) gives
        infinite variances."""
        x = np.asarray(x, dtype=float)
        z = self._whiten(x[self.varying][None, :])
        amp2 = np.exp(2 * self.hyperparameters[:, 0])
        noise = np.exp(self.hyperparameters[:, -1])
        k = amp2[:, None] * _kernel_of_r2(self._scaled_r2(z, self._z)[:, 0, :], self.kernel, np)
        h = self._basis(z)[0]
        mean = np.sum(k * self._alpha, axis=1) + self._beta @ h
        reduction = np.einsum("mi,mij,mj->m", k, self._k_inv, k)
        r = h[None, :] - np.einsum("mip,mi->mp", self._k_inv_h, k)
        growth = np.einsum("mp,mpq,mq->m", r, self._a_inv, r)
        variance = np.maximum(amp2 * (1 + noise) - reduction, amp2 * noise) + np.maximum(growth, 0)
        if not self.in_domain(x):
            variance = np.full_like(variance, np.inf)
        return self._y_mean + self._y_scale * mean, self._y_scale**2 * variance

    def leave_one_out(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(true outputs, leave-one-out means, leave-one-out variances), each (N, m), in output
        units: each training point predicted from all the others with the same hyperparameters."""
        loo_mean = self._ys.T - self._alpha / self._p_diag
        loo_var = 1.0 / self._p_diag
        scale = self._y_scale[:, None]
        return (
            (self._y_mean[:, None] + scale * self._ys.T).T,
            (self._y_mean[:, None] + scale * loo_mean).T,
            (scale**2 * loo_var).T,
        )

    def jax_mean(self):
        """The mean prediction as a JAX-traceable function ``x (D,) -> (m,)`` (float64)."""
        import jax.numpy as jnp

        from cobaya_plugins.jax_compile import enable_x64

        enable_x64("the online emulator's JAX form")
        varying = np.flatnonzero(self.varying)
        x_mean, whitening = jnp.asarray(self._x_mean), jnp.asarray(self._whitening)
        lengths = jnp.asarray(np.exp(self.hyperparameters[:, 1:-1]))
        amp2 = jnp.asarray(np.exp(2 * self.hyperparameters[:, 0]))
        z_train, alpha = jnp.asarray(self._z), jnp.asarray(self._alpha)
        beta = jnp.asarray(self._beta)
        y_mean, y_scale, kernel = jnp.asarray(self._y_mean), jnp.asarray(self._y_scale), self.kernel

        def mean(x):
            z = whitening @ (jnp.asarray(x)[varying] - x_mean)
            diff = (z[None, None, :] - z_train[None, :, :]) / lengths[:, None, :]
            k = amp2[:, None] * _kernel_of_r2(jnp.sum(diff**2, axis=2), kernel, jnp)
            linear = beta[:, 0] + beta[:, 1:] @ z
            return y_mean + y_scale * (jnp.sum(k * alpha, axis=1) + linear)

        return mean
