"""Planck-like mock ``.clik`` likelihood files, written in clik's real on-disk format.

The files load with clipy (and the compiled clik) like the real Planck ones, with the same
likelihood types, extra parameters and lmax, but with data simulated around a fiducial
spectrum. They serve as test fixtures and for forecasts / pipeline tests. See docs/mock.md.

Kinds (see :data:`KINDS`):

- ``lowl_TT``: Commander-like low-ell TT (``gibbs_gauss``, ell 2-29, extra [A_planck]).
- ``highl_TTTEEE``: plik-like TTTEEE (``smica``, 3 frequencies, the 47 Planck nuisances).
- ``highl_TTTEEE_lite``: plik_lite-like TTTEEE (``plik_cmbonly``, 613 bins, extra [A_planck]).
- ``lensing``: Planck-2018-like lensing (``clik_lensing``, pp then TT EE BB TE to ell 2500,
  9 bins of L 8-400, extra [A_planck]); written as ``lensing.clik_lensing``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cobaya_plugins.fiducial import load_fiducial, load_fiducial_pp
from cobaya_plugins.mock import highl_ttteee, highl_ttteee_lite, lensing, lowl_tt
from cobaya_plugins.planck2018 import best_fit_cobaya

#: The CMB kinds (``NAME.clik`` with a ``clik/`` group) and all kinds (plus lensing).
CMB_KINDS = ("lowl_TT", "highl_TTTEEE", "highl_TTTEEE_lite")
KINDS = CMB_KINDS + ("lensing",)
_WRITERS = {
    "lowl_TT": lowl_tt,
    "highl_TTTEEE": highl_ttteee,
    "highl_TTTEEE_lite": highl_ttteee_lite,
    "lensing": lensing,
}

__all__ = [
    "CMB_KINDS", "KINDS", "TRUTH_FILE", "MockTruth", "default_nuisance", "describe_truth",
    "mock_filename", "read_truth", "write_mock",
]  # fmt: skip

#: The file, at the top of a mock ``.clik`` directory, that records what the mock was drawn from.
TRUTH_FILE = "mock_truth.yaml"


@dataclasses.dataclass(frozen=True)
class MockTruth:
    """What a mock file was drawn from (its ``mock_truth.yaml``).

    ``kind``; ``seed``; ``fiducial``: the spectrum the data were drawn around (``"shipped"``,
    the path of a spectrum file, or ``"dict"`` for spectra given in Python); ``cosmology``: its
    parameters in Cobaya's names when known (the shipped fiducial: the Planck 2018 best fit),
    else None; ``nuisance``: the nuisance values of the data, by name in the file's order.
    """

    kind: str
    seed: int
    fiducial: str
    cosmology: dict[str, float] | None
    nuisance: dict[str, float]


def read_truth(path: str | os.PathLike) -> MockTruth | None:
    """The truth recorded in a mock ``.clik`` directory, or None for any other file (a real
    Planck file, or a mock written before the record existed)."""
    import yaml

    record = Path(path) / TRUTH_FILE
    if not record.is_file():
        return None
    content = yaml.safe_load(record.read_text())
    return MockTruth(**{f.name: content.get(f.name) for f in dataclasses.fields(MockTruth)})


def describe_truth(truth: MockTruth) -> str:
    """One line: the seed and the spectrum a mock was drawn from (and its cosmology if known)."""
    if truth.fiducial == "shipped":
        cosmology = " ".join(f"{k}={v:.6g}" for k, v in (truth.cosmology or {}).items())
        source = f"the shipped fiducial spectrum (CLASS, Planck 2018 best fit: {cosmology})"
    elif truth.fiducial == "dict":
        source = "spectra given in Python"
    else:
        source = f"the spectrum file {truth.fiducial}"
    return f"drawn with seed {truth.seed} around {source}"


def _truth_text(truth: MockTruth) -> str:
    import yaml

    header = (
        "# What this mock likelihood was drawn from (written by cobaya_plugins.mock): the data\n"
        "# are the fiducial spectrum (cosmology, when known) and these nuisance values, plus\n"
        "# a Gaussian draw with this seed. `python -m cobaya_plugins info` shows them.\n"
    )
    return header + yaml.safe_dump(dataclasses.asdict(truth), sort_keys=False)


def _writer(kind: str):
    if kind not in _WRITERS:
        raise ValueError(f"Unknown mock kind {kind!r}. Valid kinds: {', '.join(KINDS)}.")
    return _WRITERS[kind]


def default_nuisance(kind: str) -> dict[str, float]:
    """Nuisance-parameter values (in the file's order) used for a kind's data and check_param.

    plik (``highl_TTTEEE``): Planck's fixed values and Gaussian-prior means, and Planck 2018
    best-fit values for the uniform-prior parameters; other kinds: ``{"A_planck": 1.0}``.
    """
    return _writer(kind).default_nuisance()


def _fiducial_cls(
    fiducial: None | str | os.PathLike | Mapping[str, np.ndarray], spectra: tuple, lmax: int
) -> dict[str, np.ndarray]:
    """Fiducial C_ell [muK^2] from ell = 0 up to lmax for the spectra a kind needs."""
    if fiducial is None or isinstance(fiducial, str | os.PathLike):
        cls = load_fiducial(fiducial, lmax=lmax)
        if "pp" in spectra:  # fiducial files hold CMB spectra only: the shipped C^φφ
            cls["pp"] = load_fiducial_pp(lmax=lmax)
        return cls
    if not isinstance(fiducial, Mapping):
        raise TypeError(
            "fiducial must be None (shipped spectrum), a path to a fiducial file, or a dict "
            f"as returned by load_fiducial; got {type(fiducial).__name__}."
        )
    cls = {}
    for name in spectra:
        if name not in fiducial:
            raise ValueError(
                f"The fiducial dict lacks {name!r}; this mock needs {list(spectra)} "
                "(C_ell in muK^2 indexed from ell = 0)."
            )
        cl = np.asarray(fiducial[name], dtype=float)
        if cl.ndim != 1 or len(cl) < lmax + 1:
            raise ValueError(
                f"fiducial[{name!r}] must be a 1-d array of C_ell [muK^2] for ell = 0..{lmax} "
                f"at least; got shape {cl.shape}."
            )
        if not np.all(np.isfinite(cl[: lmax + 1])):
            raise ValueError(f"fiducial[{name!r}] has non-finite values for ell <= {lmax}.")
        cls[name] = cl[: lmax + 1]
    return cls


def mock_filename(kind: str) -> str:
    """File name of a kind's mock: ``<kind>.clik`` (``lensing.clik_lensing`` for lensing)."""
    return f"{kind}{getattr(_writer(kind), 'SUFFIX', '.clik')}"


def write_mock(
    kind: str,
    outdir: str | os.PathLike,
    seed: int = 0,
    fiducial: None | str | os.PathLike | Mapping[str, np.ndarray] = None,
    overwrite: bool = False,
) -> Path:
    """Write the mock likelihood ``<outdir>/<kind>.clik`` (``kind`` one of :data:`KINDS`;
    ``outdir`` created if missing) and return its path.

    ``seed``: of ``numpy.random.default_rng`` for the simulated data (the same seed gives
    byte-identical files). ``fiducial``: the spectrum the data are drawn around: None for the
    shipped CLASS Planck 2018 best fit, a path to a file in CAMB's lensedCls.dat layout (D_ell in
    µK²), or a dict like :func:`cobaya_plugins.fiducial.load_fiducial`'s (C_ell in µK² from
    ell = 0). ``overwrite``: replace an existing ``<kind>.clik`` (otherwise an error). The file
    records its truth in ``<kind>.clik/mock_truth.yaml`` (see :func:`read_truth`).
    """
    writer = _writer(kind)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    target = Path(outdir) / mock_filename(kind)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists; pass overwrite=True to replace it, or choose another outdir."
        )
    cls = _fiducial_cls(fiducial, writer.SPECTRA, writer.LMAX)
    if fiducial is None:
        source, cosmology = "shipped", best_fit_cobaya()
    elif isinstance(fiducial, str | os.PathLike):
        source, cosmology = str(Path(fiducial).resolve()), None
    else:
        source, cosmology = "dict", None
    nuisance = {name: float(value) for name, value in writer.default_nuisance().items()}
    truth = MockTruth(kind, int(seed), source, cosmology, nuisance)
    target.parent.mkdir(parents=True, exist_ok=True)
    # write into a temporary sibling, then move it in place: no half-written target
    staging = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=target.parent))
    try:
        writer.write(staging / target.name, cls, int(seed))
        (staging / target.name / TRUTH_FILE).write_text(_truth_text(truth))
        if target.exists():
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        (staging / target.name).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
