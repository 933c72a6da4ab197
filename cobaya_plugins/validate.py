"""Check an install of the real Planck 2018 files against the published χ² at the best fit.

:func:`validate` evaluates each installed Planck 2018 likelihood at the Planck 2018 best fit
(TT,TE,EE+lowE+lensing; the parameter and nuisance values of Cobaya's regression test), with
lensed spectra from CLASS, and compares χ² = −2 logL with the values Cobaya's test suite
publishes for that point: low-l TT 23.16, plik TTTEEE 2344.75, plik_lite TTTEEE 584.24.
Cobaya allows 0.11 with CAMB and 0.4 more with CLASS, hence :data:`TOLERANCE` = 0.5.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from cobaya_plugins.install import PLANCK_2018
from cobaya_plugins.planck2018 import BEST_FIT_NUISANCE, PUBLISHED_CHI2, class_best_fit_input
from cobaya_plugins.units import T_CMB_FIRAS

#: Largest |χ² − published| counted as a pass.
TOLERANCE = 0.5


@dataclasses.dataclass(frozen=True)
class Reference:
    """A published value: Cobaya class name, file (relative to the data directory), χ²."""

    name: str
    clik_file: str
    chi2: float


#: The published χ² at the best fit (planck-reference; Cobaya 3.6.2's test values).
REFERENCES = tuple(
    Reference(name, clik_file, PUBLISHED_CHI2[name])
    for name, clik_file in zip(PUBLISHED_CHI2, PLANCK_2018.required, strict=False)
)


@dataclasses.dataclass
class Check:
    """One row of the validation: ``loglike``/``chi2`` are None when the file is missing."""

    reference: Reference
    path: Path
    loglike: float | None = None

    @property
    def chi2(self) -> float | None:
        """−2 logL, or None when not evaluated."""
        return None if self.loglike is None else -2 * self.loglike

    @property
    def passed(self) -> bool | None:
        """|χ² − published| <= TOLERANCE; None when the file is missing."""
        return None if self.chi2 is None else abs(self.chi2 - self.reference.chi2) <= TOLERANCE


def best_fit_nuisance() -> dict[str, float]:
    """All 47 plik nuisance values at the best fit: :data:`BEST_FIT_NUISANCE` and the fixed
    values of the defaults of :class:`cobaya_plugins.planck.HighlTTTEEE`."""
    from cobaya_plugins.planck import HighlTTTEEE

    params = HighlTTTEEE.get_defaults()["params"]
    fixed = {k: float(v) for k, v in params.items() if isinstance(v, int | float)}
    return {**fixed, **BEST_FIT_NUISANCE}


def class_spectra(lmax: int = 2508) -> dict[str, np.ndarray]:
    """Lensed C_ell (dimensionless ΔT/T, from ell = 0) from CLASS at the Planck 2018 best fit.

    Same cosmology and settings as the shipped fiducial
    (:func:`cobaya_plugins.planck2018.class_best_fit_input`): H0 = 67.32 (CLASS takes H0, not
    θ_MC), one massive neutrino of 0.06 eV, HMcode lensing — as Cobaya's CLASS regression test.
    """
    from cobaya_plugins.classy_run import lensed_cl

    cls = lensed_cl(class_best_fit_input(), lmax)
    return {k: cls[k] for k in ("tt", "ee", "bb", "te")}


def validate(
    directory: str | os.PathLike,
    cls: Mapping[str, np.ndarray] | None = None,
    log: Callable[[str], None] = print,
) -> list[Check]:
    """Evaluate the Planck 2018 files found under ``directory`` at the best fit.

    ``cls``: dimensionless lensed spectra from ell = 0 (default: computed with CLASS, about a
    minute). Missing files give rows with ``loglike=None``. Returns the rows in
    :data:`REFERENCES` order.
    """
    from cobaya_plugins.clik import open_clik

    directory = Path(directory)
    checks = [Check(ref, directory / ref.clik_file) for ref in REFERENCES]
    present = [c for c in checks if c.path.exists()]
    if not present:
        return checks
    if cls is None:
        log("computing the best-fit spectra with CLASS ...")
        cls = class_spectra()
    nuisance = best_fit_nuisance()
    for check in present:
        lkl = open_clik(check.path)
        values = {n: nuisance[n] for n in lkl.nuisance_names}
        check.loglike = lkl.loglike(cls, values, units="dimensionless", T_cmb=T_CMB_FIRAS)
    return checks


def format_checks(checks: list[Check]) -> str:
    """The validation table: class, logL, χ², published χ², difference, PASS/FAIL."""
    lines = [f"{'likelihood':<16} {'logL':>10} {'chi2':>9} {'published':>9} {'diff':>7}  "
             f"result (tolerance {TOLERANCE})"]  # fmt: skip
    for c in checks:
        if c.loglike is None:
            lines.append(f"{c.reference.name:<16} {'':>10} {'':>9} {c.reference.chi2:>9.2f} "
                         f"{'':>7}  not installed ({c.path})")  # fmt: skip
            continue
        diff = c.chi2 - c.reference.chi2
        lines.append(
            f"{c.reference.name:<16} {c.loglike:>10.2f} {c.chi2:>9.2f} "
            f"{c.reference.chi2:>9.2f} {diff:>+7.2f}  {'PASS' if c.passed else 'FAIL'}"
        )
    return "\n".join(lines)
