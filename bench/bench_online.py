"""OnlineEmulator with CLASS as the exact code: a converged Cobaya mcmc, its exact calls, wall time,
accepted steps per exact call and exactness report (issue 20, item 8; docs/online_emulator.md).

Run: python bench/bench_online.py [--case lcdm_nur|lcdm_nur_precise|lcdm_mnu|smoke] [--mpi 2]
                                  [--max-minutes 60] [--validate 50] [--outdir bench_output/online]
From the repository root; the mock files (low-l TT, plik_lite; seed 0, as `make demo`) are written
to mock_data/ if missing.

Case ``lcdm_nur``: ΛCDM + N_ur (omega_b, omega_cdm, H0, tau_reio with Planck's low-l EE prior,
n_s, logA, N_ur; A_planck from the likelihoods), CLASS (Cobaya's classy) with the mocks' physics
(one 0.06 eV neutrino, HMcode lensing; lensed spectra to the likelihoods' ell 2508) under
``cobaya_plugins.theories.OnlineEmulator`` (default options, ``validate: 50``), on the mock low-l TT
+ plik_lite; ``mpirun -n 2 cobaya-run`` until Cobaya's test says R-1 <= 0.02 (means) and 0.2
(bounds), from an empty cache. Case ``lcdm_mnu``: the same with the neutrino mass m_ncdm (one
massive species, prior [0, 1.5] eV, truth 0.06) sampled instead of N_ur (fixed at 2.0328).
Case ``lcdm_nur_precise``: ``lcdm_nur`` with CLASS's ell and perturbation sampling refined
(:data:`PRECISE`).

The MH proposal covariance is a Fisher matrix of the same likelihoods at the mock's truth: the
spectra's derivatives by central differences of CLASS (2 calls per cosmological parameter + 1,
counted and timed separately), the Hessian of the log-posterior of the linearised spectra (the
likelihoods and priors evaluated, no more CLASS) by finite differences. Without a covmat the first
proposals leave the region the emulator has learned, and most of them cost a CLASS call.

Measured independently of the emulator's own counters: exact calls = the files in the cache's
points/ folder (one per CLASS call of either process; the report's calls are not stored there);
accepted steps = rows of the chain files, and those that moved a cosmological parameter; R-1 from
the chain's .progress file; wall time of the whole ``mpirun`` (the report included). A run longer
than ``--max-minutes`` is stopped and what it reached is recorded as partial.

``--resume`` continues a stopped run (its chains and cache, Cobaya's --resume) and records the
numbers of both parts together, the wall time of this part apart.

``--second-run`` runs the same model again with the cache (and Fisher covmat) a first run left in
``--outdir``: fresh chains, and the exact calls of this run are the point files it added; recorded
as ``<case>_second_run``.

``--case smoke``: the same pipeline on the shipped analytic model (online_callable.yaml's), in a
minute: checks this script, not CLASS. Results: bench/results/online.json (one entry per case;
the smoke case is only printed unless --save-smoke).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("CLIPY_NOJAX", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

ONLINE = "cobaya_plugins.theories.OnlineEmulator"
LIKELIHOODS = {"cobaya_plugins.planck.LowlTT": "lowl_TT",
               "cobaya_plugins.planck.HighlTTTEEELite": "highl_TTTEEE_lite"}  # fmt: skip
RESULTS = REPO / "bench" / "results" / "online.json"


@dataclass
class Case:
    """A benchmark case: the exact theory block, the sampled model parameters (name -> prior
    bounds or a Cobaya prior mapping, the truth, a step for the Fisher derivatives ~ σ), other
    ``params`` entries, and the parameters counted as "cosmological" when a step moves them."""

    exact: dict
    sampled: dict[str, tuple[dict, float, float]]
    other_params: dict = field(default_factory=dict)
    description: str = ""


def _lcdm_sampled(h0_min: float = 50.0) -> dict[str, tuple[dict, float, float]]:
    """The six ΛCDM parameters: name -> (prior, truth, Fisher step ~ 0.5-1 σ of the posterior)."""
    from cobaya_plugins.fiducial import fiducial_parameters

    truth = fiducial_parameters()
    return {
        "omega_b": ({"min": 0.017, "max": 0.027}, truth["omega_b"], 0.0002),
        "omega_cdm": ({"min": 0.08, "max": 0.16}, truth["omega_cdm"], 0.002),
        "H0": ({"min": h0_min, "max": 90}, truth["H0"], 1.0),
        "tau_reio": ({"dist": "norm", "loc": 0.0544, "scale": 0.0073}, truth["tau_reio"], 0.006),
        "n_s": ({"min": 0.85, "max": 1.1}, truth["n_s"], 0.006),
        "logA": ({"min": 2.6, "max": 3.5}, truth["logA"], 0.012),
    }


#: A_s from the sampled logA.
A_S = {"A_s": {"value": "lambda logA: 1e-10*np.exp(logA)"}}


def lcdm_nur() -> Case:
    return Case(
        exact={"classy": {"extra_args": {"N_ncdm": 1, "m_ncdm": 0.06, "non_linear": "hmcode"}}},
        sampled={**_lcdm_sampled(), "N_ur": ({"min": 0.05, "max": 5.0}, 2.0328, 0.2)},
        other_params=dict(A_S),
        description="ΛCDM + N_ur, CLASS (N_ncdm 1, m_ncdm 0.06, HMcode), lowl TT + plik_lite mocks",
    )


#: CLASS precision settings that remove the jumps of its default ell and perturbation sampling
#: (on lines of ±0.5 σ in N_ur through the truth the log-likelihood jumped by up to 0.09 from a
#: smooth curve with the defaults, and follows one with these; each call takes about 2x longer).
PRECISE = {"l_logstep": 1.026, "l_linstep": 25, "perturbations_sampling_stepsize": 0.05}


def lcdm_nur_precise() -> Case:
    """``lcdm_nur`` with CLASS's ell and perturbation sampling refined (:data:`PRECISE`)."""
    case = lcdm_nur()
    case.exact["classy"]["extra_args"].update(PRECISE)
    case.description = case.description.replace("HMcode", "HMcode, finer ell sampling")
    return case


