"""Opening ``.clik`` likelihood files with the compiled Planck clik module or with clipy.

:func:`open_clik` is the one entry point: it returns a :class:`ClikLikelihood` whose
:meth:`~ClikLikelihood.loglike` takes spectra by name in declared units and nuisance parameters by
name, in any order. The Cobaya likelihood classes use the same object.

Sharing rules: the loaded file (the backend's likelihood object, its lmax, parameter names and
self-check) is loaded once per resolved path and backend and shared. Everything that changes
per use — the call-vector buffer, the BLAS thread setting, the unit-check warnings — belongs to
each :class:`ClikLikelihood`: every :func:`open_clik` call returns a new one, cheaply. One
instance must not be called from several threads at once; open one per thread.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from cobaya_plugins.clikdata import ClikFile, read_array, read_mdb
from cobaya_plugins.clipy_loader import INSTALL_HINT, jax_available, load_clipy
from cobaya_plugins.threads import BlasThreads
from cobaya_plugins.unit_check import (
    CHECKED_SPECTRA,
    MUK2_CL,
    UnitDiagnosis,
    UnitMistakeError,
    UnitReading,
    diagnose,
)
from cobaya_plugins.units import T_CMB_FIRAS
from cobaya_plugins.vector import CMB_SPECTRA, LENSING_SPECTRA, CallVector

#: Backend names: ``auto`` picks the compiled Planck clik when importable, else clipy (numpy);
#: ``jax`` is clipy's JAX path, jit-compiled, with gradients (only when asked for).
BACKENDS = ("auto", "clik", "clipy", "jax")

#: clik reports a point outside its validity range with a value at or below this.
CLIK_OUTSIDE = -1e30

#: Modes of the unit check and of the self-check (``error``, ``warn`` or ``off``).
CHECK_MODES = ("error", "warn", "off")

#: The self-check passes when the loglike of the file's check point is this close to the
#: value stored in the file (absolute, in logL).
SELF_CHECK_TOLERANCE = 0.01

#: What each clik likelihood type is (``lkl_type`` in the file; ``lensing`` for lensing files).
LKL_TYPES = {
    "gibbs_gauss": "Commander low-ell TT likelihood (gibbs_gauss)",
    "smica": "plik high-ell multi-frequency likelihood (smica)",
    "plik_cmbonly": "plik_lite high-ell foreground-marginalized likelihood (plik_cmbonly)",
    "simall": "SimAll low-ell EE/BB likelihood (simall)",
    "bflike_smw": "low-ell pixel-based TT/TE/EE/BB likelihood (bflike_smw)",
    "lensing": "CMB lensing likelihood (clik_lensing)",
}

#: Members a likelihood of each type needs besides its ``_mdb`` (for "incomplete file" messages).
_REQUIRED_MEMBERS = {
    "gibbs_gauss": ("clik/lkl_0/_external/sigma.fits",),
    "plik_cmbonly": tuple(
        f"clik/lkl_0/_external/{name}"
        for name in (
            "cl_cmb_plik_v22.dat",
            "c_matrix_plik_v22.dat",
            "blmin.dat",
            "blmax.dat",
            "bweight.dat",
        )
    ),
    "smica": tuple(
        f"clik/lkl_0/{name}"
        for name in ("bin_lmin", "bin_lmax", "bin_ws", "Rq_hat", "criterion_gauss_mat")
    ),
}

#: The Planck 2018 baseline files, by file name, and this package's class whose default
#: ``clik_file`` each is (``cobaya-install cobaya_plugins.planck.<class>`` installs it).
PLANCK_FILE_CLASSES = {
    "commander_dx12_v3_2_29.clik": "LowlTT",
    "plik_rd12_HM_v22b_TTTEEE.clik": "HighlTTTEEE",
    "plik_lite_v22_TTTEEE.clik": "HighlTTTEEELite",
    "smicadx12_Dec5_ftl_mv2_ndclpp_p_teb_consext8.clik_lensing": "Lensing",
}

#: The file names ``python -m cobaya_plugins mock KIND DIR`` writes, and their kind (as
#: :func:`cobaya_plugins.mock.mock_filename`; not imported from there, which imports this module).
MOCK_FILE_KINDS = {
    "lowl_TT.clik": "lowl_TT",
    "highl_TTTEEE.clik": "highl_TTTEEE",
    "highl_TTTEEE_lite.clik": "highl_TTTEEE_lite",
    "lensing.clik_lensing": "lensing",
}

GET_PLANCK_FILES = (
    "Real Planck files come from the Planck Legacy Archive (product "
    "COM_Likelihood_Data-baseline_R3.00, the baseline/plc_3.0/ tree): `cobaya-install "
    "cobaya_plugins.planck.CLASS -p PACKAGES` (CLASS: {classes}) puts them under "
    "PACKAGES/data/planck_2018/. For a mock file, run `python -m cobaya_plugins mock KIND "
    "OUTDIR` (KIND: {kinds})."
)


def how_to_get(path: str | os.PathLike) -> str:
    """What to run to get the missing clik file ``path``: for a mock file name
    (``highl_TTTEEE_lite.clik``) the ``mock`` command that writes it, for a Planck 2018 baseline
    file the ``cobaya-install`` of the class that uses it, otherwise both in general."""
    path = Path(path)
    kind = MOCK_FILE_KINDS.get(path.name)
    if kind is not None:
        return (
            f"It is named as the mock file of kind {kind}: write it with `python -m "
            f"cobaya_plugins mock {kind} {path.parent}`."
        )
    name = PLANCK_FILE_CLASSES.get(path.name)
    if name is not None:
        return (
            f"It is a Planck 2018 baseline file: `cobaya-install cobaya_plugins.planck.{name} -p "
            f"PACKAGES` puts it (with the rest of the baseline product "
            f"COM_Likelihood_Data-baseline_R3.00) under PACKAGES/data/planck_2018/ (or `python "
            f"-m cobaya_plugins install planck2018 --path DIR`)."
        )
    return GET_PLANCK_FILES.format(
        classes=", ".join(PLANCK_FILE_CLASSES.values()), kinds=", ".join(MOCK_FILE_KINDS.values())
    )


log = logging.getLogger(__name__)


def find_compiled_clik() -> ModuleType | None:
    """The compiled Planck ``clik`` Python module if one is importable, else None.

    It is recognised by its API (a ``clik`` class with ``get_lmax`` and
    ``get_extra_parameter_names``), never by name: PyPI's ``clik`` is an unrelated package.
    """
    try:
        module = importlib.import_module("clik")
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return None
    cls = getattr(module, "clik", None)
    if isinstance(cls, type) and all(
        callable(getattr(cls, m, None)) for m in ("get_lmax", "get_extra_parameter_names")
    ):
        return module
    return None


def import_clipy(nojax: bool = True) -> ModuleType:
    """clipy (pure-python clik) on numpy (``nojax=True``) or on JAX, whatever ``CLIPY_NOJAX``
    says: a private copy per mode (see :mod:`cobaya_plugins.clipy_loader`)."""
    try:
        return load_clipy(jax=not nojax)
    except ImportError as exc:
        raise ImportError(f"Could not import clipy ({exc})") from None


def check_backend(backend: str) -> str:
    """The concrete backend for ``backend`` (``auto`` resolved); raises if it is not usable.

    Raises ``ValueError`` for an unknown name and ``ImportError`` when the compiled clik is
    asked for but not importable.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}: use one of {', '.join(BACKENDS)}.")
    compiled = find_compiled_clik() is not None
    if backend == "clik" and not compiled:
        raise ImportError(
            "The backend 'clik' needs the compiled Planck clik module, which is not importable "
            "(PyPI's 'clik' is an unrelated package); use the backend 'clipy' or 'auto'."
        )
    if backend == "jax" and not jax_available():
        raise ImportError(
            f"The backend 'jax' needs jax and clipy, which are not both installed. "
            f"{INSTALL_HINT[True]} Or use the backend 'auto' (numpy)."
        )
    if backend == "auto":
        return "clik" if compiled else "clipy"
    return backend


