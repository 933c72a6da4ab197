"""The exactness report of an online-emulator chain (cobaya_plugins.online.report), against the
same numbers computed here by hand: Δ log posterior from a Cobaya model with the exact theory
built in the test, the chain read with numpy, the ESS and mean shifts written out.

The exact theory is the analytic model of ``analytic_cls`` through ``CallableCls`` and the
likelihood the cheap Gaussian ``SpectraLike`` of test_online_emulator.py (by import path, as a
YAML file names it)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import analytic_cls
import numpy as np
import pytest
import yaml
from cobaya.collection import SampleCollection
from cobaya.input import update_info
from cobaya.model import get_model
from cobaya.output import get_output
from test_online_emulator import NAMES, SIGMA, TRUTH, draws, exact_block, online_info

from cobaya_plugins.cli import main
from cobaya_plugins.online.report import REPORT_SUFFIX, exact_info, exactness_report

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))
LIKE = "test_online_emulator.SpectraLike"
ONLINE = "cobaya_plugins.theories.OnlineEmulator"


def read_chain(path: Path) -> dict[str, np.ndarray]:
    """A Cobaya chain file as columns (header names), with numpy only."""
    with open(path) as handle:
        names = handle.readline().lstrip("#").split()
    data = np.atleast_2d(np.loadtxt(path))
    return {name: data[:, i] for i, name in enumerate(names)}


def hand_report(prefix: Path, report: dict, burn_in: float) -> dict:
    """The report's numbers recomputed here: the exact model built from the test's own blocks,
    evaluated at the chain rows the report drew (its ``samples``), against the chain file."""
    chain = read_chain(Path(f"{prefix}.1.txt"))
    rows = len(chain["weight"])
    skip = int(np.round(burn_in * rows))
    exact = get_model({"theory": exact_block(), "likelihood": {LIKE: None},
                       "params": online_info(Path("."))["params"]})  # fmt: skip
    deltas, sigma_t, counts, picked = [], [], [], []
    for sample in report["samples"]:
        assert sample["chain"] == 0 and skip <= sample["row"] < rows
        i = sample["row"]
        result = exact.logposterior([chain[p][i] for p in NAMES])
        deltas.append(result.logpost + chain["minuslogpost"][i])
        sigma_t.append(result.derived[0])
        counts.append(sample["count"])
        picked.append(i)
    d = np.repeat(deltas, counts)
    w = np.exp(d - d.max())
    kept = slice(skip, rows)
    weights = chain["weight"][kept]
    shifts = {}
    for p in [*NAMES, "sigma_T"]:
        values = chain[p][kept]
        mean = np.sum(weights * values) / np.sum(weights)
        sigma = np.sqrt(np.sum(weights * (values - mean) ** 2) / np.sum(weights))
        emulated = np.repeat(chain[p][picked], counts)
        exact_values = emulated if p != "sigma_T" else np.repeat(sigma_t, counts)
        shifts[p] = (np.sum(w * exact_values) / np.sum(w) - emulated.mean()) / sigma
    return {"delta": np.array(deltas), "mean": d.mean(), "std": d.std(),
            "ess": np.sum(w) ** 2 / np.sum(w**2) / len(d), "shifts": shifts}  # fmt: skip


def fabricated_run(
    tmp_path: Path, errors: np.ndarray, sigma_errors: np.ndarray, points: np.ndarray | None = None
) -> Path:
    """An OnlineEmulator run's output whose chain rows are the exact model's values at ``points``
    (default: draws around the truth) with known errors: log-likelihood lower by ``errors`` (so
    Δ = errors) and sigma_T higher by ``sigma_errors``; weights 1, 2, 3, 1, 2, 3, ...; written by
    Cobaya's own output classes."""
    info = online_info(tmp_path, likelihood={LIKE: None})
    prefix = tmp_path / "chains" / "fake"
    out = get_output(prefix=str(prefix), force=True)
    out.check_and_dump_info(info, update_info(info), check_compatible=False)
    exact = get_model({**info, "theory": exact_block()})
    collection = SampleCollection(exact, out, name="1")
    if points is None:
        points = draws(len(errors), 1.0, seed=1)
    for i, x in enumerate(points):
        result = exact.logposterior(x)
        collection.add(x, logpriors=result.logpriors, loglikes=[result.loglikes[0] - errors[i]],
                       derived=[result.derived[0] + sigma_errors[i]], weight=1 + i % 3)  # fmt: skip
    collection.out_update()
    return prefix


