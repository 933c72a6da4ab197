"""Tests of featviz_extras.plots: PNG figures written to disk."""

import numpy as np
import pytest
from featviz_testing import read_png

from featviz_extras import plots

RED = np.array([0xD6, 0x27, 0x28])  # matplotlib "tab:red", the highlight colour


def count_colour(pixels, colour, tolerance=8):
    return int(np.sum(np.all(np.abs(pixels - colour) <= tolerance, axis=-1)))


def test_plot_visualization_with_and_without_curve(tmp_path):
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[4:12, 4:12] = RED
    alone = read_png(plots.plot_visualization(image, tmp_path / "a.png", title="vgg19 ch 4"))
    assert alone.shape == (5 * plots.FIGURE_DPI, 5 * plots.FIGURE_DPI, 3)
    # the red square covers a quarter of the (square) image area, drawn with nearest pixels
    assert count_colour(alone, RED) > 0.1 * alone.shape[0] * alone.shape[1]
    curve = read_png(
        plots.plot_visualization(image, tmp_path / "b.png", activation=np.linspace(0, 5, 11))
    )
    assert curve.shape == (int(4.5 * plots.FIGURE_DPI), 10 * plots.FIGURE_DPI, 3)
    with pytest.raises(ValueError, match=r"activation has shape \(2, 2\)"):
        plots.plot_visualization(image, tmp_path / "c.png", activation=np.zeros((2, 2)))


def test_plot_activation_profile_highlights_channel(tmp_path):
    vector = np.linspace(1.0, 2.0, 64)
    plain = read_png(plots.plot_activation_profile(vector, tmp_path / "plain.png"))
    marked = read_png(plots.plot_activation_profile(vector, tmp_path / "marked.png", channel=10))
    assert plain.shape == marked.shape == (4 * plots.FIGURE_DPI, 10 * plots.FIGURE_DPI, 3)
    assert count_colour(plain, RED) == 0
    assert count_colour(marked, RED) > 100  # the highlighted bar and its legend patch
    with pytest.raises(IndexError, match="channel 64 is out of range for 64 channels"):
        plots.plot_activation_profile(vector, tmp_path / "x.png", channel=64)
    with pytest.raises(ValueError, match="one value per channel"):
        plots.plot_activation_profile(np.zeros((2, 3)), tmp_path / "x.png")


def test_plot_distance_histograms(tmp_path):
    rng = np.random.default_rng(1)
    groups = {
        "same_class": rng.normal(5, 1, 200),
        "different_class": rng.normal(15, 2, 200),
        "random": rng.normal(12, 4, 200),
    }
    path = plots.plot_distance_histograms(groups, tmp_path / "d.png", markers={"target": 9.0})
    pixels = read_png(path)
    assert pixels.shape == (int(4.5 * plots.FIGURE_DPI), 8 * plots.FIGURE_DPI, 3)
    assert count_colour(pixels, RED) > 50  # the marker line
    without = read_png(plots.plot_distance_histograms(groups, tmp_path / "e.png"))
    assert count_colour(without, RED) == 0
    with pytest.raises(ValueError, match=r"groups \['random'\] are empty"):
        plots.plot_distance_histograms({"random": []}, tmp_path / "f.png")
    with pytest.raises(ValueError, match="no distance groups"):
        plots.plot_distance_histograms({}, tmp_path / "f.png")


def test_plot_tsne_marks_target(tmp_path):
    rng = np.random.default_rng(2)
    embedding = rng.normal(0, 1, (13, 2))
    labels = ["a"] * 6 + ["b"] * 6
    with_star = read_png(plots.plot_tsne(embedding, labels, tmp_path / "t.png"))
    assert with_star.shape == (6 * plots.FIGURE_DPI, 7 * plots.FIGURE_DPI, 3)
    assert count_colour(with_star, RED) > 200  # the target star (and its legend entry)
    no_star = read_png(
        plots.plot_tsne(embedding[:12], labels, tmp_path / "u.png", with_target=False)
    )
    assert count_colour(no_star, RED) == 0
    with pytest.raises(ValueError, match=r"expected \(13, 2\) for 12 labels plus the target"):
        plots.plot_tsne(embedding[:12], labels, tmp_path / "v.png")


def test_plot_tsne_many_classes(tmp_path):
    labels = [f"n{i:08d}" for i in range(30)] * 2
    embedding = np.random.default_rng(3).normal(0, 1, (61, 2))
    pixels = read_png(plots.plot_tsne(embedding, labels, tmp_path / "many.png"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 30  # many distinct class colours


def test_plot_image_grid_draws_each_image_pixel_for_pixel(tmp_path):
    grey = np.full((8, 8, 3), 128, np.uint8)
    red = np.broadcast_to(RED, (8, 8, 3)).astype(np.uint8)
    images = [[grey, grey, grey], [grey, grey, red]]
    captions = [["a", "b", "c"], ["d", "e", "f\nsecond line"]]
    path = plots.plot_image_grid(
        images,
        tmp_path / "grid.png",
        ["row 1", "row 2"],
        ["x", "y", "z"],
        captions,
        title="grid",
        cell_inches=1.0,
    )
    pixels = read_png(path)
    # 3 columns of 1 inch + 1.2 for the row labels; 2 rows of 1 inch + 2 caption lines + 0.6
    width, height = 3 * 1.0 + 1.2, 2 * (1.0 + 2 * 0.16) + 0.6
    assert pixels.shape == (int(height * plots.FIGURE_DPI), int(width * plots.FIGURE_DPI), 3)
    # one of six cells is red: a filled red square of about an inch, with sharp edges
    rows, columns = np.nonzero(np.all(np.abs(pixels - RED) <= 2, axis=-1))
    side = rows.max() - rows.min() + 1
    assert 0.7 * plots.FIGURE_DPI < side < 1.2 * plots.FIGURE_DPI
    assert columns.max() - columns.min() + 1 == side and len(rows) == side**2
    assert rows.min() > pixels.shape[0] / 2 and columns.min() > 2 * pixels.shape[1] / 3
    for bad, message in [
        (dict(images=[[grey, grey]], row_labels=["r"]), "1 rows of 3 images"),
        (dict(images=images, row_labels=["r"]), "1 rows of 3 images"),
        (dict(images=images, row_labels=["r", "s"], captions=[["a"]]), "captions must be 2 rows"),
    ]:
        with pytest.raises(ValueError, match=message):
            plots.plot_image_grid(path=tmp_path / "bad.png", column_labels=["x", "y", "z"], **bad)


def test_plot_embedding_marks_the_kinds(tmp_path):
    rng = np.random.default_rng(4)
    embedding = rng.normal(0, 1, (24, 2))
    labels = ["a"] * 10 + ["b"] * 10 + ["a", "a", "b", "b"]
    plain = read_png(plots.plot_embedding(embedding, labels, tmp_path / "plain.png"))
    kinds = [None] * 20 + ["logit", "channel", "logit", "channel"]
    marked = read_png(plots.plot_embedding(embedding, labels, tmp_path / "marked.png", kinds))
    assert marked.shape == plain.shape == (int(6.5 * plots.FIGURE_DPI), 8 * plots.FIGURE_DPI, 3)
    black = np.array([0, 0, 0])
    # four large black-edged markers, and two legend entries for the kinds
    assert count_colour(marked, black, 40) > count_colour(plain, black, 40) + 200
    with pytest.raises(ValueError, match=r"expected \(24, 2\), one row per label"):
        plots.plot_embedding(embedding[:20], labels, tmp_path / "bad.png")
