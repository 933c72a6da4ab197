"""The gradient samplers on targets whose answer is known: HMC and BestFit through cobaya-run,
profiles, and their building blocks (the unbounded map, R-hat and ESS, the Hessian)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from cobaya.run import run

from cobaya_plugins.samplers.convergence import bulk_ess, expand_weights, split_rhat
from cobaya_plugins.samplers.coordinates import LogitCoordinates
from cobaya_plugins.samplers.optimize import covariance, hessian, maximize

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))

# The target: (a, b) correlated Gaussian inside wide uniform priors (truncation < 1e-40), and h a
# unit Gaussian at 0 with the uniform prior [0, 5]: a half-normal, piled against its bound.
MEAN = np.array([0.2, -0.1])
COV = np.array([[0.04, 0.018], [0.018, 0.01]])
HALF_NORMAL_MEAN, HALF_NORMAL_VAR = np.sqrt(2 / np.pi), 1 - 2 / np.pi


def target_info(sampler: dict) -> dict:
    return {
        "likelihood": {
            "gauss": "lambda a, b: stats.multivariate_normal.logpdf(np.array([a, b]), "
            "mean=np.array([0.2, -0.1]), cov=np.array([[0.04, 0.018], [0.018, 0.01]]))",
            "half": "lambda h: stats.norm.logpdf(h)",
        },
        "params": {
            "a": {"prior": {"min": -3, "max": 3}, "ref": {"dist": "norm", "loc": 0, "scale": 0.1},
                  "proposal": 0.1},
            "b": {"prior": {"min": -2, "max": 2}, "ref": {"dist": "norm", "loc": 0, "scale": 0.1},
                  "proposal": 0.05},
            "h": {"prior": {"min": 0, "max": 5}, "ref": {"dist": "norm", "loc": 1, "scale": 0.1},
                  "proposal": 0.3},
            "ab": {"derived": "lambda a, b: a + b"},
        },
        "sampler": sampler,
    }  # fmt: skip


def write_yaml(tmp_path: Path, info: dict, name: str = "run") -> str:
    info = {"output": f"chains/{name}", **info}
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(info))
    return f"{name}.yaml"


def cobaya_run(tmp_path: Path, *args: str, timeout: float = 600) -> str:
    proc = subprocess.run(
        [str(BIN / "cobaya-run"), *args], cwd=tmp_path, env=ENV, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


# --- building blocks -------------------------------------------------------------------------


def test_unbounded_map_round_trip_and_jacobian():
    bounds = np.array([[0.0, 5.0], [-np.inf, np.inf], [1.0, np.inf], [-np.inf, 2.0]])
    space = LogitCoordinates(bounds)
    assert space.kinds == ["logit", "identity", "lower", "upper"]
    x = np.array([0.3, -7.0, 1.5, 1.2])
    z = space.to_z(x)
    np.testing.assert_allclose(space.to_x(z), x, rtol=1e-12)
    # log|dx/dz| against a central finite difference of to_x, per coordinate
    h = 1e-6
    numeric = [
        np.log(abs((space.to_x(z + h * e) - space.to_x(z - h * e))[i] / (2 * h)))
        for i, e in enumerate(np.eye(4))
    ]
    assert space.log_jacobian(z) == pytest.approx(sum(numeric), abs=1e-7)
    np.testing.assert_allclose(np.abs(space.dx_dz(z)), np.exp(numeric), rtol=1e-7)
    # a point on a bound maps inside it (finite z)
    assert np.all(np.isfinite(space.to_z(np.array([0.0, 0.0, 1.0, 2.0]))))


def ar1_chains(rho: float, m: int, n: int, seed: int) -> np.ndarray:
    """m AR(1) chains of unit variance: ESS per chain n (1 - rho) / (1 + rho)."""
    rng = np.random.default_rng(seed)
    x = np.empty((m, n))
    x[:, 0] = rng.standard_normal(m)
    noise = rng.standard_normal((m, n)) * np.sqrt(1 - rho**2)
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return x


@pytest.mark.slow
def test_ess_and_rhat_against_blackjax_and_the_ar1_formula():
    import blackjax
    import jax.numpy as jnp

    chains = ar1_chains(0.8, 4, 4000, seed=1)[:, :, None]
    ess = bulk_ess(chains)[0]
    expected = 4 * 4000 * (1 - 0.8) / (1 + 0.8)  # 1778
    assert ess == pytest.approx(expected, rel=0.15)
    # blackjax's implementation (not rank-normalised: same within a few % on Gaussian draws)
    theirs = float(blackjax.ess(jnp.asarray(chains[:, :, 0]), chain_axis=0, sample_axis=1))
    assert ess == pytest.approx(theirs, rel=0.05)
    assert split_rhat(chains)[0] == pytest.approx(1.0, abs=0.01)
    shifted = chains.copy()
    shifted[0] += 1.0  # one chain elsewhere
    assert split_rhat(shifted)[0] > 1.05


def test_expand_weights():
    np.testing.assert_array_equal(expand_weights([[1.0], [2.0]], [2, 1]), [[1.0], [1.0], [2.0]])
    with pytest.raises(ValueError, match="integer"):
        expand_weights([[1.0]], [0.5])


def test_maximum_and_hessian_of_a_gaussian():
    precision = np.linalg.inv(COV)

    def value_and_grad(x):
        r = x - MEAN
        return -0.5 * r @ precision @ r, -precision @ r

    found = maximize(value_and_grad, np.array([1.0, 1.0]), np.array([0.2, 0.1]))
    np.testing.assert_allclose(found.x, MEAN, atol=1e-6)
    hess = hessian(
        lambda xs: np.array([value_and_grad(x)[1] for x in xs]), found.x, 1e-4 * np.ones(2)
    )
    np.testing.assert_allclose(hess, -precision, rtol=1e-8)
    cov, raised = covariance(hess, np.array([0.2, 0.1]))
    np.testing.assert_allclose(cov, COV, rtol=1e-8)
    assert raised == 0


# --- BestFit and profiles --------------------------------------------------------------------


def test_bestfit_finds_the_known_maximum(tmp_path):
    """The maximum is at (a, b) = mean and h = 0 (on its bound); the Hessian's covmat for (a, b)
    is the Gaussian's covariance; Cobaya's minimize files are written."""
    info = target_info({"cobaya_plugins.samplers.BestFit": {"starts": 2, "seed": 1}})
    info["output"] = str(tmp_path / "chains" / "fit")
    _, sampler = run(info)
    minimum = sampler.products()["minimum"]
    assert minimum["a"] == pytest.approx(0.2, abs=1e-5)
    assert minimum["b"] == pytest.approx(-0.1, abs=1e-5)
    assert minimum["h"] == pytest.approx(0.0, abs=1e-6)
    assert minimum["ab"] == pytest.approx(0.1, abs=1e-5)
    # chi2 = -2 logL: the Gaussian's normalisation at its peak, + log(2π) for h at 0
    chi2_gauss = np.log(np.linalg.det(2 * np.pi * COV))
    assert minimum["chi2__gauss"] == pytest.approx(chi2_gauss, abs=1e-8)
    assert minimum["chi2__half"] == pytest.approx(np.log(2 * np.pi), abs=1e-8)
    products = sampler.products()
    np.testing.assert_allclose(products["covmat"][:2, :2], COV, rtol=1e-4)
    assert products["covmat"][2, 2] == pytest.approx(0.3**2)  # on its bound: proposal width
    for extension in (".minimum", ".minimum.txt", ".covmat"):
        assert (tmp_path / "chains" / f"fit{extension}").is_file(), extension
    header = (tmp_path / "chains" / "fit.covmat").read_text().splitlines()[0]
    assert header.split()[1:] == ["a", "b", "h"]


def test_bestfit_ignore_prior_writes_bestfit_files(tmp_path):
    info = target_info({"cobaya_plugins.samplers.BestFit": {"starts": 1, "ignore_prior": True}})
    info["output"] = str(tmp_path / "chains" / "fit")
    run(info)
    assert (tmp_path / "chains" / "fit.bestfit").is_file()
    assert (tmp_path / "chains" / "fit.bestfit.txt").is_file()


def test_profile_of_a_gaussian_is_its_marginal_parabola():
    from cobaya_plugins.profile import profile

    info = target_info({})
    values = np.linspace(-0.2, 0.6, 5)
    result = profile(info, "a", values)
    # Δχ² = ((a - 0.2) / σ_a)² with σ_a² = 0.04 the marginal variance (profile = marginal for a
    # Gaussian); b follows a as the conditional mean, b = -0.1 + 0.45 (a - 0.2)
    np.testing.assert_allclose(result.delta_chi2, (values - 0.2) ** 2 / 0.04, atol=1e-6)
    np.testing.assert_allclose(result.points[:, 1], -0.1 + 0.45 * (values - 0.2), atol=1e-5)
    low, high = result.interval(1.0)
    assert (low, high) == pytest.approx((0.0, 0.4), abs=0.02)  # linear interpolation of a parabola


def test_profile_refuses_unknown_parameter_and_values_outside_the_prior():
    from cobaya_plugins.profile import parse_values, profile

    with pytest.raises(ValueError, match="not a sampled parameter"):
        profile(target_info({}), "H0", [1.0])
    with pytest.raises(ValueError, match="outside the prior of a"):
        profile(target_info({}), "a", [4.0])
    np.testing.assert_allclose(parse_values("64:70:13"), np.linspace(64, 70, 13))
    with pytest.raises(ValueError, match="start:stop:number"):
        parse_values("64-70")


# --- HMC through cobaya-run ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [{"kernel": "nuts"}, {"kernel": "mclmc"}, {"kernel": "nuts", "bounds": "logit"}],
    ids=["nuts-reflect", "mclmc-reflect", "nuts-logit"],
)
def test_hmc_recovers_the_known_posterior(tmp_path, options):
    """4 chains to ESS >= 1000: means and covariance of (a, b), and the half-normal's mean and
    variance, within a few Monte Carlo errors; files for getdist with derived and chi2 columns.
    For every kernel and both maps of the bounds (h piles up against its bound at 0)."""
    from getdist import loadMCSamples

    sampler = {"cobaya_plugins.samplers.HMC": {"seed": 2, "min_ess": 1000, "warmup": 300,
                                                **options}}  # fmt: skip
    out = cobaya_run(tmp_path, write_yaml(tmp_path, target_info(sampler)))
    assert "Converged" in out and "compiled" in out
    files = sorted((tmp_path / "chains").glob("run.*.txt"))
    assert [f.name for f in files] == [f"run.{i}.txt" for i in range(1, 5)]
    samples = loadMCSamples(str(tmp_path / "chains" / "run"), settings={"ignore_rows": 0})
    assert samples.sampler == "mcmc"
    names = ["a", "b", "h", "ab", "chi2__gauss", "chi2__half"]
    assert all(samples.paramNames.parWithName(n) is not None for n in names)
    n_eff = 1000
    mean = samples.getMeans([samples.index["a"], samples.index["b"]])
    error = np.sqrt(np.diag(COV) / n_eff)
    assert np.all(np.abs(mean - MEAN) < 5 * error), (mean, error)
    np.testing.assert_allclose(samples.cov(["a", "b"]), COV, rtol=0.2, atol=0.2 * 0.018)
    h = samples.samples[:, samples.index["h"]]
    assert h.min() >= 0
    assert abs(h.mean() - HALF_NORMAL_MEAN) < 5 * np.sqrt(HALF_NORMAL_VAR / n_eff)
    assert np.var(h) == pytest.approx(HALF_NORMAL_VAR, rel=0.2)
    ab = samples.samples[:, samples.index["ab"]]
    np.testing.assert_allclose(ab, samples.samples[:, 0] + samples.samples[:, 1], atol=1e-6)
    assert (tmp_path / "chains" / "run.covmat").is_file()


@pytest.mark.slow
def test_hmc_resume_after_sigkill_keeps_every_draw(tmp_path):
    """Kill cobaya-run once draws are on disk; --resume keeps every complete line and goes on."""
    sampler = {"cobaya_plugins.samplers.HMC": {
        "seed": 3, "warmup": 100, "chunk": 20, "min_ess": 1e9, "max_draws": 100000}}  # fmt: skip
    name = write_yaml(tmp_path, target_info(sampler))
    chains = tmp_path / "chains"
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(
            [str(BIN / "cobaya-run"), name], cwd=tmp_path, env=ENV, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        start = time.monotonic()
        try:
            while (
                not (chains / "run.1.txt").exists()
                or len((chains / "run.1.txt").read_text().splitlines()) <= 60
            ):
                assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() - start < 300, "no draws written within 300 s"
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    before = {f.name: f.read_text() for f in sorted(chains.glob("run.*.txt"))}
    complete = {
        k: v if v.endswith("\n") else "".join(v.splitlines(keepends=True)[:-1])
        for k, v in before.items()
    }
    longest = max(len(v.splitlines()) for v in before.values())
    sampler["cobaya_plugins.samplers.HMC"]["max_draws"] = longest + 40
    name = write_yaml(tmp_path, target_info(sampler))
    out = cobaya_run(tmp_path, "--resume", name)
    assert "Resuming" in out and "Warm-up" not in out
    for file, text in complete.items():
        after = (chains / file).read_text()
        assert after.startswith(text), file
        assert len(after.splitlines()) > len(text.splitlines())


def test_hmc_options_are_checked():
    from cobaya.log import LoggedError

    for option, value, message in [
        ("kernel", "hmc", "`kernel: hmc` is not valid"),
        ("chains", 1, "R-1 needs at least 2 chains"),
        ("target_accept", 1.5, "`target_accept: 1.5` is not valid"),
        ("mass", "full", "`mass: dense` or `mass: diagonal`"),
    ]:
        info = target_info({"cobaya_plugins.samplers.HMC": {option: value}})
        with pytest.raises(LoggedError, match=message):
            run(info)


@pytest.mark.parametrize("sampler", ["HMC", "BestFit"])
def test_nan_gradient_at_a_finite_point_is_reported_with_the_point(sampler):
    """-|a| written as -sqrt(a*a): finite at a = 0, its JAX gradient there is 0 * inf = NaN. The
    samplers stop with the parameter and the point, instead of wandering off on NaN."""
    from cobaya.log import LoggedError

    info = {
        "likelihood": {"kink": "lambda a, b: -np.sqrt(a * a) - 0.5 * b**2"},
        "params": {"a": {"prior": {"min": -1, "max": 1}, "ref": 0.0, "proposal": 0.1},
                   "b": {"prior": {"min": -3, "max": 3}, "ref": 0.5, "proposal": 0.1}},
        "sampler": {f"cobaya_plugins.samplers.{sampler}": {"seed": 1}},
    }  # fmt: skip
    with pytest.raises(LoggedError, match=r"not finite in \['a'\].*a=0, b=0.5"):
        run(info)


def test_hmc_test_mode_reports_a_component_without_jax_form(mock_paths):
    """cobaya-run --test (run(test=True)) builds the differentiable posterior: a theory without
    a JAX form is named before any sampling or compiling."""
    from cobaya.log import LoggedError

    info = target_info({"cobaya_plugins.samplers.HMC": {}})
    info["theory"] = {"fixed_theory.FixedCls": None}
    info["likelihood"]["cobaya_plugins.planck.HighlTTTEEELite"] = {
        "clik_file": str(mock_paths["highl_TTTEEE_lite"])
    }
    info["params"].update(amp=1.0, A_planck=1.0)
    with pytest.raises(LoggedError, match=r"'fixed_theory.FixedCls'.*has no JAX form"):
        run(info, test=True)


@pytest.mark.slow
def test_hmc_with_two_mpi_processes_writes_one_file_per_chain(tmp_path):
    """2 processes × 2 chains: files 1..4, R-1 and ESS over all four (one progress line)."""
    if not (BIN / "mpirun").exists():
        pytest.skip("no mpirun in the venv: `make install-test` installs mpich and mpi4py")
    sampler = {"cobaya_plugins.samplers.HMC": {"seed": 4, "chains": 2, "warmup": 150,
                                                "min_ess": 300, "Rminus1_stop": 0.05}}  # fmt: skip
    name = write_yaml(tmp_path, target_info(sampler))
    proc = subprocess.run(
        [str(BIN / "mpirun"), "-n", "2", str(BIN / "cobaya-run"), name], cwd=tmp_path, env=ENV,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    files = sorted(f.name for f in (tmp_path / "chains").glob("run.*.txt"))
    assert files == [f"run.{i}.txt" for i in range(1, 5)]
    assert "4 chains" in out.split("Converged")[1].splitlines()[0]
    # the two processes adapted as one batch: the same step size and mass matrix
    states = [np.load(tmp_path / "chains" / f"run.hmc_state.{r}.npz") for r in (1, 2)]
    for key in ("param_step_size", "param_inverse_mass"):
        np.testing.assert_array_equal(states[0][key], states[1][key])


def test_profile_command_writes_table_and_plot(tmp_path):
    from cobaya_plugins.cli import main

    info = target_info({})
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(info))
    out = tmp_path / "prof" / "a"
    assert main(["profile", str(tmp_path / "t.yaml"), "--param", "a", "--values", "0:0.4:3",
                 "--out", str(out)]) == 0  # fmt: skip
    table = (tmp_path / "prof" / "a.txt").read_text().splitlines()
    assert table[0].split()[:3] == ["a", "Δχ²", "χ²"]
    delta = [float(line.split()[1]) for line in table[1:]]
    np.testing.assert_allclose(delta, [1.0, 0.0, 1.0], atol=1e-5)  # ((a - 0.2) / 0.2)²
    assert (tmp_path / "prof" / "a.png").stat().st_size > 1000
    assert main(["profile", str(tmp_path / "missing.yaml"), "--param", "a", "--values", "0"]) == 1


@pytest.mark.parametrize("name", ["lcdm_emulator_mock", "lcdm_emulator_mock_lite"])
def test_hmc_examples_are_the_mh_examples_with_the_sampler_swapped(name):
    """yaml_examples/*_hmc.yaml: the same theory, likelihoods and parameters as the MH example
    (the docs' "one block changed"); their sampler is HMC."""
    repo = HERE.parents[1] / "yaml_examples"
    mh = yaml.safe_load((repo / f"{name}.yaml").read_text())
    hmc = yaml.safe_load((repo / f"{name}_hmc.yaml").read_text())
    assert {k: mh[k] for k in ("theory", "likelihood", "params")} == {
        k: hmc[k] for k in ("theory", "likelihood", "params")
    }
    assert list(mh["sampler"]) == ["mcmc"] and list(hmc["sampler"]) == [
        "cobaya_plugins.samplers.HMC"
    ]


@pytest.mark.parametrize("name", ["lcdm_emulator_mock", "lcdm_emulator_mock_lite"])
def test_bestfit_examples_are_the_mh_examples_with_the_sampler_swapped(name):
    """yaml_examples/*_bestfit.yaml: every block of the MH example but the sampler (BestFit)
    and the output prefix (its own); the header names the `jax` extra it needs."""
    repo = HERE.parents[1] / "yaml_examples"
    mh = yaml.safe_load((repo / f"{name}.yaml").read_text())
    text = (repo / f"{name}_bestfit.yaml").read_text()
    fit = yaml.safe_load(text)
    assert {k: v for k, v in mh.items() if k not in ("sampler", "output")} == {
        k: v for k, v in fit.items() if k not in ("sampler", "output")
    }
    assert list(fit["sampler"]) == ["cobaya_plugins.samplers.BestFit"]
    assert fit["output"] == mh["output"] + "_bestfit"
    assert "cobaya-planck-clik[emulator,jax]" in text
