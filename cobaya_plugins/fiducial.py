"""The fiducial CMB spectrum shipped with the package, and a reader for files in its format.

The file format is CAMB's ``lensedCls.dat``: text, ``#`` comments, five columns
``ell TT EE BB TE`` holding D_ell = ell(ell+1)C_ell/2pi in muK^2, one row per ell, starting at
ell = 2 with consecutive multipoles. A CAMB ``lensedCls.dat`` therefore works as a fiducial too.
The shipped file was computed with CLASS at the Planck 2018 best fit
(see ``cobaya_plugins/data/make_fiducial.py``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from cobaya_plugins.planck2018 import best_fit_cobaya
from cobaya_plugins.units import dl_to_cl_factor

#: The shipped fiducial spectrum (CLASS, Planck 2018 best-fit LCDM, ell = 2..2600).
FIDUCIAL_FILE: Path = Path(__file__).parent / "data" / "fiducial_lensedCls.dat"

#: Spectrum names, in the order of the file's columns after ``ell``.
SPECTRA = ("tt", "ee", "bb", "te")


def fiducial_parameters() -> dict[str, float]:
    """The parameters of the shipped fiducial spectrum, i.e. the mock data's true values.

    Cobaya names: ``omega_b``, ``omega_cdm``, ``H0``, ``h``, ``tau_reio``, ``n_s``, ``logA``
    (= ln(10¹⁰A_s)), ``A_s`` (the Planck 2018 best fit, :mod:`cobaya_plugins.planck2018`), and
    ``A_planck`` = 1 (the mocks' calibration). CLASS also had Planck's baseline physics (one
    0.06 eV neutrino, HMcode lensing; ``data/make_fiducial.py``).
    """
    return {**best_fit_cobaya(), "A_planck": 1.0}


_LAYOUT = "5 columns 'ell TT EE BB TE' (D_ell in muK^2, ell = 2, 3, ... consecutive)"


def load_fiducial(path: str | Path | None = None, lmax: int | None = None) -> dict[str, np.ndarray]:
    """Read a fiducial spectrum file and return C_ell [µK²].

    ``path``: a file in CAMB's lensedCls.dat layout (columns ell TT EE BB TE, D_ell in µK², from
    ell = 2); None reads the shipped :data:`FIDUCIAL_FILE`. ``lmax``: highest multipole returned
    (None: the file's last one). Returns a dict with keys ``"tt", "ee", "bb", "te"``, each an
    array of shape ``(lmax + 1,)`` holding C_ell [µK²] indexed by ell from 0 (ell = 0 and 1 are
    zero).
    """
    path = FIDUCIAL_FILE if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Fiducial spectrum file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's "no data" warning
            table = np.loadtxt(path, ndmin=2)
    except ValueError as excpt:
        raise ValueError(
            f"Could not read fiducial spectrum file {path} as numbers: {excpt}. Expected {_LAYOUT}."
        ) from None
    if table.size == 0:
        raise ValueError(f"Fiducial spectrum file {path} has no data rows; expected {_LAYOUT}.")
    if table.shape[1] != 1 + len(SPECTRA):
        raise ValueError(
            f"Fiducial spectrum file {path} has {table.shape[1]} columns; expected {_LAYOUT}."
        )
    ell = table[:, 0]
    expected_ell = np.arange(2, 2 + len(ell))
    if not np.array_equal(ell, expected_ell):
        raise ValueError(
            f"Fiducial spectrum file {path}: the ell column must be 2, 3, 4, ... with no gaps "
            f"(found it starting at {ell[0]:g}). Expected {_LAYOUT}."
        )
    if not np.all(np.isfinite(table)):
        raise ValueError(f"Fiducial spectrum file {path} contains non-finite values (nan/inf).")
    file_lmax = int(ell[-1])
    if lmax is None:
        lmax = file_lmax
    if lmax < 2:
        raise ValueError(f"lmax must be at least 2; got {lmax}.")
    if lmax > file_lmax:
        raise ValueError(
            f"Requested lmax={lmax} but fiducial spectrum file {path} stops at "
            f"lmax={file_lmax}. Use a file that reaches ell={lmax}, or a smaller lmax."
        )
    dl_to_cl = dl_to_cl_factor(lmax)[2:]
    cls = {}
    for column, name in enumerate(SPECTRA, start=1):
        cl = np.zeros(lmax + 1)
        cl[2:] = table[: lmax - 1, column] * dl_to_cl
        cls[name] = cl
    return cls


#: The shipped lensing-potential spectrum (CLASS, same cosmology): ell, [ell(ell+1)]²C^φφ/2π.
FIDUCIAL_PP_FILE: Path = Path(__file__).parent / "data" / "fiducial_clpp.dat"


def load_fiducial_pp(lmax: int | None = None) -> np.ndarray:
    """The shipped C_ell^φφ (dimensionless), shape (lmax + 1,), indexed from ell = 0.

    Read from :data:`FIDUCIAL_PP_FILE` (ell = 2..2600, made by
    ``python -m cobaya_plugins.data.make_fiducial_pp``); ell = 0 and 1 are zero.
    """
    table = np.loadtxt(FIDUCIAL_PP_FILE, ndmin=2)
    file_lmax = int(table[-1, 0])
    lmax = file_lmax if lmax is None else lmax
    if not 2 <= lmax <= file_lmax:
        raise ValueError(f"lmax must be within 2..{file_lmax} for {FIDUCIAL_PP_FILE}; got {lmax}.")
    ell = np.arange(2, lmax + 1)
    out = np.zeros(lmax + 1)
    out[2:] = table[: lmax - 1, 1] * 2 * np.pi / (ell * (ell + 1.0)) ** 2
    return out
