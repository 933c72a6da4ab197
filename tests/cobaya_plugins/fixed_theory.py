"""A minimal Cobaya Theory for tests: the shipped fiducial spectrum times a sampled amplitude.

Importable as ``fixed_theory.FixedCls`` when this directory is on the Python path (the tests
that run ``cobaya-run`` in a subprocess set PYTHONPATH).
"""

import time

import numpy as np
from cobaya.theory import Theory

from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.units import T_CMB_FIRAS, cl_to_dl_factor, cobaya_temperature_factor


class FixedCls(Theory):
    """C_ell = amp × fiducial (FIRAS µK²); honours get_Cl's units and ell_factor."""

    params = {"amp": None}

    def initialize(self):
        self._fid = load_fiducial(lmax=2508)

    def calculate(self, state, want_derived=True, **params_values):
        amp = params_values["amp"]
        state["Cl"] = {k: amp * v for k, v in self._fid.items()}

    def get_Cl(self, ell_factor=False, units="FIRASmuK2"):
        scale = (cobaya_temperature_factor(units, T_CMB_FIRAS) / (T_CMB_FIRAS * 1e6)) ** 2
        out = {}
        for k, v in self.current_state["Cl"].items():
            out[k] = v * scale * (cl_to_dl_factor(len(v) - 1) if ell_factor else 1)
        out["ell"] = np.arange(len(v))
        return out

    def get_can_provide(self):
        return ["Cl"]


class SlowFixedCls(FixedCls):
    """FixedCls that takes ``seconds`` per evaluation and declares speed 1 (a CLASS-like theory:
    one evaluation per second), for the fast/slow oversampling test."""

    seconds = 0.05
    speed = 1

    def calculate(self, state, want_derived=True, **params_values):
        time.sleep(self.seconds)
        super().calculate(state, want_derived, **params_values)
