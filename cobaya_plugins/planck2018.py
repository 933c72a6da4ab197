"""The Planck 2018 reference values this package uses, defined once.

* :data:`BEST_FIT`: the six ΛCDM parameters of the Planck 2018 best fit (TT,TE,EE+lowE+lensing;
  Planck 2018 VI, and the point of Cobaya's regression tests), in CLASS's input names;
* :data:`SIGMA`: their 68% errors (Planck 2018 VI, Table 2), in the names of :data:`BEST_FIT_H`;
* :data:`CLASS_BASELINE`: Planck's baseline physics in CLASS (one 0.06 eV neutrino, N_ur = 2.0328
  so that N_eff = 3.046, HMcode for the lensing potential) and the FIRAS temperature;
* :data:`BEST_FIT_NUISANCE`: the best-fit values of A_planck and the 20 other sampled plik nuisance
  parameters (Cobaya's regression test); the 26 fixed ones are the fixed values in the defaults of
  :class:`cobaya_plugins.planck.HighlTTTEEE`;
* :data:`PUBLISHED_CHI2`: χ² = −2 logL of the real Planck 2018 files at that point (Cobaya 3.6.2's
  test values), by likelihood class;
* the name maps between Cobaya's parameter names and CLASS's (:data:`COBAYA_TO_CLASS`,
  :func:`best_fit_cobaya`).

Nothing here imports another module of the package: any module can use these values.
"""

from __future__ import annotations

import math

#: Planck 2018 best fit (TT,TE,EE+lowE+lensing), CLASS input names (H0 in km/s/Mpc).
BEST_FIT: dict[str, float] = {
    "omega_b": 0.022383,
    "omega_cdm": 0.12011,
    "H0": 67.32,
    "ln10^{10}A_s": 3.0448,
    "n_s": 0.96605,
    "tau_reio": 0.0543,
}

#: Planck's baseline physics in CLASS: one massive neutrino of 0.06 eV (N_ur = 2.0328 gives
#: N_eff = 3.046), HMcode non-linear lensing potential, T_cmb = 2.7255 K (FIRAS).
CLASS_BASELINE: dict[str, float | int | str] = {
    "N_ur": 2.0328,
    "N_ncdm": 1,
    "m_ncdm": 0.06,
    "T_cmb": 2.7255,
    "non_linear": "hmcode",
}

#: The best fit with h = H0/100 instead of H0 (the emulator's and the anchor's input names), in
#: the emulator's input order.
BEST_FIT_H: dict[str, float] = {
    "omega_b": BEST_FIT["omega_b"],
    "omega_cdm": BEST_FIT["omega_cdm"],
    "h": round(BEST_FIT["H0"] / 100, 12),  # 0.6732, not 0.6731999999999999
    "tau_reio": BEST_FIT["tau_reio"],
    "n_s": BEST_FIT["n_s"],
    "ln10^{10}A_s": BEST_FIT["ln10^{10}A_s"],
}

#: Planck 2018 68% errors (TT,TE,EE+lowE+lensing, Planck 2018 VI Table 2), names of BEST_FIT_H.
SIGMA: dict[str, float] = {
    "omega_b": 0.00015,
    "omega_cdm": 0.0012,
    "h": 0.0054,
    "tau_reio": 0.0073,
    "n_s": 0.0042,
    "ln10^{10}A_s": 0.014,
}

#: Cobaya parameter names of the six ΛCDM parameters -> (CLASS name with h, factor):
#: value in CLASS = factor × value in Cobaya (H0 -> h is ×0.01).
COBAYA_TO_CLASS: dict[str, tuple[str, float]] = {
    "omega_b": ("omega_b", 1.0),
    "omega_cdm": ("omega_cdm", 1.0),
    "H0": ("h", 0.01),
    "h": ("h", 1.0),
    "tau_reio": ("tau_reio", 1.0),
    "n_s": ("n_s", 1.0),
    "logA": ("ln10^{10}A_s", 1.0),
}

#: Planck 2018 best-fit values of the 21 sampled plik nuisance parameters and A_planck
#: (Cobaya's regression test of the Planck 2018 likelihoods).
BEST_FIT_NUISANCE: dict[str, float] = {
    "A_planck": 1.00044,
    "A_cib_217": 46.1, "xi_sz_cib": 0.66, "A_sz": 7.08, "ps_A_100_100": 248.2,
    "ps_A_143_143": 50.7, "ps_A_143_217": 53.3, "ps_A_217_217": 121.9, "ksz_norm": 0.0,
    "gal545_A_100": 8.80, "gal545_A_143": 11.01, "gal545_A_143_217": 20.16, "gal545_A_217": 95.5,
    "galf_TE_A_100": 0.1138, "galf_TE_A_100_143": 0.1346, "galf_TE_A_100_217": 0.479,
    "galf_TE_A_143": 0.225, "galf_TE_A_143_217": 0.665, "galf_TE_A_217": 2.082,
    "calib_100T": 0.99974, "calib_217T": 0.99819,
}  # fmt: skip

#: χ² = −2 logL of the real Planck 2018 files at the best fit (Cobaya 3.6.2's test values), by
#: this package's class name.
PUBLISHED_CHI2: dict[str, float] = {
    "LowlTT": 23.16,
    "HighlTTTEEE": 2344.75,
    "HighlTTTEEELite": 584.24,
}


def best_fit_cobaya() -> dict[str, float]:
    """The best fit in Cobaya's names: ``omega_b``, ``omega_cdm``, ``H0``, ``h``, ``tau_reio``,
    ``n_s``, ``logA`` (= ln(10¹⁰A_s)) and ``A_s``."""
    return {
        "omega_b": BEST_FIT["omega_b"],
        "omega_cdm": BEST_FIT["omega_cdm"],
        "H0": BEST_FIT["H0"],
        "h": BEST_FIT["H0"] / 100,
        "tau_reio": BEST_FIT["tau_reio"],
        "n_s": BEST_FIT["n_s"],
        "logA": BEST_FIT["ln10^{10}A_s"],
        "A_s": 1e-10 * math.exp(BEST_FIT["ln10^{10}A_s"]),
    }


#: Highest multipole CLASS computes for the reference spectra: lensed C_ell up to ell = 2600
#: need the unlensed ones about 600 beyond.
CLASS_L_MAX_SCALARS = 3200


def class_best_fit_input(l_max_scalars: int = CLASS_L_MAX_SCALARS) -> dict[str, float | int | str]:
    """CLASS input for lensed spectra at :data:`BEST_FIT` with :data:`CLASS_BASELINE` (the input
    of the shipped fiducial spectrum and of ``validate``)."""
    return {
        **BEST_FIT,
        **CLASS_BASELINE,
        "output": "tCl,pCl,lCl",
        "lensing": "yes",
        "l_max_scalars": l_max_scalars,
    }
