"""Tests of featviz_extras.experiment: visualizations of a trained model against the known
meaning of the textures, the channel choice and quality numbers by hand, and the trained-demo
command end to end (summary.json in the issue's form, the overview figure)."""

import json

import numpy as np
import pytest
from featviz_testing import angle_difference, bars_angle, read_png

from featviz_extras import experiment, textures


def _by_hand(images):
    return np.asarray(images, dtype=np.float32) / 127.5 - 1.0


# -- fast: the arithmetic ------------------------------------------------------------------------


def test_select_channels_by_hand():
    """Two images per class, four channels; channel 2 is high only on 'rings', channel 0
    on every stripes class (most on stripes_90), channel 3 never varies."""
    labels = [name for name in textures.CLASSES for _ in range(2)]
    vectors = np.ones((16, 4))
    vectors[:, 3] = 5.0
    for row, name in enumerate(labels):
        vectors[row, 2] = 9.0 if name == "rings" else 1.0
        vectors[row, 0] = {"stripes_90": 4.0}.get(name, 2.0 if name.startswith("stripes") else 0.0)
    vectors[1, 1] = 3.0  # channel 1: one stripes_0 image only
    channels, selectivity = experiment.select_channels(vectors, labels)
    assert channels["rings"] == 2 and channels["stripes_90"] == 0
    # rings on channel 2: (9 - 1) / std over all images; std = sqrt(p (1 - p)) * 8, p = 1/8
    assert selectivity[6, 2] == pytest.approx(8 / (8 * np.sqrt(1 / 8 * 7 / 8)))
    # stripes_0 on channel 1: class mean 2, others 1, std of [3, 1 x 15]
    assert selectivity[0, 1] == pytest.approx(1 / np.std([3.0] + [1.0] * 15))
    assert np.all(selectivity[:, 3] == 0)  # never varies
    with pytest.raises(ValueError, match="'noise' must have some but not all of the images"):
        experiment.select_channels(vectors[:14], labels[:14])


def _result(name, method, target, others, own=0.95, orientation=None, distances=None):
    return experiment.Result(
        class_name=name,
        method=method,
        target=target,
        channel=None if target == "logit" else 3,
        image=np.zeros((4, 4, 3), np.uint8),
        own_probability=own,
        others={role: [(label, 0.9), ("noise", 0.05), ("dots", 0.01)] for role, label in others},
        orientation=orientation,
        distances=distances or {},
    )


def test_quality_by_hand():
    results = [
        # logit, seed: B right twice, C right once; own 0.95, 0.5
        _result("stripes_0", "seed", "logit", [("B", "stripes_0"), ("C", "rings")], 0.95, 178.0),
        _result("dots", "seed", "logit", [("B", "dots"), ("C", "dots")], 0.5),
        # channel, seed: nobody right
        _result("stripes_90", "seed", "channel", [("B", "noise"), ("C", "rings")], 0.1, 80.0),
        _result("dots", "seed", "channel", [("B", "noise"), ("C", "rings")], 0.99),
    ]
    table = experiment.quality(results)["seed"]
    assert table["logit"]["transfer_rate"] == pytest.approx(3 / 4)
    assert table["logit"]["transfer_rate_by_model"] == {"B": 1.0, "C": 0.5}
    assert table["logit"]["self_activation"] == pytest.approx(0.725)
    assert table["logit"]["own_probability_at_least_0.9"] == 1
    assert table["logit"]["orientation_error"] == {"stripes_0": pytest.approx(2.0)}
    assert table["channel"]["transfer_rate"] == 0.0
    assert table["channel"]["orientation_error"] == {"stripes_90": pytest.approx(10.0)}
    assert table["all"]["transfer_rate"] == pytest.approx(3 / 8)
    assert table["all"]["mean_orientation_error"] == pytest.approx(6.0)
    assert table["all"]["count"] == 4 and "nearest_class_rate" not in table["all"]
    text = experiment.format_quality({"seed": table})
    assert "logit, seed" in text and "0.75 (1.00, 0.50)" in text and "1/2" in text


def test_result_json_and_nearest_class():
    result = _result(
        "rings",
        "regularized",
        "channel",
        [("B", "rings"), ("C", "dots")],
        distances={"rings": 2.0, "dots": 1.5, "noise": 9.0},
    )
    assert result.nearest_class == "dots"
    entry = result.to_json()
    assert entry["png"] == "images/rings_channel_regularized.png"
    assert entry["others"]["B"][0] == ["rings", 0.9] and len(entry["others"]["C"]) == 3
    assert entry["orientation"] is None and entry["channel"] == 3
    json.dumps(entry)  # JSON-ready


# -- slow: a trained model -----------------------------------------------------------------------