def lcdm_mnu() -> Case:
    """ΛCDM + the neutrino mass (one massive species, m_ncdm = Σm_ν, truth 0.06 eV), N_ur
    fixed to CLASS's 2.0328 for one massive neutrino."""
    return Case(
        exact={"classy": {"extra_args": {"N_ncdm": 1, "N_ur": 2.0328, "non_linear": "hmcode"}}},
        sampled={**_lcdm_sampled(h0_min=40.0), "m_ncdm": ({"min": 0.0, "max": 1.5}, 0.06, 0.05)},
        other_params=dict(A_S),
        description="ΛCDM + Σm_ν, CLASS (N_ncdm 1, HMcode), lowl TT + plik_lite mocks",
    )


def smoke() -> Case:
    exact = yaml.safe_load((REPO / "yaml_examples" / "online_callable.yaml").read_text())
    block = exact["theory"][ONLINE]["exact"]
    options = block["cobaya_plugins.theories.CallableCls"]
    options["params"] = {"sigma_T": {"derived": True}}
    sampled = {
        "amplitude": ({"min": 0.8, "max": 1.2}, 1.0, 0.003),
        "tilt": ({"min": -0.2, "max": 0.2}, 0.0, 0.003),
    }
    return Case(exact=block, sampled=sampled, description="analytic model (smoke test)")


CASES = {
    "lcdm_nur": lcdm_nur,
    "lcdm_nur_precise": lcdm_nur_precise,
    "lcdm_mnu": lcdm_mnu,
    "smoke": smoke,
}


def ensure_mocks() -> dict[str, Path]:
    """Mock file path per likelihood class (written with seed 0 if missing)."""
    from cobaya_plugins.mock import write_mock

    paths = {}
    for name, kind in LIKELIHOODS.items():
        path = REPO / "mock_data" / f"{kind}.clik"
        if not path.exists():
            write_mock(kind, REPO / "mock_data", seed=0)
        paths[name] = path
    return paths


def params_block(case: Case) -> dict:
    params = {}
    for name, (prior, truth, step) in case.sampled.items():
        params[name] = {"prior": prior, "ref": {"dist": "norm", "loc": truth, "scale": step / 2},
                        "proposal": step}  # fmt: skip
        if name == "logA":
            params[name]["drop"] = True
    return {**params, **case.other_params}


