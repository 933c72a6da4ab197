"""Cobaya's classy theory for modified CLASS builds and post-processed spectra.

:class:`ModifiedClassy` is Cobaya's ``classy`` with three additions (options in
``ModifiedClassy.yaml``; ``path`` and every classy option work as in Cobaya):

``extra_input_params``
    Names of non-standard CLASS inputs (e.g. of a modified CLASS) that may be sampled or fixed;
    they are passed to CLASS even when the theory has its own ``params`` block.
``extra_derived``
    Derived parameters read from the CLASS object by name, for quantities Cobaya's classy does
    not know (it refuses them): a list of names, or a dict ``{parameter: CLASS name}``. A name is
    read from the ``classy.Class`` method of that name (called without arguments), else from
    ``get_current_derived_parameters``.
``postprocess``
    Import path of a function ``f(cls, **params) -> cls`` applied to the lensed spectra after
    every CLASS computation. ``cls`` is CLASS's ``lensed_cl()`` dict (C_ell of ΔT/T from
    ell = 0, keys ``tt ee bb te pp tp ell``); ``f`` returns a new dict (it may add ``tb``/``eb``).
    Its keyword arguments (e.g. ``beta_deg`` of :func:`cobaya_plugins.models.birefringence.rotate`)
    are model parameters: they go to ``f`` and are not passed to CLASS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import NoReturn

import numpy as np
from cobaya.log import LoggedError
from cobaya.theories.classy import classy

from cobaya_plugins.theories.errors import reject_point
from cobaya_plugins.theories.function_import import import_function, keyword_parameters


class ModifiedClassy(classy):
    """CLASS (Cobaya's classy) with extra inputs, extra derived parameters and a postprocess."""

    extra_input_params: list[str] | None
    extra_derived: list[str] | dict[str, str] | None
    postprocess: str | Callable | None

    @classmethod
    def get_path(cls, path: str) -> str:
        """Where ``cobaya-install`` puts CLASS: the same folder as for Cobaya's classy."""
        return os.path.realpath(os.path.join(path, "code", "classy"))

    def initialize(self):
        """Load CLASS as Cobaya's classy does, then check and load the three extra options."""
        super().initialize()
        self._extra_inputs = self._read_names("extra_input_params", self.extra_input_params)
        if isinstance(self.extra_derived, Mapping):
            self._extra_derived = {str(p): str(n) for p, n in self.extra_derived.items()}
        else:
            self._extra_derived = {
                p: p for p in self._read_names("extra_derived", self.extra_derived)
            }
        self._extra_derived_needed: set[str] = set()
        self._postprocess = None
        self._postprocess_args: list[str] = []
        self._postprocess_required: list[str] = []
        if self.postprocess:
            try:
                self._postprocess = import_function(self.postprocess)
                required, optional, _ = keyword_parameters(self._postprocess, skip=1)
            except (ImportError, ValueError, TypeError) as excpt:
                raise LoggedError(self.log, f"{self.get_name()} 'postprocess': {excpt}") from excpt
            self._postprocess_args = required + optional
            self._postprocess_required = required
            if both := set(self._postprocess_args) & set(self._extra_inputs):
                raise LoggedError(
                    self.log,
                    f"{self.get_name()}: {sorted(both)} are both 'extra_input_params' (passed to "
                    "CLASS) and parameters of the 'postprocess' function; keep each in one place.",
                )

    def _read_names(self, option: str, value: object) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not (isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: '{option}' must be a list of parameter names, got {value!r}.",
            )
        return list(value)

    def get_can_support_params(self) -> list[str]:
        """classy's inputs plus ``extra_input_params`` and the postprocess parameters."""
        return list(super().get_can_support_params()) + self._extra_inputs + self._postprocess_args

    def get_can_provide_params(self) -> list[str]:
        """classy's derived parameters plus ``extra_derived``."""
        return list(super().get_can_provide_params()) + list(self._extra_derived)

    def initialize_with_params(self):
        """Check that every required parameter of the postprocess function is defined."""
        super().initialize_with_params()
        if missing := [p for p in self._postprocess_required if p not in self.input_params]:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the 'postprocess' function {self.postprocess} needs the "
                f"parameter(s) {missing}, which are not defined. Declare them in a 'params' "
                "block, sampled (with a 'prior') or fixed (with a 'value').",
            )

    def must_provide(self, **requirements):
        """As classy, but ``extra_derived`` parameters are read here, not by classy."""
        for name in [n for n in requirements if n in self._extra_derived]:
            if requirements.pop(name) is not None:
                raise LoggedError(self.log, f"{name!r} is a derived parameter: request it as None.")
            self._extra_derived_needed.add(name)
        conditional = super().must_provide(**requirements)
        # classy adds every output parameter to the names it asks CLASS for: not these ones.
        hidden = set(self._extra_derived) | {self.translate_param(p) for p in self._extra_derived}
        self.derived_extra = [p for p in self.derived_extra if p not in hidden]
        return conditional

    def calculate(self, state, want_derived=True, **params_values_dict):
        """Run CLASS without the postprocess parameters, then apply the postprocess to "Cl"."""
        post_values = {
            p: params_values_dict.pop(p) for p in self._postprocess_args if p in params_values_dict
        }
        if super().calculate(state, want_derived, **params_values_dict) is False:
            return False
        if self._postprocess is not None and "Cl" in state:
            state["Cl"] = self._apply_postprocess(state["Cl"], post_values)

    def _apply_postprocess(self, cls: dict, params: dict) -> dict:
        """The postprocess output, checked (same shapes as CLASS's, finite) and as float arrays."""
        try:
            result = self._postprocess(cls, **params)
        except Exception as excpt:
            self._reject(f"it raised {type(excpt).__name__}: {excpt}", params)
        name = f"{self.get_name()}: the 'postprocess' function {self.postprocess}"
        needed = ["ell"] + list((self.requested() or {}).get("Cl") or {})
        if not isinstance(result, Mapping) or any(k not in result for k in needed):
            raise LoggedError(
                self.log,
                f"{name} must return a dict with (at least) the keys {needed}; got "
                f"{list(result) if isinstance(result, Mapping) else type(result).__name__}.",
            )
        if not np.array_equal(result["ell"], cls["ell"]):
            raise LoggedError(self.log, f"{name} changed 'ell': return CLASS's 'ell' unchanged.")
        result = dict(result)
        for key, array in result.items():
            if key == "ell":
                continue
            array = np.asarray(array, dtype=float)
            if array.shape != cls["ell"].shape:
                raise LoggedError(
                    self.log,
                    f"{name} returned {key!r} with shape {array.shape}; it must keep CLASS's "
                    f"shape {cls['ell'].shape} (ell = 0..{len(cls['ell']) - 1}).",
                )
            if not np.all(np.isfinite(array)):
                self._reject(f"{key!r} is not finite", params)
            result[key] = array
        return result

    def _reject(self, reason: str, params: dict) -> NoReturn:
        reject_point(self, "the 'postprocess' function", reason, params)

    def _get_derived_all(self, derived_requested=True):
        # classy reads every output parameter with CLASS's get_current_derived_parameters, which
        # fails for names it does not know: hide the extra ones from it and read them here.
        output_params = self.output_params
        self.output_params = [p for p in output_params if p not in self._extra_derived]
        try:
            derived, derived_extra = super()._get_derived_all(derived_requested)
        finally:
            self.output_params = output_params
        wanted = set(self._extra_derived_needed)
        if derived_requested:
            wanted.update(p for p in output_params if p in self._extra_derived)
        for p in wanted:
            value = self._read_extra_derived(p)
            derived_extra[self.translate_param(p)] = value
            if p in output_params:
                derived[p] = value
        return derived, derived_extra

    def _read_extra_derived(self, param: str) -> float:
        """Value of an ``extra_derived`` parameter from the CLASS object of the current point."""
        name = self._extra_derived[param]
        attribute = getattr(self.classy, name, None)
        try:
            if attribute is not None:
                value = attribute() if callable(attribute) else attribute
            else:
                value = self.classy.get_current_derived_parameters([name])[name]
            return float(value)
        except (self.classy_module.CosmoSevereError, TypeError, ValueError, KeyError) as excpt:
            methods = sorted(m for m in dir(self.classy) if not m.startswith("_"))
            raise LoggedError(
                self.log,
                f"{self.get_name()}: cannot read the extra derived parameter {param!r} as "
                f"{name!r} from CLASS ({type(excpt).__name__}: {' '.join(str(excpt).split())}). "
                "It must be a method of "
                "classy.Class taking no arguments, or a name known to "
                f"get_current_derived_parameters. Methods of this CLASS: {', '.join(methods)}.",
            ) from None
