"""Command line: ``python -m cobaya_plugins info|mock|triangle|emulator-check ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _info(args: argparse.Namespace) -> int:
    from .clik import open_clik

    lkl = open_clik(args.file, backend=args.backend)
    print(f"file:      {lkl.path}")
    print(f"type:      {lkl.lkl_type} (read with {lkl.backend})")
    spectra = ", ".join(f"{s.upper()} ell 0..{lm}" for s, lm in lkl.lmax.items())
    print(f"spectra:   {spectra}")
    print(f"vector:    {lkl.vector_size} values (C_ell in µK² from ell = 0, then nuisance)")
    print(f"nuisance:  {len(lkl.nuisance_names)} parameters, in the file's order:")
    for i, name in enumerate(lkl.nuisance_names):
        print(f"  {i:3d} {name}")
    print(f"self-check: {lkl.self_check or 'none in this file'}")
    return 0


def _mock(args: argparse.Namespace) -> int:
    from .mock import write_mock

    path = write_mock(
        args.kind, args.outdir, seed=args.seed, fiducial=args.fiducial, overwrite=args.overwrite
    )
    print(f"wrote {path}")
    return 0


def _triangle(args: argparse.Namespace) -> int:
    from .plots import triangle_plot

    markers = None
    if args.mark_truth:
        from .fiducial import fiducial_parameters

        markers = fiducial_parameters()
    out = triangle_plot(
        args.chain_root, args.out, params=args.params, burn_in=args.burn_in, markers=markers
    )
    print(f"wrote {out}")
    return 0


def _emulator_check(args: argparse.Namespace) -> int:
    from .emulator_check import format_report, run_check

    covmat = None if args.covmat.lower() == "none" else args.covmat
    report = run_check(
        args.n, args.settings, seed=args.seed, mock_dir=args.mock_dir, covmat=covmat
    )
    print(format_report(report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cobaya_plugins``."""
    from .mock import KINDS

    parser = argparse.ArgumentParser(
        prog="python -m cobaya_plugins", description="Planck clik likelihood tools for Cobaya."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="describe a .clik file (spectra, lmax, nuisance names)")
    info.add_argument("file", help="path of the .clik directory")
    info.add_argument("--backend", default="auto", choices=("auto", "clik", "clipy"))
    info.set_defaults(func=_info)
    mock = sub.add_parser("mock", help="write a Planck-like mock .clik file")
    mock.add_argument("kind", choices=KINDS)
    mock.add_argument("outdir", help="directory to write <kind>.clik into (created if needed)")
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
    tri.add_argument("--burn-in", type=float, default=0.3, help="fraction of each chain to skip")
    tri.add_argument(
        "--mark-truth", action="store_true",
        help="mark the true values of the mock data (the shipped fiducial's parameters)",
    )  # fmt: skip
    tri.set_defaults(func=_triangle)
    from .emulator_check import CLASS_SETTINGS, DEFAULT_COVMAT

    check = sub.add_parser(
        "emulator-check", help="CosmoPower emulator vs CLASS: Δχ² on the mocks, ΔC_ell/σ_cv"
    )
    check.add_argument("--n", type=int, default=20, help="points (the best fit + n-1 draws)")
    check.add_argument(
        "--settings", nargs="+", default=["matched"], choices=list(CLASS_SETTINGS),
        help="CLASS settings to compare with (default: matched = the emulator's training)",
    )  # fmt: skip
    check.add_argument("--seed", type=int, default=0, help="seed of the random points")
    check.add_argument("--mock-dir", default=None, help="where the mock files are (or go)")
    check.add_argument(
        "--covmat", default=DEFAULT_COVMAT,
        help="Cobaya covmat the points are drawn with (default: %(default)s, relative to the "
        "working directory); 'none': Planck's 68%% errors, uncorrelated",
    )  # fmt: skip
    check.set_defaults(func=_emulator_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors print one line, status 1)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
