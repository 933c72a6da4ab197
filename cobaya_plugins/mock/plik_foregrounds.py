"""Foreground and calibration model of the plik-like mock, written as clik smica components.

The mock has m = 6 maps, in clik's channel order: T100 T143 T217 E100 E143 E217. Each of
the 47 Planck nuisance parameters enters through a real smica component (the sequence written
by :func:`write_components` yields exactly Planck's parameter order). The templates are smooth
made-up shapes of realistic amplitude, each defined once here as a D_ell shape; the same
shapes are used (a) to write the component templates in clik's conventions and (b) by
:func:`foreground_cl` and :func:`calibration`, this module's own evaluation of the model,
which the tests compare with what clipy computes from the written file.

Conventions (as in Planck): amplitudes are D_ell in muK^2 at a pivot multipole (3000 for
CIB, tSZ, kSZ and point sources, 200 for TT dust, 500 for polarized dust).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cobaya_plugins.mock.cldf import Group
from cobaya_plugins.units import llp1_over_2pi

#: Frequencies of the m = 6 maps (T then E), and which maps are temperature.
MAP_FREQUENCIES = (100, 143, 217, 100, 143, 217)
N_T = 3
N_P = 3
M = N_T + N_P
#: Colour vector selecting the temperature maps (extragalactic foregrounds are TT only).
T_ONLY = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
#: Frequencies indexing clik's 4-frequency templates (gcib, cnoise).
TEMPLATE_FREQUENCIES = (100, 143, 217, 353)
#: Highest ell of the cnoise, tSZ, kSZ and tSZxCIB templates (cnoise size is fixed by clik).
TEMPLATE_LMAX = 3000
#: Highest ell of the CIB template (clik reads 10001 x 4 x 4 values).
CIB_TEMPLATE_LMAX = 10000

#: The 47 extra parameters of plik_rd12_HM_v22b_TTTEEE, in file order.
PARAMETER_NAMES = (
    "A_cib_217", "cib_index", "xi_sz_cib", "A_sz", "ps_A_100_100", "ps_A_143_143",
    "ps_A_143_217", "ps_A_217_217", "ksz_norm", "gal545_A_100", "gal545_A_143",
    "gal545_A_143_217", "gal545_A_217", "galf_EE_A_100", "galf_EE_A_100_143",
    "galf_EE_A_100_217", "galf_EE_A_143", "galf_EE_A_143_217", "galf_EE_A_217",
    "galf_EE_index", "galf_TE_A_100", "galf_TE_A_100_143", "galf_TE_A_100_217",
    "galf_TE_A_143", "galf_TE_A_143_217", "galf_TE_A_217", "galf_TE_index",
    "A_cnoise_e2e_100_100_EE", "A_cnoise_e2e_143_143_EE", "A_cnoise_e2e_217_217_EE",
    "A_sbpx_100_100_TT", "A_sbpx_143_143_TT", "A_sbpx_143_217_TT", "A_sbpx_217_217_TT",
    "A_sbpx_100_100_EE", "A_sbpx_100_143_EE", "A_sbpx_100_217_EE", "A_sbpx_143_143_EE",
    "A_sbpx_143_217_EE", "A_sbpx_217_217_EE", "calib_100T", "calib_217T", "calib_100P",
    "calib_143P", "calib_217P", "A_pol", "A_planck",
)  # fmt: skip

#: Default values: Planck's fixed values and Gaussian-prior means; for the uniform-prior
#: parameters (A_cib_217, xi_sz_cib, A_sz, ksz_norm, ps_A_*) the Planck 2018 best fit
#: used in Cobaya's regression test.
DEFAULT_VALUES = {
    "A_cib_217": 46.1, "cib_index": -1.3, "xi_sz_cib": 0.66, "A_sz": 7.08,
    "ps_A_100_100": 248.2, "ps_A_143_143": 50.7, "ps_A_143_217": 53.3, "ps_A_217_217": 121.9,
    "ksz_norm": 0.0,
    "gal545_A_100": 8.6, "gal545_A_143": 10.6, "gal545_A_143_217": 23.5, "gal545_A_217": 91.9,
    "galf_EE_A_100": 0.055, "galf_EE_A_100_143": 0.040, "galf_EE_A_100_217": 0.094,
    "galf_EE_A_143": 0.086, "galf_EE_A_143_217": 0.21, "galf_EE_A_217": 0.70,
    "galf_EE_index": -2.4,
    "galf_TE_A_100": 0.13, "galf_TE_A_100_143": 0.13, "galf_TE_A_100_217": 0.46,
    "galf_TE_A_143": 0.207, "galf_TE_A_143_217": 0.69, "galf_TE_A_217": 1.938,
    "galf_TE_index": -2.4,
    "A_cnoise_e2e_100_100_EE": 1.0, "A_cnoise_e2e_143_143_EE": 1.0,
    "A_cnoise_e2e_217_217_EE": 1.0,
    "A_sbpx_100_100_TT": 1.0, "A_sbpx_143_143_TT": 1.0, "A_sbpx_143_217_TT": 1.0,
    "A_sbpx_217_217_TT": 1.0,
    "A_sbpx_100_100_EE": 1.0, "A_sbpx_100_143_EE": 1.0, "A_sbpx_100_217_EE": 1.0,
    "A_sbpx_143_143_EE": 1.0, "A_sbpx_143_217_EE": 1.0, "A_sbpx_217_217_EE": 1.0,
    "calib_100T": 1.0002, "calib_217T": 0.99805, "calib_100P": 1.021, "calib_143P": 0.966,
    "calib_217P": 1.04, "A_pol": 1.0, "A_planck": 1.0,
}  # fmt: skip

# --- made-up template shapes (D_ell per unit amplitude, =1 at the pivot) -----------------

#: CIB: sqrt(D_ff / D_217x217) in muK^2 units, per frequency (fully correlated).
CIB_SED = {100: 0.12, 143: 0.32, 217: 1.0, 353: 6.0}
#: clik's default conversion factors muK_CMB per MJy/sr (written to the file explicitly).
CIB_MUK_PER_MJY = {100: 4096.68168783e-6, 143: 2690.05218701e-6, 217: 2067.43988919e-6,
                   353: 3478.86588972e-6}  # fmt: skip
CIB_INDEX_REF = -1.3
#: tSZ colour corrections and tSZxCIB frequency scalings (clik's defaults, written explicitly).
SZ_COLOR_TO_143 = {100: 0.981, 143: 0.975}
SZXCIB_TO_217 = {100: 0.022, 143: 0.094, 353: 46.8}
#: Power-law slopes of D_ell: kSZ (ell/3000)^0.3, TT dust (ell/200)^-0.63 (C_ell ~ ell^-2.63).
KSZ_SLOPE, DUST_TT_SLOPE = 0.3, -0.63
#: Polarized dust: clik's power law (ell / 500)^index / (500 * 501 / 2pi) in C_ell.
GALF_PIVOT = 500
#: Correlated-noise residual (e2e) in EE autos: D_ell = a (ell / 2000)^2 [muK^2].
E2E_EE_AMPLITUDE = {100: 0.5, 143: 0.2, 217: 0.6}
#: Sub-pixel effect: D_ell = a (ell / 2000)^2 [muK^2] per frequency pair.
SBPX_TT_AMPLITUDE = {(100, 100): 2.0, (143, 143): 1.0, (143, 217): 1.5, (217, 217): 3.0}
SBPX_EE_AMPLITUDE = {(100, 100): 0.06, (100, 143): 0.03, (100, 217): 0.04, (143, 143): 0.02,
                     (143, 217): 0.03, (217, 217): 0.08}  # fmt: skip
TT_PAIRS = ((100, 100), (143, 143), (143, 217), (217, 217))
POL_PAIRS = ((100, 100), (100, 143), (100, 217), (143, 143), (143, 217), (217, 217))


def _power_law(ell: np.ndarray, pivot: float, slope: float) -> np.ndarray:
    """(ell / pivot)^slope for ell >= 1, 0 at ell = 0."""
    ell = np.asarray(ell, dtype=float)
    out = np.zeros_like(ell)
    positive = ell > 0
    out[positive] = (ell[positive] / pivot) ** slope
    return out


def tsz_shape(ell: np.ndarray) -> np.ndarray:
    """tSZ D_ell shape, 1 at ell = 3000: 2x / (1 + x), x = ell / 3000 (steep, then flattening)."""
    x = np.asarray(ell, dtype=float) / 3000
    return 2 * x / (1 + x)


def szxcib_shape(ell: np.ndarray) -> np.ndarray:
    """tSZxCIB D_ell shape, 1 at ell = 3000: geometric mean of the tSZ and CIB D_ell shapes."""
    cib_dl = _power_law(ell, 3000, CIB_INDEX_REF + 2)
    return np.sqrt(tsz_shape(ell) * cib_dl)


def residual_shape(ell: np.ndarray) -> np.ndarray:
    """Correlated-noise and sub-pixel residual D_ell shape: (ell / 2000)^2."""
    return _power_law(ell, 2000, 2.0)


def sz_spectrum(frequency: float, reference: float = 143.0) -> float:
    """tSZ spectral dependence in CMB temperature units, normalized at ``reference`` GHz."""

    def shape(nu: float) -> float:
        x = nu / 56.78
        return 2.0 - (x / 2) / np.tanh(x / 2)

    return shape(frequency) / shape(reference)


def szxcib_normalization() -> np.ndarray:
    """Frequency matrix (M, M) of the tSZxCIB correlation term, as clik's gibXsz builds it."""
    sz_color = np.array([SZ_COLOR_TO_143.get(f, 1.0) for f in MAP_FREQUENCIES])
    to_217 = np.array([0.0 if f == 100 else SZXCIB_TO_217.get(f, 1.0) for f in MAP_FREQUENCIES])
    sz = np.array([sz_spectrum(f) for f in MAP_FREQUENCIES])
    scaled = (sz_color * sz)[:, None] * to_217[None, :]
    return np.sqrt(scaled) + np.sqrt(scaled.T)


