"""Write a Cobaya proposal covmat from the curvature of the log-posterior at one point.

How ``yaml_examples/lcdm_emulator_mock.covmat`` (the full-plik emulator chain, 27 sampled
parameters) was made, from the repository root, with the mock files in ``mock_data/``::

    python yaml_examples/make_covmat.py yaml_examples/lcdm_emulator_mock.yaml \\
        yaml_examples/lcdm_emulator_mock.covmat

The point is the mock's truth for the cosmological parameters (the fiducial of the mock data)
and the mock's nuisance values, with parameters sitting on a bound of a uniform prior moved
inside by a tenth of the prior width. The Hessian H of log P is taken by central finite
differences with steps of a third of each parameter's ``proposal`` width; each uniform prior
adds -12/width² to the diagonal (a Gaussian stand-in of the same variance, so that a parameter
the data hardly constrain gets a proposal of the prior's size, not an infinite one); then the
covmat is (-H)⁻¹, with the eigenvalues of -H (in units of the proposal widths) floored at
1e-6 of the largest (finite differences can leave flat directions slightly negative), and each
standard deviation capped at its prior's (correlations kept). It is a proposal, not a
posterior: Cobaya's MCMC keeps learning it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import yaml
from cobaya.model import get_model

from cobaya_plugins.fiducial import fiducial_parameters
from cobaya_plugins.mock import default_nuisance


def center(model) -> dict[str, float]:
    """The truth (cosmology) and mock nuisance values, moved off the bounds of uniform priors."""
    truth = {**fiducial_parameters(), **default_nuisance("highl_TTTEEE")}
    point = {}
    for name, info in model.parameterization.sampled_params_info().items():
        value = float(truth[name])
        prior = info["prior"]
        if "min" in prior and "dist" not in prior:
            low, high = prior["min"], prior["max"]
            value = min(max(value, low + 0.1 * (high - low)), high - 0.1 * (high - low))
        point[name] = value
    return point


def hessian(model, point: dict[str, float], steps: dict[str, float]) -> np.ndarray:
    """Central finite-difference Hessian of the log-posterior at ``point`` (sampled params)."""
    names = list(point)

    def logpost(shift: dict[str, float]) -> float:
        values = {p: point[p] + shift.get(p, 0.0) for p in names}
        return float(model.logpost(values))

    n = len(names)
    h = np.zeros((n, n))
    f0 = logpost({})
    for i, a in enumerate(names):
        ha = steps[a]
        h[i, i] = (logpost({a: ha}) - 2 * f0 + logpost({a: -ha})) / ha**2
        for j in range(i):
            b = names[j]
            hb = steps[b]
            h[i, j] = h[j, i] = (
                logpost({a: ha, b: hb}) - logpost({a: ha, b: -hb})
                - logpost({a: -ha, b: hb}) + logpost({a: -ha, b: -hb})
            ) / (4 * ha * hb)  # fmt: skip
    return h


def _prior_sigma(prior: dict) -> float:
    """Standard deviation of a prior (uniform min/max, or a Gaussian's scale; else inf)."""
    if "dist" not in prior and "min" in prior:
        return (prior["max"] - prior["min"]) / 12**0.5
    if prior.get("dist") == "norm":
        return float(prior["scale"])
    return float("inf")


def main(yaml_in: str, covmat_out: str) -> None:
    info = yaml.safe_load(Path(yaml_in).read_text())
    info.pop("sampler", None)
    info.pop("output", None)
    model = get_model(info)
    infos = model.parameterization.sampled_params_info()
    point = center(model)
    steps = {p: float(infos[p]["proposal"]) / 3 for p in point}
    start = time.perf_counter()
    h = hessian(model, point, steps)
    for i, p in enumerate(point):
        prior = infos[p]["prior"]
        if "min" in prior and "dist" not in prior:
            h[i, i] -= 12 / (prior["max"] - prior["min"]) ** 2
    # in units of the proposal widths, so that the eigenvalue floor is scale-free
    scale = np.array([float(infos[p]["proposal"]) for p in point])
    values, vectors = np.linalg.eigh(-h * np.outer(scale, scale))
    if values.max() <= 0:
        raise SystemExit("the log-posterior is not curved downwards at this point")
    values = np.clip(values, 1e-6 * values.max(), None)
    covmat = ((vectors / values) @ vectors.T) * np.outer(scale, scale)
    # no proposal wider than the prior: cap each standard deviation at the prior's (uniform:
    # width/sqrt(12); Gaussian: its scale), keeping the correlations
    cap = np.array([_prior_sigma(infos[p]["prior"]) for p in point])
    shrink = np.minimum(1.0, cap / np.sqrt(np.diag(covmat)))
    covmat *= np.outer(shrink, shrink)
    names = " ".join(point)
    np.savetxt(covmat_out, covmat, header=names, comments="# ")
    sigma = dict(zip(point, np.sqrt(np.diag(covmat)), strict=True))
    print(f"wrote {covmat_out} ({len(point)} parameters, {time.perf_counter() - start:.0f} s)")
    for p, s in sigma.items():
        print(f"  {p:20s} sigma {s:.4g}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
