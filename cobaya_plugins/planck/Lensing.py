"""Planck 2018 CMB lensing likelihood (``clik_lensing`` files, e.g. the T+P baseline)."""

from cobaya_plugins.planck.Clik import Clik
from cobaya_plugins.planck.installable import PlanckInstallable


class Lensing(PlanckInstallable, Clik):
    """clik lensing file (``smicadx12_Dec5_ftl_mv2_ndclpp_p_teb_consext8.clik_lensing``).

    The call vector starts with the lensing-potential spectrum C^φφ (dimensionless, as
    Cobaya's ``get_Cl()["pp"]``), then the CMB spectra the file's linear corrections need
    (C_ell in FIRAS µK²), then ``A_planck``. Options: ``Lensing.yaml``. ``cobaya-install``
    fetches the Planck 2018 baseline product (see :mod:`.installable`).
    """

    _lkl_types = ("lensing",)
