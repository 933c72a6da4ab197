"""Planck-like instrument model used to give the mock likelihoods realistic error bars.

White noise and Gaussian beams of the three CMB channels of Planck HFI (approximate values
of the 2018 release), and the Knox formula for the Gaussian covariance of cross-spectra.
"""

from __future__ import annotations

import numpy as np

FREQUENCIES = (100, 143, 217)
#: Beam full width at half maximum [arcmin].
BEAM_FWHM_ARCMIN = {100: 9.68, 143: 7.30, 217: 5.02}
#: White-noise level of the full-mission maps in temperature [muK arcmin].
NOISE_T_UK_ARCMIN = {100: 77.4, 143: 33.0, 217: 46.8}
#: White-noise level of the full-mission maps in polarization (Q, U) [muK arcmin].
NOISE_P_UK_ARCMIN = {100: 117.6, 143: 70.2, 217: 105.0}
#: Noise-power factor for half-mission cross-spectra: each half has twice the noise
#: variance, and a Knox formula with sqrt(2) times the full-mission noise power reproduces
#: both the cosmic-variance and the noise-dominated limits of their variance.
HALF_MISSION_FACTOR = np.sqrt(2.0)
#: Effective observed sky fraction of the high-ell masks (Planck-like).
FSKY_HIGHL = 0.5
#: Effective observed sky fraction of the low-ell (Commander) mask.
FSKY_LOWL = 0.86

_ARCMIN = np.pi / 180 / 60


def noise_cl(frequency: int, polarized: bool, ell: np.ndarray) -> np.ndarray:
    """Beam-deconvolved noise power N_ell [muK^2] of one channel, for half-mission crosses.

    ``ell`` is an int array; the result has its shape.
    """
    level = (NOISE_P_UK_ARCMIN if polarized else NOISE_T_UK_ARCMIN)[frequency] * _ARCMIN
    sigma_beam = BEAM_FWHM_ARCMIN[frequency] * _ARCMIN / np.sqrt(8 * np.log(2))
    ell = np.asarray(ell, dtype=float)
    return HALF_MISSION_FACTOR * level**2 * np.exp(ell * (ell + 1) * sigma_beam**2)


def combined_noise_cl(polarized: bool, ell: np.ndarray) -> np.ndarray:
    """Inverse-variance combination of the three channels' N_ell [muK^2] (same shape as ell)."""
    inverse = sum(1 / noise_cl(f, polarized, ell) for f in FREQUENCIES)
    return 1 / inverse


def knox_covariance(
    total: np.ndarray, pairs: list[tuple[int, int]], ell: np.ndarray, fsky: float
) -> np.ndarray:
    """Gaussian covariance of cross-spectra between map pairs, per multipole.

    ``total`` has shape (n_ell, m, m): signal + noise C_ell [muK^2] between the m maps.
    ``pairs`` lists the (a, b) map pairs of the spectra. Returns (n_ell, n_pairs, n_pairs):
    cov[(ab), (cd)] = (C_ac C_bd + C_ad C_bc) / ((2 ell + 1) fsky)  [muK^4].
    """
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    first = total[:, a[:, None], a[None, :]] * total[:, b[:, None], b[None, :]]
    second = total[:, a[:, None], b[None, :]] * total[:, b[:, None], a[None, :]]
    modes = (2 * np.asarray(ell, dtype=float) + 1) * fsky
    return (first + second) / modes[:, None, None]
