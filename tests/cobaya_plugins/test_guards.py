"""Guards and errors as a Cobaya user meets them: unit check, self-check, input mistakes."""

import shutil

import numpy as np
import pytest
from cobaya.log import LoggedError
from cobaya.model import get_model
from cobaya.run import run
from fixed_theory import FixedCls

from cobaya_plugins.clik import open_clik
from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.mock import default_nuisance

LOWL = "cobaya_plugins.planck.LowlTT"
HIGHL = "cobaya_plugins.planck.HighlTTTEEE"
LITE = "cobaya_plugins.planck.HighlTTTEEELite"
CALLABLE = "cobaya_plugins.theories.CallableCls"


def fixed_model(likelihood, params=None):
    return get_model(
        {
            "theory": {"fixed": {"external": FixedCls}},
            "likelihood": likelihood,
            "params": {"amp": 1.0, **(params or {})},
        }
    )


# --- the unit check -------------------------------------------------------------------------


def fiducial_in(units, ell_factor):
    """The shipped fiducial spectrum in the given units, converted by hand (muK2 C_ell source)."""
    cls = load_fiducial(lmax=2508)
    ell = np.arange(2509)
    scale = {"muK2": 1.0, "K2": 1e-12, "dimensionless": 1 / 2.7255e6**2}[units]
    dl = ell * (ell + 1) / (2 * np.pi) if ell_factor else 1.0
    return {k: v * scale * dl for k, v in cls.items()}


def returns(units, ell_factor):
    def model(amplitude):
        return {k: amplitude * v for k, v in fiducial_in(units, ell_factor).items()}

    return model


@pytest.mark.parametrize(
    "truth, declared, fix",
    [
        (("muK2", True), {"units": "muK2"}, "set `ell_factor: true`"),  # D_ell declared as C_ell
        (("K2", False), {"units": "muK2"}, "set `units: K2`"),  # K² declared as µK²
        (("dimensionless", False), {"units": "muK2"}, "set `units: dimensionless`"),
        (("muK2", False), {"units": "muK2", "ell_factor": True}, "set `ell_factor: false`"),
    ],
)
def test_unit_mistakes_stop_the_chain_at_the_first_point(
    truth, declared, fix, mock_paths, tmp_path
):
    info = {
        "theory": {CALLABLE: {"function": returns(*truth), "T_cmb": 2.7255, **declared}},
        "likelihood": {LITE: {"clik_file": str(mock_paths["highl_TTTEEE_lite"])}},
        "params": {"amplitude": {"prior": {"min": 0.8, "max": 1.2}, "ref": 1.0, "proposal": 0.01}},
        "sampler": {"mcmc": {"max_samples": 50, "seed": 1}},
        "output": str(tmp_path / "chain"),
    }
    with pytest.raises(LoggedError) as err:
        run(info)
    msg = str(err.value)
    assert LITE in msg and f"theory {CALLABLE}" in msg and fix in msg
    assert "TT at ell=200" in msg
    rows = (
        (tmp_path / "chain.1.txt").read_text().splitlines()[1:]
        if (tmp_path / "chain.1.txt").exists()
        else []
    )
    assert rows == []  # it stopped before any sample was accepted


def test_a_chain_far_from_lcdm_runs_to_completion(mock_paths, tmp_path, caplog):
    """Amplitude up to 20× ΛCDM, chain started at 20×: warned once, never stopped.

    plik_lite divides the spectra by A_planck², so with A_planck = sqrt(amp) the likelihood is
    flat in amp: the chain wanders freely over amp in [1, 20] (a real degeneracy, sampled here on
    purpose) and the unit check sees spectra up to 20× ΛCDM on many points.
    """
    info = {
        "theory": {"fixed": {"external": FixedCls}},
        "likelihood": {LITE: {"clik_file": str(mock_paths["highl_TTTEEE_lite"])}},
        "params": {
            "x": {"prior": {"min": 0, "max": 3.0}, "ref": 2.99, "proposal": 0.8},
            "amp": {"value": "lambda x: np.exp(x)", "derived": True},
            "A_planck": {"value": "lambda x: np.exp(x / 2)", "derived": True},
        },
        "sampler": {"mcmc": {"max_samples": 200, "burn_in": 0, "learn_proposal": False, "seed": 4}},
        "output": str(tmp_path / "far"),
    }
    with caplog.at_level("WARNING"):
        run(info)
    header = (tmp_path / "far.1.txt").read_text().splitlines()[0].split()[1:]
    rows = np.loadtxt(tmp_path / "far.1.txt", ndmin=2)
    amp = rows[:, header.index("amp")]
    assert amp.max() > 15 and amp.min() < 2  # it wandered from ΛCDM to 20× ΛCDM
    assert len(rows) >= 100 and np.sum(amp > 10) >= 10  # ... and kept coming back far out
    unit_warnings = [r.getMessage() for r in caplog.records if "TT at ell=200" in r.getMessage()]
    assert len(unit_warnings) == 1 and "times the fiducial" in unit_warnings[0]


