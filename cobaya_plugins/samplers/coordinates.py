r"""Coordinates without walls for the gradient samplers: each sampled parameter ``x`` a function
of one coordinate ``z`` in ℝ, so that prior bounds are no walls.

Hamiltonian trajectories and quasi-Newton steps move freely; a prior bound is a wall that they
hit (a rejected step, a divergence) and that a mass matrix cannot describe. Two maps:

:class:`LogitCoordinates` (``bounds: logit``, and HMC's start in every case), x a smooth function
of z:

* two-sided bounds [a, b] (uniform priors, truncated distributions): x = a + (b − a)·σ(z),
  σ the logistic function, log|dx/dz| = log(b − a) + log σ(z) + log σ(−z);
* one-sided bounds [a, ∞) or (−∞, b]: x = a + e^z or x = b − e^z, log|dx/dz| = z;
* no bounds (e.g. a normal prior): x = z.

The density of ``z`` is the posterior times |dx/dz| (the Jacobian), so samples of ``z`` mapped
back to ``x`` are samples of the posterior. Why these maps: a parameter that piles up against
a bound of its uniform prior (plik's ``xi_sz_cib`` → 1, ``ksz_norm`` → 0) has, in ``z``, a
smooth density with an exponential tail instead of a cliff; interior parameters, a few σ wide
inside a wide prior, are mapped almost linearly (their ``z`` density stays near Gaussian).

:class:`MirrorCoordinates` (``bounds: reflect``): the posterior continued by its mirror images
at the bounds (a periodic density for two-sided bounds), so that a parameter piled against a
bound becomes a symmetric bump. A chain moves freely over all the copies and ``to_x`` maps
every copy back; the parameters a sampler folds back get oblique mirrors, isometries of its
metric, so that folding commutes with every kernel and keeps it exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Kinds of map, per parameter.
IDENTITY, LOGIT, LOWER, UPPER = "identity", "logit", "lower", "upper"


class _Coordinates:
    """What both maps share: the prior bounds (shape (d, 2), ±inf where a side is open), which
    parameters have two, one or no bounds, and the density of ``z`` built from ``to_x`` and
    ``log_jacobian``."""

    def __init__(self, bounds: np.ndarray):
        self.bounds = np.asarray(bounds, dtype=float)
        low, high = self.bounds[:, 0], self.bounds[:, 1]
        self._two = np.isfinite(low) & np.isfinite(high)
        self._lower = np.isfinite(low) & ~np.isfinite(high)
        self._upper = ~np.isfinite(low) & np.isfinite(high)
        self._low = np.where(np.isfinite(low), low, 0.0)
        self._high = np.where(np.isfinite(high), high, 0.0)
        self._width = np.where(self._two, self._high - self._low, 1.0)

    def logdensity(self, logpost: Callable) -> Callable:
        """The density of ``z`` (a ``jax.numpy`` function): ``logpost(x(z)) + log|dx/dz|``."""
        import jax.numpy as jnp

        def logdensity(z):
            return logpost(self.to_x(z, jnp)) + self.log_jacobian(z, jnp)

        return logdensity


class LogitCoordinates(_Coordinates):
    """The map between sampled parameters ``x`` (shape (..., d), within ``bounds``) and ``z``
    in ℝ^d. ``bounds``: shape (d, 2), ±inf where a side is open."""

    def __init__(self, bounds: np.ndarray):
        super().__init__(bounds)
        self.kinds = [
            LOGIT if two else LOWER if lower else UPPER if upper else IDENTITY
            for two, lower, upper in zip(self._two, self._lower, self._upper, strict=True)
        ]

    def to_x(self, z: Any, xp: Any = np) -> Any:
        """Parameters from ``z`` (``xp``: ``numpy`` or ``jax.numpy``)."""
        sigmoid = 1.0 / (1.0 + xp.exp(-z))
        x = xp.where(self._two, self._low + self._width * sigmoid, z)
        x = xp.where(self._lower, self._low + xp.exp(z), x)
        return xp.where(self._upper, self._high - xp.exp(z), x)

    def to_z(self, x: np.ndarray, margin: float = 1e-12) -> np.ndarray:
        """``z`` of parameters ``x`` (numpy). Points on a bound are moved ``margin`` (relative
        to the width, or absolute for one-sided bounds) inside it, whose z is finite."""
        x = np.asarray(x, dtype=float)
        u = np.clip((x - self._low) / self._width, margin, 1 - margin)
        z = np.where(self._two, np.log(u) - np.log1p(-u), x)
        z = np.where(self._lower, np.log(np.maximum(x - self._low, margin)), z)
        return np.where(self._upper, np.log(np.maximum(self._high - x, margin)), z)

    def log_jacobian(self, z: Any, xp: Any = np) -> Any:
        """log|dx/dz| summed over the parameters (shape of ``z`` without its last axis)."""
        log_sigmoid = -xp.logaddexp(0.0, -z)
        log_sigmoid_minus = -xp.logaddexp(0.0, z)
        per = xp.where(self._two, xp.log(self._width) + log_sigmoid + log_sigmoid_minus, 0.0)
        per = xp.where(self._lower | self._upper, z, per)
        return xp.sum(per, axis=-1)

    def dx_dz(self, z: np.ndarray) -> np.ndarray:
        """dx/dz per parameter (numpy, same shape as ``z``): turns covariances between the two
        spaces to first order."""
        sigmoid = 1.0 / (1.0 + np.exp(-z))
        d = np.where(self._two, self._width * sigmoid * (1 - sigmoid), 1.0)
        d = np.where(self._lower, np.exp(z), d)
        return np.where(self._upper, -np.exp(z), d)


class MirrorCoordinates(_Coordinates):
    """The map between sampled parameters ``x`` and ``z`` in ℝ^d that continues the posterior
    by its mirror images at the prior bounds: a trajectory that reaches a bound comes back.

    Two-sided bounds [a, b]: x = a + (b − a)·tri(z), tri the unit triangle wave (tri(z) = z on
    [0, 1], 2 − z on [1, 2], period 2), so z is in units of the prior's width; one-sided bounds:
    x = a + |z − a| (or b − |b − z|); no bounds: x = z. |dx/dz| is constant, and the density of
    z is the posterior's mirror images, continuous at the bounds. Why: a posterior piled up
    against a bound (plik's ``ksz_norm`` → 0, ``xi_sz_cib`` → 1) becomes a bump across the
    bound in z, instead of the exponential tail of the logit map, in which a chain can wander
    far (measured: docs/gradients.md).

    **Oblique mirrors** (:meth:`set_oblique`) for the parameters a sampler folds: a mirror flips
    one coordinate of z, which commutes with a Hamiltonian transition only if the metric does
    not couple that coordinate to the others — and near a bound, coupled is what they are. So
    for those parameters the mirror is the reflection that is an isometry of a metric Σ (the
    start's covariance): across the bound z_i = m along v = Σ e_i / Σ_ii, z → z − 2 (z_i − m) v,
    which moves the other coordinates too. It maps a Gaussian of covariance Σ centred on the
    bound onto itself: the continuation of a posterior piled against its bound is then the
    smooth bump it would be without the bound, with the same correlations on both sides, and
    :meth:`fold` (moving chains back to the base copy) commutes with any transition whose
    metric Σ' satisfies A Σ' Aᵀ = Σ' (:meth:`symmetrize`). Every other parameter keeps the plain
    mirror, is never folded, and its chain may roam over the copies (``to_x`` maps them back).
    """

    def __init__(self, bounds: np.ndarray):
        super().__init__(bounds)
        self._oblique = np.zeros(len(self.bounds), dtype=bool)
        self._directions = np.zeros((0, len(self.bounds)))  # v of each oblique mirror, (k, d)

    def set_oblique(self, which: np.ndarray, cov: np.ndarray) -> None:
        """Make the mirrors of the parameters ``which`` (boolean, d; each with a bound)
        isometries of the metric ``cov`` (d, d), which must not couple them to each other
        (:func:`decouple_among`); before the density is first evaluated."""
        which = np.asarray(which, dtype=bool)
        if np.any(which & ~(self._two | self._lower | self._upper)):
            raise ValueError("an oblique mirror needs a prior bound")
        index = np.flatnonzero(which)
        block = cov[np.ix_(index, index)]
        if not np.allclose(block, np.diag(np.diag(block))):
            raise ValueError("the oblique mirrors' parameters must be decoupled from each other")
        self._oblique = which
        self._directions = (cov[:, index] / np.diag(cov)[index]).T

    def _base(self, z: Any, xp: Any = np) -> Any:
        """Each coordinate mirrored into the base copy on its own (plain mirrors)."""
        triangle = 1.0 - xp.abs(xp.mod(z, 2.0) - 1.0)
        base = xp.where(self._two, triangle, z)
        base = xp.where(self._lower, self._low + xp.abs(z - self._low), base)
        return xp.where(self._upper, self._high - xp.abs(self._high - z), base)

    def fold(self, z: Any, xp: Any = np) -> Any:
        """``z`` (..., d) with the oblique mirrors' coordinates moved to the base copy (along
        their directions v: the same point of the posterior); without them, ``z``."""
        if not self._oblique.any():
            return z
        index = np.flatnonzero(self._oblique)
        moves = self._base(z, xp)[..., index] - z[..., index]  # (..., k)
        return z + moves @ xp.asarray(self._directions)

    def symmetrize(self, cov: np.ndarray) -> np.ndarray:
        """``cov`` (d, d) averaged over the group of the oblique mirrors (A Σ Aᵀ, A = I − 2 v
        e_iᵀ each; they commute): a metric with which they commute."""
        d = len(cov)
        for i, v in zip(np.flatnonzero(self._oblique), self._directions, strict=True):
            mirror = np.eye(d) - 2.0 * np.outer(v, np.eye(d)[i])
            cov = 0.5 * (cov + mirror @ cov @ mirror.T)
        return 0.5 * (cov + cov.T)

    def to_x(self, z: Any, xp: Any = np) -> Any:
        """Parameters from ``z`` (``xp``: ``numpy`` or ``jax.numpy``)."""
        base = self._base(self.fold(z, xp), xp)
        return xp.where(self._two, self._low + self._width * base, base)

    def to_z(self, x: np.ndarray) -> np.ndarray:
        """``z`` of parameters ``x`` in the base copy (numpy)."""
        x = np.asarray(x, dtype=float)
        return np.where(self._two, (x - self._low) / self._width, x)

    def bound_distance(self, z: np.ndarray) -> np.ndarray:
        """Distance in z from the base-copy point of ``z`` (d,) to the nearest prior bound, per
        coordinate (inf without a bound)."""
        base = self.to_z(self.to_x(z))
        two = np.minimum(np.abs(base), np.abs(base - 1.0))
        distance = np.where(self._two, two, np.inf)
        distance = np.where(self._lower, np.abs(base - self._low), distance)
        return np.where(self._upper, np.abs(self._high - base), distance)

    def log_jacobian(self, z: Any, xp: Any = np) -> Any:
        """log|dx/dz| summed over the parameters: a constant (mirrors have |det| = 1)."""
        return xp.sum(xp.log(self._width)) + 0.0 * xp.sum(z, axis=-1)

    def dx_dz(self, z: np.ndarray) -> np.ndarray:
        """|dx/dz| per parameter in the base copy without oblique mirrors (numpy, same shape as
        ``z``): for the start, which converts covariances before they are set."""
        return np.broadcast_to(self._width, np.shape(z)).copy()


def decouple_among(cov: np.ndarray, which: np.ndarray) -> np.ndarray:
    """The covariance ``cov`` (d, d) with the couplings among the coordinates ``which``
    (boolean, d) set to zero: oblique mirrors of those coordinates then commute with each other
    (:meth:`MirrorCoordinates.set_oblique`). Their couplings to the others are kept, shrunk
    only if needed to keep the matrix positive definite."""
    among = which[:, None] & which[None, :] & ~np.eye(len(which), dtype=bool)
    result = np.where(among, 0.0, cov)
    cross = which[:, None] ^ which[None, :]
    while np.linalg.eigvalsh(result)[0] <= 1e-12 * np.trace(result):
        result = np.where(cross, 0.9 * result, result)  # shrink the couplings to the others
    return result
