"""python -m cobaya_plugins info / mock / triangle."""

import re
import subprocess
import sys
from pathlib import Path

from cobaya.run import run
from fixed_theory import FixedCls

from cobaya_plugins.cli import main
from cobaya_plugins.clik import open_clik

REPO = Path(__file__).resolve().parents[2]


def test_info_prints_type_spectra_and_names_in_order(mock_paths, capsys):
    assert main(["info", str(mock_paths["highl_TTTEEE"])]) == 0
    out = capsys.readouterr().out
    assert "type:      plik high-ell multi-frequency likelihood (smica) (read with clipy)" in out
    assert "TT ell 0..2508, EE ell 0..2508, TE ell 0..2508" in out
    assert "47 parameters" in out
    names = open_clik(mock_paths["highl_TTTEEE"]).nuisance_names
    # the numbered nuisance lines ("    0 A_cib_217   46.1": a mock shows its true values),
    # not the indented data-range lines
    lines = [line.split() for line in out.splitlines() if re.fullmatch(r"\s+\d+ \S+\s+\S+", line)]
    assert [line[1] for line in lines] == list(names)
    check = open_clik(mock_paths["highl_TTTEEE"]).self_check
    assert f"self-check: got {check.got:.6f} expected {check.expected:.6f}" in out
    assert out.rstrip().endswith("passed")


def test_info_missing_file_is_one_line_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.clik")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: clik file not found:") and str(tmp_path) in err


def test_mock_writes_a_loadable_file_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["mock", "lowl_TT", str(tmp_path), "--seed", "4"]) == 0
    path = tmp_path / "lowl_TT.clik"
    assert f"wrote {path}" in capsys.readouterr().out
    assert open_clik(path).lmax == {"tt": 29}
    assert main(["mock", "lowl_TT", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "already exists; add --overwrite to replace it" in err and "overwrite=True" not in err
    before = (path / "clik" / "_mdb").stat().st_mtime_ns
    assert main(["mock", "lowl_TT", str(tmp_path), "--seed", "4"]) == 0  # the same mock again
    assert "is already this mock (seed 4): nothing to do" in capsys.readouterr().out
    assert (path / "clik" / "_mdb").stat().st_mtime_ns == before
    assert main(["mock", "lowl_TT", str(tmp_path), "--overwrite", "--seed", "5"]) == 0


def test_mock_unknown_kind_lists_kinds():
    proc = subprocess.run(
        [sys.executable, "-m", "cobaya_plugins", "mock", "lowl_EE", "x"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "lowl_TT" in proc.stderr and "highl_TTTEEE_lite" in proc.stderr


def test_triangle_plot_of_a_chain(mock_paths, tmp_path, capsys):
    info = {
        "theory": {"fixed": {"external": FixedCls}},
        "likelihood": {"cobaya_plugins.planck.LowlTT": {"clik_file": str(mock_paths["lowl_TT"])}},
        "params": {"amp": {"prior": {"min": 0.8, "max": 1.2}, "ref": 1.0, "proposal": 0.02}},
        "sampler": {"mcmc": {"max_samples": 80, "burn_in": 0, "seed": 2, "learn_proposal": False}},
        "output": str(tmp_path / "chains" / "tri"),
    }
    run(info)
    out = tmp_path / "plots" / "tri.png"
    assert main(["triangle", str(tmp_path / "chains" / "tri"), str(out)]) == 0
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert (
        main(["triangle", str(tmp_path / "chains" / "tri"), str(out), "--params", "amp", "nope"])
        == 1
    )
    assert "Unknown parameter(s) ['nope']" in capsys.readouterr().err
    assert main(["triangle", str(tmp_path / "none"), str(out)]) == 1


def test_default_triangle_params_skip_planck_nuisances():
    from planck_names import PLIK_NAMES

    from cobaya_plugins.plots import default_triangle_params, planck_nuisance_names

    assert planck_nuisance_names() == set(PLIK_NAMES)
    sampled = ["logA", "A_planck", "calib_100T", "n_s", "A_cib_217", "amp"]
    assert default_triangle_params(sampled) == ["logA", "n_s", "amp"]
    many = [f"p{i}" for i in range(8)] + ["A_planck"]
    assert default_triangle_params(many) == many[:6]
    assert default_triangle_params(["A_planck", "A_sz"]) == ["A_planck", "A_sz"]


def test_triangle_burn_in_must_be_a_fraction(tmp_path, capsys):
    import pytest

    for bad in ("1", "-0.1", "30", "x"):
        with pytest.raises(SystemExit) as exit_:
            main(["triangle", str(tmp_path / "c"), str(tmp_path / "o.png"), "--burn-in", bad])
        assert exit_.value.code == 2
        assert "--burn-in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["triangle", "--help"])
    assert "(default: 0.3)" in " ".join(capsys.readouterr().out.split())


def test_info_on_an_incomplete_file(mock_paths, tmp_path, capsys):
    import shutil

    broken = shutil.copytree(mock_paths["lowl_TT"], tmp_path / "lowl.clik")
    (broken / "clik" / "lkl_0" / "_external" / "sigma.fits").unlink()
    assert main(["info", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: The likelihood file") and str(broken) in err
    assert "incomplete (missing: clik/lkl_0/_external/sigma.fits)" in err
