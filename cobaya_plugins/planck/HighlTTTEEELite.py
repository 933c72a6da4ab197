"""Planck 2018 high-ell TT+TE+EE foreground-marginalized likelihood (plik_lite)."""

from cobaya_plugins.planck.Clik import Clik
from cobaya_plugins.planck.installable import PlanckInstallable


class HighlTTTEEELite(PlanckInstallable, Clik):
    """plik_lite TTTEEE (``plik_lite_v22_TTTEEE.clik``, 613 bins); nuisance ``A_planck``.
    Options: ``HighlTTTEEELite.yaml``."""

    _lkl_types = ("plik_cmbonly",)
