"""Recompute the shipped fiducial spectrum ``fiducial_lensedCls.dat`` with CLASS (classy).

Run once, from the repository root::

    python -m cobaya_plugins.data.make_fiducial [OUT]

``OUT`` defaults to the shipped file next to this script. The output has CAMB's
``lensedCls.dat`` layout: columns ``ell TT EE BB TE``, lensed D_ell = ell(ell+1)C_ell/2pi
in muK^2, for ell = 2..2600, converted with the fixed FIRAS temperature (T_cmb 1e6)^2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cobaya_plugins.classy_run import lensed_cl
from cobaya_plugins.planck2018 import BEST_FIT, CLASS_BASELINE, class_best_fit_input
from cobaya_plugins.units import llp1_over_2pi

#: The cosmology of the file: the Planck 2018 best fit with Planck's baseline neutrino and
#: temperature (:mod:`cobaya_plugins.planck2018`), in CLASS's names.
PLANCK_2018_BESTFIT = {
    **BEST_FIT,
    **{k: CLASS_BASELINE[k] for k in ("N_ur", "N_ncdm", "m_ncdm", "T_cmb")},
}
#: Highest multipole written to the file.
LMAX = 2600
#: CLASS settings: lensed spectra (HMcode lensing potential, as Cobaya's CMB precision).
CLASS_SETTINGS = {
    "output": "tCl,pCl,lCl",
    "lensing": "yes",
    "l_max_scalars": LMAX + 600,
    "non_linear": CLASS_BASELINE["non_linear"],
}
DEFAULT_OUT = Path(__file__).with_name("fiducial_lensedCls.dat")


def compute_dell(lmax: int = LMAX) -> np.ndarray:
    """Lensed D_ell [muK^2] from CLASS, shape (lmax - 1, 5): columns ell, TT, EE, BB, TE."""
    cls = lensed_cl(class_best_fit_input(CLASS_SETTINGS["l_max_scalars"]), lmax)  # from ell = 0
    ell = np.arange(2, lmax + 1)
    to_dell_muk2 = llp1_over_2pi(ell) * (PLANCK_2018_BESTFIT["T_cmb"] * 1e6) ** 2
    columns = [ell] + [cls[name][2:] * to_dell_muk2 for name in ("tt", "ee", "bb", "te")]
    return np.column_stack(columns)


def header_text() -> str:
    """The comment header written at the top of the fiducial file."""
    import classy

    version = getattr(classy, "__version__", "unknown")
    params = " ".join(f"{k}={v}" for k, v in PLANCK_2018_BESTFIT.items())
    settings = " ".join(f"{k}={v}" for k, v in CLASS_SETTINGS.items())
    return "\n".join(
        [
            "Fiducial lensed CMB spectra for cobaya_plugins (Planck-like mock likelihoods).",
            f"Code: CLASS via classy {version}.",
            f"Parameters (Planck 2018 best fit): {params}",
            f"CLASS settings: {settings}",
            "Units: D_ell = ell(ell+1)C_ell/2pi in muK^2, converted with (T_cmb*1e6)^2,",
            "T_cmb = 2.7255 K. Layout as CAMB's lensedCls.dat.",
            "Made with: python -m cobaya_plugins.data.make_fiducial",
            "    L           TT           EE           BB           TE",
        ]
    )


def main(argv: list[str] | None = None) -> Path:
    """Compute the spectrum and write it to ``argv[0]`` (default: the shipped file)."""
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else DEFAULT_OUT
    table = compute_dell()
    fmt = ["%5d"] + ["%12.5e"] * 4
    np.savetxt(out, table, fmt=fmt, header=header_text())
    print(f"wrote {out} (ell = 2..{int(table[-1, 0])})")
    return out


if __name__ == "__main__":
    main()
