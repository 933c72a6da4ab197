"""CosmoPower emulator: theory-call time vs CLASS, and time to R-1 <= 0.05 of the emulator chains.

Run: python bench/bench_emulator.py [--repeats N] [--class-repeats N] [--chains lite plik]
                                   [--mpi N]
From the repository root (the chains use yaml_examples/ and mock_data/, written if missing).

1. Theory call at the Planck 2018 best fit, one point at a time (what an MCMC does), median of
   interleaved rounds: the emulator as cobaya_plugins.theories.CosmoPower evaluates it (numpy,
   TT+TE+EE and TT+TE+EE+PP), cosmopower-jax's own predict jitted with JAX (reference), and CLASS
   (classy) with lensed spectra to ell = 2508: 'matched' settings (massless neutrinos, linear
   lensing: the emulator's training) and Planck's (one 0.06 eV neutrino, HMcode). Ratio CLASS /
   emulator.
2. For each chain (lite: yaml_examples/lcdm_emulator_mock_lite.yaml, what `make demo` runs; plik:
   yaml_examples/lcdm_emulator_mock.yaml), `cobaya-run` from scratch into a temporary folder with
   the shipped covmat, until Cobaya's convergence test (R-1 <= 0.05 on means, 0.2 on bounds):
   wall time, CPU time, accepted steps, last R-1 (from the chain's .progress file). With
   ``--mpi N`` each chain runs as N MPI processes (``mpirun -n N cobaya-run``, the ``mpi`` extra):
   N chains, and R-1 between them.
Note: the timings are for this machine as it is; on a shared machine rerun when quiet (`uptime`).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("CLIPY_NOJAX", "1")

import yaml  # noqa: E402

from cobaya_plugins.emulator import LMAX, CMBEmulator  # noqa: E402
from cobaya_plugins.emulator_check import BESTFIT, CLASS_SETTINGS, class_spectra  # noqa: E402

CHAINS = {
    "lite": ("yaml_examples/lcdm_emulator_mock_lite.yaml", ("lowl_TT", "highl_TTTEEE_lite")),
    "plik": ("yaml_examples/lcdm_emulator_mock.yaml", ("lowl_TT", "highl_TTTEEE")),
}


def per_call(fn, n: int) -> float:
    """Mean seconds per call of fn over n calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def cpj_jitted():
    """cosmopower-jax's predict of TT, TE, EE jitted (None if JAX cannot be used)."""
    try:
        import jax
        import numpy as np
        from cosmopower_jax.cosmopower_jax import CosmoPowerJAX
    except ImportError:
        return None
    networks = [CosmoPowerJAX(probe=f"cmb_{s}", verbose=False) for s in ("tt", "te", "ee")]
    predict = jax.jit(lambda x: [n.predict(x) for n in networks])
    x = np.array(list(BESTFIT.values()))
    return lambda: [np.asarray(a) for a in predict(x)]


def bench_calls(repeats: int, class_repeats: int) -> None:
    """Print the theory-call table."""
    emulators = {
        "emulator TT+TE+EE (numpy)": CMBEmulator(["tt", "te", "ee"]),
        "emulator TT+TE+EE+PP (numpy)": CMBEmulator(),
    }
    ways = {name: (lambda e=e: e(BESTFIT)) for name, e in emulators.items()}
    jitted = cpj_jitted()
    if jitted is not None:
        jitted()  # compile
        ways["cosmopower-jax jit TT+TE+EE"] = jitted
    for fn in ways.values():
        fn()
    rounds: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(repeats):
        for name, fn in ways.items():
            rounds[name].append(per_call(fn, 50))
    times = {name: statistics.median(v) for name, v in rounds.items()}
    for name in ("matched", "planck"):
        settings = CLASS_SETTINGS[name]
        times[f"CLASS '{name}' (lmax {LMAX})"] = per_call(
            lambda s=settings: class_spectra(BESTFIT, s), class_repeats
        )
    base = times["emulator TT+TE+EE (numpy)"]
    print(f"{'theory call at the best fit':36s} {'time':>10s} {'/ emulator':>11s}")
    for name, seconds in times.items():
        shown = f"{seconds * 1e3:8.2f}ms" if seconds < 1 else f"{seconds:9.2f}s"
        print(f"{name:36s} {shown:>10s} {seconds / base:11.1f}")


def ensure_mocks(kinds) -> None:
    from cobaya_plugins.mock import write_mock

    for kind in kinds:
        if not (REPO / "mock_data" / f"{kind}.clik").exists():
            write_mock(kind, REPO / "mock_data", seed=0)


def run_chain(name: str, outdir: Path, mpi: int = 1) -> dict:
    """Run one example chain to convergence; wall/CPU time, accepted steps, last R-1."""
    path, kinds = CHAINS[name]
    ensure_mocks(kinds)
    info = yaml.safe_load((REPO / path).read_text())
    info["output"] = str(outdir / name)
    info_file = outdir / f"{name}.yaml"
    info_file.write_text(yaml.safe_dump(info))
    cobaya_run = Path(sys.executable).with_name("cobaya-run")
    command = [str(cobaya_run), "--force", str(info_file)]
    if mpi > 1:
        command = [str(Path(sys.executable).with_name("mpirun")), "-n", str(mpi), *command]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"cobaya-run {path} failed:\n{done.stderr[-3000:]}")
    log = done.stdout + done.stderr
    accepted = re.search(r"Sampling complete after (\d+) accepted steps", log)
    rows = [
        line.split()
        for line in (outdir / f"{name}.progress").read_text().splitlines()
        if not line.startswith("#")
    ]
    return {
        "wall": wall,
        "cpu": cpu,
        "accepted": int(accepted.group(1)) if accepted else -1,
        "Rminus1": float(rows[-1][3]),
        "Rminus1_cl": float(rows[-1][4]),
        "converged": "The run has converged!" in log,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (emulator)")
    parser.add_argument("--class-repeats", type=int, default=3, help="CLASS calls per setting")
    parser.add_argument("--chains", nargs="*", default=list(CHAINS), choices=list(CHAINS))
    parser.add_argument("--mpi", type=int, default=1, help="MPI processes (chains) per run")
    args = parser.parse_args()
    print(
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    bench_calls(args.repeats, args.class_repeats)
    if args.chains:
        print(
            f"\n{'chain (time to R-1 <= 0.05)':28s} {'wall':>8s} {'CPU':>8s} {'accepted':>9s} "
            f"{'R-1':>7s} {'R-1 cl':>7s}"
        )
    for name in args.chains:
        with tempfile.TemporaryDirectory(prefix="bench_emulator_") as outdir:
            r = run_chain(name, Path(outdir), args.mpi)
        flag = "" if r["converged"] else "  (did not converge)"
        print(
            f"{name:28s} {r['wall']:7.0f}s {r['cpu']:7.0f}s {r['accepted']:9d} "
            f"{r['Rminus1']:7.3f} {r['Rminus1_cl']:7.3f}{flag}"
        )


if __name__ == "__main__":
    main()
