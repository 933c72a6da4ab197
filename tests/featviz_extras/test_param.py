"""Tests of featviz_extras.param (image parameterizations) and featviz_extras.transform."""

import math

import numpy as np
import pytest

from featviz_extras import param, transform


def test_noise_images_are_seeded_uniform_uint8():
    first = param.noise_images(2, 16, 24, seed=3)
    assert first.dtype == np.uint8 and first.shape == (2, 16, 24, 3)
    np.testing.assert_array_equal(first, param.noise_images(2, 16, 24, seed=3))
    assert not np.array_equal(first, param.noise_images(2, 16, 24, seed=4))
    expected = np.random.default_rng(3).integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
    np.testing.assert_array_equal(first, expected)
    large = param.noise_images(1, 128, 128, seed=0)
    assert large.min() == 0 and large.max() == 255
    assert abs(large.mean() - 127.5) < 1.0


def test_uint8_unit_round_trip():
    values = np.arange(256, dtype=np.uint8)
    unit = param.uint8_to_unit(values)
    assert unit.dtype == np.float32
    assert unit[0] == -1.0 and unit[-1] == 1.0
    np.testing.assert_allclose(unit[128], 128 / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(param.unit_to_uint8(unit), values)
    # out of range values are clipped, halves round to the nearest integer
    out = param.unit_to_uint8(np.array([-3.0, 3.0, 0.0, 1.0 / 255.0 - 1.0 + 1e-4]))
    np.testing.assert_array_equal(out, [0, 255, 128, 1])


def test_radial_frequencies_layout():
    frequencies = param.radial_frequencies(8, 6)
    assert frequencies.shape == (8, 4)
    assert frequencies[0, 0] == 0
    np.testing.assert_allclose(frequencies[0, 1], 1 / 6)
    np.testing.assert_allclose(frequencies[1, 0], 1 / 8)
    np.testing.assert_allclose(frequencies[7, 0], 1 / 8)  # negative frequency -1/8
    np.testing.assert_allclose(frequencies[4, 3], math.hypot(0.5, 0.5))


def test_colour_basis_is_luminance_and_opponent_axes():
    basis = param.COLOUR_BASIS
    # columns: luminance (equal RGB) with the largest spread, then two opponent axes
    np.testing.assert_allclose(basis[:, 0], np.full(3, 1 / math.sqrt(3)), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(basis, axis=0), [1.0, 0.27, 0.13], rtol=1e-6)
    np.testing.assert_allclose(basis.sum(axis=0)[1:], 0.0, atol=1e-7)
    gram = basis.T @ basis
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-7)


def test_fourier_scale_decreases_with_frequency():
    fourier = param.FourierImage(32, 32, decay=1.0, amplitude=0.25)
    scale = fourier.scale()
    frequencies = param.radial_frequencies(32, 32)
    order = np.argsort(frequencies, axis=None)
    assert np.all(np.diff(scale.flat[order]) <= 1e-6)
    # the DC term is clamped to the lowest frequency 1/32: amplitude * sqrt(32 * 32)
    np.testing.assert_allclose(scale[0, 0], 0.25 * 32, rtol=1e-6)
    np.testing.assert_allclose(scale[0, 1], 0.25 * 32, rtol=1e-6)
    np.testing.assert_allclose(scale[0, 16], 0.25 * 32 / 16, rtol=1e-6)


def test_fourier_single_coefficient_is_a_plane_wave():
    height, width = 32, 48
    fourier = param.FourierImage(height, width, decay=1.0, amplitude=0.25, decorrelate=False)
    parameters = np.zeros(fourier.parameter_shape(1), dtype=np.float32)
    ky, kx = 3, 5  # frequency (3/32, 5/48) cycles/pixel
    parameters[0, 0, 0, ky, kx] = 1.0  # real part, red channel
    images = fourier.images(parameters).numpy()
    assert images.shape == (1, height, width, 3)
    np.testing.assert_allclose(images[0, ..., 1:], 0.0, atol=1e-6)
    # red = 2 sigmoid(a cos(2 pi (ky y / H + kx x / W))) - 1 with
    # a = 2 * scale / sqrt(H W) (a coefficient and its conjugate partner)
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    amplitude = 2 * fourier.scale()[ky, kx] / math.sqrt(height * width)
    wave = amplitude * np.cos(2 * np.pi * (ky * y / height + kx * x / width))
    np.testing.assert_allclose(images[0, ..., 0], 2 / (1 + np.exp(-wave)) - 1, atol=1e-5)


def test_fourier_parameters_from_images_inverts_images():
    fourier = param.FourierImage(24, 20)
    rng = np.random.default_rng(0)
    images = rng.uniform(-0.9, 0.9, size=(2, 24, 20, 3)).astype(np.float32)
    parameters = fourier.parameters_from_images(images)
    assert parameters.shape == fourier.parameter_shape(2)
    np.testing.assert_allclose(fourier.images(parameters).numpy(), images, atol=1e-4)
    with pytest.raises(ValueError, match=r"\(N, 24, 20, 3\)"):
        fourier.parameters_from_images(images[:, :10])


