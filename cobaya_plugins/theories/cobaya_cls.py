"""Cobaya's ``get_Cl(ell_factor, units)`` convention, applied to stored dimensionless spectra."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..units import cl_to_dl_factor, cobaya_temperature_factor


def serve_cls(
    current: Mapping[str, np.ndarray], ell_factor: bool, units: str | float, T_cmb: float
) -> dict[str, np.ndarray]:
    """New arrays, from ell = 0, in the form Cobaya's classy ``get_Cl`` returns them.

    ``current``: dimensionless spectra (C_ell of ΔT/T for ``tt ee bb te tb eb``, C_ell^φφ for
    ``pp``), each of shape (lmax+1,), plus ``"ell"``. Each CMB field (t, e, b) contributes one
    factor ``cobaya_temperature_factor(units, T_cmb)`` (so TT, TE, EE get its square; φφ none).
    ``ell_factor=True`` multiplies CMB spectra by ell(ell+1)/2π and φφ by [ell(ell+1)]²/2π, as
    Cobaya's classy does. Raises ``ValueError`` for unknown units.
    """
    factor = cobaya_temperature_factor(units, T_cmb)
    cls = {"ell": np.array(current["ell"])}
    for spectrum, values in current.items():
        if spectrum == "ell":
            continue
        out = values * factor ** sum(spectrum.count(field) for field in "teb")
        if ell_factor:
            dl = cl_to_dl_factor(len(values) - 1)
            if spectrum == "pp":
                out *= dl**2 * (2 * np.pi)
            elif "p" in spectrum:
                out *= dl**1.5 * np.sqrt(2 * np.pi)
            else:
                out *= dl
        cls[spectrum] = out
    return cls
