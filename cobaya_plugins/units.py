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

import functools
import math
from dataclasses import dataclass

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


# --- The unit-mistake check ------------------------------------------------------------------
#
# A unit mistake (D_ell passed as C_ell, K² as µK², ΔT/T as µK², ...) scales the whole spectrum by
# a known factor: ell(ell+1)/2π (≈ 6430 at ell = 200), 1e12, (T_cmb·1e6)² ≈ 7.4e12, or a product
# of them. A legitimate model far from ΛCDM (a wide amplitude prior, burn-in) is off by other
# factors. The check therefore compares one value with the fiducial ΛCDM spectrum and stops only
# when another reading of the units explains the value and the declared reading does not.

#: Modes of the unit check (``unit_check`` option / keyword).
UNIT_CHECK_MODES = ("error", "warn", "off")
#: Multipole at which the check looks (or the highest one given, for low-ell likelihoods).
UNIT_CHECK_ELL = 200
#: A reading "explains" a value when its D_ell is within this factor of the fiducial ΛCDM one.
UNIT_CHECK_FACTOR = {"tt": 8.0, "ee": 100.0}
#: Spectra the check can use, in order of preference.
UNIT_CHECK_SPECTRA = tuple(UNIT_CHECK_FACTOR)


@dataclass(frozen=True)
class UnitReading:
    """One way to read a spectrum's numbers: amplitude ``units`` and C_ell or D_ell."""

    units: str
    ell_factor: bool

    def __str__(self) -> str:
        return f"{'D_ell' if self.ell_factor else 'C_ell'} in {self.units}"

    def python_fix(self, declared: UnitReading) -> str:
        """The keyword arguments that declare this reading, e.g. ``units='K2', ell_factor=True``."""
        fix = [f"units={self.units!r}"] if self.units != declared.units else []
        fix += [f"ell_factor={self.ell_factor}"] if self.ell_factor != declared.ell_factor else []
        return ", ".join(fix)

    def yaml_fix(self, declared: UnitReading) -> str:
        """The YAML options that declare this reading, e.g. ``units: K2`` and ``ell_factor: true``.
        """
        fix = [f"`units: {self.units}`"] if self.units != declared.units else []
        if self.ell_factor != declared.ell_factor:
            fix.append(f"`ell_factor: {str(self.ell_factor).lower()}`")
        return " and ".join(fix)


@dataclass(frozen=True)
class UnitDiagnosis:
    """A spectrum whose size at one multipole does not fit its declared units.

    ``value`` is the input at ``ell`` as given (``declared`` reading); ``dl_muK2`` the D_ell [µK²]
    it means under that reading; ``reference`` the fiducial ΛCDM D_ell [µK²]; ``explained_by``
    the other reading that puts it within :data:`UNIT_CHECK_FACTOR` of the reference, or None.
    """

    spectrum: str
    ell: int
    value: float
    declared: UnitReading
    dl_muK2: float
    reference: float
    explained_by: UnitReading | None

    def describe(self) -> str:
        """One sentence with the numbers (no fix)."""
        ratio = self.dl_muK2 / self.reference if self.reference else math.nan
        return (
            f"{self.spectrum.upper()} at ell={self.ell} is {self.value:.4g} ({self.declared}), "
            f"i.e. D_ell = {self.dl_muK2:.4g} µK², {ratio:.3g} times the fiducial ΛCDM value "
            f"{self.reference:.4g} µK²"
        )


class UnitMistakeError(ValueError):
    """A spectrum's size is explained by a unit mistake; ``diagnosis`` holds the numbers."""

    def __init__(self, message: str, diagnosis: UnitDiagnosis):
        super().__init__(message)
        self.diagnosis = diagnosis


@functools.cache
def _reference_dl(spectrum: str, ell: int) -> float:
    """D_ell [µK²] of the shipped fiducial ΛCDM spectrum at ``ell``."""
    from cobaya_plugins.fiducial import load_fiducial

    return float(load_fiducial()[spectrum][ell] * llp1_over_2pi(ell))


def diagnose_units(
    spectrum: str,
    cl: np.ndarray,
    units: str = "muK2",
    ell_factor: bool = False,
    T_cmb: float = T_CMB_FIRAS,
) -> UnitDiagnosis | None:
    """Check the size of one spectrum against its declared units; None when it fits.

    ``spectrum`` is ``"tt"`` or ``"ee"``; ``cl`` the input array (ell from 0) in ``units``
    (see :data:`UNITS`), C_ell or, with ``ell_factor``, D_ell. The value at ell = 200 (or the
    highest ell given) is compared with the shipped fiducial ΛCDM spectrum; when it is more than
    a factor :data:`UNIT_CHECK_FACTOR` away, the result names the reading of the units that
    explains it, if one does.
    """
    ell = min(UNIT_CHECK_ELL, len(cl) - 1)
    if ell < 2:
        return None
    value = float(cl[ell])
    if not math.isfinite(value):  # NaN/inf spectra are rejected points, not unit mistakes
        return None
    to_dl = llp1_over_2pi(ell)
    reference = _reference_dl(spectrum, ell)
    factor = UNIT_CHECK_FACTOR[spectrum]
    dl = value * to_muK2_factor(units, T_cmb) * (1.0 if ell_factor else to_dl)
    if reference / factor <= dl <= reference * factor:  # the usual case: fine, and fast
        return None
    tolerance = math.log(factor)

    def dl_of(reading: UnitReading) -> float:
        return value * to_muK2_factor(reading.units, T_cmb) * (1.0 if reading.ell_factor else to_dl)

    def distance(reading: UnitReading) -> float:
        dl = dl_of(reading)
        return abs(math.log(dl / reference)) if dl > 0 else math.inf

    declared = UnitReading(units, bool(ell_factor))
    if distance(declared) <= tolerance:
        return None
    others = [UnitReading(u, f) for u in UNITS for f in (False, True)]
    others.remove(declared)
    best = min(others, key=distance)
    return UnitDiagnosis(
        spectrum=spectrum,
        ell=ell,
        value=value,
        declared=declared,
        dl_muK2=dl_of(declared),
        reference=reference,
        explained_by=best if distance(best) <= tolerance else None,
    )
