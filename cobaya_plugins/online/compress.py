r"""Spectra ↔ a few coefficients: PCA in coordinates where distance is √Δχ².

Each spectrum is first put in a well-conditioned form u: log C_ell for the spectra that are
positive at every ell ≥ 2 of every training point (TT, EE, BB, φφ usually), C_ell itself
otherwise (TE and the other cross spectra change sign). The differences from the training mean
u_ref are then mapped, to first order, to differences of C_ell (δC = C_ref δu for a logarithm)
and whitened by the :class:`~cobaya_plugins.online.control.GaussianMetric`:

.. math:: y = W\,J\,(u - u_\mathrm{ref}),\qquad |y_1 - y_2|^2 \approx \Delta\chi^2(C_1, C_2).

PCA of the training y gives orthonormal directions ordered by how much Δχ² they carry; the
number kept is the smallest for which every training point is reconstructed within
``error_target`` (in √Δχ²), at most ``max_components`` (and fewer than the points). A new point's
part outside the kept directions (:meth:`Compression.coefficients` returns its norm) is the error
that no regression on the coefficients can remove. The fit is redone when the training set grows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cobaya_plugins.online.control import GaussianMetric

#: Spectra put in logarithm when positive at every training point.
LOG_CANDIDATES = ("tt", "ee", "bb", "pp")


class Compression:
    """A fitted PCA of spectra (module docstring); build it with :meth:`fit`.

    Attributes: ``metric`` (the :class:`GaussianMetric`), ``log_spectra`` (spectra in log),
    ``n_components`` K, ``residuals`` (the training points' norms outside the kept directions,
    shape (N,)), ``variances`` (the training coefficients' variances, shape (K,)).
    """

    metric: GaussianMetric
    log_spectra: tuple[str, ...]
    n_components: int
    residuals: np.ndarray
    variances: np.ndarray

    @classmethod
    def fit(
        cls,
        spectra: Mapping[str, np.ndarray],
        metric: GaussianMetric,
        error_target: float,
        max_components: int,
    ) -> Compression:
        """PCA of training spectra: ``spectra[s]`` has shape (N, >= lmax_s+1), C_ell from ell = 0
        in the metric's units, N >= 2. ``error_target``: the largest reconstruction error of a
        training point, in √Δχ²; ``max_components``: the most directions kept."""
        self = cls()
        self.metric = metric
        n = len(np.asarray(spectra[metric.spectra[0]]))
        if n < 2:
            raise ValueError("A PCA needs at least 2 training points.")
        self.log_spectra = tuple(
            s
            for s in metric.spectra
            if s in LOG_CANDIDATES and np.all(np.asarray(spectra[s])[:, 2 : metric.lmax[s] + 1] > 0)
        )
        self._is_log = metric.pack(
            {
                s: np.full(metric.lmax[s] + 1, s in self.log_spectra, dtype=float)
                for s in metric.lmax
            }
        ).astype(bool)
        u = self._to_u(metric.pack(spectra))
        self._u_ref = u.mean(axis=0)
        self._jacobian = np.where(self._is_log, np.exp(np.where(self._is_log, self._u_ref, 0)), 1.0)
        y = metric.whiten(self._jacobian * (u - self._u_ref))
        _, singular, vt = np.linalg.svd(y, full_matrices=False)
        coefficients = y @ vt.T  # (N, r)
        # Residual norm of each point with k components kept, k = 0..r.
        total = np.sum(y**2, axis=1)
        kept = np.concatenate([np.zeros((n, 1)), np.cumsum(coefficients**2, axis=1)], axis=1)
        residual = np.sqrt(np.maximum(total[:, None] - kept, 0.0))
        limit = min(max_components, n - 1, vt.shape[0])
        good = np.flatnonzero(residual.max(axis=0)[: limit + 1] <= error_target)
        k = int(good[0]) if len(good) else limit
        self.n_components = max(k, 1)
        self._components = vt[: self.n_components]  # (K, size), orthonormal rows
        self.residuals = residual[:, self.n_components]
        self.variances = np.var(coefficients[:, : self.n_components], axis=0)
        # u = u_ref + c @ basis  (first order; exact for the linear spectra)
        self._basis = metric.unwhiten(self._components) / self._jacobian
        self._training_coefficients = coefficients[:, : self.n_components]
        return self

    @property
    def training_coefficients(self) -> np.ndarray:
        """The training points' coefficients, shape (N, K)."""
        return self._training_coefficients

    def _to_u(self, packed: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self._is_log, np.log(np.where(self._is_log, packed, 1.0)), packed)

    def whitened(self, spectra: Mapping[str, np.ndarray]) -> np.ndarray:
        """The whitened coordinates y (..., size) of spectra (arrays (..., >= lmax+1)); NaN
        where a logarithm's spectrum is not positive."""
        return self.metric.whiten(
            self._jacobian * (self._to_u(self.metric.pack(spectra)) - self._u_ref)
        )

    def coefficients(self, spectra: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(coefficients (..., K), norm of the part outside the kept directions (...,)) of
        spectra."""
        y = self.whitened(spectra)
        c = y @ self._components.T
        outside = np.sqrt(np.maximum(np.sum(y**2, axis=-1) - np.sum(c**2, axis=-1), 0.0))
        return c, outside

    def project(self, y: np.ndarray) -> np.ndarray:
        """Coefficients (..., K) of whitened coordinates y (..., size)."""
        return y @ self._components.T

    def expand(self, coefficients: np.ndarray) -> np.ndarray:
        """Whitened coordinates (..., size) of coefficients (..., K)."""
        return coefficients @ self._components

    def reconstruct(self, coefficients: Any, xp: Any = np) -> dict[str, Any]:
        """Spectra (arrays (..., lmax_s+1) from ell = 0, zero at ell < 2) of coefficients
        (..., K); ``xp``: ``numpy`` or ``jax.numpy`` (then traceable)."""
        u = self._u_ref + coefficients @ self._basis
        packed = xp.where(self._is_log, xp.exp(xp.where(self._is_log, u, 0.0)), u)
        return self.metric.unpack(packed, xp=xp)