def test_report_numbers_are_the_hand_computation_on_a_chain_with_known_errors(tmp_path):
    rng = np.random.default_rng(0)
    errors, sigma_errors = rng.normal(0, 0.4, 40), rng.normal(0.01, 0.005, 40)
    prefix = fabricated_run(tmp_path, errors, sigma_errors)
    report = exactness_report(str(prefix), 25, seed=4, burn_in=0.3)
    hand = hand_report(prefix, report, burn_in=0.3)
    # the Δ of each drawn row: what the test put in (to ~1e-3: the chain file keeps 8 digits of the
    # parameters, and the likelihood is steep) and what the
    # test's own exact model gives
    rows = [s["row"] for s in report["samples"]]
    np.testing.assert_allclose(hand["delta"], errors[rows], atol=3e-3)
    np.testing.assert_allclose([s["delta_logpost"] for s in report["samples"]], hand["delta"],
                               rtol=1e-10, atol=1e-10)  # fmt: skip
    assert report["n"] == sum(s["count"] for s in report["samples"]) == 25
    assert report["exact_calls"] == len(rows) and report["failed"] == 0
    assert report["rows"] == 40 - 12  # round(0.3 * 40) skipped
    d = report["delta_logpost"]
    assert d["mean"] == pytest.approx(hand["mean"], rel=1e-10)
    assert d["std"] == pytest.approx(hand["std"], rel=1e-10)
    assert report["ess_fraction"] == pytest.approx(hand["ess"], rel=1e-10)
    assert 0.3 < report["ess_fraction"] < 0.95  # the known errors (std 0.4) cost weight
    assert set(report["params"]) == {*NAMES, "sigma_T"}  # parameters, not the chi2 sums
    for p, shift in hand["shifts"].items():
        assert report["params"][p]["shift_sigma"] == pytest.approx(shift, rel=1e-8, abs=1e-12)
    worst = max(hand["shifts"], key=lambda p: abs(hand["shifts"][p]))
    assert report["max_shift_param"] == worst
    assert report["max_shift_sigma"] == pytest.approx(abs(hand["shifts"][worst]), rel=1e-8)
    # the file beside the chain holds the same report; the same seed draws the same rows
    assert json.loads(Path(f"{prefix}{REPORT_SUFFIX}").read_text())["samples"] == report["samples"]
    again = exactness_report(str(prefix), 25, seed=4, burn_in=0.3, write=False)
    assert again["samples"] == report["samples"]


def test_rows_at_one_point_make_one_exact_call_and_exact_calls_counts_the_calls(tmp_path):
    """Rows of a chain can share the theory's inputs (a fast nuisance parameter moved, or a point
    visited again): one exact call for them all, and the report says how many calls it made."""
    points = draws(10, 1.0, seed=2)
    points = np.vstack([points, points[::-1]])  # every point twice, the copies far apart
    prefix = fabricated_run(tmp_path, np.zeros(20), np.zeros(20), points=points)
    before = analytic_cls.CALLS[0]
    report = exactness_report(str(prefix), 20, seed=1, burn_in=0.0, write=False)
    calls = analytic_cls.CALLS[0] - before
    rows = [s["row"] for s in report["samples"]]
    distinct = {min(r, 19 - r) for r in rows}  # row r and row 19 - r are one point
    assert len(distinct) < len(rows)  # (the seed draws some point twice)
    assert report["exact_calls"] == calls == len(distinct)
    np.testing.assert_allclose([s["delta_logpost"] for s in report["samples"]], 0, atol=3e-3)


