"""Tests of featviz_extras.render: the classic "seed" loop, the regularized loop, batching,
objectives, history, errors, and the high-frequency-share metric."""

import math

import numpy as np
import pytest
from featviz_testing import angle_difference, spectral_peak

from featviz_extras import models, param, render

# ---- settings (no TensorFlow) ------------------------------------------------------------


def test_settings_defaults_replace_and_validation():
    settings = render.Settings()
    assert (settings.steps, settings.method, settings.output) == (100, "seed", "uint8")
    assert settings.resolved_step_size() == render.DEFAULT_STEP_SIZE["seed"] == 0.1
    regularized = settings.replace(method="regularized", steps=5)
    assert regularized.resolved_step_size() == render.DEFAULT_STEP_SIZE["regularized"]
    assert regularized.steps == 5
    assert settings.steps == 100  # replace makes a copy
    assert regularized.replace(step_size=0.3).resolved_step_size() == 0.3
    for bad, message in [
        (dict(method="lucid"), "valid methods are"),
        (dict(output="png"), "output must be 'uint8' or 'float'"),
        (dict(steps=-1), "steps must be a non-negative integer"),
        (dict(steps=2.5), "steps must be a non-negative integer"),
        (dict(frame_every=0), "frame_every must be an integer >= 1"),
        (dict(seed=-1), "seed must be a non-negative integer or None"),
        (dict(seed=True), "seed must be a non-negative integer or None"),
        (dict(size=0), "size must be a positive integer or None"),
        (
            dict(regularization=render.Regularization()),
            "regularization settings only apply to method='regularized'",
        ),
    ]:
        with pytest.raises(ValueError, match=message):
            render.Settings(**bad)
    with pytest.raises(TypeError, match="stpes"):
        settings.replace(stpes=3)


def test_regularization_fade_schedule():
    fading = render.Regularization(fade=0.5)
    strengths = [fading.strength(step, 10) for step in range(10)]
    np.testing.assert_allclose(strengths, [1.0, 0.8, 0.6, 0.4, 0.2, 0, 0, 0, 0, 0], atol=1e-12)
    assert render.Regularization(fade=None).strength(9, 10) == 1.0
    assert render.Regularization(fade=1.0).strength(5, 10) == pytest.approx(0.5)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="fade must be None or a fraction in"):
            render.Regularization(fade=bad)
    with pytest.raises(ValueError, match="start_std must be >= 0, got -0.1"):
        render.Regularization(start_std=-0.1)


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
        2 * np.pi * frequency * (x * math.cos(angle) + y * math.sin(angle))
    )
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(1, size, use_bias=False, activation="relu", name="gabor")
    outputs = conv(inputs)
    conv.set_weights([np.repeat(kernel[:, :, None, None], 3, axis=2).astype(np.float32) / 3])
    return keras.Model(inputs, outputs)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "frequency", "angle", "steps"),
    [
        ("seed", 0.125, 30.0, 100),
        ("seed", 0.2, 70.0, 100),
        ("seed", 0.125, 135.0, 100),
        ("regularized", 0.2, 70.0, 200),
    ],
)
def test_planted_grating_is_recovered(method, frequency, angle, steps):
    model = _gabor_model(frequency, angle)
    image = render.visualize(model, "gabor", 0, steps=steps, size=256, seed=1, method=method)
    found_frequency, found_angle = spectral_peak(image)
    assert found_frequency == pytest.approx(frequency, rel=0.05)
    assert angle_difference(found_angle, angle) <= 3.0


# ---- the classic "seed" loop -----------------------------------------------------------


def _published_classic_loop(cut_model, channel, start, steps, step_size, epsilon=0.0):
    """The classic loop written from its published description (docs/featviz.md), in NumPy
    around a TensorFlow gradient: x = u / 127.5 - 1; each step g = d mean(channel) / dx,
    x = clip(x + step_size * g / std(g), -1, 1); output uint8(255 (x + 1) / 2), truncated.
    ``epsilon`` > 0 gives the variant g / (std(g) + epsilon), to show the test sees it.

    :return: (float image (H, W, 3) in [-1, 1], uint8 image, objective before each step).
    """
    import tensorflow as tf

    if start.dtype == np.uint8:
        x = start[None].astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    else:  # a float start is the first image as it is
        x = start[None].astype(np.float32)
    losses = []
    for _ in range(steps):
        image = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = tf.reduce_mean(cut_model(image)[..., channel])
        g = tape.gradient(loss, image).numpy()
        x = np.clip(x + np.float32(step_size) * (g / (g.std() + np.float32(epsilon))), -1, 1)
        losses.append(float(loss))
    return x[0], (255 * (x[0] + 1) / 2).astype(np.uint8), losses


