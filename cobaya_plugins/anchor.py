"""Anchoring an emulator on CLASS: one CLASS run removes most of the emulator's systematic error.

The CosmoPower networks emulate CLASS with their own training settings (massless neutrinos,
linear lensing; docs/emulator.md). Against CLASS with Planck's baseline physics (one 0.06 eV
neutrino, HMcode) they are off by a smooth, nearly parameter-independent factor: Δχ² ≈ 17 ± 6 on
the mock plik_lite over posterior draws. :class:`AnchorCorrection` measures that factor once, at
one point θ₀ (by default the Planck 2018 best fit), and applies it everywhere:

* TT, EE, φφ:  C_ell(θ) = C_ell^emu(θ) · C_ell^CLASS(θ₀) / C_ell^emu(θ₀)
* TE (crosses zero): TE(θ) = TE^emu(θ) + δ_ell · sqrt(TT^emu(θ) EE^emu(θ)), with
  δ_ell = [TE^CLASS(θ₀) − TE^emu(θ₀)] / sqrt(TT^emu(θ₀) EE^emu(θ₀)).

At θ₀ the corrected spectra equal CLASS's exactly; near θ₀ the residual is what changes with θ
(measured on the mocks: Δχ² −0.1 ± 0.8 over posterior draws instead of 17 ± 6). The cost is one
CLASS run when the theory starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from cobaya_plugins.classy_run import lensed_cl
from cobaya_plugins.planck2018 import BEST_FIT_H, CLASS_BASELINE

#: Highest multipole CLASS computes for the anchor (the emulators' last one).
ANCHOR_LMAX = 2508

#: The default anchor point: the Planck 2018 best fit, in CLASS's (the emulator's) input names.
DEFAULT_POINT = BEST_FIT_H

#: Planck's baseline physics in CLASS (one 0.06 eV neutrino, HMcode lensing): what the shipped
#: mock data were drawn from, and the usual choice for the anchor (T_cmb is set anyway).
PLANCK_BASELINE = {k: v for k, v in CLASS_BASELINE.items() if k != "T_cmb"}


def class_spectra(
    point: Mapping[str, float],
    settings: Mapping[str, float | str],
    lmax: int = ANCHOR_LMAX,
    spectra: Sequence[str] = ("tt", "te", "ee", "pp"),
) -> dict[str, np.ndarray]:
    """Lensed dimensionless C_ell from CLASS for ell = 0..lmax, shape (lmax+1,) each.

    ``point``: CLASS input names (e.g. ``omega_b``, ``h``, ``ln10^{10}A_s``); ``settings``:
    other CLASS options (``N_ur``, ``non_linear``, ...). TT, TE, EE are C_ell of ΔT/T, ``pp`` the
    lensing potential's C_ell^φφ, as ``classy``'s ``lensed_cl`` returns them (T_cmb 2.7255 K).
    The same request in one process is computed once (new arrays each call).
    """
    params = {
        "output": "tCl,pCl,lCl",
        "lensing": "yes",
        "l_max_scalars": lmax,
        "T_cmb": 2.7255,
        **settings,
        **point,
    }
    key = repr(sorted(params.items()))
    if key not in _computed:
        _computed[key] = lensed_cl(params, lmax)
    cls = _computed[key]
    return {s: np.array(cls[s]) for s in spectra}


#: CLASS results of this process, by request (a CLASS run takes 5-20 s; a test session or a
#: benchmark builds many anchored models at the same anchor).
_computed: dict[str, dict[str, np.ndarray]] = {}


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator/denominator where the denominator is non-zero, 1 elsewhere (ell 0, 1)."""
    safe = np.where(denominator != 0, denominator, 1.0)
    return np.where(denominator != 0, numerator / safe, 1.0)


@dataclass(frozen=True)
class AnchorCorrection:
    """Per-ell corrections measured at one point (arrays from ell = 0, shape (lmax+1,)).

    ``ratio``: CLASS/emulator for the spectra corrected multiplicatively (``tt``, ``ee``,
    ``pp``); ``te_shift``: δ_ell of the TE correction (module docstring), or None.
    """

    ratio: dict[str, np.ndarray]
    te_shift: np.ndarray | None

    @classmethod
    def measure(
        cls, emulated: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]
    ) -> AnchorCorrection:
        """The correction that turns ``emulated`` into ``reference`` (both at the anchor point,
        dimensionless C_ell from ell = 0, the same spectra and lengths)."""
        n = {s: len(v) for s, v in emulated.items()}
        ratio = {
            s: _ratio(np.asarray(reference[s][: n[s]], float), np.asarray(emulated[s], float))
            for s in emulated
            if s in ("tt", "ee", "pp")
        }
        te_shift = None
        if {"te", "tt", "ee"} <= set(emulated):
            scale = np.sqrt(np.abs(emulated["tt"] * emulated["ee"]))
            te_shift = _ratio(reference["te"][: n["te"]] - emulated["te"], scale)
            te_shift[scale == 0] = 0.0
        return cls(ratio=ratio, te_shift=te_shift)

    def apply(
        self, emulated: Mapping[str, np.ndarray], xp: ModuleType = np
    ) -> dict[str, np.ndarray]:
        """Corrected copies of the ``emulated`` spectra (same keys; others are passed through).

        ``xp``: the array module of the spectra (``numpy``, or ``jax.numpy`` inside a traced,
        differentiable function)."""
        out = dict(emulated)
        for s, ratio in self.ratio.items():
            if s in out:
                out[s] = out[s] * ratio
        if self.te_shift is not None and "te" in out:
            scale = xp.sqrt(xp.abs(emulated["tt"] * emulated["ee"]))
            out["te"] = emulated["te"] + self.te_shift * scale
        return out
