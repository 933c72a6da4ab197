"""plik-like high-ell TTTEEE mock: clik type ``smica``, 100/143/217 GHz in T and E, 47 nuisances.

Data: binned cross-spectra R_q between the 6 maps (T100 T143 T217 E100 E143 E217) in the
215 Planck bins (ell 30..2508), 16 cross-spectra with Planck's multipole ranges (4 TT, 6 EE,
6 TE; 2289 data points as in plik_rd12_HM_v22b_TTTEEE). The mean is the binned fiducial CMB
plus the foregrounds of :mod:`.plik_foregrounds` at :func:`default_nuisance`, times the
calibrations; the fluctuation is a Gaussian draw from the Knox covariance of the
cross-spectra (cosmic variance + Planck-like noise, :mod:`.instrument`), which is also the
likelihood's covariance. The covariance couples the 16 spectra within a bin, not the bins.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cobaya_plugins.mock import binning
from cobaya_plugins.mock.clik_file import add_self_check, call_vector, create_cmb_clik
from cobaya_plugins.mock.instrument import FSKY_HIGHL, knox_covariance, noise_cl
from cobaya_plugins.mock.plik_foregrounds import (
    DEFAULT_VALUES,
    MAP_FREQUENCIES,
    N_T,
    PARAMETER_NAMES,
    M,
    calibration,
    foreground_cl,
    write_components,
)

LMIN = binning.LMIN
LMAX = binning.LMAX
#: lmax of the call vector's spectra, order TT EE BB TE TB EB.
CALL_LMAX = (LMAX, LMAX, -1, LMAX, -1, -1)
SPECTRA = ("tt", "ee", "te")
#: The cross-spectra of the data vector, in order: (map a, map b, first ell, last ell).
#: Multipole ranges as Planck's baseline plik (Planck 2018 V).
CROSS_SPECTRA = (
    (0, 0, 30, 1197), (1, 1, 30, 1996), (1, 2, 30, 2508), (2, 2, 30, 2508),  # TT
    (3, 3, 30, 999), (3, 4, 30, 999), (3, 5, 505, 999),  # EE
    (4, 4, 30, 1996), (4, 5, 505, 1996), (5, 5, 505, 1996),
    (0, 3, 30, 999), (0, 4, 30, 999), (0, 5, 505, 999),  # TE (T map first)
    (1, 4, 30, 1996), (1, 5, 505, 1996), (2, 5, 505, 1996),
)  # fmt: skip


def default_nuisance() -> dict[str, float]:
    """The 47 nuisance values (file order) used for the data and the self-check."""
    return {name: DEFAULT_VALUES[name] for name in PARAMETER_NAMES}


def bin_weights() -> np.ndarray:
    """Weight of each ell = 30..2508 in its bin, proportional to ell(ell+1); shape (2479,)."""
    ell = np.arange(LMIN, LMAX + 1)
    lows, highs = binning.bin_edges()
    weights = ell * (ell + 1.0)
    totals = np.add.reduceat(weights, lows - LMIN)
    return weights / np.repeat(totals, highs - lows + 1)


def cmb_cl_matrix(cls: Mapping[str, np.ndarray]) -> np.ndarray:
    """CMB C_ell [muK^2] between the 6 maps for ell = 30..2508, shape (2479, 6, 6)."""
    tt, ee, te = (np.asarray(cls[name][LMIN : LMAX + 1], dtype=float) for name in SPECTRA)
    out = np.empty((len(tt), M, M))
    out[:, :N_T, :N_T] = tt[:, None, None]
    out[:, N_T:, N_T:] = ee[:, None, None]
    out[:, :N_T, N_T:] = te[:, None, None]
    out[:, N_T:, :N_T] = te[:, None, None]
    return out


def model_rq(cls: Mapping[str, np.ndarray], params: Mapping[str, float]) -> np.ndarray:
    """Binned model R_q [muK^2]: (CMB + foregrounds) x calibration, shape (215, 6, 6).

    ``cls`` holds C_ell [muK^2] from ell = 0 for "tt", "ee", "te"; ``params`` the 47 nuisances.
    This is the mock's own evaluation of what clik's smica components compute.
    """
    ell = np.arange(LMIN, LMAX + 1)
    spectra = cmb_cl_matrix(cls) + foreground_cl(params, ell)
    binned = np.einsum("bl,lij->bij", binning.bin_matrix(bin_weights()), spectra)
    return binned * calibration(params)[None, :, :]


def active_bins() -> np.ndarray:
    """Boolean (215, 16): whether each cross-spectrum of CROSS_SPECTRA is used in each bin."""
    lows, highs = binning.bin_edges()
    return np.array([(lows >= lmin) & (highs <= lmax) for _, _, lmin, lmax in CROSS_SPECTRA]).T


def binned_covariance(cls: Mapping[str, np.ndarray], params: Mapping[str, float]) -> np.ndarray:
    """Knox covariance [muK^4] of the 16 binned cross-spectra, per bin: (215, 16, 16)."""
    ell = np.arange(LMIN, LMAX + 1)
    total = cmb_cl_matrix(cls) + foreground_cl(params, ell)
    for i, frequency in enumerate(MAP_FREQUENCIES):
        total[:, i, i] += noise_cl(frequency, i >= N_T, ell)
    pairs = [(a, b) for a, b, _, _ in CROSS_SPECTRA]
    per_ell = knox_covariance(total, pairs, ell, FSKY_HIGHL)
    lows, _ = binning.bin_edges()
    return np.add.reduceat(bin_weights()[:, None, None] ** 2 * per_ell, lows - LMIN, axis=0)


def simulate(
    cls: Mapping[str, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the data. Returns (Rq_hat (215, 6, 6), inverse covariance (n, n), active (215, 16)).

    The inverse covariance is over the data vector (cross-spectrum-major, bin-minor, active
    bins only; n = 2289), as clik's smica expects.
    """
    params = default_nuisance()
    mean = model_rq(cls, params)
    covariance = binned_covariance(cls, params)
    active = active_bins()
    n_data = int(active.sum())
    # position of (bin, spectrum) in the data vector, which is spectrum-major
    position = np.full(active.shape, -1)
    position.T[active.T] = np.arange(n_data)
    noise = rng.standard_normal(n_data)
    rq_hat = mean.copy()
    inverse = np.zeros((n_data, n_data))
    for b in range(active.shape[0]):
        used = np.flatnonzero(active[b])
        index = position[b, used]
        block = covariance[b][np.ix_(used, used)]
        fluctuation = np.linalg.cholesky(block) @ noise[index]
        for k, spectrum in enumerate(used):
            i, j = CROSS_SPECTRA[spectrum][:2]
            rq_hat[b, i, j] = rq_hat[b, j, i] = mean[b, i, j] + fluctuation[k]
        inverse[np.ix_(index, index)] = np.linalg.inv(block)
    return rq_hat, inverse, active


