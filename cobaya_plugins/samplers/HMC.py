r"""Hamiltonian Monte Carlo on a Cobaya model's JAX log-posterior, as a Cobaya sampler.

``sampler: {cobaya_plugins.samplers.HMC: {...}}`` in a YAML whose components all have a JAX form
(:mod:`cobaya_plugins.gradients`). What it does, in order:

1. **The density.** The sampled parameters are mapped to ℝ^d
   (:mod:`cobaya_plugins.samplers.coordinates`): ``bounds: reflect`` (default) continues the
   posterior by its mirror images at the prior bounds, ``bounds: logit`` maps two-sided bounds
   by logit and one-sided ones by log; the sampler moves on ``z``, whose density is the
   posterior times the Jacobian, and every copy of a mirrored density maps back to the prior.
2. **Start.** L-BFGS finds the maximum of that density (from the YAML's ``ref`` point), and the
   Hessian there (central differences of the exact gradient) gives a Gaussian approximation
   N(ẑ, Σ) (a ``covmat`` in Cobaya's format replaces Σ when given). The kernels work in
   whitened coordinates u, z = ẑ + chol(Σ) u, and the chains start from draws of N(0, 1/4).
3. **Warm-up**, in chunks that print progress, by the kernel (:mod:`.kernels`): ``kernel:
   nuts`` (default: the No-U-Turn sampler, exact; step size by dual averaging, mass matrix from
   Stan's windows) or ``kernel: mclmc`` (microcanonical Langevin, no accept/reject, chains in
   lockstep; step size from the energy error, decoherence length from the autocorrelation).
   Warm-up draws are not kept. With ``bounds: reflect``, the parameters whose maximum lies
   within :data:`FOLD_SIGMAS` σ of a prior bound get oblique mirrors, isometries of the metric
   (the start's covariance, and every adapted mass matrix is averaged over them), and are folded
   back into the base copy after every chunk, which then commutes with the transitions (a
   plain mirror with a coupled metric would bias the chain); every other parameter is never
   moved, and its chain may roam over the mirror copies, which ``to_x`` maps back.
   docs/gradients.md says how exactness is tested.
4. **Sampling** in chunks of ``chunk`` steps, all chains of a process batched in one compiled
   call (``jax.vmap``): after each chunk the draws are written to the chain files
   (``<prefix>.1.txt``, ``<prefix>.2.txt``, …, Cobaya's format with derived parameters and
   ``chi2__`` columns), and a progress line reports draws, acceptance (NUTS) or energy error
   (MCLMC), divergences, the smallest bulk ESS and the largest R−1 over all chains (of all MPI
   processes). It stops when R−1 ≤ ``Rminus1_stop`` and every parameter's bulk ESS ≥
   ``min_ess`` (both over the written draws), or after ``max_draws`` transitions per chain
   (with ``thin: n``, max_draws/n draws are written).

Chains: ``chains`` per process (default 4), times the number of MPI processes. ``--resume``
continues from the state saved after the last chunk (``<prefix>.hmc_state.<rank>.npz``, which
also records how many draws each chain file had then): chain files are cut back to that, so a
kill at any moment neither duplicates nor loses a draw, and the resumed chains equal an
uninterrupted run's with the same seed. All processes decide together (a different number of
processes, or a state on some processes only, is an error on every process).
Divergent transitions are counted and reported (a few are expected at points outside the
emulator's box or a likelihood's range, where the density is zero).

Through a theory whose JAX form approximates its exact code (``OnlineEmulator``), every draw of
each sampling chunk is evaluated through Cobaya, where the theory serves its prediction only
within its error tolerance and otherwise calls the exact code and learns the point; a chunk in
which any process made such calls is redone from its start with the posterior rebuilt from the
refreshed emulator (same tuned kernel), so every draw written was served within tolerance.
Warm-up draws are not checked (they are not kept).
"""

from __future__ import annotations

import glob
import importlib.util
import math
import os
import re
import time
from typing import Any

import numpy as np
from cobaya import mpi
from cobaya.collection import SampleCollection
from cobaya.log import LoggedError
from cobaya.sampler import CovmatSampler

from cobaya_plugins.gradients import (
    LogPosterior,
    approximate_theories,
    check_finite_gradient,
)
from cobaya_plugins.jax_compile import AnnouncedJit
from cobaya_plugins.samplers.convergence import bulk_ess, split_rhat
from cobaya_plugins.samplers.coordinates import (
    LogitCoordinates,
    MirrorCoordinates,
    decouple_among,
)
from cobaya_plugins.samplers.kernels import KERNELS, Kernel, KernelOptions
from cobaya_plugins.samplers.optimize import covariance, hessian, maximize