def fisher_covmat(case: Case, mocks: dict[str, Path]) -> tuple[list[str], np.ndarray, dict]:
    """(names, covariance, {"exact_calls", "seconds"}) of the Fisher proposal (module doc)."""
    from cobaya.model import get_model

    from cobaya_plugins.clik import open_clik

    info = {"theory": case.exact, "params": params_block(case),
            "likelihood": {n: {"clik_file": str(p)} for n, p in mocks.items()}}  # fmt: skip
    model = get_model(info)
    names = list(model.parameterization.sampled_params())
    centre = {n: case.sampled[n][1] if n in case.sampled else 1.0 for n in names}  # A_planck 1
    steps = {n: case.sampled[n][2] if n in case.sampled else 0.0025 for n in names}
    start, calls = time.perf_counter(), 0

    def spectra(point: dict) -> dict[str, np.ndarray]:
        nonlocal calls
        calls += 1
        assert np.isfinite(model.logposterior(point).logpost), point
        cls = model.provider.get_Cl(ell_factor=False, units="FIRASmuK2")
        return {s: np.array(cls[s]) for s in ("tt", "te", "ee")}

    c0 = spectra(centre)
    derivatives = {}
    for n in case.sampled:
        up = spectra({**centre, n: centre[n] + steps[n]})
        down = spectra({**centre, n: centre[n] - steps[n]})
        derivatives[n] = {s: (up[s] - down[s]) / (2 * steps[n]) for s in c0}
    seconds = time.perf_counter() - start
    files = [open_clik(p) for p in mocks.values()]

    def logpost(x: np.ndarray) -> float:
        point = dict(zip(names, x, strict=True))
        cls = {s: c0[s] + sum((point[n] - centre[n]) * derivatives[n][s] for n in derivatives)
               for s in c0}  # fmt: skip
        nuisance = {n: point[n] for n in names if n not in case.sampled}
        total = sum(f.loglike(cls, nuisance, strict=False, unit_check="off") for f in files)
        return total + float(model.logprior(point))

    x0 = np.array([centre[n] for n in names])
    h = 0.5 * np.array([steps[n] for n in names])
    d = len(names)
    hessian = np.zeros((d, d))
    f0 = logpost(x0)
    for i in range(d):
        e_i = np.eye(d)[i] * h[i]
        hessian[i, i] = (logpost(x0 + e_i) - 2 * f0 + logpost(x0 - e_i)) / h[i] ** 2
        for j in range(i):
            e_j = np.eye(d)[j] * h[j]
            hessian[i, j] = hessian[j, i] = (
                logpost(x0 + e_i + e_j) - logpost(x0 + e_i - e_j)
                - logpost(x0 - e_i + e_j) + logpost(x0 - e_i - e_j)
            ) / (4 * h[i] * h[j])  # fmt: skip
    covariance = np.linalg.inv(-hessian)
    if np.any(np.linalg.eigvalsh(covariance) <= 0):
        raise RuntimeError(f"the Fisher matrix is not positive definite:\n{-hessian}")
    model.close()
    return names, covariance, {"exact_calls": calls, "seconds": seconds}


def chain_numbers(prefix: Path, moving: list[str]) -> dict:
    """Rows of the chain files, those whose ``moving`` parameters changed from the row before,
    and the last R-1 (means, bounds) of the .progress file."""
    rows = moved = 0
    for path in sorted(prefix.parent.glob(prefix.name + ".[0-9]*.txt")):
        lines = path.read_text().splitlines()
        header = lines[0].lstrip("#").split()
        data = np.atleast_2d(np.loadtxt(lines[1:])) if len(lines) > 1 else np.zeros((0, 1))
        rows += len(data)
        if len(data) > 1:
            x = data[:, [header.index(p) for p in moving]]
            moved += int(np.any(np.diff(x, axis=0) != 0, axis=1).sum())
    progress = Path(f"{prefix}.progress")
    last = [line.split() for line in progress.read_text().splitlines()
            if line.strip() and not line.startswith("#")] if progress.exists() else []  # fmt: skip
    return {
        "accepted_steps": rows,
        "accepted_steps_moving_model": moved,
        "Rminus1": float(last[-1][3]) if last else None,
        "Rminus1_cl": float(last[-1][4]) if last and last[-1][4] != "NaN" else None,
    }


