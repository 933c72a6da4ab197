"""emulator-check: points, cosmic-variance deviations, Δχ² plumbing, the command line."""

import re

import numpy as np
import pytest

pytest.importorskip("cosmopower_jax", reason="needs the optional extra 'emulator'")

from cobaya_plugins import emulator_check
from cobaya_plugins.cli import main  # noqa: E402
from cobaya_plugins.emulator import INPUTS, LMAX, CMBEmulator  # noqa: E402
from cobaya_plugins.mock import CMB_KINDS  # noqa: E402


def test_points_start_at_the_best_fit_and_are_reproducible():
    points = emulator_check.draw_points(5, seed=2)
    assert points[0] == emulator_check.BESTFIT
    assert points == emulator_check.draw_points(5, seed=2)
    assert points[1] != emulator_check.draw_points(5, seed=3)[1]
    assert emulator_check.BESTFIT["h"] == pytest.approx(0.6732, rel=1e-15)  # H0 = 67.32
    with pytest.raises(ValueError, match="at least 1"):
        emulator_check.draw_points(0)


def test_cv_deviation_by_hand():
    """A shift of k σ_cv at one ell is reported as k; φφ as a relative difference."""
    ell = np.arange(LMAX + 1.0)
    reference = {
        "tt": 1.0 / (ell + 1) ** 2,
        "ee": 0.01 / (ell + 1) ** 2,
        "te": 0.05 / (ell + 1) ** 2,
        "pp": 1e-8 / (ell + 1) ** 4,
    }
    emulated = {s: v.copy() for s, v in reference.items()}
    l0 = 1000
    tt, ee, te = (reference[s][l0] for s in ("tt", "ee", "te"))
    sigma_tt = np.sqrt(2 / 2001) * tt
    sigma_te = np.sqrt((tt * ee + te**2) / 2001)
    emulated["tt"][l0] += 0.3 * sigma_tt
    emulated["te"][l0] -= 0.7 * sigma_te
    emulated["pp"][50] *= 1.02
    emulated["pp"][2500] *= 2  # beyond the φφ range (ell <= 2000): ignored
    out = emulator_check.cv_deviation(emulated, reference)
    assert out["tt"] == pytest.approx(0.3)
    assert out["te"] == pytest.approx(0.7)
    assert out["ee"] == 0
    assert out["pp"] == pytest.approx(0.02)


def test_check_with_class_replaced_by_the_emulator(mock_paths, monkeypatch):
    """With 'CLASS' returning the emulator's own spectra every Δχ² and deviation is 0."""
    emulator = CMBEmulator()
    monkeypatch.setattr(emulator_check, "class_spectra", lambda point, settings: emulator(point))
    mock_dir = next(iter(mock_paths.values())).parent
    report = emulator_check.run_check(3, ["matched"], mock_dir=mock_dir)
    result = report["settings"]["matched"]
    assert set(result["dchi2"]) == set(CMB_KINDS) == set(result["dchi2_anchored"])
    for values in [*result["dchi2"].values(), *result["dchi2_anchored"].values(),
                   *result["cv"].values()]:  # fmt: skip
        assert values.shape == (3,) and np.all(values == 0)
    text = emulator_check.format_report(report)
    assert "highl_TTTEEE_lite" in text and "σ_cv" in text


def test_progress_per_stage_and_per_class_point(mock_paths, monkeypatch, capsys):
    """A line per mock file, one for the emulator and one per CLASS point, in order; the
    command prints them before its report."""
    emulator = CMBEmulator()
    monkeypatch.setattr(emulator_check, "class_spectra", lambda point, settings: emulator(point))
    mock_dir = next(iter(mock_paths.values())).parent
    lines = []
    emulator_check.run_check(3, ["matched"], mock_dir=mock_dir, progress=lines.append)
    assert [re.sub(r" \(?[\d.]+ s.*", "", line) for line in lines] == [
        *(f"Mock likelihoods: opened {mock_dir / f'{kind}.clik'}" for kind in CMB_KINDS),
        "Emulator: 3 point(s) in",
        *(f"CLASS settings 'matched': point {k}/3" for k in (1, 2, 3)),
    ], lines
    assert main(["emulator-check", "--n", "2", "--mock-dir", str(mock_dir)]) == 0
    out = capsys.readouterr().out
    assert out.index("CLASS settings 'matched': point 2/2") < out.index("CosmoPower emulator vs")


