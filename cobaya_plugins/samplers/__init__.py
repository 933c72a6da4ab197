"""Cobaya samplers on a model's differentiable (JAX) log-posterior: :class:`HMC` (NUTS) and
:class:`BestFit` (L-BFGS best fit with the Hessian), used as ``sampler:
{cobaya_plugins.samplers.HMC: {...}}``. See docs/gradients.md."""

from cobaya_plugins.samplers.BestFit import BestFit
from cobaya_plugins.samplers.HMC import HMC

__all__ = ["BestFit", "HMC"]
