"""Tests of featviz_extras.models (offline: weights=None or local files only)."""

import numpy as np
import pytest

from featviz_extras import models


def test_names_and_input_sizes():
    assert models.IMAGENET_MODEL_NAMES == ("vgg19", "vgg16", "resnet50", "inception_v3")
    assert models.TEXTURE_MODEL_NAMES == ("texture_vgg", "texture_resnet", "texture_mobilenet")
    assert models.MODEL_NAMES == models.IMAGENET_MODEL_NAMES + models.TEXTURE_MODEL_NAMES
    sizes = [models.input_size(name) for name in models.MODEL_NAMES]
    assert sizes == [224, 224, 224, 299, 64, 64, 64]
    with pytest.raises(ValueError, match="vgg19, vgg16, resnet50, inception_v3, texture_vgg"):
        models.input_size("alexnet")
    with pytest.raises(ValueError, match="unknown model name 'alexnet'.*vgg19"):
        models.load_model("alexnet", weights=None)


def test_bad_weights_argument():
    with pytest.raises(FileNotFoundError, match="no_such_weights.h5"):
        models.load_model("vgg19", weights="/tmp/no_such_dir/no_such_weights.h5")
    with pytest.raises(ValueError, match="weights must be"):
        models.load_model("vgg19", weights=3)


def test_failed_download_is_a_runtime_error(monkeypatch):
    def offline(weights, include_top):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...")

    monkeypatch.setattr(models, "_constructor", lambda name: offline)
    with pytest.raises(
        RuntimeError,
        match="could not download ImageNet weights for resnet50; "
        "pass weights=<local .h5 file> or weights=None",
    ) as info:
        models.load_model("resnet50")
    assert isinstance(info.value, models.WeightsDownloadError)
    assert info.value.model_name == "resnet50" and "URL fetch failure" in str(info.value.cause)


@pytest.mark.slow
def test_preprocess_by_hand_and_input_untouched():
    images = np.zeros((1, 2, 2, 3), np.float32)
    images[..., 0], images[..., 1], images[..., 2] = 10.0, 100.0, 200.0
    original = images.copy()
    # "caffe" mode (VGG, ResNet50): RGB -> BGR, minus the ImageNet BGR mean
    expected_caffe = [200 - 103.939, 100 - 116.779, 10 - 123.68]
    for name in ("vgg19", "vgg16", "resnet50"):
        np.testing.assert_allclose(
            models.preprocess(name, images)[0, 0, 0], expected_caffe, rtol=1e-5
        )
    # "tf" mode (Inception V3): x / 127.5 - 1
    np.testing.assert_allclose(
        models.preprocess("inception_v3", images)[0, 1, 1],
        [10 / 127.5 - 1, 100 / 127.5 - 1, 200 / 127.5 - 1],
        rtol=1e-5,
    )
    np.testing.assert_array_equal(images, original)
    uint8_images = images.astype(np.uint8)
    np.testing.assert_allclose(
        models.preprocess("vgg19", uint8_images)[0, 0, 0], expected_caffe, rtol=1e-5
    )
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        models.preprocess("vgg19", images[0])


def test_preprocessor_maps_unit_images_like_preprocess():
    import tensorflow as tf

    unit = np.linspace(-1, 1, 12, dtype=np.float32).reshape(1, 2, 2, 3)
    for name in ("vgg19", "inception_v3"):
        function = models.preprocessor(name)
        assert function is models.preprocessor(name)
        np.testing.assert_allclose(
            function(tf.constant(unit)).numpy(),
            models.preprocess(name, (unit + 1) * 127.5),
            rtol=1e-5,
            atol=1e-4,
        )


@pytest.fixture(scope="module")
def vgg19():
    import keras

    keras.utils.set_random_seed(0)
    return models.load_model("vgg19", weights=None, include_top=False)


def test_layer_model_and_channels(vgg19):
    cut = models.layer_model(vgg19, "block3_conv2")
    assert cut is models.layer_model(vgg19, "block3_conv2")
    assert tuple(cut.output.shape[1:]) == (None, None, 256)
    # an inner cut: it stops at block3_conv2, well before the end of the model
    assert [layer.name for layer in cut.layers][-1] == "block3_conv2"
    assert len(cut.layers) == 9 < len(vgg19.layers) == 22
    image = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    inner = cut.predict(image, verbose=0)
    assert inner.shape == (1, 16, 16, 256)
    assert vgg19.predict(image, verbose=0).shape == (1, 2, 2, 512)
    # the cut shares the weights: its output is that of the model's own layers applied one
    # after the other up to block3_conv2
    x = image
    for layer in vgg19.layers[1:]:
        x = layer(x)
        if layer.name == "block3_conv2":
            break
    np.testing.assert_allclose(inner, np.asarray(x), rtol=1e-5, atol=1e-6)
    assert np.abs(inner).max() > 0
    assert models.check_channel(vgg19, "block5_conv4", 4) == 512
    assert models.check_channel(vgg19, "block1_conv1", 63) == 64
    with pytest.raises(IndexError, match="512 channels"):
        models.check_channel(vgg19, "block5_conv4", 512)
    with pytest.raises(IndexError, match="64 channels"):
        models.check_channel(vgg19, "block1_conv1", -1)
    with pytest.raises(TypeError, match="integer"):
        models.check_channel(vgg19, "block1_conv1", 1.5)
    with pytest.raises(ValueError, match="no layer 'block6_conv1'.*block1_conv1, block1_conv2"):
        models.layer_model(vgg19, "block6_conv1")
    with pytest.raises(ValueError, match="no layer 'block6_conv1'"):
        models.check_channel(vgg19, "block6_conv1", 0)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_weights_none_with_top_and_local_weights_file(tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    model = models.load_model("vgg16", weights=None, include_top=False)
    path = tmp_path / "vgg16_notop.weights.h5"
    model.save_weights(path)
    loaded = models.load_model("vgg16", weights=path, include_top=False)
    for saved, restored in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, restored)
    with_top = models.load_model("inception_v3", weights=None, include_top=True)
    assert tuple(with_top.input.shape[1:]) == (299, 299, 3)
    assert tuple(with_top.output.shape[1:]) == (1000,)
    assert models.fixed_input_size(with_top) == 299 == models.input_size("inception_v3")
    assert models.fixed_input_size(model) is None  # without the head: any size


@pytest.mark.slow
def test_load_model_for_layer_adds_the_head_only_for_head_layers():
    convolutional = models.load_model_for_layer("resnet50", "conv5_block3_out", weights=None)
    assert models.fixed_input_size(convolutional) is None
    assert "predictions" not in models.layer_names(convolutional)
    head = models.load_model_for_layer("resnet50", "avg_pool", weights=None)
    assert models.fixed_input_size(head) == 224
    assert models.layer_names(head)[-1] == "predictions"
    with pytest.raises(ValueError, match="no layer 'block9'; valid layer names are: input_layer"):
        models.load_model_for_layer("resnet50", "block9", weights=None)


def test_fixed_input_size_of_non_square_models_is_refused():
    import keras

    model = keras.Sequential([keras.Input((20, 30, 3)), keras.layers.Conv2D(2, 3)], name="wide")
    with pytest.raises(ValueError, match="'wide' takes non-square 20x30 images"):
        models.fixed_input_size(model)


@pytest.mark.slow
def test_models_with_several_inputs_are_refused():
    import keras

    first, second = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    merged = keras.layers.Add(name="add")([first, second])
    model = keras.Model([first, second], merged, name="two_inputs")
    with pytest.raises(ValueError, match="'two_inputs' has 2 inputs"):
        models.layer_model(model, "add")
