"""Image parameterizations for gradient ascent.

Convention: the images the render loops optimize are float RGB in [-1, 1], shape
(N, H, W, 3); uint8 images in [0, 255] map to them by ``x / 127.5 - 1``.

* Pixel parameterization (the classic loop): the [-1, 1] pixels themselves, started from
  uniform random uint8 noise (:func:`noise_images`).
* :class:`FourierImage`: the image is built from Fourier coefficients scaled by
  1 / frequency (so high spatial frequencies change slowly), in a colour-decorrelated basis
  (luminance and two colour-opponent axes, scaled like natural-image colour statistics),
  squashed into [-1, 1] by a sigmoid. Gradient ascent on these parameters gives smooth,
  feature-like images rather than high-frequency noise (Olah et al. 2017, "Feature
  Visualization", Distill).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf


def noise_images(count: int, height: int, width: int, seed: int | None) -> np.ndarray:
    """Uniform random uint8 noise, ``numpy.random.default_rng(seed).integers(0, 256)``.

    :return: uint8 array (count, height, width, 3).
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


def uint8_to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 images in [0, 255] -> float32 in [-1, 1] (``x / 127.5 - 1``); any shape."""
    return np.asarray(images, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def unit_to_uint8(images: np.ndarray) -> np.ndarray:
    """float images in [-1, 1] -> uint8 ``(x + 1) / 2 * 255``, rounded to the nearest
    integer and clipped to [0, 255] (so it inverts :func:`uint8_to_unit`); any shape."""
    scaled = (np.asarray(images, dtype=np.float32) + 1.0) / 2.0 * 255.0
    return np.clip(np.rint(scaled), 0.0, 255.0).astype(np.uint8)


def _colour_basis() -> np.ndarray:
    """3x3 matrix whose columns are the RGB directions of the decorrelated channels.

    The principal colour axes of natural images are, to a good approximation, luminance
    (1, 1, 1) and two colour-opponent axes, (1, 0, -1) and (1, -2, 1); their standard
    deviations on ImageNet are roughly in the ratio 1 : 0.27 : 0.13.
    """
    axes = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    spreads = np.array([1.0, 0.27, 0.13])
    return (axes.T * spreads).astype(np.float32)


COLOUR_BASIS = _colour_basis()
"""float32 (3, 3): decorrelated colour vector d -> RGB vector ``COLOUR_BASIS @ d``."""


def radial_frequencies(height: int, width: int) -> np.ndarray:
    """Spatial frequency magnitude in cycles/pixel of each coefficient of a real 2D FFT
    of an image (height, width): array (height, width // 2 + 1)."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    return np.sqrt(fx**2 + fy**2)


@dataclass(frozen=True)
class FourierImage:
    """Fourier-space, colour-decorrelated parameterization of (N, height, width, 3) images.

    Parameters have shape (N, 2, 3, height, width // 2 + 1): real and imaginary parts of
    the 2D real FFT of each decorrelated colour channel. The coefficient at spatial
    frequency f (cycles/pixel) is multiplied by
    ``amplitude * sqrt(height * width) * (max(f, 1/L) * L) ** -decay`` (L = max(height,
    width)), so that a unit coefficient at the lowest frequency is a wave of amplitude about
    ``amplitude``; it is transformed back with an orthonormal inverse FFT, mapped to
    RGB with :data:`COLOUR_BASIS` (if ``decorrelate``) and squashed by a sigmoid into
    [-1, 1]: ``image = 2 * sigmoid(rgb) - 1``.
    """

    height: int
    width: int
    decay: float = 1.0
    amplitude: float = 0.25
    decorrelate: bool = True

    def parameter_shape(self, count: int) -> tuple[int, ...]:
        """Shape of the parameter array for ``count`` images."""
        return (count, 2, 3, self.height, self.width // 2 + 1)

    def scale(self) -> np.ndarray:
        """float32 (height, width // 2 + 1): the factor applied to each coefficient."""
        length = max(self.height, self.width)
        frequencies = np.maximum(radial_frequencies(self.height, self.width), 1.0 / length)
        # sqrt(height * width) undoes the 1 / sqrt(height * width) of the orthonormal FFT
        size = np.sqrt(self.height * self.width)
        return (self.amplitude * size * (frequencies * length) ** -self.decay).astype(np.float32)

    def colour_basis(self) -> np.ndarray:
        """float32 (3, 3) decorrelated -> RGB matrix (identity if not ``decorrelate``)."""
        return COLOUR_BASIS if self.decorrelate else np.eye(3, dtype=np.float32)

    def random_parameters(self, count: int, seed: int | None, std: float = 0.01) -> np.ndarray:
        """Small normal random parameters (a nearly uniform grey image), float32, seeded
        with ``numpy.random.default_rng(seed)``."""
        rng = np.random.default_rng(seed)
        return (std * rng.standard_normal(self.parameter_shape(count))).astype(np.float32)

    def images(self, parameters: tf.Tensor) -> tf.Tensor:
        """Parameters (N, 2, 3, height, width // 2 + 1) -> images (N, height, width, 3)
        in [-1, 1] (differentiable, TensorFlow)."""
        import tensorflow as tf

        scale = tf.constant(self.scale())
        spectrum = tf.complex(parameters[:, 0] * scale, parameters[:, 1] * scale)
        norm = float(np.sqrt(self.height * self.width))
        channels = tf.signal.irfft2d(spectrum, fft_length=[self.height, self.width]) * norm
        decorrelated = tf.transpose(channels, [0, 2, 3, 1])
        rgb = tf.einsum("nhwd,cd->nhwc", decorrelated, tf.constant(self.colour_basis()))
        return 2.0 * tf.sigmoid(rgb) - 1.0

    def parameters_from_images(self, images: np.ndarray, margin: float = 0.01) -> np.ndarray:
        """Inverse of :meth:`images` (NumPy): images (N, height, width, 3) in [-1, 1] ->
        float32 parameters. Values are first clipped into [-1 + 2 margin, 1 - 2 margin]
        so that the sigmoid can be inverted."""
        images = np.asarray(images, dtype=np.float64)
        if images.shape[1:] != (self.height, self.width, 3):
            raise ValueError(
                f"images must have shape (N, {self.height}, {self.width}, 3), got {images.shape}"
            )
        unit = np.clip((images + 1.0) / 2.0, margin, 1.0 - margin)
        rgb = np.log(unit / (1.0 - unit))
        decorrelated = rgb @ np.linalg.inv(self.colour_basis().astype(np.float64)).T
        spectrum = np.fft.rfft2(np.moveaxis(decorrelated, -1, 1), norm="ortho")
        spectrum /= self.scale()
        return np.stack([spectrum.real, spectrum.imag], axis=1).astype(np.float32)
