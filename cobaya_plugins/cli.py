"""Command line: ``python -m cobaya_plugins info FILE | mock KIND OUTDIR | triangle ROOT PNG``.

Errors print one line (``error: ...``, fixes written as this command's flags) and exit 1;
``info`` also exits 1 when the file's self-check fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _info(args: argparse.Namespace) -> int:
    from .clik import LKL_TYPES, open_clik

    lkl = open_clik(args.file, backend=args.backend)
    print(f"file:      {lkl.path}")
    print(f"type:      {LKL_TYPES.get(lkl.lkl_type, lkl.lkl_type)} (read with {lkl.backend})")
    spectra = ", ".join(f"{s.upper()} ell 0..{lm}" for s, lm in lkl.lmax.items())
    print(f"spectra:   {spectra}")
    print(f"vector:    {lkl.vector_size} values (C_ell in µK² from ell = 0, then nuisance)")
    print(f"nuisance:  {len(lkl.nuisance_names)} parameters, in the file's order:")
    for i, name in enumerate(lkl.nuisance_names):
        print(f"  {i:3d} {name}")
    check = lkl.self_check
    if check is None:
        print("self-check: none in this file")
        return 0
    if check.passed:
        print(f"self-check: {check}")
        return 0
    print(f"self-check: SELF-CHECK FAILED: {check}")
    print(
        "error: SELF-CHECK FAILED: the loglike at the file's own check point differs from the "
        "value stored in it. Likely causes: a corrupt or incomplete download, an edited file, or "
        "a backend that disagrees with the one that wrote the file (try --backend). Re-download "
        "the file.",
        file=sys.stderr,
    )
    return 1


def _mock(args: argparse.Namespace) -> int:
    from .mock import mock_filename, write_mock

    target = Path(args.outdir) / mock_filename(args.kind)
    if target.exists() and not args.overwrite:
        raise FileExistsError(f"{target} already exists; add --overwrite to replace it.")
    path = write_mock(
        args.kind, args.outdir, seed=args.seed, fiducial=args.fiducial, overwrite=args.overwrite
    )
    print(f"wrote {path}")
    return 0


def _fraction(text: str) -> float:
    """argparse type: a float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"{text} is not a fraction in [0, 1) (e.g. 0.3 skips the first 30% of each chain)"
        )
    return value


def _triangle(args: argparse.Namespace) -> int:
    from .plots import triangle_plot

    out = triangle_plot(args.chain_root, args.out, params=args.params, burn_in=args.burn_in)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cobaya_plugins``."""
    from .clik import BACKENDS
    from .mock import KINDS

    parser = argparse.ArgumentParser(
        prog="python -m cobaya_plugins", description="Planck clik likelihood tools for Cobaya."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="describe a .clik file (spectra, lmax, nuisance names)")
    info.add_argument("file", help="path of the .clik directory")
    info.add_argument(
        "--backend", default="auto", choices=BACKENDS, help="how to read it (default: auto)"
    )
    info.set_defaults(func=_info)
    mock = sub.add_parser("mock", help="write a Planck-like mock .clik file")
    mock.add_argument("kind", choices=KINDS)
    mock.add_argument(
        "outdir", help="directory to write <kind>.clik (lensing.clik_lensing) into (created)"
    )
    mock.add_argument("--seed", type=int, default=0, help="random seed of the mock data")
    mock.add_argument(
        "--fiducial",
        default=None,
        help="fiducial spectrum file (columns ell TT EE BB TE, D_ell in µK²); default: shipped",
    )
    mock.add_argument("--overwrite", action="store_true", help="replace an existing file")
    mock.set_defaults(func=_mock)
    tri = sub.add_parser("triangle", help="getdist triangle plot (PNG) of a Cobaya chain")
    tri.add_argument("chain_root", help="output prefix of the chain, e.g. chains/mock_demo")
    tri.add_argument("out", help="PNG file to write (directories are created)")
    tri.add_argument(
        "--params", nargs="+", default=None, help="parameters to plot (default: sampled, "
        "non-nuisance parameters)"
    )
    tri.add_argument(
        "--burn-in",
        type=_fraction,
        default=0.3,
        help="fraction of each chain to skip, in [0, 1) (default: %(default)s)",
    )
    tri.set_defaults(func=_triangle)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors print one line, status 1)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
