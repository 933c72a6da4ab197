"""How close the CosmoPower emulator is to CLASS: Δχ² on the mock likelihoods and ΔC_ell/σ_cv.

``python -m cobaya_plugins emulator-check [--n 20] [--settings matched planck]`` draws ``n``
points around the Planck 2018 best fit (point 0 is the best fit itself, the others Gaussian with
a posterior covariance: a Cobaya covmat file, by default the shipped
``cobaya_plugins/data/lcdm_emulator_mock_lite.covmat``, or without one Planck 2018's 68% errors,
uncorrelated), computes the lensed spectra with the emulator
(:class:`cobaya_plugins.emulator.CMBEmulator`) and with CLASS (classy) under the named
:data:`CLASS_SETTINGS`, and reports

* Δχ² = χ²(emulator) − χ²(CLASS) for each mock likelihood (written with seed 0, its default
  nuisance parameters): at the best fit, mean, standard deviation and max |Δχ²| over the points;
* max over ell = 2..2508 of |C_ell(emulator) − C_ell(CLASS)| / σ_cv(ell) for TT, TE, EE, with the
  full-sky cosmic variance of one multipole σ_cv = sqrt(2/(2ell+1)) C_ell (TT, EE) and
  sqrt((C_TT C_EE + C_TE²)/(2ell+1)) (TE); for φφ the max relative difference for ell 2..2000.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from cobaya_plugins.anchor import PLANCK_BASELINE, AnchorCorrection, class_spectra
from cobaya_plugins.emulator import INPUTS, LMAX, CMBEmulator
from cobaya_plugins.planck2018 import BEST_FIT_H, COBAYA_TO_CLASS, SIGMA

#: CLASS settings to compare with (added to the six parameters, lensed spectra, T_cmb 2.7255 K).
CLASS_SETTINGS: dict[str, dict[str, float | str]] = {
    # what the shipped networks match best: massless neutrinos, linear lensing potential
    "matched": {"N_ur": 3.046, "N_ncdm": 0},
    "matched_hmcode": {"N_ur": 3.046, "N_ncdm": 0, "non_linear": "hmcode"},
    # Planck's baseline (one 0.06 eV neutrino, HMcode): what the mock data were drawn from
    "planck": PLANCK_BASELINE,
    "planck_linear": {"N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.06},
}

#: Planck 2018 best fit and 68% errors in the emulator's input names.
BESTFIT = BEST_FIT_H
PLANCK_2018_SIGMA = SIGMA

#: Highest ell of the φφ comparison (lensing reconstructions stop well below).
PP_LMAX = 2000


#: The shipped proposal covariance of the demo chain (package data).
DEFAULT_COVMAT = Path(__file__).parent / "data" / "lcdm_emulator_mock_lite.covmat"


def read_covmat(path: str | os.PathLike) -> np.ndarray:
    """6×6 covariance of the emulator inputs (:data:`INPUTS` order) from a Cobaya covmat file.

    The file's first line names its parameters (``# omega_b omega_cdm H0 ...``); it must have the
    six ΛCDM ones in Cobaya names (``H0`` or ``h``, ``logA``); others are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"covmat file not found: {path} (give --covmat none for none).")
    names = path.read_text().splitlines()[0].lstrip("#").split()
    matrix = np.loadtxt(path, ndmin=2)
    index, factor = {}, {}
    for i, name in enumerate(names):
        if name in COBAYA_TO_CLASS:
            target, scale = COBAYA_TO_CLASS[name]
            index[target], factor[target] = i, scale
    missing = [p for p in INPUTS if p not in index]
    if missing:
        raise ValueError(f"{path} lacks the parameters for {missing}; it has {names}.")
    rows = [index[p] for p in INPUTS]
    scale = np.array([factor[p] for p in INPUTS])
    return matrix[np.ix_(rows, rows)] * np.outer(scale, scale)


