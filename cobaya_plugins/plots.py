"""Plots of Cobaya chains (getdist triangle plot)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import yaml

_PLANCK_DEFAULTS = Path(__file__).parent / "planck" / "HighlTTTEEE.yaml"


def planck_nuisance_names() -> set[str]:
    """Names of the Planck nuisance parameters declared by the Planck likelihood classes."""
    return set(yaml.safe_load(_PLANCK_DEFAULTS.read_text())["params"])


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
) -> Path:
    """Write a getdist triangle plot (PNG) of the Cobaya chain at ``chain_root``; returns its path.

    ``params`` defaults to the sampled parameters that are not Planck nuisance parameters (at
    most 6). ``burn_in`` is the fraction of each chain skipped. Raises ``FileNotFoundError``
    when no chain exists with that prefix and ``ValueError`` for unknown parameter names.
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
    plotter.triangle_plot(samples, list(params), filled=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plotter.export(str(out))
    return out
