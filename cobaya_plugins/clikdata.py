"""Reading the data members of ``.clik`` files directly (no likelihood evaluation).

clik stores each likelihood as a "cldf" directory tree (see ``docs/mock.md`` and
``cobaya_plugins.mock.cldf``): scalars in ``_mdb`` text files, arrays as FITS files, and
type-specific files under ``_external/``. This module reads what the diagnostics and
``info`` need: the multipole ranges and bin counts of each spectrum, and the full plik_lite
data set (data vector, covariance, binning), exactly as clik's ``plik_cmbonly`` reader uses it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import numpy as np

#: The top group of a CMB ``.clik`` directory and of a lensing (``.clik_lensing``) one.
CMB_GROUP = "clik"
LENSING_GROUP = "clik_lensing"

#: Field of each map kind in clik's smica channel order (T maps, then E, then B).
FIELDS = "TEB"
#: Frequencies of the smica channels of Planck's plik files (clik labels them this way too).
PLIK_FREQUENCIES = (100, 143, 217)
#: plik_lite (``plik_cmbonly``) constants hard-coded in clik: bins per spectrum, ell range.
PLIK_LITE_BINS = {"tt": 215, "te": 199, "ee": 199}
PLIK_LITE_LMIN = 30
PLIK_LITE_LMAX = 2508
#: Order of the plik_lite data vector.
PLIK_LITE_ORDER = ("tt", "te", "ee")


def read_mdb(group: Path) -> dict[str, int | float | str]:
    """The scalars of a cldf group's ``_mdb`` file (``key type value`` lines; ``{}`` if none)."""
    out: dict[str, int | float | str] = {}
    mdb = Path(group) / "_mdb"
    if not mdb.is_file():
        return out
    for line in mdb.read_text().splitlines():
        key, kind, value = (line.split(None, 2) + ["", ""])[:3]
        if not key:
            continue
        convert = {"int": int, "float": float}.get(kind, str)
        with contextlib.suppress(ValueError):
            out[key] = convert(value.strip())
    return out


def read_array(group: Path, key: str) -> np.ndarray:
    """A FITS array member of a cldf group, flattened, in native byte order."""
    from astropy.io import fits

    with fits.open(Path(group) / key) as hdul:
        data = np.asarray(hdul[0].data)
    return data.astype(data.dtype.newbyteorder("="), copy=False).ravel()


@dataclasses.dataclass(frozen=True)
class ClikFile:
    """A ``.clik`` likelihood directory and its kind, as found on disk (nothing is evaluated).

    ``path``: the absolute directory; ``is_lensing``: a ``clik_lensing`` file (else a CMB one,
    with a ``clik`` group). A ClikFile is path-like (``os.fspath`` gives the directory), so it
    goes wherever a path does. Use :meth:`find`; :func:`cobaya_plugins.clik.check_clik_path`
    also says what is wrong with a path that is not one.
    """

    path: Path
    is_lensing: bool

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def find(cls, path: str | os.PathLike) -> ClikFile | None:
        """The clik file at ``path`` (resolved), or None if it is not a clik directory."""
        full = Path(path).expanduser().resolve()
        if (full / LENSING_GROUP).is_dir():
            return cls(full, True)
        if (full / CMB_GROUP).is_dir():
            return cls(full, False)
        return None

    @property
    def group(self) -> Path:
        """The top group: ``<path>/clik_lensing`` or ``<path>/clik``."""
        return self.path / (LENSING_GROUP if self.is_lensing else CMB_GROUP)

    @property
    def lkl_type(self) -> str:
        """``lkl_type`` of ``clik/lkl_0/_mdb`` (e.g. ``smica``, ``gibbs_gauss``,
        ``plik_cmbonly``), ``"lensing"`` for lensing files, or ``"unknown"``."""
        if self.is_lensing:
            return "lensing"
        return str(read_mdb(self.group / "lkl_0").get("lkl_type", "unknown"))


def lkl_group(path: Path) -> Path:
    """The ``clik/lkl_0`` group of a CMB clik file (ValueError if it has none)."""
    group = Path(path) / CMB_GROUP / "lkl_0"
    if not group.is_dir():
        raise ValueError(f"{path} has no clik/lkl_0/ group (is it a lensing or non-clik file?).")
    return group


@dataclasses.dataclass(frozen=True)
class DataRange:
    """Multipoles covered by one spectrum (or one cross-spectrum) of a file's data.

    ``name``: e.g. ``"TT"`` or ``"TT 143x217"``; ``ell_min``/``ell_max`` inclusive; ``n_bins``:
    number of data points (bins, or multipoles when unbinned); ``binned``.
    """

    name: str
    ell_min: int
    ell_max: int
    n_bins: int
    binned: bool = True

    def __str__(self) -> str:
        unit = "bins" if self.binned else "multipoles"
        return f"{self.name:<11} ell {self.ell_min}-{self.ell_max}, {self.n_bins} {unit}"


# --- plik_lite ----------------------------------------------------------------------------


