"""Cobaya likelihood classes for Planck clik files (use as ``cobaya_plugins.planck.<Class>``)."""

from .Clik import Clik
from .HighlTTTEEE import HighlTTTEEE
from .HighlTTTEEELite import HighlTTTEEELite
from .Lensing import Lensing
from .LowlTT import LowlTT

__all__ = ["Clik", "HighlTTTEEE", "HighlTTTEEELite", "Lensing", "LowlTT"]
