"""A slow stand-in for a user's theory code: ``cobaya_plugins.models.template.scaled`` after a
deliberate delay, every call counted independently of the emulator.

``scaled(amplitude, tilt)`` sleeps ``$DELAYED_MODEL_SECONDS`` seconds (default 0.2) and appends
one line to the file ``$DELAYED_MODEL_COUNT`` when that is set (O_APPEND: safe from several
processes). Importable as ``delayed_model`` (the tests directory is on the path).
"""

import os
import time

from call_count import count_call

from cobaya_plugins.models import template


def scaled(amplitude=1.0, tilt=0.0):
    """:func:`cobaya_plugins.models.template.scaled` (C_ell in µK², ell = 0..2600, and
    ``sigma_T``), slowly and counted (module docstring)."""
    count_call("DELAYED_MODEL_COUNT")
    time.sleep(float(os.environ.get("DELAYED_MODEL_SECONDS", "0.2")))
    return template.scaled(amplitude, tilt)
