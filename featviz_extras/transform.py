"""Random geometric transformations for transformation robustness.

Each gradient-ascent step of the regularized loop shows the model a randomly jittered,
scaled and slightly rotated copy of the image, so the optimized pattern must survive
these changes and cannot rely on pixel-exact high-frequency noise. The three are combined
into a single affine resampling (bilinear, reflected at the borders) per image.
Random draws are stateless: the same seed tensor gives the same transformation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class Transforms:
    """Ranges of the random transformations.

    :param jitter: largest translation, in pixels (uniform in [-jitter, jitter] along x and y).
    :param scale: (smallest, largest) zoom factor (uniform).
    :param rotation: largest rotation angle, in degrees (uniform in [-rotation, rotation]).
    """

    jitter: float = 8.0
    scale: tuple[float, float] = (0.9, 1.1)
    rotation: float = 10.0

    def __post_init__(self):
        object.__setattr__(self, "scale", tuple(self.scale))  # hashable: a cache key
        if len(self.scale) != 2:
            raise ValueError(f"scale must be (smallest, largest), got {self.scale}")
        if self.jitter < 0 or self.rotation < 0:
            raise ValueError(f"jitter and rotation must be >= 0, got {self}")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(
                f"scale must be (smallest, largest) with 0 < smallest <= largest, got {self.scale}"
            )


def affine_matrices(
    translation: tf.Tensor, zoom: tf.Tensor, angle: tf.Tensor, height: int, width: int
) -> tf.Tensor:
    """Projective-transform rows (N, 8) for ``tf.raw_ops.ImageProjectiveTransformV3``.

    The output image is the input translated by ``translation`` (N, 2) pixels (x, y),
    zoomed by ``zoom`` (N,) and rotated by ``angle`` (N,) radians about the image centre
    (a positive angle turns the content clockwise as displayed, with y pointing down).
    Each row maps an output pixel (x, y) to the input pixel it samples.
    """
    import tensorflow as tf

    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    # input = centre + R(-angle) / zoom @ (output - centre - translation)
    shifted_x = centre_x + translation[:, 0]
    shifted_y = centre_y + translation[:, 1]
    zeros = tf.zeros_like(cos)
    return tf.stack(
        [
            cos, sin, centre_x - cos * shifted_x - sin * shifted_y,
            -sin, cos, centre_y + sin * shifted_x - cos * shifted_y,
            zeros, zeros,
        ],
        axis=1,
    )  # fmt: skip


def apply_affine(images: tf.Tensor, matrices: tf.Tensor) -> tf.Tensor:
    """Resample images (N, H, W, C) with rows (N, 8) from :func:`affine_matrices`
    (bilinear, reflected borders; differentiable with respect to the images)."""
    import tensorflow as tf

    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=tf.cast(matrices, tf.float32),
        output_shape=tf.shape(images)[1:3],
        fill_value=tf.constant(0.0),
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


def random_transform(
    images: tf.Tensor, seed: tf.Tensor, transforms: Transforms, strength: float | tf.Tensor = 1.0
) -> tf.Tensor:
    """Apply an independent random jitter + scale + rotation to each image.

    :param images: float (N, H, W, C), static H and W.
    :param seed: int32 tensor of shape (2,) for the stateless random draws.
    :param strength: scales every drawn transformation (translation and angle times
        ``strength``, zoom ``1 + strength * (zoom - 1)``): 1 uses the full ranges, 0 none.
    :return: the transformed images, same shape.
    """
    import tensorflow as tf

    count = tf.shape(images)[0]
    height, width = int(images.shape[1]), int(images.shape[2])
    uniform = tf.random.stateless_uniform(tf.stack([count, 4]), seed=seed)
    translation = strength * transforms.jitter * (2.0 * uniform[:, :2] - 1.0)
    smallest, largest = transforms.scale
    zoom = 1.0 + strength * (smallest + (largest - smallest) * uniform[:, 2] - 1.0)
    angle = strength * math.radians(transforms.rotation) * (2.0 * uniform[:, 3] - 1.0)
    return apply_affine(images, affine_matrices(translation, zoom, angle, height, width))
