r"""The online emulator's error in what matters, and the rule "serve or call the exact code".

**The metric.** How much a change δC of the spectra moves a CMB log-likelihood is measured with
the Gaussian likelihood of a Planck-like experiment (:class:`GaussianMetric`): at each ell the
covariance of the measured spectra is the Knox formula

.. math::

    \mathrm{Cov}(\hat C^{XY}_\ell, \hat C^{WZ}_\ell) = \frac{\tilde C^{XW}\tilde C^{YZ}
    + \tilde C^{XZ}\tilde C^{YW}}{(2\ell+1) f_\mathrm{sky}},\qquad \tilde C = C + N,

over the spectra the likelihoods request, each up to its own lmax (φφ independent of the CMB
fields, its variance 2(C+N)²/((2ell+1) f_sky)); |δC|² = Σ_ell δC_ellᵀ Cov_ell⁻¹ δC_ell. The
noise is Planck HFI's (:mod:`cobaya_plugins.mock.instrument`: 100, 143, 217 GHz combined,
half-mission crosses), a lensing reconstruction noise [L(L+1)]²N_L/2π = 1.2e-7 (about Planck
2018's minimum-variance one at L ≈ 60, flat: conservative at high L), and f_sky = 0.7 (more than
plik's masks: conservative). It is a proxy that does not know the run's likelihoods; the
exactness report checks the result with the real ones.

**From the spectra's error to Δ log L.** For a Gaussian likelihood with data d,
log L(C) = -|C - d|²/2, so an error δ of the predicted spectra changes it by

.. math:: \Delta\log L = -(C - d)\cdot\delta - |\delta|^2/2,
          \qquad C - d = (C - C_\mathrm{best}) + r,

with r the data's residual at the best fit (unit variance per mode in the metric). The emulator
predicts δ in coordinates where the metric is Euclidean (:mod:`.compress`), with independent
Gaussian errors of variances σ_k² per coefficient; averaging over δ and r gives the mean square

.. math:: \epsilon^2 = \sum_k \sigma_k^2\,(1 + \Delta_k^2) + t^2
          + \tfrac14\Big(\sum_k\sigma_k^2 + t^2\Big)^2,

with Δ_k the coefficients of C - C_best and t² the variance not captured by the coefficients
(:func:`error_estimate`). Far from the best point Δ grows, and so does ε.

**Calibration.** The GP's σ_k are often optimistic. On points where the truth is known and the
emulator had not learned it (leave-one-out of the training set, and exact calls made when it was
not trusted), δ is known, so Δ log L ~ N(m, s²) with m = -Δ·δ - |δ|²/2, s = |δ| over the data
residual. :func:`calibration_factor` finds the κ for which the mean probability of |Δ log L| >
κ ε over those points is 5 %: the claim "|Δ log L| ≤ κ ε" is then right 95 % of the time there.

**The rule** (:func:`tolerance_at`): serve the prediction when κ ε ≤ the tolerance, which is
``tolerance`` near the best point seen so far (Δχ²/2 from it below ``near``, by default the
99 % bulk ½χ²_{d, 0.99} of a d-parameter Gaussian posterior) and grows by ``slope`` per unit of
Δ log L beyond it (points far in the tail are rarely accepted, so their error matters less).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Sky fraction of the metric (more than plik's masks, so the metric is conservative).
FSKY = 0.7
#: Lensing reconstruction noise of the metric, [L(L+1)]² N_L / 2π (flat).
LENSING_NOISE = 1.2e-7
#: Spectra the metric knows, in their canonical order.
SPECTRA = ("tt", "te", "ee", "bb", "tb", "eb", "pp")
#: Fraction of wrong "accurate" claims the calibration allows.
WRONG_CLAIMS = 0.05
#: Calibration factor used before there are points to calibrate on.
DEFAULT_KAPPA = 2.0

_ARCMIN = math.pi / 180 / 60


def noise_spectra(noise: str | Mapping[str, float], lmax: int) -> dict[str, np.ndarray]:
    """Noise power N_ell of the fields ``t``, ``e`` (= ``b``) in µK² and ``p`` (φφ, raw),
    ell = 0..``lmax``.

    ``noise``: ``"planck"`` (module docstring), ``"none"`` (cosmic variance only), or a mapping
    ``{T: µK·arcmin, P: µK·arcmin, beam: FWHM arcmin, lensing: [L(L+1)]²N_L/2π}`` (white noise,
    Gaussian beam; missing keys: no noise for that field, no beam). Raises ``ValueError`` for
    anything else.
    """
    ell = np.arange(lmax + 1, dtype=float)
    llp1 = ell * (ell + 1)
    lensing = np.zeros(lmax + 1)
    if noise == "none":
        zero = np.zeros(lmax + 1)
        return {"t": zero, "e": zero, "b": zero, "p": zero}
    if noise == "planck":
        from cobaya_plugins.mock.instrument import combined_noise_cl

        lensing[1:] = LENSING_NOISE * 2 * np.pi / llp1[1:] ** 2
        polar = combined_noise_cl(True, ell)
        return {"t": combined_noise_cl(False, ell), "e": polar, "b": polar, "p": lensing}
    if isinstance(noise, Mapping):
        unknown = set(noise) - {"T", "P", "beam", "lensing"}
        values = {k: noise.get(k, 0.0) for k in ("T", "P", "beam", "lensing")}
        if unknown or not all(isinstance(v, int | float) and v >= 0 for v in values.values()):
            raise ValueError(
                f"noise must be 'planck', 'none' or a mapping with keys T, P (µK·arcmin), beam "
                f"(FWHM arcmin), lensing ([L(L+1)]²N_L/2π), each >= 0; got {dict(noise)!r}."
            )
        sigma = values["beam"] * _ARCMIN / math.sqrt(8 * math.log(2))
        beam = np.exp(llp1 * sigma**2)
        lensing[1:] = values["lensing"] * 2 * np.pi / llp1[1:] ** 2
        polar = (values["P"] * _ARCMIN) ** 2 * beam
        return {"t": (values["T"] * _ARCMIN) ** 2 * beam, "e": polar, "b": polar, "p": lensing}
    raise ValueError(
        f"noise must be 'planck', 'none' or a mapping {{T: , P: , beam: , lensing: }}; got "
        f"{noise!r}."
    )


class GaussianMetric:
    """The Gaussian Δχ² of spectra differences (module docstring), and its whitening.

    ``lmax``: spectrum name (among :data:`SPECTRA`) -> highest ell used (the metric runs over
    ell = 2..lmax of each). ``reference``: C_ell in µK² (φφ raw) from ell = 0 of the
    requested spectra and of the auto spectra of their CMB fields (e.g. ``tt`` and ``ee`` for
    ``te``), at which the covariance is evaluated. ``fsky``: sky fraction; ``noise``: see
    :func:`noise_spectra`.

    A difference is handled as a flat vector ("packed": for each block of ells with the same
    spectra, ell by ell, the spectra in canonical order); :meth:`pack` and :meth:`unpack` convert,
    :meth:`whiten` maps it to coordinates y where |y|² is its Δχ².
    """

    def __init__(
        self,
        lmax: Mapping[str, int],
        reference: Mapping[str, np.ndarray],
        fsky: float = FSKY,
        noise: str | Mapping[str, float] = "planck",
    ):
        unknown = [s for s in lmax if s not in SPECTRA]
        if unknown:
            raise ValueError(f"Unknown spectra {unknown}; the metric knows {', '.join(SPECTRA)}.")
        if not 0 < fsky <= 1:
            raise ValueError(f"fsky must be in (0, 1], got {fsky!r}.")
        self.lmax = {s: int(lmax[s]) for s in SPECTRA if s in lmax and lmax[s] >= 2}
        self.spectra = list(self.lmax)
        top = max(self.lmax.values())
        n = noise_spectra(noise, top)
        fields = {f for s in self.spectra if s != "pp" for f in s}
        total = {}
        for f in fields:
            need = max(self.lmax[s] for s in self.spectra if s != "pp" and f in s)
            auto = reference.get(f + f)
            if auto is None or len(auto) < need + 1:
                raise ValueError(
                    f"The metric needs the reference {f + f!r} spectrum up to ell = {need}."
                )
            total[f + f] = np.zeros(top + 1)
            total[f + f][: need + 1] = np.asarray(auto[: need + 1], dtype=float) + n[f][: need + 1]
        for s in self.spectra:
            if s not in total:
                total[s] = np.zeros(top + 1)
                total[s][: self.lmax[s] + 1] = np.asarray(reference[s][: self.lmax[s] + 1])
                if s == "pp":
                    total[s] += n["p"]
        # Blocks of ells with the same active spectra.
        edges = sorted({2, *(m + 1 for m in self.lmax.values())})
        self._blocks = []  # (ell array, active spectra, L (n,k,k), inverse of L^T (n,k,k))
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            active = [s for s in self.spectra if self.lmax[s] >= lo]
            ell = np.arange(lo, hi)
            cov = self._covariance(active, ell, total, fsky)
            fisher = np.linalg.inv(cov)
            chol = np.linalg.cholesky(0.5 * (fisher + np.swapaxes(fisher, 1, 2)))
            self._blocks.append((ell, active, chol, np.linalg.inv(np.swapaxes(chol, 1, 2))))
        # Positions of each spectrum's ell = 2..lmax in the packed vector.
        self._positions: dict[str, np.ndarray] = {s: [] for s in self.spectra}
        start = 0
        for ell, active, _, _ in self._blocks:
            k = len(active)
            for j, s in enumerate(active):
                self._positions[s].append(start + j + k * np.arange(len(ell)))
            start += k * len(ell)
        self._positions = {s: np.concatenate(p) for s, p in self._positions.items()}
        #: Length of the packed vector.
        self.size = start

    @staticmethod
    def _covariance(active: list[str], ell: np.ndarray, total: dict, fsky: float) -> np.ndarray:
        """Knox covariance (n_ell, k, k) of the active spectra (φφ uncorrelated with the CMB)."""

        def c(x: str, y: str) -> np.ndarray:
            key = x + y if x + y in total else y + x
            return total[key][ell] if key in total else np.zeros(len(ell))

        modes = (2 * ell + 1) * fsky
        cov = np.zeros((len(ell), len(active), len(active)))
        for i, a in enumerate(active):
            for j, b in enumerate(active):
                if (a == "pp") != (b == "pp"):
                    continue
                if a == "pp":
                    cov[:, i, j] = 2 * total["pp"][ell] ** 2 / modes
                    continue
                (x, y), (w, z) = a, b
                cov[:, i, j] = (c(x, w) * c(y, z) + c(x, z) * c(y, w)) / modes
        return cov

    def pack(self, spectra: Mapping[str, np.ndarray]) -> np.ndarray:
        """The packed vector (..., size) of arrays (..., >= lmax+1) from ell = 0 by spectrum."""
        first = np.asarray(spectra[self.spectra[0]])
        out = np.zeros(first.shape[:-1] + (self.size,))
        for s in self.spectra:
            out[..., self._positions[s]] = np.asarray(spectra[s])[..., 2 : self.lmax[s] + 1]
        return out

    def unpack(self, packed: np.ndarray, xp: Any = np) -> dict[str, Any]:
        """Arrays (..., lmax_s+1) from ell = 0 (zeros at ell < 2) of a packed vector (``xp``:
        ``numpy`` or ``jax.numpy``)."""
        out = {}
        for s in self.spectra:
            values = packed[..., self._positions[s]]
            pad = [(0, 0)] * (values.ndim - 1) + [(2, 0)]
            out[s] = xp.pad(values, pad)
        return out

    def whiten(self, delta: np.ndarray) -> np.ndarray:
        """Coordinates y (..., size) of a packed difference, such that |y|² is its Δχ²."""
        return self._apply(delta, 2)

    def unwhiten(self, y: np.ndarray) -> np.ndarray:
        """The packed difference (..., size) whose whitened coordinates are ``y``."""
        return self._apply(y, 3)

    def _apply(self, vector: np.ndarray, which: int) -> np.ndarray:
        vector = np.asarray(vector, dtype=float)
        out = np.empty_like(vector)
        start = 0
        for block in self._blocks:
            ell, active = block[0], block[1]
            n, k = len(ell), len(active)
            part = vector[..., start : start + n * k].reshape(vector.shape[:-1] + (n, k))
            if which == 2:  # y_j = sum_k L_kj delta_k
                result = np.einsum("...lk,lkj->...lj", part, block[2])
            else:  # delta = L^-T y
                result = np.einsum("lkj,...lj->...lk", block[3], part)
            out[..., start : start + n * k] = result.reshape(vector.shape[:-1] + (n * k,))
            start += n * k
        return out

    def chi2(self, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
        """Δχ² between two sets of spectra (arrays from ell = 0, µK², φφ raw)."""
        y = self.whiten(self.pack(a) - self.pack(b))
        return float(np.sum(y**2))


def error_estimate(
    variances: np.ndarray, offsets: np.ndarray, residual2: float = 0.0, xp: Any = np
) -> Any:
    """The root-mean-square Δ log L of a prediction (module docstring): ε, shape (...,).

    ``variances``: σ_k² of the predicted coefficients (..., K); ``offsets``: Δ_k, the predicted
    coefficients minus those of the best point (..., K); ``residual2``: t², the variance not
    captured by the coefficients. All in whitened units (√Δχ²).
    """
    total = xp.sum(variances, axis=-1) + residual2
    square = xp.sum(variances * (1 + offsets**2), axis=-1) + residual2 + 0.25 * total**2
    return xp.sqrt(square)


def wrong_claim_probability(means: np.ndarray, stds: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """P(|X| > bound) for X ~ N(mean, std²), elementwise (std 0: the step function)."""
    from scipy.special import ndtr

    means, stds, bounds = (np.asarray(a, dtype=float) for a in (means, stds, bounds))
    safe = np.where(stds > 0, stds, 1.0)
    gaussian = ndtr((-bounds - means) / safe) + ndtr((means - bounds) / safe)
    return np.where(stds > 0, gaussian, (np.abs(means) > bounds).astype(float))


def calibration_factor(
    means: Sequence[float],
    stds: Sequence[float],
    estimates: Sequence[float],
    wrong: float = WRONG_CLAIMS,
) -> float:
    """The κ for which mean_i P(|N(m_i, s_i²)| > κ ε_i) = ``wrong`` (module docstring).

    ``means`` m_i, ``stds`` s_i: the distribution of the true Δ log L at each calibration point;
    ``estimates`` ε_i: the error estimated there (> 0). Returns a float in [1e-3, 1e3] (bisection
    in log κ to 0.1 %); 1e3 means the estimates are useless there.
    """
    m, s, e = (np.asarray(a, dtype=float) for a in (means, stds, estimates))
    if not (m.shape == s.shape == e.shape and m.ndim == 1 and len(m)):
        raise ValueError("means, stds and estimates must be 1-d sequences of the same length > 0.")
    if np.any(e <= 0):
        raise ValueError("The estimates must be positive.")

    def excess(log_kappa: float) -> float:
        return float(np.mean(wrong_claim_probability(m, s, math.exp(log_kappa) * e))) - wrong

    lo, hi = math.log(1e-3), math.log(1e3)
    if excess(hi) > 0:
        return 1e3
    if excess(lo) <= 0:
        return 1e-3
    while hi - lo > 1e-3:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return math.exp(hi)


def near_delta(dimension: int, quantile: float = 0.99) -> float:
    """½ χ²_d quantile: Δ log L from the peak below which a d-parameter Gaussian posterior
    holds ``quantile`` of its mass."""
    from scipy.stats import chi2

    return 0.5 * float(chi2.ppf(quantile, max(int(dimension), 1)))


def tolerance_at(delta: float, tolerance: float, near: float, slope: float) -> float:
    """The tolerance on |Δ log L| at a point ``delta`` = Δ log L below the best point:
    ``tolerance`` up to ``near``, then growing by ``slope`` per unit of Δ log L."""
    return tolerance + slope * max(0.0, float(delta) - near)
