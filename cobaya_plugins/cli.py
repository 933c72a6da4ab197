"""Command line: ``python -m cobaya_plugins info | mock | triangle | install | validate |
residuals | emulator-check | profile | online-report`` (``--help`` on each).

Errors print one line (``error: ...``, fixes written as this command's flags) and exit 1;
``info`` also exits 1 when the file's self-check fails, ``install`` when a download, check or
self-check fails, ``validate`` when a χ² is off the published value.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _info(args: argparse.Namespace) -> int:
    from cobaya_plugins.clik import LKL_TYPES, open_clik
    from cobaya_plugins.mock import describe_truth, read_truth

    lkl = open_clik(args.file, backend=args.backend)
    print(f"file:      {lkl.path}")
    print(f"type:      {LKL_TYPES.get(lkl.lkl_type, lkl.lkl_type)} (read with {lkl.backend})")
    spectra = ", ".join(f"{s.upper()} ell 0..{lm}" for s, lm in lkl.lmax.items())
    print(f"spectra:   {spectra}")
    _print_data_ranges(lkl.path)
    print(f"vector:    {lkl.vector_size} values (C_ell in µK² from ell = 0, then nuisance)")
    truth = read_truth(lkl.path)
    if truth is None:
        print(f"nuisance:  {len(lkl.nuisance_names)} parameters, in the file's order:")
        for i, name in enumerate(lkl.nuisance_names):
            print(f"  {i:3d} {name}")
    else:
        print(f"nuisance:  {len(lkl.nuisance_names)} parameters, in the file's order, with the "
              "mock's true values:")  # fmt: skip
        width = max(len(n) for n in lkl.nuisance_names)
        for i, name in enumerate(lkl.nuisance_names):
            print(f"  {i:3d} {name:<{width}}  {truth.nuisance.get(name, float('nan')):g}")
        print(f"mock:      {describe_truth(truth)}")
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


def _print_data_ranges(path: Path) -> None:
    """The ``data:`` lines of ``info``: ell range and bins per spectrum (and cross-spectrum)."""
    from cobaya_plugins.clikdata import data_ranges

    try:
        ranges = data_ranges(path)
    except (OSError, ValueError, KeyError) as exc:
        print(f"data:      not readable ({exc})")
        return
    if not ranges:
        print("data:      ranges not known for this likelihood type")
        return
    print("data:      " + str(ranges[0]))
    for item in ranges[1:]:
        print("           " + str(item))


def _mock(args: argparse.Namespace) -> int:
    from cobaya_plugins.mock import mock_filename, read_truth, write_mock

    target = Path(args.outdir) / mock_filename(args.kind)
    if target.exists() and not args.overwrite:
        truth = read_truth(target)
        source = "shipped" if args.fiducial is None else str(Path(args.fiducial).resolve())
        if truth is not None and (truth.kind, truth.seed, truth.fiducial) == (
            args.kind,
            args.seed,
            source,
        ):  # the same mock: writing it again would give the same bytes
            print(f"{target} is already this mock (seed {args.seed}): nothing to do")
            return 0
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
    from cobaya_plugins.plots import triangle_plot

    markers = None
    if args.mark_truth:
        from cobaya_plugins.fiducial import fiducial_parameters

        markers = fiducial_parameters()
    out = triangle_plot(
        args.chain_root, args.out, params=args.params, burn_in=args.burn_in, markers=markers
    )
    print(f"wrote {out}")
    return 0


def _install(args: argparse.Namespace) -> int:
    from cobaya_plugins.install import InstallError, default_data_directory, format_table, install

    directory = args.path or default_data_directory(product=args.product)
    if directory is None:
        raise ValueError(
            "No --path given and no Cobaya packages path is set: add --path DIR (or "
            "--path PACKAGES/data/planck_2018 to share the files with cobaya-install)."
        )
    try:
        result = install(args.product, directory, url=args.url, force=args.force,
                         progress=not args.no_progress, sha256=args.sha256)  # fmt: skip
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_table(result.entries))
    if not result.ok:
        print("error: some files failed their self-check (above): the install is not recorded; "
              "re-run with --force after checking the archive.", file=sys.stderr)  # fmt: skip
        return 1
    if not result.already:
        print(f"installed in {result.directory}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from cobaya_plugins.install import default_data_directory
    from cobaya_plugins.validate import format_checks, validate

    directory = args.path or default_data_directory(args.packages_path)
    if directory is None:
        raise ValueError(
            "No Planck data directory: add --packages-path PACKAGES (as for cobaya-install) or "
            "--path DIR (the directory holding baseline/)."
        )
    print(f"data directory: {directory}")
    checks = validate(directory)
    print(format_checks(checks))
    found = [c for c in checks if c.loglike is not None]
    if not found:
        print(
            f"error: no Planck 2018 likelihood file under {directory}. Install them with "
            f"`python -m cobaya_plugins install planck2018 --path {directory}`.",
            file=sys.stderr,
        )
        return 1
    return 0 if all(c.passed for c in found) else 1


def _residuals(args: argparse.Namespace) -> int:
    import json

    from cobaya_plugins.clik import check_clik_path
    from cobaya_plugins.diagnostics import read_cls_file, read_nuisance_file, residuals
    from cobaya_plugins.mock import read_truth
    from cobaya_plugins.plots import residuals_figure
    from cobaya_plugins.unit_check import UnitMistakeError, UnitReading
    from cobaya_plugins.validate import best_fit_nuisance

    clik_file = check_clik_path(args.file)
    if args.cls == "fiducial":
        from cobaya_plugins.fiducial import load_fiducial

        if args.units != "muK2" or args.ell_factor:
            raise ValueError("--cls fiducial is the shipped spectrum, whose units are known: "
                             "leave out --units and --ell-factor.")  # fmt: skip
        cls = load_fiducial()  # C_ell in µK², as the default flags say
        print("spectrum: the shipped fiducial (CLASS, Planck 2018 best fit)")
    else:
        cls = read_cls_file(args.cls)  # the numbers as written; their units go to residuals()
    given = read_nuisance_file(args.nuisance) if args.nuisance else {}
    truth = read_truth(clik_file)
    if truth is not None:  # a mock: its own truth, so that chi2 ~ number of bins
        defaults, source = truth.nuisance, "the values this mock was drawn with (mock_truth.yaml)"
    elif clik_file.lkl_type == "smica":
        defaults, source = best_fit_nuisance(), "their Planck 2018 best-fit values"
    else:
        defaults, source = {}, ""
    filled = [name for name in defaults if name not in given]
    if filled:
        what = f"{len(filled)} parameters" if len(filled) > 1 else "1 parameter"
        verb = "take" if len(filled) > 1 else "takes"
        names = ", ".join(filled) if len(filled) <= 10 else "`info FILE` lists them"
        print(f"nuisance: {what} not in --nuisance {verb} {source} ({names})")
    try:
        result = residuals(clik_file, cls, {**defaults, **given}, units=args.units,
                           ell_factor=args.ell_factor, T_cmb=args.T_cmb)  # fmt: skip
    except UnitMistakeError as exc:  # the fix as this command's flags
        reading = exc.diagnosis.explained_by
        fix = reading.cli_fix(UnitReading(args.units, bool(args.ell_factor)))
        raise ValueError(f"{exc.diagnosis.describe()}: this looks like {reading}; {fix}.") from None
    print(result.table())
    out = residuals_figure(result, args.out, dpi=args.dpi)
    print(f"wrote {out}")
    if args.json:
        target = Path(args.json)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result.as_json(), indent=1))
        print(f"wrote {target}")
    return 0


def _emulator_check(args: argparse.Namespace) -> int:
    from cobaya_plugins.emulator_check import format_report, run_check

    covmat = None if args.covmat.lower() == "none" else args.covmat
    report = run_check(args.n, args.settings, seed=args.seed, mock_dir=args.mock_dir,
                       covmat=covmat, progress=lambda line: print(line, flush=True))  # fmt: skip
    print()
    print(format_report(report))
    return 0


def _online_report(args: argparse.Namespace) -> int:
    from cobaya_plugins.online.report import exactness_report, summary

    report = exactness_report(args.prefix, args.n, seed=args.seed, burn_in=args.burn_in)
    print(summary(report))
    return 0


def _add_online_report_command(sub: argparse._SubParsersAction) -> None:
    """The ``online-report`` sub-command."""
    rep = sub.add_parser(
        "online-report",
        help="exactness report of an OnlineEmulator chain: the exact theory at random posterior "
        "samples (Δ log posterior, importance-weight ESS, mean shifts)",
        epilog="Writes PREFIX.online_report.json (docs/online_emulator.md). Example: python -m "
        "cobaya_plugins online-report chains/my_run --n 50",
    )  # fmt: skip
    rep.add_argument("prefix", help="output prefix of the run (chains/my_run for "
                     "chains/my_run.1.txt and chains/my_run.updated.yaml)")  # fmt: skip
    rep.add_argument("--n", type=int, default=50, help="posterior draws, each an exact call "
                     "(default: %(default)s)")  # fmt: skip
    rep.add_argument("--seed", type=int, default=None, help="seed of the draws (default: a "
                     "fresh one, written in the report)")  # fmt: skip
    rep.add_argument("--burn-in", type=_fraction, default=0.3, help="fraction of each chain to "
                     "skip, in [0, 1) (default: %(default)s)")  # fmt: skip
    rep.set_defaults(func=_online_report)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cobaya_plugins``."""
    from cobaya_plugins.clik import BACKENDS
    from cobaya_plugins.mock import KINDS

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
        "--params",
        nargs="+",
        default=None,
        help="parameters to plot (default: sampled, non-nuisance parameters)",
    )
    tri.add_argument(
        "--burn-in",
        type=_fraction,
        default=0.3,
        help="fraction of each chain to skip, in [0, 1) (default: %(default)s)",
    )
    tri.add_argument(
        "--mark-truth", action="store_true",
        help="mark the true values of the mock data (the shipped fiducial's parameters)",
    )  # fmt: skip
    from cobaya_plugins.emulator_check import CLASS_SETTINGS, DEFAULT_COVMAT

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
        "--covmat", default=str(DEFAULT_COVMAT),
        help="Cobaya covmat the points are drawn with (default: the shipped proposal covmat of "
        "the demo chain, cobaya_plugins/data/lcdm_emulator_mock_lite.covmat); 'none': Planck's "
        "68%% errors, uncorrelated",
    )  # fmt: skip
    check.set_defaults(func=_emulator_check)
    tri.set_defaults(func=_triangle)
    _add_real_data_commands(sub)
    _add_profile_command(sub)
    _add_online_report_command(sub)
    return parser