def write(path: Path, cls: Mapping[str, np.ndarray], seed: int) -> float:
    """Write the plik-like mock to ``path`` (a new directory); return its check value.

    ``cls`` holds the fiducial C_ell [muK^2] from ell = 0 (at least to 2508) for tt, ee, te.
    """
    rq_hat, inverse, active = simulate(cls, np.random.default_rng(seed))
    n_bins = active.shape[0]
    mask = np.zeros((n_bins, M, M), dtype=np.int64)
    for spectrum, (i, j, _, _) in enumerate(CROSS_SPECTRA):
        mask[:, i, j] = mask[:, j, i] = active[:, spectrum]
    lows, highs = binning.bin_edges()
    has_cl = np.array([1, 1, 0, 1, 0, 0])
    n_spectra = int(has_cl.sum())

    clik, lkl = create_cmb_clik(path, CALL_LMAX)
    n_component = write_components(lkl)
    lkl.set_many(
        lkl_type="smica",
        unit=1.0,
        lmin=LMIN,
        lmax=LMAX,
        m_channel_T=N_T,
        m_channel_P=M - N_T,
        nbins=n_bins * n_spectra,
        criterion="gauss",
        n_component=n_component,
    )
    lkl.array("has_cl", has_cl)
    # clik repeats the binning for each spectrum; lmin/lmax are offsets from LMIN
    lkl.array("bin_lmin", np.tile(lows - LMIN, n_spectra))
    lkl.array("bin_lmax", np.tile(highs - LMIN, n_spectra))
    lkl.array("bin_ws", np.tile(bin_weights(), n_spectra))
    lkl.array("A_cmb", np.ones(M))
    lkl.array("Rq_hat", rq_hat.ravel())
    lkl.array("criterion_gauss_ordering", np.array([p[:2] for p in CROSS_SPECTRA]).ravel())
    lkl.array("criterion_gauss_mask", mask.ravel())
    lkl.array("criterion_gauss_mat", inverse.ravel(), compress=True)

    check_param = call_vector(cls, CALL_LMAX, default_nuisance())
    return add_self_check(clik, check_param)