def _well_conditioned_cnn():
    """conv 5x5 (4 channels, tanh) -> conv 3x3 (3 channels, linear), any image size: smooth,
    so rounding differences do not grow from step to step. Its kernels are scaled so that the
    gradient of a channel mean has a standard deviation of about 1e-7, as block5_conv4 of a
    randomly initialised VGG19 has: there an epsilon of 1e-8 added to std(g) would change
    every step by about 10 %."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    first = keras.layers.Conv2D(4, 5, activation="tanh", name="conv1")
    second = keras.layers.Conv2D(3, 3, name="conv2")
    model = keras.Model(inputs, second(first(inputs)), name="well_conditioned")
    kernel, bias = second.get_weights()
    second.set_weights([kernel * 5e-4, bias])
    return model


def test_seed_method_is_the_published_classic_loop():
    """20 steps at 32x32 against the loop written from the published formula (no epsilon):
    <= 1e-5 in float and <= 1 uint8 level (the recipe truncates, the package rounds)."""
    model = _well_conditioned_cnn()
    start = param.noise_images(1, 32, 32, seed=4)[0]
    cut = models.layer_model(model, "conv2")
    expected, expected_uint8, losses = _published_classic_loop(cut, 1, start, 20, 0.1)
    settings = render.Settings(steps=20, step_size=0.1, output="float", return_history=True)
    image, history = render.visualize(model, "conv2", 1, settings, start=start)
    # the test is sharp enough to see the epsilon of the old step
    g_spread = _gradient_spread(cut, 1, start)
    assert 3e-8 < g_spread < 3e-7
    with_epsilon = _published_classic_loop(cut, 1, start, 20, 0.1, epsilon=1e-8)[0]
    assert np.abs(with_epsilon - expected).max() > 10 * (2 / 255)
    np.testing.assert_allclose(image, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(history.activation[:-1], losses, rtol=1e-5)
    assert history.activation[-1] > 2 * history.activation[0]
    as_uint8 = render.visualize(model, "conv2", 1, settings.replace(output="uint8"), start=start)[0]
    assert np.abs(as_uint8.astype(int) - expected_uint8).max() <= 1
    # many pixels saturate at -1 or 1: the clip is exercised
    assert 0.1 < np.mean(np.abs(expected) == 1) < 0.9
    # the recipe as its code runs: a caffe-preprocessed (float) start, clipped by the first step
    raw = models.preprocess("vgg19", start[None])[0]
    assert raw.min() < -100 and raw.max() > 100
    expected_raw = _published_classic_loop(cut, 1, raw, 20, 0.1)[0]
    image_raw = render.visualize(
        model, "conv2", 1, settings.replace(return_history=False), start=raw
    )
    np.testing.assert_allclose(image_raw, expected_raw, atol=1e-5, rtol=0)


def _gradient_spread(cut, channel, start):
    import tensorflow as tf

    image = tf.constant(param.uint8_to_unit(start)[None])
    with tf.GradientTape() as tape:
        tape.watch(image)
        loss = tf.reduce_mean(cut(image)[..., channel])
    return float(np.std(tape.gradient(loss, image).numpy()))


def _dead_channel_cnn():
    """conv1 (2 channels, relu): channel 0 is live (a fixed kernel, no bias), channel 1 is
    dead (zero kernel, bias -1: its output, and gradient, are always zero)."""
    import keras

    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(2, 3, activation="relu", name="conv1")
    model = keras.Model(inputs, conv(inputs), name="dead_channel")
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[..., 0] = np.random.default_rng(0).normal(size=(3, 3, 3))
    conv.set_weights([kernel, np.array([0.0, -1.0], np.float32)])
    return model


def test_dead_channel_leaves_the_image_unchanged_with_a_warning():
    model = _dead_channel_cnn()
    start = param.noise_images(2, 16, 16, seed=0)
    with pytest.warns(
        render.ZeroGradientWarning,
        match=r"exactly zero.*channel \[1\] of conv1 \(image 1: 5 of 5 steps\)",
    ):
        images = render.visualize_batch(model, "conv1", [0, 1], steps=5, start=start)
    np.testing.assert_array_equal(images[1], start[1])  # the dead channel's image
    assert np.abs(images[0].astype(int) - start[0]).mean() > 5  # the live one moved
    assert np.all(np.isfinite(images.astype(float)))


def test_dead_channel_in_the_regularized_loop_warns_too():
    """Without a start image the regularized loop starts from random Fourier parameters; the
    dead channel's image gets no gradient at all, so it stays the start image (the render with
    0 steps), and the warning says so; the live channel's image moves."""
    model = _dead_channel_cnn()
    kwargs = dict(size=16, seed=0, method="regularized", output="float")
    with pytest.warns(
        render.ZeroGradientWarning,
        match=r"exactly zero, so the objective gave the image no direction at those steps.*"
        r"channel \[1\] of conv1 \(image 1: 5 of 5 steps\)",
    ):
        images = render.visualize_batch(model, "conv1", [0, 1], steps=5, **kwargs)
    starts = render.visualize_batch(model, "conv1", [0, 1], steps=0, **kwargs)
    np.testing.assert_array_equal(images[1], starts[1])
    assert np.abs(images[0] - starts[0]).mean() > 0.01


