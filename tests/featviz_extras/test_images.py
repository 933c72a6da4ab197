"""Tests of featviz_extras.images: image folders, reading, resizing, writing, metrics."""

import math

import numpy as np
import pytest
from featviz_testing import make_image_tree, read_png, write_image
from PIL import Image

from featviz_extras import images, param


@pytest.fixture
def image_tree(tmp_path):
    return make_image_tree(tmp_path / "images")


# -- images -------------------------------------------------------------------------------------


def test_find_images_imagenet_layout(image_tree):
    found = images.find_images(image_tree)
    assert list(found) == ["n0001", "n0002"]  # sorted; the empty folder is left out
    assert [p.name for p in found["n0001"]] == ["a.JPEG", "b.jpg", "c.png"]
    assert [p.name for p in found["n0002"]] == ["x.PNG", "y.jpeg"]


def test_labelled_images_and_max_per_class(image_tree):
    paths, labels = images.labelled_images(image_tree)
    assert labels == ["n0001"] * 3 + ["n0002"] * 2
    assert [p.parent.name for p in paths] == labels
    paths, labels = images.labelled_images(image_tree, max_per_class=1)
    assert [p.name for p in paths] == ["a.JPEG", "x.PNG"] and labels == ["n0001", "n0002"]
    with pytest.raises(ValueError, match="max_per_class"):
        images.labelled_images(image_tree, max_per_class=0)


def test_find_images_errors_name_the_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.*expected <root>/<class"):
        images.find_images(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    with pytest.raises(ValueError, match="no images found in .*flat; expected <root>/<class"):
        images.find_images(tmp_path / "flat")
    write_image(tmp_path / "flat" / "loose.png", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="1 images lie directly in it"):
        images.find_images(tmp_path / "flat")


def test_load_image_from_file_is_exact_and_resizes(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (20, 30, 3))
    path = write_image(tmp_path / "img.png", pixels)
    loaded = images.load_image(path)
    assert loaded.dtype == np.float32 and loaded.shape == (20, 30, 3)
    np.testing.assert_array_equal(loaded, pixels)
    resized = images.load_image(str(path), size=16)
    assert resized.shape == (16, 16, 3)
    assert 0 <= resized.min() and resized.max() <= 255
    # bilinear resizing keeps a constant image constant, per channel
    constant = write_image(tmp_path / "constant.png", np.broadcast_to([10, 200, 255], (7, 9, 3)))
    expected = np.broadcast_to([10, 200, 255], (32, 32, 3))
    np.testing.assert_allclose(images.load_image(constant, 32), expected, atol=1e-3)


def test_load_image_converts_grey_files_to_rgb(tmp_path):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    loaded = images.load_image(tmp_path / "grey.png")
    assert loaded.shape == (6, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[..., channel], grey)


def test_load_image_array_is_not_modified():
    image = np.linspace(0, 255, 5 * 6 * 3).reshape(5, 6, 3)
    before = image.copy()
    resized = images.load_image(image, 4)
    np.testing.assert_array_equal(image, before)
    assert resized.shape == (4, 4, 3)
    same = images.load_image(image)
    np.testing.assert_allclose(same, before.astype(np.float32))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8)), r"shape \(8, 8\); expected an RGB image"),
        (np.zeros((8, 8, 4)), r"shape \(8, 8, 4\).*alpha"),
        (np.full((8, 8, 3), 300.0), r"values in \[300, 300\]; expected RGB values in \[0, 255\]"),
        (np.full((8, 8, 3), -1.0), r"values in \[-1, -1\]"),
        (np.full((8, 8, 3), np.nan), "NaN"),
        (np.full((8, 8, 3), "a"), "dtype"),
    ],
)
def test_load_image_rejects_bad_arrays(image, message):
    with pytest.raises(ValueError, match=message):
        images.load_image(image)


def test_load_image_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        images.load_image(tmp_path / "missing.png")
    (tmp_path / "fake.png").write_text("hello")
    with pytest.raises(ValueError, match="fake.png is not an image file"):
        images.load_image(tmp_path / "fake.png")


def test_load_images_stacks_and_checks_shapes():
    arrays = [np.zeros((4, 4, 3)), np.full((6, 5, 3), 255.0)]
    stacked = images.load_images(arrays, size=3)
    assert stacked.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(stacked[1], 255.0)
    with pytest.raises(ValueError, match="different shapes.*pass size="):
        images.load_images(arrays)
    with pytest.raises(ValueError, match="no images"):
        images.load_images([])
    assert images.load_images(np.zeros((3, 4, 4, 3))).shape == (3, 4, 4, 3)


