"""Planck-2018-like lensing mock: a ``clik_lensing`` file (clik's "type 4" binned lensing).

Layout of ``NAME.clik_lensing/`` (as clik's ``clik_lensing.c`` and clipy's ``lkl.py`` read it):
an empty top ``_mdb`` and the group ``clik_lensing/`` with ``itype 4``, ``lmax`` (one int: the
lmax of C^φφ and of every CMB spectrum used), ``hascl`` (6 ints, TT EE BB TE TB EB), ``nbins``,
``renorm``, ``ren1``, ``has_calib``, ``check`` and the float arrays ``pp_hat`` (nbins), ``bins``
(nbins × (lmax+1)), ``siginv`` (nbins × nbins), ``cors`` (nbins × nlt), ``cor0`` (nbins) and
``cl_fid`` (nlt), with nlt = (1 + Σhascl)(lmax+1).

The call vector is C^φφ (dimensionless, ell = 0..lmax) FIRST, then C_ell [µK²] of TT, EE, BB,
TE (ell = 0..lmax), then A_planck. clik's model of the binned bandpowers is

    b = bins · ([L(L+1)]²/2π C^φφ) − cor0 + cors · (fφ [L(L+1)]²/2π,  fCMB L(L+1)/2π / A_planck²)

with fφ = C^φφ (``ren1 = 1``: linear N1 correction on) and fCMB = the CMB spectra
(``renorm = 1``: linear normalisation correction on), and loglike = −½ (p̂ − b)ᵀ siginv (p̂ − b).

Mock content: Planck 2018's conservative range, 9 bins from L = 8 to 400, top-hat averages of
[L(L+1)]²C^φφ/2π; lmax 2500 with TT, EE, BB, TE as in the real
``smicadx12_Dec5_ftl_mv2_ndclpp_p_teb_consext8.clik_lensing``. The bandpowers are the binned
fiducial plus a Gaussian draw from a covariance with a made-up, Planck-sized reconstruction
noise (neighbouring bins 10% correlated). The correction matrix ``cors`` is made up too: each
bandpower responds to the CMB spectra like −2 × the fractional change of a weighted CMB power
(TT 50%, TE 25%, EE 20%, BB 5%, over ell 100-2000) and to C^φφ itself with a small N1-like
kernel; ``cor0 = cors · fiducial``, so the corrections vanish at the fiducial.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cobaya_plugins.mock.cldf import Group
from cobaya_plugins.mock.clik_file import clipy_loglike

LMAX = 2500
#: Spectra of the call vector, in order (C^φφ first; TB and EB are not used).
SPECTRA = ("pp", "tt", "ee", "bb", "te")
#: hascl of the CMB spectra, order TT EE BB TE TB EB.
HASCL = (1, 1, 1, 1, 0, 0)
#: lmax of the call vector, order pp TT EE BB TE TB EB.
CALL_LMAX = (LMAX, LMAX, LMAX, LMAX, LMAX, -1, -1)
#: First and last multipole of the 9 bins (Planck 2018 conservative range).
BIN_EDGES = ((8, 40), (41, 84), (85, 129), (130, 174), (175, 219), (220, 264),
             (265, 309), (310, 354), (355, 400))  # fmt: skip
#: Directory suffix of lensing files.
SUFFIX = ".clik_lensing"
#: Sky fraction of the lensing reconstruction (Planck-like).
FSKY_LENSING = 0.67
#: Made-up reconstruction noise: [L(L+1)]² N0_L / 2π = N0_AMPLITUDE (1 + (L / N0_PIVOT)²).
N0_AMPLITUDE = 1.0e-7
N0_PIVOT = 250.0
#: Correlation coefficient of neighbouring bins.
NEIGHBOUR_CORRELATION = 0.1
#: Share of each CMB spectrum in the made-up normalisation response, and its ell range.
CMB_RESPONSE = {"tt": 0.5, "ee": 0.2, "bb": 0.05, "te": 0.25}
CMB_RESPONSE_RANGE = (100, 2000)
#: Size of the made-up N1-like response of each bandpower to C^φφ.
N1_RESPONSE = 0.02


def default_nuisance() -> dict[str, float]:
    """Nuisance values used for the data and the self-check: ``{"A_planck": 1.0}``."""
    return {"A_planck": 1.0}


def phi_weight(lmax: int = LMAX) -> np.ndarray:
    """[L(L+1)]²/2π for L = 0..lmax, shape (lmax+1,): C^φφ to the binned bandpower units."""
    ell = np.arange(lmax + 1, dtype=float)
    return (ell * (ell + 1)) ** 2 / (2 * np.pi)


def bin_matrix() -> np.ndarray:
    """Top-hat binning matrix (9, LMAX+1): the mean over each bin of L = 8..400."""
    matrix = np.zeros((len(BIN_EDGES), LMAX + 1))
    for b, (low, high) in enumerate(BIN_EDGES):
        matrix[b, low : high + 1] = 1.0 / (high - low + 1)
    return matrix


def binned_phi(clpp: np.ndarray) -> np.ndarray:
    """Binned [L(L+1)]²C^φφ/2π (shape (9,)) of C^φφ given from ell = 0 (at least to 2500)."""
    return bin_matrix() @ (np.asarray(clpp[: LMAX + 1], dtype=float) * phi_weight())


def covariance(clpp: np.ndarray) -> np.ndarray:
    """Covariance (9, 9) of the binned bandpowers: Gaussian, with the made-up N0.

    Per multipole var = 2 (P_L + N_L)² / ((2L+1) f_sky) in [L(L+1)]²/2π units, averaged over
    each bin with the top-hat weights; neighbouring bins correlated by 10%.
    """
    ell = np.arange(LMAX + 1, dtype=float)
    signal = np.asarray(clpp[: LMAX + 1], dtype=float) * phi_weight()
    noise = N0_AMPLITUDE * (1 + (ell / N0_PIVOT) ** 2)
    per_ell = np.zeros(LMAX + 1)
    per_ell[2:] = 2 * (signal[2:] + noise[2:]) ** 2 / ((2 * ell[2:] + 1) * FSKY_LENSING)
    sigma = np.sqrt(bin_matrix() ** 2 @ per_ell)
    correlation = np.eye(len(sigma))
    for b in range(len(sigma) - 1):
        correlation[b, b + 1] = correlation[b + 1, b] = NEIGHBOUR_CORRELATION
    return correlation * np.outer(sigma, sigma)


def correction_matrix(cls: Mapping[str, np.ndarray]) -> np.ndarray:
    """Made-up linear-correction matrix ``cors`` (9, 5 (LMAX+1)), columns pp, TT, EE, BB, TE.

    Columns act on [L(L+1)]²C^φφ/2π (pp) and on ell(ell+1)C_ell/2π [µK²] (CMB spectra), as
    clik applies them. ``cls`` holds the fiducial C_ell from ell = 0: pp (dimensionless) and
    tt, ee, bb, te [µK²].
    """
    n = LMAX + 1
    ell = np.arange(n, dtype=float)
    binned = binned_phi(cls["pp"])
    out = np.zeros((len(BIN_EDGES), len(SPECTRA) * n))
    # N1-like: each bandpower responds to C^φφ over a broad range around it
    centres = np.array([(low + high) / 2 for low, high in BIN_EDGES])
    kernel = np.exp(-0.5 * ((ell[None, :] - centres[:, None]) / 300.0) ** 2)
    kernel[:, :2] = 0.0
    out[:, :n] = N1_RESPONSE * kernel / kernel.sum(axis=1, keepdims=True)
    # normalisation: b changes by -2 x share x (fractional change of the weighted CMB power)
    low, high = CMB_RESPONSE_RANGE
    inside = (ell >= low) & (ell <= high)
    dl = {name: np.asarray(cls[name][:n], dtype=float) * ell * (ell + 1) / (2 * np.pi)
          for name in ("tt", "ee", "bb", "te")}  # fmt: skip
    scale = {"tt": dl["tt"], "ee": dl["ee"], "bb": dl["bb"], "te": np.sqrt(dl["tt"] * dl["ee"])}
    for k, name in enumerate(SPECTRA[1:], start=1):
        column = np.zeros(n)
        column[inside] = 1.0 / (inside.sum() * scale[name][inside])
        out[:, k * n : (k + 1) * n] = -2 * CMB_RESPONSE[name] * binned[:, None] * column[None, :]
    return out


def correction_input(cls: Mapping[str, np.ndarray], a_planck: float = 1.0) -> np.ndarray:
    """The vector ``cors`` multiplies: [L(L+1)]²C^φφ/2π then ell(ell+1)C_ell/2π / A_planck²."""
    n = LMAX + 1
    ell = np.arange(n, dtype=float)
    parts = [np.asarray(cls["pp"][:n], dtype=float) * phi_weight()]
    parts += [np.asarray(cls[name][:n], dtype=float) * ell * (ell + 1) / (2 * np.pi) / a_planck**2
              for name in SPECTRA[1:]]  # fmt: skip
    return np.concatenate(parts)


def model_bandpowers(
    cls: Mapping[str, np.ndarray], fiducial: Mapping[str, np.ndarray], a_planck: float = 1.0
) -> np.ndarray:
    """The mock's own model of the 9 bandpowers (what clik computes): binned φφ + corrections.

    ``cls`` and ``fiducial`` hold C_ell from ell = 0: pp (dimensionless), tt ee bb te [µK²].
    """
    cors = correction_matrix(fiducial)
    shift = cors @ (correction_input(cls, a_planck) - correction_input(fiducial))
    return binned_phi(cls["pp"]) + shift


def call_vector(cls: Mapping[str, np.ndarray], nuisance: Mapping[str, float]) -> np.ndarray:
    """Lensing call vector: pp, tt, ee, bb, te for ell = 0..2500, then the nuisance values."""
    parts = [np.asarray(cls[name][: LMAX + 1], dtype=float) for name in SPECTRA]
    return np.concatenate(parts + [np.array(list(nuisance.values()), dtype=float)])


def write(path: Path, cls: Mapping[str, np.ndarray], seed: int) -> float:
    """Write the lensing mock to ``path`` (a new ``.clik_lensing`` directory); return its check.

    ``cls`` holds the fiducial C_ell from ell = 0 to at least 2500: ``pp`` (dimensionless
    C^φφ) and ``tt``, ``ee``, ``bb``, ``te`` [µK²]. The check value is clipy's loglike at the
    fiducial (``cl_fid``) with A_planck = 1, which clik and clipy re-evaluate on load.
    """
    rng = np.random.default_rng(seed)
    cov = covariance(cls["pp"])
    mean = binned_phi(cls["pp"])
    data = mean + np.linalg.cholesky(cov) @ rng.standard_normal(len(mean))
    cors = correction_matrix(cls)
    fiducial_vector = call_vector(cls, {})

    root = Group(path)
    lensing = root.group("clik_lensing")
    lensing.set_many(itype=4, lmax=LMAX, nbins=len(BIN_EDGES), renorm=1, ren1=1, has_calib=1)
    lensing.array("hascl", np.asarray(HASCL, dtype=np.int64))
    lensing.array("pp_hat", data)
    lensing.array("bins", bin_matrix().ravel())
    lensing.array("siginv", np.linalg.inv(cov).ravel())
    lensing.array("cors", cors.ravel(), compress=True)
    lensing.array("cor0", cors @ correction_input(cls))
    lensing.array("cl_fid", fiducial_vector)
    value = clipy_loglike(path, np.concatenate([fiducial_vector, [1.0]]))
    if not np.isfinite(value) or value <= -1e30:
        raise RuntimeError(
            f"clipy returned loglike {value} at the fiducial of {path}: the lensing mock is "
            "inconsistent (this is a bug in cobaya_plugins.mock.lensing)."
        )
    lensing.set("check", value)
    return value
