"""Planck 2018 high-ell TT+TE+EE likelihood (plik, ell 30–2508, 47 nuisance parameters)."""

from cobaya_plugins.planck.Clik import Clik
from cobaya_plugins.planck.installable import PlanckInstallable


class HighlTTTEEE(PlanckInstallable, Clik):
    """plik TTTEEE (``plik_rd12_HM_v22b_TTTEEE.clik``) with the 47 nuisance parameters, their
    recommended priors and fixed values, and the joint SZ prior. Options: ``HighlTTTEEE.yaml``."""

    _lkl_types = ("smica",)
