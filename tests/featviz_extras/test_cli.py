"""Tests of the command line ``python -m featviz_extras`` (offline: random weights, small sizes)."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from featviz_testing import make_image_tree
from PIL import Image

from featviz_extras import cli


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of the command line run in this process."""
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- fast: package import, parsing --------------------------------------------------------------


def test_import_is_cheap_and_submodules_are_lazy():
    code = (
        "import sys, featviz_extras, featviz_extras.cli; "
        "functions = [featviz_extras.visualize, featviz_extras.classify, "
        "featviz_extras.load_model]; "
        "heavy = ('tensorflow', 'keras', 'sklearn', 'matplotlib'); "
        "heavy = [name for name in heavy if name in sys.modules]; "
        "print(heavy, featviz_extras.classification.N_CLASSES, "
        "*[f.__module__ + '.' + f.__name__ for f in functions])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "[]",
        "1000",
        "featviz_extras.render.visualize",
        "featviz_extras.classification.classify",
        "featviz_extras.models.load_model",
    ]


def test_python_dash_m_help_lists_commands():
    result = subprocess.run(
        [sys.executable, "-m", "featviz_extras", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in ("visualize", "classify", "analyze", "--weights"):
        assert command in result.stdout


def test_parse_weights(tmp_path):
    assert cli.parse_weights("none") is None
    assert cli.parse_weights("None") is None
    assert cli.parse_weights("imagenet") == "imagenet"
    weights = tmp_path / "vgg19_notop.h5"
    weights.write_bytes(b"")
    assert cli.parse_weights(str(weights)) == str(weights)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["classify", "x.png", "--models", "vgg19,alexnet"], "unknown model names ['alexnet']"),
        (
            ["visualize", "--model", "alexnet", "--layer", "a", "--channel", "0", "--out", "o.png"],
            "invalid choice: 'alexnet'",
        ),
        (["visualize", "--layer", "a", "--out", "o.png"], "--channel"),
        (["analyze", "--target", "t.png", "--images", "x", "--pairs", "0"], "positive integer"),
        (  # the fix is written as flags
            ["classify", "x.png", "--weights", "missing.h5"],
            "weights file 'missing.h5' does not exist; give --weights imagenet|none|PATH",
        ),
        (
            ["visualize", "--layer", "a", "--channel", "0", "--out", "o.png", "--seed", "-1"],
            "argument --seed: expected an integer >= 0",
        ),
        (
            ["visualize", "--layer", "a", "--channel", "0", "--out", "o.png", "--steps", "-1"],
            "argument --steps: expected an integer >= 0",
        ),
    ],
)
def test_bad_arguments_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_analyze_empty_folder_fails_cleanly_before_loading_a_model(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    status, _, err = run_cli(
        capsys, "analyze", "--target", tmp_path / "t.png", "--images", tmp_path / "empty"
    )
    assert status == 1
    assert "analyze: error: no images found in" in err and "<root>/<class" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_analyze_bad_perplexity_is_named_as_a_flag_before_loading_a_model(capsys, tmp_path):
    root = make_image_tree(tmp_path / "images")  # 5 images
    status, _, err = run_cli(
        capsys,
        "analyze",
        "--target",
        root / "n0001" / "a.JPEG",
        "--images",
        root,
        "--perplexity",
        6,
    )
    assert status == 1
    assert "--perplexity 6 must be above 0 and below 6" in err
    assert "leave --perplexity out to use 1.66667" in err and "perplexity=" not in err
    assert len(err.strip().splitlines()) == 1


# -- slow: end to end with TensorFlow -----------------------------------------------------------


def test_visualize_end_to_end_matches_the_api(capsys, tmp_path):
    import keras

    from featviz_extras import models, render

    out, gif, plot = tmp_path / "node.png", tmp_path / "node.gif", tmp_path / "curve.png"
    common = ["--model", "vgg16", "--layer", "block1_conv2", "--channel", "3", "--weights"]
    status, stdout, err = run_cli(
        capsys,
        "visualize",
        *common,
        "none",
        "--size",
        32,
        "--steps",
        4,
        "--frame-every",
        2,
        "--seed",
        5,
        "--out",
        out,
        "--gif",
        gif,
        "--plot",
        plot,
    )
    assert status == 0, err
    # the same render through the API, with the same seed for the random weights and the noise
    keras.utils.set_random_seed(5)
    model = models.load_model("vgg16", weights=None, include_top=False)
    image, history = render.visualize(
        model,
        "block1_conv2",
        3,
        steps=4,
        size=32,
        seed=5,
        return_history=True,
        frame_every=2,
        preprocess=models.preprocessor("vgg16"),
    )
    with Image.open(out) as written:
        np.testing.assert_array_equal(np.asarray(written), image)
    with Image.open(gif) as animation:
        assert animation.n_frames == len(history.frames) == 3  # steps 0, 2 and 4
        assert animation.size == (32, 32)
    with Image.open(plot) as figure:
        assert figure.format == "PNG" and figure.size[0] > figure.size[1]
    start, end = history.activation[0], history.activation[-1]
    assert end > start  # gradient ascent raised the channel's mean activation
    assert f"mean activation {start:.4g} -> {end:.4g} after 4 steps (seed)" in stdout


def test_classify_end_to_end_says_random_weights_are_meaningless(capsys, tmp_path):
    from featviz_extras import classification

    image = tmp_path / "image.png"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(image)
    status, stdout, err = run_cli(
        capsys,
        "classify",
        image,
        "--models",
        "resnet50",
        "--weights",
        "none",
        "--top",
        4,
        "--json",
        tmp_path / "predictions.json",
    )
    assert status == 0, err
    table = json.loads((tmp_path / "predictions.json").read_text())
    assert table["random_weights"] is True and "meaningless" in table["note"]
    assert list(table["predictions"]) == ["resnet50"]
    rows = table["predictions"]["resnet50"]
    assert len(rows) == 4
    probabilities = [row["probability"] for row in rows]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
    names = dict(classification.imagenet_classes())
    assert all(names[row["wnid"]] == row["name"] for row in rows)
    lines = stdout.splitlines()
    assert lines[0] == "resnet50"
    assert lines[1].split()[:3] == ["1.", rows[0]["wnid"], rows[0]["name"]]
    # next to the predictions: they mean nothing, and the fix as flags
    assert lines[5].startswith("NOTE: these predictions come from random weights")
    assert "meaningless without trained weights" in lines[5]
    assert "use --weights imagenet or --weights PATH" in lines[5] and "weights=" not in stdout


def test_classify_prints_a_texture_label_once(capsys, tmp_path):
    """A texture class's id is its name: each line is ``rank. name probability%``, the label
    once (an ImageNet line keeps ``rank. wnid name probability%``, tested above)."""
    from featviz_extras import textures

    image = tmp_path / "image.png"
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(image)
    status, stdout, err = run_cli(
        capsys,
        "classify",
        image,
        "--models",
        "texture_resnet",
        "--weights",
        "none",
        "--top",
        3,
        "--json",
        tmp_path / "predictions.json",
    )
    assert status == 0, err
    rows = json.loads((tmp_path / "predictions.json").read_text())["predictions"]["texture_resnet"]
    lines = stdout.splitlines()
    assert lines[0] == "texture_resnet"
    for rank, (line, row) in enumerate(zip(lines[1:4], rows, strict=True), start=1):
        assert row["wnid"] == row["name"] and row["name"] in textures.CLASSES
        assert line.split() == [f"{rank}.", row["name"], f"{100 * row['probability']:.2f}%"]
    assert lines[4].startswith("NOTE: these predictions come from random weights")


@pytest.mark.slow
def test_analyze_end_to_end_finds_the_planted_class(capsys, tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "images"
    for k, label in enumerate(["n01", "n02", "n03"]):
        (root / label).mkdir(parents=True)
        for i in range(3):
            pixels = np.full((24, 24, 3), 30.0)
            pixels[..., k] = 220  # red, green or blue images
            pixels += rng.normal(0, 15, pixels.shape)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                root / label / f"{i}.png"
            )
    target = root / "n02" / "1.png"  # the target is one of the green images
    out_dir = tmp_path / "out"
    status, stdout, err = run_cli(
        capsys,
        "analyze",
        "--target",
        target,
        "--images",
        root,
        "--model",
        "vgg16",
        "--layer",
        "block1_conv2",
        "--channel",
        7,
        "--weights",
        "none",
        "--size",
        32,
        "--pairs",
        100,
        "--out-dir",
        out_dir,
        "--batch-size",
        4,
    )
    assert status == 0, err
    for name in ("activation_profile.png", "distances.png", "tsne.png"):
        with Image.open(out_dir / name) as figure:
            assert figure.format == "PNG"
    summary = json.loads((out_dir / "distances.json").read_text())
    assert summary["n_images"] == 9 and summary["image_size"] == 32
    assert list(summary["target_vs_class"])[0] == "n02"  # closest class first
    means = [s["mean"] for s in summary["target_vs_class"].values()]
    assert means == sorted(means)
    assert {g: s["count"] for g, s in summary["pairs"].items()} == {
        "same_class": 100,
        "different_class": 100,
        "random": 100,
    }
    assert summary["target_vs_images"]["min"] == pytest.approx(0.0, abs=1e-4)
    with open(out_dir / "distances.csv") as table:
        rows = list(csv.DictReader(table))
    assert len(rows) == 9
    assert [row["class"] for row in rows] == ["n01"] * 3 + ["n02"] * 3 + ["n03"] * 3
    distances = {row["path"]: float(row["distance_to_target"]) for row in rows}
    assert distances[str(target)] == pytest.approx(0.0, abs=1e-4)
    assert all(d > 0 for path, d in distances.items() if path != str(target))
    channel = [float(row["channel_activation"]) for row in rows if row["path"] == str(target)]
    assert channel[0] == pytest.approx(summary["target_channel_activation"], rel=1e-4)
    assert "closest classes to the target" in stdout and stdout.splitlines()[1].split()[0] == "n02"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (  # a layer of the classifier head fixes the size: the fix is a flag
            ["--weights", "none", "--model", "resnet50", "--layer", "avg_pool"],
            "--size 32 does not fit layer 'avg_pool': it is in the classifier head of resnet50, "
            "whose input is 224x224; pass --size 224 or leave --size out",
        ),
        (
            ["--weights", "none", "--channel", "64"],
            "channel 64 is out of range for layer 'block1_conv1', which has 64 channels",
        ),
        (  # resnet50: its classifier head, tried second, is small
            ["--weights", "none", "--model", "resnet50", "--layer", "block9_conv9"],
            "no layer 'block9_conv9'; valid layer names are: input_layer",
        ),
    ],
)
def test_visualize_errors_are_one_line(capsys, tmp_path, extra, message):
    argv = [
        "visualize",
        "--model",
        "vgg16",
        "--layer",
        "block1_conv1",
        "--channel",
        "0",
        "--size",
        "32",
        "--steps",
        "1",
        "--out",
        tmp_path / "o.png",
        *extra,
    ]
    status, _, err = run_cli(capsys, *argv)
    assert status == 1
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_imagenet_weights_offline_fail_cleanly(capsys, monkeypatch, tmp_path):
    """Without internet, Keras cannot fetch the weights: one clear line, exit status 1."""
    from keras.src.utils import file_utils

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: no network")

    monkeypatch.setattr(file_utils, "get_file", no_network)
    image = tmp_path / "image.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(image)
    status, stdout, err = run_cli(capsys, "classify", image, "--models", "resnet50")
    assert status == 1 and stdout == ""
    assert "classify: error: could not download ImageNet weights for resnet50" in err
    # the fix is written as flags, not as Python
    assert "pass --weights PATH" in err and "or --weights none" in err
    assert "weights=" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_visualize_prints_a_zero_gradient_warning_as_one_line(capsys, monkeypatch, tmp_path):
    import warnings

    from featviz_extras import render

    original = render.visualize

    def with_dead_channel(*args, **kwargs):
        warnings.warn(
            "the objective's gradient was exactly zero (test)",
            render.ZeroGradientWarning,
            stacklevel=2,
        )
        return original(*args, **kwargs)

    monkeypatch.setattr(render, "visualize", with_dead_channel)
    status, _, err = run_cli(
        capsys,
        "visualize",
        "--model",
        "vgg16",
        "--layer",
        "block1_conv1",
        "--channel",
        0,
        "--weights",
        "none",
        "--size",
        32,
        "--steps",
        1,
        "--out",
        tmp_path / "o.png",
    )
    assert status == 0
    assert "visualize: warning: the objective's gradient was exactly zero (test)\n" in err
    assert "ZeroGradientWarning" not in err and (tmp_path / "o.png").exists()
