"""Procedural textures of known meaning: a data set generated in code, for training small CNNs.

Eight classes (:data:`CLASSES`, in this fixed order; a label is an index into it):

* ``stripes_0``, ``stripes_45``, ``stripes_90``, ``stripes_135``: straight sinusoidal bars
  running at that angle from the horizontal axis. **Angle convention** (used everywhere in
  featviz_extras): degrees counter-clockwise from the horizontal axis, pointing right, with y
  pointing *up* (as the image is displayed), modulo 180. ``stripes_0`` has horizontal bars (the
  brightness varies along y, down the rows), ``stripes_90`` vertical bars (the brightness varies
  along x, across the columns), ``stripes_45`` bars like a slash ``/``, ``stripes_135`` bars
  like a backslash.
* ``checkerboard``: an axis-aligned checkerboard (squares of equal side along x and y);
* ``dots``: small round dots at random positions;
* ``rings``: concentric rings around a random centre;
* ``noise``: white noise, no structure.

Every image draws its own spatial frequency (from :data:`FREQUENCY_BAND`), phase, contrast,
mean colour, colour of the pattern and pixel noise, so a class is defined by its pattern alone.
Images are uint8 RGB in [0, 255], shape (N, size, size, 3), the package's image convention
(:mod:`featviz_extras.images`); a model's preprocessing maps them to its input.

:func:`orientation` measures the bars' angle of any image in the same convention, from the
peak of its 2-D power spectrum. NumPy only.
"""

from __future__ import annotations

import math

import numpy as np

CLASSES = (
    "stripes_0",
    "stripes_45",
    "stripes_90",
    "stripes_135",
    "checkerboard",
    "dots",
    "rings",
    "noise",
)
"""The class names, in label order."""

STRIPE_ANGLES = {"stripes_0": 0.0, "stripes_45": 45.0, "stripes_90": 90.0, "stripes_135": 135.0}
"""Angle of the bars of each stripes class, degrees (see the module's angle convention)."""

FREQUENCY_BAND = (1 / 14, 1 / 6)
"""Range of the patterns' spatial frequency, cycles per pixel (periods of 6 to 14 pixels)."""

DEFAULT_SIZE = 64

_CONTRAST = (0.15, 0.4)  # amplitude of the pattern, as a fraction of the [0, 255] range
_MEAN = (0.3, 0.7)  # mean level of each colour channel, fraction of the range
_PIXEL_NOISE = (0.0, 0.08)  # standard deviation of the added white noise, fraction of the range


