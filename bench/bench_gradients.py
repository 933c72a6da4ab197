"""Gradient samplers against Cobaya's own: HMC vs MH, BestFit vs minimize, profile time.

Run from the repository root (mock files are written to mock_data/ if missing):

    python bench/bench_gradients.py [--parts hmc-plik hmc-lite bestfit profile mh-plik mh-lite
                                     minimize] [--mpi 2] [--reference DIR]

Every sampler runs as its users run it, ``cobaya-run`` in a subprocess (wall time includes
start-up, the anchor's CLASS run and JAX compilation; the persistent compilation cache is
switched off with COBAYA_PLUGINS_JAX_CACHE=off so that the first-run cost is what is measured,
unless --warm-cache), on the shipped YAMLs with only the sampler block swapped:

* hmc-plik / hmc-lite: ``cobaya_plugins.samplers.HMC`` as yaml_examples/*_hmc.yaml set it (4
  chains in all, over ``--hmc-mpi`` processes, default 2 as the MH runs; stop at R-1 <= 0.01
  and bulk ESS >= 500 for every sampled parameter) on
  yaml_examples/lcdm_emulator_mock.yaml (27 parameters, plik + low-l TT) and
  lcdm_emulator_mock_lite.yaml (7, plik_lite + low-l TT);
* mh-plik / mh-lite: Cobaya's ``mcmc`` as the YAML has it (``--mpi N`` processes), until its own
  stop rule; the time it would need for bulk ESS >= 500 in every parameter is its wall time
  after burn-in scaled by 500 / (smallest ESS), plus the burn-in (the first 30 %, as getdist's
  default);
* bestfit: ``cobaya_plugins.samplers.BestFit`` with 8 starts on the full-plik YAML (spread of
  the starts' χ², Laplace σ); minimize: Cobaya's ``minimize`` with ``best_of: 4``;
* profile: ``python -m cobaya_plugins profile`` of H0 over 64:70:13 on the full-plik YAML.

ESS and R-1 are computed the same way for every chain (cobaya_plugins.samplers.convergence:
rank-normalised bulk ESS and split R-hat over all chains; MH weights expanded). The means and σ
of each sampler are compared with a reference chain (``--reference``: a folder with a converged
long MH run of the same YAML, ``<dir>/plik.*.txt`` / ``<dir>/lite.*.txt``; by default the mh-*
runs of this benchmark). Results are printed as a table and written to bench/results/gradients.json.
Note: timings are for this machine as it is; rerun when it is quiet (`uptime`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cobaya_plugins.samplers.convergence import bulk_ess, expand_weights, split_rhat  # noqa: E402

BIN = Path(sys.executable).parent
YAMLS = {"plik": "yaml_examples/lcdm_emulator_mock.yaml",
         "lite": "yaml_examples/lcdm_emulator_mock_lite.yaml"}  # fmt: skip
MOCKS = {"plik": ("lowl_TT", "highl_TTTEEE"), "lite": ("lowl_TT", "highl_TTTEEE_lite")}
PARTS = ("hmc-plik", "hmc-lite", "bestfit", "minimize", "profile", "mh-plik", "mh-lite")


def ensure_mocks(which: str) -> None:
    for kind in MOCKS[which]:
        if not (REPO / "mock_data" / f"{kind}.clik").exists():
            subprocess.run([sys.executable, "-m", "cobaya_plugins", "mock", kind, "mock_data"],
                           cwd=REPO, check=True)  # fmt: skip


def run_yaml(which: str, sampler: dict, out: Path, mpi: int = 1, env: dict | None = None):
    """cobaya-run of the YAML with ``sampler`` swapped in, into ``out``; (wall s, log text)."""
    info = yaml.safe_load((REPO / YAMLS[which]).read_text())
    info["sampler"] = sampler
    info["output"] = str(out / which)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{which}.yaml"
    path.write_text(yaml.safe_dump(info, sort_keys=False))
    command = [str(BIN / "cobaya-run"), "-f", str(path)]
    if mpi > 1:
        command = [str(BIN / "mpirun"), "-n", str(mpi), *command]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (out / f"{which}.log").write_text(log)
    if proc.returncode != 0:
        raise RuntimeError(f"cobaya-run {path} failed:\n{log[-3000:]}")
    return wall, log


def load_chains(prefix: Path, skip: float = 0.0) -> tuple[list[str], list[np.ndarray]]:
    """Sampled-parameter columns of each chain file ``<prefix>.N.txt`` (weights expanded, the
    first ``skip`` fraction dropped): (names, [draws (n, d)])."""
    files = sorted(prefix.parent.glob(prefix.name + ".[0-9]*.txt"))
    header = files[0].read_text().splitlines()[0].lstrip("#").split()
    updated = yaml.safe_load(Path(str(prefix) + ".updated.yaml").read_text())
    sampled = [p for p, v in updated["params"].items() if isinstance(v, dict) and "prior" in v]
    chains = []
    for f in files:
        data = np.loadtxt(f)
        data = data[int(skip * len(data)) :]
        chains.append(expand_weights(data[:, [header.index(p) for p in sampled]], data[:, 0]))
    return sampled, chains


def diagnostics(chains: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(c) for c in chains)
    stacked = np.array([c[:n] for c in chains])
    return bulk_ess(stacked), split_rhat(stacked) - 1


def compare(names, chains, reference) -> tuple[float, float]:
    """Largest |Δmean|/σ_ref and |σ/σ_ref − 1| over the parameters."""
    draws, ref = np.concatenate(chains), np.concatenate(reference[1])
    idx = [reference[0].index(p) for p in names]
    ref = ref[:, idx]
    sigma = ref.std(axis=0)
    return (float(np.max(np.abs(draws.mean(0) - ref.mean(0)) / sigma)),
            float(np.max(np.abs(draws.std(0) / sigma - 1))))  # fmt: skip


def hmc(
    which: str, out: Path, env: dict, mpi: int = 1, chains: int | None = None, kernel: str = ""
) -> dict:
    ensure_mocks(which)
    example = REPO / YAMLS[which].replace(".yaml", "_hmc.yaml")
    sampler = yaml.safe_load(example.read_text())["sampler"]  # the shipped HMC example's
    options = sampler["cobaya_plugins.samplers.HMC"]
    options["chains"] = chains or max(2, options.get("chains", 4) // mpi)  # 4 in all by default
    if kernel:
        options["kernel"] = kernel
    wall, log = run_yaml(which, sampler, out / "hmc", mpi=mpi, env=env)
    names, chains = load_chains(out / "hmc" / which)
    ess, rminus1 = diagnostics(chains)
    lines = [line for line in log.splitlines() if "Sampling:" in line]
    divergent = re.search(r"(\d+) divergent \(([\d.]+)%\)", lines[-1])
    compiled = sum(float(x) for x in re.findall(r"compiled .*?: ([\d.]+) s", log)) / mpi
    return {"wall_s": wall, "names": names, "min_ess": float(ess.min()),
            "worst": names[int(ess.argmin())], "max_rminus1": float(rminus1.max()),
            "draws": sum(len(c) for c in chains), "divergent": int(divergent.group(1)),
            "divergent_percent": float(divergent.group(2)), "compile_s": compiled}  # fmt: skip


def mh(which: str, out: Path, mpi: int, env: dict) -> dict:
    ensure_mocks(which)
    info = yaml.safe_load((REPO / YAMLS[which]).read_text())
    wall, _ = run_yaml(which, info["sampler"], out / "mh", mpi=mpi, env=env)
    names, chains = load_chains(out / "mh" / which, skip=0.3)
    ess, rminus1 = diagnostics(chains)
    to_500 = 0.3 * wall + 0.7 * wall * 500 / ess.min()
    return {"wall_s": wall, "names": names, "min_ess": float(ess.min()),
            "worst": names[int(ess.argmin())], "max_rminus1": float(rminus1.max()),
            "wall_to_ess500_s": to_500, "processes": mpi}  # fmt: skip


def bestfit(out: Path, env: dict) -> dict:
    ensure_mocks("plik")
    sampler = {"cobaya_plugins.samplers.BestFit": {"starts": 8, "seed": 1}}
    wall, log = run_yaml("plik", sampler, out / "bestfit", env=env)
    found = re.search(r"at the best ([\d.]+); spread of the starts ([\d.]+); minimization "
                      r"([\d.]+) s", log)  # fmt: skip
    laplace = dict(re.findall(r"^\s+(\w+)\s+\S+\s+± (\S+)$", log, flags=re.M))
    return {"wall_s": wall, "chi2": float(found.group(1)), "spread": float(found.group(2)),
            "minimization_s": float(found.group(3)),
            "laplace_sigma": {k: float(v) for k, v in laplace.items()}}  # fmt: skip


def minimize(out: Path, env: dict) -> dict:
    ensure_mocks("plik")
    wall, log = run_yaml("plik", {"minimize": {"best_of": 4, "seed": 1}}, out / "minimize",
                         env=env)  # fmt: skip
    found = re.findall(r"-log\(posterior\) minimized to ([-\d.e+]+)", log)
    mins = re.search(r"Full set of minima:\n(.*)", log)
    return {"wall_s": wall, "chi2": 2 * float(found[-1]), "full_set": mins.group(1) if mins else ""}


def profile(out: Path, env: dict) -> dict:
    ensure_mocks("plik")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cobaya_plugins", "profile", YAMLS["plik"],
                           "--param", "H0", "--values", "64:70:13", "--out",
                           str(out / "profile" / "H0")], cwd=REPO, capture_output=True,
                          text=True, env=env)  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    found = re.search(r"evaluations, ([\d.]+) s\)", proc.stdout)
    interval = re.search(r"68% interval .*: \[(\S+), (\S+)\]", proc.stdout)
    return {"wall_s": wall, "minimization_s": float(found.group(1)),
            "interval_68": [float(interval.group(1)), float(interval.group(2).rstrip("]"))]
            if interval else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--mpi", type=int, default=2, help="MPI processes of the MH runs")
    parser.add_argument("--hmc-mpi", type=int, default=2, help="MPI processes of the HMC runs "
                        "(4 chains in all, divided among them)")  # fmt: skip
    parser.add_argument("--hmc-chains", type=int, default=None, help="chains per HMC process "
                        "(default: 4 in all, at least 2 a process)")  # fmt: skip
    parser.add_argument("--kernel", choices=["nuts", "mclmc"], default=None,
                        help="HMC kernel (default: the example YAML's)")  # fmt: skip
    parser.add_argument("--out", default="bench_output/gradients", help="work folder")
    parser.add_argument("--reference", default=None, help="folder with converged MH chains "
                        "plik.*.txt / lite.*.txt (default: this run's mh-* chains)")  # fmt: skip
    parser.add_argument("--warm-cache", action="store_true", help="keep JAX's persistent "
                        "compilation cache on (a second run's start-up)")  # fmt: skip
    args = parser.parse_args()
    out = REPO / args.out
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if not args.warm_cache:
        env["COBAYA_PLUGINS_JAX_CACHE"] = "off"
    results: dict = {}
    for part in args.parts:
        print(f"== {part} ...", flush=True)
        load = os.getloadavg()[0]
        if part.startswith("hmc-"):
            results[part] = hmc(part[4:], out, env, args.hmc_mpi, args.hmc_chains, args.kernel)
            results[part].update(processes=args.hmc_mpi, kernel=args.kernel or "example's")
        elif part.startswith("mh-"):
            results[part] = mh(part[3:], out, args.mpi, env)
        else:
            results[part] = globals()[part](out, env)
        results[part]["load_before"] = load  # a busy machine makes every wall time longer
        print(json.dumps(results[part], indent=1, default=str), flush=True)
    reference = Path(args.reference) if args.reference else out / "mh"
    for which in ("plik", "lite"):
        part = f"hmc-{which}"
        if part in results and Path(str(reference / which) + ".updated.yaml").exists():
            ref = load_chains(reference / which, skip=0.3)
            _, chains = load_chains(out / "hmc" / which)
            dmean, dsigma = compare(results[part]["names"], chains, ref)
            results[part].update(max_dmean_sigma=dmean, max_dsigma=dsigma)
    print("\n| run | wall | smallest bulk ESS | max R-1 | other |\n|---|---|---|---|---|")
    for part, r in results.items():
        other = {
            k: v
            for k, v in r.items()
            if k not in ("wall_s", "names", "min_ess", "max_rminus1", "laplace_sigma")
        }
        print(f"| {part} | {r['wall_s']:.0f} s | {r.get('min_ess', '')} | "
              f"{r.get('max_rminus1', '')} | {other} |")  # fmt: skip
    for which in ("plik", "lite"):
        if f"hmc-{which}" in results and f"mh-{which}" in results:
            ratio = results[f"mh-{which}"]["wall_to_ess500_s"] / results[f"hmc-{which}"]["wall_s"]
            print(f"{which}: MH to ESS 500 / HMC to ESS 500 (wall) = {ratio:.1f}x")
    if "bestfit" in results and "minimize" in results:
        b, m = results["bestfit"], results["minimize"]
        print(
            f"BestFit chi2 {b['chi2']:.3f} vs minimize {m['chi2']:.3f}; minimization "
            f"{b['minimization_s']:.1f} s vs minimize's whole run {m['wall_s']:.0f} s"
        )
    # merged with earlier runs' parts: a part run again replaces its old entry
    saved = REPO / "bench" / "results" / "gradients.json"
    saved.parent.mkdir(exist_ok=True)
    merged = json.loads(saved.read_text()) if saved.exists() else {}
    merged.pop("uptime", None)
    saved.write_text(json.dumps({**merged, **results}, indent=1, default=str))


if __name__ == "__main__":
    main()
