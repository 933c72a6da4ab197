"""One CLASS (classy) run for lensed spectra, shared by the anchor, the validation and the scripts
that recompute the shipped fiducial files."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def lensed_cl(params: Mapping[str, float | str], lmax: int) -> dict[str, np.ndarray]:
    """classy's ``lensed_cl(lmax)`` for the CLASS input ``params``, as float arrays from ell = 0,
    shape (lmax+1,): ``tt ee bb te`` (and ``pp``, ``tp`` where CLASS outputs them) dimensionless
    C_ell of ΔT/T, ``pp`` the lensing potential's C_ell^φφ. CLASS is freed after the run."""
    from classy import Class

    cosmo = Class()
    cosmo.set(dict(params))
    try:
        cosmo.compute()
        cls = cosmo.lensed_cl(lmax)
    finally:
        cosmo.struct_cleanup()
        cosmo.empty()
    return {s: np.asarray(v, float) for s, v in cls.items() if s != "ell"}
