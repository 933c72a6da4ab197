"""Cobaya's "Cl" contract for theories: ``must_provide`` requests and ``get_Cl(ell_factor, units)``
applied to stored dimensionless spectra (shared by CallableCls and CosmoPower)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from cobaya.log import LoggedError

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


def record_cl_requests(
    theory: Any, requirements: Mapping[str, Any], add_request: Callable[[str, int], None],
    what_it_computes: str, alternative: str,
) -> None:
    """Cobaya's ``must_provide`` for a theory that computes "Cl" (and its own derived params).

    Each requested spectrum goes to ``add_request(spectrum, lmax)`` (lowercase name); any other
    request stops the run with a ``LoggedError`` saying ``what_it_computes`` and the
    ``alternative`` to use.
    """
    for name, options in requirements.items():
        if name == "Cl":
            for spectrum, lmax in (options or {}).items():
                add_request(spectrum.lower(), int(lmax))
        elif not (options is None and name in theory.output_params):
            raise LoggedError(
                theory.log,
                f"{theory.get_name()} computes {what_it_computes}; it cannot provide {name!r}. "
                f"{alternative}",
            )
