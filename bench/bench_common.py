"""Helpers shared by the benchmark scripts (imported as ``bench_common`` from bench/)."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Mapping

import numpy as np


def per_call(fn: Callable[[], object], n: int) -> float:
    """Mean seconds per call of ``fn`` over ``n`` calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def in_memory_likelihood(
    name: str, options: dict, cls: Mapping[str, np.ndarray], nuisance: Mapping[str, float]
):
    """The Cobaya likelihood ``name`` (with ``options``), fed by a Theory that serves ``cls``
    (C_ell in FIRAS µK² from ell = 0) from memory: the real provider path, no Boltzmann code."""
    from cobaya.model import get_model
    from cobaya.theory import Theory

    class InMemoryCls(Theory):
        params = {"amp": None}  # Cobaya wants a parameter; the spectra ignore it

        def get_can_provide(self):
            return ["Cl"]

        def get_Cl(self, ell_factor=False, units="FIRASmuK2"):
            return cls

    info = {
        "likelihood": {name: options},
        "theory": {"mem": {"external": InMemoryCls}},
        "params": {"amp": 1.0, **nuisance},
        "debug": False,
    }
    with contextlib.redirect_stdout(io.StringIO()):  # clipy prints its self-check
        return get_model(info).likelihood[name]
