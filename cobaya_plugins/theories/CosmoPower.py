r"""Cobaya theory serving lensed CMB spectra from the CosmoPower emulators (milliseconds per point).

:class:`CosmoPower` replaces CLASS or CAMB for flat ΛCDM: it evaluates the trained networks shipped
in the ``cosmopower-jax`` wheel (:mod:`cobaya_plugins.emulator`) and serves TT, TE, EE and φφ
through ``get_Cl(ell_factor, units)`` exactly like Cobaya's classy, for ell up to 2508.

Inputs (Cobaya names, sampled or fixed): ``omega_b``, ``omega_cdm``, ``H0`` or ``h``,
``tau_reio``, ``n_s``, ``logA`` (= ln(10¹⁰A_s)) or ``A_s``/``As``. Derived: the other of
``H0``/``h`` and of ``logA``/``A_s``/``As``. The networks emulate CLASS with massless neutrinos
(N_eff = 3.046) and linear lensing (measured, docs/emulator.md); a point outside the training box
(option ``box``) is rejected, never extrapolated. With the option ``anchor`` (CLASS settings),
one CLASS run at start measures the emulator's systematic error at one point and corrects it
everywhere (:mod:`cobaya_plugins.anchor`). Options in ``CosmoPower.yaml``; see
``docs/emulator.md``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from numbers import Real

import numpy as np
from cobaya.log import LoggedError
from cobaya.theory import Theory

from cobaya_plugins.anchor import DEFAULT_POINT, AnchorCorrection, class_spectra
from cobaya_plugins.emulator import (
    INPUTS as EMULATOR_INPUTS,
)
from cobaya_plugins.emulator import (
    LMAX,
    PRECISIONS,
    SPECTRA,
    TRAINING_BOX,
    CMBEmulator,
    outside_box,
    package_dir,
)
from cobaya_plugins.suggest import close_match, describe_unknown, typo_variants
from cobaya_plugins.theories.cobaya_cls import record_cl_requests, serve_cls
from cobaya_plugins.theories.errors import reject_point
from cobaya_plugins.units import T_CMB_FIRAS


def _same(value, xp=math):
    """An input the emulator takes as it is."""
    return value


def _log_1e10(value, xp=math):
    """ln(10¹⁰ A_s) from A_s (``xp``: ``math`` for floats, ``jax.numpy`` when traced)."""
    return xp.log(1e10 * value)


#: Accepted Cobaya names for each emulator input, and the conversion to the emulator's input
#: (``f(value, xp=math)``: the same functions serve floats and, with ``xp=jax.numpy``, JAX).
INPUT_NAMES: dict[str, dict[str, Callable]] = {
    "omega_b": {"omega_b": _same},
    "omega_cdm": {"omega_cdm": _same},
    "h": {"h": _same, "H0": lambda H0, xp=math: H0 / 100},
    "tau_reio": {"tau_reio": _same},
    "n_s": {"n_s": _same},
    "ln10^{10}A_s": {"logA": _same, "A_s": _log_1e10, "As": _log_1e10},
}

#: Every accepted input name.
ACCEPTED = [name for names in INPUT_NAMES.values() for name in names]
#: The inputs, as error messages list them.
INPUTS_TEXT = "Its inputs: omega_b, omega_cdm, H0 (or h), tau_reio, n_s, logA (or A_s, As)."

#: Names of the ``box`` option (Cobaya-style) -> emulator input.
BOX_NAMES = {
    "omega_b": "omega_b",
    "omega_cdm": "omega_cdm",
    "h": "h",
    "tau_reio": "tau_reio",
    "n_s": "n_s",
    "logA": "ln10^{10}A_s",
}

#: Derived parameters it can give (those of these names that are not inputs).
DERIVED = ("h", "H0", "logA", "A_s", "As")


class CosmoPower(Theory):
    """Lensed CMB spectra (TT, TE, EE, φφ) from the CosmoPower networks; ``CosmoPower.yaml``."""

    box: dict | None
    precision: str
    T_cmb: float
    anchor: dict | None
    anchor_point: dict | None

    def initialize(self):
        """Check the options and that cosmopower-jax is installed (networks load at first use)."""
        try:
            package_dir()
        except ImportError as excpt:
            raise LoggedError(self.log, f"{self.get_name()}: {excpt}") from None
        if not (isinstance(self.T_cmb, Real) and np.isfinite(self.T_cmb) and self.T_cmb > 0):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: 'T_cmb' must be a temperature in K, got {self.T_cmb!r}.",
            )
        if self.precision not in PRECISIONS:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: `precision: {self.precision}` is not an option; use "
                f"{' or '.join(f'`precision: {p}`' for p in PRECISIONS)}.",
            )
        self._box = self._read_box()
        self._anchor_point = self._read_anchor()
        self._lmax_needed: dict[str, int] = {}
        self._emulator: CMBEmulator | None = None
        self._correction: AnchorCorrection | None = None
        self._inputs: dict[str, str] = {}
        #: Number of points rejected because they were outside the box.
        self.n_rejected = 0

    def _read_box(self) -> dict[str, tuple[float, float]]:
        """The training box with the ``box`` option's bounds applied (emulator input names)."""
        box = dict(TRAINING_BOX)
        if self.box is None:
            return box
        if not isinstance(self.box, Mapping):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: 'box' must be a dict of [min, max] bounds, e.g. "
                f"box: {{h: [0.55, 0.8]}}; got {self.box!r}.",
            )
        for name, bounds in self.box.items():
            if name not in BOX_NAMES:
                raise LoggedError(
                    self.log,
                    f"{self.get_name()}: 'box' has the unknown parameter {name!r}; use any of "
                    f"{', '.join(BOX_NAMES)}, e.g. box: {{h: [0.55, 0.8]}}.",
                )
            ok = (
                isinstance(bounds, list | tuple)
                and len(bounds) == 2
                and all(isinstance(b, Real) and np.isfinite(b) for b in bounds)
                and bounds[0] < bounds[1]
            )
            if not ok:
                raise LoggedError(
                    self.log,
                    f"{self.get_name()}: 'box' bounds of {name!r} must be [min, max] with "
                    f"min < max, e.g. box: {{{name}: {list(TRAINING_BOX[BOX_NAMES[name]])}}}; "
                    f"got {bounds!r}.",
                )
            low, high = TRAINING_BOX[BOX_NAMES[name]]
            if bounds[0] < low or bounds[1] > high:
                self.log.warning(
                    "%s: 'box' widens %s to %s beyond the training range [%g, %g]: the "
                    "emulator extrapolates there, untested and possibly wrong.",
                    self.get_name(), name, list(bounds), low, high,
                )  # fmt: skip
            box[BOX_NAMES[name]] = (float(bounds[0]), float(bounds[1]))
        return box

    def _read_anchor(self) -> dict[str, float] | None:
        """The anchor point (emulator input names) when ``anchor`` is set, else None."""
        if self.anchor is None:
            return None
        if not isinstance(self.anchor, Mapping):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: 'anchor' must be a dict of CLASS settings (e.g. anchor: "
                "{N_ur: 2.0328, N_ncdm: 1, m_ncdm: 0.06, non_linear: hmcode}), or {} for CLASS's "
                f"defaults; got {self.anchor!r}.",
            )
        if self.anchor_point is None:
            return dict(DEFAULT_POINT)
        point = {}
        for emulator_name, names in INPUT_NAMES.items():
            given = [n for n in names if n in self.anchor_point]
            if len(given) != 1:
                raise LoggedError(
                    self.log,
                    f"{self.get_name()}: 'anchor_point' needs exactly one of {list(names)}; got "
                    f"{sorted(self.anchor_point)}.",
                )
            point[emulator_name] = INPUT_NAMES[emulator_name][given[0]](self.anchor_point[given[0]])
        unknown = set(self.anchor_point) - {n for names in INPUT_NAMES.values() for n in names}
        if unknown:
            raise LoggedError(
                self.log, f"{self.get_name()}: 'anchor_point' has unknown names {sorted(unknown)}."
            )
        return point

    def _start_emulator(self) -> None:
        """Load the networks for the requested spectra and, with ``anchor``, run CLASS once."""
        spectra = set(self._lmax_needed)
        if self._anchor_point is not None and "te" in spectra:
            spectra |= {"tt", "ee"}  # the TE correction scales with sqrt(TT EE)
        self._emulator = CMBEmulator(sorted(spectra), self.precision)
        if self._anchor_point is None:
            return
        start = time.perf_counter()
        try:
            reference = class_spectra(self._anchor_point, self.anchor, spectra=sorted(spectra))
        except Exception as excpt:  # classy's errors: a bad setting is the user's to fix
            raise LoggedError(
                self.log,
                f"{self.get_name()}: CLASS failed at the anchor point with anchor settings "
                f"{self.anchor}: {excpt}",
            ) from None
        self._correction = AnchorCorrection.measure(self._emulator(self._anchor_point), reference)
        self.log.info(
            "%s: anchored on CLASS %s at %s (%.1f s).",
            self.get_name(), self.anchor, self._anchor_point, time.perf_counter() - start,
        )  # fmt: skip

    def get_can_support_params(self) -> list[str]:
        """Every accepted input name (one per emulator input must be given).

        Their likely misspellings are claimed too (one letter's case flipped, ``h0``; in names of
        6 letters or more one letter missing, extra, wrong or two swapped, ``omega_cmd``: see
        :func:`cobaya_plugins.suggest.typo_variants`), so that such a typo in ``params``
        reaches :meth:`initialize_with_params`, which names it with the input it stands for,
        instead of only saying that input is missing. A claimed name whose input is given
        under its right name too is not used here (e.g. ``omega_m`` of a BAO likelihood);
        :meth:`initialize_with_provider` warns when nothing else uses it either.
        """
        return ACCEPTED + sorted(typo_variants(ACCEPTED))

    def get_can_provide_params(self) -> list[str]:
        """Derived parameters: ``h``/``H0`` and ``logA``/``A_s``/``As`` (those not inputs)."""
        return list(DERIVED)

    def initialize_with_params(self):
        """Check that each emulator input is given exactly once, under one of its names; a
        misspelled name standing for a missing input is named with the input it stands for."""
        given = list(self.input_params)
        self._stray = [p for p in given if p not in ACCEPTED]
        missing = [names for names in INPUT_NAMES.values() if not any(p in given for p in names)]
        typos = [p for p in self._stray if any(close_match(p, names) for names in missing)]
        if typos:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: {describe_unknown(typos, ACCEPTED)} in 'params' "
                f"{'is not an input' if len(typos) == 1 else 'are not inputs'} of the "
                f"emulator: correct the name in the 'params' block. {INPUTS_TEXT}",
            )
        for emulator_name, names in INPUT_NAMES.items():
            found = [p for p in names if p in given]
            if not found:
                raise LoggedError(
                    self.log,
                    f"{self.get_name()} needs exactly one of {list(names)} in 'params' "
                    "(sampled with a 'prior', or fixed with a 'value'); found none.",
                )
            if len(found) > 1:
                raise LoggedError(
                    self.log,
                    f"{self.get_name()} needs exactly one of {list(names)} in 'params'; found "
                    f'{found}. If one is computed from the other (e.g. A_s: "lambda logA: '
                    "1e-10*np.exp(logA)\"), give the other 'drop: true' so that it does not "
                    "reach the theory.",
                )
            self._inputs[emulator_name] = found[0]
        both = [p for p in self.output_params if p in given]
        if both:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: {both} are inputs and cannot also be derived; remove them "
                "from the derived parameters.",
            )

    def initialize_with_provider(self, provider):
        """Warn about a misspelled input name (claimed by :meth:`get_can_support_params`, its
        input given under the right name too) that nothing else in the model uses either."""
        super().initialize_with_provider(provider)
        model = provider.model
        used = {p for c in model.components if c is not self for p in c.input_params}
        used.update(*model.parameterization.input_dependencies.values())
        used.update(model.prior.external_dependence)
        unused = [p for p in self._stray if p not in used]
        if unused:
            self.log.warning(
                "%s: %s in 'params' %s not an input of the emulator, and no other component "
                "seems to use %s: if it is a misspelling, remove or correct it in the 'params' "
                "block. %s",
                self.get_name(), describe_unknown(unused, ACCEPTED),
                "is" if len(unused) == 1 else "are", "it" if len(unused) == 1 else "them",
                INPUTS_TEXT,
            )  # fmt: skip

    def must_provide(self, **requirements):
        """Record the spectra and lmax requested ("Cl") and accept its derived parameters."""
        super().must_provide(**requirements)
        record_cl_requests(
            self, requirements, self._lmax_needed, SPECTRA, "the emulator",
            (LMAX, f"the emulator's networks stop at ell = {LMAX}"),
            f"the CMB spectra 'Cl' and the derived parameters {list(DERIVED)}",
            "Use CLASS or CAMB (theory: classy) for this likelihood.",
        )  # fmt: skip

    def calculate(self, state, want_derived=True, **params_values_dict):
        """Evaluate the networks (rejecting points outside the box); store C_ell of ΔT/T."""
        x = {
            emulator_name: INPUT_NAMES[emulator_name][name](params_values_dict[name])
            for emulator_name, name in self._inputs.items()
        }
        outside = outside_box(x, self._box)
        if outside:
            self.n_rejected += 1
            reject_point(
                self,
                "the emulator",
                f"outside its box ({'; '.join(outside)}): never extrapolated",
                params_values_dict,
            )
        if self._emulator is None and self._lmax_needed:
            self._start_emulator()
        cls = self._emulator(x) if self._lmax_needed else {}
        if self._correction is not None:
            cls = self._correction.apply(cls)
        cls["ell"] = np.arange(LMAX + 1)
        state["Cl"] = cls
        if want_derived:
            derived = {
                "h": x["h"],
                "H0": 100 * x["h"],
                "logA": x["ln10^{10}A_s"],
                "A_s": 1e-10 * math.exp(x["ln10^{10}A_s"]),
            }
            derived["As"] = derived["A_s"]
            state["derived"] = {p: derived[p] for p in self.output_params}

    def get_Cl(self, ell_factor: bool = False, units: str | float = "FIRASmuK2") -> dict:
        """Lensed spectra of the current point, arrays from ell = 0 to 2508 (zeros below 2).

        As Cobaya's classy: ``units`` ``"FIRASmuK2"`` (default, T = 2.7255 K), ``"FIRASK2"``,
        ``"muK2"``/``"K2"`` (this theory's ``T_cmb``), ``"1"`` (ΔT/T) or a number (the factor
        per CMB field); ``ell_factor=True`` gives D_ell = ell(ell+1)C_ell/2π, and
        [ell(ell+1)]²C_ell^φφ/2π for ``"pp"`` (φφ takes no temperature factor). New arrays.
        """
        try:
            current = self.current_state["Cl"]
        except KeyError:
            raise LoggedError(
                self.log, f"{self.get_name()}: no spectra computed; was 'Cl' requested?"
            ) from None
        try:
            return serve_cls(current, ell_factor, units, self.T_cmb)
        except ValueError as excpt:
            raise LoggedError(self.log, f"{self.get_name()}.get_Cl: {excpt}") from None

    def jax_calculate(self):
        """The theory as a JAX function for :mod:`cobaya_plugins.gradients`:
        ``f(params) -> ({"Cl": ..., "derived": ...}, valid)``.

        ``params``: the input parameters by name (JAX scalars); ``"Cl"``: the spectra as
        :meth:`get_Cl` gives them for ``units="FIRASmuK2"``, ``ell_factor=False`` (C_ell µK²,
        φφ raw, from ell = 0), the anchor applied; ``"derived"``: ``h``, ``H0``, ``logA``,
        ``A_s``, ``As``; ``valid``: False outside the box (the point is rejected, as here).
        Starts the emulator (and the anchor's CLASS run) if no point was computed yet. The
        networks run in float64 here whatever ``precision`` says (gradients need a smooth
        function; with ``precision: float32`` the two paths then differ by ~1e-3 in logL).
        """
        import jax.numpy as jnp

        if self._emulator is None:
            self._start_emulator()
        emulator, correction, box = self._emulator, self._correction, self._box
        if emulator.precision != "float64":  # float32 rounding would make gradients noisy
            emulator = CMBEmulator(emulator.spectra, "float64")
        inputs = dict(self._inputs)
        factor = {s: 1.0 if s == "pp" else (T_CMB_FIRAS * 1e6) ** 2 for s in SPECTRA}
        wanted = set(self._lmax_needed)

        def calculate(params):
            x = {
                emulator_name: INPUT_NAMES[emulator_name][name](params[name], xp=jnp)
                for emulator_name, name in inputs.items()
            }
            valid = jnp.all(jnp.stack([(x[p] >= lo) & (x[p] <= hi) for p, (lo, hi) in box.items()]))
            cls = emulator.jax(jnp.stack([x[p] for p in EMULATOR_INPUTS]))
            if correction is not None:
                cls = correction.apply(cls, xp=jnp)
            logA = x["ln10^{10}A_s"]
            derived = {"h": x["h"], "H0": 100 * x["h"], "logA": logA, "A_s": 1e-10 * jnp.exp(logA)}
            derived["As"] = derived["A_s"]
            products = {
                "Cl": {s: cl * factor[s] for s, cl in cls.items() if s in wanted},
                "derived": derived,
            }
            return products, valid

        return calculate

    def close(self, *args):
        """Log how many points were rejected for being outside the box."""
        if self.n_rejected:
            self.log.info(
                "%s: %d point(s) outside the box were rejected.", self.get_name(), self.n_rejected
            )
        super().close(*args)
