"""The private parts of Cobaya this package uses, in one place, under the version check.

Cobaya has no public API for two things the gradient tools need; they are reached here, and only
here, after :func:`cobaya_plugins.versions.require` has checked that the installed Cobaya is in
the tested range (``cobaya>=3.6.2,<3.7``, ``setup.cfg``):

* :func:`chi2_groups`: which likelihoods each ``chi2__<type>`` derived parameter sums (the
  model's ``_chi2_names``, built from the likelihoods' ``type``), to fill those columns from
  log-likelihoods computed elsewhere (:mod:`cobaya_plugins.gradients`);
* :func:`getdist_point_text`: Cobaya's ``minimize`` writer of a best fit in GetDist's format
  (``Minimize.getdist_point_text``, a method that reads only ``self.model``), so that
  :class:`~cobaya_plugins.samplers.BestFit` writes the same ``.minimum`` file;
* :func:`current_state`: a component's state at the last point it computed (``logp`` of a
  likelihood, the products of a theory), which
  :class:`~cobaya_plugins.theories.OnlineEmulator` reads to learn where the posterior peaks;
* :func:`run_output_prefix`: the output prefix of the ``cobaya.run.run`` call in progress (a
  local variable of that function), which ``OnlineEmulator`` needs at the end of a run to find
  the chains of its exactness report.

Where Cobaya has a public way, it is used instead (a sampler's ``random_state``, a Boltzmann
theory's ``requested()``). One private name is not reached but overridden, and so stays in its
class: :class:`~cobaya_plugins.theories.ModifiedClassy` overrides classy's
``_get_derived_all`` to read the derived parameters CLASS does not know.
``tests/cobaya_plugins/test_cobaya_internals.py`` finds any other use of Cobaya's private names.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from cobaya_plugins.versions import require

require("cobaya")  # everything below relies on the internals of the tested range


def chi2_groups(model: Any) -> list[tuple[str, list[int]]]:
    """The ``chi2__<type>`` derived parameters of a Cobaya ``model``, each with the indices (in
    ``model.likelihood`` order) of the likelihoods whose −2 log-likelihoods it sums."""
    return [(name, list(indices)) for name, indices in model._chi2_names]


def getdist_point_text(model: Any, point: Any, minuslogpost: float) -> str:
    """A best-fit point as the text of GetDist's ``.minimum`` / ``.bestfit`` file, written by
    Cobaya's own ``minimize`` code: ``point`` a ``OnePoint`` of ``model`` (parameter values by
    name, with ``chi2__`` columns), ``minuslogpost`` −log(posterior or likelihood) there."""
    from cobaya.samplers.minimize import Minimize

    return Minimize.getdist_point_text(
        SimpleNamespace(model=model), point, minuslogpost=minuslogpost
    )


def current_state(component: Any) -> dict | None:
    """The state a Cobaya ``component`` (Theory or Likelihood) keeps of the last point it
    computed (a likelihood's has ``"logp"``), or None when it has computed none."""
    return getattr(component, "_current_state", None)


def run_output_prefix() -> str | None:
    """The output prefix (``output:``, or ``-o``) of the ``cobaya.run.run`` call this code runs
    inside (``cobaya-run``, or ``cobaya.run`` from Python), read from that call's ``out`` (its
    :class:`cobaya.output.Output`) on the call stack; None outside such a call or when the run
    writes no output."""
    import importlib
    import os
    import sys

    code = importlib.import_module("cobaya.run").run.__code__
    frame = sys._getframe(1)
    while frame is not None and frame.f_code is not code:
        frame = frame.f_back
    out = frame.f_locals.get("out") if frame is not None else None
    del frame  # no reference cycle through the stack
    if not out:  # absent, or Cobaya's OutputDummy (no output), which is falsy
        return None
    return os.path.join(out.folder, out.prefix) if out.prefix else out.folder + os.sep