def draw_points(n: int, seed: int = 0, cov: np.ndarray | None = None) -> list[dict[str, float]]:
    """``n`` points (emulator input names): the best fit, then Gaussian draws around it with
    covariance ``cov`` (6×6, :data:`INPUTS` order), or Planck's 68% errors uncorrelated."""
    if n < 1:
        raise ValueError(f"n must be at least 1 (the best fit), got {n}.")
    if cov is None:
        cov = np.diag([PLANCK_2018_SIGMA[p] ** 2 for p in INPUTS])
    rng = np.random.default_rng(seed)
    mean = np.array([BESTFIT[p] for p in INPUTS])
    draws = rng.multivariate_normal(mean, cov, size=n - 1)
    return [dict(BESTFIT)] + [dict(zip(INPUTS, map(float, d), strict=True)) for d in draws]


def cv_deviation(emulated: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> dict:
    """max_ell |ΔC_ell|/σ_cv for tt, te, ee (ell 2..2508) and max |ΔC/C| of pp (ell 2..2000)."""
    ell = np.arange(2, LMAX + 1)
    tt, ee, te = (reference[s][2 : LMAX + 1] for s in ("tt", "ee", "te"))
    sigma = {
        "tt": np.sqrt(2 / (2 * ell + 1)) * tt,
        "te": np.sqrt((tt * ee + te**2) / (2 * ell + 1)),
        "ee": np.sqrt(2 / (2 * ell + 1)) * ee,
    }
    out = {
        s: float(np.max(np.abs(emulated[s][2 : LMAX + 1] - reference[s][2 : LMAX + 1]) / sig))
        for s, sig in sigma.items()
    }
    pp = slice(2, PP_LMAX + 1)
    out["pp"] = float(np.max(np.abs(emulated["pp"][pp] / reference["pp"][pp] - 1)))
    return out


def _mock_likelihoods(mock_dir: str | os.PathLike | None, say: Callable[[str], None]) -> dict:
    """The three CMB mock likelihoods (written with seed 0 into ``mock_dir`` when missing)."""
    from cobaya_plugins.clik import open_clik
    from cobaya_plugins.mock import CMB_KINDS, write_mock

    directory = Path(mock_dir) if mock_dir else Path(tempfile.mkdtemp(prefix="emulator_check_"))
    out = {}
    for kind in CMB_KINDS:
        path = directory / f"{kind}.clik"
        start = time.perf_counter()
        if not path.exists():
            write_mock(kind, directory, seed=0)
            action = "wrote and opened"
        else:
            action = "opened"
        out[kind] = open_clik(path)
        say(f"Mock likelihoods: {action} {path} ({time.perf_counter() - start:.1f} s)")
    return out


def run_check(
    n: int = 20,
    settings: Sequence[str] = ("matched",),
    seed: int = 0,
    mock_dir: str | os.PathLike | None = None,
    covmat: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Compare emulator and CLASS at ``n`` points for each named settings; returns the report.

    ``covmat``: Cobaya covmat file the points are drawn with (None: Planck's errors, uncorrelated).
    ``progress``, if given, is called with one line of text per stage and per CLASS point (CLASS
    takes seconds a point).
    Report: ``{"n", "covmat", "emulator_ms", "settings": {name: {"class_s", "dchi2": {kind:
    array (n,)}, "dchi2_anchored": {kind: array (n,)}, "cv": {spectrum: array (n,)}}}}`` (point
    0 is the best fit; "anchored": the emulator corrected by :class:`AnchorCorrection` measured
    against this CLASS at point 0, as the theory's ``anchor`` option does).
    """
    from cobaya_plugins.mock import default_nuisance

    unknown = [s for s in settings if s not in CLASS_SETTINGS]
    if unknown:
        raise ValueError(f"Unknown CLASS settings {unknown}; choose from {list(CLASS_SETTINGS)}.")

    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    points = draw_points(n, seed, read_covmat(covmat) if covmat else None)
    likelihoods = _mock_likelihoods(mock_dir, say)
    emulator = CMBEmulator()
    start = time.perf_counter()
    emulated = [emulator(p) for p in points]
    say(f"Emulator: {n} point(s) in {time.perf_counter() - start:.1f} s")
    report = {
        "n": n,
        "covmat": str(covmat) if covmat else None,
        "emulator_ms": (time.perf_counter() - start) / n * 1e3,
        "settings": {},
    }

    def chi2(kind, cls):
        lkl = likelihoods[kind]
        return -2 * lkl.loglike(cls, default_nuisance(kind), units="dimensionless")

    for name in settings:
        start = time.perf_counter()
        reference = []
        for k, point in enumerate(points, start=1):
            reference.append(class_spectra(point, CLASS_SETTINGS[name]))
            say(
                f"CLASS settings '{name}': point {k}/{n} "
                f"({time.perf_counter() - start:.1f} s so far)"
            )
        class_s = (time.perf_counter() - start) / n
        pairs = list(zip(emulated, reference, strict=True))
        dchi2 = {
            kind: np.array([chi2(kind, e) - chi2(kind, r) for e, r in pairs])
            for kind in likelihoods
        }
        # the emulator anchored on this CLASS at point 0 (the best fit): exact there
        anchor = AnchorCorrection.measure(emulated[0], reference[0])
        anchored = {
            kind: np.array([chi2(kind, anchor.apply(e)) - chi2(kind, r) for e, r in pairs])
            for kind in likelihoods
        }
        deviations = [cv_deviation(e, r) for e, r in pairs]
        cv = {s: np.array([d[s] for d in deviations]) for s in ("tt", "te", "ee", "pp")}
        report["settings"][name] = {
            "class_s": class_s, "dchi2": dchi2, "dchi2_anchored": anchored, "cv": cv
        }  # fmt: skip
    return report


def format_report(report: Mapping) -> str:
    """The report of :func:`run_check` as the text the command prints."""
    n = report["n"]
    spread = (
        f"the covariance of {report['covmat']}"
        if report.get("covmat")
        else "Planck's 68% errors, uncorrelated"
    )
    lines = [
        f"CosmoPower emulator vs CLASS at {n} point(s) around the Planck 2018 best fit (point 0 "
        f"= best fit; others drawn with {spread}). Emulator: {report['emulator_ms']:.2f} ms per "
        "point (TT, TE, EE, PP).",
    ]
    for name, result in report["settings"].items():
        settings = " ".join(f"{k}={v}" for k, v in CLASS_SETTINGS[name].items())
        lines += [
            "",
            f"CLASS settings '{name}' ({settings}): {result['class_s']:.1f} s per point.",
            "Δχ² = χ²(emulator) − χ²(CLASS), mock likelihoods (seed 0, default nuisance); mean "
            "and std over the drawn points; anchored: the emulator corrected at the best fit by "
            "this CLASS (the CosmoPower theory's `anchor` option):",
            f"  {'likelihood':30s} {'best fit':>9s} {'mean':>8s} {'std':>8s} {'max|Δχ²|':>9s}",
        ]
        for label, key in (("", "dchi2"), (" (anchored)", "dchi2_anchored")):
            for kind, values in result[key].items():
                rest = values[1:] if len(values) > 1 else values  # anchored: 0 at the best fit
                lines.append(
                    f"  {kind + label:30s} {values[0]:9.3f} {rest.mean():8.3f} {rest.std():8.3f} "
                    f"{np.max(np.abs(values)):9.3f}"
                )
        lines += [
            "max over ell of |ΔC_ell|/σ_cv (TT, TE, EE: ell 2-2508) and |ΔC_ell/C_ell| (PP: ell "
            f"2-{PP_LMAX}):",
            f"  {'spectrum':18s} {'best fit':>9s} {'median':>8s} {'max':>8s}",
        ]
        for spectrum, values in result["cv"].items():
            lines.append(
                f"  {spectrum.upper():18s} {values[0]:9.3f} {np.median(values):8.3f} "
                f"{values.max():8.3f}"
            )
    return "\n".join(lines)
