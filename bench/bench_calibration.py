"""Calibration over mock realisations: are best fits unbiased and HMC's intervals honest?

Run from the repository root:

    python bench/bench_calibration.py [--kind lite|plik] [--bestfits 50] [--hmc 20]
                                      [--first-seed 1] [--out bench_output/calibration]
                                      [--results bench/results/calibration_<kind>.json]

For each seed, the mock writer draws an independent realisation of low-l TT and plik_lite (or
plik with ``--kind plik``) around the same truth (the shipped fiducial: the Planck 2018 best fit,
A_planck = 1, the mock's nuisance values). On each, with the model of
yaml_examples/lcdm_emulator_mock_lite.yaml (or lcdm_emulator_mock.yaml) pointed at those files:

* **BestFit** (cobaya_plugins.samplers.BestFit run by Cobaya's ``run``, as a user runs it, with
  its defaults: L-BFGS-B on the JAX posterior from 4 starts drawn from ``ref``, seed 0) gives the
  maximum and its Laplace σ (the covmat from its Hessian); the pull of each cosmological
  parameter is (best − truth)/σ. Over the seeds the pulls should have mean 0 (within ±0.3
  here) and standard deviation 1 (0.8–1.2) for the parameters the data constrain; τ is set by
  its Gaussian prior (centred on the truth), so its pulls are narrower by construction.
* **HMC** (cobaya_plugins.samplers.HMC, 4 chains, bulk ESS ≥ 200) gives the 68 % equal-tailed
  interval of each parameter; the fraction of seeds whose truth falls inside should be 0.68
  (±0.10 for 20 seeds).

A regression of the mock writer (wrong noise level, wrong truth), of the emulator or its anchor
(a biased spectrum), or of the likelihood (a wrong covariance) moves the pull means, widths or
the coverage away from these values. Each seed compiles its own JAX posterior (the data differ),
~10 s for plik_lite; the anchor's CLASS run is done once per process. Every seed's compiled
model stays in memory (~0.5 GB a full-plik seed): 30 full-plik seeds fit in 24 GB; for more, call
it again with a larger ``--bestfits`` (each seed's result is cached in its folder and read back).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cobaya_plugins.fiducial import fiducial_parameters  # noqa: E402
from cobaya_plugins.mock import write_mock  # noqa: E402

YAMLS = {"lite": "yaml_examples/lcdm_emulator_mock_lite.yaml",
         "plik": "yaml_examples/lcdm_emulator_mock.yaml"}  # fmt: skip
HIGH_L = {"lite": "highl_TTTEEE_lite", "plik": "highl_TTTEEE"}
COSMOLOGY = ("omega_b", "omega_cdm", "H0", "tau_reio", "n_s", "logA")


def info_for(kind: str, folder: Path) -> dict:
    """The example's input, its likelihoods pointed at the mock files in ``folder``."""
    info = yaml.safe_load((REPO / YAMLS[kind]).read_text())
    info.pop("output", None)
    for name, options in info["likelihood"].items():
        kind_of_file = "lowl_TT" if name.endswith("LowlTT") else HIGH_L[kind]
        options["clik_file"] = str(folder / f"{kind_of_file}.clik")
    return info


def best_fit(info: dict) -> tuple[dict, dict]:
    """(best-fit values, Laplace σ) of the sampled parameters, by name: the BestFit sampler
    through Cobaya's ``run`` (its minimum, and σ from the covmat of its Hessian)."""
    from cobaya.run import run

    info = {**info, "sampler": {"cobaya_plugins.samplers.BestFit": {"seed": 0}}}
    _, sampler = run(info)
    products = sampler.products()
    names = products["covmat_params"]
    sigma = np.sqrt(np.diag(products["covmat"]))
    best = {name: float(products["minimum"][name]) for name in names}
    return best, dict(zip(names, sigma.tolist(), strict=True))


