r"""The transition kernels of :class:`~cobaya_plugins.samplers.HMC`, each with its own warm-up.

Both work in whitened coordinates ``u`` (the sampler maps ``z = centre + L u``, L the Cholesky
factor of the starting covariance, so that the target is close to a unit Gaussian) and move all
chains of a process together, ``chunk`` steps per compiled call (``jax.lax.scan`` over steps,
``jax.vmap`` over chains). The processes of an MPI run adapt together, as one batch of chains.

The sampler sees a kernel only through :class:`Kernel` (a Protocol) and gives it a
:class:`KernelOptions`. A kernel's tuned parameters are plain arrays (``params``) and its chain
states convert to and from plain arrays (:meth:`Kernel.state_arrays`, :meth:`Kernel.restore`),
saved for ``--resume``: a resumed chain continues bit for bit where it stopped.

* :class:`NUTS` — the No-U-Turn sampler (multinomial, blackjax), exact: step size tuned by dual
  averaging to the ``target_accept`` acceptance rate, dense (or diagonal) mass matrix from the
  pooled draws of each slow window of Stan's schedule; all chains in one batched call.
* :class:`MCLMC` — microcanonical Langevin Monte Carlo (Robnik et al. 2023, blackjax's
  ``mclmc``): fixed-length steps, all chains in lockstep (``jax.vmap``), two gradients per step
  and no accept/reject: the step size is tuned so that the energy error per parameter has
  variance ``energy_variance`` (default 5e-4; the bias of the stationary distribution grows
  with it), and the momentum decoherence length from the warm-up's autocorrelation (0.4 × step ×
  steps per effective sample, as blackjax's tuning). A step that reaches a point of zero
  density (outside the emulator's box) or a NaN is undone by blackjax (the chain stays, with a
  fresh momentum); it is counted as divergent from blackjax's ``info.nonans`` and left out of
  the energy statistics (blackjax reports a zero energy change for it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
from cobaya import mpi

from cobaya_plugins.samplers.convergence import bulk_ess
from cobaya_plugins.versions import require

# the kernels are built from blackjax's pieces: a clear error on another version
require("blackjax")

#: Fractions of a NUTS warm-up: first fast window (step size only), last fast window; the slow
#: windows in between double in length (Stan's window adaptation).
FAST_START, FAST_END = 0.15, 0.1

#: The median of a χ²₁ variable over its mean: turns a median of ΔE² into a robust mean.
CHI2_1_MEDIAN = 0.455


@dataclass(frozen=True)
class KernelOptions:
    """What a kernel needs of the sampler's options (``HMC.yaml`` names them)."""

    chains: int
    chunk: int
    target_accept: float = 0.8
    max_tree_depth: int = 10
    mass: str = "dense"
    energy_variance: float = 5e-4


class Chunk(NamedTuple):
    """One chunk of transitions: the chains' new states, their positions after each step
    (chunk, chains, d), the number of gradients evaluated, of divergent transitions, and the
    kernel's summary statistics (name: value, averaged over the chunk)."""

    states: Any
    positions: np.ndarray
    gradients: int
    divergent: int
    stats: dict[str, float]


#: ``report(steps done, steps in all, summary)``: the warm-up's progress line.
Report = Callable[[int, int, str], None]
#: ``fold(states)``: the chain states with the sampler's folded coordinates moved to the base
#: copy of a mirrored density (identity when none).
Fold = Callable[[Any], Any]
#: ``constrain(inverse_mass)``: an adapted inverse mass matrix made fit for the fold (decoupled).
Constrain = Callable[[np.ndarray], np.ndarray]