#: Where ``profile`` writes PARAM.txt and PARAM.png without ``--out`` (in .gitignore).
PROFILES_FOLDER = "profiles"


def _profile(args: argparse.Namespace) -> int:
    from cobaya.yaml import yaml_load_file

    from cobaya_plugins.profile import parse_values, plot, profile

    values = parse_values(args.values)
    if not Path(args.yaml).is_file():
        raise FileNotFoundError(f"YAML file not found: {args.yaml}")
    info = yaml_load_file(args.yaml)
    out = Path(args.out or Path(PROFILES_FOLDER) / args.param)
    result = profile(info, args.param, values, ignore_prior=args.ignore_prior, seed=args.seed,
                     progress=lambda line: print(line, flush=True))  # fmt: skip
    what = "-2 log(likelihood)" if args.ignore_prior else "-2 log(posterior)"
    print(f"Profile of {args.param} ({what}; best fit {result.best_chi2:.3f} at "
          f"{args.param} = {result.best_x[result.names.index(args.param)]:.6g}; "
          f"{sum(result.evaluations)} evaluations, {result.seconds:.1f} s)")  # fmt: skip
    shown = result.moving()
    print(result.table(shown))
    hidden = len(result.names) - 1 - len(shown)
    if hidden:
        print(f"(shown: the other parameters that move most along the profile, in units of "
              f"their expected width; all {len(result.names) - 1} are in "
              f"{out.with_suffix('.txt')})")  # fmt: skip
    for name, level in (("68%", 1.0), ("95%", 4.0)):
        interval = result.interval(level)
        if interval is not None:
            print(f"{name} interval (Δχ² < {level:g}): [{interval[0]:.6g}, {interval[1]:.6g}]")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".txt").write_text(result.table() + "\n", encoding="utf-8")
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.txt')} and {out.with_suffix('.png')}")
    return 0


