"""clipy (the pure-Python clik) on numpy or on JAX, side by side in one process.

clipy chooses numpy or JAX once, when it is imported: ``CLIPY_NOJAX`` set to any non-empty value
(even ``"0"``) means numpy, unset or empty means JAX when jax is installed. One import of
``clipy`` therefore serves one mode for the whole process, and which one depends on the
environment and on who imported it first (Cobaya's own Planck classes set ``CLIPY_NOJAX=1``).
:func:`load_clipy` instead executes the installed clipy package again under a private module
name per mode (:data:`PRIVATE_NAMES`), with ``CLIPY_NOJAX`` set for the duration of that import
only. The public ``clipy`` module and the installed files are never touched, so the numpy path,
the JAX path and a user's own ``import clipy`` coexist, whatever the environment says.

The JAX copy gets three adaptations when it is loaded (``docs/jax.md`` has the details):

1. **Native byte order.** FITS stores integers big-endian; clipy's smica (plik) reader hands
   them to JAX as they come, and with jax >= 0.10 opening a plik file fails. Arrays read from a
   ``.clik`` file are converted to native byte order (same values).
2. **totcalP (``A_pol``).** clik's C code (``src/plik/smica.c``, ``comp_totcalP_update``)
   divides the temperature-polarisation blocks of the smica model by A_pol and the
   polarisation-polarisation blocks by A_pol². clipy 0.15's numpy path does that; its JAX path
   leaves the second factor out (that line is commented out; clik calls that variant
   ``totcalTP``). The JAX copy uses clik's formula, so both paths agree for any A_pol (the Planck
   baseline fixes A_pol = 1, where every variant agrees).
3. **Binning once.** clipy bins each additive smica foreground separately with a dense
   (bins × ells) product. Binning is linear, so the JAX copy sums the foregrounds per ell and
   bins the sum once, as a weighted sum per bin. Same result up to rounding (~1e-14 relative),
   and the plik call several times faster.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from cobaya_plugins.versions import require

#: Private module names of the two copies of clipy, by mode.
PRIVATE_NAMES = {False: "cobaya_plugins._clipy_numpy", True: "cobaya_plugins._clipy_jax"}

INSTALL_HINT = {
    False: "Install it with `pip install clipy-like scipy`.",
    True: "The JAX backend needs jax and clipy: `pip install 'cobaya-planck-clik[jax]'` "
    "(or `pip install jax clipy-like`).",
}

_load_lock = threading.Lock()


def jax_available() -> bool:
    """True when ``jax`` and ``clipy`` are installed (checked without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("jax", "clipy"))


def load_clipy(jax: bool = False) -> ModuleType:
    """clipy running on numpy (``jax=False``) or on JAX (``jax=True``), loaded once per mode.

    Returns a private copy of the installed clipy package (same API: ``clik(path)``,
    ``clik_emul_error``...). Raises ``ImportError`` naming what to install when clipy, scipy
    (numpy path) or jax (JAX path) is missing.
    """
    name = PRIVATE_NAMES[jax]
    if jax and jax_available():
        from cobaya_plugins.jax_compile import enable_cache, enable_x64, log

        enable_cache()  # before anything compiles (docs/jax.md, "Compile times")
        # clipy's JAX path turns float64 on at import: said, and refused (ValueError with the
        # fix) when the user switched it off with JAX_ENABLE_X64=0
        if enable_x64("clipy's JAX path (`backend: jax`)"):
            log.info(
                "JAX's 64-bit mode turned on for this process (clipy's JAX path computes in "
                "float64). Set JAX_ENABLE_X64=1 to make it explicit."
            )
    with _load_lock:
        module = sys.modules.get(name)
        if module is None:
            module = _import_copy(name, jax)
            if jax:
                _adapt_jax_copy(name)
        return module