class Kernel(Protocol):
    """What :class:`~cobaya_plugins.samplers.HMC` uses of a kernel."""

    name: str
    #: tuned parameters (name: float or array): saved for ``--resume``, shared by MPI processes
    params: dict[str, Any]

    def start(self, positions, logdensities, grads, params: dict | None = None) -> Any:
        """Chain states at ``positions`` (chains, d), with their log-densities (chains,) and
        gradients (chains, d); ``params`` from a previous run, or initial ones."""

    def warmup(
        self, states, key, n_chunks: int, report: Report, fold: Fold, constrain: Constrain
    ) -> tuple[Any, int]:
        """Tune ``params`` over ``n_chunks`` chunks, ``fold`` after each, ``constrain`` every
        adapted mass matrix: (states, gradients evaluated)."""

    def sample(self, states, key) -> Chunk:
        """One chunk of transitions with the tuned parameters."""

    def positions(self, states) -> np.ndarray:
        """The chains' positions (chains, d)."""

    def state_arrays(self, states) -> dict[str, np.ndarray]:
        """The chain states as named arrays (the first axis over chains)."""

    def restore(self, arrays: dict[str, np.ndarray], params: dict) -> Any:
        """Chain states from :meth:`state_arrays`' output, with tuned ``params``."""

    def replace(self, states, which: np.ndarray, positions, logdensities, grads) -> Any:
        """States with the chains ``which`` (boolean, chains) moved to new positions, with
        their log-densities and gradients (a fresh momentum where the kernel keeps one)."""


def warmup_windows(n_steps: int, first_slow: int = 2) -> list[tuple[int, bool]]:
    """The NUTS warm-up schedule: ``(length, update_mass_at_end)`` per window, lengths summing
    to ``n_steps`` (a fast window, doubling slow windows from ``first_slow``, a fast window), in
    any unit (the sampler uses chunks)."""
    start = max(1, int(FAST_START * n_steps))
    end = max(1, int(FAST_END * n_steps))
    slow_total = n_steps - start - end
    windows = [(start, False)]
    length = first_slow
    while slow_total > 0:
        if slow_total < 3 * length:  # the last slow window takes what is left
            length = slow_total
        windows.append((length, True))
        slow_total -= length
        length *= 2
    windows.append((end, False))
    return windows


def pooled_draws(draws: np.ndarray) -> np.ndarray:
    """Warm-up draws (steps, chains, d) of every MPI process, joined along the chain axis (the
    same array without MPI): the processes adapt as one batch of chains."""
    return np.concatenate(mpi.allgather(draws), axis=1)


def pooled_mean(value: float) -> float:
    """The mean over MPI processes of a per-process tuning statistic (``value`` without MPI)."""
    return float(np.mean(mpi.allgather(value)))


def energy_error_variance(energy: np.ndarray, divergent: np.ndarray, d: int) -> float:
    """Variance of the energy error per parameter, Var(ΔE)/d, of the steps that did not
    diverge, as the median of ΔE² scaled to a mean (robust to the rare large errors of a
    tail); ``inf`` when every step diverged. ``energy``, ``divergent``: (steps, chains)."""
    kept = energy[~divergent]
    if kept.size == 0:
        return float("inf")
    return float(np.median(kept**2) / CHI2_1_MEDIAN / d)


def _jax():
    import jax
    import jax.numpy as jnp

    return jax, jnp


def _replace_rows(states, which: np.ndarray, rows: dict[str, Any]):
    """``states`` (a NamedTuple of arrays over chains) with the rows ``which`` of the fields
    named in ``rows`` replaced by those values."""
    _, jnp = _jax()
    fields = {name: np.array(value) for name, value in states._asdict().items()}
    for name, values in rows.items():
        fields[name][which] = values
    return type(states)(**{name: jnp.asarray(value) for name, value in fields.items()})


def unit_momenta(positions: np.ndarray) -> np.ndarray:
    """Random unit vectors, one per row of ``positions`` (n, d), seeded by the positions' bits
    (reproducible from the run's seed, and on --resume)."""
    rng = np.random.default_rng(np.abs(np.asarray(positions)).view(np.uint64).ravel())
    momenta = rng.standard_normal(np.shape(positions))
    return momenta / np.linalg.norm(momenta, axis=1, keepdims=True)


