"""The mock data's true parameters and their markers on triangle plots (--mark-truth)."""

import math

import pytest
from cobaya.run import run
from fixed_theory import FixedCls

from cobaya_plugins.cli import main
from cobaya_plugins.fiducial import fiducial_parameters


def test_fiducial_parameters_are_the_planck_2018_best_fit():
    """The values of cobaya_plugins/data/make_fiducial.py, in Cobaya names."""
    truth = fiducial_parameters()
    assert truth["omega_b"] == 0.022383 and truth["omega_cdm"] == 0.12011
    assert truth["H0"] == 67.32 and truth["h"] == pytest.approx(0.6732, rel=1e-15)
    assert truth["tau_reio"] == 0.0543 and truth["n_s"] == 0.96605
    assert truth["logA"] == 3.0448
    assert truth["A_s"] == pytest.approx(math.exp(3.0448) * 1e-10, rel=1e-15)
    assert truth["A_planck"] == 1.0


@pytest.mark.slow
def test_mark_truth_passes_the_plotted_true_values_to_getdist(mock_paths, tmp_path, monkeypatch):
    from getdist import plots

    seen = {}
    original = plots.GetDistPlotter.triangle_plot

    def spy(self, *args, **kwargs):
        seen.update(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(plots.GetDistPlotter, "triangle_plot", spy)
    legends = []
    export = plots.GetDistPlotter.export

    def spy_export(self, *args, **kwargs):
        legends.append([t.get_text() for lg in self.fig.legends for t in lg.get_texts()])
        return export(self, *args, **kwargs)

    monkeypatch.setattr(plots.GetDistPlotter, "export", spy_export)
    info = {
        "theory": {"fixed": {"external": FixedCls}},
        "likelihood": {"cobaya_plugins.planck.LowlTT": {"clik_file": str(mock_paths["lowl_TT"])}},
        "params": {
            "amp": {"prior": {"min": 0.8, "max": 1.2}, "ref": 1.0, "proposal": 0.02},
            "A_planck": {"prior": {"min": 0.99, "max": 1.01}, "ref": 1.0, "proposal": 0.002},
        },
        "sampler": {"mcmc": {"max_samples": 60, "seed": 2, "learn_proposal": False}},
        "output": str(tmp_path / "chains" / "tri"),
    }
    run(info)
    out = tmp_path / "tri.png"
    args = ["triangle", str(tmp_path / "chains" / "tri"), str(out), "--params", "amp", "A_planck"]
    assert main([*args, "--mark-truth"]) == 0
    assert seen["markers"] == {"A_planck": 1.0}  # amp has no true value; others not plotted
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert legends == [["truth"]]  # the dashed lines are named in a legend
    seen.clear()
    assert main(args) == 0
    assert seen["markers"] is None and legends[-1] == []