def _import_copy(name: str, jax: bool) -> ModuleType:
    """Execute the installed clipy package under ``name``, with CLIPY_NOJAX set for ``jax``."""
    spec = importlib.util.find_spec("clipy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"clipy is not installed. {INSTALL_HINT[jax]}")
    needed = "jax" if jax else "scipy"  # clipy's numpy path needs scipy but does not declare it
    if importlib.util.find_spec(needed) is None:
        raise ImportError(f"{needed} is not installed. {INSTALL_HINT[jax]}")
    require("clipy-like")  # the adaptations below rely on clipy's internals
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    copy_spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    module = importlib.util.module_from_spec(copy_spec)
    saved = os.environ.get("CLIPY_NOJAX")
    os.environ["CLIPY_NOJAX"] = "" if jax else "1"
    sys.modules[name] = module
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            copy_spec.loader.exec_module(module)
    except BaseException:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        raise
    finally:
        if saved is None:
            del os.environ["CLIPY_NOJAX"]
        else:
            os.environ["CLIPY_NOJAX"] = saved
    if bool(module.hasjax) != jax:
        raise ImportError(f"clipy could not be loaded with jax={jax}. {INSTALL_HINT[jax]}")
    return module


def _adapt_jax_copy(name: str) -> None:
    """Apply the three adaptations of the module docstring to the private JAX copy ``name``."""
    lkl = sys.modules[f"{name}.lkl"]
    lkl.cldf = _NativeOrderCldf(lkl.cldf)
    components = importlib.import_module(f"{name}.smica_component")
    components.smica_totcalP._compute_component_jax = _totcalP_like_clik
    smica = importlib.import_module(f"{name}.smica")
    smica.smica_lkl.get_model_rq = _model_rq_binned_once


# --- 1. native byte order -------------------------------------------------------------------


class _NativeOrderGroup:
    """A clik (cldf) group whose arrays come back in native byte order."""

    def __init__(self, group: Any):
        self._group = group

    def __getitem__(self, key: str) -> Any:
        value = self._group[key]
        if isinstance(value, type(self._group)):
            return _NativeOrderGroup(value)
        if isinstance(value, np.ndarray) and not value.dtype.isnative:
            return value.astype(value.dtype.newbyteorder("="))
        return value

    def __contains__(self, key: str) -> bool:
        return key in self._group

    def __getattr__(self, name: str) -> Any:
        return getattr(self._group, name)


class _NativeOrderCldf:
    """Stands in for clipy's ``cldf`` module in the JAX copy: ``open`` wraps the root group."""

    def __init__(self, cldf: ModuleType):
        self._cldf = cldf

    def open(self, name: str, mode: str = "r") -> _NativeOrderGroup:
        return _NativeOrderGroup(self._cldf.open(name, mode))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cldf, name)


# --- 2. totcalP as in clik -------------------------------------------------------------------


def _totcalP_like_clik(self, pars, shape=None):
    """clik's totcalP factor, shape (1, m, m): TE-like blocks 1/A_pol, EE-like blocks 1/A_pol².

    Replaces ``smica_totcalP._compute_component_jax``. The temperature channels are the first
    ``m_channel_T × has_cl[TT]`` (clik ``comp_totcalP_init``).
    """
    import jax.numpy as jnp

    inv = 1.0 / jnp.asarray(pars[self.varpar[0]], dtype=jnp.float64)
    n_t = int(self.nT * self.has_cl[0])
    res = jnp.ones((self.m, self.m), dtype=jnp.float64)
    res = res.at[:n_t, n_t:].set(inv).at[n_t:, :n_t].set(inv).at[n_t:, n_t:].set(inv**2)
    return res[np.newaxis, :, :]


# --- 3. binning the foregrounds once ---------------------------------------------------------


def _ell_to_bin(bins: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """For a (bins × ells) binning matrix in which each ell enters at most one bin: the bin
    index and weight of each ell (an ell in no bin gets weight 0). None if bins overlap."""
    bins = np.asarray(bins)
    if np.any(np.count_nonzero(bins, axis=0) > 1):
        return None
    return np.argmax(bins != 0, axis=0), bins.max(axis=0) + bins.min(axis=0)


def _bin_per_ell(self, per_ell):
    """Bin an array of shape (ells, m, m) with smica's binning ``bns_0`` -> (bins, m, m).

    A weighted sum per bin, O(ells × m²), instead of the dense product, O(bins × ells × m²);
    the dense product where bins overlap.
    """
    import jax
    import jax.numpy as jnp

    if not hasattr(self, "_ell_to_bin"):
        self._ell_to_bin = _ell_to_bin(self.bns_0)
    if self._ell_to_bin is None:
        return jnp.tensordot(self.bns_0, per_ell, axes=(1, 0))
    index, weight = self._ell_to_bin
    return jax.ops.segment_sum(
        per_ell * weight[:, np.newaxis, np.newaxis], index, num_segments=self.bns_0.shape[0]
    )


def _model_rq_binned_once(self, cls, nuisance_dict, bin=True, max_cmp=-1):
    """smica's model R_q (bins, m, m) with the additive foregrounds summed per ell, binned once.

    Replaces ``smica_lkl.get_model_rq``. Multiplicative components (calibrations: one factor
    per channel pair, the same for every ell) first flush the pending sum, so the operations
    keep clipy's order.
    """
    components = self.cmp if max_cmp == -1 else self.cmp[:max_cmp]
    rq = self._get_cmb_rq(cls, bin)
    pending = None
    for component in components:
        if component.mul:
            if pending is not None:
                rq = rq + (_bin_per_ell(self, pending) if bin else pending)
                pending = None
            rq = component.apply(nuisance_dict, rq, None)
        else:
            term = component.compute_component(nuisance_dict)
            pending = term if pending is None else pending + term
    if pending is not None:
        rq = rq + (_bin_per_ell(self, pending) if bin else pending)
    return rq
