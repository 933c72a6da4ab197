"""Residual diagnostics: binned data vs model and per-spectrum χ² for plik_lite and plik files.

:func:`residuals` is the entry point (``python -m cobaya_plugins residuals`` draws it with
:func:`cobaya_plugins.plots.residuals_figure`).

plik_lite (``plik_cmbonly``)
    Rebuilt from the file's own members (:func:`cobaya_plugins.clikdata.read_plik_lite`):
    data d (binned D_ell), covariance C, windows W; model m = W C_ell / A_planck².
    χ²_total = (d − m)ᵀ C⁻¹ (d − m) equals −2 logL of the file (checked against clik/clipy
    on every call). χ²_TT, χ²_TE, χ²_EE use the full covariance restricted to each block;
    their sum differs from the total by the TT–TE–EE correlations, reported as ``cross``:
    TT + TE + EE + cross = total.

plik (``smica``)
    The data are 2289 binned cross-spectra between frequency maps, and the model adds
    foregrounds and calibrations (the 47 nuisance parameters) to the CMB. "Binned data vs
    model" is shown for the CMB-only combination at the given nuisance values: the model is
    affine in the binned CMB spectra c, m = m₀ + J c (m₀: foregrounds; J: calibrations, one
    entry per data point), so the generalized-least-squares estimate ĉ = F⁻¹ Jᵀ M (d − m₀),
    F = Jᵀ M J (M: the file's inverse covariance), with covariance F⁻¹, is the
    foreground-cleaned, calibrated, optimally co-added CMB spectrum (TT, TE, EE per bin).
    Exactly, χ²_total = (ĉ − c)ᵀ F (ĉ − c) + χ²_freq, where χ²_freq = rᵀ M r with
    r = d − m₀ − J ĉ is what no CMB can change (disagreement between frequencies: foreground,
    calibration or noise misfit). So TT + TE + EE + cross + frequency = total = −2 logL.
    Limits: the co-added spectrum depends on the nuisance values given (foregrounds fixed,
    not marginalized as in plik_lite), its errors are therefore smaller than plik_lite's, and
    the foreground and calibration model is clik's own (evaluated through clipy's smica code).
    Per cross-spectrum χ² (covariance restricted to each cross-spectrum, as clipy's ``crop``
    does) are given too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cobaya_plugins import clikdata
from cobaya_plugins.units import T_CMB_FIRAS, UNITS, to_muK2_cl

#: Relative agreement required between the rebuilt χ² and −2 logL of the file.
AGREEMENT = 1e-6


@dataclasses.dataclass
class BinnedSpectrum:
    """Binned data and model of one spectrum, in D_ell-like units [µK²].

    ``ell`` (bin centres), ``ell_min``, ``ell_max``, ``data``, ``model``, ``sigma`` (square root
    of the covariance diagonal), all shape (n,); ``chi2``: with the spectrum's own block of
    the covariance.
    """

    name: str
    ell: np.ndarray
    ell_min: np.ndarray
    ell_max: np.ndarray
    data: np.ndarray
    model: np.ndarray
    sigma: np.ndarray
    chi2: float

    @property
    def normalized_residual(self) -> np.ndarray:
        """(data − model) / sigma, shape (n,)."""
        return (self.data - self.model) / self.sigma

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return len(self.data)


@dataclasses.dataclass
class Residuals:
    """Result of :func:`residuals`.

    ``kind``: ``"plik_lite"`` or ``"plik"``; ``spectra``: name -> :class:`BinnedSpectrum`;
    ``chi2``: TT, TE, EE, cross, (plik: frequency), total; ``n_bins``: per spectrum and
    ``total`` (data points of the file); ``loglike``: logL of the file evaluated by clik/clipy
    through :func:`cobaya_plugins.clik.open_clik` (the independent check of ``chi2["total"]``);
    ``cross_spectra``: plik only, label -> {"chi2", "n_bins"}; ``description``: what is shown.
    """

    path: Path
    kind: str
    spectra: dict[str, BinnedSpectrum]
    chi2: dict[str, float]
    n_bins: dict[str, int]
    loglike: float
    description: str
    cross_spectra: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict:
        """``{"chi2": {...}, "n_bins": {...}}`` (+ loglike, kind, file, cross_spectra)."""
        out = {
            "chi2": {k: float(v) for k, v in self.chi2.items()},
            "n_bins": {k: int(v) for k, v in self.n_bins.items()},
            "loglike": float(self.loglike),
            "kind": self.kind,
            "file": str(self.path),
        }
        if self.cross_spectra:
            out["cross_spectra"] = self.cross_spectra
        return out

    def table(self) -> str:
        """The per-spectrum χ² table printed by the command line."""
        lines = [f"{self.path.name} ({self.kind}): {self.description}",
                 f"{'':<10} {'chi2':>10} {'bins':>6}"]  # fmt: skip
        for name in self.chi2:
            n = self.n_bins.get(name)
            lines.append(f"{name:<10} {self.chi2[name]:>10.2f} {'' if n is None else n:>6}")
        lines.append(f"-2 logL of the file (clik): {-2 * self.loglike:.4f}")
        for label, values in self.cross_spectra.items():
            lines.append(f"  {label:<12} chi2 {values['chi2']:>9.2f} / {values['n_bins']}")
        return "\n".join(lines)


@dataclasses.dataclass
class _Breakdown:
    """What the computation for one file type gives :func:`residuals`.

    ``spectra``: binned data and model per spectrum; ``total``: χ² of the whole data vector;
    ``n_data``: its number of data points; ``description``: what ``spectra`` shows; ``cmb``:
    χ² of the CMB part (plik: the co-added bandpowers; None: ``total``); ``frequency``: plik's
    χ² that no CMB can change (None for plik_lite); ``cross_spectra``: plik, per cross-spectrum.
    """

    spectra: dict[str, BinnedSpectrum]
    total: float
    n_data: int
    description: str
    cmb: float | None = None
    frequency: float | None = None
    cross_spectra: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)


# --- inputs ---------------------------------------------------------------------------


def read_cls_file(
    path: str | os.PathLike,
    units: str = "muK2",
    ell_factor: bool = False,
    T_cmb: float = T_CMB_FIRAS,
) -> dict[str, np.ndarray]:
    """Read a spectrum text file with columns ``ell TT EE BB TE`` (extra columns ignored).

    ``#`` lines are comments; the ell column must be consecutive integers (any start, e.g. 2
    as CAMB's ``lensedCls.dat`` or CLASS's ``format=camb`` output). ``units`` (one of
    :data:`cobaya_plugins.units.UNITS`) and ``ell_factor`` (True: the columns are D_ell) say
    what the columns hold. Returns C_ell [µK²] from ell = 0 (zeros below the first row).
    """
    path = Path(path)
    if units not in UNITS:
        raise ValueError(f"Unknown units {units!r}: use one of {', '.join(UNITS)}.")
    try:
        table = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ValueError(f"Could not read {path} as a table of numbers: {exc}") from None
    if table.shape[1] < 5:
        raise ValueError(f"{path} has {table.shape[1]} columns; expected ell TT EE BB TE.")
    ell = table[:, 0]
    if ell[0] < 0 or not np.array_equal(ell, np.arange(ell[0], ell[0] + len(ell))):
        raise ValueError(f"{path}: the first column must be ell = consecutive integers.")
    first, lmax = int(ell[0]), int(ell[-1])
    out = {}
    for column, name in enumerate(("tt", "ee", "bb", "te"), start=1):
        full = np.zeros(lmax + 1)
        full[first:] = table[:, column]
        out[name] = to_muK2_cl(full, units, ell_factor, T_cmb)
    return out


def read_nuisance_file(path: str | os.PathLike) -> dict[str, float]:
    """Nuisance values from a YAML file: a mapping ``name: value``, or a Cobaya ``params:``
    block whose entries are numbers or ``{value: number}`` (other entries are skipped)."""
    import yaml

    content = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(content, Mapping):
        raise ValueError(f"{path} must hold a mapping 'name: value'.")
    content = content.get("params", content)
    out = {}
    for name, value in content.items():
        if isinstance(value, Mapping):
            value = value.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[str(name)] = float(value)
    return out


def _complete_nuisance(names: tuple[str, ...], given: Mapping[str, float] | None) -> dict:
    values = dict(given or {})
    if "A_planck" in names:
        values.setdefault("A_planck", 1.0)
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(
            f"Missing nuisance value(s) {missing}: give all of {list(names)} (a YAML mapping "
            "'name: value', or a Cobaya params block with fixed values)."
        )
    return {n: float(values[n]) for n in names}


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix (n, n) through its Cholesky factor."""
    from scipy.linalg import lapack

    factor, info = lapack.dpotrf(np.asarray(matrix, dtype=float), lower=True)
    if info != 0:
        raise ValueError(f"matrix is not positive definite (LAPACK dpotrf info {info}).")
    inverse, info = lapack.dpotri(factor, lower=True)
    if info != 0:
        raise ValueError(f"could not invert the matrix (LAPACK dpotri info {info}).")
    return np.tril(inverse) + np.tril(inverse, -1).T


