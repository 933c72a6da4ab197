"""Tests of featviz_extras.textures: each class has the property it claims, measured here from
the images themselves (FFT, neighbour correlations, connected components), not from the
generator's parameters; the angle convention; the orientation measurement."""

import math

import numpy as np
import pytest
from featviz_testing import angle_difference, bars_angle, spectral_peak

from featviz_extras import textures

SIZE = 64


def test_classes_and_dataset_layout():
    assert textures.CLASSES == (
        "stripes_0",
        "stripes_45",
        "stripes_90",
        "stripes_135",
        "checkerboard",
        "dots",
        "rings",
        "noise",
    )
    images, labels = textures.make_dataset(83, SIZE, seed=5)
    assert images.shape == (83, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert labels.shape == (83,) and labels.dtype == np.int64
    counts = np.bincount(labels, minlength=8)
    assert counts.sum() == 83 and counts.max() - counts.min() <= 1  # balanced
    assert len(set(labels[:16].tolist())) > 2  # shuffled, not in class order
    again, again_labels = textures.make_dataset(83, SIZE, seed=5)
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(again_labels, labels)
    other = textures.make_dataset(83, SIZE, seed=6)[0]
    assert np.abs(other.astype(int) - images).mean() > 10
    # the images use a good part of the [0, 255] range, as the models' preprocessing expects
    assert images.min() < 40 and images.max() > 215
    assert textures.make_class("rings", 3, 32, seed=1).shape == (3, 32, 32, 3)
    assert textures.class_label("dots") == 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: textures.make_dataset(0), "n must be a positive integer"),
        (lambda: textures.make_dataset(4, size=8), "size must be an integer number of pixels"),
        (lambda: textures.make_class("zebra", 2), "unknown texture class 'zebra'; valid"),
        (lambda: textures.orientation(np.full((16, 16, 3), 7.0)), "the image is constant"),
        (lambda: textures.orientation(np.zeros((4, 4, 4))), r"\(H, W, 3\) or \(H, W\)"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("name", ["stripes_0", "stripes_45", "stripes_90", "stripes_135"])
def test_stripes_spectral_peak_is_at_the_class_angle(name):
    """The FFT peak of every image (a reference written in the test helpers) lies within 5
    degrees of the class angle, at a frequency inside the band."""
    angle = float(name.split("_")[1])
    low, high = textures.FREQUENCY_BAND
    for image in textures.make_class(name, 20, SIZE, seed=3):
        frequency, _ = spectral_peak(image)
        assert angle_difference(bars_angle(image), angle) <= 5.0
        assert 0.9 * low <= frequency <= 1.1 * high


def _neighbour_correlation(image, down, right):
    """Correlation of the grey image with itself moved ``down`` rows and ``right`` columns."""
    grey = image.astype(float).mean(axis=-1)
    rows, columns = grey.shape
    first = grey[max(0, -down) : rows - max(0, down), max(0, -right) : columns - max(0, right)]
    second = grey[max(0, down) : rows + min(0, down), max(0, right) : columns + min(0, right)]
    return np.corrcoef(first.ravel(), second.ravel())[0, 1]


def test_angle_convention_without_fft():
    """Counter-clockwise from the horizontal axis with y up: along the bars the brightness
    stays the same. stripes_0: along a row; stripes_90: down a column; stripes_45 ('/'): one
    up and one to the right (row - 1, column + 1); stripes_135 (a backslash): one down and
    one right."""
    along = {
        "stripes_0": (0, 1),
        "stripes_90": (1, 0),
        "stripes_45": (-1, 1),
        "stripes_135": (1, 1),
    }
    for name, (down, right) in along.items():
        for image in textures.make_class(name, 5, SIZE, seed=8):
            across = {step: _neighbour_correlation(image, *step) for step in along.values()}
            best = max(across, key=across.get)
            assert best == (down, right), (name, across)


def _power(image):
    grey = image.astype(float) @ [0.299, 0.587, 0.114]
    return np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean()))) ** 2


def _rotation_symmetry(image):
    """Correlation of the centred power spectrum with itself turned by 90 degrees (the odd
    size keeps the zero frequency at the centre of the turn)."""
    power = _power(image[:-1, :-1])
    return np.corrcoef(power.ravel(), np.rot90(power).ravel())[0, 1]


