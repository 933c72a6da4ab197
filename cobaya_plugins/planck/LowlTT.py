"""Planck 2018 low-ell TT likelihood (commander, ell 2–29)."""

from cobaya_plugins.planck.Clik import Clik
from cobaya_plugins.planck.installable import PlanckInstallable


class LowlTT(PlanckInstallable, Clik):
    """Commander low-l TT (``commander_dx12_v3_2_29.clik``); nuisance ``A_planck`` (shared with
    the high-l likelihoods). Options and defaults: ``LowlTT.yaml``."""

    _lkl_types = ("gibbs_gauss",)
