"""Cobaya likelihood for any ``.clik`` file: :class:`Clik` (base of the Planck classes)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cobaya.likelihood import Likelihood
from cobaya.log import LoggedError
from cobaya.typing import empty_dict

from cobaya_plugins.clik import (
    BACKENDS,
    CHECK_MODES,
    CLIK_OUTSIDE,
    LKL_TYPES,
    ClikFile,
    ClikLikelihood,
    check_backend,
    check_clik_path,
    open_clik,
)
from cobaya_plugins.suggest import close_match, describe_unknown, typo_variants
from cobaya_plugins.unit_check import MUK2_CL, UnitMistakeError, UnitReading
from cobaya_plugins.units import UNITS

#: Where ``cobaya-install`` puts the Planck 2018 files, under the packages path.
PLANCK_DATA_SUBDIR = os.path.join("data", "planck_2018")

#: The class of this package that reads each likelihood type (others: ``Clik``).
CLASS_FOR_LKL_TYPE = {
    "gibbs_gauss": "LowlTT",
    "smica": "HighlTTTEEE",
    "plik_cmbonly": "HighlTTTEEELite",
}

#: How the spectra are requested from the theory (what the unit check compares against).
REQUESTED = MUK2_CL


class Clik(Likelihood):
    """Any clik likelihood file; its nuisance parameters are read from the file itself.

    Options (see ``Clik.yaml``): ``clik_file`` (absolute, or relative to ``path``, the working
    directory, or ``<packages_path>/data/planck_2018``), ``path``, ``backend``
    (``auto | clik | clipy | jax``), ``unit_check`` and ``self_check`` (``error | warn | off``),
    ``blas_threads``. Every nuisance parameter of the file must be defined in the ``params``
    block (missing and unexpected names are listed in the error, with "did you mean").
    Spectra are requested as C_ell in FIRAS µK² (``get_Cl(units="FIRASmuK2")``); TB and EB are
    used when the theory provides them, zeros otherwise. ``blas_threads`` (default 1) limits
    BLAS threads during the clik call (see :mod:`cobaya_plugins.threads`).
    """

    type = "CMB"

    #: Likelihood types (``lkl_type``) this class reads; empty: any.
    _lkl_types: tuple[str, ...] = ()

    clik_file: str | None
    path: str | None
    backend: str
    blas_threads: int | None
    unit_check: str
    self_check: str

    @classmethod
    def get_modified_defaults(cls, defaults: dict, input_options: Mapping = empty_dict) -> dict:
        """A ``params:`` block inside the likelihood's own YAML block updates its default
        parameters instead of replacing them.

        Cobaya (3.6) replaces a component's whole default ``params`` block with one given in its
        input block; for the Planck classes that would drop the other nuisance parameters (and
        break the SZ prior, whose arguments disappear), as it does for Cobaya's own Planck
        classes. Here the defaults stay and the given entries replace theirs, one parameter at a
        time: the ``params`` entry of ``input_options`` (Cobaya's working copy of the input) is
        set to the merged block; nothing the user wrote is changed or dropped.
        """
        given = input_options.get("params") if isinstance(input_options, Mapping) else None
        default_params = defaults.get("params")
        if isinstance(given, Mapping) and isinstance(default_params, Mapping) and default_params:
            input_options["params"] = {**default_params, **given}
        return defaults

    def initialize(self):
        """Check the options, find and open the file (its kind must be one this class reads),
        report its self-check."""
        self._check_options()
        full = self.resolve_clik_file()
        try:
            self.clik: ClikLikelihood = open_clik(full, backend=self.backend)
        except (OSError, ValueError) as exc:
            raise LoggedError(self.log, f"{self.get_name()}: {exc} (from `clik_file:`)") from None
        self._check_lkl_type()
        self.clik.blas_threads = self.blas_threads
        self.clik.logger = self.log
        self._report_self_check()
        self.log.debug("Opened %r", self.clik)

    def _check_options(self) -> None:
        """Check the options' values before opening anything (messages in YAML syntax)."""
        for option, allowed in (
            ("backend", BACKENDS),
            ("unit_check", CHECK_MODES),
            ("self_check", CHECK_MODES),
        ):
            value = getattr(self, option)
            if value not in allowed:
                raise LoggedError(
                    self.log,
                    f"{self.get_name()}: `{option}: {value}` is not an option; use one of "
                    f"{', '.join(f'`{option}: {a}`' for a in allowed)}.",
                )
        try:
            check_backend(self.backend)
        except ImportError:
            if self.backend == "jax":
                raise LoggedError(
                    self.log,
                    f"{self.get_name()}: `backend: jax` needs jax, which is not installed in "
                    "this Python: `pip install 'cobaya-planck-clik[jax]'` (or `pip install "
                    "jax`), or use `backend: auto`.",
                ) from None
            raise LoggedError(
                self.log,
                f"{self.get_name()}: `backend: clik` needs the compiled Planck clik module, which "
                "is not importable in this Python (PyPI's 'clik' is an unrelated package). Use "
                "`backend: auto` or `backend: clipy`, or build clik from the Planck Legacy "
                "Archive's code.",
            ) from None
        threads = self.blas_threads
        if threads is not None and (
            not isinstance(threads, int) or isinstance(threads, bool) or threads < 1
        ):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: `blas_threads: {threads}`: blas_threads must be a positive "
                "integer (threads during a clik call), or null to leave BLAS alone.",
            )

    def _check_lkl_type(self) -> None:
        """A file of another kind than this class reads: say what it is and who reads it."""
        kind = self.clik.lkl_type
        if not self._lkl_types or kind in self._lkl_types:
            return
        what = LKL_TYPES.get(kind, f"likelihood of type {kind!r}")
        reader = CLASS_FOR_LKL_TYPE.get(kind, "Lensing" if kind == "lensing" else "Clik")
        expected = " or ".join(LKL_TYPES.get(t, t) for t in self._lkl_types)
        raise LoggedError(
            self.log,
            f"{self.get_name()}: {self.clik.path} is a {what}; this class reads a {expected}. "
            f"Use `cobaya_plugins.planck.{reader}` for that file, or point `clik_file:` to the "
            "right file.",
        )

    def _report_self_check(self) -> None:
        """Compare the file's self-check with its stored value (``self_check`` option)."""
        check = self.clik.self_check
        if self.self_check == "off" or check is None or check.passed:
            return
        message = (
            f"{self.get_name()}: SELF-CHECK FAILED for {self.clik.path}: the loglike at the "
            f"file's own check point is {check.got:.6f}, but the file says {check.expected:.6f} "
            f"(difference {check.got - check.expected:.4g}). Likely causes: a corrupt or "
            "incomplete download, an edited file, or a backend that disagrees with the one "
            f"that wrote the file (this one: {self.clik.backend}). Re-download the file or "
            "try another `backend:`; `self_check: off` silences this."
        )
        if self.self_check == "error":
            raise LoggedError(self.log, message)
        self.log.warning(message)

    def resolve_clik_file(self) -> ClikFile:
        """The file ``clik_file`` names, with its absolute path and kind (see the class
        docstring for the search order).

        Raises a ``LoggedError`` naming every place searched and how to get the files.
        """
        if not self.clik_file:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: no `clik_file:` given: set it to the path of a .clik "
                "directory (or write a mock one with `python -m cobaya_plugins mock KIND "
                "OUTDIR`).",
            )
        given = Path(os.path.expandvars(self.clik_file)).expanduser()
        if given.is_absolute():
            candidates = [given]
        elif self.path:
            candidates = [Path(self.path).expanduser() / given]
        else:
            candidates = [Path.cwd() / given]
            if self.packages_path:
                candidates.append(Path(self.packages_path) / PLANCK_DATA_SUBDIR / given)
        for candidate in candidates:
            if candidate.exists():
                try:
                    return check_clik_path(candidate)
                except ValueError as exc:
                    raise LoggedError(
                        self.log, f"{self.get_name()}: `clik_file: {self.clik_file}`: {exc}"
                    ) from None
        searched = f" Searched: {', '.join(str(c.resolve()) for c in candidates)}."
        searched = searched if len(candidates) > 1 else ""
        try:  # phrased by the loader's path check: "not found", full path, where to get files
            check_clik_path(candidates[0])
        except FileNotFoundError as exc:
            raise LoggedError(self.log, f"{self.get_name()}: {exc}{searched}") from None
        raise AssertionError(f"{candidates[0]} exists but was not found")  # pragma: no cover

    def get_requirements(self) -> dict:
        """Lensed C_ell up to the file's lmax for each spectrum it uses (TB/EB optional)."""
        return {"Cl": {s: lm for s, lm in self.clik.lmax.items() if s not in ("tb", "eb")}}

    def get_can_support_params(self) -> list[str]:
        """The file's nuisance parameter names (so a plain ``params`` block can feed them).

        Their likely misspellings (letters in the wrong case, ``calib_100t``; one letter missing,
        extra, wrong or swapped in a name of 6 letters or more, ``A_plank``: see
        :func:`cobaya_plugins.suggest.typo_variants`) are claimed too, so that such a typo at
        the top level of ``params`` reaches :meth:`initialize_with_params`, which names the
        intended parameter, instead of Cobaya's "could not find anything to use" error.
        """
        names = list(self.clik.nuisance_names)
        return names + sorted(typo_variants(names))

    def initialize_with_params(self):
        """The parameters Cobaya assigned must be exactly the file's nuisance parameters: a
        ``LoggedError`` names the missing and unexpected ones ("did you mean")."""
        expected = list(self.clik.nuisance_names)
        given = list(self.input_params)
        missing = [p for p in expected if p not in given]
        unexpected = [p for p in given if p not in expected]
        if missing or unexpected:
            meant = {p: close_match(p, expected) for p in unexpected}
            typos = [f"{p!r} for {m!r}" for p, m in meant.items() if m]
            unknown = [p for p, m in meant.items() if not m]
            message = f"{self.get_name()}: the parameters do not match the nuisance parameters "
            message += f"of {self.clik.path}."
            if typos:
                message += f" Did you write {', '.join(typos)}?"
            if missing:
                message += f" Missing (define them in 'params'): {missing}."
            if unknown:
                message += f" Unexpected: {describe_unknown(unknown, expected)}."
            raise LoggedError(self.log, f"{message} The file expects, in order: {expected}.")

    def logp(self, **params_values) -> float:
        """log-likelihood of the current theory spectra and nuisance values.

        Input mistakes (spectra missing or too short, units explained by a mistake) stop the
        run with a ``LoggedError`` instead of silently rejecting every point.
        """
        cls = self.provider.get_Cl(ell_factor=False, units="FIRASmuK2")
        try:
            if self.unit_check != "off":
                self._check_units(cls)
            return self.clik.loglike(
                cls, params_values, units="muK2", strict=False, unit_check="off"
            )
        except (TypeError, ValueError) as exc:
            raise LoggedError(
                self.log, f"{self.get_name()}: {exc} (spectra from the theory, in FIRAS µK²)"
            ) from None

    def _check_units(self, cls: dict) -> None:
        """The unit check, against the units the theory declares when it declares them
        (CallableCls), so that the fix names its YAML options; else against what was asked for.

        The spectra arrive as C_ell in FIRAS µK² (converted by the theory from its declared
        units); the check itself is :meth:`ClikLikelihood.check_units`.
        """
        theory = self.provider.requirement_providers.get("Cl")
        theory_reading = _declared_reading(theory)
        declared = theory_reading or REQUESTED
        try:
            self.clik.check_units(cls, declared, mode=self.unit_check)
        except UnitMistakeError as exc:
            name = theory.get_name() if theory is not None else "the theory"
            reading = exc.diagnosis.explained_by
            if theory_reading is None:
                fix = (
                    f"it looks like {reading} arrived where {REQUESTED} was asked for. Check "
                    f"how {name} converts its spectra for get_Cl(units='FIRASmuK2', "
                    "ell_factor=False)."
                )
            else:
                fix = (
                    f"{name} declares its output as {declared}, but it looks like {reading}: in "
                    f"the YAML block of theory {name}, set {reading.yaml_fix(declared)}."
                )
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the spectra from {name} do not look like a CMB spectrum: "
                f"{exc.diagnosis.describe()}; {fix} (`unit_check: warn` on the likelihood "
                "makes this a warning.)",
            ) from None

    def jax_logp(self):
        """The likelihood as a JAX function ``(products, params) -> logL`` for
        :mod:`cobaya_plugins.gradients`.

        ``products["Cl"]``: spectra as ``get_Cl(ell_factor=False, units="FIRASmuK2")`` gives
        them; ``params``: the nuisance values by name. NaN and clik's "outside" value give -inf.
        With ``backend: auto`` the file is opened a second time on the JAX path (same logL to
        ~1e-14); ``backend: clik`` or ``clipy`` has no gradients: a LoggedError says so.
        """
        import jax.numpy as jnp

        if self.backend in ("clik", "clipy"):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: `backend: {self.backend}` has no gradients, and the "
                "gradient samplers need them: set `backend: jax` (or `backend: auto`) for this "
                "likelihood, or use Cobaya's `mcmc`/`minimize`.",
            )
        clik = self.clik
        if clik.backend != "jax":
            self.log.info("%s: opening %s on the JAX path (gradients)", self.get_name(), clik.path)
            clik = open_clik(clik.path, backend="jax")
        function = clik.jax_function()
        lmax = dict(clik.lmax)
        names = tuple(clik.nuisance_names)

        def logp(products, params):
            cls = products["Cl"]
            parts = [
                jnp.zeros(lm + 1) if s in ("tb", "eb") and s not in cls else cls[s][: lm + 1]
                for s, lm in lmax.items()
            ]
            nuisance = jnp.stack([jnp.asarray(params[p], dtype=jnp.float64) for p in names])
            value = function(jnp.concatenate([*parts, nuisance]))
            return jnp.where(jnp.isnan(value) | (value <= CLIK_OUTSIDE), -jnp.inf, value)

        return logp


def _declared_reading(theory: object) -> UnitReading | None:
    """The units a theory declares for its output (``units``/``ell_factor`` options), or None."""
    units = getattr(theory, "units", None)
    ell_factor = getattr(theory, "ell_factor", None)
    if units in UNITS and isinstance(ell_factor, bool):
        return UnitReading(units, ell_factor)
    return None
