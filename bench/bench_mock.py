"""Mock .clik writer: generation time, file size, fiducial loglike and clipy's time per call.

Run: python bench/bench_mock.py [--repeats N] [--seed S]
For each mock kind, writes the file into a temporary directory and prints the time to write it
(including the clipy evaluation of the self-check), its size on disk, clipy's loglike at the
fiducial (chi2 = -2 logL and the number of data points), and clipy's mean time per call.
Target (task: mock writer): generating the plik mock takes a few seconds at most.
Note: on a loaded machine, multi-threaded BLAS can make clipy's smica (plik) much slower;
compare with OPENBLAS_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLIPY_NOJAX", "1")

import clipy  # noqa: E402
from astropy.io import fits  # noqa: E402

from cobaya_plugins.mock import CMB_KINDS, write_mock  # noqa: E402

N_DATA = {"lowl_TT": 28, "highl_TTTEEE": 2289, "highl_TTTEEE_lite": 613}


def directory_size(path: Path) -> int:
    """Total size in bytes of the files under path."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="clipy calls to time per kind")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    header = f"{'kind':18s} {'write [s]':>9s} {'size [MB]':>9s} {'logL':>10s} {'chi2/n':>12s}"
    print(header + f" {'load [s]':>8s} {'call [ms]':>9s}")
    with tempfile.TemporaryDirectory() as outdir:
        for kind in CMB_KINDS:
            start = time.perf_counter()
            path = write_mock(kind, outdir, seed=args.seed)
            written = time.perf_counter() - start
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                likelihood = clipy.clik(str(path))
            loaded = time.perf_counter() - start
            vector = fits.getdata(path / "clik" / "check_param").astype(float)
            loglike = float(likelihood(vector))
            start = time.perf_counter()
            for _ in range(args.repeats):
                likelihood(vector)
            per_call = (time.perf_counter() - start) / args.repeats
            chi2 = f"{-2 * loglike:.1f}/{N_DATA[kind]}"
            print(
                f"{kind:18s} {written:9.2f} {directory_size(path) / 1e6:9.2f} {loglike:10.2f} "
                f"{chi2:>12s} {loaded:8.2f} {per_call * 1e3:9.2f}"
            )


if __name__ == "__main__":
    main()