# -- writing -----------------------------------------------------------------------------------


def test_save_image_is_pixel_exact(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (9, 7, 3)).astype(np.uint8)
    path = images.save_image(image, tmp_path / "v.png")
    np.testing.assert_array_equal(read_png(path), image)
    # float images in [0, 255] are rounded
    images.save_image(image + 0.4, tmp_path / "f.png")
    np.testing.assert_array_equal(read_png(tmp_path / "f.png"), image)
    with pytest.raises(ValueError, match=r"expected RGB values in \[0, 255\]"):
        images.save_image(image / 255.0 - 0.5, tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="folder .*missing does not exist"):
        images.save_image(image, tmp_path / "missing" / "v.png")


def gif_frames(path):
    """(RGB frames, durations in ms) of a GIF file."""
    frames, durations = [], []
    with Image.open(path) as gif:
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
            durations.append(gif.info["duration"])
    return frames, durations


def test_save_gif_writes_every_frame(tmp_path):
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (10, 12, 3)).astype(np.uint8) for _ in range(7)]
    path = images.save_gif(frames, tmp_path / "ascent.gif", duration_ms=40)
    assert path.read_bytes()[:6] == b"GIF89a"
    read, durations = gif_frames(path)
    assert len(read) == 7 and durations == [40] * 7
    assert read[0].shape == (10, 12, 3)
    # 120 random colours fit the 256-colour palette: frames come back exactly
    for written, original in zip(read, frames, strict=True):
        np.testing.assert_array_equal(written, original)


def test_save_gif_identical_neighbours_play_the_same(tmp_path):
    colours = [0, 50, 50, 120]
    frames = [np.full((6, 6, 3), c, dtype=np.uint8) for c in colours]
    read, durations = gif_frames(images.save_gif(frames, tmp_path / "a.gif", duration_ms=30))
    assert [int(frame[0, 0, 0]) for frame in read] == [0, 50, 120]
    assert durations == [30, 60, 30]


def test_save_gif_errors(tmp_path):
    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="no frames"):
        images.save_gif([], tmp_path / "a.gif")
    with pytest.raises(ValueError, match="should end in .gif"):
        images.save_gif([frame], tmp_path / "a.png")
    with pytest.raises(ValueError, match="different shapes"):
        images.save_gif([frame, np.zeros((5, 4, 3), dtype=np.uint8)], tmp_path / "a.gif")
    with pytest.raises(ValueError, match=r"frame 1 has shape \(4, 4\)"):
        images.save_gif([frame, frame[..., 0]], tmp_path / "a.gif")


# -- high_frequency_share ----------------------------------------------------------------------


def _grating(frequency, angle_degrees=0.0, size=64):
    y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    angle = math.radians(angle_degrees)
    wave = np.cos(2 * np.pi * frequency * (x * math.cos(angle) + y * math.sin(angle)))
    return np.repeat(wave[..., None], 3, axis=-1)


def test_high_frequency_share_of_noise_gratings_and_constant():
    noise = np.random.default_rng(0).uniform(0, 255, (256, 256, 3))
    # white noise: the fraction of the frequency square [-1/2, 1/2]^2 outside radius 1/4
    assert images.high_frequency_share(noise) == pytest.approx(1 - math.pi / 16, abs=0.01)
    assert images.high_frequency_share(param.noise_images(1, 224, 224, 0)[0]) == pytest.approx(
        0.80, abs=0.01
    )
    low, high = _grating(8 / 64), _grating(20 / 64)  # 0.125 and 0.3125 cycles/pixel
    assert images.high_frequency_share(low) < 1e-12
    assert images.high_frequency_share(high) == pytest.approx(1.0, abs=1e-12)
    assert images.high_frequency_share(low, cutoff=0.1) == pytest.approx(1.0, abs=1e-12)
    # a diagonal grating at 0.2 cycles/pixel along x and y has magnitude 0.28 > 0.25
    diagonal = _grating(math.hypot(0.2, 0.2), angle_degrees=45)
    assert images.high_frequency_share(diagonal) > 0.9
    # greyscale uses luma weights: the mean (a constant) is removed
    mixed = 0.5 * low + 0.5 * high + 100.0
    assert images.high_frequency_share(mixed) == pytest.approx(0.5, abs=1e-9)
    assert images.high_frequency_share(mixed[..., 0]) == pytest.approx(0.5, abs=1e-9)
    assert math.isnan(images.high_frequency_share(np.full((8, 8, 3), 7.0)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        images.high_frequency_share(np.zeros((4, 4, 4)))