def test_unknown_settings_refused(mock_paths):
    with pytest.raises(ValueError, match="Unknown CLASS settings"):
        emulator_check.run_check(1, ["camb"], mock_dir=next(iter(mock_paths.values())).parent)


def test_command_line_refuses_unknown_settings(capsys):
    with pytest.raises(SystemExit):
        main(["emulator-check", "--settings", "camb"])
    assert "invalid choice" in capsys.readouterr().err


def test_inputs_are_the_networks_order():
    """INPUTS is the order stored in the shipped networks themselves."""
    import pickle

    from cobaya_plugins.emulator import package_dir

    for spectrum in ("tt", "te", "ee", "pp"):
        with open(package_dir() / "trained_models" / f"cmb_{spectrum}.pkl", "rb") as f:
            assert tuple(pickle.load(f)[7]) == INPUTS


def test_read_covmat_maps_cobaya_names(tmp_path):
    """H0 -> h (variance / 100²), logA -> ln10^{10}A_s, extra parameters ignored, order INPUTS."""
    names = ["A_planck", "logA", "H0", "n_s", "tau_reio", "omega_cdm", "omega_b"]
    sigma = np.array([0.0025, 0.014, 0.6, 0.004, 0.007, 0.0012, 0.00015])
    corr = np.eye(7)
    corr[2, 5] = corr[5, 2] = -0.9  # H0 - omega_cdm
    cov = corr * np.outer(sigma, sigma)
    path = tmp_path / "test.covmat"
    path.write_text("# " + " ".join(names) + "\n" + "\n".join(" ".join(map(str, r)) for r in cov))
    out = emulator_check.read_covmat(path)
    expected_sigma = [0.00015, 0.0012, 0.006, 0.007, 0.004, 0.014]  # INPUTS order, h = H0/100
    np.testing.assert_allclose(np.sqrt(np.diag(out)), expected_sigma, rtol=1e-12)
    assert out[0, 1] == 0 and out[1, 2] == pytest.approx(-0.9 * 0.0012 * 0.006, rel=1e-12)
    points = emulator_check.draw_points(2000, seed=1, cov=out)
    h = np.array([p["h"] for p in points[1:]])
    cdm = np.array([p["omega_cdm"] for p in points[1:]])
    assert np.corrcoef(h, cdm)[0, 1] == pytest.approx(-0.9, abs=0.02)
    path.write_text("# omega_b H0\n1 0\n0 1\n")
    with pytest.raises(ValueError, match="lacks the parameters"):
        emulator_check.read_covmat(path)
    with pytest.raises(FileNotFoundError, match="--covmat none"):
        emulator_check.read_covmat(tmp_path / "missing.covmat")


def test_default_covmat_is_package_data(tmp_path, monkeypatch):
    """emulator-check's default covmat ships with the package (setup.cfg's package_data): the
    command works outside the repository."""
    import configparser
    import fnmatch
    from pathlib import Path

    import cobaya_plugins

    package = Path(cobaya_plugins.__file__).parent
    relative = emulator_check.DEFAULT_COVMAT.relative_to(package).as_posix()
    config = configparser.ConfigParser()
    config.read(package.parent / "setup.cfg")
    globs = [g.strip() for g in config["options.package_data"]["cobaya_plugins"].split(",")]
    assert any(fnmatch.fnmatch(relative, g) for g in globs), (relative, globs)
    monkeypatch.chdir(tmp_path)
    assert emulator_check.read_covmat(emulator_check.DEFAULT_COVMAT).shape == (6, 6)