def test_exact_info_replaces_the_wrapper_by_its_exact_theory_and_keeps_the_rest(tmp_path):
    info = update_info(online_info(tmp_path, likelihood={LIKE: None}))
    out = exact_info(info)
    assert list(out["theory"]) == ["cobaya_plugins.theories.CallableCls"]
    block = out["theory"]["cobaya_plugins.theories.CallableCls"]
    assert block["function"] == "analytic_cls:spectra" and "sigma_T" in block["params"]
    assert out["likelihood"] == info["likelihood"] and out["params"] == info["params"]


def test_bad_input_says_the_fix(tmp_path, capsys):
    errors = np.zeros(10)
    prefix = fabricated_run(tmp_path, errors, errors)
    # no output at all
    assert main(["online-report", str(tmp_path / "chains" / "nothing")]) == 1
    assert re.search(r"nothing.updated.yaml does not exist. Give the `output:` prefix",
                     capsys.readouterr().err)  # fmt: skip
    # more draws than rows (10 rows, 3 skipped)
    capsys.readouterr()
    assert main(["online-report", str(prefix), "--n", "8"]) == 1
    assert "8 samples asked, but the chain" in (err := capsys.readouterr().err)
    assert "has 7 row(s) after skipping the first 0.3" in err and "(--n 7)" in err
    assert main(["online-report", str(prefix), "--n", "8", "--burn-in", "0"]) == 0
    assert "8 posterior draws" in capsys.readouterr().out
    assert main(["online-report", str(prefix), "--n", "0"]) == 1
    assert "a positive integer" in capsys.readouterr().err
    # a run without the emulator
    plain = tmp_path / "plain"
    info = {**online_info(tmp_path, likelihood={LIKE: None}), "theory": exact_block()}
    get_output(prefix=str(plain), force=True).check_and_dump_info(
        info, update_info(info), check_compatible=False
    )
    Path(f"{plain}.1.txt").write_text(Path(f"{prefix}.1.txt").read_text())
    assert main(["online-report", str(plain), "--n", "5"]) == 1
    assert "has no cobaya_plugins.theories.OnlineEmulator" in capsys.readouterr().err
    # the output of a run without chain files (a minimize or test run)
    Path(f"{prefix}.1.txt").unlink()
    assert main(["online-report", str(prefix), "--n", "5"]) == 1
    assert "has no chain files" in capsys.readouterr().err


def mcmc_info(tmp_path: Path, validate: int, max_samples: int = 200) -> dict:
    info = online_info(tmp_path, likelihood={LIKE: None}, validate=validate)
    for name, loc, sigma in zip(NAMES, TRUTH, SIGMA, strict=True):
        info["params"][name].update(ref={"dist": "norm", "loc": float(loc), "scale": float(sigma)},
                                    proposal=float(sigma) / 3)  # fmt: skip
    info["sampler"] = {"mcmc": {"max_samples": max_samples, "seed": 3}}
    info["output"] = str(tmp_path / "chains" / "run")
    return info


@pytest.fixture(scope="module")
def analytic_run(tmp_path_factory) -> tuple[Path, dict]:
    """Cobaya's mcmc through the emulator with ``validate: 15`` (in this process): the output
    prefix and the run's input."""
    from cobaya.run import run

    tmp_path = tmp_path_factory.mktemp("analytic_run")
    info = mcmc_info(tmp_path, validate=15, max_samples=150)
    run(info)
    return tmp_path / "chains" / "run", info


def test_validate_makes_the_report_at_the_end_of_a_run(analytic_run):
    """The report is written beside the chain at the end of the run; its Δ are the test's own
    exact model's, and the emulator was accurate (the analytic model: |Δ| within the tolerance,
    ESS ~ 1)."""
    prefix, _ = analytic_run
    report = json.loads(Path(f"{prefix}{REPORT_SUFFIX}").read_text())
    assert report["n"] == 15 and report["burn_in"] == 0.3
    assert report["exact_theory"] == ["cobaya_plugins.theories.CallableCls"]
    hand = hand_report(prefix, report, burn_in=0.3)
    np.testing.assert_allclose([s["delta_logpost"] for s in report["samples"]], hand["delta"],
                               rtol=1e-10, atol=1e-10)  # fmt: skip
    assert report["ess_fraction"] == pytest.approx(hand["ess"], rel=1e-10)
    assert np.mean(np.abs(hand["delta"]) <= 0.1) >= 0.9
    assert report["ess_fraction"] >= 0.95 and report["max_shift_sigma"] < 0.1


