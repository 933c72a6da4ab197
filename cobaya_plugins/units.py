"""CMB power-spectrum unit conventions and conversions.

Three amplitude units are understood everywhere in this package:

``"muK2"``
    C_ell in µK² (what clik wants).
``"K2"``
    C_ell in K²; multiply by 1e12 to get µK².
``"dimensionless"``
    C_ell of ΔT/T (what CLASS's ``lensed_cl()`` returns); multiply by (T_cmb·1e6)² to get µK².
    Planck is calibrated to FIRAS, so the default is T_cmb = 2.7255 K (as Cobaya's ``FIRASmuK2``).

Independently, a spectrum is either C_ell or D_ell = ell(ell+1)C_ell/2π (``ell_factor=True``).
All arrays are indexed by ell from 0. D_ell carries no information at ell = 0 and 1, so converting
D_ell to C_ell gives 0 there (clik ignores those entries).
"""

from __future__ import annotations

import math

import numpy as np

#: CMB monopole temperature measured by FIRAS [K] (Fixsen 2009); Planck's calibration reference.
T_CMB_FIRAS = 2.7255

#: Amplitude units accepted by :func:`to_muK2_factor`.
UNITS = ("muK2", "K2", "dimensionless")


def to_muK2_factor(units: str, T_cmb: float = T_CMB_FIRAS) -> float:
    """Factor that turns a spectrum in ``units`` into µK² (a scalar).

    ``T_cmb`` [K] is only used for ``"dimensionless"``. Raises ``ValueError`` for unknown units.
    """
    if units == "muK2":
        return 1.0
    if units == "K2":
        return 1e12
    if units == "dimensionless":
        if not (np.isfinite(T_cmb) and T_cmb > 0):
            raise ValueError(f"T_cmb must be a positive temperature in K, got {T_cmb!r}.")
        return (T_cmb * 1e6) ** 2
    raise ValueError(
        f"Unknown units {units!r}: use one of {', '.join(repr(u) for u in UNITS)} "
        "(C_ell or D_ell in µK², in K², or of ΔT/T)."
    )


def llp1_over_2pi(ell: np.ndarray | float) -> np.ndarray | float:
    """ell(ell+1)/2π for the given multipoles (same shape; a float for a scalar ell):
    D_ell = this × C_ell."""
    if isinstance(ell, int | float):
        return ell * (ell + 1) / (2 * math.pi)
    ell = np.asarray(ell, dtype=float)
    return ell * (ell + 1) / (2 * np.pi)


def cl_to_dl_factor(lmax: int) -> np.ndarray:
    """ell(ell+1)/2π for ell = 0..lmax, shape (lmax+1,): multiply C_ell by it to get D_ell."""
    return llp1_over_2pi(np.arange(lmax + 1))


def dl_to_cl_factor(lmax: int) -> np.ndarray:
    """2π/(ell(ell+1)) for ell = 0..lmax, shape (lmax+1,), with 0 at ell = 0 and 1.

    Multiply D_ell by it to get C_ell. The zeros at ell = 0, 1 are a convention (D_ell is
    undefined there); clik does not use those entries.
    """
    factor = cl_to_dl_factor(lmax)
    out = np.zeros(lmax + 1)
    out[2:] = 1.0 / factor[2:]
    return out


def to_muK2_cl(
    cl: np.ndarray,
    units: str = "muK2",
    ell_factor: bool = False,
    T_cmb: float = T_CMB_FIRAS,
) -> np.ndarray:
    """Convert one spectrum (shape (n,), ell from 0) to C_ell in µK²; returns a new array.

    ``units`` is one of :data:`UNITS`; ``ell_factor=True`` means the input is D_ell.
    """
    cl = np.asarray(cl, dtype=float)
    out = cl * to_muK2_factor(units, T_cmb)
    if ell_factor:
        out *= dl_to_cl_factor(len(cl) - 1)
    return out


def from_muK2_cl(
    cl: np.ndarray,
    units: str = "muK2",
    ell_factor: bool = False,
    T_cmb: float = T_CMB_FIRAS,
) -> np.ndarray:
    """Inverse of :func:`to_muK2_cl`: C_ell µK² (shape (n,), ell from 0) to ``units``/D_ell."""
    cl = np.asarray(cl, dtype=float)
    out = cl / to_muK2_factor(units, T_cmb)
    if ell_factor:
        out *= cl_to_dl_factor(len(cl) - 1)
    return out


#: Unit names of Cobaya's ``get_Cl(units=...)`` (a number is also accepted).
COBAYA_UNITS = ("1", "muK2", "K2", "FIRASmuK2", "FIRASK2")


def cobaya_temperature_factor(units: str | float, T_cmb: float = T_CMB_FIRAS) -> float:
    """Cobaya's per-field factor for ``get_Cl(units=...)``: ΔT/T times it is in the target unit.

    A spectrum XY (two CMB fields) is multiplied by its square, as Cobaya does: ``"muK2"`` and
    ``"K2"`` use the model's ``T_cmb`` [K]; ``"FIRASmuK2"``/``"FIRASK2"`` use 2.7255 K; ``"1"``
    leaves ΔT/T; a number is used as the factor itself.
    """
    if isinstance(units, int | float) and not isinstance(units, bool):
        return float(units)
    factors = {
        "1": 1.0,
        "muK2": T_cmb * 1e6,
        "K2": T_cmb,
        "FIRASmuK2": T_CMB_FIRAS * 1e6,
        "FIRASK2": T_CMB_FIRAS,
    }
    try:
        return factors[units]
    except KeyError:
        raise ValueError(
            f"Unknown Cobaya units {units!r}: use a number or one of {', '.join(COBAYA_UNITS)}."
        ) from None
