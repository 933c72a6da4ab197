"""The ``profile`` command's frictions: where it writes by default, its progress, its printed
table, and a misspelled ``--param`` caught before the model is built."""

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