class NUTS:
    """NUTS for ``options.chains`` chains on ``logdensity`` (a JAX function of u, shape (d,)),
    all chains in one compiled, batched call (``jax.vmap``): a batch waits for its deepest tree
    at each step, which batching the plik gradient pays back (measured: the same time per
    useful gradient as running the chains one after the other). One step size for all chains,
    tuned on their mean acceptance (steadier than per chain); mass matrix pooled over chains.
    """

    name = "nuts"

    def __init__(self, logdensity: Callable, options: KernelOptions):
        import blackjax
        from blackjax.adaptation.step_size import dual_averaging_adaptation

        from cobaya_plugins.jax_compile import AnnouncedJit

        jax, jnp = _jax()
        self.options = options
        kernel = blackjax.nuts.build_kernel()
        self._da_init, da_update, self._da_final = dual_averaging_adaptation(options.target_accept)
        depth, n_chains, chunk = options.max_tree_depth, options.chains, options.chunk

        def run(states, da_state, key, inverse_mass, step_size, adapt):
            def one(carry, k):
                states, da = carry
                eps = jnp.where(adapt, jnp.exp(da.log_step_size), step_size)
                keys = jax.random.split(k, n_chains)
                new, info = jax.vmap(
                    lambda kk, s: kernel(kk, s, logdensity, eps, inverse_mass, depth)
                )(keys, states)
                acceptance = jnp.mean(jnp.nan_to_num(info.acceptance_rate))
                updated = da_update(da, acceptance)
                da = jax.tree.map(lambda a, b: jnp.where(adapt, a, b), updated, da)
                trace = (
                    new.position,
                    info.num_integration_steps,
                    info.is_divergent,
                    info.acceptance_rate,
                )
                return (new, da), trace

            keys = jax.random.split(key, chunk)
            (states, da_state), trace = jax.lax.scan(one, (states, da_state), keys)
            return states, da_state, trace

        self._run = AnnouncedJit(run, f"{chunk} NUTS steps of {n_chains} chains")

    def start(self, positions, logdensities, grads, params: dict | None = None):
        """Chain states at ``positions`` (n_chains, d) with their log-densities (n_chains,) and
        gradients (n_chains, d); ``params`` from a previous run or the initial ones (unit mass,
        a first step size)."""
        d = positions.shape[1]
        self.params = params or {"step_size": 0.5 * d ** (-0.25), "inverse_mass": np.eye(d)}
        if self.options.mass == "diagonal":
            self.params["inverse_mass"] = np.diag(np.diag(self.params["inverse_mass"]))
        return self._state(positions, logdensities, grads)

    @staticmethod
    def _state(position, logdensity, logdensity_grad):
        from blackjax.mcmc.hmc import HMCState

        _, jnp = _jax()
        return HMCState(
            jnp.asarray(position), jnp.asarray(logdensity), jnp.asarray(logdensity_grad)
        )

    def _chunk(self, states, da_state, key, adapt: bool):
        _, jnp = _jax()
        states, da_state, trace = self._run(
            states, da_state, key, jnp.asarray(self.params["inverse_mass"]),
            jnp.asarray(self.params["step_size"]), jnp.asarray(adapt),
        )  # fmt: skip
        return states, da_state, [np.asarray(t) for t in trace]

    def warmup(self, states, key, n_chunks: int, report: Report, fold: Fold, constrain: Constrain):
        """Stan's windowed adaptation; ``report`` and ``fold`` after each chunk; each adapted
        mass matrix passes through ``constrain``."""
        jax, _ = _jax()
        windows = warmup_windows(n_chunks)
        da_state = self._da_init(self.params["step_size"])
        done, total = 0, n_chunks * self.options.chunk
        gradients = 0
        for length, update_mass in windows:
            draws = []
            for _ in range(length):
                key, sub = jax.random.split(key)
                states, da_state, trace = self._chunk(states, da_state, sub, True)
                states = fold(states)
                positions, n_steps, divergent, acceptance = trace
                draws.append(positions)
                done += self.options.chunk
                gradients += int(n_steps.sum())
                report(done, total, (
                    f"step size {float(np.exp(da_state.log_step_size)):.3g}, acceptance "
                    f"{float(np.nanmean(acceptance)):.2f}, {float(n_steps.mean()):.1f} leapfrog "
                    f"steps per draw, {int(divergent.sum())} divergent"
                ))  # fmt: skip
            # one step size and mass matrix for the chains of all processes: the log-mean of
            # the processes' step sizes, the covariance of all their draws (measured: two
            # processes of two chains adapting apart gave 17 % divergent transitions on plik)
            self.params["step_size"] = float(
                np.exp(pooled_mean(float(np.log(self._da_final(da_state)))))
            )
            if update_mass:
                self.params["inverse_mass"] = constrain(
                    self._mass_from(pooled_draws(np.concatenate(draws)))
                )
            da_state = self._da_init(self.params["step_size"])
        return states, gradients

    def _mass_from(self, draws: np.ndarray) -> np.ndarray:
        """Inverse mass matrix from draws (steps, chains, d) pooled: their covariance shrunk
        towards the current one (weight n/(n + 10 d): a 27-d covariance needs many draws)."""
        flat = draws.reshape(-1, draws.shape[-1])
        n, d = flat.shape
        weight = n / (n + 10 * d)
        cov = weight * np.cov(flat, rowvar=False) + (1 - weight) * self.params["inverse_mass"]
        if self.options.mass == "diagonal":
            return np.diag(np.diag(cov))
        return 0.5 * (cov + cov.T)

    def sample(self, states, key) -> Chunk:
        """One chunk with the tuned parameters."""
        states, _, trace = self._chunk(states, self._da_init(self.params["step_size"]), key, False)
        positions, n_steps, divergent, acceptance = trace
        stats = {
            "acceptance": float(np.nanmean(acceptance)),
            "tree_depth": float(np.mean(np.log2(n_steps + 1))),
        }
        return Chunk(states, positions, int(n_steps.sum()), int(divergent.sum()), stats)

    @staticmethod
    def positions(states) -> np.ndarray:
        """The chains' positions (n_chains, d)."""
        return np.asarray(states.position)

    @staticmethod
    def state_arrays(states) -> dict[str, np.ndarray]:
        """Positions, log-densities and their gradients, per chain."""
        return {name: np.asarray(value) for name, value in states._asdict().items()}

    def restore(self, arrays: dict[str, np.ndarray], params: dict):
        """States saved by :meth:`state_arrays`, with tuned ``params``."""
        self.params = params
        return self._state(arrays["position"], arrays["logdensity"], arrays["logdensity_grad"])

    @staticmethod
    def replace(states, which: np.ndarray, positions, logdensities, grads):
        """States with the chains ``which`` moved to new positions."""
        rows = {"position": positions, "logdensity": logdensities, "logdensity_grad": grads}
        return _replace_rows(states, which, rows)