def check_clik_path(path: str | os.PathLike) -> ClikFile:
    """Resolve ``path`` and check that it is a clik likelihood directory; returns it as a
    :class:`~cobaya_plugins.clikdata.ClikFile` (absolute path and kind; path-like).

    Raises ``FileNotFoundError`` (naming the full path and where to get Planck files) or
    ``ValueError`` when it exists but is not a ``.clik`` directory.
    """
    full = Path(path).expanduser().resolve()
    if not full.exists():
        raise FileNotFoundError(f"clik file not found: {full}. {how_to_get(full)}")
    if not full.is_dir():
        hint = (
            " (a .tar.gz archive must be unpacked first: `tar xzf FILE`)"
            if full.name.endswith(("gz", ".tar", ".tgz"))
            else ""
        )
        raise ValueError(
            f"{full} is a file, not a clik likelihood directory{hint}: a .clik likelihood is a "
            "directory containing a 'clik/' (or 'clik_lensing/') sub-directory."
        )
    found = ClikFile.find(full)
    if found is None:
        raise ValueError(
            f"{full} is a directory but not a clik likelihood: it has no 'clik/' or "
            "'clik_lensing/' sub-directory. Point to the .clik directory itself (e.g. "
            ".../hi_l/plik/plik_rd12_HM_v22b_TTTEEE.clik)."
        )
    return found