def test_regularized_start_spread_follows_start_std(small_cnn):
    """The start image is the sigmoid of a linear map of the parameters: for small
    parameters its spread around grey grows in proportion to start_std."""
    spreads = {}
    for start_std in (0.01, 0.2):
        image = render.visualize(
            small_cnn,
            "conv2",
            0,
            steps=0,
            size=64,
            seed=1,
            method="regularized",
            output="float",
            regularization=render.Regularization(start_std=start_std),
        )
        spreads[start_std] = float(image.std())
    assert spreads[0.2] / spreads[0.01] == pytest.approx(20, rel=0.1)
    assert render.Regularization().start_std == 0.2
    default = render.visualize(
        small_cnn, "conv2", 0, steps=0, size=64, seed=1, method="regularized"
    )
    assert 5 < default.std() < 30  # uint8 levels: a start with some contrast, not flat grey


@pytest.mark.slow
def test_seed_method_on_random_vgg19_is_seeded_and_raises_activation(vgg19):
    image, history = render.visualize(
        vgg19, "block5_conv4", 4, steps=30, size=64, seed=0, output="float", return_history=True
    )
    # same seed -> identical image; another seed -> another image
    again = render.visualize(vgg19, "block5_conv4", 4, steps=30, size=64, seed=0)
    np.testing.assert_array_equal(again, param.unit_to_uint8(image))
    other = render.visualize(vgg19, "block5_conv4", 4, steps=30, size=64, seed=1)
    assert np.abs(other.astype(int) - again).mean() > 10
    # the channel's mean activation rises at least 10x from the noise start
    layer = _vgg19_prefix(vgg19, "block5_conv4")
    start = param.uint8_to_unit(param.noise_images(1, 64, 64, seed=0))
    before = layer(start)[..., 4].mean()
    after = layer(image[None])[..., 4].mean()
    assert before > 0 and after >= 10 * before
    np.testing.assert_allclose(
        [history.activation[0], history.activation[-1]], [before, after], rtol=1e-4
    )


def _vgg19_prefix(vgg19, last):
    """The layers of ``vgg19`` up to ``last`` applied one after the other (not a cut model):
    a function of (N, H, W, 3) float arrays returning NumPy activations."""

    def apply(images):
        x = images
        for layer in vgg19.layers[1:]:
            x = layer(x)
            if layer.name == last:
                return np.asarray(x)
        raise ValueError(last)

    return apply


# ---- the regularized loop --------------------------------------------------------------


@pytest.mark.slow
def test_regularized_method_is_smooth_and_keeps_activation(vgg19):
    """Random VGG19, block5_conv4 channel 4, 112x112, 50 steps each: the regularized image
    reaches >= 0.3x the classic loop's activation with a high-frequency share <= 0.10 (the
    classic image has about 0.8). bench/bench_featviz_quality.py measures it at 224x224."""
    from featviz_extras import images

    settings = render.Settings(steps=50, size=112, seed=0, output="float")
    classic = render.visualize(vgg19, "block5_conv4", 4, settings)
    image = render.visualize(vgg19, "block5_conv4", 4, settings, method="regularized")
    layer = _vgg19_prefix(vgg19, "block5_conv4")
    noise = param.uint8_to_unit(param.noise_images(1, 112, 112, 0))
    a_noise, a_classic, a_regularized = (
        layer(x.reshape(1, 112, 112, 3))[..., 4].mean() for x in (noise, classic, image)
    )
    assert a_classic > 20 * a_noise > 0
    assert a_regularized >= 0.3 * a_classic
    assert images.high_frequency_share(param.unit_to_uint8(image)) <= 0.10
    assert images.high_frequency_share(param.unit_to_uint8(classic)) > 0.7
    # not a flat image: the colours span a good part of the range
    assert param.unit_to_uint8(image).std() > 20


