"""Plots of Cobaya chains (getdist triangle plot)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

_PLANCK_DEFAULTS = Path(__file__).parent / "planck" / "HighlTTTEEE.yaml"


def planck_nuisance_names() -> set[str]:
    """Names of the Planck nuisance parameters declared by the Planck likelihood classes."""
    return set(yaml.safe_load(_PLANCK_DEFAULTS.read_text())["params"])


def triangle_plot(
    chain_root: str | os.PathLike,
    out: str | os.PathLike,
    params: Sequence[str] | None = None,
    burn_in: float = 0.3,
    markers: Mapping[str, float] | None = None,
) -> Path:
    """Write a getdist triangle plot (PNG) of the Cobaya chain at ``chain_root``; returns its path.

    ``params`` defaults to the sampled parameters that are not Planck nuisance parameters (at
    most 6). ``burn_in`` is the fraction of each chain skipped. ``markers``: values to mark with
    lines (e.g. the true parameters of mock data), by parameter name; others are ignored.
    Raises ``FileNotFoundError`` when no chain exists with that prefix and ``ValueError`` for
    unknown parameter names.
    """
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
        nuisance = planck_nuisance_names()
        params = [p for p in sampled if p not in nuisance][:6] or sampled[:6]
    unknown = [p for p in params if names.parWithName(p) is None]
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown}; the chain has {names.list()}.")
    plotter = plots.get_subplot_plotter()
    marked = {p: v for p, v in (markers or {}).items() if p in params}
    plotter.triangle_plot(samples, list(params), filled=True, markers=marked or None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plotter.export(str(out))
    return out
