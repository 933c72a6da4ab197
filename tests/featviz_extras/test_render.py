"""Tests of featviz_extras.render: the classic "seed" loop, the regularized loop, batching,
objectives, history, errors, and the high-frequency-share metric."""

import math

import numpy as np
import pytest

from featviz_extras import param, render

# ---- high_frequency_share (NumPy only) -------------------------------------------------


def _grating(frequency, angle_degrees=0.0, size=64):
    y, x = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    angle = math.radians(angle_degrees)
    wave = np.cos(2 * np.pi * frequency * (x * math.cos(angle) + y * math.sin(angle)))
    return np.repeat(wave[..., None], 3, axis=-1)


def test_high_frequency_share_of_noise_gratings_and_constant():
    noise = np.random.default_rng(0).uniform(0, 255, (256, 256, 3))
    # white noise: the fraction of the frequency square [-1/2, 1/2]^2 outside radius 1/4
    assert render.high_frequency_share(noise) == pytest.approx(1 - math.pi / 16, abs=0.01)
    assert render.high_frequency_share(param.noise_images(1, 224, 224, 0)[0]) == pytest.approx(
        0.80, abs=0.01)
    low, high = _grating(8 / 64), _grating(20 / 64)  # 0.125 and 0.3125 cycles/pixel
    assert render.high_frequency_share(low) < 1e-12
    assert render.high_frequency_share(high) == pytest.approx(1.0, abs=1e-12)
    assert render.high_frequency_share(low, cutoff=0.1) == pytest.approx(1.0, abs=1e-12)
    # a diagonal grating at 0.2 cycles/pixel along x and y has magnitude 0.28 > 0.25
    diagonal = _grating(math.hypot(0.2, 0.2), angle_degrees=45)
    assert render.high_frequency_share(diagonal) > 0.9
    # greyscale uses luma weights: the mean (a constant) is removed
    mixed = 0.5 * low + 0.5 * high + 100.0
    assert render.high_frequency_share(mixed) == pytest.approx(0.5, abs=1e-9)
    assert render.high_frequency_share(mixed[..., 0]) == pytest.approx(0.5, abs=1e-9)
    assert math.isnan(render.high_frequency_share(np.full((8, 8, 3), 7.0)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        render.high_frequency_share(np.zeros((4, 4, 4)))


# ---- models used below -----------------------------------------------------------------


def _small_cnn(seed=0):
    """conv1 (8 channels, relu) -> conv2 (6 channels, relu) -> global mean -> 4 classes
    (softmax); any image size."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


@pytest.fixture(scope="module")
def small_cnn():
    return _small_cnn()


@pytest.fixture(scope="module")
def vgg19():
    import keras

    from featviz_extras import models

    keras.utils.set_random_seed(0)
    return models.load_model("vgg19", weights=None, include_top=False)


# ---- planted feature -------------------------------------------------------------------


def _gabor_model(frequency, angle_degrees, size=25, sigma=6.0):
    """One Conv2D (relu, no bias) whose single filter is a Gabor grating of the given
    frequency (cycles/pixel) and orientation, the same on R, G and B."""
    import keras

    r = np.arange(size) - (size - 1) / 2
    y, x = np.meshgrid(r, r, indexing="ij")
    angle = math.radians(angle_degrees)
    kernel = np.exp(-(x**2 + y**2) / (2 * sigma**2)) * np.cos(
        2 * np.pi * frequency * (x * math.cos(angle) + y * math.sin(angle)))
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(1, size, use_bias=False, activation="relu", name="gabor")
    outputs = conv(inputs)
    conv.set_weights([np.repeat(kernel[:, :, None, None], 3, axis=2).astype(np.float32) / 3])
    return keras.Model(inputs, outputs)


def _spectral_peak(image, smoothing=2.0, radius=4.0):
    """(frequency in cycles/pixel, orientation in degrees mod 180) of the strongest peak of
    the greyscale power spectrum: argmax of the spectrum smoothed over ``smoothing`` bins,
    refined by the power-weighted centroid within ``radius`` bins of it."""
    from scipy import ndimage

    grey = image.astype(float) @ [0.299, 0.587, 0.114]
    size = grey.shape[0]
    power = np.fft.fftshift(np.abs(np.fft.fft2(grey - grey.mean())) ** 2)
    frequencies = np.fft.fftshift(np.fft.fftfreq(size))
    fy, fx = np.meshgrid(frequencies, frequencies, indexing="ij")
    smoothed = ndimage.gaussian_filter(power, smoothing, mode="wrap")
    peak = np.unravel_index(np.argmax(smoothed), power.shape)
    weights = power * (np.hypot(fy - fy[peak], fx - fx[peak]) <= radius / size)
    centre_y, centre_x = (weights * fy).sum() / weights.sum(), (weights * fx).sum() / weights.sum()
    return math.hypot(centre_y, centre_x), math.degrees(math.atan2(centre_y, centre_x)) % 180


def _angle_difference(a, b):
    return abs((a - b + 90) % 180 - 90)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "frequency", "angle", "steps"), [
    ("seed", 0.125, 30.0, 100),
    ("seed", 0.2, 70.0, 100),
    ("seed", 0.125, 135.0, 100),
    ("regularized", 0.2, 70.0, 200),
])
def test_planted_grating_is_recovered(method, frequency, angle, steps):
    model = _gabor_model(frequency, angle)
    image = render.visualize(model, "gabor", 0, steps=steps, size=256, seed=1, method=method)
    found_frequency, found_angle = _spectral_peak(image)
    assert found_frequency == pytest.approx(frequency, rel=0.05)
    assert _angle_difference(found_angle, angle) <= 3.0


# ---- the classic "seed" loop -----------------------------------------------------------


def _classic_loop(cut_model, channel, steps, step_size, seed, size):
    """Independent, straightforward version of the classic loop."""
    import tensorflow as tf

    noise = np.random.default_rng(seed).integers(0, 256, size=(1, size, size, 3), dtype=np.uint8)
    image = tf.convert_to_tensor(noise.astype(np.float32) / 127.5 - 1.0)

    @tf.function
    def step(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = tf.reduce_mean(cut_model(image)[..., channel])
        gradient = tape.gradient(loss, image)
        gradient /= tf.math.reduce_std(gradient) + 1e-8
        image = image + gradient * step_size
        return loss, tf.clip_by_value(image, -1.0, 1.0)

    losses = []
    for _ in range(steps):
        loss, image = step(image)
        losses.append(float(loss))
    return image.numpy()[0], losses


@pytest.mark.slow
def test_seed_method_matches_classic_loop_and_raises_activation(vgg19):
    import keras

    from featviz_extras import models

    cut = keras.Model(vgg19.input, vgg19.get_layer("block5_conv4").output)
    expected, losses = _classic_loop(cut, 4, steps=30, step_size=0.1, seed=0, size=64)
    image, history = render.visualize(vgg19, "block5_conv4", 4, steps=30, step_size=0.1,
                                      size=64, seed=0, output="float", return_history=True)
    np.testing.assert_allclose(image, expected, atol=1e-5)
    np.testing.assert_allclose(history.activation[:-1], losses, rtol=1e-5)
    # same seed -> identical image; another seed -> another image
    again = render.visualize(vgg19, "block5_conv4", 4, steps=30, size=64, seed=0)
    np.testing.assert_array_equal(again, param.unit_to_uint8(image))
    other = render.visualize(vgg19, "block5_conv4", 4, steps=30, size=64, seed=1)
    assert np.abs(other.astype(int) - again).mean() > 10
    # the channel's mean activation rises at least 10x from the noise start
    layer = models.layer_model(vgg19, "block5_conv4")
    start = param.uint8_to_unit(param.noise_images(1, 64, 64, seed=0))
    before = layer.predict(start, verbose=0)[..., 4].mean()
    after = layer.predict(image[None], verbose=0)[..., 4].mean()
    assert before > 0 and after >= 10 * before
    np.testing.assert_allclose([history.activation[0], history.activation[-1]], [before, after],
                               rtol=1e-4)


# ---- the regularized loop --------------------------------------------------------------


@pytest.mark.slow
def test_regularized_method_is_smooth_and_raises_activation(vgg19):
    """Random VGG19, block5_conv4 channel 4, 224x224: low high-frequency share (the noise
    start of the classic loop has about 0.80) and a >= 100x higher activation."""
    from featviz_extras import models

    settings = dict(size=224, seed=0, method="regularized", output="float")
    start = render.visualize(vgg19, "block5_conv4", 4, steps=0, **settings)
    image = render.visualize(vgg19, "block5_conv4", 4, steps=50, **settings)
    layer = models.layer_model(vgg19, "block5_conv4")
    before, after, noise = (layer.predict(x[None], verbose=0)[..., 4].mean() for x in
                            (start, image, param.uint8_to_unit(param.noise_images(1, 224, 224,
                                                                                  0))[0]))
    assert render.high_frequency_share(param.unit_to_uint8(image)) <= 0.10
    assert before > 0 and after >= 100 * before
    assert after > 2 * noise  # better than the noise the classic loop starts from
    assert render.high_frequency_share(param.noise_images(1, 224, 224, 0)[0]) > 0.75
    # not a flat image: the colours span a good part of the range
    assert param.unit_to_uint8(image).std() > 20


@pytest.mark.slow
def test_regularized_is_reproducible_and_supports_start(small_cnn):
    kwargs = dict(steps=15, size=48, method="regularized")
    first = render.visualize(small_cnn, "conv2", 1, seed=3, **kwargs)
    np.testing.assert_array_equal(first, render.visualize(small_cnn, "conv2", 1, seed=3, **kwargs))
    assert not np.array_equal(first, render.visualize(small_cnn, "conv2", 1, seed=4, **kwargs))
    # a start image is reproduced (through the inverse parameterization) at step 0
    start = np.random.default_rng(0).integers(20, 236, (48, 48, 3), dtype=np.uint8)
    again = render.visualize(small_cnn, "conv2", 1, steps=0, size=None, seed=3, start=start,
                             method="regularized")
    assert np.abs(again.astype(int) - start).max() <= 1


@pytest.mark.slow
def test_total_variation_penalty_smooths_the_image(small_cnn):
    def variation(image):
        image = image.astype(float)
        return (np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean())

    kwargs = dict(steps=30, size=48, seed=0, method="regularized")
    plain = render.visualize(small_cnn, "conv2", 1, **kwargs)
    smooth = render.visualize(small_cnn, "conv2", 1, **kwargs,
                              regularization=render.Regularization(tv_weight=2.0))
    assert variation(smooth) < 0.7 * variation(plain)


# ---- batch mode ------------------------------------------------------------------------


@pytest.mark.slow
def test_batch_equals_sequential_seed_renders(small_cnn):
    channels = [0, 3, 5]
    starts = param.noise_images(3, 40, 40, seed=7)
    batch, history = render.visualize_batch(small_cnn, "conv2", channels, steps=10, start=starts,
                                            output="float", return_history=True)
    assert batch.shape == (3, 40, 40, 3) and history.activation.shape == (11, 3)
    for index, channel in enumerate(channels):
        single = render.visualize(small_cnn, "conv2", channel, steps=10, start=starts[index],
                                  output="float")
        np.testing.assert_allclose(batch[index], single, atol=1e-4)
    # the default batch start is the seeded noise of all images at once
    seeded = render.visualize_batch(small_cnn, "conv2", channels, steps=10, seed=7, size=40)
    np.testing.assert_array_equal(seeded, param.unit_to_uint8(batch))


@pytest.mark.slow
def test_batch_regularized_each_image_maximizes_its_channel(small_cnn):
    from featviz_extras import models

    channels = [1, 2, 4]
    images = render.visualize_batch(small_cnn, "conv2", channels, steps=40, size=48, seed=0,
                                    method="regularized", output="float")
    means = models.layer_model(small_cnn, "conv2").predict(images, verbose=0).mean(axis=(1, 2))
    for index, channel in enumerate(channels):
        own = means[index, channel]
        others = np.delete(means[:, channel], index)
        assert own > 1.5 * others.max()


# ---- objectives through visualize ------------------------------------------------------


@pytest.mark.slow
def test_neuron_layer_and_class_logit_objectives(small_cnn):
    from featviz_extras import models, objectives

    conv2 = models.layer_model(small_cnn, "conv2")
    # neuron (x=3, y=5, channel 2) of conv2 for 32x32 images (feature map 15x15)
    image, history = render.visualize(small_cnn, "conv2", 2, steps=20, size=32, seed=0,
                                      objective="neuron", position=(3, 5), output="float",
                                      return_history=True)
    value = conv2.predict(image[None], verbose=0)[0, 5, 3, 2]
    np.testing.assert_allclose(history.activation[-1], value, rtol=1e-5)
    assert value > 5 * max(history.activation[0], 1e-3)
    # DeepDream: mean squared activation of the whole layer
    image, history = render.visualize(small_cnn, "conv1", None, steps=20, size=32, seed=0,
                                      objective="layer", output="float", return_history=True)
    value = np.mean(models.layer_model(small_cnn, "conv1").predict(image[None], verbose=0) ** 2)
    np.testing.assert_allclose(history.activation[-1], value, rtol=1e-5)
    assert value > 3 * history.activation[0]
    # class logit (pre-softmax) of class 3
    image, history = render.visualize(small_cnn, None, 3, steps=20, size=32, seed=0,
                                      objective="class_logit", output="float",
                                      return_history=True)
    logits = objectives.logits_model(small_cnn).predict(image[None], verbose=0)[0]
    np.testing.assert_allclose(history.activation[-1], logits[3], rtol=1e-5)
    assert logits[3] > max(10 * history.activation[0], 0.5)
    assert np.argmax(logits) == 3


@pytest.mark.slow
def test_preprocess_callable_is_applied(small_cnn):
    from featviz_extras import models

    def halve(images):
        return images * 0.5

    _, history = render.visualize(small_cnn, "conv2", 1, steps=0, size=32, seed=2,
                                  preprocess=halve, return_history=True)
    start = param.uint8_to_unit(param.noise_images(1, 32, 32, 2))
    expected = models.layer_model(small_cnn, "conv2").predict(0.5 * start, verbose=0)
    np.testing.assert_allclose(history.activation, [expected[..., 1].mean()], rtol=1e-5)


# ---- history, caching ------------------------------------------------------------------


@pytest.mark.slow
def test_history_frames_and_activation(small_cnn):
    image, history = render.visualize(small_cnn, "conv2", 0, steps=25, size=32, seed=5,
                                      return_history=True, frame_every=10)
    assert history.activation.shape == (26,)
    assert history.frame_steps == [0, 10, 20, 25]
    assert all(frame.dtype == np.uint8 and frame.shape == (32, 32, 3)
               for frame in history.frames)
    np.testing.assert_array_equal(history.frames[0], param.noise_images(1, 32, 32, 5)[0])
    np.testing.assert_array_equal(history.frames[-1], image)
    assert history.activation[-1] > history.activation[0]
    _, history = render.visualize(small_cnn, "conv2", 0, steps=12, size=32, seed=5,
                                  method="regularized", return_history=True, frame_every=5)
    assert history.activation.shape == (13,) and history.frame_steps == [0, 5, 10, 12]
    assert history.activation[-1] > history.activation[0]


@pytest.mark.slow
def test_compiled_steps_are_reused_across_channels_and_calls():
    model = _small_cnn(seed=1)
    render.visualize(model, "conv2", 0, steps=2, size=32, seed=0)
    cache = render._COMPILED[model]
    step = cache[("seed", "channel", "conv2", render._identity)]
    render.visualize(model, "conv2", 5, steps=3, size=32, seed=1)
    render.visualize(model, "conv2", 2, steps=3, size=32, seed=2, step_size=0.05)
    assert len(cache) == 1
    assert step.experimental_get_tracing_count() == 1


# ---- errors ----------------------------------------------------------------------------


@pytest.mark.slow
def test_bad_arguments_raise_clear_errors(small_cnn):
    import keras

    from featviz_extras import objectives

    def run(**kwargs):
        arguments = dict(model=small_cnn, layer="conv2", channel=0, steps=1, size=32, seed=0)
        arguments.update(kwargs)
        return render.visualize(**arguments)

    with pytest.raises(ValueError, match="no layer 'conv3'.*conv1, conv2, pool"):
        run(layer="conv3")
    with pytest.raises(IndexError, match="6 channels"):
        run(channel=6)
    with pytest.raises(ValueError, match="valid methods are"):
        run(method="lucid")
    with pytest.raises(ValueError, match="valid objectives are"):
        run(objective="dream")
    with pytest.raises(ValueError, match="pass layer=None"):
        run(objective="class_logit", layer="predictions")
    with pytest.raises(IndexError, match="4 output classes"):
        run(objective="class_logit", layer=None, channel=4)
    with pytest.raises(ValueError, match="pass channel=None"):
        run(objective="layer")
    with pytest.raises(ValueError, match="position"):
        run(objective="neuron")
    with pytest.raises(IndexError, match=r"14x14.*32x32"):
        run(objective="neuron", position=(14, 0))
    with pytest.raises(TypeError, match="uint8"):
        run(size=None, start=np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="size=40"):
        run(size=40, start=np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="seed"):
        run(seed=-1)
    with pytest.raises(ValueError, match="steps"):
        run(steps=-1)
    with pytest.raises(ValueError, match="frame_every"):
        run(frame_every=0)
    with pytest.raises(ValueError, match="output"):
        run(output="png")
    with pytest.raises(ValueError, match="only apply to method='regularized'"):
        run(regularization=render.Regularization(tv_weight=0.1))
    with pytest.raises(ValueError, match=r"one image per objective, shape \(1, H, W, 3\)"):
        render.render(small_cnn, [objectives.channel("conv2", 0)], steps=1,
                      start=np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        render.visualize_batch(small_cnn, "conv2", [])
    with pytest.raises(ValueError, match="3 images but 2 channels"):
        render.visualize_batch(small_cnn, "conv2", [0, 1],
                               start=np.zeros((3, 32, 32, 3), np.uint8))
    fixed = keras.Sequential([keras.Input((20, 20, 3)), keras.layers.Conv2D(2, 3, name="c")])
    with pytest.raises(ValueError, match="takes 20x20 images, not 32x32"):
        render.visualize(fixed, "c", 0, steps=1, size=32)
    # the fixed input size is the default size
    assert render.visualize(fixed, "c", 1, steps=1, seed=0).shape == (20, 20, 3)