@pytest.mark.slow
def test_visualizations_of_a_trained_model_have_the_class_meaning(texture_models):
    """The classic loop and the regularized loop on texture_vgg: the stripes_90 logit gives
    vertical bars (FFT peak within 15 degrees of 90, measured by the test's own reference) and
    the classic loop's images get model A's probability >= 0.9 for at least 6 of 8 classes."""
    from featviz_extras import models, objectives, render

    model = models.load_model("texture_vgg", weights=texture_models["texture_vgg"])
    batch = [objectives.class_logit(k) for k in range(8)]
    settings = render.Settings(
        steps=100, size=64, seed=0, preprocess=models.preprocessor("texture_vgg")
    )
    for method in render.METHODS:
        images = render.render(model, batch, settings.replace(method=method))
        vertical = images[textures.class_label("stripes_90")]
        assert angle_difference(bars_angle(vertical), 90.0) <= 15.0, method
        if method == "seed":
            probabilities = model.predict(_by_hand(images), verbose=0)
            own = probabilities[np.arange(8), np.arange(8)]
            assert np.sum(own >= 0.9) >= 6, own
        # and the other stripes classes too (looser: the reference finds the strongest peak)
        for name, angle in textures.STRIPE_ANGLES.items():
            measured = bars_angle(images[textures.class_label(name)])
            assert angle_difference(measured, angle) <= 20.0, (method, name, measured)


@pytest.mark.slow
def test_trained_demo_command_writes_summary_and_overview(
    capsys, tmp_path, texture_cache, texture_models
):
    import keras

    from featviz_extras import cli

    out = tmp_path / "demo"
    status = cli.main(["trained-demo", "--out", str(out), "--cache", str(texture_cache)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] == list(textures.CLASSES)
    names = {"A": "texture_vgg", "B": "texture_resnet", "C": "texture_mobilenet"}
    assert summary["models"] == names
    results = summary["results"]
    assert len(results) == 8 * 2 * 2
    combinations = {(r["class"], r["method"], r["target"]) for r in results}
    assert len(combinations) == 32
    assert {r["method"] for r in results} == {"seed", "regularized"}
    assert {r["target"] for r in results} == {"logit", "channel"}
    model_a = keras.saving.load_model(texture_models["texture_vgg"])
    for entry in results:
        assert set(entry) >= {"class", "method", "target", "png", "own_probability", "others"}
        assert set(entry["others"]) == {"B", "C"}
        for top in entry["others"].values():
            assert len(top) == 3 and all(label in textures.CLASSES for label, _ in top)
            probabilities = [p for _, p in top]
            assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
        pixels = read_png(out / entry["png"])  # relative to DIR
        assert pixels.shape == (64, 64, 3)
        # the stored probability is model A's, for the image as written
        expected = model_a.predict(_by_hand(pixels[None]), verbose=0)[0]
        label = textures.class_label(entry["class"])
        assert entry["own_probability"] == pytest.approx(expected[label], abs=1e-4)
    overview = read_png(out / summary["figures"]["overview"])
    assert overview.shape[0] > overview.shape[1] > 500  # 8 rows of 5 images
    assert read_png(out / "tsne.png").shape[1] > 500
    # the quality numbers are those of the results
    seed_logits = [r for r in results if (r["method"], r["target"]) == ("seed", "logit")]
    rate = np.mean([top[0][0] == r["class"] for r in seed_logits for top in r["others"].values()])
    assert summary["quality"]["seed"]["logit"]["transfer_rate"] == pytest.approx(rate)
    assert "transfer (B, C)" in captured.out and f"wrote {out / 'summary.json'}" in captured.out
    # the regularized logits carry the class meaning to the other models
    assert summary["quality"]["regularized"]["logit"]["transfer_rate"] >= 0.75


@pytest.mark.slow
def test_visualize_and_classify_commands_take_a_trained_texture_model(
    capsys, tmp_path, texture_models
):
    from featviz_extras import cli

    path = texture_models["texture_resnet"]
    out = tmp_path / "channel.png"
    status = cli.main(
        [
            "visualize",
            "--model",
            "texture_resnet",
            "--layer",
            "stage3_out",
            "--channel",
            "5",
            "--weights",
            str(path),
            "--steps",
            "5",
            "--out",
            str(out),
        ]
    )
    assert status == 0, capsys.readouterr().err
    assert read_png(out).shape == (64, 64, 3)  # the model's own size
    image = tmp_path / "stripes.png"
    from featviz_testing import write_image

    write_image(image, textures.make_class("stripes_45", 1, 64, seed=3)[0])
    capsys.readouterr()
    status = cli.main(
        ["classify", str(image), "--models", "texture_resnet", "--weights", str(path), "--top", "2"]
    )
    stdout = capsys.readouterr().out
    assert status == 0
    first = stdout.splitlines()[1].split()
    assert first[:2] == ["1.", "stripes_45"] and len(first) == 3  # the label once


def test_texture_model_without_weights_file_fails_as_flags(capsys, tmp_path):
    from featviz_extras import cli

    status = cli.main(
        [
            "visualize",
            "--model",
            "texture_vgg",
            "--layer",
            "block3_conv2_relu",
            "--channel",
            "0",
            "--out",
            str(tmp_path / "o.png"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "texture_vgg is a texture model trained here and has no ImageNet weights; pass " in err
    assert "--weights PATH" in err and "weights=" not in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            [
                "trained-demo",
                "--out",
                str(tmp_path),
                "--models",
                "texture_vgg,texture_vgg,texture_resnet",
            ]
        )
    assert exit_info.value.code == 2
    assert "expected three different texture models A,B,C" in capsys.readouterr().err


def test_help_lists_trained_demo():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "featviz_extras", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "trained-demo" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "featviz_extras", "trained-demo", "--help"],
        capture_output=True,
        text=True,
    )
    for flag in ("--out DIR", "--cache DIR", "--models A,B,C", "--steps", "--seed"):
        assert flag in result.stdout