def _add_profile_command(sub: argparse._SubParsersAction) -> None:
    """The ``profile`` sub-command."""
    prof = sub.add_parser(
        "profile", help="profile likelihood of one parameter (L-BFGS with JAX gradients)",
        epilog="Example: python -m cobaya_plugins profile yaml_examples/lcdm_emulator_mock.yaml "
        "--param H0 --values 64:70:13 --out profiles/H0",
    )  # fmt: skip
    prof.add_argument("yaml", help="Cobaya input file (every component with a JAX form: "
                      "docs/gradients.md); its sampler and output are ignored")  # fmt: skip
    prof.add_argument("--param", required=True, help="the sampled parameter to profile")
    prof.add_argument("--values", required=True, help="start:stop:number (ends included), "
                      "or a list 64,65,66")  # fmt: skip
    prof.add_argument("--out", default=None, help="output prefix: PREFIX.txt (the table) "
                      "and PREFIX.png (Δχ², 1σ/2σ lines); default: profiles/PARAM")  # fmt: skip
    prof.add_argument("--ignore-prior", action="store_true", help="profile the likelihood "
                      "(default: the posterior, whose Gaussian nuisance priors are part of "
                      "Planck's likelihood)")  # fmt: skip
    prof.add_argument("--seed", type=int, default=0, help="seed of the starting point")
    prof.set_defaults(func=_profile)