@dataclass(frozen=True)
class SelfCheck:
    """The file's own test: loglike ``got`` at its stored check point vs ``expected``."""

    got: float
    expected: float

    @property
    def passed(self) -> bool:
        """True when ``got`` is within :data:`SELF_CHECK_TOLERANCE` of ``expected``."""
        return abs(self.got - self.expected) <= SELF_CHECK_TOLERANCE

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"got {self.got:.6f} expected {self.expected:.6f} "
            f"(diff {self.got - self.expected:.3g}): {verdict}"
        )


@dataclass(frozen=True)
class _LoadedFile:
    """One ``.clik`` file opened by one backend; shared by every ClikLikelihood on it."""

    path: Path
    backend: str
    lkl: Any  # the backend's likelihood object: lkl(vector) -> loglike
    lkl_type: str
    lmax: dict[str, int]
    nuisance_names: tuple[str, ...]
    self_check: SelfCheck | None


_loaded: dict[tuple[str, str], _LoadedFile] = {}
_loaded_lock = threading.Lock()


def _incomplete(path: Path, lkl_type: str, exc: OSError) -> ValueError:
    """The error for a clik directory whose backend failed on a missing/unreadable member."""
    missing = [m for m in _REQUIRED_MEMBERS.get(lkl_type, ()) if not (path / m).exists()]
    what = f"missing: {', '.join(missing)}" if missing else f"{exc.strerror or exc}"
    return ValueError(
        f"The likelihood file {path} is incomplete ({what}). It was probably not fully "
        "downloaded or unpacked: download and unpack it again (or re-create the mock file)."
    )


def _open_backend(file: ClikFile, backend: str) -> Any:
    """Open ``file`` with ``backend`` (``clik``, ``clipy`` or ``jax``); the backend's likelihood
    object."""
    path = file.path
    if backend == "jax":
        from cobaya_plugins.jax_backend import JaxClik

        return JaxClik(path)
    if backend == "clik":
        compiled = find_compiled_clik()
        return (compiled.clik_lensing if file.is_lensing else compiled.clik)(str(path))
    clipy = import_clipy()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # clipy prints its own self-check
            return clipy.clik(str(path))
    except clipy.clik_emul_error as exc:
        raise ValueError(f"clipy could not read {path}: {exc}") from None