def make_dataset(
    n: int, size: int = DEFAULT_SIZE, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random texture images, balanced over the classes, in random order.

    :param n: number of images (>= 1); class ``k`` gets ``n // 8`` or ``n // 8 + 1`` of them.
    :param size: image side in pixels (>= 16).
    :param seed: seeds ``numpy.random.default_rng``: the same seed gives the same images.
    :return: ``(images, labels)``: uint8 RGB (n, size, size, 3) in [0, 255] and int64 labels
        (n,), indices into :data:`CLASSES`.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer number of images, not {n!r}")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 16:
        raise ValueError(f"size must be an integer number of pixels >= 16, not {size!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    images = np.stack([_image(CLASSES[label], size, rng) for label in labels])
    return images, labels


def make_class(name: str, n: int, size: int = DEFAULT_SIZE, seed: int | None = 0) -> np.ndarray:
    """``n`` random images of one class: uint8 (n, size, size, 3); arguments as in
    :func:`make_dataset`, ``name`` one of :data:`CLASSES`."""
    label = class_label(name)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer number of images, not {n!r}")
    rng = np.random.default_rng(seed)
    return np.stack([_image(CLASSES[label], size, rng) for _ in range(n)])


def class_label(name: str) -> int:
    """Label (index into :data:`CLASSES`) of a class name."""
    if name not in CLASSES:
        raise ValueError(f"unknown texture class {name!r}; valid classes are {', '.join(CLASSES)}")
    return CLASSES.index(name)


def _coordinates(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x to the right, y up), both (size, size), origin at the centre."""
    centred = np.arange(size) - (size - 1) / 2
    return centred[None, :].repeat(size, 0), -centred[:, None].repeat(size, 1)


def _pattern(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """The class's pattern, float (size, size) in about [-1, 1]."""
    x, y = _coordinates(size)
    frequency = rng.uniform(*FREQUENCY_BAND)
    phase = rng.uniform(0, 2 * math.pi)
    if name in STRIPE_ANGLES:
        angle = math.radians(STRIPE_ANGLES[name])
        # bars along (cos a, sin a): the brightness varies along the normal (-sin a, cos a)
        across = -x * math.sin(angle) + y * math.cos(angle)
        return np.cos(2 * math.pi * frequency * across + phase)
    if name == "checkerboard":
        other_phase = rng.uniform(0, 2 * math.pi)
        product = np.cos(2 * math.pi * frequency * x + phase) * np.cos(
            2 * math.pi * frequency * y + other_phase
        )
        return np.tanh(4 * product) / math.tanh(4)  # squares with soft edges
    if name == "rings":
        centre = rng.uniform(-size / 4, size / 4, 2)
        radius = np.hypot(x - centre[0], y - centre[1])
        return np.cos(2 * math.pi * frequency * radius + phase)
    if name == "dots":
        spacing = 1 / frequency
        count = max(1, round(size * size / spacing**2))
        centres = rng.uniform(-size / 2, size / 2, (count, 2))
        dot_radius = rng.uniform(0.2, 0.3) * spacing
        nearest = np.min(
            np.hypot(x[None] - centres[:, 0, None, None], y[None] - centres[:, 1, None, None]),
            axis=0,
        )
        return 2 * np.clip(dot_radius + 0.5 - nearest, 0, 1) - 1  # anti-aliased discs
    if name == "noise":
        return np.clip(rng.standard_normal((size, size)) / 2, -1, 1)
    raise ValueError(f"unknown texture class {name!r}; valid classes are {', '.join(CLASSES)}")


def _image(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 image (size, size, 3) of class ``name``."""
    pattern = _pattern(name, size, rng)
    mean = rng.uniform(*_MEAN, 3)
    # the pattern's colour: every channel moves the same way (the pattern shows in grey too)
    colour = rng.uniform(*_CONTRAST) * rng.uniform(0.4, 1.0, 3)
    noise = rng.uniform(*_PIXEL_NOISE) * rng.standard_normal((size, size, 3))
    image = mean + pattern[..., None] * colour + noise
    return np.round(255 * np.clip(image, 0, 1)).astype(np.uint8)


def orientation(image: np.ndarray, padding: int = 4) -> tuple[float, float]:
    """Angle and frequency of the dominant bars of an image, from its 2-D power spectrum.

    The image is taken to grey (ITU-R BT.601 weights), its mean removed, multiplied by a Hann
    window (so the borders add no spurious peaks) and zero-padded to ``padding`` times its size
    (a finer frequency grid); the strongest peak of the power spectrum above ``2 / min(H, W)``
    cycles per pixel (below that lies the window's own spread of the image's mean and of
    gradients across the whole image, not bars) is a wave vector k.

    :param image: RGB (H, W, 3) or grey (H, W), any range.
    :return: ``(angle, frequency)``: the angle of the bars in degrees in [0, 180), in the
        module's convention (counter-clockwise from the horizontal axis, y up; the bars run
        perpendicular to k), and |k| in cycles per pixel. A constant image raises ValueError.
    """
    from featviz_extras.images import LUMA_WEIGHTS

    grey = np.asarray(image, dtype=np.float64)
    if grey.ndim == 3 and grey.shape[-1] == 3:
        grey = grey @ np.array(LUMA_WEIGHTS)
    elif grey.ndim != 2:
        raise ValueError(f"image must have shape (H, W, 3) or (H, W), got {grey.shape}")
    height, width = grey.shape
    windowed = (grey - grey.mean()) * np.outer(np.hanning(height), np.hanning(width))
    if not np.any(windowed):
        raise ValueError("the image is constant: it has no bars to measure")
    shape = (padding * height, padding * width)
    power = np.abs(np.fft.rfft2(windowed, s=shape)) ** 2
    frequencies_down = np.fft.fftfreq(shape[0])[:, None]  # along the rows, downwards
    frequencies_x = np.fft.rfftfreq(shape[1])[None, :]
    power[np.hypot(frequencies_down, frequencies_x) < 2 / min(height, width)] = 0
    row, column = np.unravel_index(np.argmax(power), power.shape)
    frequency_down, frequency_x = frequencies_down[row, 0], frequencies_x[0, column]
    # wave vector with y up: (fx, -f_down); the bars run at 90 degrees to it
    wave_angle = math.degrees(math.atan2(-frequency_down, frequency_x))
    return (wave_angle + 90.0) % 180.0, math.hypot(frequency_x, frequency_down)


def angle_difference(first: float, second: float) -> float:
    """Smallest difference in degrees, in [0, 90], between two orientations modulo 180."""
    return abs((first - second + 90.0) % 180.0 - 90.0)
