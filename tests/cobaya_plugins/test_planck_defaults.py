"""The Planck classes' defaults as Cobaya resolves them equal a record written by hand
(data/planck_defaults.yaml), and that record agrees with the published Planck 2018 treatment
(planck_names) and with Cobaya's own Planck 2018 clik classes, except for the differences listed
here. A change of any default has to be a deliberate change of the record."""

from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import yaml
from cobaya.component import get_component_class
from cobaya.input import get_default_info
from planck_names import PLIK_FIXED, PLIK_NAMES, PLIK_PRIORS, PLIK_SAMPLED

RECORD = yaml.safe_load((Path(__file__).parent / "data" / "planck_defaults.yaml").read_text())
CLASSES = RECORD["classes"]


def differences(resolved, recorded, where: str = "") -> list[str]:
    """Every key path at which two nested dicts differ: ``"key.sub: resolved X, record Y"``."""
    if isinstance(resolved, dict) and isinstance(recorded, dict):
        out = []
        for key in list(resolved) + [k for k in recorded if k not in resolved]:
            path = f"{where}.{key}" if where else str(key)
            if key not in recorded:
                out.append(f"{path}: resolved {resolved[key]!r}, absent from the record")
            elif key not in resolved:
                out.append(f"{path}: absent from the resolved defaults, record {recorded[key]!r}")
            else:
                out += differences(resolved[key], recorded[key], path)
        return out
    return [] if resolved == recorded else [f"{where}: resolved {resolved!r}, record {recorded!r}"]


def test_differences_names_every_changed_key():
    """The comparison itself: a changed, a missing and an extra key are each reported."""
    recorded = {"speed": 30, "params": {"A": {"prior": {"min": 0, "max": 10}}, "B": 1.0}}
    resolved = {"speed": 30, "params": {"A": {"prior": {"min": 0, "max": 5}}, "C": 1.0}}
    assert differences(resolved, recorded) == [
        "params.A.prior.max: resolved 5, record 10",
        "params.C: resolved 1.0, absent from the record",
        "params.B: absent from the resolved defaults, record 1.0",
    ]
    assert differences(recorded, recorded) == []


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_resolved_defaults_equal_the_record(name):
    """get_defaults() (options, parameters with prior, ref, proposal, LaTeX and CosmoMC name,
    extra priors) equals the record, parameters in the same order; Cobaya's input machinery
    (get_default_info) resolves the same."""
    qualified = f"cobaya_plugins.planck.{name}"
    resolved = get_component_class(qualified, kind="likelihood").get_defaults()
    assert differences(resolved, CLASSES[name]) == []
    assert list(resolved.get("params", {})) == list(CLASSES[name].get("params", {}))
    assert differences(get_default_info(qualified, "likelihood"), CLASSES[name]) == []


def test_record_is_the_published_plik_treatment():
    """The record's 47 plik parameters: the names clik lists, 21 sampled with the Planck 2018
    priors and 26 fixed at the Planck 2018 values (typed in planck_names from the papers)."""
    params = CLASSES["HighlTTTEEE"]["params"]
    sampled = {p: info for p, info in params.items() if isinstance(info, dict)}
    fixed = {p: value for p, value in params.items() if not isinstance(value, dict)}
    assert sorted(params) == sorted(PLIK_NAMES) and len(params) == 47
    assert sorted(sampled) == sorted(PLIK_SAMPLED) and fixed == PLIK_FIXED
    for name, (dist, a, b) in PLIK_PRIORS.items():
        prior = sampled[name]["prior"]
        if dist == "norm":
            assert prior == {"dist": "norm", "loc": a, "scale": b}, name
        else:
            assert prior == {"min": a, "max": b}, name
    for name in ("LowlTT", "HighlTTTEEELite", "Lensing"):
        assert list(CLASSES[name]["params"]) == ["A_planck"]
        assert CLASSES[name]["params"]["A_planck"] == params["A_planck"]


#: Cobaya 3.6.2's clik-based Planck 2018 class for each of ours.
COBAYA_CLASSES = {
    "LowlTT": "planck_2018_lowl.TT_clik",
    "HighlTTTEEE": "planck_2018_highl_plik.TTTEEE",
    "HighlTTTEEELite": "planck_2018_highl_plik.TTTEEE_lite",
    "Lensing": "planck_2018_lensing.clik",
}

#: Where the record deliberately differs from Cobaya's own plik defaults (parameter -> key -> ours).
DIFFERENT_FROM_COBAYA = {
    # starting points centred near the Planck 2018 best fit (46.1) rather than Cobaya's 67
    "A_cib_217": {"ref": {"dist": "norm", "loc": 47.2, "scale": 10}},
    "A_sz": {"latex": r"A^\mathrm{tSZ}"},  # Cobaya: A^\mathrm{tSZ}_{143}
}


def _as_ours(param: str, info):
    """Cobaya's block for ``param`` in the record's form: a fixed parameter as its value (the
    record gives no LaTeX or CosmoMC names for them), ``dist: uniform`` implied, the TE dust
    amplitudes without CosmoMC names (the record gives none), the listed differences applied."""
    if not isinstance(info, dict) or "value" in info:
        return info["value"] if isinstance(info, dict) else info
    out = {**info, "prior": {k: v for k, v in info["prior"].items() if v != "uniform"}}
    if param.startswith("galf_TE_A_"):
        del out["renames"]
    return {**out, **DIFFERENT_FROM_COBAYA.get(param, {})}


@pytest.mark.parametrize("name", sorted(COBAYA_CLASSES))
def test_record_agrees_with_cobayas_own_planck_classes(name):
    """Same file, speed and A_planck as Cobaya's own class; for plik every parameter's prior,
    ref, proposal, LaTeX and CosmoMC name as Cobaya's, except the listed differences, and the
    same joint SZ prior (its text differs: compared as numbers)."""
    theirs = get_component_class(COBAYA_CLASSES[name], kind="likelihood").get_defaults()
    ours = CLASSES[name]
    assert (ours["clik_file"], ours["speed"]) == (theirs["clik_file"], theirs["speed"])
    assert set(ours["params"]) == set(theirs["params"])
    for param, info in theirs["params"].items():
        assert ours["params"][param] == _as_ours(param, info), param
    if name == "HighlTTTEEE":
        namespace = {"stats": scipy.stats, "np": np}
        mine, cobaya = (eval(p["SZ"], namespace) for p in (ours["prior"], theirs["prior"]))
        for ksz, a_sz in [(0.0, 0.0), (3.2, 7.1), (10.0, 1.5)]:
            assert mine(ksz, a_sz) == pytest.approx(cobaya(ksz, a_sz), rel=1e-14)