def _self_check(file: ClikFile, lkl: Any, n_nuisance: int) -> SelfCheck | None:
    """Evaluate the file's stored check point; None when the file has none."""
    group = file.group
    if file.is_lensing:
        expected = read_mdb(group).get("check")
        if expected is None or not (group / "cl_fid").is_file():
            return None
        vector = np.concatenate([read_array(group, "cl_fid"), np.ones(n_nuisance)])
    else:
        expected = read_mdb(group).get("check_value")
        if expected is None or not (group / "check_param").is_file():
            return None
        vector = read_array(group, "check_param")
    return SelfCheck(got=float(lkl(np.asarray(vector, dtype=float))), expected=float(expected))


def _load(file: ClikFile, backend: str) -> _LoadedFile:
    """Load (once) and return the shared state of ``file`` opened with ``backend``."""
    path = file.path
    key = (str(path), backend)
    with _loaded_lock:
        loaded = _loaded.get(key)
        if loaded is not None:
            return loaded
        lkl_type = file.lkl_type
        try:
            lkl = _open_backend(file, backend)
        except OSError as exc:
            raise _incomplete(path, lkl_type, exc) from None
        names = LENSING_SPECTRA if file.is_lensing else CMB_SPECTRA
        lmax = [int(v) for v in lkl.get_lmax()]
        nuisance_names = tuple(lkl.get_extra_parameter_names())
        loaded = _loaded[key] = _LoadedFile(
            path=path,
            backend=backend,
            lkl=lkl,
            lkl_type=lkl_type,
            lmax={n: lm for n, lm in zip(names, lmax, strict=True) if lm != -1},
            nuisance_names=nuisance_names,
            self_check=_self_check(file, lkl, len(nuisance_names)),
        )
        return loaded


