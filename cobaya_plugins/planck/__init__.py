"""Cobaya likelihood classes for Planck clik files (use as ``cobaya_plugins.planck.<Class>``)."""

from cobaya_plugins.versions import require

require("cobaya")  # the classes rely on Cobaya's internals: a clear error on another version

from cobaya_plugins.planck.Clik import Clik  # noqa: E402
from cobaya_plugins.planck.HighlTTTEEE import HighlTTTEEE  # noqa: E402
from cobaya_plugins.planck.HighlTTTEEELite import HighlTTTEEELite  # noqa: E402
from cobaya_plugins.planck.Lensing import Lensing  # noqa: E402
from cobaya_plugins.planck.LowlTT import LowlTT  # noqa: E402

__all__ = ["Clik", "HighlTTTEEE", "HighlTTTEEELite", "Lensing", "LowlTT"]
