r"""Isotropic cosmic birefringence: a rotation of the CMB polarization plane by an angle β.

A rotation of every polarization direction by β turns the E and B modes into

.. math::

    E' = E\cos 2\beta - B\sin 2\beta, \qquad B' = E\sin 2\beta + B\cos 2\beta,

so the spectra become (with :math:`c = \cos 2\beta`, :math:`s = \sin 2\beta`)

.. math::

    TE' &= TE\,c - TB\,s \\
    TB' &= TE\,s + TB\,c \\
    EE' &= EE\,c^2 + BB\,s^2 - EB\sin 4\beta \\
    BB' &= BB\,c^2 + EE\,s^2 + EB\sin 4\beta \\
    EB' &= \tfrac12 (EE - BB)\sin 4\beta + EB\cos 4\beta

and TT is unchanged. Without primordial TB and EB this is TE' = TE cos2β, TB' = TE sin2β,
EE' = EE cos²2β + BB sin²2β, BB' = BB cos²2β + EE sin²2β, EB' = ½(EE − BB) sin4β
(e.g. Lue, Wang & Kamionkowski 1999; Minami & Komatsu 2020). EE + BB is conserved, and rotating
by β₁ then β₂ equals rotating by β₁ + β₂.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def rotate(cls: Mapping[str, np.ndarray], beta_deg: float) -> dict[str, np.ndarray]:
    """Spectra after rotating the polarization plane by ``beta_deg`` degrees (module docstring).

    ``cls``: dict of spectra with (at least) ``te``, ``ee``, ``bb``, all of the same shape, in
    any one unit and as C_ell or D_ell (the rotation is linear); ``tb``/``eb`` are taken as zero
    when absent. Returns a new dict with ``te ee bb tb eb`` rotated and every other entry (``tt``,
    ``pp``, ``ell``, ...) passed through. Usable as ``postprocess`` of ``ModifiedClassy`` (then
    ``beta_deg`` is a model parameter) or inside a ``CallableCls`` function.
    """
    missing = [k for k in ("te", "ee", "bb") if k not in cls]
    if missing:
        raise ValueError(
            f"rotate needs the spectra te, ee and bb; {missing} missing (got {list(cls)}). "
            "Give bb = 0 explicitly if the model has no B modes."
        )
    te, ee, bb = (np.asarray(cls[k], dtype=float) for k in ("te", "ee", "bb"))
    tb = np.asarray(cls["tb"], dtype=float) if "tb" in cls else np.zeros_like(te)
    eb = np.asarray(cls["eb"], dtype=float) if "eb" in cls else np.zeros_like(te)
    shapes = {"te": te.shape, "ee": ee.shape, "bb": bb.shape, "tb": tb.shape, "eb": eb.shape}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"rotate needs spectra of one shape; got shapes {shapes}.")
    beta = np.deg2rad(beta_deg)
    c, s = np.cos(2 * beta), np.sin(2 * beta)
    c4, s4 = np.cos(4 * beta), np.sin(4 * beta)
    out = dict(cls)
    out["te"] = te * c - tb * s
    out["tb"] = te * s + tb * c
    out["ee"] = ee * c**2 + bb * s**2 - eb * s4
    out["bb"] = bb * c**2 + ee * s**2 + eb * s4
    out["eb"] = 0.5 * (ee - bb) * s4 + eb * c4
    return out