def test_fourier_random_parameters_give_nearly_grey_seeded_images():
    fourier = param.FourierImage(64, 64)
    parameters = fourier.random_parameters(3, seed=1)
    np.testing.assert_array_equal(parameters, fourier.random_parameters(3, seed=1))
    images = fourier.images(parameters).numpy()
    assert images.shape == (3, 64, 64, 3)
    assert 0.0 < np.abs(images).max() < 0.2
    assert np.all(np.abs(images) < 1.0)


# ---- transform -------------------------------------------------------------------------


def _pattern(height=20, width=20):
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    image = np.stack([np.sin(0.3 * x + 0.1 * y), np.cos(0.2 * y), x * y / 400.0], axis=-1)
    return image[None].astype(np.float32)


def _affine(image, translation=(0.0, 0.0), zoom=1.0, angle=0.0):
    matrices = transform.affine_matrices(
        np.array([translation], np.float32),
        np.array([zoom], np.float32),
        np.array([angle], np.float32),
        *image.shape[1:3],
    )
    return transform.apply_affine(image, matrices).numpy()


def test_affine_identity_translation_rotation():
    image = _pattern()
    np.testing.assert_allclose(_affine(image), image, atol=1e-6)
    # translation by (dx, dy) = (3, 2) pixels: output[y, x] = input[y - 2, x - 3]
    shifted = _affine(image, translation=(3.0, 2.0))
    np.testing.assert_allclose(shifted[0, 2:, 3:], image[0, :-2, :-3], atol=1e-5)
    # a quarter turn (positive angle: clockwise as displayed, y pointing down)
    turned = _affine(image, angle=math.pi / 2)
    np.testing.assert_allclose(turned[0], np.rot90(image[0], k=-1), atol=1e-4)
    # zoom 2 about the centre c = 9.5 of a ramp: output[x] = c + (x - c) / 2 (bilinear
    # interpolation is exact on a ramp)
    ramp = np.broadcast_to(np.arange(20, dtype=np.float32)[None, None, :, None], (1, 20, 20, 3))
    zoomed = _affine(np.ascontiguousarray(ramp), zoom=2.0)
    np.testing.assert_allclose(zoomed[0, 10, :, 0], 9.5 + (np.arange(20) - 9.5) / 2, atol=1e-4)


def test_transforms_validation():
    with pytest.raises(ValueError, match="jitter"):
        transform.Transforms(jitter=-1)
    with pytest.raises(ValueError, match="scale"):
        transform.Transforms(scale=(1.2, 1.1))


def test_random_transform_is_seeded_and_differentiable():
    import tensorflow as tf

    images = tf.constant(np.repeat(_pattern(32, 32), 2, axis=0))
    settings = transform.Transforms(jitter=4, scale=(0.9, 1.1), rotation=10)
    seed = tf.constant([7, 0], dtype=tf.int64)
    first = transform.random_transform(images, seed, settings).numpy()
    np.testing.assert_array_equal(first, transform.random_transform(images, seed, settings))
    other = transform.random_transform(images, tf.constant([7, 1], tf.int64), settings)
    assert np.abs(first - other.numpy()).max() > 0.1
    # the two images of the batch get different transformations
    assert np.abs(first[0] - first[1]).max() > 0.1
    # no transformation at all when every range is zero, or at strength 0
    still = transform.random_transform(images, seed, transform.Transforms(0, (1, 1), 0))
    np.testing.assert_allclose(still.numpy(), images.numpy(), atol=1e-5)
    weak = transform.random_transform(images, seed, settings, strength=0.0)
    np.testing.assert_allclose(weak.numpy(), images.numpy(), atol=1e-5)
    # at strength 1/2, a pure translation moves half as far
    shift = transform.Transforms(jitter=4, scale=(1, 1), rotation=0)
    ramp = tf.constant(
        np.broadcast_to(np.arange(32, dtype=np.float32)[None, None, :, None], (2, 32, 32, 3)).copy()
    )
    full = ramp.numpy()[:, 16, 16, 0] - transform.random_transform(ramp, seed, shift)[:, 16, 16, 0]
    half = (
        ramp.numpy()[:, 16, 16, 0]
        - transform.random_transform(ramp, seed, shift, strength=0.5)[:, 16, 16, 0]
    )
    np.testing.assert_allclose(half, full / 2, atol=1e-4)
    assert np.abs(full).max() > 0.5
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(transform.random_transform(images, seed, settings) ** 2)
    gradient = tape.gradient(total, images).numpy()
    assert np.isfinite(gradient).all() and np.abs(gradient).max() > 0
