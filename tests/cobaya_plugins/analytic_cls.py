r"""An analytic exact theory for the online emulator's tests, with an independent call counter.

The spectra are the shipped fiducial ones with an amplitude, a tilt and a stretch of the
acoustic scale (peaks move, as with θ_s):

.. math:: D_\ell^{XY} = A\,(\ell/500)^{n}\,D^{XY,\mathrm{fid}}(s\,\ell),

D^fid a cubic spline of the fiducial D_ell (µK²) through ell = 2..2600. A = 1, n = 0, s = 1 is the
fiducial, i.e. the mock data's truth. Smooth in (A, n, s), non-linear in s. For
``CallableCls`` with ``units: muK2, ell_factor: true``; importable as ``analytic_cls`` (the tests
directory is on the path).

Every call is counted in :data:`CALLS` and, when the environment variable ``ANALYTIC_CLS_COUNT``
names a file, one line is appended to it (O_APPEND: safe from several processes), so tests count
exact calls independently of the emulator's own report.
"""

import functools
import os
import time

import numpy as np
from call_count import count_call
from cobaya.theory import Theory
from scipy.interpolate import CubicSpline

from cobaya_plugins.fiducial import load_fiducial

#: Exact calls made in this process.
CALLS = [0]
#: Highest ell returned.
LMAX = 2508


@functools.cache
def _splines():
    cls = load_fiducial()
    ell = np.arange(len(cls["tt"]))
    dl = ell * (ell + 1) / (2 * np.pi)
    return {s: CubicSpline(ell[2:], (cls[s] * dl)[2:]) for s in ("tt", "te", "ee")}


def _count():
    CALLS[0] += 1
    count_call("ANALYTIC_CLS_COUNT")


def spectra(amp=1.0, tilt=0.0, stretch=1.0):
    """D_ell (µK²) of TT, TE, EE from ell = 0 to :data:`LMAX` (module docstring), and the derived
    ``sigma_T`` (rms temperature in µK over 2 <= ell <= LMAX)."""
    _count()
    delay = float(os.environ.get("ANALYTIC_CLS_DELAY", "0"))
    if delay:
        time.sleep(delay)
    ell = np.arange(LMAX + 1, dtype=float)
    factor = np.zeros(LMAX + 1)
    factor[2:] = amp * (ell[2:] / 500.0) ** tilt
    out = {s: factor * spline(stretch * ell) for s, spline in _splines().items()}
    cl_tt = np.zeros(LMAX + 1)
    cl_tt[2:] = out["tt"][2:] * 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    out["derived"] = {"sigma_T": float(np.sqrt(np.sum((2 * ell + 1) * cl_tt) / (4 * np.pi)))}
    return out


def failing(amp=1.0, tilt=0.0, stretch=1.0):
    """:func:`spectra`, but raising ValueError for ``stretch > 1.02`` (a model that cannot be
    computed there, like CLASS outside its ranges)."""
    if stretch > 1.02:
        _count()
        raise ValueError(f"stretch {stretch} > 1.02 is not supported")
    return spectra(amp, tilt, stretch)


class NoCl(Theory):
    """A theory that computes a derived parameter but no spectra (for the failure-path test)."""

    params = {"x": None, "y": {"derived": True}}

    def calculate(self, state, want_derived=True, **params_values):
        state["derived"] = {"y": 2 * params_values["x"]}