def _chi2(delta: np.ndarray, covariance: np.ndarray) -> float:
    """δᵀ C⁻¹ δ through a Cholesky solve."""
    factor = np.linalg.cholesky(covariance)
    white = np.linalg.solve(factor, delta)
    return float(white @ white)


# --- plik_lite --------------------------------------------------------------------------


def _plik_lite(path: Path, cls: Mapping[str, np.ndarray], nuisance: dict) -> _Breakdown:
    lite = clikdata.read_plik_lite(path)
    lo, hi = clikdata.PLIK_LITE_LMIN, clikdata.PLIK_LITE_LMAX
    model = np.empty_like(lite.data)
    for name in lite.spectra:
        model[lite.slices[name]] = lite.windows[name] @ cls[name][lo : hi + 1]
    model /= nuisance["A_planck"] ** 2
    delta = lite.data - model
    sigma = np.sqrt(np.diag(lite.covariance))
    spectra = {}
    for name in lite.spectra:
        sl = lite.slices[name]
        spectra[name.upper()] = BinnedSpectrum(
            name.upper(), lite.ell[name], lite.ell_min[name], lite.ell_max[name],
            lite.data[sl], model[sl], sigma[sl], _chi2(delta[sl], lite.covariance[sl, sl]),
        )  # fmt: skip
    description = ("binned CMB-only D_ell (foregrounds marginalized in the file), model "
                   "binned with the file's weights / A_planck^2")  # fmt: skip
    return _Breakdown(spectra, _chi2(delta, lite.covariance), len(lite.data), description)


