"""Plots: getdist triangle plots of Cobaya chains, and the residual diagnostics figure."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path


def planck_nuisance_names() -> set[str]:
    """Names of the Planck nuisance parameters declared by the Planck likelihood classes."""
    from cobaya_plugins.planck import HighlTTTEEE

    return set(HighlTTTEEE.get_defaults()["params"])


def default_triangle_params(sampled: Sequence[str]) -> list[str]:
    """The parameters a triangle plot shows by default: the sampled ones that are not Planck
    nuisance parameters (at most 6; the first 6 sampled if all are nuisance parameters)."""
    nuisance = planck_nuisance_names()
    return [p for p in sampled if p not in nuisance][:6] or list(sampled[:6])


def triangle_plot(
    chain_root: str | os.PathLike,
    out: str | os.PathLike,
    params: Sequence[str] | None = None,
    burn_in: float = 0.3,
    markers: Mapping[str, float] | None = None,
    marker_label: str = "truth",
) -> Path:
    """Write a getdist triangle plot (PNG) of the Cobaya chain at ``chain_root``; returns its path.

    ``params`` defaults to the sampled parameters that are not Planck nuisance parameters (at
    most 6). ``burn_in`` is the fraction of each chain skipped. ``markers``: values to mark with
    dashed lines (e.g. the true parameters of mock data), by parameter name; others are ignored;
    the legend names them ``marker_label``.
    Raises ``FileNotFoundError`` when no chain exists with that prefix and ``ValueError`` for
    unknown parameter names.
    """
    if not 0 <= burn_in < 1:
        raise ValueError(f"burn_in must be a fraction in [0, 1), got {burn_in!r}.")
    import matplotlib

    matplotlib.use("Agg")
    from getdist import loadMCSamples, plots

    root = Path(chain_root)
    if not list(root.parent.glob(root.name + "*.txt")):
        raise FileNotFoundError(
            f"No chain files {root}*.txt found: give the output prefix of a Cobaya run "
            "(its `output:` value)."
        )
    samples = loadMCSamples(str(root), settings={"ignore_rows": burn_in})
    names = samples.getParamNames()
    sampled = [p.name for p in names.names if not p.isDerived]
    if params is None:
        params = default_triangle_params(sampled)
    unknown = [p for p in params if names.parWithName(p) is None]
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown}; the chain has {names.list()}.")
    plotter = plots.get_subplot_plotter()
    marked = {p: v for p, v in (markers or {}).items() if p in params}
    plotter.triangle_plot(samples, list(params), filled=True, markers=marked or None)
    if marked:  # getdist draws the markers without a legend entry: add one in their style
        from matplotlib.lines import Line2D

        style = plotter.settings
        line = Line2D([], [], color=style.axis_marker_color, ls=style.axis_marker_ls,
                      lw=max(style.axis_marker_lw, 1.0))  # fmt: skip
        plotter.fig.legend([line], [marker_label], loc="upper right", frameon=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plotter.export(str(out))
    return out


def residuals_figure(result, out: str | os.PathLike, dpi: int = 90) -> Path:
    """Draw :func:`cobaya_plugins.diagnostics.residuals`'s result as one PNG; returns its path.

    One column per spectrum (TT, TE, EE): on top the binned data with error bars and the
    model (D_ell [µK²]), below the residuals normalized by the error bars, (d − m)/σ, with
    the ±1σ and ±2σ bands. Titles give χ² / bins per spectrum; the figure title the total.
    ``dpi``: resolution of the PNG (the figure is 12.6 × 5.2 inches for three spectra).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.spectra)
    fig, axes = plt.subplots(
        2, len(names), figsize=(4.2 * len(names), 5.2), sharex="col",
        gridspec_kw={"height_ratios": [2.2, 1]}, squeeze=False,
    )  # fmt: skip
    for k, name in enumerate(names):
        spec = result.spectra[name]
        top, bottom = axes[0, k], axes[1, k]
        top.errorbar(spec.ell, spec.data, yerr=spec.sigma, fmt=".", ms=2.5, lw=0.6,
                     color="0.25", label="data")  # fmt: skip
        top.plot(spec.ell, spec.model, color="C3", lw=1.0, label="model")
        top.set_title(f"{name}: $\\chi^2$ = {spec.chi2:.1f} / {spec.n_bins} bins", fontsize=10)
        top.set_ylabel(r"$D_\ell$ [$\mu$K$^2$]")
        if name == "TE":
            top.axhline(0, color="0.6", lw=0.5)
        bottom.axhspan(-2, 2, color="0.92")
        bottom.axhspan(-1, 1, color="0.82")
        bottom.axhline(0, color="C3", lw=0.8)
        bottom.plot(spec.ell, spec.normalized_residual, ".", ms=2.5, color="0.2")
        bottom.set_ylim(-4.5, 4.5)
        bottom.set_xlabel(r"$\ell$")
        bottom.set_ylabel(r"$(d - m)/\sigma$")
    axes[0, 0].legend(fontsize=8, loc="upper right")
    chi2 = result.chi2
    fig.suptitle(
        f"{result.path.name} ({result.kind}): total $\\chi^2$ = {chi2['total']:.1f} for "
        f"{result.n_bins['total']} data points", fontsize=11,
    )  # fmt: skip
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
