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

from cobaya_plugins.versions import require

require("cobaya")  # the classes rely on Cobaya's internals: a clear error on another version

from cobaya_plugins.theories.CallableCls import CallableCls  # noqa: E402
from cobaya_plugins.theories.CosmoPower import CosmoPower  # noqa: E402
from cobaya_plugins.theories.errors import CosmoComputationError  # noqa: E402
from cobaya_plugins.theories.ModifiedClassy import ModifiedClassy  # noqa: E402

__all__ = ["CallableCls", "CosmoComputationError", "CosmoPower", "ModifiedClassy"]
