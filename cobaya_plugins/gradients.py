r"""A Cobaya model's log-posterior in JAX: value and gradient, compiled once.

:class:`LogPosterior` takes a model (``cobaya.model.get_model(info)``) and composes, as one
``jax.numpy`` function of the sampled parameters in Cobaya's order:

1. **parameters**: sampled values, fixed values, and Cobaya's ``lambda`` definitions of input
   parameters (e.g. ``A_s: "lambda logA: 1e-10*np.exp(logA)"``), evaluated again with ``np``
   bound to ``jax.numpy`` and ``stats`` to ``jax.scipy.stats``;
2. **priors**: each 1-d prior of the ``params`` block (uniform, normal, and any other
   distribution that ``jax.scipy.stats`` has, with scipy's arguments), with Cobaya's
   normalisation and bounds, and the external priors of the ``prior`` block (e.g. plik's SZ
   prior) re-evaluated the same way;
3. **theories**: each theory's JAX form (its ``jax_calculate()``; the CosmoPower emulator and
   its anchor, or ``CallableCls`` with ``jax: true``);
4. **likelihoods**: each likelihood's JAX form (its ``jax_logp()``: every class of
   ``cobaya_plugins.planck`` on the JAX path), and external ``lambda`` likelihoods.

The result equals ``model.logpost(x)`` (tested to 1e-8 with the emulator's ``precision:
float64``, measured ≤ 6e-11; to 1e-2 with its default float32 numpy path, measured ≤ 2.3e-3) and
is differentiable. A component that has no JAX form stops the construction
with a ``LoggedError`` that names it and the fix.

The contract for a component of this package or yours (duck-typed, nothing to register):

* a **Theory** defines ``jax_calculate(self) -> f``, with ``f(params) -> (products, valid)``:
  ``params`` maps its input parameter names to JAX scalars; ``products`` is a dict with
  ``"Cl"`` (spectra as its ``get_Cl(ell_factor=False, units="FIRASmuK2")`` returns them:
  C_ell in µK² from ell = 0, C_ell^φφ raw) and ``"derived"`` (its derived parameters); ``valid``
  is a JAX boolean (False: the point is rejected, logpost = -inf);
* a **Likelihood** defines ``jax_logp(self) -> f``, with ``f(products, params) -> logL``
  (``products``: the merged products of the theories; ``params``: its input parameters).
* a Theory whose JAX form **approximates** its exact code (``OnlineEmulator``) also defines
  ``exact_only(self)``, a context manager under which its Cobaya ``calculate()`` computes every
  point exactly (and learns it); its ``jax_calculate()`` then returns the refreshed
  approximation. BestFit checks its best fit that way.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from cobaya.likelihood import LikelihoodExternalFunction
from cobaya.log import LoggedError, get_logger

from cobaya_plugins.cobaya_internals import chi2_groups
from cobaya_plugins.jax_compile import AnnouncedJit, enable_cache, enable_x64

#: What a component needs for gradients, named in the error for one that has none.
NO_JAX_FIX = (
    "Gradient samplers (cobaya_plugins.samplers.HMC, BestFit) need every component in JAX: the "
    "likelihoods of cobaya_plugins.planck (any `backend:` but `clik`/`clipy`), the theories "
    "cobaya_plugins.theories.CosmoPower or CallableCls with `jax: true`, and `lambda` "
    "external likelihoods and priors written with np./stats. functions. Use Cobaya's `mcmc` "
    "or `minimize` for this model instead."
)


def jax_namespace() -> dict[str, Any]:
    """The names a Cobaya ``lambda`` string may use, bound to their JAX versions: ``np`` and
    ``numpy`` (``jax.numpy``), ``stats`` (``jax.scipy.stats``), ``scipy`` (``jax.scipy``)."""
    import jax.numpy as jnp
    import jax.scipy
    import jax.scipy.stats

    return {"np": jnp, "numpy": jnp, "stats": jax.scipy.stats, "scipy": jax.scipy}


def jax_function(definition: str | Callable, what: str, log: Any) -> tuple[Callable, list[str]]:
    """A Cobaya ``lambda`` definition as a JAX-traceable function, and its argument names.

    ``definition``: the string from the YAML (evaluated again in :func:`jax_namespace`) or a
    Python function (used as it is: it must be written with ``jax.numpy``). ``what`` names it in
    errors, e.g. ``"the parameter 'A_s'"``.
    """
    if isinstance(definition, str):
        try:
            function = eval(definition, jax_namespace())  # noqa: S307 - Cobaya's own convention
        except Exception as exc:  # noqa: BLE001 - any failure: say which definition
            raise LoggedError(
                log,
                f"Cannot evaluate the definition of {what} ({definition!r}) for JAX: {exc}. "
                "Use only `np.` and `stats.` functions (bound to jax.numpy and "
                "jax.scipy.stats) in it.",
            ) from None
    else:
        function = definition
    if not callable(function):
        raise LoggedError(log, f"The definition of {what} is not a function: {definition!r}.")
    arguments = list(inspect.signature(function).parameters)
    return function, arguments


def _call_traced(function: Callable, kwargs: Mapping[str, Any], what: str, log: Any) -> Any:
    """Call ``function(**kwargs)`` with JAX values; a failure names ``what`` and the fix."""
    try:
        return function(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a numpy-only function fails in many ways
        raise LoggedError(
            log,
            f"{what} cannot be evaluated with JAX values ({type(exc).__name__}: {exc}). "
            "Write it with jax.numpy (in a YAML string: `np.` and `stats.` functions only, "
            f"no math./scipy. imports). {NO_JAX_FIX}",
        ) from None


class _Prior1D:
    """The 1-d priors of the sampled parameters in JAX (Cobaya's ``model.prior`` without the
    external part): sum of log-pdfs, -inf outside the bounds."""

    def __init__(self, model: Any, log: Any):
        import jax.scipy.stats as jstats

        self.bounds = np.asarray(model.prior.bounds(), dtype=float)  # (d, 2)
        self.logpdfs = []
        for name, pdf in zip(model.prior.params, model.prior.pdf, strict=True):
            dist = pdf.dist.name
            jax_dist = getattr(jstats, dist, None)
            if jax_dist is None or not hasattr(jax_dist, "logpdf"):
                raise LoggedError(
                    log,
                    f"The prior of '{name}' is scipy's '{dist}', which jax.scipy.stats does "
                    "not have: it cannot be differentiated. Use a uniform (`prior: {min: , "
                    "max: }`), normal (`dist: norm`) or another distribution that "
                    f"jax.scipy.stats has. {NO_JAX_FIX}",
                )
            if model.parameterization.sampled_params_info()[name].get("periodic"):
                raise LoggedError(
                    log,
                    f"The parameter '{name}' is periodic: the gradient samplers do not handle "
                    "periodic parameters. Use Cobaya's `mcmc` sampler.",
                )
            self.logpdfs.append((jax_dist.logpdf, tuple(pdf.args), dict(pdf.kwds)))

    def __call__(self, x: Any) -> Any:
        import jax.numpy as jnp

        total = sum(
            logpdf(x[i], *args, **kwds) for i, (logpdf, args, kwds) in enumerate(self.logpdfs)
        )
        inside = jnp.all((x >= self.bounds[:, 0]) & (x <= self.bounds[:, 1]))
        return jnp.where(inside, total, -jnp.inf)


class LogPosterior:
    """The log-posterior of a Cobaya model as a differentiable JAX function.

    ``model``: from ``cobaya.model.get_model(info)``. ``ignore_prior=True`` gives the
    log-likelihood alone (the sum of all likelihoods, as Cobaya's ``minimize`` with
    ``ignore_prior``). Points ``x`` are arrays of the sampled parameters in
    :attr:`sampled_names` order (Cobaya's), shape (d,), in their own units.

    Attributes: ``sampled_names``, ``bounds`` (shape (d, 2), the priors' bounds, ±inf where
    unbounded), ``likelihood_names`` (Cobaya's order), ``function`` (the pure ``jax.numpy``
    function ``x -> logpost``, for samplers to compose), ``parts_function`` (``x -> (logpost,
    logpriors, loglikes, outputs)``, see :meth:`batch_parts`). Raises ``LoggedError`` naming
    a component that cannot be differentiated.

    Building one changes two settings of the whole process, each logged when it does: JAX's
    64-bit mode is turned on (a ``LoggedError`` instead when ``JAX_ENABLE_X64`` says off), and
    XLA runs on one CPU thread unless ``XLA_FLAGS`` is set (:mod:`cobaya_plugins.jax_compile`).
    """

    def __init__(self, model: Any, ignore_prior: bool = False):
        import jax
        import jax.numpy as jnp

        self.log = get_logger("gradients")
        enable_cache()
        try:
            if enable_x64("The JAX log-posterior"):
                self.log.info(
                    "JAX's 64-bit mode turned on for this process (jax_enable_x64: the "
                    "log-posterior computes in float64; JAX arrays created from now on default "
                    "to float64). Set JAX_ENABLE_X64=1 to make it explicit."
                )
        except ValueError as exc:
            raise LoggedError(self.log, str(exc)) from None
        self.model = model
        self.ignore_prior = ignore_prior
        parameterization = model.parameterization
        self.sampled_names: list[str] = list(parameterization.sampled_params())
        self.likelihood_names: list[str] = list(model.likelihood)
        self._prior_1d = _Prior1D(model, self.log)
        self.bounds = self._prior_1d.bounds
        info = model.info()
        self._constants = {
            p: float(v) for p, v in parameterization.constant_params().items() if v is not None
        }
        self._input_functions = self._read_input_functions(info.get("params", {}))
        self._external_priors = [
            (name, *jax_function(definition, f"the prior '{name}'", self.log))
            for name, definition in (info.get("prior") or {}).items()
        ]
        self._theories = [
            (theory, self._jax_form(theory, "jax_calculate")) for theory in model.theory.values()
        ]
        self._likelihoods = [
            (like, self._likelihood_form(like, info.get("likelihood", {}).get(name)))
            for name, like in model.likelihood.items()
        ]
        self.function: Callable = lambda x: self._parts(x)[0]  # noqa: E731
        self.parts_function: Callable = self._parts
        n = len(self.sampled_names)
        n_text = f"{n} parameters" if n != 1 else "1 parameter"
        self._value = AnnouncedJit(self.function, f"the log-posterior ({n_text})")
        self._value_and_grad = AnnouncedJit(
            jax.value_and_grad(self.function),
            f"the log-posterior and its gradient ({n_text})",
        )
        self._batch_value_and_grad = AnnouncedJit(
            jax.vmap(jax.value_and_grad(self.function)),
            f"the log-posterior and its gradient for a batch ({n_text})",
        )
        self._batch_parts = AnnouncedJit(
            jax.vmap(self._parts), f"the log-posterior's parts for a batch ({n_text})"
        )
        del jnp

    # --- building ---------------------------------------------------------------------------

    def _read_input_functions(self, params_info: Mapping) -> list[tuple[str, Callable, list]]:
        """Input parameters defined by a function, in an order where each one's arguments come
        first (as Cobaya resolves them)."""
        defined = {}
        for p, info in params_info.items():
            value = info.get("value") if isinstance(info, Mapping) else None
            if (
                value is not None
                and not isinstance(value, int | float)
                and p not in self._constants
            ):
                defined[p] = jax_function(value, f"the parameter '{p}'", self.log)
        ordered, known = [], set(self.sampled_names) | set(self._constants)
        while defined:
            ready = [p for p, (_, args) in defined.items() if known.issuperset(args)]
            if not ready:
                raise LoggedError(
                    self.log, f"Cannot resolve the arguments of the parameters {list(defined)}."
                )
            for p in ready:
                ordered.append((p, *defined.pop(p)))
                known.add(p)
        return ordered

    def _jax_form(self, component: Any, method: str) -> Callable:
        """The component's JAX function (its ``method()``); a LoggedError when it has none."""
        make = getattr(component, method, None)
        if make is None:
            raise LoggedError(
                self.log,
                f"'{component.get_name()}' ({type(component).__module__}."
                f"{type(component).__name__}) has no JAX form: it cannot be differentiated. "
                f"{NO_JAX_FIX}",
            )
        return make()

    def _likelihood_form(self, like: Any, info: Any) -> Callable:
        """The JAX function ``(products, params) -> logL`` of one likelihood."""
        if not isinstance(like, LikelihoodExternalFunction):
            return self._jax_form(like, "jax_logp")
        definition = info.get("external") if isinstance(info, Mapping) else info
        what = f"the likelihood '{like.get_name()}'"
        function, arguments = jax_function(definition, what, self.log)
        if "_self" in arguments:
            raise LoggedError(
                self.log,
                f"{what} uses `_self` (requirements from other components): not supported "
                f"by the gradient samplers. {NO_JAX_FIX}",
            )
        return lambda products, params: _call_traced(function, params, what, self.log)

    # --- the function -----------------------------------------------------------------------

    def _inputs(self, x: Any) -> dict[str, Any]:
        """All input parameter values (sampled, fixed, defined by functions) at ``x``."""
        values = dict(self._constants)
        values.update({p: x[i] for i, p in enumerate(self.sampled_names)})
        for p, function, arguments in self._input_functions:
            values[p] = _call_traced(
                function, {a: values[a] for a in arguments}, f"The parameter '{p}'", self.log
            )
        return values

    def _parts(self, x: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
        """(logpost, logpriors, loglikes, theory outputs) at ``x`` (shape (d,)): ``logpriors``
        as Cobaya lists them (the 1-d priors, then each external prior), ``loglikes`` in
        :attr:`likelihood_names` order."""
        import jax.numpy as jnp

        values = self._inputs(x)
        logpriors = [self._prior_1d(x)]
        for name, function, arguments in self._external_priors:
            logpriors.append(
                _call_traced(
                    function, {a: values[a] for a in arguments}, f"The prior '{name}'", self.log
                )
            )
        logpriors = jnp.stack([jnp.asarray(p, dtype=jnp.float64) for p in logpriors])
        products: dict[str, Any] = {"derived": {}}
        valid = jnp.asarray(True)
        for theory, calculate in self._theories:
            out, ok = calculate({p: values[p] for p in theory.input_params})
            valid = valid & ok
            products["derived"].update(out.pop("derived", {}))
            products.update(out)
        loglikes = jnp.stack(
            [
                jnp.asarray(logp(products, {p: values[p] for p in like.input_params}))
                for like, logp in self._likelihoods
            ]
        )
        logprior = jnp.sum(logpriors)
        total = jnp.sum(loglikes) + (0.0 if self.ignore_prior else logprior)
        finite = jnp.isfinite(logprior) & valid & jnp.all(jnp.isfinite(loglikes))
        logpost = jnp.where(finite, total, -jnp.inf)
        return logpost, logpriors, loglikes, products["derived"]

    # --- evaluation -------------------------------------------------------------------------

    def _point(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != len(self.sampled_names):
            raise ValueError(
                f"A point has {len(self.sampled_names)} values (in the order "
                f"{self.sampled_names}); got shape {x.shape}."
            )
        return x

    def value(self, x: Sequence[float] | np.ndarray) -> float:
        """log-posterior at ``x`` (shape (d,)); -inf outside the prior or a rejected point."""
        return float(self._value(self._point(x)))

    def value_and_grad(self, x: Sequence[float] | np.ndarray) -> tuple[float, np.ndarray]:
        """(log-posterior, its gradient with respect to ``x``, shape (d,)) at ``x``."""
        value, grad = self._value_and_grad(self._point(x))
        return float(value), np.asarray(grad)

    def batch_value_and_grad(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (n,) and gradients (n, d) at the points ``xs`` (n, d), vectorised."""
        values, grads = self._batch_value_and_grad(self._point(xs))
        return np.asarray(values), np.asarray(grads)

    def batch_parts(self, xs: np.ndarray) -> dict[str, Any]:
        """At points ``xs`` (n, d): ``logpost`` (n,), ``logpriors`` (n, 1 + n_external_priors),
        ``loglikes`` (n, n_likelihoods) and ``outputs`` (dict of (n,) arrays: the theories'
        derived parameters), vectorised."""
        logpost, logpriors, loglikes, outputs = self._batch_parts(self._point(xs))
        return {
            "logpost": np.asarray(logpost),
            "logpriors": np.asarray(logpriors),
            "loglikes": np.asarray(loglikes),
            "outputs": {k: np.asarray(v) for k, v in outputs.items()},
        }

    def cobaya_points(self, xs: np.ndarray) -> list[Any]:
        """Cobaya's ``LogPosterior`` (logpriors, loglikes, derived parameters, in the model's
        orders) at each point of ``xs`` (n, d), for its sample collections.

        The priors and likelihoods come from one vectorised JAX call; the derived parameters
        from Cobaya's own parameterization (its ``lambda`` definitions, the chi² sums) on the
        theories' JAX outputs. When a derived parameter needs an output that no JAX form gives,
        every point is evaluated by Cobaya's ``model.logposterior`` instead (slower, exact).
        """
        from cobaya.model import LogPosterior as CobayaLogPosterior

        xs = self._point(np.atleast_2d(xs))
        model = self.model
        parameterization = model.parameterization
        parts = self.batch_parts(xs)
        needed = [p for p in parameterization.output_params() if not p.startswith("chi2__")]
        if any(p not in parts["outputs"] for p in needed):
            return [model.logposterior(x, cached=False) for x in xs]
        points = []
        for k, x in enumerate(xs):
            loglikes = parts["loglikes"][k]
            logpriors = parts["logpriors"][k]
            derived = []
            if np.all(np.isfinite(logpriors)) and np.all(np.isfinite(loglikes)):
                parameterization.to_input(x)
                outputs = {p: float(parts["outputs"][p][k]) for p in needed}
                for chi2_name, indices in chi2_groups(model):  # Cobaya's chi2__<type> sums
                    outputs[chi2_name] = -2 * float(sum(loglikes[i] for i in indices))
                derived = list(parameterization.to_derived(outputs).values())
            points.append(
                CobayaLogPosterior(
                    logpriors=list(logpriors), loglikes=list(loglikes), derived=derived
                )
            )
        return points


def check_finite_gradient(names: Sequence[str], x: np.ndarray, grad: np.ndarray, log: Any) -> None:
    """Raise a ``LoggedError`` naming the parameter values when ``grad`` has NaN/inf entries at
    a point ``x`` where the log-posterior is finite."""
    bad = [n for n, g in zip(names, grad, strict=True) if not math.isfinite(g)]
    if bad:
        point = ", ".join(f"{n}={v:.6g}" for n, v in zip(names, x, strict=True))
        raise LoggedError(
            log,
            f"The gradient of the log-posterior is not finite in {bad} at a point where the "
            f"log-posterior is finite: {point}. A component returns NaN derivatives there "
            "(e.g. a likelihood at the edge of its validity range); report it with this point.",
        )


#: Largest |Δχ²| between the JAX and the exact log-posterior at a maximum found through an
#: approximate theory (the BestFit option ``exact_tolerance`` and the profile's default).
EXACT_TOLERANCE = 0.1
#: Most maximisations through an approximate theory before giving up (``exact_rounds``).
EXACT_ROUNDS = 5


def approximate_theories(model: Any) -> list[Any]:
    """The theories of ``model`` whose JAX form approximates their exact code (they define
    ``exact_only()``, the module docstring), in the model's order."""
    return [t for t in model.theory.values() if hasattr(t, "exact_only")]


class ExactCheck:
    """Maxima found through theories whose JAX form approximates their exact code (they define
    ``exact_only()``; the module docstring) checked against that code.

    :meth:`refine` runs a maximisation ``find(posterior, x0) -> (x, value)`` (``x``: all
    sampled parameters, (d,); ``value``: the JAX log-posterior there), computes the same
    quantity exactly at ``x`` and, while the two differ by more than ``tolerance`` in χ² (the
    theory has then learned the point), rebuilds the JAX posterior and maximises again from
    ``x``, at most ``rounds`` times. ``active`` is False (and :meth:`refine` one plain
    maximisation) when the model has no such theory."""

    def __init__(
        self,
        model: Any,
        ignore_prior: bool = False,
        tolerance: float = EXACT_TOLERANCE,
        rounds: int = EXACT_ROUNDS,
    ):
        self.model, self.ignore_prior = model, bool(ignore_prior)
        self.tolerance, self.rounds = float(tolerance), int(rounds)
        self.theories = approximate_theories(model)
        self.active = bool(self.theories)
        #: The names of the approximate theories, for messages.
        self.names = ", ".join(t.get_name() for t in self.theories)

    def exact_value(self, x: np.ndarray) -> float:
        """The exact log-posterior (log-likelihood with ``ignore_prior``) at ``x`` (d,)."""
        from contextlib import ExitStack

        with ExitStack() as stack:
            for theory in self.theories:
                stack.enter_context(theory.exact_only())
            point = self.model.logposterior(x, cached=False)
        return float(point.loglike if self.ignore_prior else point.logpost)

    def refine(
        self,
        posterior: LogPosterior,
        find: Callable[[LogPosterior, np.ndarray], tuple[np.ndarray, float]],
        x0: np.ndarray,
    ) -> tuple[LogPosterior, np.ndarray, float, list[tuple[float, float]], bool]:
        """(posterior, x, exact value, [(JAX χ², exact χ²) per round], agreed): the last
        posterior built, the last maximum and the exact value there (the JAX one when not
        :attr:`active`), every round's χ², and whether the last round is within
        ``tolerance``."""
        x, value = find(posterior, x0)
        if not self.active:
            return posterior, x, value, [], True
        rounds: list[tuple[float, float]] = []
        for round_ in range(1, self.rounds + 1):
            exact = self.exact_value(x)
            rounds.append((-2 * value, -2 * exact))
            if abs(2 * (value - exact)) <= self.tolerance:
                return posterior, x, exact, rounds, True
            if round_ < self.rounds:
                posterior = LogPosterior(self.model, ignore_prior=self.ignore_prior)
                x, value = find(posterior, x)
        return posterior, x, exact, rounds, False