# --- plik (smica) -------------------------------------------------------------------------


def _smica(path: Path, cls: Mapping[str, np.ndarray], nuisance: dict) -> _Breakdown:
    from cobaya_plugins.clik import import_clipy

    clipy = import_clipy()
    with contextlib.redirect_stdout(io.StringIO()):
        outer = clipy.clik(str(path))
    smica = outer._internal  # clipy's smica likelihood: its own foreground/calibration model
    values = dict(nuisance) | dict(outer._default)
    lmax = smica.lmax
    if smica.bins is None:
        raise ValueError(f"{path} is an unbinned plik file: residuals need a binned one.")

    def model(spectra: Mapping[str, np.ndarray]) -> np.ndarray:
        array = np.zeros((6, lmax + 1))
        for k, name in enumerate(("tt", "ee", "bb", "te", "tb", "eb")):
            if name in spectra:
                array[k] = spectra[name][: lmax + 1]
        array = smica._calib(array, values)
        return np.asarray(smica.get_model_rq(array, values, True)).ravel()[smica.oo]

    names = [n for n, used in zip(("tt", "ee", "bb", "te", "tb", "eb"), smica.hascl,
                                  strict=True) if used]  # fmt: skip
    unit = {n: np.ones(lmax + 1) for n in names}
    zero_model = model({})
    response = model(unit) - zero_model
    if not np.allclose(
        model({n: 2 * v for n, v in unit.items()}) - zero_model,
        2 * response,
        rtol=1e-9,
        atol=1e-12 * np.abs(response).max(),
    ):
        raise ValueError(f"{path}: the model is not affine in the CMB spectra; the CMB-only "
                         "combination cannot be formed for this file.")  # fmt: skip

    # data points: bin, channel pair, spectrum
    m = smica.m
    flat = np.asarray(smica.oo)
    bins, i, j = flat // (m * m), (flat % (m * m)) // m, flat % m
    kinds = np.array([clikdata.spectrum_name(clikdata.channel_field(a, smica.mt, smica.me),
                                             clikdata.channel_field(b, smica.mt, smica.me))
                      for a, b in zip(i, j, strict=True)])  # fmt: skip
    lows, highs = clikdata.smica_bin_edges(path)
    weights = np.asarray(smica.b_ws)[: len(np.arange(lows[0], highs[-1] + 1))]
    ell = np.arange(lows[0], highs[-1] + 1)
    per_bin = np.add.reduceat(weights, lows - lows[0])
    ell_eff = np.add.reduceat(weights * ell, lows - lows[0]) / per_bin
    gain = response / per_bin[bins]  # calibration of each data point (J's only entry per row)

    shown = [s for s in ("TT", "TE", "EE", "BB", "TB", "EB") if s in set(kinds)]
    columns = {}  # (spectrum, bin) -> column of J
    for s in shown:
        for b in np.unique(bins[kinds == s]):
            columns[(s, int(b))] = len(columns)
    jac = np.zeros((len(flat), len(columns)))
    jac[np.arange(len(flat)), [columns[(k, int(b))] for k, b in zip(kinds, bins, strict=True)]] = (
        gain
    )
    data = np.asarray(smica.rqh_f, dtype=float)
    inverse = np.asarray(smica.siginv, dtype=float)
    fisher = jac.T @ inverse @ jac
    cov_c = spd_inverse(fisher)
    c_hat = cov_c @ (jac.T @ (inverse @ (data - zero_model)))
    binned_theory = {n: np.add.reduceat(weights * cls[n][lows[0] : highs[-1] + 1],
                                        lows - lows[0]) for n in names}  # fmt: skip
    c_model = np.array([binned_theory[s.lower()][b] for s, b in columns])
    residual = data - zero_model - jac @ c_hat
    frequency = float(residual @ inverse @ residual)
    cmb_total = float((c_hat - c_model) @ fisher @ (c_hat - c_model))

    spectra = {}
    for s in shown:
        idx = np.array([columns[key] for key in columns if key[0] == s])
        b = np.array([key[1] for key in columns if key[0] == s])
        scale = ell_eff[b] * (ell_eff[b] + 1) / (2 * np.pi)  # binned C_ell -> D_ell-like
        spectra[s] = BinnedSpectrum(
            s, ell_eff[b], lows[b], highs[b], scale * c_hat[idx], scale * c_model[idx],
            scale * np.sqrt(np.diag(cov_c)[idx]),
            _chi2(c_hat[idx] - c_model[idx], cov_c[np.ix_(idx, idx)]),
        )  # fmt: skip
    delta = data - model(cls)
    total = float(delta @ inverse @ delta)
    # per cross-spectrum: the covariance restricted to each one (as clipy's crop does)
    covariance = spd_inverse(inverse)
    crosses = {}
    start = 0
    for label, _, _, active in clikdata.smica_cross_spectra(path):
        n = int(active.sum())
        sl = slice(start, start + n)
        crosses[label] = {"chi2": _chi2(delta[sl], covariance[sl, sl]), "n_bins": n}
        start += n
    description = ("foreground-cleaned, calibrated, co-added CMB bandpowers at the given "
                   "nuisance values (GLS over the cross-spectra), D_ell-scaled at the bin "
                   "centres")  # fmt: skip
    return _Breakdown(spectra, total, len(data), description, cmb=cmb_total, frequency=frequency,
                      cross_spectra=crosses)  # fmt: skip