def test_checkerboard_is_symmetric_and_stripes_are_not():
    for image in textures.make_class("checkerboard", 10, SIZE, seed=4):
        assert _rotation_symmetry(image) > 0.8
        # its strongest waves run along the diagonals (the squares' corners line up there)
        assert min(angle_difference(bars_angle(image), a) for a in (45.0, 135.0)) <= 5.0
    for image in textures.make_class("stripes_90", 5, SIZE, seed=4):
        assert _rotation_symmetry(image) < 0.2


def _band_powers(image, bands=4):
    """Mean spectral power in ``bands`` equal rings of frequency between 0.05 and 0.45."""
    power = _power(image)
    frequencies = np.fft.fftshift(np.fft.fftfreq(image.shape[0]))
    radius = np.hypot(*np.meshgrid(frequencies, frequencies, indexing="ij"))
    edges = np.linspace(0.05, 0.45, bands + 1)
    return np.array([power[(radius >= a) & (radius < b)].mean() for a, b in pairs(edges)])


def pairs(edges):
    return list(zip(edges[:-1], edges[1:], strict=True))


def test_noise_is_flat_and_structured_classes_are_not():
    for image in textures.make_class("noise", 10, SIZE, seed=2):
        bands = _band_powers(image)
        assert bands.max() / bands.min() < 1.4  # white: the same power at every frequency
        assert _power(image).max() / _power(image).mean() < 20  # and no peak
    for name in ("stripes_45", "rings", "checkerboard"):
        image = textures.make_class(name, 1, SIZE, seed=2)[0]
        bands = _band_powers(image)
        assert bands.max() / bands.min() > 5, name


def test_rings_are_concentric():
    """The brightness depends on the distance from one point: the grey image is well
    explained by its mean at each (rounded) distance from the best centre."""
    for image in textures.make_class("rings", 5, SIZE, seed=6):
        grey = image.astype(float).mean(axis=-1)
        rows, columns = np.indices(grey.shape)
        best = 0.0
        for centre_row in range(16, 48, 2):
            for centre_column in range(16, 48, 2):
                distance = np.rint(np.hypot(rows - centre_row, columns - centre_column))
                distance = distance.astype(int).ravel()
                means = np.bincount(distance, grey.ravel()) / np.bincount(distance)
                explained = 1 - np.var(grey.ravel() - means[distance]) / np.var(grey)
                best = max(best, explained)
        assert best > 0.6
    stripes = textures.make_class("stripes_0", 1, SIZE, seed=6)[0]
    assert _rotation_symmetry(stripes) < 0.2


def test_dots_are_small_bright_discs():
    from scipy import ndimage

    for image in textures.make_class("dots", 5, SIZE, seed=7):
        grey = image.astype(float).mean(axis=-1)
        smooth = ndimage.uniform_filter(grey, 3)
        bright = smooth > (np.percentile(smooth, 5) + np.percentile(smooth, 99)) / 2
        regions, count = ndimage.label(bright)
        sizes = np.bincount(regions.ravel())[1:]
        assert count >= 5  # several separate dots
        assert np.median(sizes) < 60  # each small (radius a few pixels)
        assert bright.mean() < 0.5  # on a background


@pytest.mark.parametrize("angle", [0.0, 12.0, 45.0, 80.0, 101.0, 135.0, 170.0])
def test_orientation_of_hand_made_gratings(angle):
    """A grating written here: brightness cos(2 pi f (-x sin a + y cos a)), x right, y up
    (y = -row), constant along the direction (cos a, sin a)."""
    frequency = 0.11
    row, column = np.indices((SIZE, SIZE), dtype=float)
    x, y = column, -row
    radians = math.radians(angle)
    grating = 128 + 100 * np.cos(
        2 * math.pi * frequency * (-x * math.sin(radians) + y * math.cos(radians)) + 0.3
    )
    found, found_frequency = textures.orientation(np.repeat(grating[..., None], 3, axis=-1))
    assert textures.angle_difference(found, angle) <= 1.0
    assert found_frequency == pytest.approx(frequency, rel=0.03)
    assert textures.orientation(grating)[0] == pytest.approx(found)  # grey works too
    # a smooth gradient across the whole image (below 2 / size) does not count as bars
    ramp = 3 * column
    assert textures.angle_difference(textures.orientation(grating + ramp)[0], angle) <= 1.0


def test_angle_difference():
    assert textures.angle_difference(179.0, 1.0) == pytest.approx(2.0)
    assert textures.angle_difference(10.0, 100.0) == pytest.approx(90.0)
    assert textures.angle_difference(45.0, 225.0) == pytest.approx(0.0)
