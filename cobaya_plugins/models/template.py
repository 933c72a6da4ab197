r"""A fast analytic model: the shipped fiducial spectrum with an amplitude and a tilt.

.. math::

    C_\ell^{XY} = A \left(\frac{\ell}{\ell_p}\right)^{n} C_\ell^{XY,\mathrm{fid}},
    \qquad XY \in \{TT, EE, BB, TE\},\ \ell \ge 2,

with :math:`C_\ell^\mathrm{fid}` the fiducial CLASS Planck-2018 spectrum of
:func:`cobaya_plugins.fiducial.load_fiducial` (µK², ell ≤ 2600), amplitude A, tilt n and pivot
:math:`\ell_p`. A = 1, n = 0 gives the fiducial back. One call takes microseconds, for demos and
tests of :class:`~cobaya_plugins.theories.CallableCls` (``units: muK2``, ``ell_factor: false``).
"""

from __future__ import annotations

import functools

import numpy as np

from cobaya_plugins.fiducial import load_fiducial


@functools.cache
def _fiducial() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(ell, fiducial C_ell in µK²), read once per process; read-only arrays."""
    cls = load_fiducial()
    for values in cls.values():
        values.flags.writeable = False
    ell = np.arange(len(cls["tt"]), dtype=float)
    ell.flags.writeable = False
    return ell, cls


def scaled(
    amplitude: float = 1.0, tilt: float = 0.0, ell_pivot: float = 500.0
) -> dict[str, np.ndarray | dict[str, float]]:
    """Fiducial C_ell times ``amplitude``·(ell/``ell_pivot``)^``tilt`` (module docstring).

    Returns ``{"tt", "ee", "bb", "te"}``: C_ell in µK², shape (2601,), ell = 0..2600 (zero at
    ell < 2), and ``"derived": {"sigma_T": ...}``, the rms temperature fluctuation of the model
    in µK, sqrt(Σ_{ell≥2} (2ell+1) C_ell^TT / 4π) up to ell = 2600.
    """
    if not ell_pivot > 0:
        raise ValueError(f"ell_pivot must be positive, got {ell_pivot!r}.")
    ell, fiducial = _fiducial()
    factor = np.zeros_like(ell)
    factor[2:] = amplitude * (ell[2:] / ell_pivot) ** tilt
    out: dict[str, np.ndarray | dict[str, float]] = {k: v * factor for k, v in fiducial.items()}
    sigma_T = np.sqrt(np.sum((2 * ell + 1) * out["tt"]) / (4 * np.pi))
    out["derived"] = {"sigma_T": float(sigma_T)}
    return out


def scaled_jax(amplitude=1.0, tilt=0.0, ell_pivot: float = 500.0):
    """:func:`scaled` written with ``jax.numpy``: differentiable, for ``CallableCls`` with
    ``jax: true`` (the gradient samplers, docs/gradients.md). Same arguments and output (JAX
    arrays; ``sigma_T`` a JAX scalar)."""
    import jax.numpy as jnp

    ell, fiducial = _fiducial()
    factor = jnp.where(ell >= 2, amplitude * (jnp.maximum(ell, 2.0) / ell_pivot) ** tilt, 0.0)
    out = {k: jnp.asarray(v) * factor for k, v in fiducial.items()}
    out["derived"] = {"sigma_T": jnp.sqrt(jnp.sum((2 * ell + 1) * out["tt"]) / (4 * jnp.pi))}
    return out