def exact_call_numbers(cache: Path) -> dict:
    """Exact calls of the run from the cache's point files: count, failures, CLASS seconds."""
    seconds, failed = [], 0
    files = sorted(cache.glob("*/points/*.npz"))
    for path in files:
        with np.load(path, allow_pickle=False) as data:
            seconds.append(float(data["seconds"]))
            failed += bool(data["failed"]) if "failed" in data else 0
    return {
        "exact_calls": len(files),
        "exact_failed": failed,
        "exact_seconds_median": float(np.median(seconds)) if seconds else None,
        "exact_seconds_total": float(np.sum(seconds)),
    }


def run(
    case_name: str,
    mpi: int,
    max_minutes: float,
    validate: int,
    outdir: Path,
    resume: bool = False,
    second: bool = False,
) -> dict:
    """Run a case (module docstring); with ``resume``, continue the chain and cache already in
    ``outdir`` (Cobaya's --resume) with the Fisher covmat found there; with ``second``, fresh
    chains on that cache and covmat."""
    case = CASES[case_name]()
    mocks = ensure_mocks()
    outdir.mkdir(parents=True, exist_ok=True)
    cache, covmat = outdir / "cache", outdir / "fisher.covmat"
    if resume:
        fisher = json.loads((outdir / "fisher.json").read_text())
    elif second:  # the first run's covmat: no exact call for it here
        fisher = {"exact_calls": 0, "seconds": 0.0}
    else:
        if cache.exists():  # from an empty cache: the first run of a model
            import shutil

            shutil.rmtree(cache)
        print(f"{case.description}: Fisher proposal ...", flush=True)
        names, covariance, fisher = fisher_covmat(case, mocks)
        np.savetxt(covmat, covariance, header=" ".join(names))
        (outdir / "fisher.json").write_text(json.dumps(fisher))
        print(f"  {fisher['exact_calls']} exact calls, {fisher['seconds']:.0f} s; σ: "
              + ", ".join(f"{n} {s:.3g}" for n, s in zip(names, np.sqrt(np.diag(covariance)),
                                                           strict=True)), flush=True)  # fmt: skip
    calls_before = len(list(cache.glob("*/points/*.npz")))
    prefix = outdir / "chains" / ("online_second" if second else "online")
    info = {
        "theory": {ONLINE: {"exact": case.exact, "cache": str(cache), "validate": validate}},
        "likelihood": {n: {"clik_file": str(p)} for n, p in mocks.items()},
        "params": params_block(case),
        "sampler": {
            "mcmc": {
                "covmat": str(covmat),
                "Rminus1_stop": 0.02,
                "Rminus1_cl_stop": 0.2,
                "seed": 2 if second else 1,
            }
        },  # fmt: skip
        "output": str(prefix),
        ("resume" if resume else "force"): True,
    }
    name = "run_second" if second else "run"
    (outdir / f"{name}.yaml").write_text(yaml.safe_dump(info, sort_keys=False))
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "cobaya-run"), str(outdir / f"{name}.yaml")]
    if mpi > 1:
        command = [str(bin_dir / "mpirun"), "-n", str(mpi), *command]
    log = outdir / f"{name}.log"
    print(f"  {' '.join(command)}  (log: {log})", flush=True)
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.Popen(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        stopped = False
        while proc.poll() is None:
            time.sleep(30)
            minutes = (time.perf_counter() - start) / 60
            now = chain_numbers(prefix, list(case.sampled))
            print(
                f"  {minutes:5.1f} min: {len(list(cache.glob('*/points/*.npz')))} exact calls, "
                f"{now['accepted_steps']} accepted steps, R-1 {now['Rminus1']}",
                flush=True,
            )
            if minutes > max_minutes:
                os.killpg(proc.pid, signal.SIGTERM)  # the mpirun/cobaya-run group started here
                proc.wait(timeout=60)
                stopped = True
    wall = time.perf_counter() - start
    text = log.read_text()
    report_file = Path(f"{prefix}.online_report.json")
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    result = {
        "case": case_name,
        "description": case.description,
        "mpi": mpi,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_at_end": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "wall_seconds": wall,
        "converged": "The run has converged!" in text,
        "stopped_at_max_minutes": stopped,
        "returncode": proc.returncode,
        "fisher": fisher,
        "resumed": resume,
        "second_run": second,
        "exact_calls_before_this_part": calls_before,
        **exact_call_numbers(cache),
        **chain_numbers(prefix, list(case.sampled)),
    }
    if second:  # this run's calls only
        result["exact_calls"] -= calls_before
    result["accepted_steps_per_exact_call"] = result["accepted_steps"] / max(
        result["exact_calls"], 1
    )
    result["moving_steps_per_exact_call"] = result["accepted_steps_moving_model"] / max(
        result["exact_calls"], 1
    )
    if report:
        result["report"] = {k: report[k] for k in (
            "n", "exact_calls", "failed", "seconds", "delta_logpost", "ess_fraction",
            "max_shift_sigma", "max_shift_param")}  # fmt: skip
        result["report"]["sigma_ratio"] = {
            p: e.get("sigma_ratio") for p, e in report["params"].items()
        }
        result["report"]["shift_sigma"] = {
            p: e.get("shift_sigma") for p, e in report["params"].items()
        }
    progress = re.findall(r"OnlineEmulator: of \d+ points, (\d+) exact call\(s\) here", text)
    result["emulator_own_counts"] = [int(n) for n in progress[-mpi:]] if progress else []
    return result


def summary(r: dict) -> str:
    rep = r.get("report")
    lines = [
        f"{r['description']}, mpirun -n {r['mpi']}: "
        + ("converged" if r["converged"] else "NOT converged")
        + (" (stopped at --max-minutes)" if r["stopped_at_max_minutes"] else ""),
        f"  exact calls {r['exact_calls']} ({r['exact_failed']} failed; median "
        f"{r['exact_seconds_median'] or 0:.1f} s each) + {r['fisher']['exact_calls']} for the "
        f"Fisher proposal ({r['fisher']['seconds']:.0f} s)"
        + (f" + {rep['exact_calls']} for the report" if rep else ""),
        f"  wall {r['wall_seconds'] / 60:.1f} min (report included); accepted steps "
        f"{r['accepted_steps']} ({r['accepted_steps_moving_model']} moved a model parameter): "
        f"{r['accepted_steps_per_exact_call']:.1f} ({r['moving_steps_per_exact_call']:.1f}) per "
        f"exact call; R-1 {r['Rminus1']}, bounds {r['Rminus1_cl']}",
    ]
    if r.get("second_run"):
        before = r["exact_calls_before_this_part"]
        lines.append(
            f"  second run on the first run's cache of {before} points: {r['exact_calls']} exact "
            f"calls ({100 * r['exact_calls'] / max(before, 1):.1f} % of the first run's)"
        )
    if rep:
        d = rep["delta_logpost"]
        lines.append(
            f"  report ({rep['n']} draws): Δ log posterior mean {d['mean']:.3g}, std "
            f"{d['std']:.3g}, max |Δ| {d['max_abs']:.3g}; ESS {rep['ess_fraction']:.3f} N; "
            f"largest mean shift {rep['max_shift_sigma']:.3g} σ ({rep['max_shift_param']})"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="lcdm_nur", choices=list(CASES))
    parser.add_argument("--mpi", type=int, default=2, help="MPI processes (default: 2)")
    parser.add_argument("--max-minutes", type=float, default=60,
                        help="stop the run after this long (default: 60)")  # fmt: skip
    parser.add_argument("--validate", type=int, default=50, help="report draws (default: 50)")
    parser.add_argument("--outdir", default=str(REPO / "bench_output" / "online"))
    parser.add_argument("--save-smoke", action="store_true", help="save the smoke case too")
    parser.add_argument("--resume", action="store_true", help="continue the chain and cache "
                        "of a stopped run in --outdir (wall time: of this part only)")  # fmt: skip
    parser.add_argument("--second-run", action="store_true", help="fresh chains on the cache "
                        "and covmat of a first run in --outdir")  # fmt: skip
    args = parser.parse_args()
    if args.resume and args.second_run:
        parser.error("--resume and --second-run exclude each other: pick one.")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    result = run(args.case, args.mpi, args.max_minutes, args.validate,
                 Path(args.outdir) / args.case, resume=args.resume,
                 second=args.second_run)  # fmt: skip
    print(summary(result))
    if args.case != "smoke" or args.save_smoke:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results[args.case + ("_second_run" if args.second_run else "")] = result
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
