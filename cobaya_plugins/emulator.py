r"""The CosmoPower CMB emulators shipped inside the ``cosmopower-jax`` wheel, evaluated with numpy.

``pip install cosmopower-jax`` (the ``emulator`` extra of this package) installs four trained
networks with the package itself (``cosmopower_jax/trained_models/cmb_{tt,te,ee,pp}.pkl`` and, for
TE and φφ, a PCA basis in ``cosmopower_jax/pca_utils/``); nothing is downloaded at run time.
They map the six ΛCDM parameters :data:`INPUTS` to lensed CMB spectra for ell = 2..2508, as
dimensionless C_ell (C_ell of ΔT/T for TT, TE, EE; the lensing-potential C_ell^φφ for PP), the
same quantities CLASS's ``lensed_cl()`` returns. The networks are described in Spurio Mancini et al.
2022 (MNRAS 511, 1771) and Piras & Spurio Mancini 2023 (OJAp 6, 20); their training box, from
the CosmoPower documentation of these CMB models, is :data:`TRAINING_BOX`.

:class:`CMBEmulator` reads the stored weights (plain numpy arrays) and runs the forward pass in
numpy, without importing JAX: each layer is ``y = W x + b`` followed by CosmoPower's activation
``f(y) = [β + (1 − β) σ(α y)] y`` (Spurio Mancini et al. 2022, eq. A1), the last layer without
activation; the output is de-standardised and, for TT and EE, raised as 10^output (those networks
emulate log10 C_ell); TE and PP outputs are PCA coefficients, projected back onto the shipped PCA
basis (PP, too, is then 10^…). By default the matrix products run in float32, the precision the
networks were trained and are shipped in (the call is memory-bound: float32 halves its time); the
rest, and the returned spectra, are float64. It reproduces ``CosmoPowerJAX.predict`` to float32
rounding (≤ 1e-5 relative; tested) and keeps JAX's global settings away from the likelihoods.
``precision="float64"`` runs the products in float64 too: the spectra are then smooth functions
of the parameters to ~1e-15 (float32 rounding moves logL by ~1e-3 from point to point, which
spoils finite differences), at ~2.5× the time. :meth:`CMBEmulator.jax` is the same forward pass
in ``jax.numpy`` (differentiable), in the same precision.

Licence of the networks and of ``cosmopower-jax``: GPL-3 with a non-commercial use condition
(its ``LICENSE_EXT``); that is why it is an optional extra of this package.
"""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cobaya_plugins.versions import require

#: Emulator inputs, in the networks' order (CLASS names).
INPUTS = ("omega_b", "omega_cdm", "h", "tau_reio", "n_s", "ln10^{10}A_s")

#: Training box of the shipped CMB networks (CosmoPower docs, ``trained_models/CP_paper/CMB``).
TRAINING_BOX: dict[str, tuple[float, float]] = {
    "omega_b": (0.005, 0.04),
    "omega_cdm": (0.001, 0.99),
    "h": (0.2, 1.0),
    "tau_reio": (0.01, 0.8),
    "n_s": (0.7, 1.3),
    "ln10^{10}A_s": (1.61, 5.0),
}

#: Spectra the package ships networks for (lowercase, as Cobaya requests them).
SPECTRA = ("tt", "te", "ee", "pp")

#: Precisions of the matrix products (:class:`CMBEmulator`'s ``precision``).
PRECISIONS = ("float32", "float64")

#: Lowest and highest multipole of every shipped network.
ELL_MIN = 2
LMAX = 2508

#: Output of each network: log10 C_ell ("log") or PCA coefficients ("pca"; PP then 10^x).
_KIND = {"tt": "log", "ee": "log", "te": "pca", "pp": "pca"}

INSTALL_HINT = (
    "Install the optional extra with `pip install 'cobaya-planck-clik[emulator]'` (or "
    "`pip install cosmopower-jax`; GPL-3 with a non-commercial use condition)."
)