def test_unit_check_option_values(mock_paths):
    like = {LITE: {"clik_file": str(mock_paths["highl_TTTEEE_lite"]), "unit_check": "strict"}}
    with pytest.raises(
        LoggedError,
        match="`unit_check: strict` is not an option; use one of "
        "`unit_check: error`, `unit_check: warn`, `unit_check: off`",
    ):
        fixed_model(like, {"A_planck": 1.0})


# --- the self-check -------------------------------------------------------------------------


@pytest.fixture
def edited_lowl(mock_paths, tmp_path):
    """A copy of the low-l mock whose stored check value is off by 6.5."""
    path = shutil.copytree(mock_paths["lowl_TT"], tmp_path / "edited.clik")
    mdb = path / "clik" / "_mdb"
    lines = mdb.read_text().splitlines()
    value = float(next(line for line in lines if line.startswith("check_value")).split()[2])
    mdb.write_text(
        "\n".join(
            f"check_value float {value + 6.5!r}" if line.startswith("check_value") else line
            for line in lines
        )
        + "\n"
    )
    return path


def test_failed_self_check_warns_by_default(edited_lowl, caplog):
    with caplog.at_level("WARNING"):
        fixed_model({LOWL: {"clik_file": str(edited_lowl)}}, {"A_planck": 1.0})
    (msg,) = [r.getMessage() for r in caplog.records if "SELF-CHECK FAILED" in r.getMessage()]
    check = open_clik(edited_lowl).self_check
    assert str(edited_lowl) in msg and f"{check.got:.6f}" in msg and f"{check.expected:.6f}" in msg
    assert "corrupt" in msg and "edited file" in msg and "backend" in msg


def test_failed_self_check_modes(edited_lowl, mock_paths, caplog):
    with pytest.raises(LoggedError, match="SELF-CHECK FAILED"):
        fixed_model(
            {LOWL: {"clik_file": str(edited_lowl), "self_check": "error"}}, {"A_planck": 1.0}
        )
    caplog.clear()
    with caplog.at_level("WARNING"):
        fixed_model({LOWL: {"clik_file": str(edited_lowl), "self_check": "off"}}, {"A_planck": 1.0})
        fixed_model(
            {LOWL: {"clik_file": str(mock_paths["lowl_TT"]), "self_check": "error"}},
            {"A_planck": 1.0},
        )
    assert not [r for r in caplog.records if "SELF-CHECK" in r.getMessage()]


def test_info_says_self_check_failed_and_exits_non_zero(edited_lowl, capsys):
    from cobaya_plugins.cli import main

    assert main(["info", str(edited_lowl)]) == 1
    out, err = capsys.readouterr()
    assert "SELF-CHECK FAILED" in out and "SELF-CHECK FAILED" in err and "--backend" in err


# --- input mistakes, named in YAML -------------------------------------------------------------


def test_clik_file_pointing_at_an_archive(tmp_path):
    archive = tmp_path / "COM_Likelihood_Data-baseline_R3.00.tar.gz"
    archive.write_bytes(b"\x1f\x8b")
    with pytest.raises(LoggedError) as err:
        fixed_model({LOWL: {"clik_file": str(archive)}}, {"A_planck": 1.0})
    msg = str(err.value)
    assert msg.startswith(LOWL) and "`clik_file: " in msg and "unpacked first" in msg


def test_clik_file_pointing_at_a_plain_directory(tmp_path):
    with pytest.raises(LoggedError, match=f"{LOWL}: `clik_file: .*not a clik likelihood"):
        fixed_model({LOWL: {"clik_file": str(tmp_path)}}, {"A_planck": 1.0})


def test_backend_clik_without_the_compiled_module(mock_paths):
    with pytest.raises(LoggedError) as err:
        fixed_model(
            {LOWL: {"clik_file": str(mock_paths["lowl_TT"]), "backend": "clik"}}, {"A_planck": 1.0}
        )
    msg = str(err.value)
    assert msg.startswith(LOWL) and "`backend: clik`" in msg and "`backend: auto`" in msg
    with pytest.raises(LoggedError, match="`backend: clippy` is not an option"):
        fixed_model(
            {LOWL: {"clik_file": str(mock_paths["lowl_TT"]), "backend": "clippy"}},
            {"A_planck": 1.0},
        )


def test_incomplete_file_through_cobaya(mock_paths, tmp_path):
    broken = shutil.copytree(mock_paths["lowl_TT"], tmp_path / "lowl.clik")
    (broken / "clik" / "lkl_0" / "_external" / "sigma.fits").unlink()
    with pytest.raises(
        LoggedError,
        match=f"{LOWL}: The likelihood file .* is incomplete "
        r"\(missing: clik/lkl_0/_external/sigma.fits\)",
    ):
        fixed_model({LOWL: {"clik_file": str(broken)}}, {"A_planck": 1.0})


