"""Speed: this plugin (numpy and JAX) vs clipy direct vs Cobaya's own Planck wrapper, same files.

Run: python bench/bench_speed.py [--mock-dir DIR] [--repeats N] [--batch N] [--kinds K ...]
Writes the mock files into a temporary directory (or uses DIR if it already holds them). For each
mock kind, in one process, it first checks that every way gives the same logL (numpy ways equal
to 1e-12 relative, JAX to 1e-6 — the target; in practice ~1e-14), then times them in
interleaved rounds (median seconds per call):
  cobaya      Cobaya's own wrapper on the same file (planck_2018_highl_plik.TTTEEE,
              planck_2018_highl_plik.TTTEEE_lite, planck_2018_lowl.TT_clik: Cobaya's
              planck_2018_lowl.TT is a native re-implementation that cannot read a .clik file)
  clipy       clipy.clik(path)(vector), numpy (what both wrappers call)
  plugin      this package's Cobaya class, logp(**params), backend auto (clipy on numpy)
  jax         the same class with `backend: jax`
  jax+grad    open_clik(path, "jax").loglike_and_grad(cls, nuisance) (value and full gradient)
  jax batch   jax.vmap over --batch points in one call, time per point
Theory spectra are served from memory (the fiducial spectrum), so only the likelihood is timed.
Also prints the JAX backend's one-off cost per file (load incl. clipy's self-check, compile).
Target (issue: speed and scale): plik TTTEEE (47 parameters) jax >= 2x faster than cobaya.
Run it with OPENBLAS_NUM_THREADS=1 (as `make bench` does); XLA uses its own threads.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CLIPY_NOJAX", "1")  # the public clipy (reference, Cobaya's) on numpy

import numpy as np  # noqa: E402
from bench_common import in_memory_likelihood, per_call  # noqa: E402

from cobaya_plugins.clik import open_clik  # noqa: E402
from cobaya_plugins.fiducial import load_fiducial  # noqa: E402
from cobaya_plugins.mock import CMB_KINDS, default_nuisance, write_mock  # noqa: E402

OURS = {"lowl_TT": "LowlTT", "highl_TTTEEE": "HighlTTTEEE", "highl_TTTEEE_lite": "HighlTTTEEELite"}
COBAYAS = {
    "lowl_TT": "planck_2018_lowl.TT_clik",
    "highl_TTTEEE": "planck_2018_highl_plik.TTTEEE",
    "highl_TTTEEE_lite": "planck_2018_highl_plik.TTTEEE_lite",
}


def bench_kind(kind: str, path: Path, repeats: int, batch: int) -> dict:
    """Equality checks, one-off JAX costs, and median seconds per call of each way."""
    import clipy

    cls, nuis = load_fiducial(), default_nuisance(kind)
    vector = open_clik(path).call_vector(cls, nuis)
    with contextlib.redirect_stdout(io.StringIO()):
        direct = clipy.clik(str(path))
    cobaya = in_memory_likelihood(COBAYAS[kind], {"clik_file": str(path)}, cls, nuis)
    plugin = in_memory_likelihood(
        f"cobaya_plugins.planck.{OURS[kind]}", {"clik_file": str(path)}, cls, nuis
    )
    t0 = time.perf_counter()
    jax_lkl = open_clik(path, "jax")  # loads, compiles the value, evaluates the self-check
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax_lkl.loglike_and_grad(cls, nuis)
    compile_grad = time.perf_counter() - t0
    jax_like = in_memory_likelihood(
        f"cobaya_plugins.planck.{OURS[kind]}", {"clik_file": str(path), "backend": "jax"}, cls, nuis
    )
    jax_clik = jax_lkl._file.lkl  # the JaxClik itself, for the batch (bench only)
    vectors = np.repeat(vector[np.newaxis], batch, axis=0)
    jax_clik.batch(vectors)  # compile

    reference = cobaya.logp(**nuis)
    values = {"clipy": float(direct(vector.copy())), "plugin": plugin.logp(**nuis)}
    for way, value in values.items():
        assert value == reference or abs(value / reference - 1) < 1e-12, (way, value, reference)
    jax_values = {
        "jax": jax_like.logp(**nuis),
        "jax+grad": jax_lkl.loglike_and_grad(cls, nuis)[0],
        "jax batch": float(jax_clik.batch(vectors)[-1]),
    }
    for way, value in jax_values.items():
        assert abs(value / reference - 1) < 1e-6, (way, value, reference)
    worst = max(abs(v / reference - 1) for v in jax_values.values())

    ways = {
        "cobaya": lambda: cobaya.logp(**nuis),
        "clipy": lambda: direct(vector),
        "plugin": lambda: plugin.logp(**nuis),
        "jax": lambda: jax_like.logp(**nuis),
        "jax+grad": lambda: jax_lkl.loglike_and_grad(cls, nuis),
        "jax batch": lambda: jax_clik.batch(vectors),
    }
    n = max(10, int(0.3 / per_call(ways["clipy"], 3)))  # ~0.3 s of numpy work per timing
    rounds: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(repeats):
        for way, fn in ways.items():
            calls = max(2, n // batch) if way == "jax batch" else n
            rounds[way].append(per_call(fn, calls) / (batch if way == "jax batch" else 1))
    med = {way: statistics.median(v) for way, v in rounds.items()}
    return {
        "n": n,
        "logL": reference,
        "jax_rel": worst,
        "load": load,
        "compile_grad": compile_grad,
        **med,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mock-dir", default=None)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--batch", type=int, default=16, help="points per vmap call")
    parser.add_argument("--kinds", nargs="+", default=list(CMB_KINDS), choices=CMB_KINDS)
    args = parser.parse_args()
    mock_dir = Path(args.mock_dir or tempfile.mkdtemp(prefix="bench_speed_"))
    import jax

    print(
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}  "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', 'unset')}  jax {jax.__version__}  "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    ways = ["cobaya", "clipy", "plugin", "jax", "jax+grad", "jax batch"]
    results = {}
    for kind in args.kinds:
        path = mock_dir / f"{kind}.clik"
        if not path.exists():
            write_mock(kind, mock_dir, seed=0)
        results[kind] = res = bench_kind(kind, path, args.repeats, args.batch)
        print(
            f"\n{kind}: logL {res['logL']:.6f}, equal in every way (JAX: max rel. diff "
            f"{res['jax_rel']:.1e}); JAX one-off: open+compile+self-check {res['load']:.1f} s, "
            f"gradient compile {res['compile_grad']:.1f} s"
        )
        print("  " + "".join(f"{w:>11s}" for w in ways))
        print("  " + "".join(f"{res[w] * 1e3:9.3f}ms" for w in ways))
        print(
            "  "
            + "".join(f"{res['cobaya'] / res[w]:10.2f}x" for w in ways)
            + "   (cobaya / way: speed-up over Cobaya's wrapper)"
        )
        print(
            f"  value+grad / value (jax): {res['jax+grad'] / res['jax']:.2f}; "
            f"batch of {args.batch} per point / single (jax): "
            f"{res['jax batch'] / res['jax']:.2f}"
        )
    if "highl_TTTEEE" in results:
        ratio = results["highl_TTTEEE"]["cobaya"] / results["highl_TTTEEE"]["jax"]
        verdict = "met" if ratio >= 2 else "NOT met"
        print(
            f"\ntarget: plik TTTEEE jax >= 2x faster than Cobaya's wrapper: {ratio:.2f}x "
            f"({verdict})"
        )


if __name__ == "__main__":
    main()