def package_dir() -> Path:
    """Directory of the installed ``cosmopower_jax`` package (found without importing it).

    Raises ``ImportError`` with the install command when it is not installed.
    """
    spec = importlib.util.find_spec("cosmopower_jax")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"cosmopower_jax is not installed. {INSTALL_HINT}")
    require("cosmopower-jax")  # the networks are read in its pickle layout
    return Path(next(iter(spec.submodule_search_locations)))


def _activation(y: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """CosmoPower's activation [β + (1 − β) σ(α y)] y (σ: logistic), elementwise."""
    return (beta + (1.0 - beta) / (1.0 + np.exp(-alpha * y))) * y


class _Network:
    """One shipped network: its weights (in ``dtype``) and the post-processing of its output."""

    def __init__(self, spectrum: str, root: Path, dtype: type = np.float32):
        path = root / "trained_models" / f"cmb_{spectrum}.pkl"
        if not path.is_file():
            raise FileNotFoundError(
                f"The cosmopower-jax network {path} is missing: reinstall cosmopower-jax "
                "(its wheel ships the trained CMB networks)."
            )
        with open(path, "rb") as f:
            (weights, hyper, in_mean, in_std, out_mean, out_std, _n_in, inputs,
             _n_out, _modes, _n_hidden, _n_layers, _arch) = pickle.load(f)  # fmt: skip
        if tuple(inputs) != INPUTS:
            raise ValueError(
                f"{path} expects the inputs {list(inputs)}, not {list(INPUTS)}: this version of "
                "cosmopower-jax is not supported (tested: 0.5.8)."
            )
        # weights in dtype, transposed for x @ W; the shipped models use one scalar output bias
        # (the last entry of the stored vector), as cosmopower-jax's predict does.
        self.dtype = dtype
        self.layers = [(np.ascontiguousarray(np.asarray(w).T, dtype),
                        np.asarray(b, dtype)) for w, b in weights]  # fmt: skip
        self.hyper = [(np.asarray(a, dtype), np.asarray(b, dtype)) for a, b in hyper]
        self.out_bias = dtype(self.layers[-1][1][-1])
        self.in_mean, self.in_std = np.asarray(in_mean, float), np.asarray(in_std, float)
        self.out_mean, self.out_std = np.asarray(out_mean, float), np.asarray(out_std, float)
        self.kind = _KIND[spectrum]
        self.log10 = spectrum in ("tt", "ee", "pp")
        if self.kind == "pca":
            pca = root / "pca_utils"
            basis = np.load(pca / f"cmb_{spectrum}_pca_transform_matrix.npy")
            self.pca_basis = np.ascontiguousarray(basis, dtype)
            self.pca_mean = np.load(pca / f"cmb_{spectrum}_training_mean.npy").astype(float)
            self.pca_std = np.load(pca / f"cmb_{spectrum}_training_std.npy").astype(float)
        n_out = self.pca_basis.shape[1] if self.kind == "pca" else len(self.out_mean)
        if n_out != LMAX - ELL_MIN + 1:
            raise ValueError(
                f"{path} gives {n_out} multipoles, not ell = {ELL_MIN}..{LMAX}: this version of "
                "cosmopower-jax is not supported (tested: 0.5.8)."
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Spectrum for inputs x, shape (n, 6) in :data:`INPUTS` order -> (n, LMAX - 1)."""
        out = ((x - self.in_mean) / self.in_std).astype(self.dtype)
        for (w, b), (alpha, beta) in zip(self.layers[:-1], self.hyper, strict=True):
            out = _activation(out @ w + b, alpha, beta)
        out = (out @ self.layers[-1][0] + self.out_bias) * self.out_std + self.out_mean
        if self.kind == "pca":
            out = (out.astype(self.dtype) @ self.pca_basis) * self.pca_std + self.pca_mean
        return 10.0**out if self.log10 else out

    def jax(self, x):
        """The same forward pass in ``jax.numpy`` (differentiable): inputs x, shape (6,) in
        :data:`INPUTS` order -> spectrum for ell = 2..LMAX, shape (LMAX - 1,), float64. The
        matrix products run in the network's ``dtype`` as in :meth:`__call__`, so both agree to
        rounding (float32: ~1e-6 relative, the summation order differs; float64: ~1e-14)."""
        import jax.numpy as jnp

        out = ((x - self.in_mean) / self.in_std).astype(self.dtype)
        for (w, b), (alpha, beta) in zip(self.layers[:-1], self.hyper, strict=True):
            y = out @ w + b
            out = (beta + (1.0 - beta) / (1.0 + jnp.exp(-alpha * y))) * y
        out = (out @ self.layers[-1][0] + self.out_bias).astype(jnp.float64)
        out = out * self.out_std + self.out_mean
        if self.kind == "pca":
            coefficients = out.astype(self.dtype) @ self.pca_basis
            out = coefficients.astype(jnp.float64) * self.pca_std + self.pca_mean
        return 10.0**out if self.log10 else out


class CMBEmulator:
    """The shipped CosmoPower CMB networks for ``spectra`` (any of :data:`SPECTRA`).

    ``emulator(params)`` takes a mapping with the six :data:`INPUTS` (floats, or arrays of
    shape (n,) for a batch) and returns ``{spectrum: C_ell}``, dimensionless C_ell indexed by
    ell from 0 to :data:`LMAX` (zeros at ell = 0, 1), shape (LMAX + 1,) or (n, LMAX + 1). It does
    not check the training box (see :func:`outside_box`). Raises ``ImportError`` without
    cosmopower-jax. ``precision``: ``"float32"`` (default) or ``"float64"``, the precision of
    the matrix products (module docstring).
    """

    def __init__(self, spectra: Sequence[str] = SPECTRA, precision: str = "float32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
        unknown = [s for s in spectra if s not in SPECTRA]
        if unknown:
            raise ValueError(
                f"No CosmoPower CMB network for {unknown}; the shipped ones are {list(SPECTRA)}."
            )
        root = package_dir()
        self.spectra = tuple(dict.fromkeys(spectra))
        self.precision = precision
        dtype = np.dtype(precision).type
        self._networks = {s: _Network(s, root, dtype) for s in self.spectra}

    def __call__(self, params: Mapping[str, float | np.ndarray]) -> dict[str, np.ndarray]:
        """The spectra for ``params`` (see the class docstring for shapes and units)."""
        missing = [p for p in INPUTS if p not in params]
        if missing:
            raise ValueError(f"Missing emulator inputs {missing}; it needs {list(INPUTS)}.")
        x = np.column_stack([np.atleast_1d(np.asarray(params[p], float)) for p in INPUTS])
        scalar = all(np.ndim(params[p]) == 0 for p in INPUTS)
        cls = {}
        for spectrum, network in self._networks.items():
            full = np.zeros((len(x), LMAX + 1))
            full[:, ELL_MIN:] = network(x)
            cls[spectrum] = full[0] if scalar else full
        return cls

    def jax(self, x):
        """The spectra in ``jax.numpy`` (differentiable, jit-able): inputs x, a JAX array of
        shape (6,) in :data:`INPUTS` order -> ``{spectrum: C_ell}``, dimensionless, shape
        (LMAX + 1,) from ell = 0 (zeros at ell = 0, 1), as :meth:`__call__` for one point."""
        import jax.numpy as jnp

        zeros = jnp.zeros(ELL_MIN)
        return {s: jnp.concatenate([zeros, net.jax(x)]) for s, net in self._networks.items()}


def outside_box(
    params: Mapping[str, float], box: Mapping[str, tuple[float, float]] = TRAINING_BOX
) -> list[str]:
    """Descriptions of the inputs outside ``box`` (empty when the point is inside), e.g.
    ``["h = 1.2 not in [0.2, 1.0]"]``. ``params`` uses :data:`INPUTS` names."""
    return [
        f"{p} = {params[p]:g} not in [{low:g}, {high:g}]"
        for p, (low, high) in box.items()
        if not low <= params[p] <= high
    ]
