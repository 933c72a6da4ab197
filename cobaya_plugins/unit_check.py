"""The unit-mistake check: do the spectra's numbers fit the units they were declared in?

A unit mistake (D_ell passed as C_ell, K² as µK², ΔT/T as µK², ...) scales the whole spectrum by
a known factor: ell(ell+1)/2π (≈ 6430 at ell = 200), 1e12, (T_cmb·1e6)² ≈ 7.4e12, or a product
of them. A legitimate model far from ΛCDM (a wide amplitude prior, burn-in) is off by other
factors. The check therefore compares one value with the fiducial ΛCDM spectrum and reports a
mistake only when another reading of the units explains the value and the declared reading does
not.

:func:`diagnose` works on a spectrum already converted to C_ell in µK² (what clik receives) and
the :class:`UnitReading` it was declared in; the caller words the fix in the syntax of where the
units were declared (:meth:`UnitReading.python_fix` for keyword arguments,
:meth:`UnitReading.yaml_fix` for YAML options). See ``docs/units.md``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from cobaya_plugins.units import T_CMB_FIRAS, UNITS, llp1_over_2pi, to_muK2_factor

#: Multipole at which the check looks (or the highest one given, for low-ell likelihoods).
CHECK_ELL = 200
#: A reading "explains" a value when its D_ell is within this factor of the fiducial ΛCDM one.
TOLERANCE_FACTOR = {"tt": 8.0, "ee": 100.0}
#: Spectra the check can use, in order of preference.
CHECKED_SPECTRA = tuple(TOLERANCE_FACTOR)


@dataclass(frozen=True)
class UnitReading:
    """One way to read a spectrum's numbers: amplitude ``units`` (one of
    :data:`cobaya_plugins.units.UNITS`) and C_ell or D_ell (``ell_factor``)."""

    units: str
    ell_factor: bool

    def __str__(self) -> str:
        return f"{'D_ell' if self.ell_factor else 'C_ell'} in {self.units}"

    def to_dl_muK2(self, value: float, ell: int, T_cmb: float = T_CMB_FIRAS) -> float:
        """D_ell [µK²] meant by the number ``value`` at multipole ``ell`` under this reading."""
        factor = to_muK2_factor(self.units, T_cmb)
        return value * factor * (1.0 if self.ell_factor else llp1_over_2pi(ell))

    def python_fix(self, declared: UnitReading) -> str:
        """The keyword arguments that declare this reading, e.g. ``units='K2', ell_factor=True``."""
        fix = [f"units={self.units!r}"] if self.units != declared.units else []
        fix += [f"ell_factor={self.ell_factor}"] if self.ell_factor != declared.ell_factor else []
        return ", ".join(fix)

    def cli_fix(self, declared: UnitReading) -> str:
        """What to change on a command line that declares units with ``--units`` and
        ``--ell-factor``, e.g. ``pass --units K2 --ell-factor`` or ``leave out --ell-factor``."""
        add = [f"--units {self.units}"] if self.units != declared.units else []
        add += ["--ell-factor"] if self.ell_factor and not declared.ell_factor else []
        parts = [f"pass {' '.join(add)}"] if add else []
        if declared.ell_factor and not self.ell_factor:
            parts.append("leave out --ell-factor")
        return " and ".join(parts)

    def yaml_fix(self, declared: UnitReading) -> str:
        """The YAML options declaring this reading, e.g. ``units: K2`` and ``ell_factor: true``."""
        fix = [f"`units: {self.units}`"] if self.units != declared.units else []
        if self.ell_factor != declared.ell_factor:
            fix.append(f"`ell_factor: {str(self.ell_factor).lower()}`")
        return " and ".join(fix)


#: How clik receives the spectra (and how the Cobaya classes ask the theory for them).
MUK2_CL = UnitReading("muK2", False)


@dataclass(frozen=True)
class UnitDiagnosis:
    """A spectrum whose size at one multipole does not fit its declared units.

    ``value`` is the number at ``ell`` as the user gave it (``declared`` reading); ``dl_muK2``
    the D_ell [µK²] it means under that reading; ``reference`` the fiducial ΛCDM D_ell [µK²];
    ``explained_by`` the other reading that puts it within :data:`TOLERANCE_FACTOR` of the
    reference, or None.
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


def diagnose(
    spectrum: str,
    cl_muK2: np.ndarray,
    declared: UnitReading = MUK2_CL,
    T_cmb: float = T_CMB_FIRAS,
) -> UnitDiagnosis | None:
    """Check the size of one spectrum against the units it was declared in; None when it fits.

    ``spectrum`` is ``"tt"`` or ``"ee"``; ``cl_muK2`` the spectrum as clik receives it, C_ell
    [µK²] from ell = 0 (shape (n,)), converted from the user's numbers under the ``declared``
    reading (``T_cmb`` [K] for ``dimensionless``). The value at ell = 200 (or the highest ell
    given) is compared with the shipped fiducial ΛCDM spectrum; when it is more than a factor
    :data:`TOLERANCE_FACTOR` away, the result names the reading of the user's numbers that
    explains it, if one does.
    """
    ell = min(CHECK_ELL, len(cl_muK2) - 1)
    if ell < 2:
        return None
    cl = float(cl_muK2[ell])
    if not math.isfinite(cl):  # NaN/inf spectra are rejected points, not unit mistakes
        return None
    reference = _reference_dl(spectrum, ell)
    factor = TOLERANCE_FACTOR[spectrum]
    dl = cl * llp1_over_2pi(ell)
    if reference / factor <= dl <= reference * factor:  # the usual case: fine, and fast
        return None
    # the number the user gave: undo the declared reading's conversion at this ell
    value = dl / declared.to_dl_muK2(1.0, ell, T_cmb)
    tolerance = math.log(factor)

    def distance(reading: UnitReading) -> float:
        dl = reading.to_dl_muK2(value, ell, T_cmb)
        return abs(math.log(dl / reference)) if dl > 0 else math.inf

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
        dl_muK2=dl,
        reference=reference,
        explained_by=best if distance(best) <= tolerance else None,
    )
