"""Cobaya likelihood for any ``.clik`` file: :class:`Clik` (base of the Planck classes)."""

from __future__ import annotations

import os
from pathlib import Path

from cobaya.likelihood import Likelihood
from cobaya.log import LoggedError

from ..clik import ClikLikelihood, check_clik_path, open_clik

#: Where ``cobaya-install`` puts the Planck 2018 files, under the packages path.
PLANCK_DATA_SUBDIR = os.path.join("data", "planck_2018")


class Clik(Likelihood):
    """Any clik likelihood file; its nuisance parameters are read from the file itself.

    Options (see ``Clik.yaml``): ``clik_file`` (absolute, or relative to ``path``, the working
    directory, or ``<packages_path>/data/planck_2018``), ``path``, ``backend``
    (``auto | clik | clipy``). Every nuisance parameter of the file must be defined in the
    ``params`` block (missing and unexpected names are listed in the error).
    Spectra are requested as C_ell in FIRAS µK² (``get_Cl(units="FIRASmuK2")``); TB and EB are
    used when the theory provides them, zeros otherwise. ``blas_threads`` (default 1) limits
    BLAS threads during the clik call (see :mod:`cobaya_plugins.threads`).
    """

    type = "CMB"

    clik_file: str | None
    path: str | None
    backend: str
    blas_threads: int | None

    def initialize(self):
        self.clik: ClikLikelihood = open_clik(self.resolve_clik_file(), backend=self.backend)
        try:
            self.clik.blas_threads = self.blas_threads
        except ValueError as exc:
            raise LoggedError(self.log, str(exc)) from exc
        self.log.debug("Opened %r", self.clik)

    def resolve_clik_file(self) -> Path:
        """Absolute path of ``clik_file`` (see the class docstring for the search order).

        Raises a ``LoggedError`` naming every place searched and how to get the files.
        """
        if not self.clik_file:
            raise LoggedError(
                self.log,
                "No 'clik_file' given: set it to the path of a .clik directory (or write a mock "
                "one with `python -m cobaya_plugins mock KIND OUTDIR`).",
            )
        given = Path(os.path.expandvars(self.clik_file)).expanduser()
        if given.is_absolute():
            candidates = [given]
        elif self.path:
            candidates = [Path(self.path).expanduser() / given]
        else:
            candidates = [Path.cwd() / given]
            if self.packages_path:
                candidates.append(Path(self.packages_path) / PLANCK_DATA_SUBDIR / given)
        for candidate in candidates:
            if candidate.exists():
                return candidate.resolve()
        searched = ", ".join(str(c.resolve()) for c in candidates)
        try:  # phrased by the loader's path check: "not found", full path, where to get files
            check_clik_path(candidates[0])
        except FileNotFoundError as exc:
            raise LoggedError(self.log, f"{exc} Searched: {searched}.") from exc
        raise AssertionError(f"{candidates[0]} exists but was not found")  # pragma: no cover

    def get_requirements(self) -> dict:
        """Lensed C_ell up to the file's lmax for each spectrum it uses (TB/EB optional)."""
        return {"Cl": {s: lm for s, lm in self.clik.lmax.items() if s not in ("tb", "eb")}}

    def get_can_support_params(self) -> list[str]:
        """The file's nuisance parameter names (so a plain ``params`` block can feed them)."""
        return list(self.clik.nuisance_names)

    def initialize_with_params(self):
        expected = list(self.clik.nuisance_names)
        given = list(self.input_params)
        missing = [p for p in expected if p not in given]
        unexpected = [p for p in given if p not in expected]
        if missing or unexpected:
            raise LoggedError(
                self.log,
                f"The parameters of {self.get_name()} do not match the nuisance parameters of "
                f"{self.clik.path}. Missing (define them in 'params'): {missing}. Unexpected: "
                f"{unexpected}. The file expects, in order: {expected}.",
            )
        self._names = tuple(expected)

    def logp(self, **params_values) -> float:
        """log-likelihood of the current theory spectra and nuisance values.

        Input mistakes (spectra missing, too short or in implausible units) stop the run with
        a ``LoggedError`` instead of silently rejecting every point.
        """
        cls = self.provider.get_Cl(ell_factor=False, units="FIRASmuK2")
        try:
            return self.clik.loglike(cls, params_values, units="muK2", strict=False)
        except ValueError as exc:
            raise LoggedError(
                self.log, f"{exc} (spectra from the theory, asked for in FIRAS µK²)"
            ) from exc
