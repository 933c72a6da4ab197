"""Recompute the shipped lensing-potential spectrum ``fiducial_clpp.dat`` with CLASS (classy).

Run once, from the repository root::

    python -m cobaya_plugins.data.make_fiducial_pp [OUT]

Same cosmology and CLASS settings as ``make_fiducial`` (Planck 2018 best fit, HMcode). The
output has two columns, ``ell PP`` with PP = [ell(ell+1)]² C_ell^φφ / 2π (dimensionless, as
the ``PP`` column of CAMB's ``lenspotentialCls.dat``), for ell = 2..2600.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cobaya_plugins.classy_run import lensed_cl
from cobaya_plugins.data.make_fiducial import CLASS_SETTINGS, LMAX, PLANCK_2018_BESTFIT
from cobaya_plugins.planck2018 import class_best_fit_input

DEFAULT_OUT = Path(__file__).with_name("fiducial_clpp.dat")


def compute_pp(lmax: int = LMAX) -> np.ndarray:
    """[ell(ell+1)]² C^φφ / 2π from CLASS, shape (lmax - 1, 2): columns ell, PP."""
    clpp = lensed_cl(class_best_fit_input(CLASS_SETTINGS["l_max_scalars"]), lmax)["pp"]
    ell = np.arange(2, lmax + 1)
    return np.column_stack([ell, clpp[2:] * (ell * (ell + 1.0)) ** 2 / (2 * np.pi)])


def main(argv: list[str] | None = None) -> Path:
    """Compute the spectrum and write it to ``argv[0]`` (default: the shipped file)."""
    import classy

    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else DEFAULT_OUT
    table = compute_pp()
    params = " ".join(f"{k}={v}" for k, v in PLANCK_2018_BESTFIT.items())
    header = "\n".join(
        [
            "Fiducial lensing-potential spectrum for cobaya_plugins (the lensing mock).",
            f"Code: CLASS via classy {getattr(classy, '__version__', 'unknown')}.",
            f"Parameters (Planck 2018 best fit): {params}",
            "Settings as make_fiducial. PP = [ell(ell+1)]^2 C_ell^phiphi / 2pi (dimensionless).",
            "Made with: python -m cobaya_plugins.data.make_fiducial_pp",
            "    L           PP",
        ]
    )
    np.savetxt(out, table, fmt=["%5d", "%12.5e"], header=header)
    print(f"wrote {out} (ell = 2..{int(table[-1, 0])})")
    return out


if __name__ == "__main__":
    main()
