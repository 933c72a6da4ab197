"""Opening ``.clik`` likelihood files with the compiled Planck clik module or with clipy.

:func:`open_clik` is the one entry point: it returns a :class:`ClikLikelihood`, cached per resolved
path and backend, whose :meth:`~ClikLikelihood.loglike` takes spectra by name in declared units and
nuisance parameters by name, in any order. The Cobaya likelihood classes use the same object.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import math
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import numpy as np

from .threads import BlasThreads
from .units import T_CMB_FIRAS
from .vector import CMB_SPECTRA, LENSING_SPECTRA, CallVector

BACKENDS = ("auto", "clik", "clipy")

#: clik reports a point outside its validity range with a value at or below this.
CLIK_OUTSIDE = -1e30

GET_PLANCK_FILES = (
    "Real Planck files come from the Planck Legacy Archive (product "
    "COM_Likelihood_Data-baseline_R3.00, the baseline/plc_3.0/ tree; `cobaya-install "
    "planck_2018_highl_plik.TTTEEE` puts them under <packages_path>/data/planck_2018/). "
    "For a mock file, run `python -m cobaya_plugins mock KIND OUTDIR`."
)

_cache: dict[tuple[str, str], ClikLikelihood] = {}
_cache_lock = threading.Lock()


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
    """Import clipy (pure-python clik). ``nojax=True`` sets ``CLIPY_NOJAX=1`` first (numpy path)."""
    if nojax:
        os.environ.setdefault("CLIPY_NOJAX", "1")
    try:
        import clipy
        import scipy  # noqa: F401 - clipy's numpy path needs it but does not declare it
    except ImportError as exc:
        raise ImportError(
            f"Could not import clipy ({exc}). Install it with `pip install clipy-like scipy`."
        ) from exc
    return clipy


def check_clik_path(path: str | os.PathLike) -> Path:
    """Resolve ``path`` and check that it is a clik likelihood directory; returns the absolute path.

    Raises ``FileNotFoundError`` (naming the full path and where to get Planck files) or
    ``ValueError`` when it exists but is not a ``.clik`` directory.
    """
    full = Path(path).expanduser().resolve()
    if not full.exists():
        raise FileNotFoundError(f"clik file not found: {full}. {GET_PLANCK_FILES}")
    if not full.is_dir():
        hint = " (a .tar.gz archive must be unpacked first)" if full.name.endswith("gz") else ""
        raise ValueError(
            f"{full} is a file, not a clik likelihood directory{hint}: a .clik likelihood is a "
            "directory containing a 'clik/' (or 'clik_lensing/') sub-directory."
        )
    if not ((full / "clik").is_dir() or (full / "clik_lensing").is_dir()):
        raise ValueError(
            f"{full} is a directory but not a clik likelihood: it has no 'clik/' or "
            "'clik_lensing/' sub-directory. Point to the .clik directory itself (e.g. "
            ".../hi_l/plik/plik_rd12_HM_v22b_TTTEEE.clik)."
        )
    return full


def read_lkl_type(path: Path) -> str:
    """The likelihood type of a clik directory (``lkl_type`` in ``clik/lkl_0/_mdb``, e.g.
    ``smica``, ``gibbs_gauss``, ``plik_cmbonly``), ``"lensing"`` for lensing files, or
    ``"unknown"``."""
    if (path / "clik_lensing").is_dir():
        return "lensing"
    mdb = path / "clik" / "lkl_0" / "_mdb"
    if mdb.is_file():
        for line in mdb.read_text().splitlines():
            key, _, rest = line.partition(" ")
            if key == "lkl_type":
                return rest.partition(" ")[2].strip()
    return "unknown"


class ClikLikelihood:
    """One opened ``.clik`` file (use :func:`open_clik` to get one).

    Attributes: ``path`` (absolute Path), ``backend`` (``"clik"`` or ``"clipy"``), ``lmax``
    (dict of used spectra to lmax, e.g. ``{"tt": 2508, "ee": 2508, "te": 2508}``),
    ``nuisance_names`` (tuple, the file's order), ``self_check`` (the backend's self-test line,
    or None), ``is_lensing``, ``lkl_type`` (e.g. ``"smica"``), ``blas_threads`` (BLAS threads
    during a clik call, default 1; None leaves BLAS alone — see :mod:`cobaya_plugins.threads`).
    """

    def __init__(self, path: str | os.PathLike, backend: str = "auto"):
        self.path = check_clik_path(path)
        if backend not in BACKENDS:
            raise ValueError(f"Unknown backend {backend!r}: use one of {BACKENDS}.")
        compiled = find_compiled_clik() if backend in ("auto", "clik") else None
        if backend == "clik" and compiled is None:
            raise ImportError(
                "backend='clik' asked for, but no compiled Planck clik module is importable "
                "(PyPI's 'clik' is an unrelated package). Use backend='clipy' or 'auto'."
            )
        self.is_lensing = (self.path / "clik_lensing").is_dir()
        self.lkl_type = read_lkl_type(self.path)
        log = io.StringIO()
        if compiled is not None:
            self.backend = "clik"
            opener = compiled.clik_lensing if self.is_lensing else compiled.clik
            self._lkl = opener(str(self.path))
        else:
            self.backend = "clipy"
            clipy = import_clipy()
            try:
                with contextlib.redirect_stdout(log):
                    self._lkl = clipy.clik(str(self.path))
            except clipy.clik_emul_error as exc:
                raise ValueError(f"clipy could not read {self.path}: {exc}") from exc
        found = re.search(r"Checking likelihood.*", log.getvalue())
        self.self_check: str | None = found.group(0) if found else None
        names = LENSING_SPECTRA if self.is_lensing else CMB_SPECTRA
        lmax = [int(v) for v in self._lkl.get_lmax()]
        self.lmax: dict[str, int] = {n: lm for n, lm in zip(names, lmax, strict=True) if lm != -1}
        self.nuisance_names: tuple[str, ...] = tuple(self._lkl.get_extra_parameter_names())
        self._vector = CallVector(self.lmax, self.nuisance_names)
        self._blas = BlasThreads(1)

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

        Same arguments as :meth:`loglike`.
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
    ) -> float:
        """log-likelihood for spectra ``cls`` and nuisance parameters ``nuisance``.

        ``cls``: dict with lowercase keys among ``tt ee bb te tb eb`` (and ``pp`` for lensing
        files), arrays from ell = 0 (longer arrays are cut at lmax; ``tb``/``eb`` default to 0).
        ``units``: ``"muK2"``, ``"K2"`` or ``"dimensionless"`` (ΔT/T, scaled by (T_cmb·1e6)²,
        T_cmb [K]); ``ell_factor=True`` means the input is D_ell = ell(ell+1)C_ell/2π.
        ``nuisance``: dict by name (any order), exactly the names in :attr:`nuisance_names`
        (with ``strict=False``, other keys are ignored).
        NaN/inf spectra and clik's "outside" value give ``-inf``.
        """
        if not self._vector.fill(cls, nuisance, units, ell_factor, T_cmb, strict):
            return -math.inf
        return self.loglike_vector(self._vector.buffer)

    def loglike_vector(self, vector: np.ndarray) -> float:
        """log-likelihood for a raw clik call vector (shape (:attr:`vector_size`,))."""
        with self._blas:
            value = float(self._lkl(vector))
        if math.isnan(value) or value <= CLIK_OUTSIDE:
            return -math.inf
        return value


def open_clik(path: str | os.PathLike, backend: str = "auto") -> ClikLikelihood:
    """Open a ``.clik`` likelihood directory; one object per resolved path and backend.

    ``backend``: ``"auto"`` (the compiled Planck clik module when importable, else clipy),
    ``"clik"`` or ``"clipy"``. Raises ``FileNotFoundError``/``ValueError`` with the full path for
    missing or malformed files.
    """
    full = check_clik_path(path)
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}: use one of {BACKENDS}.")
    if backend == "auto":
        backend = "clik" if find_compiled_clik() is not None else "clipy"
    key = (str(full), backend)
    with _cache_lock:
        lkl = _cache.get(key)
        if lkl is None:
            lkl = _cache[key] = ClikLikelihood(full, backend)
    return lkl