def residuals(
    path: str | os.PathLike,
    cls: Mapping[str, np.ndarray],
    nuisance: Mapping[str, float] | None = None,
    units: str = "muK2",
    ell_factor: bool = False,
    T_cmb: float = T_CMB_FIRAS,
) -> Residuals:
    """Binned data vs model and per-spectrum χ² of a plik_lite or plik ``.clik`` file.

    ``cls``: spectra from ell = 0 by lowercase name (``tt``, ``te``, ``ee``; C_ell by default),
    in ``units`` (``muK2``, ``K2`` or ``dimensionless``; ``ell_factor=True``: D_ell).
    ``nuisance``: values by name; ``A_planck`` defaults to 1, the plik foreground parameters
    must all be given. See the module docstring for what is computed. Raises ``ValueError``
    for other file types, missing inputs, or if the rebuilt total χ² disagrees with −2 logL
    of the file by more than :data:`AGREEMENT` (relative).
    """
    from cobaya_plugins.clik import check_clik_path, open_clik

    clik_file = check_clik_path(path)
    full, kind = clik_file.path, clik_file.lkl_type
    if kind not in ("plik_cmbonly", "smica"):
        raise ValueError(
            f"{full} is a {kind!r} likelihood: residuals support plik_lite (plik_cmbonly) and "
            "plik (smica) files."
        )
    converted = {n: to_muK2_cl(np.asarray(v, dtype=float), units, ell_factor, T_cmb)
                 for n, v in cls.items() if n in ("tt", "ee", "bb", "te", "tb", "eb")}  # fmt: skip
    lkl = open_clik(full)
    values = _complete_nuisance(lkl.nuisance_names, nuisance)
    need = max(lkl.lmax.values())
    for name in ("tt", "ee", "te"):
        if name in lkl.lmax and (name not in converted or len(converted[name]) <= need):
            raise ValueError(f"Spectrum {name.upper()} is needed from ell = 0 to {need}.")
    # the unit check sees the spectra as given (a mistake is named in the caller's units)
    given = {n: np.asarray(cls[n], dtype=float) for n in converted}
    loglike = lkl.loglike(given, values, units=units, ell_factor=ell_factor, T_cmb=T_cmb)
    compute = _plik_lite if kind == "plik_cmbonly" else _smica
    found = compute(full, converted, values)
    spectra, total = found.spectra, found.total
    chi2 = {s: spectra[s].chi2 for s in spectra}
    chi2["cross"] = (total if found.cmb is None else found.cmb) - sum(chi2.values())
    if found.frequency is not None:
        chi2["frequency"] = found.frequency
    chi2["total"] = total
    if not math.isclose(total, -2 * loglike, rel_tol=AGREEMENT, abs_tol=1e-9):
        raise ValueError(
            f"{full}: the rebuilt chi2 {total:.8g} disagrees with -2 logL = {-2 * loglike:.8g} "
            "from clik (priors stored in the file, or a format this code does not know)."
        )
    n_bins = {s: spectra[s].n_bins for s in spectra}
    n_bins["total"] = found.n_data
    return Residuals(full, "plik_lite" if kind == "plik_cmbonly" else "plik", spectra, chi2,
                     n_bins, loglike, found.description, found.cross_spectra)  # fmt: skip
