"""Assembly of the clik call vector.

clik's call vector is, for each spectrum the file uses (lmax != -1) in the order of
:data:`CMB_SPECTRA` (``pp`` first for lensing files), the spectrum for ell = 0..lmax — C_ell in µK²
for CMB spectra, the raw C_ell^φφ for ``pp`` — followed by the nuisance parameters in the file's own
order. :class:`CallVector` owns one preallocated float64 buffer and fills it in place on each call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cobaya_plugins.suggest import close_match, describe_unknown
from cobaya_plugins.units import T_CMB_FIRAS, dl_to_cl_factor, to_muK2_factor

#: Order of the CMB spectra in clik's lmax array and call vector.
CMB_SPECTRA = ("tt", "ee", "bb", "te", "tb", "eb")
#: Order for lensing (``clik_lensing``) files: the lensing potential first.
LENSING_SPECTRA = ("pp",) + CMB_SPECTRA
#: Spectra that may be omitted by the caller: zeros are passed (parity-violating, usually zero).
OPTIONAL_SPECTRA = ("tb", "eb")


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

    def cls_muK2(self) -> dict[str, np.ndarray]:
        """The spectra part of the buffer by name: views, C_ell [µK²] from ell = 0 to each lmax
        (``pp`` as given), as last filled."""
        return {name: self.buffer[sl] for name, sl in self.slices.items()}

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
        Raises ``ValueError`` for missing or too-short spectra, ``TypeError`` when ``cls`` is
        not a dict.
        """
        if not isinstance(cls, Mapping):
            raise TypeError(
                f"The spectra must be a dict by name ({', '.join(self.lmax)}: arrays from "
                f"ell = 0), got a {type(cls).__name__}."
            )
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
        return bool(np.isfinite(np.dot(cls_part, cls_part)))

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

        Raises ``ValueError`` listing the missing names and (if ``strict``) the unexpected ones,
        each with the closest expected name; ``TypeError`` when ``nuisance`` is not a dict.
        """
        if not isinstance(nuisance, Mapping):
            raise TypeError(
                f"The nuisance parameters must be a dict by name, got a "
                f"{type(nuisance).__name__}; this likelihood expects, in order: "
                f"{list(self.nuisance_names)}."
            )
        try:
            self.buffer[self.n_cls :] = [nuisance[p] for p in self.nuisance_names]
        except KeyError:
            missing = [p for p in self.nuisance_names if p not in nuisance]
            unknown = [p for p in nuisance if p not in self.nuisance_names]
            if not strict:  # other keys are allowed: mention only the likely typos
                unknown = [p for p in unknown if close_match(p, missing)]
            message = f"Missing nuisance parameter(s) {missing}."
            if unknown:
                message += f" Unknown: {describe_unknown(unknown, self.nuisance_names)}."
            raise ValueError(
                f"{message} This likelihood expects, in order: {list(self.nuisance_names)}."
            ) from None
        if strict and len(nuisance) != len(self.nuisance_names):
            unknown = [p for p in nuisance if p not in self.nuisance_names]
            raise ValueError(
                f"Unknown nuisance parameter(s) {describe_unknown(unknown, self.nuisance_names)}: "
                f"this likelihood expects exactly {list(self.nuisance_names)}."
            )
