"""Commander-like low-ell TT mock: clik type ``gibbs_gauss``, ell = 2..29, extra [A_planck].

Model. On a masked full-sky map with effective sky fraction f_sky, the measured D_ell has
nu = (2 ell + 1) f_sky degrees of freedom: D_hat = D_true chi2_nu / nu. As a function of the
theory D, the likelihood is then an inverse-gamma density,
p(D) ~ D^(-nu/2) exp(-nu D_hat / (2 D)), with its maximum at D = D_hat.

Commander's format stores, per ell, a Gaussianizing map x(D) as a natural cubic spline on
1000 knots; clik's loglike is sum[-x^2/2 + log dx/dD] - (same at ``mu_sigma``). With
x(D) = Phi^-1(CDF(D)) (Phi the standard normal CDF), mean 0 and unit covariance, this is
exactly sum log p(D) - log p(D_hat): the mock's loglike is the exact per-ell likelihood above,
normalized to 0 at the data (``mu_sigma`` = D_hat).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy.interpolate import CubicSpline
from scipy.special import gammaincinv, ndtr

from cobaya_plugins.mock.clik_file import add_self_check, call_vector, create_cmb_clik
from cobaya_plugins.mock.instrument import FSKY_LOWL
from cobaya_plugins.units import llp1_over_2pi

LMIN = 2
LMAX = 29
#: lmax of the call vector's spectra, order TT EE BB TE TB EB.
CALL_LMAX = (LMAX, -1, -1, -1, -1, -1)
SPECTRA = ("tt",)
#: Number of spline knots per ell (hard-coded in clik's gibbs reader).
N_KNOTS = 1000
#: The Gaussianized variable is clipped to +-X_CLIP (clik looks for these values) ...
X_CLIP = 5.0
#: ... and the knots span +-X_SPAN, so that the first and last knots are clipped.
X_SPAN = 5.5


def default_nuisance() -> dict[str, float]:
    """Nuisance values used for the data and the self-check: ``{"A_planck": 1.0}``."""
    return {"A_planck": 1.0}


def degrees_of_freedom(ell: np.ndarray) -> np.ndarray:
    """Effective number of modes nu = (2 ell + 1) f_sky per multipole (same shape as ell)."""
    return (2 * np.asarray(ell, dtype=float) + 1) * FSKY_LOWL


def simulate_dell(dl_fiducial: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Measured D_ell [muK^2] for ell = 2..29: D_fid chi2_nu / nu (shape (28,))."""
    nu = degrees_of_freedom(np.arange(LMIN, LMAX + 1))
    return dl_fiducial * rng.chisquare(nu) / nu


def gaussianization_splines(dl_hat: np.ndarray) -> np.ndarray:
    """Spline table (3, n_ell, 1000): knots D [muK^2], x(D) and d2x/dD2 at the knots.

    ``dl_hat`` is the measured D_ell for ell = 2..29. The knots are placed at the quantiles of
    the inverse-gamma likelihood corresponding to x uniformly spaced in [-X_SPAN, X_SPAN].
    """
    nu = degrees_of_freedom(np.arange(LMIN, LMAX + 1))
    shape = nu / 2 - 1  # inverse-gamma shape: p(D) ~ D^-(shape+1) exp(-scale/D)
    scale = nu * np.asarray(dl_hat) / 2
    x = np.linspace(-X_SPAN, X_SPAN, N_KNOTS)
    # CDF(D) = Q(shape, scale/D) = Phi(x)  <=>  P(shape, scale/D) = Phi(-x)
    knots = scale[:, None] / gammaincinv(shape[:, None], ndtr(-x)[None, :])
    x_clipped = np.clip(x, -X_CLIP, X_CLIP)
    table = np.empty((3, len(dl_hat), N_KNOTS))
    for i, d_knots in enumerate(knots):
        spline = CubicSpline(d_knots, x_clipped, bc_type="natural")
        table[0, i] = d_knots
        table[1, i] = x_clipped
        table[2, i] = spline(d_knots, 2)
    return table


def sigma_fits_bytes(dl_hat: np.ndarray) -> bytes:
    """Commander's ``_external/sigma.fits``: HDUs cl2x (3, n_ell, 1000), mu, cov, mu_sigma."""
    n_ell = LMAX - LMIN + 1
    primary = fits.PrimaryHDU(gaussianization_splines(dl_hat))
    primary.header["LMIN"] = LMIN
    primary.header["LMAX"] = LMAX
    primary.header["NBIN"] = N_KNOTS
    hdus = fits.HDUList(
        [
            primary,
            fits.ImageHDU(np.zeros(n_ell)),  # mu: mean of x
            fits.ImageHDU(np.eye(n_ell)),  # cov: covariance of x (diagonal)
            fits.ImageHDU(np.asarray(dl_hat, dtype=float)),  # mu_sigma: normalization point
        ]
    )
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    return buffer.getvalue()


def write(path: Path, cls: Mapping[str, np.ndarray], seed: int) -> float:
    """Write the low-ell TT mock to ``path`` (a new directory); return its check value.

    ``cls["tt"]`` is the fiducial C_ell [muK^2] indexed from ell = 0 (at least up to 29).
    """
    rng = np.random.default_rng(seed)
    ell = np.arange(LMIN, LMAX + 1)
    dl_fiducial = cls["tt"][LMIN : LMAX + 1] * llp1_over_2pi(ell)
    dl_hat = simulate_dell(dl_fiducial, rng)

    clik, lkl = create_cmb_clik(path, CALL_LMAX)
    lkl.set_many(
        lkl_type="gibbs_gauss",
        unit=1.0,
        lmin=LMIN,
        lmax=LMAX,
        version=3,
        delta_l=0,
        free_calib="A_planck",
    )
    lkl.array("has_cl", [1, 0, 0, 0, 0, 0])
    lkl.external("sigma.fits").write_bytes(sigma_fits_bytes(dl_hat))

    check_param = call_vector(cls, CALL_LMAX, default_nuisance())
    return add_self_check(clik, check_param)
