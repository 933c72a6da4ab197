"""plik_lite-like high-ell TTTEEE mock: clik type ``plik_cmbonly``, 613 bins, extra [A_planck].

Data: CMB-only binned D_ell (foregrounds already marginalized, as plik_lite) in the Planck
bins: TT 215 bins (ell 30..2508), TE and EE 199 bins (ell 30..1996), in that order. The mean
is the binned fiducial; the fluctuation is a Gaussian draw from the Knox covariance of the
TT, TE, EE spectra with the inverse-variance combination of the three channels' noise
(:mod:`.instrument`), which is also the likelihood's covariance (bins uncorrelated, the three
spectra correlated within a bin).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cobaya_plugins.mock import binning
from cobaya_plugins.mock.clik_file import add_self_check, call_vector, create_cmb_clik
from cobaya_plugins.mock.instrument import FSKY_HIGHL, combined_noise_cl, knox_covariance
from cobaya_plugins.units import llp1_over_2pi

LMIN = binning.LMIN
LMAX = binning.LMAX
#: lmax of the call vector's spectra, order TT EE BB TE TB EB.
CALL_LMAX = (LMAX, LMAX, -1, LMAX, -1, -1)
SPECTRA = ("tt", "ee", "te")
#: Number of bins of each spectrum (hard-coded in clik's plik_cmbonly reader).
N_BINS = {"tt": 215, "te": 199, "ee": 199}
#: Data-vector order of plik_lite.
DATA_ORDER = ("tt", "te", "ee")
VERSION = 22


def default_nuisance() -> dict[str, float]:
    """Nuisance values used for the data and the self-check: ``{"A_planck": 1.0}``."""
    return {"A_planck": 1.0}


def bin_weights() -> np.ndarray:
    """Weight of each ell = 30..2508 applied to C_ell: ell(ell+1)/2pi / n_b (bins give D_ell)."""
    ell = np.arange(LMIN, LMAX + 1)
    lows, highs = binning.bin_edges()
    widths = np.repeat(highs - lows + 1, highs - lows + 1)
    return llp1_over_2pi(ell) / widths


def binned_dl(cls: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Binned D_ell [muK^2] of the fiducial: {"tt": (215,), "te": (199,), "ee": (199,)}."""
    matrix = binning.bin_matrix(bin_weights())
    return {
        name: (matrix @ np.asarray(cls[name][LMIN : LMAX + 1], dtype=float))[: N_BINS[name]]
        for name in DATA_ORDER
    }


def binned_covariance(cls: Mapping[str, np.ndarray]) -> np.ndarray:
    """Covariance [muK^4] of the 613 binned D_ell (order TT, TE, EE), shape (613, 613)."""
    ell = np.arange(LMIN, LMAX + 1)
    tt, ee, te = (np.asarray(cls[name][LMIN : LMAX + 1], dtype=float) for name in SPECTRA)
    total = np.empty((len(ell), 2, 2))  # maps: T, E
    total[:, 0, 0] = tt + combined_noise_cl(False, ell)
    total[:, 1, 1] = ee + combined_noise_cl(True, ell)
    total[:, 0, 1] = total[:, 1, 0] = te
    per_ell = knox_covariance(total, [(0, 0), (0, 1), (1, 1)], ell, FSKY_HIGHL)  # TT TE EE
    lows, _ = binning.bin_edges()
    per_bin = np.add.reduceat(bin_weights()[:, None, None] ** 2 * per_ell, lows - LMIN, axis=0)
    offsets = np.cumsum([0] + [N_BINS[name] for name in DATA_ORDER])
    covariance = np.zeros((offsets[-1], offsets[-1]))
    for x, name_x in enumerate(DATA_ORDER):
        for y, name_y in enumerate(DATA_ORDER):
            n = min(N_BINS[name_x], N_BINS[name_y])
            rows = offsets[x] + np.arange(n)
            cols = offsets[y] + np.arange(n)
            covariance[rows, cols] = per_bin[:n, x, y]
    return covariance


def simulate(
    cls: Mapping[str, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the data: (binned D_ell (613,), covariance (613, 613)), order TT, TE, EE."""
    mean = np.concatenate(list(binned_dl(cls).values()))
    covariance = binned_covariance(cls)
    data = mean + np.linalg.cholesky(covariance) @ rng.standard_normal(len(mean))
    return data, covariance


def fortran_record(values: np.ndarray) -> bytes:
    """One Fortran unformatted sequential record of float64 (int32 byte counts around it)."""
    payload = np.ascontiguousarray(values, dtype="<f8").tobytes()
    marker = np.array([len(payload)], dtype="<i4").tobytes()
    return marker + payload + marker


def write(path: Path, cls: Mapping[str, np.ndarray], seed: int) -> float:
    """Write the plik_lite-like mock to ``path`` (a new directory); return its check value.

    ``cls`` holds the fiducial C_ell [muK^2] from ell = 0 (at least to 2508) for tt, ee, te.
    """
    data, covariance = simulate(cls, np.random.default_rng(seed))
    lows, highs = binning.bin_edges()
    centres = np.concatenate([((lows + highs) / 2)[: N_BINS[name]] for name in DATA_ORDER])
    sigma = np.sqrt(np.diag(covariance))

    clik, lkl = create_cmb_clik(path, CALL_LMAX)
    lkl.set_many(lkl_type="plik_cmbonly", unit=1.0, lmin=LMIN, lmax=LMAX, cmbonly_version=VERSION)
    lkl.array("has_cl", [1, 1, 0, 1, 0, 0])
    np.savetxt(
        lkl.external(f"cl_cmb_plik_v{VERSION}.dat"),
        np.column_stack([centres, data, sigma]),
        fmt=["%7.1f", "%.15e", "%.15e"],
    )
    # clik symmetrizes the matrix as C + C^T - diag(C): store the upper triangle only
    lkl.external(f"c_matrix_plik_v{VERSION}.dat").write_bytes(fortran_record(np.triu(covariance)))
    np.savetxt(lkl.external("blmin.dat"), lows - LMIN, fmt="%d")
    np.savetxt(lkl.external("blmax.dat"), highs - LMIN, fmt="%d")
    np.savetxt(lkl.external("bweight.dat"), bin_weights(), fmt="%.17e")

    check_param = call_vector(cls, CALL_LMAX, default_nuisance())
    return add_self_check(clik, check_param)
