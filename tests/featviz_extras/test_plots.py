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
    assert (
        marked.shape == plain.shape == (int(6.5 * plots.FIGURE_DPI), int(9.5 * plots.FIGURE_DPI), 3)
    )
    black = np.array([0, 0, 0])
    # four large black-edged markers, and two legend entries for the kinds
    assert count_colour(marked, black, 40) > count_colour(plain, black, 40) + 200
    with pytest.raises(ValueError, match=r"expected \(24, 2\), one row per label"):
        plots.plot_embedding(embedding[:20], labels, tmp_path / "bad.png")


# tab10, the palette of up to 10 labels, in order (matplotlib's documented colours)
TAB10 = [np.array(c) for c in ([0x1F, 0x77, 0xB4], [0xFF, 0x7F, 0x0E], [0x2C, 0xA0, 0x2C], RED)]


def test_draw_embedding_keeps_every_marked_point_in_sight():
    """Real images small and translucent underneath; each kind above the kinds before it and
    smaller, so that four markers at one place all show."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rng = np.random.default_rng(5)
    plain = rng.normal(0, 1, (40, 2)) + [6.0, 0.0]  # away from the marked points
    marked = np.zeros((4, 2))  # four kinds at exactly one place, one label each
    embedding = np.vstack([plain, marked, [[3.0, 3.0]]])
    labels = ["a", "b", "c", "d"] * 10 + ["a", "b", "c", "d", "a"]
    kinds = [None] * 40 + ["logit, seed", "logit, reg", "channel, seed", "channel, reg"] + [None]
    figure = Figure(figsize=(4, 4), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    styles = plots.draw_embedding(axes, embedding, labels, kinds)
    axes.set_xlim(-2, 9)
    axes.set_ylim(-4, 4)

    # what is drawn: each collection is one label's plain points, or one marked point
    collections = axes.collections
    plain_drawn = [c for c in collections if c.get_zorder() == 1]
    marks = [c for c in collections if c.get_zorder() > 1]
    assert sum(len(c.get_offsets()) for c in plain_drawn) == 41
    assert len(marks) == 4 and [len(c.get_offsets()) for c in marks] == [1, 1, 1, 1]
    # every mark above every plain point and drawn after them; translucent small plain points
    assert min(c.get_zorder() for c in marks) > max(c.get_zorder() for c in plain_drawn)
    assert all(c.get_alpha() <= 0.5 for c in plain_drawn)
    assert all(c.get_alpha() in (None, 1.0) for c in marks)
    # later kinds smaller and higher: nested, not hidden
    sizes = [float(c.get_sizes()[0]) for c in marks]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    assert [c.get_zorder() for c in marks] == sorted(c.get_zorder() for c in marks)
    assert max(float(c.get_sizes()[0]) for c in plain_drawn) < min(sizes)
    assert list(styles) == kinds[40:44] and [area for _, area in styles.values()] == sizes
    for mark, colour in zip(marks, TAB10, strict=True):
        assert np.allclose(mark.get_offsets(), [[0.0, 0.0]])
        assert np.allclose(mark.get_facecolor()[0][:3], colour / 255, atol=1 / 255)

    # what shows: around the shared place, every label's colour covers a visible area
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    x, y = axes.transData.transform((0.0, 0.0))
    row, column = int(round(pixels.shape[0] - y)), int(round(x))
    around = pixels[row - 20 : row + 21, column - 20 : column + 21]
    shown = [count_colour(around, colour, 12) for colour in TAB10]
    assert min(shown) >= 10, shown