#: How bounded priors are mapped (``bounds:``): mirror images, or logit/log maps.
BOUNDS = ("reflect", "logit")

#: Mass matrix forms (``mass:``, NUTS).
MASS_FORMS = ("dense", "diagonal")

#: ``bounds: reflect``: a parameter whose maximum lies within this many σ (of the start's
#: Gaussian approximation) of a prior bound gets an oblique mirror (an isometry of the metric,
#: :class:`~.coordinates.MirrorCoordinates`) and is folded back into the base copy after every
#: chunk, which then commutes with the transitions; the others are never moved.
FOLD_SIGMAS = 5.0

#: Through an approximate theory: a chunk redone this many times in a row is kept (with a
#: warning) rather than redone again.
MAX_REDONE = 10

#: The install command for what HMC needs beyond the package (blackjax, JAX).
JAX_EXTRA = "pip install 'cobaya-planck-clik[jax]'"


class HMC(CovmatSampler):
    """No-U-Turn Hamiltonian Monte Carlo with JAX gradients; options in ``HMC.yaml``."""

    kernel: str
    chains: int
    warmup: int
    chunk: int
    thin: int
    Rminus1_stop: float
    min_ess: float
    max_draws: int
    target_accept: float
    max_tree_depth: int
    mass: str
    energy_variance: float
    bounds: str
    covmat: Any
    covmat_params: Any

    #: Options that may change on --resume (the stop rule; the rest must match the run's).
    _at_resume_prefer_new = ["max_draws", "Rminus1_stop", "min_ess"]

    # --- set-up -----------------------------------------------------------------------------

    def initialize(self):
        """Check the options and the saved state (on --resume), cut the chain files back to
        the saved state, and build the differentiable posterior (no compiling yet)."""
        self._check_options()
        if importlib.util.find_spec("blackjax") is None:
            raise LoggedError(
                self.log,
                f"{self.get_name()} needs blackjax (the `jax` extra), which is not installed: "
                f"{JAX_EXTRA}. (`make demo` installs only the emulator extra.)",
            )
        self.posterior = LogPosterior(self.model)
        #: logit coordinates: smooth everywhere, where the start is found
        self.start_coordinates = LogitCoordinates(self.posterior.bounds)
        #: the coordinates the chains move in (``bounds:``)
        self.coordinates = (
            MirrorCoordinates(self.posterior.bounds)
            if self.bounds == "reflect"
            else self.start_coordinates
        )
        self.names = self.posterior.sampled_names
        self.n_processes = mpi.size()
        self.first_chain = mpi.rank() * self.chains
        resuming = bool(self.output) and self.output.is_resuming()
        self._saved = self._load_state() if resuming else None
        if resuming:
            self._cut_chain_files(self._saved["n_written"] if self._saved else 0)
        self.collections = [
            SampleCollection(
                self.model,
                self.output,
                name=str(self.first_chain + i + 1),
                resuming=resuming,
                sample_type="mcmc",
            )
            for i in range(self.chains)
        ]
        self.n_divergent = int(self._saved["n_divergent"]) if self._saved else 0
        self.n_gradients = int(self._saved["n_gradients"]) if self._saved else 0
        self.converged = False
        self._checked_against_cobaya = False
        #: theories whose JAX form approximates their exact code (OnlineEmulator): each
        #: sampling chunk's draws are checked through Cobaya (:meth:`_chunk_needs_redo`)
        self._approximate = approximate_theories(self.model)
        self.n_redone = 0

    def _check_options(self) -> None:
        """Option values, with the fix in YAML syntax."""
        name = self.get_name()

        def bad(option: str, value: Any, want: str) -> LoggedError:
            return LoggedError(self.log, f"{name}: `{option}: {value}` is not valid: {want}.")

        if self.kernel not in KERNELS:
            raise bad("kernel", self.kernel, f"use one of {', '.join(KERNELS)}")
        if self.mass not in MASS_FORMS:
            raise bad("mass", self.mass, "use `mass: dense` or `mass: diagonal`")
        for option in ("chains", "warmup", "chunk", "thin", "max_draws", "max_tree_depth"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(option, value, "it must be a positive integer")
        if self.chunk % self.thin:
            raise bad("thin", self.thin, f"it must divide `chunk: {self.chunk}`")
        if self.chains * mpi.size() < 2:
            raise bad("chains", self.chains, "R-1 needs at least 2 chains in all (`chains: 4`)")
        if not 0 < self.target_accept < 1:
            raise bad("target_accept", self.target_accept, "it must be in (0, 1), e.g. 0.8")
        if not self.Rminus1_stop > 0:
            raise bad("Rminus1_stop", self.Rminus1_stop, "it must be positive, e.g. 0.01")
        if not self.min_ess >= 0:
            raise bad("min_ess", self.min_ess, "it must be >= 0, e.g. 500")
        if self.bounds not in BOUNDS:
            raise bad("bounds", self.bounds, "use `bounds: reflect` or `bounds: logit`")
        if not 0 < self.energy_variance < 1:
            raise bad("energy_variance", self.energy_variance, "it must be in (0, 1), e.g. 5e-4")

    def _kernel_options(self) -> KernelOptions:
        return KernelOptions(
            chains=self.chains, chunk=self.chunk, target_accept=self.target_accept,
            max_tree_depth=self.max_tree_depth, mass=self.mass,
            energy_variance=self.energy_variance,
        )  # fmt: skip

    # --- the compiled pieces ----------------------------------------------------------------

    def _build(self) -> None:
        """The log-density of z in the logit coordinates (for the start: smooth everywhere) and
        in the chains' coordinates (``bounds:``), with their compiled gradients."""
        import jax

        self._value_and_grad_start = AnnouncedJit(
            jax.value_and_grad(self.start_coordinates.logdensity(self.posterior.function)),
            "the log-density of z and its gradient",
        )
        if self.coordinates is self.start_coordinates:
            self._logdensity = self.start_coordinates.logdensity(self.posterior.function)
            self._value_and_grad = self._value_and_grad_start
        else:
            self._logdensity = self.coordinates.logdensity(self.posterior.function)
            self._value_and_grad = AnnouncedJit(
                jax.value_and_grad(self._logdensity),
                "the log-density of the mirrored coordinates and its gradient",
            )

    def _to_chain_coordinates(
        self, z: np.ndarray, cov: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The start (logit coordinates: centre z, covariance) in the chains' coordinates, to
        first order (the Jacobian of x at z)."""
        if self.coordinates is self.start_coordinates:
            return z, cov
        jacobian = self.start_coordinates.dx_dz(z) / self.coordinates.dx_dz(z)
        centre = self.coordinates.to_z(self.start_coordinates.to_x(z))
        return centre, cov * np.outer(jacobian, jacobian)

    def _z_of_u(self, u: np.ndarray) -> np.ndarray:
        """Chain coordinates z of whitened positions u (..., d): z = centre + chol u."""
        return self._centre + u @ self._chol.T

    def _u_of_z(self, z: np.ndarray) -> np.ndarray:
        """Whitened positions of chain coordinates z (..., d): the inverse of :meth:`_z_of_u`."""
        flat = (z - self._centre).reshape(-1, len(self.names))
        return np.linalg.solve(self._chol, flat.T).T.reshape(np.shape(z))

    def _near_bounds(self, z: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """The coordinates to fold (boolean, d): with ``bounds: reflect``, those whose start
        ``z`` lies within :data:`FOLD_SIGMAS` σ (``cov``'s) of a prior bound; none for logit."""
        if self.coordinates is self.start_coordinates:
            return np.zeros(len(self.names), dtype=bool)
        return self.coordinates.bound_distance(z) < FOLD_SIGMAS * np.sqrt(np.diag(cov))

    def _set_mirrors(self, folded: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """Oblique mirrors for the parameters ``folded`` (boolean, d), isometries of ``cov``
        (the start's covariance in z) decoupled among them; returns that covariance."""
        self._folded = folded
        if not folded.any():
            return cov
        cov = decouple_among(cov, folded)
        self.coordinates.set_oblique(folded, cov)
        return cov

    def _fold(self, kernel: Kernel, states):
        """The chains whose folded coordinates left the base copy, moved back (the same
        parameter values: an oblique mirror), with their density and gradient there. Exact:
        the mirrors are isometries of the start's metric and of every adapted mass matrix
        (:meth:`_symmetric_inverse_mass`), so they commute with the transitions."""
        if not self._folded.any():
            return states
        z = self._z_of_u(kernel.positions(states))
        folded = self.coordinates.fold(z)
        moved = np.any(np.abs(folded - z) > 1e-12, axis=1)  # in z: O(1), rounding 1e-16
        if not moved.any():
            return states
        positions, values, grads = self._evaluate_u(self._u_of_z(folded[moved]))
        return kernel.replace(states, moved, positions, values, grads)

    def _symmetric_inverse_mass(self, inverse_mass: np.ndarray) -> np.ndarray:
        """An adapted inverse mass matrix of u (d, d) averaged over the mirrors' group in z,
        where they act (Σ_z = L M⁻¹ Lᵀ symmetrized, mapped back to u): they stay isometries."""
        if not self._folded.any():
            return inverse_mass
        sigma_z = self.coordinates.symmetrize(self._chol @ inverse_mass @ self._chol.T)
        half = np.linalg.solve(self._chol, sigma_z)
        result = np.linalg.solve(self._chol, half.T).T
        return 0.5 * (result + result.T)

    def _kernel(self, centre: np.ndarray, chol: np.ndarray) -> Kernel:
        """The kernel on whitened coordinates u, z = centre + chol u."""
        import jax.numpy as jnp

        centre_j, chol_j = jnp.asarray(centre), jnp.asarray(chol)
        logdensity_z = self._logdensity

        def logdensity_u(u):
            return logdensity_z(centre_j + chol_j @ u)

        self._centre, self._chol = centre, chol
        return KERNELS[self.kernel](logdensity_u, self._kernel_options())

    def _gradients_start(self, zs: np.ndarray) -> np.ndarray:
        """Gradients of the density of z (logit coordinates) at points zs (n, d), one compiled
        call each (no extra compile for a batch)."""
        return np.array([np.asarray(self._value_and_grad_start(np.asarray(z))[1]) for z in zs])

    def _evaluate_u(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions u, log-densities, gradients with respect to u) of chains at whitened
        positions (n, d) (starts, folded chains), from the compiled density of z
        (du = chol^T dz)."""
        values, grads = [], []
        for u in positions:
            value, grad = self._value_and_grad(np.asarray(self._z_of_u(u)))
            values.append(float(value))
            grads.append(self._chol.T @ np.asarray(grad))
        return np.asarray(positions, dtype=float), np.array(values), np.array(grads)

    def _to_x(self, u: np.ndarray) -> np.ndarray:
        """Parameters from whitened coordinates u (..., d): any copy of a mirrored density."""
        return self.coordinates.to_x(self._z_of_u(u))

    # --- start ------------------------------------------------------------------------------

    @mpi.from_root
    def _start_point(self) -> tuple[np.ndarray, np.ndarray]:
        """The maximum of the density of z and a covariance there (Hessian, or ``covmat``)."""
        space = self.start_coordinates
        x_ref = self.model.prior.reference(random_state=self.random_state)
        z_ref = space.to_z(x_ref)
        proposal_cov, _ = self.initial_proposal_covmat()
        width_x = np.sqrt(np.diag(proposal_cov))
        scale = width_x / np.abs(space.dx_dz(z_ref))

        def value_and_grad(z):
            value, grad = self._value_and_grad_start(np.asarray(z))
            return float(value), np.asarray(grad)

        value, grad = value_and_grad(z_ref)
        if math.isfinite(value):
            check_finite_gradient(self.names, x_ref, grad, self.log)
        start = time.perf_counter()
        found = maximize(value_and_grad, z_ref, scale)
        self.log.info(
            "Maximum of the posterior (in the sampler's unbounded coordinates) found by L-BFGS "
            "in %d evaluations, %.1f s: log-density %.2f.",
            found.n_evaluations, time.perf_counter() - start, found.value,
        )  # fmt: skip
        if not math.isfinite(found.value):
            raise LoggedError(
                self.log,
                "L-BFGS found no point with a finite posterior from the reference point: check "
                "the `ref` of the parameters (and that the likelihoods accept it).",
            )
        z = found.x
        if self.covmat is not None:
            jacobian = space.dx_dz(z)
            cov = proposal_cov / np.outer(jacobian, jacobian)
            self.log.info("Initial mass matrix from the given covmat.")
        else:
            step = 1e-4 * np.sqrt(np.maximum(scale**2, 1e-30))
            cov, raised = covariance(hessian(self._gradients_start, z, step), scale)
            if raised:
                self.log.warning(
                    "The Hessian at the maximum is flat or not negative in %d direction(s): "
                    "their initial variance is set wide; warm-up will measure them.",
                    raised,
                )
        return z, cov

    # --- run --------------------------------------------------------------------------------

    def run(self):
        """Start or resume, warm up, then sample until converged (or ``max_draws``)."""
        import jax
        import jax.numpy as jnp

        self._build()
        if self._saved is None:
            z_start, cov = self._to_chain_coordinates(*self._start_point())  # on the main process
            cov = self._set_mirrors(self._near_bounds(z_start, cov), cov)
            if self._folded.any():
                self.mpi_info(
                    "Near a prior bound, with oblique mirrors and folded back after every "
                    "chunk: %s.",
                    ", ".join(n for n, f in zip(self.names, self._folded, strict=True) if f),
                )
            kernel = self._kernel(z_start, np.linalg.cholesky(cov))
            d = len(self.names)
            positions = 0.5 * self.random_state.standard_normal(
                (self.chains, d)
            )  # the core of N(0, 1)
            states = kernel.start(*self._evaluate_u(positions))
            key = jax.random.PRNGKey(int(self.random_state.integers(2**31)))
            n_chunks = max(5, round(self.warmup / self.chunk))
            start = time.perf_counter()
            self.mpi_info(
                "Warm-up: %d steps per chain (%s).", n_chunks * self.chunk, kernel.name.upper()
            )

            def report(done: int, total: int, summary: str) -> None:
                self.mpi_info(
                    "Warm-up %d/%d: %s; %.0f s.", done, total, summary, time.perf_counter() - start
                )

            key, sub = jax.random.split(key)
            states, gradients = kernel.warmup(
                states, sub, n_chunks, report, lambda st: self._fold(kernel, st),
                self._symmetric_inverse_mass,
            )  # fmt: skip
            self.n_gradients += gradients
            self.mpi_info(
                "Warm-up done: %s; %d gradients, %.0f s.",
                ", ".join(f"{k.replace('_', ' ')} {np.asarray(v).ravel()[0]:.4g}"
                          for k, v in kernel.params.items()),
                gradients, time.perf_counter() - start,
            )  # fmt: skip
            self._save_state(kernel, states, key)
        else:
            saved = self._saved
            self._set_mirrors(saved["folded"], saved["chol"] @ saved["chol"].T)
            kernel = self._kernel(saved["centre"], saved["chol"])
            states = kernel.restore(saved["states"], saved["params"])
            key = jnp.asarray(saved["key"])
            draws = len(self.collections[0])
            self.mpi_info(
                "Resuming: %d draws per chain so far (%d transitions).", draws, draws * self.thin
            )
            if self._stop_rule_holds(*self._diagnostics(), already=True):
                return
        self._sample(kernel, states, key)

    def _stop_rule_holds(
        self, ess: np.ndarray, rminus1: np.ndarray, draws: int, already: bool = False
    ) -> bool:
        """Whether the run is done: converged (``ess``, ``rminus1`` per parameter over all
        chains, ``draws`` per chain) or at ``max_draws``; says so. ``already``: checked on
        --resume, before any new draw."""
        if rminus1.max() <= self.Rminus1_stop and ess.min() >= self.min_ess:
            self.converged = True
            self.mpi_info(
                "%s: every parameter has bulk ESS >= %g and R-1 <= %g (%d draws per chain, "
                "%d chains).%s",
                "Already converged" if already else "Converged", self.min_ess,
                self.Rminus1_stop, draws, self.chains * self.n_processes,
                " Nothing to do: to go on, raise `min_ess:` or lower `Rminus1_stop:` and "
                "--resume again." if already else "",
            )  # fmt: skip
            return True
        if draws * self.thin >= self.max_draws:
            self.mpi_warning(
                "%s max_draws = %d transitions per chain without convergence (smallest ESS "
                "%.0f, R-1 %.4f): raise `max_draws:` and --resume to continue.",
                "Already at" if already else "Stopped at", self.max_draws, ess.min(),
                rminus1.max(),
            )  # fmt: skip
            return True
        return False

    def _diagnostics_due(self, draws: int) -> bool:
        """Whether to compute ESS and R-1 after the chunk that brought the chains to ``draws``
        draws: after every chunk up to 1000 draws, then each time the draws grew by 2 % (their
        cost grows with the draws; fast models run many short chunks). A function of the count
        alone, so that a resumed run checks where an uninterrupted one does."""
        previous = draws - self.chunk // self.thin
        if previous < 1000 or draws * self.thin >= self.max_draws:
            return True
        step = math.log(1.02)
        return math.floor(math.log(draws) / step) != math.floor(math.log(previous) / step)

    def _sample(self, kernel: Kernel, states, key) -> None:
        """Chunks of steps, written out, until the stop rule holds. Between chunks only the
        fold moves chains, which commutes with the kernel (:meth:`_fold`)."""
        import jax

        start = time.perf_counter()
        sums: dict[str, float] = {}
        n_chunks = redone = 0
        while True:
            key, sub = jax.random.split(key)
            chunk = kernel.sample(states, sub)
            self.n_gradients += chunk.gradients
            if self._approximate and self._chunk_needs_redo(chunk.positions):
                redone += 1
                if redone < MAX_REDONE:
                    kernel, states = self._refreshed(kernel, states)
                    continue
                self.mpi_warning(
                    "A chunk was redone %d times and its draws still needed exact calls: it is "
                    "kept as it is (the exactness report and `post:` reweighting tell its "
                    "error). The emulator may not converge there: see docs/online_emulator.md.",
                    redone,
                )  # fmt: skip
                kernel, end = self._refreshed(kernel, chunk.states)
                chunk = chunk._replace(states=end)
            redone = 0
            states = self._fold(kernel, chunk.states)
            self.n_divergent += chunk.divergent
            # draws first, then the state that records how many were written: a kill in
            # between leaves extra lines, which --resume cuts back (and draws again)
            self._write(chunk.positions[self.thin - 1 :: self.thin])
            self._save_state(kernel, states, key)
            n_chunks += 1
            for k, v in chunk.stats.items():
                sums[k] = sums.get(k, 0.0) + v
            if not self._diagnostics_due(len(self.collections[0])):
                continue
            ess, rminus1, draws = self._diagnostics()
            n_total = draws * self.thin * self.chains * self.n_processes
            divergent_total = sum(mpi.allgather(self.n_divergent))
            averages = ", ".join(
                f"{k.replace('_', ' ')} {v / n_chunks:.3g}" for k, v in sums.items()
            )
            self.mpi_info(
                "Sampling: %d draws per chain%s, %s, %d divergent (%.2f%%), smallest ESS %.0f "
                "(%s), R-1 %.4f (%s); %d gradients; %.0f s.",
                draws, f" ({draws * self.thin} transitions)" if self.thin > 1 else "",
                averages, divergent_total, 100 * divergent_total / max(n_total, 1), ess.min(),
                self.names[int(ess.argmin())], rminus1.max(), self.names[int(rminus1.argmax())],
                sum(mpi.allgather(self.n_gradients)), time.perf_counter() - start,
            )  # fmt: skip
            if self._stop_rule_holds(ess, rminus1, draws):
                break
        if divergent_total > 0.01 * n_total:
            self.mpi_warning(
                "%.1f%% of the transitions diverged (more than 1%%): the posterior has regions "
                "the step size cannot follow (or points the emulator/likelihood rejects). Try "
                "`target_accept: 0.95` (NUTS) or a smaller `energy_variance` (MCLMC).",
                100 * divergent_total / n_total,
            )
        self._write_covmat()

    # --- through an approximate theory (OnlineEmulator) -------------------------------------

    def _chunk_needs_redo(self, positions: np.ndarray) -> bool:
        """Every draw of a chunk (positions (steps, chains, d) in u) evaluated through Cobaya,
        where an approximate theory serves its prediction only within its error tolerance and
        otherwise calls its exact code and learns the point. True, on every process, when any
        process made such exact calls: the JAX form is then out of date and the chunk is redone
        from its start with the refreshed one."""
        x = self._to_x(positions.reshape(-1, positions.shape[-1]))
        before = sum(t.n_exact for t in self._approximate)
        for xk in x:
            self.model.logposterior(xk)
        calls = sum(t.n_exact for t in self._approximate) - before
        all_calls = mpi.allgather(calls)
        if not any(all_calls):
            return False
        self.n_redone += 1
        self.mpi_info(
            "Chunk redone with the refreshed emulator: %d exact call(s) at its draws (%s).",
            sum(all_calls), ", ".join(t.get_name() for t in self._approximate),
        )  # fmt: skip
        return True

    def _refreshed(self, kernel: Kernel, states) -> tuple[Kernel, Any]:
        """The posterior and kernel rebuilt from the approximate theories' current fit (same
        coordinates, tuned parameters and chain positions), the chains' densities and
        gradients recomputed at their positions."""
        arrays, params = kernel.state_arrays(states), kernel.params
        self.posterior = LogPosterior(self.model)
        self._build()
        kernel = self._kernel(self._centre, self._chol)
        states = kernel.restore(arrays, params)
        every = np.ones(self.chains, dtype=bool)
        return kernel, kernel.replace(states, every, *self._evaluate_u(kernel.positions(states)))

    # --- output -----------------------------------------------------------------------------

    def _write(self, positions: np.ndarray) -> None:
        """Write a chunk of draws, positions (steps, chains, d) in u, to the chain files."""
        steps, chains, d = positions.shape
        x = self._to_x(positions.reshape(-1, d))
        points = self.posterior.cobaya_points(x)
        if not self._checked_against_cobaya:
            self._check_against_cobaya(x[0], points[0])
        for k, (xk, point) in enumerate(zip(x, points, strict=True)):
            self.collections[k % chains].add(xk, logpost=point)
        for collection in self.collections:
            collection.out_update()

    def _check_against_cobaya(self, x: np.ndarray, point: Any) -> None:
        """Once: the JAX log-posterior at a draw equals Cobaya's own (warns otherwise)."""
        self._checked_against_cobaya = True
        cobaya = self.model.logposterior(x, cached=False).logpost
        if not math.isclose(cobaya, point.logpost, abs_tol=0.01):
            self.log.warning(
                "The JAX log-posterior (%.6f) differs from Cobaya's (%.6f) by more than 0.01 at "
                "%s: the chain samples the JAX one. Expected with `precision: float32` on the "
                "emulator only to ~1e-3.",
                point.logpost, cobaya, dict(zip(self.names, x, strict=True)),
            )  # fmt: skip

    def _diagnostics(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Bulk ESS and R-1 per parameter over all chains of all processes; draws per chain."""
        local = [c[self.names].to_numpy(dtype=float) for c in self.collections]
        draws = min(len(c) for c in local)
        chains = [c[:draws] for c in local]
        everything = mpi.allgather(chains)
        draws = min(len(c) for group in everything for c in group)
        stacked = np.array([c[:draws] for group in everything for c in group])
        if draws < 4:
            return np.zeros(len(self.names)), np.full(len(self.names), np.inf), draws
        return bulk_ess(stacked), split_rhat(stacked) - 1, draws

    def _write_covmat(self) -> None:
        """The posterior covariance of the draws of all chains as ``<prefix>.covmat`` (Cobaya's
        format: a ready proposal for its MH or a covmat for this sampler)."""
        draws = np.concatenate(
            [g for group in mpi.allgather([c[self.names].to_numpy(dtype=float)
                                           for c in self.collections]) for g in group]
        )  # fmt: skip
        if self.output and mpi.is_main_process() and len(draws) > len(self.names):
            header = "# " + " ".join(self.names)
            path = os.path.join(self.output.folder, self.output.prefix + ".covmat")
            np.savetxt(path, np.cov(draws, rowvar=False), header=header[2:])

    # --- resume -----------------------------------------------------------------------------

    def _state_path(self, rank: int | None = None) -> str:
        """The saved state of process ``rank`` (this one by default)."""
        rank = mpi.rank() if rank is None else rank
        return os.path.join(self.output.folder, f"{self.output.prefix}.hmc_state.{rank + 1}.npz")

    def _save_state(self, kernel: Kernel, states, key) -> None:
        """Save what sampling needs to continue, with the number of draws each chain file has
        now (atomically: written, then renamed)."""
        if not self.output:
            return
        path = self._state_path()
        temporary = path + ".tmp.npz"
        params = {f"param_{k}": np.asarray(v) for k, v in kernel.params.items()}
        chain_states = {f"state_{k}": v for k, v in kernel.state_arrays(states).items()}
        np.savez(
            temporary,
            kernel=kernel.name,
            names=np.array(self.names),
            n_processes=self.n_processes,
            n_written=len(self.collections[0]),
            centre=self._centre,
            chol=self._chol,
            folded=self._folded,
            key=np.asarray(key),
            n_divergent=self.n_divergent,
            n_gradients=self.n_gradients,
            **params,
            **chain_states,
        )
        os.replace(temporary, path)

    def _load_state(self) -> dict | None:
        """On --resume: this process's saved state (None when no process has one: the run
        starts over). Decided by all processes together: a state for another number of
        processes, on some processes only, or for other settings is a ``LoggedError`` on every
        process (never a hang)."""
        found = sorted(
            int(m.group(1))
            for f in glob.glob(self._state_path(0).replace(".1.npz", ".*.npz"))
            if (m := re.search(r"\.hmc_state\.(\d+)\.npz$", f))
        )
        problem, saved = "", None
        if found and found != list(range(1, self.n_processes + 1)):
            problem = (
                f"saved states exist for process(es) {found}, but this run has "
                f"{self.n_processes} process(es)"
            )
        elif found:
            try:
                saved = self._read_state(self._state_path())
            except (OSError, ValueError, KeyError) as error:
                problem = f"process {mpi.rank() + 1} cannot read {self._state_path()}: {error}"
            else:
                problem = self._state_mismatch(saved)
        problems = [p for p in mpi.allgather(problem) if p]
        if problems:
            raise LoggedError(
                self.log,
                f"Cannot resume {self.output.prefix}: {'; '.join(dict.fromkeys(problems))}. "
                "Resume with the settings and number of MPI processes of the first run, or start "
                "over with --force.",
            )
        return saved

    @staticmethod
    def _read_state(path: str) -> dict:
        """A saved state file as a dict (kernel params and chain states as sub-dicts)."""
        with np.load(path) as saved:
            data = {k: saved[k] for k in saved.files}
        return {
            "kernel": str(data["kernel"]),
            "names": [str(n) for n in data["names"]],
            "n_processes": int(data["n_processes"]),
            "n_written": int(data["n_written"]),
            "centre": data["centre"],
            "chol": data["chol"],
            "folded": data["folded"].astype(bool),
            "key": data["key"],
            "n_divergent": int(data["n_divergent"]),
            "n_gradients": int(data["n_gradients"]),
            "params": {
                k[len("param_") :]: (v if v.ndim else float(v))
                for k, v in data.items()
                if k.startswith("param_")
            },
            "states": {k[len("state_") :]: v for k, v in data.items() if k.startswith("state_")},
        }

    def _state_mismatch(self, saved: dict) -> str:
        """What differs between a saved state and this run ('' when nothing does)."""
        shape = saved["states"]["position"].shape
        if saved["n_processes"] != self.n_processes:
            return (
                f"the saved states are for {saved['n_processes']} process(es), this run has "
                f"{self.n_processes}"
            )
        if saved["kernel"] != self.kernel or shape[0] != self.chains:
            return (
                f"the saved state is for `kernel: {saved['kernel']}` with `chains: {shape[0]}`, "
                f"this run has `kernel: {self.kernel}` with `chains: {self.chains}`"
            )
        if saved["names"] != list(self.names):
            return f"the saved state samples {saved['names']}, this run samples {self.names}"
        return ""

    def _chain_file(self, i: int) -> str:
        """The chain file of this process's chain ``i`` (0-based)."""
        return self.output.prepare_collection(name=str(self.first_chain + i + 1))[0]

    def _cut_chain_files(self, n_written: int) -> None:
        """Cut every chain file of this process back to its header and first ``n_written``
        draws (lines written after the state was saved, or a line cut by a kill, go: they
        are drawn again from the saved state). Fewer draws than that is an error on every
        process."""
        problem = ""
        for i in range(self.chains):
            path = self._chain_file(i)
            if not os.path.exists(path):
                if n_written:
                    problem = f"{path} is missing but the saved state has {n_written} draws"
                continue
            if not n_written:
                os.remove(path)
                continue
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
            header = [line for line in lines if line.startswith("#")]
            rows = [line for line in lines if not line.startswith("#") and line.endswith("\n")]
            if len(rows) < n_written:
                problem = f"{path} has {len(rows)} draws but the saved state has {n_written}"
                continue
            if len(rows) > n_written or len(header) + len(rows) != len(lines):
                self.log.info(
                    "%s: %d draw(s) written after the last saved state are drawn again.",
                    path, len(lines) - len(header) - n_written,
                )  # fmt: skip
                with open(path + ".tmp", "w", encoding="utf-8") as f:
                    f.writelines(header + rows[:n_written])
                os.replace(path + ".tmp", path)
        problems = [p for p in mpi.allgather(problem) if p]
        if problems:
            raise LoggedError(
                self.log,
                f"Cannot resume {self.output.prefix}: {'; '.join(problems)}. The chain files "
                "were changed after the run: start over with --force.",
            )

    @classmethod
    def output_files_regexps(cls, output, info=None, minimal=False):
        """Chain files; unless ``minimal``, also the saved states and the covmat."""
        regexps = [output.collection_regexp(name=None)]
        if not minimal:
            regexps += [
                re.compile(output.prefix_regexp_str + r"hmc_state\.\d+\.npz$"),
                re.compile(output.prefix_regexp_str + re.escape("covmat") + "$"),
            ]
        return [(r, None) for r in regexps]

    def products(self) -> dict:
        """``{"sample": [SampleCollection per chain of this process], "converged": bool}``."""
        return {"sample": self.collections, "converged": self.converged}
