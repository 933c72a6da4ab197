r"""Convergence diagnostics of several chains: rank-normalised split R-hat and bulk ESS.

Both follow Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-normalization, folding,
and localization: an improved R-hat for assessing convergence of MCMC" (Bayesian Analysis 16,
667), as Stan, ArviZ and blackjax compute them:

* each chain is split in two halves (a chain that drifts then shows as two disagreeing halves);
* the draws of all chains are replaced by their normal scores, Φ⁻¹((rank − 3/8)/(S + 1/4)), so
  that heavy tails and bounded parameters do not distort the statistics (*rank normalisation*);
* R-hat is the classic √(var⁺/W) on the normalised draws (and on the folded draws |x − median|,
  which detects differences in spread); the reported value is the larger of the two;
* the bulk effective sample size is S/τ on the normalised draws, with the integrated
  autocorrelation time τ summed with Geyer's initial monotone sequence estimator.

The same functions serve the gradient samplers' stop rule and the benchmark's comparison with
Cobaya's Metropolis-Hastings chains (whose integer weights are expanded into repeated draws:
:func:`expand_weights`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri


def expand_weights(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Draws of a weighted chain as a plain sequence: each row repeated ``weight`` times
    (Cobaya's MH weights are multiplicities). ``values`` (n, ...), ``weights`` (n,) integers."""
    weights = np.asarray(weights)
    if not np.allclose(weights, np.round(weights)):
        raise ValueError("expand_weights needs integer weights (multiplicities of an MCMC chain).")
    return np.repeat(np.asarray(values), np.round(weights).astype(int), axis=0)


def _split(chains: np.ndarray) -> np.ndarray:
    """(m, n) -> (2m, n // 2): each chain cut in two halves (the middle draw of an odd n is
    dropped)."""
    half = chains.shape[1] // 2
    return np.concatenate([chains[:, :half], chains[:, -half:]], axis=0)


def _rank_normalise(chains: np.ndarray) -> np.ndarray:
    """Normal scores of the draws ranked over all chains together (ties get their mean rank)."""
    flat = chains.ravel()
    order = np.argsort(flat, kind="stable")
    ranks = np.empty(flat.size)
    ranks[order] = np.arange(1, flat.size + 1)
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    if np.any(counts > 1):  # average ranks over ties
        sums = np.bincount(inverse, weights=ranks)
        ranks = sums[inverse] / counts[inverse]
    return ndtri((ranks - 0.375) / (flat.size + 0.25)).reshape(chains.shape)


def _rhat(chains: np.ndarray) -> float:
    """Classic potential scale reduction √(var⁺/W) of chains (m, n), m ≥ 2."""
    m, n = chains.shape
    within = np.mean(np.var(chains, axis=1, ddof=1))
    between = n * np.var(np.mean(chains, axis=1), ddof=1)
    var_plus = (n - 1) / n * within + between / n
    return float(np.sqrt(var_plus / within)) if within > 0 else float("inf")


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariance of each row of x (m, n) at lags 0..n-1 (biased estimator, via FFT)."""
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    size = 2 ** int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    return np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=1)[:, :n] / n


def _ess(chains: np.ndarray) -> float:
    """Effective sample size of chains (m, n) with Geyer's initial monotone sequence."""
    m, n = chains.shape
    acov = _autocovariance(chains)
    chain_var = acov[:, 0] * n / (n - 1)
    within = chain_var.mean()
    var_plus = within * (n - 1) / n + (np.var(chains.mean(axis=1), ddof=1) if m > 1 else 0.0)
    if var_plus <= 0:
        return float(m * n)
    rho = 1.0 - (within - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # pairs (rho_2t + rho_2t+1) while positive, made monotone non-increasing
    pairs = rho[: 2 * (n // 2)].reshape(-1, 2).sum(axis=1)
    negative = np.nonzero(pairs < 0)[0]
    pairs = pairs[: negative[0]] if negative.size else pairs
    pairs = np.minimum.accumulate(pairs)
    tau = -1.0 + 2.0 * pairs.sum()
    tau = max(tau, 1.0 / np.log10(m * n))  # Stan's cap for antithetic chains
    return float(m * n / tau)


def split_rhat(chains: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat per parameter (max of bulk and folded), for ``chains`` of
    shape (m chains, n draws, d parameters) -> (d,). Needs n ≥ 4."""
    chains = np.asarray(chains, dtype=float)
    out = np.empty(chains.shape[2])
    for i in range(chains.shape[2]):
        split = _split(chains[:, :, i])
        folded = np.abs(split - np.median(split))
        out[i] = max(_rhat(_rank_normalise(split)), _rhat(_rank_normalise(folded)))
    return out


def bulk_ess(chains: np.ndarray) -> np.ndarray:
    """Bulk effective sample size per parameter (all chains together), for ``chains`` of shape
    (m chains, n draws, d parameters) -> (d,). Needs n ≥ 4."""
    chains = np.asarray(chains, dtype=float)
    return np.array(
        [_ess(_rank_normalise(_split(chains[:, :, i]))) for i in range(chains.shape[2])]
    )
