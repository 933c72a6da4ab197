"""Cobaya likelihood classes for Planck clik files (use as ``cobaya_plugins.planck.<Class>``)."""

from cobaya_plugins.planck.Clik import Clik
from cobaya_plugins.planck.HighlTTTEEE import HighlTTTEEE
from cobaya_plugins.planck.HighlTTTEEELite import HighlTTTEEELite
from cobaya_plugins.planck.Lensing import Lensing
from cobaya_plugins.planck.LowlTT import LowlTT

__all__ = ["Clik", "HighlTTTEEE", "HighlTTTEEELite", "Lensing", "LowlTT"]
