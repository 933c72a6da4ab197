"""Plugin overhead: logL through cobaya_plugins vs clipy called directly on the same vector.

Run: python bench/bench_clik.py [--mock-dir DIR] [--repeats N]
Writes the mock files into a temporary directory (or uses DIR if it already holds them), then, in
one process and interleaved round by round, times for each mock kind:
  clipy    clipy.clik(path)(vector) on the hand-assembled call vector (the baseline)
  loglike  open_clik(path).loglike(cls, nuisance)          (units conversion + vector + call)
  logp     the Cobaya likelihood class's logp(**params), theory spectra served from memory
  own      that logp with clik's own computation replaced by a constant: the plugin's own work per
           call (Cobaya's provider, units, the call vector, the unit check, the BLAS limit),
           measured directly; on a shared machine the difference logp - clipy of two noisy
           medians can be several times larger than this (cache effects and neighbours)
Targets (issue: core package): plik (47 parameters) logp/clipy <= 1.05; commander overhead
<= 50 µs per call. Run it with OPENBLAS_NUM_THREADS=1 (as `make bench` does) so that the clipy
baseline uses the same single BLAS thread the plugin sets during its calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLIPY_NOJAX", "1")

from bench_common import in_memory_likelihood, per_call  # noqa: E402

from cobaya_plugins.clik import open_clik  # noqa: E402
from cobaya_plugins.fiducial import load_fiducial  # noqa: E402
from cobaya_plugins.mock import CMB_KINDS, default_nuisance, write_mock  # noqa: E402

CLASSES = {
    "lowl_TT": "LowlTT",
    "highl_TTTEEE": "HighlTTTEEE",
    "highl_TTTEEE_lite": "HighlTTTEEELite",
}


def cobaya_like(kind: str, path: Path, cls: dict):
    """The Cobaya likelihood class for `kind`, fed by a Theory that serves `cls` from memory."""
    name = f"cobaya_plugins.planck.{CLASSES[kind]}"
    return in_memory_likelihood(name, {"clik_file": str(path)}, cls, default_nuisance(kind))


def bench_kind(kind: str, path: Path, fid: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of the three ways for one mock file (interleaved rounds)."""
    import clipy

    nuis = default_nuisance(kind)
    lkl = open_clik(path)
    direct = clipy.clik(str(path))
    vector = lkl.call_vector(fid, nuis)
    assert direct(vector.copy()) == lkl.loglike(fid, nuis)
    like = cobaya_like(kind, path, fid)
    assert like.logp(**nuis) == lkl.loglike(fid, nuis)
    ways = {
        "clipy": lambda: direct(vector),
        "loglike": lambda: lkl.loglike(fid, nuis),
        "logp": lambda: like.logp(**nuis),
    }
    n = max(20, int(0.3 / per_call(ways["clipy"], 5)))  # ~0.3 s of work per timing
    rounds: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(repeats):
        for k, fn in ways.items():
            rounds[k].append(per_call(fn, n))
    # the plugin's own work: the same logp with the loaded clik object answering a constant
    like.clik._file = dataclasses.replace(like.clik._file, lkl=lambda _vector: -1.0)
    own = min(per_call(ways["logp"], 2000) for _ in range(repeats))
    return {"n": n, **{k: statistics.median(v) for k, v in rounds.items()}, "own": own}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mock-dir", default=None)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    args = parser.parse_args()
    mock_dir = Path(args.mock_dir or tempfile.mkdtemp(prefix="bench_clik_"))
    fid = load_fiducial()
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(
        f"{'kind':18s} {'n':>5s} {'clipy':>10s} {'loglike':>10s} {'logp':>10s} "
        f"{'logp/clipy':>10s} {'overhead':>10s} {'own':>8s}"
    )
    for kind in CMB_KINDS:
        path = mock_dir / f"{kind}.clik"
        if not path.exists():
            write_mock(kind, mock_dir, seed=0)
        med = bench_kind(kind, path, fid, args.repeats)
        ratio = med["logp"] / med["clipy"]
        over = (med["logp"] - med["clipy"]) * 1e6
        print(
            f"{kind:18s} {med['n']:5d} {med['clipy'] * 1e3:8.3f}ms {med['loglike'] * 1e3:8.3f}ms "
            f"{med['logp'] * 1e3:8.3f}ms {ratio:10.3f} {over:8.1f}µs {med['own'] * 1e6:6.1f}µs"
        )
    print("targets: highl_TTTEEE logp/clipy <= 1.05; lowl_TT overhead <= 50 µs")
    print("overhead = median logp - median clipy (noisy); own = logp with clik stubbed (minimum)")


if __name__ == "__main__":
    main()
