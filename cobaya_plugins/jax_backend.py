"""The JAX backend: a ``.clik`` file through clipy's JAX path, jit-compiled once per file.

:class:`JaxClik` behaves like clipy's own likelihood object on a clik call vector (so the rest of
the package treats it as one more backend) and adds the gradient and a batched evaluation.
:func:`split_gradient` turns the gradient with respect to the call vector into gradients with
respect to the caller's spectra (in the caller's units) and nuisance parameters (by name).
clipy is loaded through :func:`cobaya_plugins.clipy_loader.load_clipy` (a private copy on JAX,
with the load-time adaptations documented there).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable, Mapping

import numpy as np

from cobaya_plugins.clipy_loader import load_clipy
from cobaya_plugins.jax_compile import AnnouncedJit, Timer
from cobaya_plugins.units import T_CMB_FIRAS, dl_to_cl_factor, to_muK2_factor
from cobaya_plugins.vector import LENSING_SPECTRA, CallVector


class JaxClik:
    """One ``.clik`` file evaluated by clipy's JAX path (compiled at the first call).

    Callable like clipy's object on a call vector (shape (Σ(lmax+1) + n_nuisance,): C_ell in µK²
    from ell = 0 for each used spectrum, then the nuisance values in the file's order), with
    ``get_lmax()`` and ``get_extra_parameter_names()``; adds :meth:`value_and_grad` and
    :meth:`batch`. ``self_check``: clipy's "Checking likelihood ..." line printed at load, or
    None. Raises ``ValueError`` when clipy cannot read the file, ``ImportError`` without jax.
    """

    def __init__(self, path: str | os.PathLike):
        import jax

        clipy = load_clipy(jax=True)
        log = io.StringIO()
        name = os.path.basename(os.path.normpath(path))
        try:
            with contextlib.redirect_stdout(log), Timer(f"opened {name} with clipy's JAX path"):
                self._lkl = clipy.clik(str(path))
        except clipy.clik_emul_error as exc:
            raise ValueError(f"clipy (JAX) could not read {path}: {exc}") from exc
        found = re.search(r"Checking likelihood.*", log.getvalue())
        self.self_check: str | None = found.group(0) if found else None
        lkl = self._lkl

        def loglike(vector):
            return lkl(vector)

        #: The likelihood as a function of the call vector, in ``jax.numpy`` (traceable: for
        #: composing with other JAX code, e.g. :mod:`cobaya_plugins.gradients`).
        self.function: Callable = loglike
        self._value: Callable = AnnouncedJit(loglike, f"{name} logL")
        self._value_and_grad: Callable = AnnouncedJit(
            jax.value_and_grad(loglike), f"{name} logL and gradient"
        )
        self._batch: Callable = AnnouncedJit(jax.vmap(loglike), f"{name} logL of a batch")

    def get_lmax(self) -> list[int]:
        """lmax per spectrum in clik order (TT EE BB TE TB EB, ``pp`` first for lensing; -1 =
        not used)."""
        return [int(v) for v in self._lkl.get_lmax()]

    def get_extra_parameter_names(self) -> list[str]:
        """The nuisance parameter names, in the file's order."""
        return list(self._lkl.get_extra_parameter_names())

    def __call__(self, vector: np.ndarray) -> float:
        """logL of one call vector."""
        return float(self._value(np.asarray(vector, dtype=np.float64)))

    def value_and_grad(self, vector: np.ndarray) -> tuple[float, np.ndarray]:
        """(logL, d logL / d vector) of one call vector; the gradient has the vector's shape."""
        value, grad = self._value_and_grad(np.asarray(vector, dtype=np.float64))
        return float(value), np.asarray(grad)

    def batch(self, vectors: np.ndarray) -> np.ndarray:
        """logL of a batch of call vectors, shape (n, vector size) -> (n,), via ``jax.vmap``."""
        return np.asarray(self._batch(np.asarray(vectors, dtype=np.float64)))


def split_gradient(
    layout: CallVector,
    grad: np.ndarray,
    cls: Mapping[str, np.ndarray],
    units: str = "muK2",
    ell_factor: bool = False,
    T_cmb: float = T_CMB_FIRAS,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The gradient with respect to a call vector, as gradients with respect to the inputs.

    ``grad``: d logL / d vector, shape (Σ(lmax+1) + n_nuisance,), for a vector filled by
    ``layout`` from ``cls`` in ``units``/``ell_factor`` (the arguments of ``loglike``).
    Returns ``(dcls, dnuisance)``: ``dcls[name]`` is d logL / d ``cls[name]`` in the caller's
    units (per µK², per K², or per unit of (ΔT/T)²; per D_ell when ``ell_factor``), an array of
    the caller's length from ell = 0, zero where clik does not use the entry (beyond lmax,
    ell < lmin, spectra the file does not use); spectra the file uses but the caller left out
    (TB, EB) get length lmax+1. ``dnuisance`` maps each nuisance name to d logL / d value.
    """
    factor = to_muK2_factor(units, T_cmb)
    dcls: dict[str, np.ndarray] = {}
    for name in [*layout.slices, *(n for n in cls if n not in layout.slices)]:
        if name not in layout.slices:
            if name in LENSING_SPECTRA:  # a spectrum this file does not use
                dcls[name] = np.zeros(np.shape(cls[name]))
            continue
        lm = layout.lmax[name]
        given = cls.get(name)
        out = np.zeros(lm + 1 if given is None else max(len(given), lm + 1))
        part = grad[layout.slices[name]]
        if name == "pp":  # the lensing potential goes into the vector unconverted
            out[: lm + 1] = part
        else:
            out[: lm + 1] = part * factor
            if ell_factor:
                out[: lm + 1] *= dl_to_cl_factor(lm)
        dcls[name] = out[: len(given)] if given is not None else out
    dnuisance = {
        p: float(g) for p, g in zip(layout.nuisance_names, grad[layout.n_cls :], strict=True)
    }
    return dcls, dnuisance