def _pair_matrix(amplitudes: Mapping[tuple[int, int], float], block: str) -> np.ndarray:
    """(M, M) symmetric matrix holding per-frequency-pair amplitudes in the TT, EE or TE block."""
    rows = range(N_T) if block in ("TT", "TE") else range(N_T, M)
    cols = range(N_T) if block == "TT" else range(N_T, M)
    matrix = np.zeros((M, M))
    for i in rows:
        for j in cols:
            key = tuple(sorted((MAP_FREQUENCIES[i], MAP_FREQUENCIES[j])))
            value = amplitudes.get(key, 0.0)
            matrix[i, j] = matrix[j, i] = value
    return matrix


def pair_name(prefix: str, f1: int, f2: int, short_autos: bool = True) -> str:
    """Parameter name of a frequency pair: ``prefix100`` (auto, short form) or ``prefix100_143``."""
    return f"{prefix}{f1}" if short_autos and f1 == f2 else f"{prefix}{f1}_{f2}"


def foreground_cl(params: Mapping[str, float], ell: np.ndarray) -> np.ndarray:
    """Sum of all additive foregrounds, C_ell [muK^2], shape (len(ell), M, M), uncalibrated.

    ``params`` holds the 47 nuisance parameters by name; ``ell`` is an int array.
    """
    ell = np.asarray(ell)
    cl_per_dl = 1 / llp1_over_2pi(ell)
    total = np.zeros((len(ell), M, M))

    # CIB (gcib): fully correlated, D_3000(217x217) = A_cib_217, tilt from cib_index
    sed = np.array([CIB_SED[f] for f in MAP_FREQUENCIES]) * T_ONLY
    tilt = _power_law(ell, 3000, params["cib_index"] - CIB_INDEX_REF)
    cib_shape = _power_law(ell, 3000, CIB_INDEX_REF) * tilt / llp1_over_2pi(3000)
    total += params["A_cib_217"] * cib_shape[:, None, None] * np.outer(sed, sed)

    # tSZ x CIB (gibXsz)
    amplitude = -params["xi_sz_cib"] * np.sqrt(params["A_sz"] * params["A_cib_217"])
    shape = szxcib_shape(ell) * cl_per_dl
    norm = szxcib_normalization() * np.outer(T_ONLY, T_ONLY)
    total += amplitude * shape[:, None, None] * norm

    # tSZ (sz): D_3000 at 143 GHz = A_sz
    sz = np.array([SZ_COLOR_TO_143.get(f, 1.0) * sz_spectrum(f) for f in MAP_FREQUENCIES])
    sz *= T_ONLY
    shape = tsz_shape(ell) * cl_per_dl
    total += params["A_sz"] * shape[:, None, None] * np.outer(sz, sz)

    # point sources: flat C_ell, D_3000 = ps_A_f1_f2
    ps = _pair_matrix(
        {p: params[pair_name("ps_A_", *p, short_autos=False)] for p in TT_PAIRS}, "TT"
    )
    total += ps[None, :, :] / llp1_over_2pi(3000)

    # kSZ: frequency independent, D_3000 = ksz_norm
    shape = _power_law(ell, 3000, KSZ_SLOPE) * cl_per_dl
    total += params["ksz_norm"] * shape[:, None, None] * np.outer(T_ONLY, T_ONLY)

    # Galactic dust in TT: D_200 = gal545_A_*
    dust = _pair_matrix({p: params[pair_name("gal545_A_", *p)] for p in TT_PAIRS}, "TT")
    shape = _power_law(ell, 200, DUST_TT_SLOPE) * cl_per_dl
    total += shape[:, None, None] * dust

    # polarized dust (clik's power law, free emissivity per pair)
    for block, prefix in (("EE", "galf_EE_A_"), ("TE", "galf_TE_A_")):
        dust = _pair_matrix({p: params[pair_name(prefix, *p)] for p in POL_PAIRS}, block)
        index = params[f"galf_{block}_index"]
        shape = (ell / GALF_PIVOT) ** index / llp1_over_2pi(GALF_PIVOT)
        total += shape[:, None, None] * dust

    # correlated-noise and sub-pixel residuals: D_ell ~ ell^2
    shape = residual_shape(ell) * cl_per_dl
    e2e = {(f, f): params[f"A_cnoise_e2e_{f}_{f}_EE"] * a for f, a in E2E_EE_AMPLITUDE.items()}
    sbpx_tt = {p: params[f"A_sbpx_{p[0]}_{p[1]}_TT"] * a for p, a in SBPX_TT_AMPLITUDE.items()}
    sbpx_ee = {p: params[f"A_sbpx_{p[0]}_{p[1]}_EE"] * a for p, a in SBPX_EE_AMPLITUDE.items()}
    residual = _pair_matrix(e2e, "EE") + _pair_matrix(sbpx_tt, "TT") + _pair_matrix(sbpx_ee, "EE")
    total += shape[:, None, None] * residual
    return total