class ClikLikelihood:
    """One ``.clik`` file ready to evaluate (use :func:`open_clik` to get one).

    Attributes: ``path`` (absolute Path), ``backend`` (``"clik"``, ``"clipy"`` or ``"jax"``),
    ``lmax`` (dict of used spectra to lmax, e.g. ``{"tt": 2508, "ee": 2508, "te": 2508}``),
    ``nuisance_names`` (tuple, the file's order), ``self_check`` (:class:`SelfCheck` or None),
    ``is_lensing``, ``lkl_type`` (e.g. ``"smica"``, see :data:`LKL_TYPES`), ``blas_threads``
    (BLAS threads during a clik call, default 1; None leaves BLAS alone — see
    :mod:`cobaya_plugins.threads`), ``logger`` (where warnings go).
    """

    def __init__(self, path: str | os.PathLike, backend: str = "auto"):
        full = check_clik_path(path)
        self._file = _load(full, check_backend(backend))
        self._vector = CallVector(self.lmax, self.nuisance_names)
        self._blas = BlasThreads(1)
        self.logger: logging.Logger = log
        self._warned_units = False

    path = property(lambda self: self._file.path, doc="Absolute path of the .clik directory.")
    backend = property(lambda self: self._file.backend, doc="``clik``, ``clipy`` or ``jax``.")
    lmax = property(lambda self: self._file.lmax, doc="Used spectra -> lmax, clik order.")
    nuisance_names = property(
        lambda self: self._file.nuisance_names, doc="Nuisance parameter names, file order."
    )
    self_check = property(lambda self: self._file.self_check, doc="The file's self-check, or None.")
    lkl_type = property(lambda self: self._file.lkl_type, doc="Likelihood type (LKL_TYPES).")
    is_lensing = property(lambda self: self._file.lkl_type == "lensing")

    @property
    def blas_threads(self) -> int | None:
        """Number of BLAS threads during a clik call (None: leave BLAS as it is)."""
        return self._blas.n

    @blas_threads.setter
    def blas_threads(self, n: int | None) -> None:
        self._blas = BlasThreads(n)

    def __repr__(self) -> str:
        return (
            f"ClikLikelihood({str(self.path)!r}, backend={self.backend!r}, lmax={self.lmax}, "
            f"{len(self.nuisance_names)} nuisance parameters)"
        )

    @property
    def vector_size(self) -> int:
        """Length of the clik call vector: Σ(lmax+1) over used spectra + number of nuisances."""
        return self._vector.buffer.size

    def call_vector(
        self,
        cls: Mapping[str, np.ndarray],
        nuisance: Mapping[str, float],
        units: str = "muK2",
        ell_factor: bool = False,
        T_cmb: float = T_CMB_FIRAS,
    ) -> np.ndarray | None:
        """The clik call vector (a new array) for these inputs, or None if a spectrum is NaN/inf.

        Same arguments as :meth:`loglike` (no unit check).
        """
        if not self._vector.fill(cls, nuisance, units, ell_factor, T_cmb):
            return None
        return self._vector.buffer.copy()

    def loglike(
        self,
        cls: Mapping[str, np.ndarray],
        nuisance: Mapping[str, float],
        units: str = "muK2",
        ell_factor: bool = False,
        T_cmb: float = T_CMB_FIRAS,
        strict: bool = True,
        unit_check: str = "error",
    ) -> float:
        """log-likelihood for spectra ``cls`` and nuisance parameters ``nuisance``.

        ``cls``: dict with lowercase keys among ``tt ee bb te tb eb`` (and ``pp`` for lensing
        files), arrays from ell = 0 (longer arrays are cut at lmax; ``tb``/``eb`` default to 0).
        ``units``: ``"muK2"``, ``"K2"`` or ``"dimensionless"`` (ΔT/T, scaled by (T_cmb·1e6)²,
        T_cmb [K]); ``ell_factor=True`` means the input is D_ell = ell(ell+1)C_ell/2π.
        ``nuisance``: dict by name (any order), exactly the names in :attr:`nuisance_names`
        (with ``strict=False``, other keys are ignored).
        ``unit_check``: ``"error"`` raises :class:`~cobaya_plugins.unit_check.UnitMistakeError`
        when another reading of the units explains the spectra's size and the declared one does
        not, and warns once for any other large deviation from ΛCDM; ``"warn"`` only warns
        (once); ``"off"`` skips the check (see :mod:`cobaya_plugins.unit_check`).
        NaN/inf spectra and clik's "outside" value give ``-inf``.
        """
        if not self._vector.fill(cls, nuisance, units, ell_factor, T_cmb, strict):
            return -math.inf
        if unit_check != "off":
            declared = UnitReading(units, bool(ell_factor))
            self.check_units(self._vector.cls_muK2(), declared, T_cmb, unit_check)
        return self.loglike_vector(self._vector.buffer)

    def check_units(
        self,
        cls_muK2: Mapping[str, np.ndarray],
        declared: UnitReading = MUK2_CL,
        T_cmb: float = T_CMB_FIRAS,
        mode: str = "error",
    ) -> UnitDiagnosis | None:
        """The unit check of :meth:`loglike`; returns the diagnosis (None: fine).

        ``cls_muK2``: the spectra as clik receives them, C_ell [µK²] from ell = 0 by name
        (TT is checked, else EE, up to the file's lmax), converted from numbers given in the
        ``declared`` reading (``T_cmb`` [K] for ``dimensionless``; see
        :func:`cobaya_plugins.unit_check.diagnose`). ``mode`` is ``"error"`` (raises
        :class:`~cobaya_plugins.unit_check.UnitMistakeError`, whose message gives the fix as
        keyword arguments) or ``"warn"`` (see :meth:`loglike`); warnings go to :attr:`logger`,
        once per instance.
        """
        if mode not in CHECK_MODES:
            raise ValueError(f"unit_check must be one of {', '.join(CHECK_MODES)}, got {mode!r}.")
        spectrum = next((s for s in CHECKED_SPECTRA if s in self.lmax and s in cls_muK2), None)
        if spectrum is None or mode == "off":
            return None
        cl = cls_muK2[spectrum][: self.lmax[spectrum] + 1]
        diagnosis = diagnose(spectrum, cl, declared, T_cmb)
        if diagnosis is None:
            return None
        reading = diagnosis.explained_by
        if reading is not None and mode == "error":
            raise UnitMistakeError(
                f"{diagnosis.describe()}: this looks like {reading}; pass "
                f"{reading.python_fix(declared)}.",
                diagnosis,
            )
        if not self._warned_units:
            self._warned_units = True
            likely = f" It looks like {reading}." if reading else ""
            self.logger.warning(
                "%s.%s Going on (unit_check=%r); later points are not reported.",
                diagnosis.describe(),
                likely,
                mode,
            )
        return diagnosis

    def loglike_and_grad(
        self,
        cls: Mapping[str, np.ndarray],
        nuisance: Mapping[str, float],
        units: str = "muK2",
        ell_factor: bool = False,
        T_cmb: float = T_CMB_FIRAS,
        strict: bool = True,
        unit_check: str = "error",
    ) -> tuple[float, dict[str, np.ndarray], dict[str, float]]:
        """``(logL, dcls, dnuisance)``: :meth:`loglike` and its gradient (JAX backend only).

        Same arguments as :meth:`loglike`. ``dcls[name]`` is d logL / d ``cls[name]`` in the
        units passed (per µK², K² or (ΔT/T)², per D_ell if ``ell_factor``), an array from ell = 0
        of the length passed, zero where clik does not use the entry (ell < lmin, beyond lmax,
        spectra the file does not use); ``dnuisance`` maps each nuisance name to
        d logL / d value. Where logL is -inf (NaN/inf spectra, clik's "outside") the gradients
        are NaN. Raises ``NotImplementedError`` on the ``clik`` and ``clipy`` backends.
        """
        if self.backend != "jax":
            raise NotImplementedError(
                f"Gradients need the JAX backend; this likelihood was opened with backend "
                f"{self.backend!r}. Open it with open_clik({str(self.path)!r}, backend='jax')."
            )
        from cobaya_plugins.jax_backend import split_gradient

        if not self._vector.fill(cls, nuisance, units, ell_factor, T_cmb, strict):
            value, grad = -math.inf, np.full(self.vector_size, np.nan)
        else:
            if unit_check != "off":
                declared = UnitReading(units, bool(ell_factor))
                self.check_units(self._vector.cls_muK2(), declared, T_cmb, unit_check)
            with self._blas:
                value, grad = self._file.lkl.value_and_grad(self._vector.buffer)
            if math.isnan(value) or value <= CLIK_OUTSIDE:
                value, grad = -math.inf, np.full(self.vector_size, np.nan)
        dcls, dnuisance = split_gradient(self._vector, grad, cls, units, ell_factor, T_cmb)
        return value, dcls, dnuisance

    def loglike_vector(self, vector: np.ndarray) -> float:
        """log-likelihood for a raw clik call vector (shape (:attr:`vector_size`,))."""
        with self._blas:
            value = float(self._file.lkl(vector))
        if math.isnan(value) or value <= CLIK_OUTSIDE:
            return -math.inf
        return value

    def jax_function(self):
        """The likelihood as a ``jax.numpy`` function of the call vector (shape
        (:attr:`vector_size`,) -> logL, traceable and differentiable; JAX backend only), for
        composing with other JAX code (:mod:`cobaya_plugins.gradients`). No unit check, no
        -inf mapping: the caller does those."""
        if self.backend != "jax":
            raise NotImplementedError(
                f"A JAX function needs the JAX backend; this likelihood was opened with backend "
                f"{self.backend!r}. Open it with open_clik({str(self.path)!r}, backend='jax')."
            )
        return self._file.lkl.function


def open_clik(path: str | os.PathLike, backend: str = "auto") -> ClikLikelihood:
    """Open a ``.clik`` likelihood directory and return a new :class:`ClikLikelihood`.

    The file is loaded once per resolved path and backend; later calls share it (see the module
    docstring for the sharing rules). ``backend``: ``"auto"`` (the compiled Planck clik module
    when importable, else clipy on numpy), ``"clik"``, ``"clipy"`` or ``"jax"`` (clipy's JAX
    path, jit-compiled at load; needed for :meth:`ClikLikelihood.loglike_and_grad`). Raises
    ``FileNotFoundError`` or ``ValueError`` naming the full path for missing, malformed or
    incomplete files.
    """
    return ClikLikelihood(path, backend)
