"""Cobaya theories for models Cobaya does not include.

:class:`CallableCls`
    CMB spectra from a user's Python function (``cobaya_plugins.theories.CallableCls``).
:class:`ModifiedClassy`
    Cobaya's classy for modified CLASS builds, with extra inputs/derived parameters and a
    post-processing function (``cobaya_plugins.theories.ModifiedClassy``).
:class:`CosmoPower`
    Lensed CMB spectra from the CosmoPower neural emulators, milliseconds per point
    (``cobaya_plugins.theories.CosmoPower``; needs the optional extra ``emulator``).
"""

from cobaya_plugins.theories.CallableCls import CallableCls
from cobaya_plugins.theories.CosmoPower import CosmoPower
from cobaya_plugins.theories.errors import CosmoComputationError
from cobaya_plugins.theories.ModifiedClassy import ModifiedClassy

__all__ = ["CallableCls", "CosmoComputationError", "CosmoPower", "ModifiedClassy"]