@dataclasses.dataclass
class PlikLiteData:
    """A plik_lite data set as clik uses it (after its bin selection).

    ``spectra``: the spectra used, in data-vector order (subset of TT, TE, EE); ``slices``:
    their positions in ``data``; ``data`` (n,): binned D_ell [µK²]; ``covariance`` (n, n);
    ``windows``: per spectrum, a (n_X, 2479) matrix acting on C_ell [µK²] at ell = 30..2508
    (the file's weights, which turn C_ell into binned D_ell); ``ell``: per spectrum, the bin
    centres listed in the file; ``ell_min``/``ell_max``: per spectrum, the bin edges.
    """

    spectra: tuple[str, ...]
    slices: dict[str, slice]
    data: np.ndarray
    covariance: np.ndarray
    windows: dict[str, np.ndarray]
    ell: dict[str, np.ndarray]
    ell_min: dict[str, np.ndarray]
    ell_max: dict[str, np.ndarray]


def read_fortran_record(path: Path, n: int) -> np.ndarray:
    """The n float64 of a one-record Fortran unformatted file (int32 length markers)."""
    raw = Path(path).read_bytes()
    marker = np.frombuffer(raw[:4], dtype="<i4")[0]
    if marker != 8 * n or len(raw) < 8 + 8 * n:
        raise ValueError(f"{path}: expected one Fortran record of {n} float64, got {len(raw)} "
                         f"bytes (record marker {marker}).")  # fmt: skip
    return np.frombuffer(raw[4 : 4 + 8 * n], dtype="<f8").copy()


def read_plik_lite(path: Path) -> PlikLiteData:
    """Read a ``plik_cmbonly`` (plik_lite) file's data, covariance and binning.

    Follows clik's reader: the data are column 2 of ``cl_cmb_plik_v<N>.dat`` (TT 215, TE 199,
    EE 199 bins), the covariance file holds one triangle (symmetrized as C + Cᵀ − diag C),
    ``blmin``/``blmax`` are bin edges as offsets from ell = 30, ``bweight`` the per-ell weights;
    the optional ``bin_min_tt``… keys (1-based) select bins; ``has_cl`` selects spectra.
    """
    group = lkl_group(path)
    mdb = read_mdb(group)
    if mdb.get("lkl_type") != "plik_cmbonly":
        raise ValueError(f"{path} is a {mdb.get('lkl_type')!r} file, not plik_lite.")
    version = int(mdb["cmbonly_version"])
    external = group / "_external"
    table = np.loadtxt(external / f"cl_cmb_plik_v{version}.dat", ndmin=2)
    n_total = sum(PLIK_LITE_BINS.values())
    cov = read_fortran_record(external / f"c_matrix_plik_v{version}.dat", n_total**2)
    cov = cov.reshape(n_total, n_total)
    cov = cov + cov.T - np.diag(np.diag(cov))
    lows = np.loadtxt(external / "blmin.dat").astype(int)
    highs = np.loadtxt(external / "blmax.dat").astype(int)
    weights = np.loadtxt(external / "bweight.dat")
    n_ell = PLIK_LITE_LMAX - PLIK_LITE_LMIN + 1
    window = np.zeros((PLIK_LITE_BINS["tt"], n_ell))
    for b in range(PLIK_LITE_BINS["tt"]):
        window[b, lows[b] : highs[b] + 1] = weights[lows[b] : highs[b] + 1]
    has_cl = read_array(group, "has_cl")
    used = {"tt": has_cl[0], "ee": has_cl[1], "te": has_cl[3]}
    offsets = {"tt": 0, "te": PLIK_LITE_BINS["tt"],
               "ee": PLIK_LITE_BINS["tt"] + PLIK_LITE_BINS["te"]}  # fmt: skip
    spectra, index, windows, ells, ell_min, ell_max, slices = [], [], {}, {}, {}, {}, {}
    for name in PLIK_LITE_ORDER:
        first = int(mdb.get(f"bin_min_{name}", 1))
        last = int(mdb.get(f"bin_max_{name}", PLIK_LITE_BINS[name]))
        if not used[name] or last < first:
            continue
        bins = np.arange(first - 1, last)
        slices[name] = slice(len(index), len(index) + len(bins))
        index.extend(offsets[name] + bins)
        spectra.append(name)
        windows[name] = window[bins]
        ells[name] = table[offsets[name] + bins, 0]
        ell_min[name] = lows[bins] + PLIK_LITE_LMIN
        ell_max[name] = highs[bins] + PLIK_LITE_LMIN
    index = np.asarray(index)
    return PlikLiteData(
        spectra=tuple(spectra),
        slices=slices,
        data=table[index, 1],
        covariance=cov[np.ix_(index, index)],
        windows=windows,
        ell=ells,
        ell_min=ell_min,
        ell_max=ell_max,
    )


# --- ranges of every kind ----------------------------------------------------------------


def channel_field(channel: int, m_t: int, m_e: int) -> str:
    """Field (T, E or B) of a smica channel, given the numbers of T and E channels."""
    return "T" if channel < m_t else ("E" if channel < m_t + m_e else "B")