def calibration(params: Mapping[str, float]) -> np.ndarray:
    """Multiplicative (M, M) factor applied to the model: map calibrations, A_pol, A_planck."""
    map_calib = np.array(
        [params["calib_100T"], 1.0, params["calib_217T"]]
        + [params[f"calib_{f}P"] for f in (100, 143, 217)]
    )
    per_map = 1 / np.sqrt(map_calib)
    pol = np.ones(M)
    pol[N_T:] = 1 / params["A_pol"]
    return np.outer(per_map * pol, per_map * pol) / params["A_planck"] ** 2


# --- writing the smica components ---------------------------------------------------------


def _cib_template() -> np.ndarray:
    """gcib template (10001, 4, 4): CIB C_ell shape times the SED in intensity units."""
    ell = np.arange(CIB_TEMPLATE_LMAX + 1)
    conv = CIB_MUK_PER_MJY
    intensity = np.array([CIB_SED[f] * conv[217] / conv[f] for f in TEMPLATE_FREQUENCIES])
    shape = _power_law(ell, 3000, CIB_INDEX_REF)
    return shape[:, None, None] * np.outer(intensity, intensity)[None, :, :]


def _cnoise_template(
    amplitudes: Mapping[tuple[int, int], float], block: str, shape: np.ndarray
) -> np.ndarray:
    """cnoise template (3001, 12, 12): C_ell per unit amplitude, index [ell, f + 4 teb]."""
    template = np.zeros((TEMPLATE_LMAX + 1, 12, 12))
    teb = {"TT": (0, 0), "EE": (1, 1)}[block]
    for (f1, f2), value in amplitudes.items():
        i = TEMPLATE_FREQUENCIES.index(f1) + 4 * teb[0]
        j = TEMPLATE_FREQUENCIES.index(f2) + 4 * teb[1]
        template[:, i, j] = template[:, j, i] = value * shape
    return template


