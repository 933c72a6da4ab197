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