def _frequency(channel: int, m_t: int, m_e: int) -> str:
    local = channel if channel < m_t else (channel - m_t if channel < m_t + m_e else
                                           channel - m_t - m_e)  # fmt: skip
    return str(PLIK_FREQUENCIES[local]) if local < len(PLIK_FREQUENCIES) else str(local)


def spectrum_name(a: str, b: str) -> str:
    """Canonical name of the spectrum between fields a and b: TT, EE, BB, TE, TB or EB."""
    return "".join(sorted(a + b, key=FIELDS.index))


def smica_cross_spectra(path: Path) -> list[tuple[str, int, int, np.ndarray]]:
    """The cross-spectra of a smica (plik) file's data vector, in its order.

    Returns (label, channel i, channel j, active bins) per cross-spectrum, e.g.
    ("TE 100x143", 0, 4, bool array (nbins,)). Labels use the Planck frequencies.
    """
    group = lkl_group(path)
    mdb = read_mdb(group)
    has_cl = read_array(group, "has_cl")
    m_t = int(mdb["m_channel_T"]) * int(has_cl[0])
    m_e = int(mdb["m_channel_P"]) * int(has_cl[1])
    m_b = int(mdb["m_channel_P"]) * int(has_cl[2])
    m = m_t + m_e + m_b
    nb = int(mdb["nbins"]) // int(np.sum(has_cl))
    mask = read_array(group, "criterion_gauss_mask").reshape(-1, m, m)[:nb]
    order = read_array(group, "criterion_gauss_ordering").reshape(-1, 2)
    out = []
    for i, j in order:
        a, b = channel_field(i, m_t, m_e), channel_field(j, m_t, m_e)
        label = f"{a}{b} {_frequency(i, m_t, m_e)}x{_frequency(j, m_t, m_e)}"
        out.append((label, int(i), int(j), mask[:, i, j] == 1))
    return out


def smica_bin_edges(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """First and last multipole of each bin of a smica file (one spectrum's bins)."""
    group = lkl_group(path)
    mdb = read_mdb(group)
    has_cl = read_array(group, "has_cl")
    nb = int(mdb["nbins"]) // int(np.sum(has_cl))
    lmin = int(mdb["lmin"])
    return (read_array(group, "bin_lmin")[:nb] + lmin, read_array(group, "bin_lmax")[:nb] + lmin)


def data_ranges(path: str | Path) -> list[DataRange]:
    """Multipole ranges and bin counts of each spectrum in a clik file's data.

    plik_lite: TT/TE/EE; plik (smica): each spectrum (union of its cross-spectra) then each
    cross-spectrum; lensing: pp; other types (commander, simall, ...): the ``lmin``-``lmax``
    of each spectrum in ``has_cl``, unbinned. Empty list if nothing can be read.
    """
    path = Path(path)
    found = ClikFile.find(path)
    if found is not None and found.is_lensing:
        group = found.group
        mdb = read_mdb(group)
        nbins, lmax = int(mdb["nbins"]), int(mdb["lmax"])
        bins = read_array(group, "bins").reshape(nbins, lmax + 1)
        used = np.flatnonzero(bins.any(axis=0))
        return [DataRange("PP", int(used[0]), int(used[-1]), nbins)] if used.size else []
    group = lkl_group(path)
    mdb = read_mdb(group)
    kind = mdb.get("lkl_type")
    if kind == "plik_cmbonly":
        lite = read_plik_lite(path)
        return [DataRange(n.upper(), int(lite.ell_min[n][0]), int(lite.ell_max[n][-1]),
                          len(lite.ell[n])) for n in lite.spectra]  # fmt: skip
    if kind == "smica":
        lows, highs = smica_bin_edges(path)
        crosses = smica_cross_spectra(path)
        out, per_spectrum = [], {}
        for label, _, _, active in crosses:
            per_spectrum.setdefault(spectrum_name(*label[:2]), []).append(active)
        for name in ("TT", "TE", "EE", "BB", "TB", "EB"):
            if name in per_spectrum:
                active = np.any(per_spectrum[name], axis=0)
                out.append(DataRange(name, int(lows[active][0]), int(highs[active][-1]),
                                     int(active.sum())))  # fmt: skip
        for label, _, _, active in crosses:
            if active.any():
                out.append(DataRange("  " + label, int(lows[active][0]), int(highs[active][-1]),
                                     int(active.sum())))  # fmt: skip
        return out
    if "lmin" in mdb and "lmax" in mdb and (group / "has_cl").exists():
        has_cl = read_array(group, "has_cl")
        lmin, lmax = int(mdb["lmin"]), int(mdb["lmax"])
        names = ("TT", "EE", "BB", "TE", "TB", "EB")
        return [DataRange(n, lmin, lmax, lmax - lmin + 1, binned=False)
                for n, used in zip(names, has_cl, strict=False) if used]  # fmt: skip
    return []
