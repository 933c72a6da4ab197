"""yaml_examples/online_*.yaml: each is its plain example with the theory block moved under
OnlineEmulator's ``exact:``; the CallableCls one runs end to end with a slow stand-in for the
user's function (``delayed_model``: 0.2 s a call, counted by the function itself)."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from cobaya.model import get_model

from cobaya_plugins.online.report import REPORT_SUFFIX

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[1] / "yaml_examples"
ONLINE = "cobaya_plugins.theories.OnlineEmulator"
KIND = {"cobaya_plugins.planck.LowlTT": "lowl_TT",
        "cobaya_plugins.planck.HighlTTTEEELite": "highl_TTTEEE_lite"}  # fmt: skip


def load(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


def on_mocks(example: dict, mock_paths: dict, tmp_path: Path) -> dict:
    """The example with the session's mock files, its cache and output under ``tmp_path``."""
    for name, options in example["likelihood"].items():
        options["clik_file"] = str(mock_paths[KIND[name]])
    example["theory"][ONLINE]["cache"] = str(tmp_path / "emulator_cache")
    example["output"] = str(tmp_path / "chains" / Path(example["output"]).name)
    return example


@pytest.mark.parametrize(
    "online, plain",
    [("online_callable.yaml", "callable_template_mock.yaml"),
     ("online_modified_classy.yaml", "modified_classy_birefringence.yaml")],
)  # fmt: skip
def test_the_online_examples_are_their_plain_examples_with_one_block_moved(online, plain):
    online, plain = load(online), load(plain)
    ((name, options),) = plain["theory"].items()
    options.pop("speed", None)  # the wrapper's speed is measured (OnlineEmulator.yaml)
    assert online["theory"][ONLINE]["exact"] == {name: options}
    assert online.get("params") == plain.get("params")  # (the callable's are in its block)
    assert set(online["likelihood"]) == set(KIND)  # the low-l TT and plik_lite mocks


def test_the_modified_classy_example_builds_with_its_parameters_reaching_class(
    mock_paths, tmp_path
):
    example = on_mocks(load("online_modified_classy.yaml"), mock_paths, tmp_path)
    model = get_model(example)
    theory = model.theory[ONLINE]
    assert sorted(theory.input_params) == sorted(
        ["beta_deg", "A_s", "n_s", "H0", "omega_b", "omega_cdm", "tau_reio"]
    )
    assert sorted(theory.output_params) == ["Omega_r", "theta_star_100"]
    assert type(theory._exact).__name__ == "ModifiedClassy"
    assert Path(example["sampler"]["mcmc"]["covmat"]).name == "lcdm_emulator_mock_lite.covmat"
    assert (HERE.parents[1] / example["sampler"]["mcmc"]["covmat"]).is_file()


@pytest.mark.slow
def test_the_callable_example_runs_with_fewer_exact_calls_than_moves(
    mock_paths, tmp_path, cobaya_run, monkeypatch
):
    """The example through cobaya-run with the function made slow (0.2 s) and counted; stopped at
    R-1 <= 0.05 (the example asks 0.02) and with 20 report draws (it asks 50), for time."""
    example = on_mocks(load("online_callable.yaml"), mock_paths, tmp_path)
    exact = example["theory"][ONLINE]
    exact["validate"] = 20
    exact["exact"]["cobaya_plugins.theories.CallableCls"]["function"] = "delayed_model:scaled"
    example["sampler"]["mcmc"]["Rminus1_stop"] = 0.05
    counter = tmp_path / "calls.txt"
    monkeypatch.setenv("DELAYED_MODEL_COUNT", str(counter))  # read by the cobaya-run process
    cobaya_run(example)
    prefix = example["output"]
    report = json.loads(Path(prefix + REPORT_SUFFIX).read_text())
    calls = len(counter.read_text().splitlines())
    run_calls = calls - report["exact_calls"]  # the report's own calls come last
    assert run_calls == len(list((tmp_path / "emulator_cache").glob("*/points/*.npz")))
    lines = Path(prefix + ".1.txt").read_text().splitlines()
    header = lines[0].lstrip("#").split()
    chain = np.loadtxt(lines[1:])
    moved = np.any(np.diff(chain[:, [header.index("amplitude"), header.index("tilt")]], axis=0)
                   != 0, axis=1).sum()  # fmt: skip
    print(
        f"exact calls {run_calls} (+{report['exact_calls']} for the report), accepted steps "
        f"{len(chain)}, of which {moved} moved amplitude or tilt; ESS "
        f"{report['ess_fraction']:.3f}, largest shift {report['max_shift_sigma']:.2g}"
    )
    assert 0 < run_calls < moved / 10
    assert report["ess_fraction"] >= 0.95 and report["max_shift_sigma"] < 0.1
    # the posterior is the mock's truth (amplitude 1, tilt 0) within its width
    w = chain[:, 0]
    for p, truth in (("amplitude", 1.0), ("tilt", 0.0)):
        x = chain[:, header.index(p)]
        mean = np.average(x, weights=w)
        assert abs(mean - truth) < 4 * np.sqrt(np.average((x - mean) ** 2, weights=w))
