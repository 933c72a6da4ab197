"""Planck's high-ell multipole bins (plik and plik_lite, ell = 30..2508).

Bin widths: 5 for ell 30-99, 9 for 100-1503, 17 for 1504-2013, 33 for 2014-2508: 215 bins.
plik_lite's TE and EE use the first 199 of them (up to ell = 1996).
"""

from __future__ import annotations

import numpy as np

LMIN = 30
LMAX = 2508
#: (first ell, last ell, width) of each stretch of equal-width bins.
_STRETCHES = ((30, 99, 5), (100, 1503, 9), (1504, 2013, 17), (2014, 2508, 33))


def bin_edges() -> tuple[np.ndarray, np.ndarray]:
    """First and last multipole (inclusive) of each of the 215 Planck bins; int arrays (215,)."""
    lows = np.concatenate([np.arange(first, last + 1, width) for first, last, width in _STRETCHES])
    highs = np.concatenate([lows[1:] - 1, [LMAX]])
    return lows, highs


def bin_matrix(weights: np.ndarray) -> np.ndarray:
    """Binning matrix (215, 2479) mapping a spectrum at ell = 30..2508 to bins.

    ``weights`` has shape (2479,): the weight of each ell inside its bin.
    """
    lows, highs = bin_edges()
    ell = np.arange(LMIN, LMAX + 1)
    inside = (ell[None, :] >= lows[:, None]) & (ell[None, :] <= highs[:, None])
    return inside * np.asarray(weights, dtype=float)[None, :]
