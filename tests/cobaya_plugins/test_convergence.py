"""split_rhat against R-hat written out here from the published definition (Vehtari, Gelman,
Simpson, Carpenter & Bürkner 2021, Bayesian Analysis 16, 667, sections 3-4): split each chain in
two halves (the middle draw of an odd length dropped), replace all draws by their normal scores
Φ⁻¹((r − 3/8)/(S + 1/4)) with r the rank over all S draws (ties: average rank, Blom's offset),
take the classic √(var⁺/W), do the same on the folded draws |x − median|, report the larger.

The reference below is a separate implementation (scipy's rankdata and norm.ppf, sums written as
in the paper); on the cases here it also gave the same values as ArviZ 0.23.4's
``rhat(method="rank")`` to the last bit (checked once by hand; ArviZ is not a dependency).
"""

import numpy as np
import pytest
import scipy.stats

from cobaya_plugins.samplers.convergence import split_rhat


def classic_rhat(chains: np.ndarray) -> float:
    """√(var⁺/W) for chains (m, n): W the mean of the chains' variances, B = n/(m−1) Σ (mean_j −
    mean)², var⁺ = (n−1)/n W + B/n."""
    m, n = chains.shape
    means = [row.sum() / n for row in chains]
    grand = sum(means) / m
    between = n / (m - 1) * sum((mu - grand) ** 2 for mu in means)
    within = (
        sum(((row - mu) ** 2).sum() / (n - 1) for row, mu in zip(chains, means, strict=True)) / m
    )
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))


def normal_scores(draws: np.ndarray) -> np.ndarray:
    """Φ⁻¹((r − 3/8)/(S + 1/4)), r the average rank of each draw among all S draws."""
    ranks = scipy.stats.rankdata(draws, method="average").reshape(draws.shape)
    return scipy.stats.norm.ppf((ranks - 3 / 8) / (draws.size + 1 / 4))


def split_halves(chains: np.ndarray) -> np.ndarray:
    """(m, n) -> (2m, n // 2): first and last halves of every chain as separate chains."""
    n = chains.shape[1]
    return np.array([*(row[: n // 2] for row in chains), *(row[n - n // 2 :] for row in chains)])


def bulk_and_folded(chains: np.ndarray) -> tuple[float, float]:
    """The two rank-normalised split R-hats of one parameter's chains (m, n)."""
    split = split_halves(chains)
    folded = np.abs(split - np.median(split))
    return classic_rhat(normal_scores(split)), classic_rhat(normal_scores(folded))


def test_the_reference_classic_rhat_by_hand():
    """Chains (0, 2) and (4, 6): W = 2, B = 2 · 8 = 16, var⁺ = 1 + 8 = 9, R = √(9/2)."""
    assert classic_rhat(np.array([[0.0, 2.0], [4.0, 6.0]])) == pytest.approx(np.sqrt(4.5))


M, N = 4, 1000
BASE = np.random.default_rng(0).normal(size=(M, N))


def _cases() -> dict[str, np.ndarray]:
    shifted, wider = BASE.copy(), BASE.copy()
    shifted[0] += 1.0
    wider[0] *= 2.0
    return {
        "converged": BASE,
        "one chain shifted": shifted,
        "one chain twice as wide": wider,
        "drifting chains": BASE + np.linspace(0.0, 2.0, N),
        "ties (draws rounded)": np.round(2 * BASE),
        "heavy tails (Cauchy)": np.random.default_rng(1).standard_cauchy(size=(M, N)),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_split_rhat_equals_the_written_out_definition(case):
    chains = CASES[case]
    assert split_rhat(chains[:, :, None])[0] == pytest.approx(
        max(bulk_and_folded(chains)), rel=1e-12
    )


def test_odd_length_drops_the_middle_draw():
    chains = BASE[:, :999]
    assert split_rhat(chains[:, :, None])[0] == pytest.approx(
        max(bulk_and_folded(chains)), rel=1e-12
    )


def test_every_parameter_of_a_3d_array():
    """(m, n, d) -> (d,): the parameters are the cases above, side by side."""
    stacked = np.stack(list(CASES.values()), axis=-1)
    expected = [max(bulk_and_folded(chains)) for chains in CASES.values()]
    np.testing.assert_allclose(split_rhat(stacked), expected, rtol=1e-12)


def test_each_ingredient_is_what_catches_its_case():
    """The cases exercise every part of the definition: converged chains give R̂ ≈ 1; a shifted
    chain is caught by the bulk R̂; a wider chain only by the folded one (its bulk R̂ stays ≈ 1);
    a drift inside every chain only after splitting (unsplit, the chains agree)."""
    assert max(bulk_and_folded(CASES["converged"])) < 1.005
    bulk, folded = bulk_and_folded(CASES["one chain shifted"])
    assert bulk > 1.05
    bulk, folded = bulk_and_folded(CASES["one chain twice as wide"])
    assert bulk < 1.005 and folded > 1.04
    assert split_rhat(CASES["one chain twice as wide"][:, :, None])[0] == pytest.approx(folded)
    drift = CASES["drifting chains"]
    assert classic_rhat(normal_scores(drift)) < 1.005
    assert bulk_and_folded(drift)[0] > 1.05
