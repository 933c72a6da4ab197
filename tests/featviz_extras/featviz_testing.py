"""Helpers shared by the featviz_extras tests (importable as ``featviz_testing`` when this
directory is on the Python path, as pytest puts it)."""

import math

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """The RGB pixels (H, W, 3) of a PNG file, as int, after checking the PNG signature."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def write_image(path, array):
    """Save a uint8 RGB array; the format follows the suffix (.png, .jpg, .JPEG)."""
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def make_image_tree(root):
    """<root>/<class>/ with 3 + 2 random 12x10 images of different formats, files that are not
    images, and an empty class folder."""
    rng = np.random.default_rng(0)
    layout = {"n0001": ["a.JPEG", "b.jpg", "c.png"], "n0002": ["x.PNG", "y.jpeg"]}
    for label, names in layout.items():
        (root / label).mkdir(parents=True)
        for name in names:
            write_image(root / label / name, rng.integers(0, 256, (12, 10, 3)))
        (root / label / "notes.txt").write_text("not an image")
    (root / "empty_class").mkdir()
    return root


def spectral_peak(image, smoothing=2.0, radius=4.0):
    """(frequency in cycles/pixel, orientation in degrees mod 180) of the strongest peak of
    the greyscale power spectrum of a square image: argmax of the spectrum smoothed over
    ``smoothing`` bins, refined by the power-weighted centroid within ``radius`` bins of it.
    The orientation is that of the wave vector in array axes: atan2(row frequency, column
    frequency), rows pointing down."""
    from scipy import ndimage

    grey = np.asarray(image, dtype=float) @ [0.299, 0.587, 0.114]
    size = grey.shape[0]
    power = np.fft.fftshift(np.abs(np.fft.fft2(grey - grey.mean())) ** 2)
    frequencies = np.fft.fftshift(np.fft.fftfreq(size))
    fy, fx = np.meshgrid(frequencies, frequencies, indexing="ij")
    smoothed = ndimage.gaussian_filter(power, smoothing, mode="wrap")
    peak = np.unravel_index(np.argmax(smoothed), power.shape)
    weights = power * (np.hypot(fy - fy[peak], fx - fx[peak]) <= radius / size)
    centre_y, centre_x = (weights * fy).sum() / weights.sum(), (weights * fx).sum() / weights.sum()
    return math.hypot(centre_y, centre_x), math.degrees(math.atan2(centre_y, centre_x)) % 180


def bars_angle(image):
    """Angle of the bars of a square image, degrees mod 180, counter-clockwise from the
    horizontal axis with y pointing up (the convention of the texture classes), from
    :func:`spectral_peak`: the bars run at 90 degrees to the wave vector, and turning the
    rows' axis up flips the sign of the wave vector's angle."""
    return (90.0 - spectral_peak(image)[1]) % 180


def angle_difference(a, b):
    """Smallest difference in degrees between two orientations modulo 180."""
    return abs((a - b + 90) % 180 - 90)