def _add_real_data_commands(sub: argparse._SubParsersAction) -> None:
    """The ``install``, ``validate`` and ``residuals`` sub-commands."""
    from cobaya_plugins.install import PRODUCTS, URL_ENV
    from cobaya_plugins.units import T_CMB_FIRAS, UNITS

    inst = sub.add_parser("install", help="download and install the Planck 2018 likelihood files")
    inst.add_argument("product", choices=list(PRODUCTS), help="what to install")
    inst.add_argument("--path", default=None, help="directory to install into (default: "
                      "<Cobaya packages path>/data/planck_2018 if one is set)")  # fmt: skip
    inst.add_argument(
        "--url",
        default=None,
        help=f"download address or local archive "
        f"(http(s)://, file://, a path); default: ${URL_ENV} or the PLA",
    )
    inst.add_argument("--force", action="store_true", help="reinstall over a complete install")
    inst.add_argument("--sha256", default=None, help="expected SHA-256 of the archive")
    inst.add_argument("--no-progress", action="store_true", help="no progress bar")
    inst.set_defaults(func=_install)
    val = sub.add_parser("validate", help="chi2 of the installed Planck 2018 files at the best "
                         "fit (CLASS) vs the published values")  # fmt: skip
    where = val.add_mutually_exclusive_group()
    where.add_argument("--packages-path", default=None, help="Cobaya packages path (files in "
                       "PACKAGES/data/planck_2018); default: Cobaya's")  # fmt: skip
    where.add_argument("--path", default=None, help="the directory holding baseline/")
    val.set_defaults(func=_validate)
    res = sub.add_parser(
        "residuals", help="binned data vs model, per-spectrum chi2 (plik_lite, plik)",
        epilog="Example: python -m cobaya_plugins residuals mock_data/highl_TTTEEE_lite.clik "
        "--cls fiducial --out residuals.png",
    )  # fmt: skip
    res.add_argument("file", help="the .clik directory (plik_lite or plik)")
    res.add_argument("--cls", required=True, help="the model spectrum: a text file with columns "
                     "ell TT EE BB TE (CAMB's lensedCls.dat, CLASS's output with format=camb, "
                     "...; say its units with --units and --ell-factor), or 'fiducial' for the "
                     "shipped Planck 2018 best-fit spectrum (the file "
                     "cobaya_plugins/data/fiducial_lensedCls.dat, D_ell in µK²)")  # fmt: skip
    res.add_argument("--units", default="muK2", choices=UNITS, help="units of the columns "
                     "(default: %(default)s)")  # fmt: skip
    res.add_argument("--ell-factor", action="store_true", help="the columns are D_ell")
    res.add_argument("--T-cmb", type=float, default=T_CMB_FIRAS, help="T_cmb [K] for "
                     "--units dimensionless (default: %(default)s)")  # fmt: skip
    res.add_argument("--nuisance", default=None, help="YAML of nuisance values; missing ones "
                     "take the mock's true values on a mock file, the Planck 2018 best fit on a "
                     "real plik file; A_planck defaults to 1")  # fmt: skip
    res.add_argument("--out", required=True, help="PNG to write")
    res.add_argument("--json", default=None, help="also write the chi2 table as JSON")
    res.add_argument("--dpi", type=int, default=90, help="PNG resolution (default: %(default)s)")
    res.set_defaults(func=_residuals)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors print one line, status 1)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