def test_regularized_is_reproducible_and_supports_start(small_cnn):
    kwargs = dict(steps=15, size=48, method="regularized")
    first = render.visualize(small_cnn, "conv2", 1, seed=3, **kwargs)
    np.testing.assert_array_equal(first, render.visualize(small_cnn, "conv2", 1, seed=3, **kwargs))
    assert not np.array_equal(first, render.visualize(small_cnn, "conv2", 1, seed=4, **kwargs))
    # a start image is reproduced (through the inverse parameterization) at step 0
    start = np.random.default_rng(0).integers(20, 236, (48, 48, 3), dtype=np.uint8)
    again = render.visualize(
        small_cnn, "conv2", 1, steps=0, size=None, seed=3, start=start, method="regularized"
    )
    assert np.abs(again.astype(int) - start).max() <= 1


def test_total_variation_penalty_smooths_the_image(small_cnn):
    def variation(image):
        image = image.astype(float)
        return np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean()

    kwargs = dict(steps=30, size=48, seed=0, method="regularized")
    plain = render.visualize(small_cnn, "conv2", 1, **kwargs)
    smooth = render.visualize(
        small_cnn, "conv2", 1, **kwargs, regularization=render.Regularization(tv_weight=2.0)
    )
    assert variation(smooth) < 0.7 * variation(plain)


# ---- batch mode ------------------------------------------------------------------------


def test_batch_equals_sequential_seed_renders(small_cnn):
    channels = [0, 3, 5]
    starts = param.noise_images(3, 40, 40, seed=7)
    batch, history = render.visualize_batch(
        small_cnn, "conv2", channels, steps=10, start=starts, output="float", return_history=True
    )
    assert batch.shape == (3, 40, 40, 3) and history.activation.shape == (11, 3)
    for index, channel in enumerate(channels):
        single = render.visualize(
            small_cnn, "conv2", channel, steps=10, start=starts[index], output="float"
        )
        np.testing.assert_allclose(batch[index], single, atol=1e-4)
    # the default batch start is the seeded noise of all images at once
    seeded = render.visualize_batch(small_cnn, "conv2", channels, steps=10, seed=7, size=40)
    np.testing.assert_array_equal(seeded, param.unit_to_uint8(batch))


def test_batch_regularized_each_image_maximizes_its_channel(small_cnn):
    from featviz_extras import models

    channels = [1, 2, 4]
    images = render.visualize_batch(
        small_cnn,
        "conv2",
        channels,
        steps=40,
        size=48,
        seed=0,
        method="regularized",
        output="float",
    )
    means = models.layer_model(small_cnn, "conv2").predict(images, verbose=0).mean(axis=(1, 2))
    for index, channel in enumerate(channels):
        own = means[index, channel]
        others = np.delete(means[:, channel], index)
        assert own > 1.5 * others.max()


# ---- objectives through visualize ------------------------------------------------------


def test_neuron_layer_and_class_logit_objectives(small_cnn):
    from featviz_extras import models, objectives

    conv2 = models.layer_model(small_cnn, "conv2")
    # neuron (x=3, y=5, channel 2) of conv2 for 32x32 images (feature map 15x15)
    image, history = render.visualize(
        small_cnn,
        "conv2",
        2,
        steps=20,
        size=32,
        seed=0,
        objective="neuron",
        position=(3, 5),
        output="float",
        return_history=True,
    )
    value = conv2.predict(image[None], verbose=0)[0, 5, 3, 2]
    np.testing.assert_allclose(history.activation[-1], value, rtol=1e-5)
    assert value > 5 * max(history.activation[0], 1e-3)
    # DeepDream: mean squared activation of the whole layer
    image, history = render.visualize(
        small_cnn,
        "conv1",
        None,
        steps=20,
        size=32,
        seed=0,
        objective="layer",
        output="float",
        return_history=True,
    )
    value = np.mean(models.layer_model(small_cnn, "conv1").predict(image[None], verbose=0) ** 2)
    np.testing.assert_allclose(history.activation[-1], value, rtol=1e-5)
    assert value > 3 * history.activation[0]
    # class logit (pre-softmax) of class 3
    image, history = render.visualize(
        small_cnn,
        None,
        3,
        steps=20,
        size=32,
        seed=0,
        objective="class_logit",
        output="float",
        return_history=True,
    )
    logits = objectives.logits_model(small_cnn).predict(image[None], verbose=0)[0]
    np.testing.assert_allclose(history.activation[-1], logits[3], rtol=1e-5)
    assert logits[3] > max(10 * history.activation[0], 0.5)
    assert np.argmax(logits) == 3