def _write_parametric(
    group: Group,
    keys: tuple[str, ...],
    defaults: Mapping[str, float | int] | None = None,
    rename: Mapping[str, str] | None = None,
    dfreq: tuple[int, ...] = MAP_FREQUENCIES,
    color: np.ndarray | None = None,
    template: np.ndarray | None = None,
) -> None:
    """Fill a parametric smica component group: parameter keys, internal defaults, renames,
    frequencies of the maps, optional colour (per-map factor) and template."""
    group.names("keys", keys)
    defaults = defaults or {}
    group.text("defaults", "".join(f"{k}\0" for k in defaults))
    group.text("values", "".join(f"{v!r}\0" for v in defaults.values()))
    group.array("dfreq", np.array(dfreq, dtype=float))
    if rename:
        group.names("rename_from", list(rename))
        group.names("rename_to", list(rename.values()))
    if color is not None:
        group.array("color", color)
    if template is not None:
        group.array("template", np.ravel(template), compress=template.size > 10000)


def _cnoise_rename(
    keys: tuple[str, ...], pairs: tuple[tuple[int, int], ...], spectrum: str
) -> dict[str, str]:
    """External names -> clik's cnoise names ``A_cnoise_<f1>_<f2>_<spectrum>``."""
    return {k: f"A_cnoise_{f1}_{f2}_{spectrum}" for k, (f1, f2) in zip(keys, pairs, strict=True)}