def test_cobaya_post_as_documented_reweights_every_row_by_the_reports_delta(analytic_run):
    """docs/online_emulator.md's `post:` (remove the emulator and the likelihoods, add the
    `exact:` block as it is and the same likelihoods) on the run's chain: Cobaya recomputes each
    row with the exact theory; at the rows the report drew, its Δ log posterior is the report's,
    and every weight is multiplied by exp(Δ) (up to one constant)."""
    from cobaya.run import run

    prefix, info = analytic_run
    post = {
        "output": str(prefix),
        "post": {
            "suffix": "exact",
            "skip": 0.3,
            "remove": {"theory": [ONLINE], "likelihood": list(info["likelihood"])},
            "add": {"theory": info["theory"][ONLINE]["exact"], "likelihood": info["likelihood"]},
        },
    }
    run(post)
    before, after = (
        read_chain(Path(f"{prefix}.1.txt")),
        read_chain(Path(f"{prefix}.post.exact.1.txt")),
    )
    skip = int(np.round(0.3 * len(before["weight"])))
    assert len(after["weight"]) == len(before["weight"]) - skip
    for p in NAMES:
        np.testing.assert_array_equal(after[p], before[p][skip:])
    delta = before["minuslogpost"][skip:] - after["minuslogpost"]
    report = json.loads(Path(f"{prefix}{REPORT_SUFFIX}").read_text())
    for sample in report["samples"]:
        assert delta[sample["row"] - skip] == pytest.approx(sample["delta_logpost"], abs=2e-6)
    log_ratio = np.log(after["weight"] / before["weight"][skip:]) - delta
    assert np.ptp(log_ratio) < 1e-5


@pytest.mark.slow
def test_under_mpi_one_process_makes_the_report_from_every_chain(tmp_path):
    if not (BIN / "mpirun").exists():
        pytest.skip("no mpirun in the venv: `make install-test` installs mpich and mpi4py")
    info = mcmc_info(tmp_path, validate=10, max_samples=100)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(info))
    proc = subprocess.run(
        [str(BIN / "mpirun"), "-n", "2", str(BIN / "cobaya-run"), "run.yaml"], cwd=tmp_path,
        env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert len(re.findall(r"\[(\d) : .*\] Exactness report of", out)) == 1
    assert re.search(r"\[0 : .*\] Exactness report of", out)
    report = json.loads((tmp_path / "chains" / f"run{REPORT_SUFFIX}").read_text())
    assert len(report["chains"]) == 2
    assert report["rows"] == sum(
        len(read_chain(Path(f))["weight"]) - int(np.round(0.3 * len(read_chain(Path(f))["weight"])))
        for f in report["chains"]
    )


def test_no_report_without_output_and_the_log_says_how(tmp_path, caplog):
    from cobaya.run import run

    from cobaya_plugins.cobaya_internals import run_output_prefix

    assert run_output_prefix() is None  # not inside cobaya.run
    info = mcmc_info(tmp_path, validate=5, max_samples=20)
    info.pop("output")
    run(info)
    assert "no exactness report (`validate: 5`): this run writes no chain" in caplog.text
    assert "python -m cobaya_plugins online-report PREFIX --n 5" in caplog.text


def test_validate_larger_than_the_chain_warns_with_the_fix_and_the_run_ends_well(tmp_path, caplog):
    from cobaya.run import run

    info = mcmc_info(tmp_path, validate=500, max_samples=30)
    run(info)  # no exception: the chain is written, only the report is missing
    assert "no exactness report: 500 samples asked" in caplog.text
    assert "ask for 21 or fewer (validate: 21)" in caplog.text  # 30 rows, 9 skipped
    assert f"python -m cobaya_plugins online-report {info['output']} --n 500" in caplog.text
    assert not Path(info["output"] + REPORT_SUFFIX).exists()
