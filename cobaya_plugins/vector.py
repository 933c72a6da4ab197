"""Assembly of the clik call vector, and the unit-mistake guard.

clik's call vector is, for each spectrum the file uses (lmax != -1) in the order of
:data:`CMB_SPECTRA` (``pp`` first for lensing files), the spectrum for ell = 0..lmax — C_ell in µK²
for CMB spectra, the raw C_ell^φφ for ``pp`` — followed by the nuisance parameters in the file's own
order. :class:`CallVector` owns one preallocated float64 buffer and fills it in place on each call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from .units import T_CMB_FIRAS, UNITS, dl_to_cl_factor, to_muK2_factor

#: Order of the CMB spectra in clik's lmax array and call vector.
CMB_SPECTRA = ("tt", "ee", "bb", "te", "tb", "eb")
#: Order for lensing (``clik_lensing``) files: the lensing potential first.
LENSING_SPECTRA = ("pp",) + CMB_SPECTRA
#: Spectra that may be omitted by the caller: zeros are passed (parity-violating, usually zero).
OPTIONAL_SPECTRA = ("tb", "eb")

# Unit-mistake guard: D_ell [µK²] of the guarded spectrum at the reference multipole may differ
# from the shipped fiducial LCDM spectrum by at most these factors. The mistakes it catches are
# off by ell(ell+1)/2π (>= 67 at ell >= 20) or by 1e12 / (T_cmb·1e6)².
_GUARD_FACTOR = {"tt": 8.0, "ee": 100.0}
_GUARD_ELL = 200


class CallVector:
    """Preallocated clik call vector for one likelihood file.

    ``lmax`` maps spectrum name to its lmax (only spectra in use, in clik order);
    ``nuisance_names`` is the file's parameter order. ``buffer`` has shape
    (Σ(lmax+1) + n_nuisance,).
    """

    def __init__(self, lmax: Mapping[str, int], nuisance_names: Sequence[str]):
        self.lmax = dict(lmax)
        self.nuisance_names = tuple(nuisance_names)
        self.slices: dict[str, slice] = {}
        offset = 0
        for name, lm in self.lmax.items():
            self.slices[name] = slice(offset, offset + lm + 1)
            offset += lm + 1
        self.n_cls = offset
        self.buffer = np.zeros(offset + len(self.nuisance_names))
        self._dl_to_cl = {lm: dl_to_cl_factor(lm) for lm in set(self.lmax.values())}
        guard = [s for s in ("tt", "ee") if s in self.lmax]
        self._guard_spectrum = guard[0] if guard else None

    def fill_cls(
        self,
        cls: Mapping[str, np.ndarray],
        units: str = "muK2",
        ell_factor: bool = False,
        T_cmb: float = T_CMB_FIRAS,
    ) -> bool:
        """Write the spectra into the buffer as C_ell µK² (``pp`` is copied unconverted).

        ``cls`` maps lowercase names to arrays from ell = 0 (longer arrays are cut at lmax).
        Returns False when a value is NaN or infinite (the caller reports logL = -inf).
        Raises ``ValueError`` for missing or too-short spectra and for a likely unit mistake.
        """
        factor = to_muK2_factor(units, T_cmb)
        buf = self.buffer
        for name, sl in self.slices.items():
            lm = self.lmax[name]
            cl = cls.get(name)
            if cl is None:
                if name in OPTIONAL_SPECTRA:
                    buf[sl] = 0.0
                    continue
                raise ValueError(
                    f"Spectrum {name!r} is required (ell 0..{lm}) but missing; got "
                    f"{sorted(cls)}. Required: {list(self.lmax)} ({', '.join(OPTIONAL_SPECTRA)} "
                    "may be omitted: zeros are used)."
                )
            cl = np.asarray(cl)
            if cl.ndim != 1 or cl.shape[0] < lm + 1:
                raise ValueError(
                    f"Spectrum {name!r} has shape {cl.shape}, but this likelihood needs a 1-d "
                    f"array for ell = 0..{lm} (at least {lm + 1} values, starting at ell = 0)."
                )
            out = buf[sl]
            if name == "pp":
                out[:] = cl[: lm + 1]
                continue
            np.multiply(cl[: lm + 1], factor, out=out)
            if ell_factor:
                out *= self._dl_to_cl[lm]
        cls_part = buf[: self.n_cls]
        if not np.isfinite(np.dot(cls_part, cls_part)):
            return False
        if self._guard_spectrum is not None:
            check_units(
                self._guard_spectrum, buf[self.slices[self._guard_spectrum]], units, ell_factor
            )
        return True

    def fill(
        self,
        cls: Mapping[str, np.ndarray],
        nuisance: Mapping[str, float],
        units: str = "muK2",
        ell_factor: bool = False,
        T_cmb: float = T_CMB_FIRAS,
        strict: bool = True,
    ) -> bool:
        """Fill the whole buffer (:meth:`fill_cls`, then :meth:`fill_nuisance`).

        Returns False, leaving the nuisance part untouched, when a spectrum is NaN or infinite.
        """
        if not self.fill_cls(cls, units, ell_factor, T_cmb):
            return False
        self.fill_nuisance(nuisance, strict)
        return True

    def fill_nuisance(self, nuisance: Mapping[str, float], strict: bool = True) -> None:
        """Write the nuisance values in the file's order; ``nuisance`` is a dict by name.

        Raises ``ValueError`` listing the missing names, and (if ``strict``) the unexpected ones.
        """
        try:
            self.buffer[self.n_cls :] = [nuisance[p] for p in self.nuisance_names]
        except KeyError:
            missing = [p for p in self.nuisance_names if p not in nuisance]
            raise ValueError(
                f"Missing nuisance parameter(s) {missing}. This likelihood expects, in order: "
                f"{list(self.nuisance_names)}."
            ) from None
        if strict and len(nuisance) != len(self.nuisance_names):
            unknown = sorted(set(nuisance) - set(self.nuisance_names))
            raise ValueError(
                f"Unknown nuisance parameter(s) {unknown}: this likelihood expects exactly "
                f"{list(self.nuisance_names)}."
            )


@functools.cache
def _reference_dl(name: str, ell: int) -> float:
    """D_ell [µK²] of the shipped fiducial spectrum ``name`` at ``ell``."""
    from .fiducial import load_fiducial

    return float(load_fiducial()[name][ell] * ell * (ell + 1) / (2 * np.pi))


def check_units(name: str, cl_muK2: np.ndarray, units: str, ell_factor: bool) -> None:
    """Raise ``ValueError`` if a converted spectrum (C_ell µK², ell from 0) has an implausible size.

    ``name`` is ``"tt"`` or ``"ee"``. The check compares D_ell at ell = 200 (or the highest ell
    available) with the shipped fiducial LCDM spectrum and, when it is off by more than a factor
    8 (TT) or 100 (EE), names the most likely mistake — D_ell given as C_ell (or the reverse), K²
    or ΔT/T given as µK², and so on — with the fix.
    """
    ell = min(_GUARD_ELL, len(cl_muK2) - 1)
    if ell < 2:
        return
    to_dl = ell * (ell + 1) / (2 * np.pi)
    dl = cl_muK2[ell] * to_dl
    ref = _reference_dl(name, ell)
    tolerance = math.log(_GUARD_FACTOR[name])
    if dl > 0 and abs(math.log(dl / ref)) <= tolerance:
        return
    # The raw input value, and the reading of it closest to the fiducial.
    raw = (dl if ell_factor else cl_muK2[ell]) / to_muK2_factor(units)
    said = f"{'D_ell' if ell_factor else 'C_ell'} in {units}"
    msg = (
        f"{name.upper()} at ell={ell} is {raw:.3g} ({said}), i.e. D_ell = {dl:.3g} µK², but a "
        f"CMB spectrum has D_ell ~ {ref:.3g} µK² there"
    )
    best = None
    if raw > 0:
        readings = [(u, is_dl) for u in UNITS for is_dl in (False, True)]
        readings.remove((units, ell_factor))
        distance = {
            (u, is_dl): abs(math.log(raw * to_muK2_factor(u) * (1.0 if is_dl else to_dl) / ref))
            for u, is_dl in readings
        }
        best = min(distance, key=distance.get)
        if distance[best] > tolerance:
            best = None
    if best is None:
        msg += ": check the units and the ell_factor flag of the spectra you pass."
    else:
        u, is_dl = best
        fix = [f"units={u!r}"] if u != units else []
        fix += [f"ell_factor={is_dl}"] if is_dl != ell_factor else []
        kind = "D_ell" if is_dl else "C_ell"
        msg += f": this looks like {kind} in {u}; pass {' and '.join(fix)}."
    raise ValueError(msg)
