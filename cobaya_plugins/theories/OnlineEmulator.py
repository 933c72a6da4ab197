r"""Cobaya theory that learns the user's exact theory code during the run (an online emulator).

In YAML, the exact theory stands under ``exact:`` as it would under ``theory:``::

    theory:
      cobaya_plugins.theories.OnlineEmulator:
        exact:
          classy:
            extra_args: {N_ncdm: 1, m_ncdm: 0.06, non_linear: hmcode}
        cache: emulator_cache/

:class:`OnlineEmulator` builds the exact theory itself (any Cobaya Theory that provides ``Cl``:
``classy``, ``cobaya_plugins.theories.ModifiedClassy``, ``CallableCls``, or a class by import
path), gives it the parameters, requirements and provider Cobaya gives the wrapper, and at each
point either serves the emulator's prediction or, where the prediction's error in Δ log L
exceeds the tolerance, calls the exact code, returns its result and learns it
(:mod:`cobaya_plugins.online`). What it serves:

* ``Cl``: the spectra the likelihoods request, to their lmax, in the exact code's own units:
  the emulator learns ``get_Cl(ell_factor=False, units="FIRASmuK2")`` of the exact theory, and
  other ``ell_factor``/``units`` are converted by the exact theory's own factors (measured once
  on an exact result, and checked at every exact call to be independent of the parameters);
* the exact theory's **derived parameters** (for the chain and for other components), emulated
  too, each with its own GP; a point is served only if each is within ``derived_tolerance``
  times its spread over the training points.

The training set lives in ``cache:``, keyed by the exact theory's configuration
(:mod:`cobaya_plugins.online.store`); every process of an MPI run writes its exact calls there
and reads the others' before deciding to call the exact code. See ``docs/online_emulator.md``.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
from cobaya.component import ComponentNotFoundError, get_component_class
from cobaya.log import LoggedError, always_stop_exceptions
from cobaya.theory import Theory
from cobaya.tools import get_available_internal_class_names, get_class_methods
from cobaya.typing import empty_dict

from cobaya_plugins.cobaya_internals import current_state
from cobaya_plugins.online.control import SPECTRA as METRIC_SPECTRA
from cobaya_plugins.online.regress import KERNELS
from cobaya_plugins.online.store import StoreError, TrainingPoint, TrainingStore
from cobaya_plugins.suggest import close_match

#: The reference form in which the emulator learns the spectra.
REFERENCE_UNITS = {"ell_factor": False, "units": "FIRASmuK2"}
#: Options of the exact theory that do not change what it computes (left out of the cache key).
NOT_IN_KEY = ("params", "speed", "stop_at_error", "input_params", "output_params", "version")
#: Cobaya's reserved option names, valid for any component.
RESERVED = ("class", "python_path", "provides", "requires", "renames", "input_params",
            "output_params", "aliases", "package_install", "external")  # fmt: skip
#: This package's theories, offered in suggestions for a misspelt ``exact:`` name.
OWN_THEORIES = ("cobaya_plugins.theories.CallableCls", "cobaya_plugins.theories.ModifiedClassy",
                "cobaya_plugins.theories.CosmoPower")  # fmt: skip
#: Version of the stored point format (in the cache key).
STORE_FORMAT = 1
#: Served predictions whose error enters the "error level" of the progress line.
RECENT = 100


def _exact_entry(exact: Any) -> tuple[str, dict] | None:
    """(name, options) of a well-formed ``exact:`` value, else None."""
    if not (isinstance(exact, Mapping) and len(exact) == 1):
        return None
    ((name, options),) = exact.items()
    if not isinstance(name, str) or not (options is None or isinstance(options, Mapping)):
        return None
    return name, dict(options or {})


def _source_fingerprint(obj: Any) -> str | None:
    """SHA-256 (16 hex) of the source file defining ``obj``, or None when it has none."""
    try:
        path = inspect.getsourcefile(obj)
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else None
    except (TypeError, OSError):
        return None


class OnlineEmulator(Theory):
    """An exact Cobaya theory emulated on the fly (module docstring); ``OnlineEmulator.yaml``."""

    exact: dict | None
    cache: str | None
    tolerance: float
    tolerance_slope: float
    near: float | None
    pca_error: float
    max_components: int
    kernel: str
    min_points: int | None
    refit_growth: float
    fit_points: int
    derived_tolerance: float
    metric: dict | None
    validate: int
    progress_every: float

    @classmethod
    def get_modified_defaults(cls, defaults, input_options=empty_dict):
        """The exact theory's ``params`` (its defaults and those written under ``exact:``)
        become the wrapper's, so that Cobaya assigns them as it would without the wrapper."""
        entry = _exact_entry(input_options.get("exact"))
        if entry is None:
            return defaults
        name, options = entry
        params = {}
        try:
            from cobaya.input import get_default_info

            exact_defaults = get_default_info(
                name, "theory", input_options=options, class_name=options.get("class"),
                component_path=options.get("python_path"),
            )  # fmt: skip
            params.update(deepcopy(exact_defaults.get("params") or {}))
        except Exception:  # noqa: BLE001 - an unknown class is reported by initialize()
            pass
        if options.get("params"):
            if input_options.get("params"):
                raise ValueError(
                    "OnlineEmulator: parameters are given both under `exact: {name: {params: "
                    "...}}` and in the wrapper's own `params`; keep them in one place."
                )
            params.update(deepcopy(options["params"]))
        if params:
            defaults = dict(defaults)
            defaults["params"] = params
        return defaults

    # --- start-up ---------------------------------------------------------------------------

    def initialize(self):
        """Check the options, then build the exact theory (errors name the option and the fix)."""
        self._check_options()
        entry = _exact_entry(self.exact)
        if entry is None:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: set `exact:` to the theory to emulate, as it would stand "
                "under `theory:` (one name with its options), e.g.\n  exact:\n    classy:\n"
                "      extra_args: {N_ncdm: 1, m_ncdm: 0.06}\n"
                f"Got exact: {self.exact!r}.",
            )
        self._exact_name, self._exact_options = entry
        exact_class = self._exact_class()
        self._check_exact_options(exact_class)
        self._exact = exact_class(
            self._exact_options, name=self._exact_name, packages_path=self.packages_path,
            standalone=True,
        )  # fmt: skip
        if self._exact.get_helper_theories():
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the exact theory {self._exact_name} computes through "
                f"helper theories ({list(self._exact.get_helper_theories())}), which the "
                "emulator cannot drive yet (e.g. camb). Use classy (or a classy-based theory) "
                "as `exact:`, or run the exact theory without the emulator.",
            )
        for attribute in ("input_params", "output_params", "provides"):
            if attribute in self._exact_options:
                setattr(self, attribute, deepcopy(self._exact_options[attribute]))
        self._exact_class = exact_class
        self._lmax: dict[str, int] = {}
        self._derived_required: set[str] = set()
        self._started = False
        self._conversions: dict[tuple, dict[str, np.ndarray]] = {}
        self.n_exact = 0
        self.n_served = 0
        self.n_failed = 0
        self.n_recalled = 0  # points computed exactly before, given back from the training set
        self._exact_only = False
        self._recent_errors: deque[tuple[float, float]] = deque(maxlen=RECENT)
        self._recent_checks: deque[float] = deque(maxlen=RECENT)
        self._last_progress = time.time()
        self._reported = False

    def _check_options(self) -> None:
        name = self.get_name()

        def positive(option: str, value: Any, allow_zero: bool = False) -> None:
            ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
            if not ok or value < 0 or (value == 0 and not allow_zero):
                raise LoggedError(
                    self.log,
                    f"{name}: `{option}` must be a {'non-negative' if allow_zero else 'positive'}"
                    f" number, got {option}: {value!r}.",
                )

        positive("tolerance", self.tolerance)
        positive("tolerance_slope", self.tolerance_slope, allow_zero=True)
        positive("pca_error", self.pca_error)
        positive("refit_growth", self.refit_growth, allow_zero=True)
        positive("derived_tolerance", self.derived_tolerance)
        positive("progress_every", self.progress_every, allow_zero=True)
        if self.near is not None:
            positive("near", self.near, allow_zero=True)
        for option, low in (("max_components", 1), ("fit_points", 10), ("validate", 0)):
            value = getattr(self, option)
            if not (isinstance(value, Integral) and not isinstance(value, bool) and value >= low):
                raise LoggedError(
                    self.log, f"{name}: `{option}` must be an integer >= {low}, got {value!r}."
                )
        if self.min_points is not None and not (
            isinstance(self.min_points, Integral) and self.min_points >= 2
        ):
            raise LoggedError(
                self.log,
                f"{name}: `min_points` must be an integer >= 2 or null (2 × number of inputs "
                f"+ 2), got {self.min_points!r}.",
            )
        if self.kernel not in KERNELS:
            raise LoggedError(
                self.log,
                f"{name}: `kernel` must be one of {', '.join(KERNELS)}, got {self.kernel!r}.",
            )
        metric = dict(self.metric or {})
        if set(metric) - {"fsky", "noise"}:
            raise LoggedError(
                self.log,
                f"{name}: `metric` takes the keys fsky and noise; got unknown key(s) "
                f"{sorted(set(metric) - {'fsky', 'noise'})}.",
            )
        self._fsky = metric.get("fsky", 0.7)
        self._noise = metric.get("noise", "planck")
        if not (isinstance(self._fsky, Real) and 0 < self._fsky <= 1):
            raise LoggedError(
                self.log, f"{name}: `metric: {{fsky: }}` must be in (0, 1], got {self._fsky!r}."
            )
        from cobaya_plugins.online.control import noise_spectra

        try:
            noise_spectra(self._noise, 2)
        except ValueError as excpt:
            raise LoggedError(self.log, f"{name}: `metric`: {excpt}") from None
        if not self.cache or not isinstance(self.cache, str):
            raise LoggedError(
                self.log,
                f"{name}: `cache:` must name a folder for the training points (e.g. cache: "
                f"emulator_cache/), got {self.cache!r}.",
            )

    def _exact_class(self) -> type:
        """The exact theory's class; a LoggedError with a suggestion if it cannot be found."""
        name, options = self._exact_name, self._exact_options
        try:
            exact_class = get_component_class(
                name, kind="theory", class_name=options.get("class"),
                component_path=options.get("python_path"), logger=self.log,
                not_found_level="debug",
            )  # fmt: skip
        except ComponentNotFoundError:
            known = list(get_available_internal_class_names(kind="theory")) + list(OWN_THEORIES)
            match = close_match(name, known) or close_match(
                name, [k.rsplit(".", 1)[-1] for k in known]
            )
            if match and "." not in match:
                match = next((k for k in known if k.endswith("." + match) or k == match), match)
            hint = f" Did you mean `{match}`?" if match else ""
            raise LoggedError(
                self.log,
                f"{self.get_name()}: `exact:` names the theory {name!r}, which could not be "
                f"found.{hint} Use a Cobaya theory (e.g. {', '.join(known[:2])}), one of "
                f"{', '.join(OWN_THEORIES[:2])}, or the import path of your own Theory class "
                "(its module importable: installed or on PYTHONPATH).",
            ) from None
        except TypeError as excpt:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: `exact: {name}` is not a Cobaya Theory ({excpt}); name a "
                "Theory class that provides Cl.",
            ) from None
        if "Cl" not in get_class_methods(exact_class, not_base=Theory):
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the exact theory {name} does not provide the CMB spectra "
                "'Cl' (it has no get_Cl method), which is what the emulator learns. Use a theory "
                "that computes Cl (classy, cobaya_plugins.theories.CallableCls, "
                "ModifiedClassy), or run this theory without the emulator.",
            )
        return exact_class

    def _check_exact_options(self, exact_class: type) -> None:
        """Options under ``exact: {name: ...}`` that the exact theory does not know: an error
        (a standalone Cobaya component would take them silently)."""
        from cobaya.input import get_default_info

        defaults, annotations = get_default_info(
            exact_class, "theory", input_options=self._exact_options,
            return_undefined_annotations=True,
        )  # fmt: skip
        known = [k for k in list(defaults) + list(annotations) if not k.startswith("_")]
        unknown = [k for k in self._exact_options if k not in known and k not in RESERVED]
        if unknown:
            parts = []
            for option in unknown:
                match = close_match(option, known)
                parts.append(f"{option!r} (did you mean {match!r}?)" if match else repr(option))
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the exact theory {self._exact_name} does not recognise the "
                f"option(s) {', '.join(parts)} under `exact: {{{self._exact_name}: ...}}`. Its "
                f"options are: {', '.join(sorted(known))}.",
            )
        self._exact_defaults = defaults

    # --- what Cobaya asks: delegated to the exact theory ------------------------------------

    def get_allow_agnostic(self):
        """As the exact theory (classy: every unassigned input parameter reaches it)."""
        return self._exact.get_allow_agnostic()

    def get_can_support_params(self):
        """The exact theory's input parameters."""
        return self._exact.get_can_support_params()

    def get_can_provide_params(self):
        """The exact theory's derived parameters."""
        return self._exact.get_can_provide_params()

    def get_requirements(self):
        """The exact theory's requirements; only parameters are allowed (the emulator learns a
        function of parameters, not of other components' products)."""
        requirements = self._exact.get_requirements()
        self._check_parameter_requirements(requirements, "requires")
        return requirements

    def _check_parameter_requirements(self, requirements: Any, what: str) -> None:
        from cobaya.tools import str_to_list

        if isinstance(requirements, Mapping):
            items = list(requirements.items())
        else:
            items = [
                (r, None) if isinstance(r, str) else tuple(r) for r in str_to_list(requirements)
            ]
        products = [name for name, options in items if options is not None]
        if products:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the exact theory {self._exact_name} {what} {products} from "
                "other components; the emulator learns functions of parameters only. Run this "
                "theory without the emulator.",
            )

    def initialize_with_params(self):
        """Give the exact theory the parameters Cobaya assigned (its own checks run here)."""
        self._exact.input_params = list(self.input_params)
        self._exact.output_params = list(self.output_params)
        self._exact.initialize_with_params()

    def must_provide(self, **requirements):
        """Record the spectra (and lmax) and derived parameters requested; forward them to the
        exact theory, asking it also for the auto spectra the error metric needs."""
        super().must_provide(**requirements)
        forward: dict[str, Any] = {}
        for request, options in requirements.items():
            if request == "Cl":
                for spectrum, lmax in (options or {}).items():
                    spectrum = spectrum.lower()
                    if spectrum not in METRIC_SPECTRA:
                        raise LoggedError(
                            self.log,
                            f"{self.get_name()}: a likelihood requested the spectrum "
                            f"{spectrum!r}, which the emulator does not learn (it learns "
                            f"{', '.join(METRIC_SPECTRA)}). Use the exact theory directly.",
                        )
                    self._lmax[spectrum] = max(self._lmax.get(spectrum, 0), int(lmax))
            elif options is None:
                self._derived_required.add(request)
                forward[request] = None
            else:
                raise LoggedError(
                    self.log,
                    f"{self.get_name()} serves 'Cl' and the exact theory's derived parameters; "
                    f"a component requested {request!r}. Compute it with another theory, or run "
                    "the exact theory without the emulator.",
                )
        if self._lmax:
            forward["Cl"] = dict(self._exact_lmax())
        conditional = self._exact.must_provide(**forward)
        if conditional:
            self._check_parameter_requirements(conditional, "needs")
        return conditional

    def _exact_lmax(self) -> dict[str, int]:
        """Spectra asked of the exact theory: the requested ones and the auto spectra of their
        fields (for the metric), each to the largest lmax that involves it."""
        out = dict(self._lmax)
        for spectrum, lmax in self._lmax.items():
            if spectrum == "pp":
                continue
            for field in spectrum:
                out[field + field] = max(out.get(field + field, 0), lmax)
        return out

    def initialize_with_provider(self, provider):
        """Give the exact theory the provider (for parameters it requires)."""
        super().initialize_with_provider(provider)
        self._exact.initialize_with_provider(provider)

    def get_version(self):
        """The exact theory's version."""
        return self._exact.get_version()

    # --- the point's path -------------------------------------------------------------------

    def _configuration(self) -> dict[str, Any]:
        """What the cache key hashes: the exact class, its options with defaults (those that
        change results), its version and the source of its code and of the user's functions."""
        options = {**self._exact_defaults, **self._exact_options}
        cls = self._exact_class
        code = {f"{cls.__module__}.{cls.__qualname__}": _source_fingerprint(cls)}
        for attribute in ("_function", "_postprocess"):  # CallableCls, ModifiedClassy
            function = getattr(self._exact, attribute, None)
            if callable(function):
                module = getattr(function, "__module__", "?")
                code[f"{module}:{getattr(function, '__qualname__', '?')}"] = _source_fingerprint(
                    function
                )
        return {
            "format": STORE_FORMAT,
            "units": REFERENCE_UNITS,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "options": {k: v for k, v in options.items() if k not in NOT_IN_KEY},
            "version": self._exact.get_version(),
            "code": code,
        }

    def _start(self) -> None:
        """Open the cache, build the emulator, learn the cached points (at the first point)."""
        from cobaya_plugins.online.emulator import Emulator

        # the order in which Cobaya passes them to calculate()
        self._inputs = list(self.input_params) + [
            p for p in self.input_params_extra if p not in self.input_params
        ]
        self._derived = list(self.output_params) + sorted(
            self._derived_required - set(self.output_params)
        )
        try:
            self._store = TrainingStore(
                self.cache, self._configuration(), self._exact_class.__name__
            )
        except (StoreError, OSError) as excpt:
            raise LoggedError(self.log, f"{self.get_name()}: cache: {excpt}") from None
        metric_spectra = {s: v for s, v in self._exact_lmax().items() if s not in self._lmax}
        self._emulator = Emulator(
            self._inputs, self._lmax, self._derived, metric_spectra=metric_spectra,
            tolerance=self.tolerance, slope=self.tolerance_slope, near=self.near,
            error_target=self.pca_error, max_components=self.max_components,
            kernel=self.kernel, min_points=self.min_points, refit_growth=self.refit_growth,
            fit_points=self.fit_points, derived_tolerance=self.derived_tolerance,
            fsky=self._fsky, noise=self._noise,
        )  # fmt: skip
        self._length = max(self._lmax.values(), default=1) + 1
        self.log.info(
            "%s: emulating %s (spectra %s; derived %s) from %s; training points in %s",
            self.get_name(), self._exact_name, self._lmax, self._derived or "none",
            self._inputs, self._store.folder,
        )  # fmt: skip
        if self._store.other_configurations:
            self.log.info(
                "%s: the cache folder also holds %d other configuration(s) (%s): not used.",
                self.get_name(), len(self._store.other_configurations),
                ", ".join(self._store.other_configurations),
            )  # fmt: skip
        self._learn([])
        cached = len(self._emulator.points) + len(self._emulator.failures)
        if cached:
            self.log.info(
                "%s: %d point(s) from the cache (%d failed).",
                self.get_name(), cached, len(self._emulator.failures),
            )  # fmt: skip
        self._started = True

    def _learn(self, own: list[TrainingPoint]) -> bool:
        """Learn ``own`` new points and every point the other processes wrote; announce fits.
        Returns whether anything new was learned."""
        try:
            new = self._store.read_new()
        except StoreError as excpt:
            raise LoggedError(self.log, f"{self.get_name()}: {excpt}") from None
        points = new + own
        if not points:
            return False
        skipped_before = sum(self._emulator.skipped.values())
        self._emulator.add(points)
        skipped = sum(self._emulator.skipped.values()) - skipped_before
        if skipped:
            self.log.info(
                "%s: %d cached point(s) not usable for this run (%s).",
                self.get_name(), skipped, self._emulator.skipped,
            )  # fmt: skip
        if self._emulator.last_action == "fit":
            status = self._emulator.status()
            self.log.info(
                "%s: trained on %d points: %d PCA components, GPs fitted in %.1f s "
                "(calibration factor %.2g).",
                self.get_name(), status["points"], status["components"],
                self._emulator.last_seconds, status["kappa"],
            )  # fmt: skip
        elif self._emulator.last_action == "update":
            self.log.debug(
                "%s: learned %d point(s) in %.3f s.",
                self.get_name(), len(points), self._emulator.last_seconds,
            )  # fmt: skip
        return True

    def _note_last_point(self) -> None:
        """Tell the emulator the run's log-likelihood at the last point (the best point is the
        highest): read from the model's likelihoods, which computed it from this theory's
        current state (:func:`cobaya_plugins.cobaya_internals.current_state`)."""
        model = getattr(self.provider, "model", None)
        state = current_state(self)
        if model is None or state is None or "Cl" not in state:
            return
        total = 0.0
        for like in model.likelihood.values():
            like_state = current_state(like)
            if not like_state or like_state.get("logp") is None:
                return
            total += float(like_state["logp"])
        self._emulator.note_loglike(state["Cl"], total)

    def calculate(self, state, want_derived=True, **params_values_dict):
        """Serve the emulator's prediction where it is accurate enough, else call the exact
        theory (its failure rejects the point, as without the wrapper) and learn the result."""
        if not self._started:
            self._start()
        else:
            self._note_last_point()
        known = self._emulator.known(params_values_dict)
        if known is not None:  # computed exactly before (here, by another process or run)
            self._set_exact(state, known, want_derived)
            self.n_recalled += 1
            self._progress()
            return True
        prediction = self._predict(params_values_dict)
        serve = prediction is not None and prediction.accurate
        if not serve and self._learn([]):
            prediction = self._predict(params_values_dict)  # with the others' new exact calls
            serve = prediction is not None and prediction.accurate
        if serve and not self._exact_only:  # (exact_only(): a sampler checks its point)
            self._serve(state, prediction, want_derived)
            self._progress()
            return True
        self.log.debug(
            "%s: exact call (%s)", self.get_name(),
            (prediction.reason if prediction else "no fit") or "a sampler's check",
        )  # fmt: skip
        point = self._exact_call(params_values_dict, prediction)
        if point is None:
            self._progress()
            return False
        self._set_exact(state, point, want_derived)
        self._progress()
        return True

    def _set_exact(self, state: dict, point: TrainingPoint, want_derived: bool) -> None:
        state["Cl"] = self._padded(point.cls)
        state["online"] = {"exact": True}
        self._set_derived(state, point.derived, want_derived)

    @contextmanager
    def exact_only(self) -> Iterator[None]:
        """Within this context every point is computed by the exact theory (or given back when
        it was computed before) and learned: for a sampler that checks its point against the
        exact code (BestFit's best fit; :mod:`cobaya_plugins.gradients`)."""
        self._exact_only = True
        try:
            yield
        finally:
            self._exact_only = False

    def _predict(self, params: Mapping[str, float]) -> Any:
        """The emulator's prediction, or None before its first fit."""
        return self._emulator.predict(params) if self._emulator.gp is not None else None

    def _serve(self, state: dict, prediction: Any, want_derived: bool) -> None:
        state["Cl"] = self._padded(self._emulator.spectra(prediction))
        state["online"] = {"exact": False, "error": prediction.error}
        self._set_derived(state, prediction.derived, want_derived)
        self.n_served += 1
        self._recent_errors.append((prediction.error, prediction.tolerance))

    def _set_derived(self, state: dict, derived: Mapping[str, float], want_derived: bool) -> None:
        if want_derived:
            state["derived"] = {p: derived[p] for p in self.output_params}
        state["derived_required"] = {p: derived[p] for p in self._derived_required}

    def _padded(self, cls: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The requested spectra, each zero beyond its lmax, all of the same length."""
        out = {"ell": np.arange(self._length)}
        for spectrum, lmax in self._lmax.items():
            values = np.zeros(self._length)
            values[: lmax + 1] = np.asarray(cls[spectrum])[: lmax + 1]
            out[spectrum] = values
        return out

    def _exact_call(self, params: Mapping[str, float], prediction: Any) -> TrainingPoint | None:
        """Run the exact theory at ``params``; store and learn the result (None if it failed)."""
        start = time.perf_counter()
        try:
            ok = self._exact.check_cache_and_compute(
                dict(params), want_derived=True, dependency_params=None, cached=False
            )
        except always_stop_exceptions:
            raise
        except Exception as excpt:  # the exact theory's stop_at_error: True
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the exact theory {self._exact_name} failed at {dict(params)} "
                f"and has `stop_at_error: True`: {type(excpt).__name__}: {excpt}",
            ) from excpt
        seconds = time.perf_counter() - start
        self.n_exact += 1
        if not ok:
            self.n_failed += 1
            failure = TrainingPoint(
                {p: float(params[p]) for p in self._inputs}, failed=True,
                message="the exact theory failed (see its debug output)", seconds=seconds,
            )  # fmt: skip
            self._store.append(failure)
            self._learn([failure])
            return None
        reference = self._exact.get_Cl(**REFERENCE_UNITS)
        cls = {s: np.array(reference[s][: lmax + 1]) for s, lmax in self._exact_lmax().items()}
        derived = {}
        for p in self._derived:
            value = self._exact.current_derived.get(p) if p in self.output_params else None
            derived[p] = float(self._exact.get_param(p) if value is None else value)
        point = TrainingPoint(
            {p: float(params[p]) for p in self._inputs}, cls, derived, seconds=seconds
        )
        self._check_conversions()
        if prediction is not None:
            check = self._emulator.check(prediction, point)
            if check:
                self._recent_checks.append(check["ratio"])
        self._store.append(point)
        self._learn([point])
        return point

    # --- serving Cl in the exact theory's units ---------------------------------------------

    def _conversion_from_exact(self, ell_factor: bool, units: Any) -> dict[str, np.ndarray]:
        """Per-ell factors taking the reference form to get_Cl(ell_factor, units), as the exact
        theory's current (exact) result gives them."""
        target = self._exact.get_Cl(ell_factor=ell_factor, units=units)
        reference = self._exact.get_Cl(**REFERENCE_UNITS)
        factors = {}
        for spectrum in self._lmax:
            num = np.zeros(self._length)
            den = np.zeros(self._length)
            n = min(self._length, len(target[spectrum]), len(reference[spectrum]))
            num[:n], den[:n] = target[spectrum][:n], reference[spectrum][:n]
            with np.errstate(divide="ignore", invalid="ignore"):
                factors[spectrum] = np.where(den != 0, num / den, 0.0)
        return factors

    def _check_conversions(self) -> None:
        """At an exact call: the factors already in use must not depend on the parameters."""
        for (ell_factor, units), factors in self._conversions.items():
            now = self._conversion_from_exact(ell_factor, units)
            for spectrum, values in factors.items():
                used = (values != 0) & (now[spectrum] != 0)
                if not np.allclose(now[spectrum][used], values[used], rtol=1e-8, atol=0):
                    raise LoggedError(
                        self.log,
                        f"{self.get_name()}: the exact theory's get_Cl(ell_factor={ell_factor}, "
                        f"units={units!r}) factor for {spectrum!r} depends on the parameters "
                        "(e.g. a sampled T_cmb with units muK2), which the emulator cannot "
                        "serve. Ask for FIRAS units ('FIRASmuK2'), or run without the emulator.",
                    )

    def get_Cl(self, ell_factor: bool = False, units: str | float = "FIRASmuK2") -> dict:
        """The spectra of the current point, as the exact theory's ``get_Cl(ell_factor, units)``
        gives them (arrays from ell = 0 to the largest requested lmax, each spectrum zero beyond
        its own; key ``"ell"``). New arrays on every call."""
        current = self.current_state["Cl"]
        out = {"ell": current["ell"].copy()}
        if not ell_factor and units == "FIRASmuK2":
            return {**out, **{s: current[s].copy() for s in self._lmax}}
        key = (bool(ell_factor), units)
        if key not in self._conversions:
            if current_state(self._exact) is None:
                # No exact result in this process yet (all served from the cache): one exact
                # call at this point gives the factors (and is learned like any other).
                self._exact_call(self.current_state["params"], None)
            self._conversions[key] = self._conversion_from_exact(*key)
        return {**out, **{s: current[s] * self._conversions[key][s] for s in self._lmax}}

    def get_param(self, p: str) -> float:
        """A derived parameter of the current point (for the chain or for other components)."""
        state = self.current_state
        if p in (state.get("derived") or {}):
            return state["derived"][p]
        return state["derived_required"][p]

    # --- reporting --------------------------------------------------------------------------

    def _progress(self, force: bool = False) -> None:
        now = time.time()
        if not force and (
            not self.progress_every or now - self._last_progress < self.progress_every
        ):
            return
        self._last_progress = now
        total = self.n_exact + self.n_served + self.n_recalled
        status = self._emulator.status()
        if self._recent_errors:
            errors, tolerances = np.array(self._recent_errors).T
            level = (
                f"median error {np.median(errors):.2g} in |Δ log L| over the last {len(errors)} "
                f"served, where the median tolerance was {np.median(tolerances):.2g} "
                f"({self.tolerance:g} near the best point)"
            )
        else:
            level = "no prediction served yet"
        checked = (
            f"; at exact calls the prediction's error was {np.median(self._recent_checks):.2g} "
            "× the estimate (median)"
            if self._recent_checks
            else ""
        )
        self.log.info(
            "%s: of %d points, %d exact call(s) here (%d failed), %d earlier exact result(s) "
            "reused, %d prediction(s) served (%.0f %%); %d training point(s) learned (from every "
            "process); %s; calibration factor %.2g%s.",
            self.get_name(), total, self.n_exact, self.n_failed, self.n_recalled, self.n_served,
            100 * self.n_served / max(total, 1), status["points"], level, status["kappa"], checked,
        )  # fmt: skip

    def jax_calculate(self):
        """The emulator's mean prediction as a JAX function for :mod:`cobaya_plugins.gradients`
        (``f(params) -> ({"Cl": ..., "derived": ...}, valid)``, spectra as ``get_Cl()`` gives
        them). The prediction is frozen at the current fit and its error is not checked here:
        the gradient tools check their points through :meth:`exact_only` and Cobaya's path,
        and ask for this again after the emulator learned (BestFit, profile, HMC)."""
        import jax.numpy as jnp

        if not self._started:
            self._start()
        if self._emulator.gp is None:
            raise LoggedError(
                self.log,
                f"{self.get_name()}: the emulator has no fit yet, so it has no JAX form. Run "
                "Cobaya's mcmc (or minimize) with it first, so that the cache holds training "
                "points.",
            )
        function = self._emulator.jax_function()
        inputs, outputs = list(self._inputs), list(self.output_params)

        def calculate(params):
            cls, derived = function(
                jnp.stack([jnp.asarray(params[p], dtype=float) for p in inputs])
            )
            return {"Cl": cls, "derived": {p: derived[p] for p in outputs}}, jnp.asarray(True)

        return calculate

    def __exit__(self, exception_type, exception_value, traceback):
        """At the end of a run that ended without an error, the exactness report
        (:meth:`exactness_report`); then close as any component."""
        try:
            if exception_type is None:
                self.exactness_report()
        finally:
            super().__exit__(exception_type, exception_value, traceback)

    def exactness_report(self) -> dict | None:
        """The exactness report of the run's chain (``validate: N`` posterior draws computed by
        the exact theory, :mod:`cobaya_plugins.online.report`), made once, by the first MPI
        process, inside ``cobaya-run`` with an output prefix; the report, or None where there is
        nothing to report (the reason is logged)."""
        from cobaya import mpi

        from cobaya_plugins.cobaya_internals import run_output_prefix
        from cobaya_plugins.online.report import exactness_report

        if getattr(self, "_reported", True) or not self.validate or not self._started:
            return None
        self._reported = True
        if not mpi.is_main_process():
            return None
        prefix = run_output_prefix()
        command = f"python -m cobaya_plugins online-report {prefix or 'PREFIX'} --n {self.validate}"
        if prefix is None:
            self.log.info(
                "%s: no exactness report (`validate: %d`): this run writes no chain (it is not "
                "a cobaya-run with `output:`). On a chain, run `%s`.",
                self.get_name(), self.validate, command,
            )  # fmt: skip
            return None
        self.log.info(
            "%s: exactness report: the exact theory at %d posterior draws of %s ...",
            self.get_name(), self.validate, prefix,
        )  # fmt: skip
        try:
            return exactness_report(prefix, self.validate, logger=self.log, option="validate:")
        except FileNotFoundError as excpt:  # no chain: a minimize run
            self.log.info("%s: no exactness report: %s", self.get_name(), excpt)
        except ValueError as excpt:
            self.log.warning(
                "%s: no exactness report: %s (then `%s` makes it)", self.get_name(), excpt, command
            )
        return None

    def close(self, *args):
        """Log the final progress line, then close the exact theory."""
        if self._started and not getattr(self, "_closed", False):
            self._progress(force=True)
        self._closed = True
        self._exact.close()