def hmc_interval(info: dict, folder: Path) -> dict:
    """68 % equal-tailed interval of each sampled parameter from an HMC run."""
    from cobaya.run import run

    info = dict(info)
    info["sampler"] = {"cobaya_plugins.samplers.HMC": {"seed": 1, "min_ess": 200}}
    info["output"] = str(folder / "hmc" / "chain")
    info["force"] = True
    _, sampler = run(info)
    names = sampler.names
    draws = np.concatenate([c[names].to_numpy(dtype=float) for c in sampler.collections])
    low, high = np.percentile(draws, [15.865, 84.135], axis=0)
    return {n: (float(a), float(b)) for n, a, b in zip(names, low, high, strict=True)}


def cached(path: Path, compute, *args):
    """``compute(*args)``'s result, saved in ``path`` (JSON) and read from there on a later
    run: a run with more seeds redoes only the new ones."""
    if path.exists():
        return json.loads(path.read_text())
    result = compute(*args)
    path.write_text(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=list(YAMLS), default="lite")
    parser.add_argument("--bestfits", type=int, default=50)
    parser.add_argument("--hmc", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--out", default="bench_output/calibration")
    parser.add_argument(
        "--results", help="JSON file of the table (default: bench/results/calibration_KIND.json)"
    )
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    truth = fiducial_parameters()
    out = REPO / args.out / args.kind
    pulls: dict[str, list[float]] = {p: [] for p in COSMOLOGY}
    inside: dict[str, list[bool]] = {p: [] for p in COSMOLOGY}
    start = time.perf_counter()
    for k in range(max(args.bestfits, args.hmc)):
        seed = args.first_seed + k
        folder = out / f"seed{seed}"
        for kind_of_file in ("lowl_TT", HIGH_L[args.kind]):
            if not (folder / f"{kind_of_file}.clik").exists():
                write_mock(kind_of_file, folder, seed=seed)
        info = info_for(args.kind, folder)
        if k < args.bestfits:
            best, sigma = cached(folder / "bestfit_sampler.json", best_fit, info)
            for p in COSMOLOGY:
                pulls[p].append((best[p] - truth[p]) / sigma[p])
        if k < args.hmc:
            interval = cached(folder / "hmc_interval.json", hmc_interval, info, folder)
            for p in COSMOLOGY:
                inside[p].append(interval[p][0] <= truth[p] <= interval[p][1])
        print(f"seed {seed} done, {time.perf_counter() - start:.0f} s", flush=True)
    result = {"kind": args.kind, "bestfits": args.bestfits, "hmc": args.hmc, "pulls": {},
              "coverage": {}, "wall_s": time.perf_counter() - start}  # fmt: skip
    print(f"\n{args.kind}: pulls (best - truth)/σ over {args.bestfits} realisations; "
          f"68% coverage over {args.hmc} HMC runs")  # fmt: skip
    print("| parameter | mean pull | std of pulls | 68% coverage |\n|---|---|---|---|")
    for p in COSMOLOGY:
        values = np.array(pulls[p])
        mean, std = (float(values.mean()), float(values.std(ddof=1))) if len(values) > 1 else (
            float("nan"), float("nan"))  # fmt: skip
        error = std / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        coverage = float(np.mean(inside[p])) if inside[p] else float("nan")
        result["pulls"][p] = {"mean": mean, "mean_error": error, "std": std}
        result["coverage"][p] = coverage
        print(f"| {p} | {mean:+.2f} ± {error:.2f} | {std:.2f} | {coverage:.2f} |")
    # merged with an earlier run's file: a run with --bestfits 0 (or --hmc 0) keeps the other half
    path = Path(args.results or REPO / "bench" / "results" / f"calibration_{args.kind}.json")
    path.parent.mkdir(exist_ok=True)
    saved = json.loads(path.read_text()) if path.exists() else {}
    if not args.bestfits:
        result["pulls"], result["bestfits"] = saved.get("pulls", {}), saved.get("bestfits", 0)
    if not args.hmc:
        result["coverage"], result["hmc"] = saved.get("coverage", {}), saved.get("hmc", 0)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
