"""Published Planck 2018 facts typed in for the tests (independent of the package's YAML).

Sources: the extra parameters of ``plik_rd12_HM_v22b_TTTEEE.clik`` as clik lists them (Planck
Legacy Archive, COM_Likelihood_Data-baseline_R3.00), and the Planck 2018 recommended priors
(Planck 2018 results V, arXiv:1907.12875, Table 16; Cobaya's ``planck_2018_highl_plik``
defaults follow the same treatment).
"""

#: The 47 nuisance parameters of plik_rd12_HM_v22b_TTTEEE in the file's order, and the 21 that
#: Planck 2018 samples (Planck 2018 V; Cobaya's defaults), typed here from the published list.
PLIK_NAMES = """A_cib_217 cib_index xi_sz_cib A_sz ps_A_100_100 ps_A_143_143 ps_A_143_217
ps_A_217_217 ksz_norm gal545_A_100 gal545_A_143 gal545_A_143_217 gal545_A_217 galf_EE_A_100
galf_EE_A_100_143 galf_EE_A_100_217 galf_EE_A_143 galf_EE_A_143_217 galf_EE_A_217 galf_EE_index
galf_TE_A_100 galf_TE_A_100_143 galf_TE_A_100_217 galf_TE_A_143 galf_TE_A_143_217 galf_TE_A_217
galf_TE_index A_cnoise_e2e_100_100_EE A_cnoise_e2e_143_143_EE A_cnoise_e2e_217_217_EE
A_sbpx_100_100_TT A_sbpx_143_143_TT A_sbpx_143_217_TT A_sbpx_217_217_TT A_sbpx_100_100_EE
A_sbpx_100_143_EE A_sbpx_100_217_EE A_sbpx_143_143_EE A_sbpx_143_217_EE A_sbpx_217_217_EE
calib_100T calib_217T calib_100P calib_143P calib_217P A_pol A_planck""".split()
PLIK_SAMPLED = """A_planck calib_100T calib_217T A_cib_217 xi_sz_cib A_sz ksz_norm gal545_A_100
gal545_A_143 gal545_A_143_217 gal545_A_217 ps_A_100_100 ps_A_143_143 ps_A_143_217 ps_A_217_217
galf_TE_A_100 galf_TE_A_100_143 galf_TE_A_100_217 galf_TE_A_143 galf_TE_A_143_217
galf_TE_A_217""".split()


#: The 26 parameters Planck 2018 fixes, with their values.
PLIK_FIXED = {
    "A_pol": 1.0, "calib_100P": 1.021, "calib_143P": 0.966, "calib_217P": 1.04,
    "cib_index": -1.3, "galf_TE_index": -2.4, "galf_EE_index": -2.4,
    "galf_EE_A_100": 0.055, "galf_EE_A_100_143": 0.04, "galf_EE_A_100_217": 0.094,
    "galf_EE_A_143": 0.086, "galf_EE_A_143_217": 0.21, "galf_EE_A_217": 0.70,
    **{f"A_sbpx_{pair}_TT": 1.0 for pair in ("100_100", "143_143", "143_217", "217_217")},
    **{f"A_cnoise_e2e_{f}_{f}_EE": 1.0 for f in (100, 143, 217)},
    **{f"A_sbpx_{pair}_EE": 1.0
       for pair in ("100_100", "100_143", "100_217", "143_143", "143_217", "217_217")},
}  # fmt: skip

#: The priors of the 21 sampled ones: ("norm", mean, sigma) or ("uniform", min, max).
PLIK_PRIORS = {
    "A_planck": ("norm", 1.0, 0.0025), "calib_100T": ("norm", 1.0002, 0.0007),
    "calib_217T": ("norm", 0.99805, 0.00065), "A_cib_217": ("uniform", 0, 200),
    "xi_sz_cib": ("uniform", 0, 1), "A_sz": ("uniform", 0, 10), "ksz_norm": ("uniform", 0, 10),
    "gal545_A_100": ("norm", 8.6, 2), "gal545_A_143": ("norm", 10.6, 2),
    "gal545_A_143_217": ("norm", 23.5, 8.5), "gal545_A_217": ("norm", 91.9, 20),
    "ps_A_100_100": ("uniform", 0, 400), "ps_A_143_143": ("uniform", 0, 400),
    "ps_A_143_217": ("uniform", 0, 400), "ps_A_217_217": ("uniform", 0, 400),
    "galf_TE_A_100": ("norm", 0.13, 0.042), "galf_TE_A_100_143": ("norm", 0.13, 0.036),
    "galf_TE_A_100_217": ("norm", 0.46, 0.09), "galf_TE_A_143": ("norm", 0.207, 0.072),
    "galf_TE_A_143_217": ("norm", 0.69, 0.09), "galf_TE_A_217": ("norm", 1.938, 0.54),
}  # fmt: skip