def test_preprocess_callable_is_applied(small_cnn):
    from featviz_extras import models

    def halve(images):
        return images * 0.5

    _, history = render.visualize(
        small_cnn, "conv2", 1, steps=0, size=32, seed=2, preprocess=halve, return_history=True
    )
    start = param.uint8_to_unit(param.noise_images(1, 32, 32, 2))
    expected = models.layer_model(small_cnn, "conv2").predict(0.5 * start, verbose=0)
    np.testing.assert_allclose(history.activation, [expected[..., 1].mean()], rtol=1e-5)


# ---- history, caching ------------------------------------------------------------------


def test_history_frames_and_activation(small_cnn):
    image, history = render.visualize(
        small_cnn, "conv2", 0, steps=25, size=32, seed=5, return_history=True, frame_every=10
    )
    assert history.activation.shape == (26,)
    assert history.frame_steps == [0, 10, 20, 25]
    assert all(frame.dtype == np.uint8 and frame.shape == (32, 32, 3) for frame in history.frames)
    np.testing.assert_array_equal(history.frames[0], param.noise_images(1, 32, 32, 5)[0])
    np.testing.assert_array_equal(history.frames[-1], image)
    assert history.activation[-1] > history.activation[0]
    _, history = render.visualize(
        small_cnn,
        "conv2",
        0,
        steps=12,
        size=32,
        seed=5,
        method="regularized",
        return_history=True,
        frame_every=5,
    )
    assert history.activation.shape == (13,) and history.frame_steps == [0, 5, 10, 12]
    assert history.activation[-1] > history.activation[0]


def test_settings_value_and_keywords_combine(small_cnn):
    settings = render.Settings(steps=3, size=32, seed=1, return_history=True)
    image, history = render.visualize(small_cnn, "conv2", 0, settings)
    assert image.shape == (32, 32, 3) and history.activation.shape == (4,)
    # keywords replace fields of the settings value
    images, history = render.visualize_batch(small_cnn, "conv2", [0, 1], settings, steps=5)
    assert images.shape == (2, 32, 32, 3) and history.activation.shape == (6, 2)
    np.testing.assert_array_equal(
        render.visualize(small_cnn, "conv2", 0, settings.replace(steps=5, return_history=False)),
        images[0],
    )


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
        run(size=None, start=np.zeros((32, 32, 3), np.int64))
    with pytest.raises(TypeError, match="a float start image is only for method='seed'"):
        run(size=None, start=np.zeros((32, 32, 3), np.float32), method="regularized")
    with pytest.raises(ValueError, match="NaN"):
        run(size=None, start=np.full((32, 32, 3), np.nan, np.float32))
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
    with pytest.raises(TypeError, match="stpes"):
        run(stpes=3)
    with pytest.raises(ValueError, match=r"one image per objective, shape \(1, H, W, 3\)"):
        render.render(
            small_cnn,
            [objectives.channel("conv2", 0)],
            steps=1,
            start=np.zeros((2, 32, 32, 3), np.uint8),
        )
    with pytest.raises(ValueError, match="empty"):
        render.visualize_batch(small_cnn, "conv2", [])
    with pytest.raises(ValueError, match="3 images but 2 channels"):
        render.visualize_batch(small_cnn, "conv2", [0, 1], start=np.zeros((3, 32, 32, 3), np.uint8))
    fixed = keras.Sequential([keras.Input((20, 20, 3)), keras.layers.Conv2D(2, 3, name="c")])
    with pytest.raises(ValueError, match="takes 20x20 images, not 32x32"):
        render.visualize(fixed, "c", 0, steps=1, size=32)
    # the fixed input size is the default size
    assert render.visualize(fixed, "c", 1, steps=1, seed=0).shape == (20, 20, 3)
