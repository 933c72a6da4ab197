"""Cobaya's "Cl" contract for theories: ``must_provide`` requests and ``get_Cl(ell_factor, units)``
applied to stored dimensionless spectra (shared by CallableCls and CosmoPower)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from cobaya.log import LoggedError

from cobaya_plugins.units import cl_to_dl_factor, cobaya_temperature_factor


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
    theory: Any,
    requirements: Mapping[str, Any],
    lmax_needed: dict[str, int],
    provided: Sequence[str],
    provider: str,
    lmax_limit: tuple[int, str] | None,
    what_it_computes: str,
    alternative: str,
) -> None:
    """Cobaya's ``must_provide`` for a theory that computes "Cl" (and its own derived params).

    Each requested spectrum (lowercase name) must be in ``provided`` and, if ``lmax_limit`` is
    ``(limit, why)``, have lmax <= limit; its largest requested lmax goes into ``lmax_needed``.
    A spectrum it does not provide, an lmax beyond the limit, or a request other than "Cl" and
    its own derived parameters stops the run with a ``LoggedError`` naming ``provider`` (or
    ``why`` the limit holds, or ``what_it_computes``) and the ``alternative`` to use.
    """
    name = theory.get_name()
    for request, options in requirements.items():
        if request != "Cl":
            if options is None and request in theory.output_params:
                continue
            raise LoggedError(
                theory.log,
                f"{name} computes {what_it_computes}; it cannot provide {request!r}. {alternative}",
            )
        for spectrum, lmax in (options or {}).items():
            spectrum, lmax = spectrum.lower(), int(lmax)
            if spectrum not in provided:
                raise LoggedError(
                    theory.log,
                    f"{name}: a likelihood requested the spectrum {spectrum!r}, which "
                    f"{provider} does not provide; it provides {', '.join(provided)}. "
                    f"{alternative}",
                )
            if lmax_limit is not None and lmax > lmax_limit[0]:
                raise LoggedError(
                    theory.log,
                    f"{name}: a likelihood needs {spectrum!r} up to ell = {lmax}, but "
                    f"{lmax_limit[1]}. {alternative}",
                )
            lmax_needed[spectrum] = max(lmax_needed.get(spectrum, 0), lmax)
