"""Command lines for the real data: install (also through cobaya-install), validate, residuals,
and info's data ranges; every download from a local server on 127.0.0.1."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from cobaya.model import get_model
from fixed_theory import FixedCls
from planck_product import LAYOUT, ArchiveServer, closed_port_url

from cobaya_plugins import validate as val
from cobaya_plugins.cli import main
from cobaya_plugins.clik import open_clik
from cobaya_plugins.fiducial import FIDUCIAL_FILE, load_fiducial
from cobaya_plugins.install import MANIFEST, URL_ENV
from cobaya_plugins.mock import TRUTH_FILE, default_nuisance

BIN = Path(sys.executable).parent


def run(args, env=None, timeout=300):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_info_lists_data_ranges(mock_paths, capsys):
    assert main(["info", str(mock_paths["highl_TTTEEE_lite"])]) == 0
    out = capsys.readouterr().out
    assert "data:      TT          ell 30-2508, 215 bins" in out
    assert "TE          ell 30-1996, 199 bins" in out and "EE          ell 30-1996, 199 bins" in out
    assert main(["info", str(mock_paths["lowl_TT"])]) == 0
    assert "data:      TT          ell 2-29, 28 multipoles" in capsys.readouterr().out
    assert main(["info", str(mock_paths["highl_TTTEEE"])]) == 0
    out = capsys.readouterr().out
    assert "TT 100x100 ell 30-1197, 136 bins" in out and "EE 100x217 ell 505-999, 55 bins" in out
    assert main(["info", str(mock_paths["lensing"])]) == 0
    assert "data:      PP          ell 8-400, 9 bins" in capsys.readouterr().out


def test_install_command(tarball, tmp_path, capsys):
    target = tmp_path / "planck"
    with ArchiveServer(tarball) as server:
        assert main(["install", "planck2018", "--path", str(target), "--url", server.url,
                     "--no-progress"]) == 0  # fmt: skip
        out = capsys.readouterr().out
        assert f"installed in {target}" in out
        for where in LAYOUT.values():
            assert where in out
        assert out.count("passed") == 4
        assert main(["install", "planck2018", "--path", str(target), "--url", server.url]) == 0
        assert "nothing to do" in capsys.readouterr().out
    assert server.requests == [None]


def test_install_command_offline_fails_fast(tmp_path):
    start = time.monotonic()
    proc = run([str(BIN / "python"), "-m", "cobaya_plugins", "install", "planck2018", "--path",
                str(tmp_path), "--url", closed_port_url()])  # fmt: skip
    assert proc.returncode == 1
    assert time.monotonic() - start < 30  # interpreter start-up included; the network part: <1 s
    assert proc.stderr.startswith("error: GET http://127.0.0.1:")
    assert "To install by hand" in proc.stderr and "tar -xzf" in proc.stderr


def test_install_command_needs_a_path(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("COBAYA_PACKAGES_PATH", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no Cobaya config file
    assert main(["install", "planck2018"]) == 1
    assert "add --path DIR" in capsys.readouterr().err


@pytest.mark.slow
def test_cobaya_install_then_classes_need_no_path(tarball, tmp_path, mock_paths):
    packages = tmp_path / "packages"
    env = {URL_ENV: None, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with ArchiveServer(tarball) as server:
        env[URL_ENV] = server.url
        proc = run([str(BIN / "cobaya-install"), "cobaya_plugins.planck.HighlTTTEEE", "-p",
                    str(packages), "--no-set-global", "--no-progress-bars"], env)  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        data = packages / "data" / "planck_2018"
        assert (data / MANIFEST).is_file()
        for where in LAYOUT.values():
            assert (data / where).is_dir()
        again = run([str(BIN / "cobaya-install"), "cobaya_plugins.planck.LowlTT",
                     "cobaya_plugins.planck.HighlTTTEEELite", "cobaya_plugins.planck.Lensing",
                     "-p", str(packages), "--no-set-global"], env)  # fmt: skip
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert (again.stdout + again.stderr).count("already installed") >= 3
    assert server.requests == [None]  # one download for all classes
    # no clik_file anywhere: the classes find the installed files under the packages path
    info = {
        "packages_path": str(packages),
        "theory": {"fixed": {"external": FixedCls}},
        "likelihood": {
            "cobaya_plugins.planck.LowlTT": None,
            "cobaya_plugins.planck.HighlTTTEEELite": None,
        },
        "params": {"amp": 1.0, "A_planck": 1.001},
    }
    model = get_model(info)
    logls = model.loglikes({}, as_dict=True)[0]
    fid = load_fiducial()
    for kind, name in (("lowl_TT", "LowlTT"), ("highl_TTTEEE_lite", "HighlTTTEEELite")):
        like = model.likelihood[f"cobaya_plugins.planck.{name}"]
        assert like.clik.path == (data / LAYOUT[kind]).resolve()
        expected = open_clik(mock_paths[kind]).loglike(fid, {"A_planck": 1.001})
        assert logls[f"cobaya_plugins.planck.{name}"] == pytest.approx(expected, rel=1e-12)


def test_cobaya_install_offline_reports_how_to(tmp_path):
    env = {URL_ENV: closed_port_url(), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = run([str(BIN / "cobaya-install"), "cobaya_plugins.planck.LowlTT", "-p",
                str(tmp_path / "packages"), "--no-set-global"], env)  # fmt: skip
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "To install by hand" in output and "ConnectionError" in output


def test_installable_protocol(installed_mocks, tmp_path):
    from cobaya_plugins.install import PLANCK_2018
    from cobaya_plugins.planck import HighlTTTEEE, HighlTTTEEELite, Lensing, LowlTT

    # the classes' default files (their YAML) are Cobaya's paths and the product's required files
    defaults = [c.get_defaults()["clik_file"] for c in (LowlTT, HighlTTTEEE, HighlTTTEEELite,
                                                        Lensing)]  # fmt: skip
    assert defaults == list(LAYOUT.values()) == list(PLANCK_2018.required)
    packages = str(installed_mocks.parents[1])
    assert LowlTT.get_path(packages) == str(installed_mocks.resolve())
    assert LowlTT.get_path(LowlTT.get_path(packages)) == LowlTT.get_path(packages)
    assert LowlTT.is_installed(path=LowlTT.get_path(packages))
    assert HighlTTTEEE.is_installed(path=packages) and Lensing.is_installed(path=packages)
    assert not LowlTT.is_installed(path=str(tmp_path))
    assert LowlTT.is_installed(path=str(tmp_path), data=False)
    # files placed by hand count too
    by_hand = tmp_path / "data" / "planck_2018" / LAYOUT["lowl_TT"] / "clik"
    by_hand.mkdir(parents=True)
    assert LowlTT.is_installed(path=str(tmp_path))
    assert not HighlTTTEEE.is_installed(path=str(tmp_path))


def test_validate_command(installed_mocks, monkeypatch, capsys, tmp_path):
    fid = load_fiducial(lmax=2508)
    monkeypatch.setattr(
        val, "class_spectra", lambda lmax=2508: {k: v / 2.7255e6**2 for k, v in fid.items()}
    )
    status = main(["validate", "--path", str(installed_mocks)])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    nuisance = val.best_fit_nuisance()
    for kind, name in (("lowl_TT", "LowlTT"), ("highl_TTTEEE_lite", "HighlTTTEEELite")):
        lkl = open_clik(installed_mocks / LAYOUT[kind])
        chi2 = -2 * lkl.loglike(fid, {n: nuisance[n] for n in lkl.nuisance_names})
        assert float(rows[name][2]) == pytest.approx(chi2, abs=0.006)
    results = [rows[n][-1] for n in ("LowlTT", "HighlTTTEEE", "HighlTTTEEELite")]
    assert status == (0 if results == ["PASS"] * 3 else 1) and "FAIL" in results
    assert main(["validate", "--packages-path", str(installed_mocks.parents[1])]) == status
    capsys.readouterr()
    assert main(["validate", "--path", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("not installed") == 3
    assert "no Planck 2018 likelihood file" in captured.err


def test_residuals_command(mock_paths, tmp_path, capsys):
    nuis_file = tmp_path / "nuis.yaml"
    nuis_file.write_text(yaml.safe_dump({"A_planck": 1.003}))
    status = main(
        [
            "residuals",
            str(mock_paths["highl_TTTEEE_lite"]),
            "--cls",
            str(FIDUCIAL_FILE),
            "--ell-factor",
            "--nuisance",
            str(nuis_file),
            "--out",
            str(tmp_path / "res.png"),
            "--json",
            str(tmp_path / "out" / "res.json"),
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "TT" in out and "cross" in out and f"wrote {tmp_path / 'res.png'}" in out
    assert (tmp_path / "res.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((tmp_path / "out" / "res.json").read_text())
    expected = -2 * open_clik(mock_paths["highl_TTTEEE_lite"]).loglike(
        load_fiducial(), {"A_planck": 1.003}
    )
    assert result["chi2"]["total"] == pytest.approx(expected, rel=1e-6)
    assert result["n_bins"] == {"TT": 215, "TE": 199, "EE": 199, "total": 613}
    parts = sum(result["chi2"][k] for k in ("TT", "TE", "EE", "cross"))
    assert parts == pytest.approx(result["chi2"]["total"], rel=1e-10)


@pytest.mark.slow
def test_residuals_command_plik_fills_best_fit_nuisance(mock_paths, tmp_path, capsys):
    """A plik file that is not a mock, with only some nuisance values given: the others take
    the Planck best fit."""
    import shutil

    real = tmp_path / "plik.clik"  # the mock without its truth record: as a real file
    shutil.copytree(mock_paths["highl_TTTEEE"], real)
    (real / TRUTH_FILE).unlink()
    given = {k: v for k, v in default_nuisance("highl_TTTEEE").items() if k.startswith("ps_")}
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(given))
    assert (
        main(
            [
                "residuals",
                str(real),
                "--cls",
                str(FIDUCIAL_FILE),
                "--ell-factor",
                "--nuisance",
                str(tmp_path / "n.yaml"),
                "--out",
                str(tmp_path / "p.png"),
                "--json",
                str(tmp_path / "p.json"),
            ]
        )
        == 0
    )
    assert (
        "43 parameters not in --nuisance take their Planck 2018 best-fit" in capsys.readouterr().out
    )
    result = json.loads((tmp_path / "p.json").read_text())
    values = {**val.best_fit_nuisance(), **given}
    expected = -2 * open_clik(real).loglike(load_fiducial(), values)
    assert result["chi2"]["total"] == pytest.approx(expected, rel=1e-6)
    assert len(result["cross_spectra"]) == 16
    assert np.isclose(sum(result["chi2"][k] for k in ("TT", "TE", "EE", "cross", "frequency")),
                      result["chi2"]["total"], rtol=1e-9)  # fmt: skip


def test_residuals_command_errors(mock_paths, tmp_path, capsys):
    assert (
        main(
            [
                "residuals",
                str(mock_paths["lowl_TT"]),
                "--cls",
                str(FIDUCIAL_FILE),
                "--ell-factor",
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 1
    )
    assert "residuals support plik_lite" in capsys.readouterr().err
    assert (
        main(
            [
                "residuals",
                str(mock_paths["highl_TTTEEE_lite"]),
                "--cls",
                str(tmp_path / "none.txt"),
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 1
    )
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["highl_TTTEEE", "highl_TTTEEE_lite"])
def test_residuals_of_a_mock_use_its_truth(kind, mock_paths, tmp_path, capsys):
    """On a mock, the nuisance values default to the ones it was drawn with (and it says so):
    at the fiducial spectrum chi2 is a draw of a chi2 with n_bins degrees of freedom."""
    assert (
        main(
            [
                "residuals",
                str(mock_paths[kind]),
                "--cls",
                "fiducial",
                "--out",
                str(tmp_path / "r.png"),
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    n = len(open_clik(mock_paths[kind]).nuisance_names)  # all of the file's (lite: A_planck)
    taken = (
        f"{n} parameters not in --nuisance take" if n > 1 else "1 parameter not in --nuisance takes"
    )
    assert f"{taken} the values this mock was drawn with" in out
    result = json.loads((tmp_path / "r.json").read_text())
    n = result["n_bins"]["total"]
    assert n == {"highl_TTTEEE": 2289, "highl_TTTEEE_lite": 613}[kind]
    assert abs(result["chi2"]["total"] - n) < 4 * np.sqrt(2 * n)  # 4 sigma
    expected = -2 * open_clik(mock_paths[kind]).loglike(load_fiducial(), default_nuisance(kind))
    assert result["chi2"]["total"] == pytest.approx(expected, rel=1e-6)


def test_residuals_unit_mistake_named_as_flags(mock_paths, tmp_path, capsys):
    """The shipped file holds D_ell: read as C_ell, the fix is the flag, not a Python keyword."""
    lite = str(mock_paths["highl_TTTEEE_lite"])
    assert (
        main(["residuals", lite, "--cls", str(FIDUCIAL_FILE), "--out", str(tmp_path / "x.png")])
        == 1
    )
    err = capsys.readouterr().err
    assert "looks like D_ell in muK2; pass --ell-factor." in err and "ell_factor=" not in err
    assert (
        main(
            [
                "residuals",
                lite,
                "--cls",
                "fiducial",
                "--ell-factor",
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 1
    )
    assert "leave out --units and --ell-factor" in capsys.readouterr().err


def test_info_shows_the_mock_truth(mock_paths, capsys):
    assert main(["info", str(mock_paths["highl_TTTEEE"])]) == 0
    out = capsys.readouterr().out
    assert "with the mock's true values" in out
    assert "drawn with seed 1 around the shipped fiducial spectrum" in out and "H0=67.32" in out
    line = next(x for x in out.splitlines() if x.split()[1:2] == ["A_cib_217"])
    assert float(line.split()[-1]) == default_nuisance("highl_TTTEEE")["A_cib_217"]