@pytest.mark.parametrize(
    "cls, kind, what, reader",
    [
        (LOWL, "highl_TTTEEE", "plik high-ell multi-frequency", "HighlTTTEEE"),
        (HIGHL, "lowl_TT", "Commander low-ell TT", "LowlTT"),
        (LITE, "highl_TTTEEE", "plik high-ell multi-frequency", "HighlTTTEEE"),
        (HIGHL, "highl_TTTEEE_lite", "plik_lite", "HighlTTTEEELite"),
    ],
)
def test_file_of_the_wrong_kind_names_what_it_is(cls, kind, what, reader, mock_paths):
    with pytest.raises(LoggedError) as err:
        fixed_model({cls: {"clik_file": str(mock_paths[kind])}})
    msg = str(err.value)
    assert msg.startswith(cls) and what in msg
    assert f"Use `cobaya_plugins.planck.{reader}` for that file" in msg
    assert "Missing" not in msg


def test_typo_in_a_top_level_nuisance_name(mock_paths):
    like = {HIGHL: {"clik_file": str(mock_paths["highl_TTTEEE"])}}
    with pytest.raises(LoggedError) as err:
        fixed_model(like, {"calib_100t": 1.0})
    assert "Did you write 'calib_100t' for 'calib_100T'?" in str(err.value)


def test_typo_in_the_likelihoods_params_block(mock_paths):
    like = {
        "cobaya_plugins.planck.Clik": {
            "clik_file": str(mock_paths["lowl_TT"]),
            "params": {"A_plank": 1.0},
        }
    }
    with pytest.raises(LoggedError) as err:
        fixed_model(like)
    msg = str(err.value)
    assert "Did you write 'A_plank' for 'A_planck'?" in msg
    assert "Missing (define them in 'params'): ['A_planck']" in msg


def test_correct_names_still_work_beside_the_typo_claims(mock_paths):
    """Claiming case typos must not change the assignment or the values of the real names."""
    nuis = default_nuisance("highl_TTTEEE")
    model = fixed_model(
        {HIGHL: {"clik_file": str(mock_paths["highl_TTTEEE"])}}, {"calib_100T": 1.003}
    )
    assert sorted(model.likelihood[HIGHL].input_params) == sorted(nuis)
    sampled = {p: nuis[p] for p in model.parameterization.sampled_params()}
    logl = model.loglikes(sampled, as_dict=True)[0][HIGHL]
    used = {**nuis, **model.parameterization.constant_params(), **sampled}
    del used["amp"]
    assert used["calib_100T"] == 1.003
    expected = open_clik(mock_paths["highl_TTTEEE"]).loglike(load_fiducial(lmax=2508), used)
    assert logl == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("cls", ["cobaya_plugins.planck.Clik", LOWL])
def test_one_letter_typo_at_the_top_level_names_the_intended_parameter(cls, mock_paths):
    """``A_plank`` in the top-level params block: the generic class and a named one both say
    "did you mean", instead of Cobaya's "could not find anything to use"."""
    with pytest.raises(LoggedError) as err:
        fixed_model({cls: {"clik_file": str(mock_paths["lowl_TT"])}}, {"A_plank": 1.0})
    msg = str(err.value)
    assert msg.startswith(cls) and "Did you write 'A_plank' for 'A_planck'?" in msg


def test_short_names_claim_no_edit_typos():
    """``A_s`` (a cosmological parameter) is one letter from the plik nuisance ``A_sz``: never
    claimed; a one-letter change of a long name is."""
    from cobaya_plugins.mock.plik_foregrounds import PARAMETER_NAMES
    from cobaya_plugins.suggest import typo_variants

    claimed = typo_variants(PARAMETER_NAMES)
    assert {"A_plank", "A_planckk", "A_plnack", "calib_100t", "ps_A_100_10"} <= claimed
    assert not {"A_s", "As", "H0", "n_s", "ns", "tau", "r", "A_pl"} & claimed
    assert not claimed & set(PARAMETER_NAMES)


def test_nuisance_overridden_in_the_likelihoods_own_params_block(mock_paths):
    """A ``params:`` block inside the likelihood's block updates its defaults (Cobaya 3.6 alone
    would replace them all, and fail on the SZ prior): the overridden ones change, the others
    keep their defaults, the SZ prior stays."""
    like = {
        HIGHL: {
            "clik_file": str(mock_paths["highl_TTTEEE"]),
            "params": {"A_sz": 7.0, "ksz_norm": {"prior": {"min": 0, "max": 5}}},
        }
    }
    model = fixed_model(like)
    param = model.parameterization
    assert param.constant_params()["A_sz"] == 7.0
    assert "A_sz" not in param.sampled_params() and "ksz_norm" in param.sampled_params()
    bounds = dict(zip(param.sampled_params(), model.prior.bounds(), strict=True))
    assert list(bounds["ksz_norm"]) == [0, 5]
    assert len(param.sampled_params()) == 20 and len(model.likelihood[HIGHL].input_params) == 47
    assert "SZ" in model.prior.external
    # the user's dict is left as it was
    assert like[HIGHL]["params"] == {"A_sz": 7.0, "ksz_norm": {"prior": {"min": 0, "max": 5}}}