def write_components(lkl: Group) -> int:
    """Write smica components 0..14 into ``lkl``; return n_component (15, counting the CMB).

    Their parameters, in order, are exactly :data:`PARAMETER_NAMES`.
    """
    groups = []

    def component(component_type: str) -> Group:
        group = lkl.group(f"component_{len(groups)}")
        group.set("component_type", component_type)
        groups.append(group)
        return group

    component("cmb")  # the CMB itself; clik skips component_0
    ell = np.arange(TEMPLATE_LMAX + 1)
    d_to_c = np.zeros(TEMPLATE_LMAX + 1)
    d_to_c[1:] = 1 / llp1_over_2pi(ell[1:])

    cib_defaults = {f"gib_muK_MJ-2sr_{f}": v for f, v in CIB_MUK_PER_MJY.items()}
    cib_defaults.update(gib_rigid=217, gib_l_pivot=3000, gib_index_ref=CIB_INDEX_REF)
    _write_parametric(
        component("gcib"),
        ("A_cib_217", "cib_index"),
        cib_defaults,
        rename={"A_cib_217": "A_gib_217", "cib_index": "gib_index"},
        color=T_ONLY,
        template=_cib_template(),
    )
    szxcib_defaults = {f"sz_color_{f}_to_143": v for f, v in SZ_COLOR_TO_143.items()}
    szxcib_defaults.update({f"gibXsz_{f}_to_217": v for f, v in SZXCIB_TO_217.items()})
    szxcib_defaults["no_szxcib_100"] = 1
    _write_parametric(
        component("gibXsz"),
        ("A_cib_217", "xi_sz_cib", "A_sz"),
        szxcib_defaults,
        color=T_ONLY,
        template=szxcib_shape(ell[2:]),  # D_ell from ell = 2
    )
    sz_defaults = {f"sz_color_{f}_to_143": v for f, v in SZ_COLOR_TO_143.items()}
    _write_parametric(
        component("sz"), ("A_sz",), sz_defaults, color=T_ONLY, template=tsz_shape(ell[2:])
    )
    _write_parametric(
        component("pointsource"),
        tuple(pair_name("ps_A_", *p, short_autos=False) for p in TT_PAIRS),
        {"ps_l_pivot": 3000},
        color=T_ONLY,
    )
    _write_parametric(
        component("ksz"),
        ("ksz_norm",),
        dfreq=MAP_FREQUENCIES[:N_T],  # clik's ksz fills the first 3 maps only
        template=_power_law(ell, 3000, KSZ_SLOPE),  # D_ell from ell = 0
    )

    keys = tuple(pair_name("gal545_A_", *p) for p in TT_PAIRS)
    dust = _power_law(ell, 200, DUST_TT_SLOPE) * d_to_c
    _write_parametric(
        component("cnoise"),
        keys,
        {"cnoise_abs": 0},
        rename=_cnoise_rename(keys, TT_PAIRS, "TT"),
        template=_cnoise_template(dict.fromkeys(TT_PAIRS, 1.0), "TT", dust),
    )
    for kind, spectrum in ((1, "EE"), (3, "TE")):
        keys = tuple(pair_name(f"galf_{spectrum}_A_", *p) for p in POL_PAIRS)
        keys += (f"galf_{spectrum}_index",)
        internal = [k.replace(f"galf_{spectrum}_", "pwfe_XX_") for k in keys]
        _write_parametric(
            component("powerlaw_free_emissivity_XX"),
            keys,
            {"pwfe_XX_kind": kind, "pwfe_XX_l_pivot": GALF_PIVOT, "pwfe_XX_l2_norm": 1},
            rename=dict(zip(keys, internal, strict=True)),
        )

    residual = residual_shape(ell) * d_to_c
    e2e = {(f, f): a for f, a in E2E_EE_AMPLITUDE.items()}
    for prefix, spectrum, amplitudes in (
        ("A_cnoise_e2e", "EE", e2e),
        ("A_sbpx", "TT", SBPX_TT_AMPLITUDE),
        ("A_sbpx", "EE", SBPX_EE_AMPLITUDE),
    ):
        keys = tuple(f"{prefix}_{f1}_{f2}_{spectrum}" for f1, f2 in amplitudes)
        _write_parametric(
            component("cnoise"),
            keys,
            {"cnoise_abs": 0},
            rename=_cnoise_rename(keys, tuple(amplitudes), spectrum),
            template=_cnoise_template(amplitudes, spectrum, residual),
        )

    # calibrations: per map (model / sqrt(c_i c_j)), polarization efficiency, overall Planck
    group = component("icalTP")
    group.names("names", ("calib_100T", "calib_217T", "calib_100P", "calib_143P", "calib_217P"))
    group.array("im", [0, 2, 3, 4, 5])  # the maps they calibrate
    weights = np.zeros((M, M, 2))
    weights[:, :, 0] = 1.0  # no averaging with another entry ("other" is the identity)
    group.array("w", weights.ravel())
    group.array("other", np.moveaxis(np.indices((M, M)), 0, -1).ravel())
    component("totcalP").names("calnameP", ("A_pol",))
    component("totcal").names("calname", ("A_planck",))
    return len(groups)
