"""Top-level layout of a CMB ``.clik`` directory, and its self-check (check_param/check_value).

``NAME.clik/`` holds an empty ``_mdb`` and the group ``clik/`` with ``n_lkl_object``, the
``lmax`` of the six spectra (TT EE BB TE TB EB, -1 = unused) and one likelihood group
``lkl_0/``. The self-check is a call vector ``check_param`` and the loglike clipy returns
for it, ``check_value``; clipy re-evaluates it on every load and prints both.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cobaya_plugins.clik import CLIK_OUTSIDE
from cobaya_plugins.mock.cldf import Group
from cobaya_plugins.vector import CMB_SPECTRA


def create_cmb_clik(path: Path, lmax: Sequence[int]) -> tuple[Group, Group]:
    """Create ``path`` (a new ``.clik`` directory); return its ``clik`` and ``clik/lkl_0`` groups.

    ``lmax`` has 6 ints in the order TT EE BB TE TB EB, -1 for spectra not used.
    """
    if len(lmax) != len(CMB_SPECTRA):
        raise ValueError(f"lmax needs 6 entries (TT EE BB TE TB EB), got {list(lmax)}.")
    root = Group(path)
    clik = root.group("clik")
    clik.set("n_lkl_object", 1)
    clik.array("lmax", np.asarray(lmax, dtype=np.int64))
    return clik, clik.group("lkl_0")


def call_vector(
    cls: Mapping[str, np.ndarray], lmax: Sequence[int], nuisance: Mapping[str, float]
) -> np.ndarray:
    """clik call vector: C_ell [muK^2] for ell = 0..lmax of each used spectrum, then nuisance.

    ``cls`` maps "tt", "ee", ... to arrays indexed from ell = 0; ``nuisance`` is ordered as
    the likelihood's extra parameters. Returns a float array (sum(lmax + 1) + n_nuisance,).
    """
    parts = [
        np.asarray(cls[name][: lmax_i + 1], dtype=float)
        for name, lmax_i in zip(CMB_SPECTRA, lmax, strict=True)
        if lmax_i >= 0
    ]
    parts.append(np.array(list(nuisance.values()), dtype=float))
    return np.concatenate(parts)


def clipy_loglike(path: Path, vector: np.ndarray) -> float:
    """Load ``path`` with clipy's numpy path (its printout silenced); the loglike of ``vector``.

    clipy is loaded through :func:`cobaya_plugins.clipy_loader.load_clipy`, so the writer works
    whether or not jax is installed and whatever ``CLIPY_NOJAX`` says.
    """
    from cobaya_plugins.clipy_loader import load_clipy

    clipy = load_clipy(jax=False)
    with contextlib.redirect_stdout(io.StringIO()):
        likelihood = clipy.clik(str(path))
        value = likelihood(np.asarray(vector, dtype=float))
    return float(value)


def add_self_check(clik: Group, check_param: np.ndarray) -> float:
    """Compute clipy's loglike of ``check_param`` on the written file and store both.

    Must be the last step: the file has to be complete and without a self-check yet.
    Returns the check value (the loglike).
    """
    value = clipy_loglike(clik.path.parent, check_param)
    if not np.isfinite(value) or value <= CLIK_OUTSIDE:
        raise RuntimeError(
            f"clipy returned loglike {value} at the fiducial check point of {clik.path.parent}: "
            "the mock file is inconsistent (this is a bug in cobaya_plugins.mock)."
        )
    clik.array("check_param", np.asarray(check_param, dtype=float))
    clik.set("check_value", value)
    return value