class MCLMC:
    """Microcanonical Langevin MC for ``options.chains`` chains in lockstep on ``logdensity``."""

    name = "mclmc"

    def __init__(self, logdensity: Callable, options: KernelOptions):
        import blackjax
        from blackjax.mcmc import integrators

        from cobaya_plugins.jax_compile import AnnouncedJit

        jax, jnp = _jax()
        self.options = options
        kernel = blackjax.mcmc.mclmc.build_kernel(integrator=integrators.isokinetic_mclachlan)
        n_chains, chunk = options.chains, options.chunk

        def run(states, key, L, step_size):
            def one(states, k):
                keys = jax.random.split(k, n_chains)
                new, info = jax.vmap(lambda kk, s: kernel(kk, s, logdensity, 1.0, L, step_size))(
                    keys, states
                )
                # blackjax undoes a step that reached a NaN or a zero density (the chain stays,
                # with a fresh momentum) and reports it only through `nonans`
                return new, (new.position, ~info.nonans, info.energy_change)

            keys = jax.random.split(key, chunk)
            return jax.lax.scan(one, states, keys)

        self._run = AnnouncedJit(run, f"{chunk} MCLMC steps of {n_chains} chains")

    def start(self, positions, logdensities, grads, params: dict | None = None):
        """Chain states at ``positions`` (n_chains, d) with their log-densities and gradients,
        and fresh momenta (random unit vectors, from the positions' bits)."""
        self.d = d = positions.shape[1]
        self.params = params or {"step_size": float(np.sqrt(d)) * 0.25, "L": float(np.sqrt(d))}
        return self._state(positions, unit_momenta(positions), logdensities, grads)

    @staticmethod
    def _state(position, momentum, logdensity, logdensity_grad):
        from blackjax.mcmc.integrators import IntegratorState

        _, jnp = _jax()
        return IntegratorState(
            jnp.asarray(position), jnp.asarray(momentum), jnp.asarray(logdensity),
            jnp.asarray(logdensity_grad),
        )  # fmt: skip

    def _chunk(self, states, key):
        _, jnp = _jax()
        states, trace = self._run(
            states, key, jnp.asarray(self.params["L"]), jnp.asarray(self.params["step_size"])
        )
        return states, tuple(np.asarray(t) for t in trace)

    def warmup(self, states, key, n_chunks: int, report: Report, fold: Fold, constrain: Constrain):
        """Step size from the energy error (the first 2/3), then L from the draws' ESS;
        ``fold`` after each chunk (no mass matrix: ``constrain`` is not used)."""
        jax, _ = _jax()
        target = self.options.energy_variance
        done, total, gradients = 0, n_chunks * self.options.chunk, 0
        tune_step = max(1, (2 * n_chunks) // 3)
        draws = []
        for i in range(n_chunks):
            key, sub = jax.random.split(key)
            states, (positions, divergent, energy) = self._chunk(states, sub)
            states = fold(states)
            done += self.options.chunk
            gradients += 2 * divergent.size
            # one step size for the chains of all processes
            variance = pooled_mean(energy_error_variance(energy, divergent, self.d))
            if i < tune_step:  # Var(ΔE)/d ∝ ε⁶: move towards the target, by at most 2x a chunk
                factor = (
                    (target / max(variance, 1e-12)) ** (1 / 6) if np.isfinite(variance) else 0.5
                )
                self.params["step_size"] *= float(np.clip(factor, 0.5, 2.0))
                self.params["L"] = max(self.params["L"], self.params["step_size"])
            else:
                draws.append(positions)
            report(done, total, (
                f"step size {self.params['step_size']:.3g}, L {self.params['L']:.3g}, energy "
                f"error variance per parameter {variance:.2g} (target {target:g}), "
                f"{int(divergent.sum())} divergent"
            ))  # fmt: skip
        if draws:
            chains = np.swapaxes(pooled_draws(np.concatenate(draws)), 0, 1)  # (chains, steps, d)
            ess = bulk_ess(chains) / len(chains)
            steps = chains.shape[1]
            self.params["L"] = float(0.4 * self.params["step_size"] * np.mean(steps / ess))
        return states, gradients

    def sample(self, states, key) -> Chunk:
        """One chunk with the tuned parameters."""
        states, (positions, divergent, energy) = self._chunk(states, key)
        stats = {"energy_error_variance_per_parameter": energy_error_variance(
            energy, divergent, self.d)}  # fmt: skip
        return Chunk(states, positions, 2 * divergent.size, int(divergent.sum()), stats)

    @staticmethod
    def positions(states) -> np.ndarray:
        """The chains' positions (n_chains, d)."""
        return np.asarray(states.position)

    @staticmethod
    def state_arrays(states) -> dict[str, np.ndarray]:
        """Positions, momenta, log-densities and their gradients, per chain."""
        return {name: np.asarray(value) for name, value in states._asdict().items()}

    def restore(self, arrays: dict[str, np.ndarray], params: dict):
        """States saved by :meth:`state_arrays`, with tuned ``params``."""
        self.params = params
        self.d = arrays["position"].shape[1]
        return self._state(
            arrays["position"], arrays["momentum"], arrays["logdensity"], arrays["logdensity_grad"]
        )

    @staticmethod
    def replace(states, which: np.ndarray, positions, logdensities, grads):
        """States with the chains ``which`` moved to new positions, with fresh momenta (a
        refresh leaves MCLMC's stationary distribution unchanged)."""
        rows = {"position": positions, "momentum": unit_momenta(positions),
                "logdensity": logdensities, "logdensity_grad": grads}  # fmt: skip
        return _replace_rows(states, which, rows)


#: The kernels by their ``kernel:`` name.
KERNELS: dict[str, type[NUTS] | type[MCLMC]] = {"nuts": NUTS, "mclmc": MCLMC}
