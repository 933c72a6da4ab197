"""The ``profile`` command's frictions: where it writes by default, its progress, its printed
table, and a misspelled ``--param`` caught before the model is built."""

import re
import subprocess
from pathlib import Path

import numpy as np
import yaml

from cobaya_plugins.cli import main

REPO = Path(__file__).parents[2]

#: A 2-d correlated Gaussian (the one of test_samplers.py): the profile of a is a parabola.
INFO = {
    "likelihood": {
        "gauss": "lambda a, b: stats.multivariate_normal.logpdf(np.array([a, b]), "
        "mean=np.array([0.2, -0.1]), cov=np.array([[0.04, 0.018], [0.018, 0.01]]))",
    },
    "params": {
        "a": {"prior": {"min": -3, "max": 3}, "ref": 0.1, "proposal": 0.1},
        "b": {"prior": {"min": -2, "max": 2}, "ref": 0.0, "proposal": 0.05},
    },
}


def test_default_output_is_profiles_param_and_git_ignores_it(tmp_path, monkeypatch):
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(INFO))
    monkeypatch.chdir(tmp_path)
    assert main(["profile", "t.yaml", "--param", "a", "--values", "0:0.4:3"]) == 0
    table = (tmp_path / "profiles" / "a.txt").read_text().splitlines()
    delta = [float(line.split()[1]) for line in table[1:]]
    np.testing.assert_allclose(delta, [1.0, 0.0, 1.0], atol=1e-5)  # ((a - 0.2) / 0.2)²
    assert (tmp_path / "profiles" / "a.png").is_file()
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "profiles/a.txt"], cwd=REPO, capture_output=True
    )
    assert ignored.returncode == 0, "profiles/ is not in .gitignore"


def test_misspelled_param_is_refused_before_the_model_is_built(tmp_path, monkeypatch, capsys):
    """The name is checked against the YAML's sampled parameters without building the model
    (which takes ~14 s with the anchored emulator and plik): building it here would fail."""
    import cobaya.model

    def no_build(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(cobaya.model, "get_model", no_build)
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(INFO))
    assert main(["profile", str(tmp_path / "t.yaml"), "--param", "A", "--values", "0"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: --param A: not a sampled parameter of this model (did you mean --param a?); "
        "sampled: ['a', 'b']"
    )


def test_sampled_parameters_include_the_components_defaults():
    """A_planck is sampled by HighlTTTEEELite's own defaults, not by the YAML's params block:
    it may be profiled (read without opening the file, which does not exist here)."""
    from cobaya_plugins.profile import sampled_parameters

    info = {
        "likelihood": {"cobaya_plugins.planck.HighlTTTEEELite": {"clik_file": "none.clik"}},
        "params": {"H0": {"prior": {"min": 50, "max": 90}}, "h": {"derived": "lambda H0: H0"}},
    }
    assert sampled_parameters(info) == ["H0", "A_planck"]


def test_progress_per_point_and_a_narrow_table(tmp_path, capsys):
    """12 parameters with long names: p0 is profiled; only p1 is correlated with it (its
    conditional mean moves as 0.9 p0), the ten others stay at 0. The screen shows the value,
    Δχ², χ² and the parameters that move (p1 only); the file has all 11 others. A progress line
    per value is printed as it is done."""
    names = ["p0", "p1"] + [f"a_long_nuisance_name_{k}" for k in range(10)]
    cov = np.eye(12)
    cov[0, 1] = cov[1, 0] = 0.9
    info = {
        "likelihood": {
            "g": {
                "external": "lambda " + ", ".join(names) + ": stats.multivariate_normal.logpdf("
                "np.array(["
                + ", ".join(names)
                + "]), mean=np.zeros(12), cov=np.array("
                + str(cov.tolist())
                + "))"
            }
        },
        "params": {n: {"prior": {"min": -5, "max": 5}, "ref": 0.1, "proposal": 1.0} for n in names},
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(info))
    out = tmp_path / "p0"
    assert main(["profile", str(tmp_path / "t.yaml"), "--param", "p0", "--values=-1:1:3",
                 "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out.splitlines()
    progress = [line for line in printed if re.match(r"\s+\[\d+/\d+\] ", line)]
    assert [line.split("]")[0].strip() for line in progress] == ["[1/3", "[2/3", "[3/3"]
    assert "p0 = 0: χ² " in progress[0]  # nearest to the best fit (0) first
    header = next(line for line in printed if line.split()[:3] == ["p0", "Δχ²", "χ²"])
    start = printed.index(header)
    table = printed[start : start + 4]
    assert header.split()[3:] == ["p1"]  # the others do not move
    assert max(len(line) for line in table) <= 100
    p1 = [float(line.split()[3]) for line in table[1:]]
    np.testing.assert_allclose(p1, [-0.9, 0.0, 0.9], atol=1e-5)  # E[p1 | p0] = 0.9 p0
    delta = [float(line.split()[1]) for line in table[1:]]
    np.testing.assert_allclose(delta, [1.0, 0.0, 1.0], atol=1e-6)  # p0² (marginal σ = 1)
    in_file = (tmp_path / "p0.txt").read_text().splitlines()[0].split()
    assert in_file[:3] == ["p0", "Δχ²", "χ²"] and sorted(in_file[3:]) == sorted(names[1:])
    assert "all 11 are in" in "\n".join(printed)
