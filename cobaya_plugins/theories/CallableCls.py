r"""Cobaya theory that turns a user's Python function into CMB power spectra.

The function is called with the model's parameters as keyword arguments and returns a dict::

    {"tt": array, "ee": array, "te": array,          # required when a likelihood asks for them
     "bb": array, "tb": array, "eb": array,          # optional
     "ell": array,                                   # optional; without it arrays start at ell = 0
     "derived": {"name": float, ...}}                # optional derived parameters

in the ``units`` declared in the YAML (``muK2``, ``K2`` or ``dimensionless`` = ΔT/T), as C_ell or,
with ``ell_factor: true``, as D_ell = ell(ell+1)C_ell/2π. The output is checked and converted once
per point to C_ell of ΔT/T (what CLASS computes, using the model's ``T_cmb``);
:meth:`CallableCls.get_Cl` then serves any units Cobaya allows. See
``docs/bring_your_own_model.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import NoReturn

import numpy as np
from cobaya.log import LoggedError
from cobaya.theory import Theory

from cobaya_plugins.theories.cobaya_cls import record_cl_requests
from cobaya_plugins.theories.errors import reject_point
from cobaya_plugins.theories.function_import import import_function, keyword_parameters
from cobaya_plugins.units import (
    T_CMB_FIRAS,
    UNITS,
    cl_to_dl_factor,
    cobaya_temperature_factor,
    dl_to_cl_factor,
    to_muK2_factor,
)
from cobaya_plugins.vector import CMB_SPECTRA

#: CMB spectra a model function may return (lowercase, as Cobaya requests them).
SPECTRA = CMB_SPECTRA

#: Other keys a model function may return.
OTHER_KEYS = ("ell", "derived")


class CallableCls(Theory):
    """CMB power spectra ("Cl") from a Python function; options in ``CallableCls.yaml``."""

    function: str | Callable
    units: str | None
    ell_factor: bool
    lmax: int | None
    T_cmb: float
    jax: bool

    def initialize(self):
        """Check the options and import the function (errors say which option is wrong)."""
        if self.units not in UNITS:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: set 'units' to the units of what the function returns: "
                f"one of {', '.join(UNITS)} (got {self.units!r}). 'dimensionless' is C_ell of "
                "ΔT/T, as CLASS returns it.",
            )
        if not isinstance(self.ell_factor, bool):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: 'ell_factor' must be true (the function returns D_ell) or "
                f"false (C_ell); got {self.ell_factor!r}.",
            )
        if not (isinstance(self.T_cmb, Real) and np.isfinite(self.T_cmb) and self.T_cmb > 0):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: 'T_cmb' must be a temperature in K, got {self.T_cmb!r}.",
            )
        if self.lmax is not None and not (isinstance(self.lmax, Integral) and self.lmax >= 2):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: 'lmax' must be an integer >= 2 (the highest ell the "
                f"function computes) or null; got {self.lmax!r}.",
            )
        if not self.function:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: set 'function' to the model function, as "
                "'package.module:func', 'package.module.func' or 'path/to/file.py:func'.",
            )
        try:
            self._function = import_function(self.function)
            required, optional, takes_any = keyword_parameters(self._function)
        except (ImportError, ValueError, TypeError) as excpt:
            raise LoggedError(self.log, f"{self.get_name()}: {excpt}") from excpt
        self._function_name = getattr(self._function, "__qualname__", repr(self._function))
        self._required_args = required
        self._known_args = required + optional
        self._takes_any_args = takes_any
        # Scalar taking the function's units to ΔT/T; the ell factor is applied per point.
        self._to_dimensionless = to_muK2_factor(self.units, self.T_cmb) / (self.T_cmb * 1e6) ** 2
        self._lmax_needed: dict[str, int] = {}

    def get_can_support_params(self) -> list[str]:
        """The function's keyword arguments: top-level parameters with these names are its input."""
        return list(self._known_args)

    def initialize_with_params(self):
        """Check that the parameters Cobaya assigned match the function's signature."""
        given = list(self.input_params)
        missing = [p for p in self._required_args if p not in given]
        unknown = [] if self._takes_any_args else [p for p in given if p not in self._known_args]
        if missing:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the function {self._function_name} needs the parameter(s) "
                f"{missing}, which are not defined. Declare them in a 'params' block (under the "
                "theory or at the top level), sampled (with a 'prior') or fixed (with a "
                f"'value'). Parameters passed to it now: {given}.",
            )
        if unknown:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the parameter(s) {unknown} are assigned to the function "
                f"{self._function_name}, which does not take them. Its parameters are "
                f"{self._known_args}: rename the parameters, or give the function a "
                "'**kwargs' argument.",
            )

    def must_provide(self, **requirements):
        """Record the spectra and lmax requested ("Cl") and accept declared derived parameters."""
        super().must_provide(**requirements)
        limit = None
        if self.lmax is not None:
            limit = (self.lmax, f"'lmax' says the function {self._function_name} computes it "
                                f"only up to ell = {self.lmax}")  # fmt: skip
        record_cl_requests(
            self, requirements, self._lmax_needed, SPECTRA, "a model function", limit,
            f"the CMB spectra 'Cl' (and the derived parameters {list(self.output_params)})",
            "Compute it in the function (raising 'lmax'), add a theory code that computes it, "
            "or use a likelihood that does not need it.",
        )  # fmt: skip

    def calculate(self, state, want_derived=True, **params_values_dict):
        """Call the function, check its output and store C_ell of ΔT/T in ``state["Cl"]``."""
        try:
            output = self._function(**params_values_dict)
        except Exception as excpt:
            self._reject(f"it raised {type(excpt).__name__}: {excpt}", params_values_dict)
        spectra, derived = self._read_output(output, params_values_dict)
        state["Cl"] = spectra
        if want_derived:
            state["derived"] = {p: derived[p] for p in self.output_params}

    def _reject(self, reason: str, params: dict) -> NoReturn:
        reject_point(self, f"the function {self._function_name}", reason, params)

    def _read_output(
        self, output: object, params: dict
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Validate the function's output; return (C_ell of ΔT/T by spectrum, derived values)."""
        name = f"{self.get_name()}: the function {self._function_name}"
        if not isinstance(output, Mapping):
            raise LoggedError(
                self.log,
                f"{name} returned a {type(output).__name__}; it must return a dict of arrays "
                f"with keys among {', '.join(SPECTRA + OTHER_KEYS)}.",
            )
        unknown = [k for k in output if k not in SPECTRA + OTHER_KEYS]
        if unknown:
            raise LoggedError(
                self.log,
                f"{name} returned unknown key(s) {unknown}; valid keys are "
                f"{', '.join(SPECTRA + OTHER_KEYS)} (lowercase).",
            )
        missing = [s for s in self._lmax_needed if s not in output]
        if missing:
            raise LoggedError(
                self.log,
                f"{name} returned no {missing}, which the likelihoods need (up to ell = "
                f"{[self._lmax_needed[s] for s in missing]}); it returned "
                f"{[k for k in output if k in SPECTRA]}.",
            )
        ell_min = self._read_ell_min(output, name)
        n_ell = len(output["ell"]) if "ell" in output else None
        spectra = {}
        for spectrum in (s for s in SPECTRA if s in output):
            values = np.asarray(output[spectrum], dtype=float)
            if values.ndim != 1 or (n_ell is not None and len(values) != n_ell):
                expected = (
                    "a 1-d array, ell = 0, 1, 2, ..."
                    if n_ell is None
                    else f"a 1-d array with one value per entry of 'ell' (length {n_ell})"
                )
                raise LoggedError(
                    self.log,
                    f"{name} returned {spectrum!r} with shape {values.shape}; expected {expected}.",
                )
            lmax_given = ell_min + len(values) - 1
            lmax_needed = self._lmax_needed.get(spectrum, 0)
            if lmax_given < lmax_needed:
                raise LoggedError(
                    self.log,
                    f"{name} returned {spectrum!r} up to ell = {lmax_given}, but a likelihood "
                    f"needs it up to ell = {lmax_needed}. Compute it to a higher ell (or use a "
                    "likelihood with a lower lmax).",
                )
            full = np.zeros(lmax_given + 1)
            full[ell_min:] = values
            spectra[spectrum] = self._to_cl_dimensionless(full, spectrum, params)
        spectra["ell"] = np.arange(max(len(v) for v in spectra.values()) if spectra else 0)
        return spectra, self._read_derived(output.get("derived"), name)

    def _read_ell_min(self, output: Mapping, name: str) -> int:
        """First ell of the returned arrays: 0, or ``output["ell"][0]`` (must be <= 2)."""
        if "ell" not in output:
            return 0
        ell = np.asarray(output["ell"])
        ok = (
            ell.ndim == 1
            and len(ell) > 0
            and np.all(ell == np.round(ell))
            and np.all(np.diff(ell) == 1)
            and 0 <= ell[0] <= 2
        )
        if not ok:
            raise LoggedError(
                self.log,
                f"{name} returned an 'ell' array that is not consecutive integers starting "
                f"at 0, 1 or 2 (got {ell!r:.80}). Return every ell from ell_min <= 2 up, or drop "
                "'ell' and start the arrays at ell = 0.",
            )
        return int(ell[0])

    def _to_cl_dimensionless(self, values: np.ndarray, spectrum: str, params: dict) -> np.ndarray:
        """C_ell of ΔT/T from the function's units; rejects the point on NaN/inf."""
        # D_ell carries nothing at ell = 0, 1: those entries are not used (C_ell = 0 there).
        checked = values[2:] if self.ell_factor else values
        if not np.all(np.isfinite(checked)):
            first = int(np.flatnonzero(~np.isfinite(checked))[0]) + (2 if self.ell_factor else 0)
            self._reject(f"{spectrum!r} is not finite (first at ell = {first})", params)
        if self.ell_factor:
            cl = np.zeros_like(values)
            cl[2:] = values[2:] * dl_to_cl_factor(len(values) - 1)[2:] * self._to_dimensionless
            return cl
        return values * self._to_dimensionless

    def _read_derived(self, derived: object, name: str) -> dict[str, float]:
        if derived is None:
            derived = {}
        if not isinstance(derived, Mapping):
            raise LoggedError(
                self.log, f"{name} returned 'derived' as a {type(derived).__name__}; use a dict."
            )
        missing = [p for p in self.output_params if p not in derived]
        if missing:
            raise LoggedError(
                self.log,
                f"{name} did not return the derived parameter(s) {missing} declared for it; it "
                f"returned derived: {list(derived)}. Return them in output['derived'], or "
                "remove them from the derived parameters.",
            )
        values = {}
        for p in self.output_params:
            try:
                values[p] = float(derived[p])
            except (TypeError, ValueError):
                raise LoggedError(
                    self.log, f"{name} returned derived {p!r} = {derived[p]!r}, not a number."
                ) from None
        return values

    def jax_calculate(self):
        """The theory as a JAX function for :mod:`cobaya_plugins.gradients` (``jax: true``).

        The user's function is called with JAX values and must be written with ``jax.numpy``;
        its output is converted as :meth:`calculate` does, to what ``get_Cl(ell_factor=False,
        units="FIRASmuK2")`` gives (C_ell in µK² from ell = 0). A point is rejected (valid =
        False) when a needed spectrum is not finite. Without ``jax: true`` a LoggedError says
        how to opt in.
        """
        import jax.numpy as jnp

        if self.jax is not True:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the gradient samplers need the function "
                f"{self._function_name} in JAX. If it is written with jax.numpy (jnp.exp, "
                "jnp.where, ... and no numpy calls on the parameters), set `jax: true` in the "
                "theory's YAML block; otherwise use Cobaya's `mcmc` or `minimize`.",
            )
        factor = self._to_dimensionless * (T_CMB_FIRAS * 1e6) ** 2
        needed = dict(self._lmax_needed)
        name = f"{self.get_name()}: the function {self._function_name}"

        def calculate(params):
            output = self._function(**params)
            if not isinstance(output, Mapping):
                raise LoggedError(
                    self.log, f"{name} returned a {type(output).__name__}, not a dict."
                )
            missing = [s for s in needed if s not in output]
            if missing:
                raise LoggedError(self.log, f"{name} returned no {missing}.")
            ell_min = self._read_ell_min(output, name)
            cls, valid = {}, jnp.asarray(True)
            for spectrum, lmax in needed.items():
                values = jnp.asarray(output[spectrum], dtype=jnp.float64)
                full = jnp.concatenate([jnp.zeros(ell_min), values])
                if full.shape[0] < lmax + 1:
                    raise LoggedError(
                        self.log,
                        f"{name} returned {spectrum!r} up to ell = {full.shape[0] - 1}, but a "
                        f"likelihood needs it up to ell = {lmax}.",
                    )
                if self.ell_factor:
                    full = full * dl_to_cl_factor(full.shape[0] - 1)
                used = full[2 : lmax + 1] if self.ell_factor else full[: lmax + 1]
                valid = valid & jnp.all(jnp.isfinite(used))
                cls[spectrum] = full * factor
            derived = dict(output.get("derived") or {})
            return {"Cl": cls, "derived": derived}, valid

        return calculate

    def get_Cl(self, ell_factor: bool = False, units: str | float = "FIRASmuK2") -> dict:
        """Lensed CMB spectra of the current point, arrays from ell = 0 (key ``"ell"``: the ells).

        ``units``: ``"FIRASmuK2"`` (default: µK² using T = 2.7255 K), ``"FIRASK2"``, ``"muK2"``
        and ``"K2"`` (using this theory's ``T_cmb``), ``"1"`` (ΔT/T) or a number (the factor
        multiplying ΔT/T, squared for a spectrum). ``ell_factor=True`` returns
        D_ell = ell(ell+1)C_ell/2π. New arrays on every call.
        """
        try:
            factor = cobaya_temperature_factor(units, self.T_cmb) ** 2
        except ValueError as excpt:
            raise LoggedError(self.log, f"{self.get_name()}.get_Cl: {excpt}") from None
        try:
            current = self.current_state["Cl"]
        except KeyError:
            raise LoggedError(
                self.log, f"{self.get_name()}: no spectra computed; was 'Cl' requested?"
            ) from None
        cls = {"ell": current["ell"].copy()}
        for spectrum, values in current.items():
            if spectrum == "ell":
                continue
            cls[spectrum] = values * factor
            if ell_factor:
                cls[spectrum] *= cl_to_dl_factor(len(values) - 1)
        return cls
