"""Tests of featviz_extras.trained: the three texture CNNs, their training and cache, and their
use through the same paths as the ImageNet models (models.load_model, classification).

The trained models come from the session fixture ``texture_models`` (conftest.py): each is
trained once per test session, into a temporary cache.
"""

import numpy as np
import pytest

from featviz_extras import models, textures, trained


def _by_hand(images):
    """The texture models' input, written out: [0, 255] -> [-1, 1]."""
    return np.asarray(images, dtype=np.float32) / 127.5 - 1.0


# -- fast ----------------------------------------------------------------------------------------


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATVIZ_CACHE", str(tmp_path / "mine"))
    assert trained.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("FEATVIZ_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert trained.cache_dir() == tmp_path / "xdg" / "featviz_extras"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert trained.cache_dir() == tmp_path / "home" / ".cache" / "featviz_extras"
    assert not (tmp_path / "home").exists()  # not created by asking


def test_unknown_architecture_is_refused_before_any_work(tmp_path):
    with pytest.raises(
        ValueError,
        match="unknown texture model 'alexnet'; valid names are "
        "texture_vgg, texture_resnet, texture_mobilenet",
    ):
        trained.trained_model_path("alexnet", cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_texture_model_names_in_models():
    assert models.TEXTURE_MODEL_NAMES == trained.ARCHITECTURES
    assert all(models.input_size(name) == 64 for name in trained.ARCHITECTURES)
    images = np.array([[[[0.0, 127.5, 255.0]]]])
    np.testing.assert_allclose(models.preprocess("texture_resnet", images), [[[[-1, 0, 1]]]])


# -- TensorFlow (the tests that need the trained models are slow: the first trains them) -----------


def test_architectures_are_three_families():
    import keras

    layers = {}
    for name in trained.ARCHITECTURES:
        model = trained.build(name)
        kinds = [type(layer).__name__ for layer in model.layers]
        layers[name] = kinds
        assert model.count_params() < 100_000
        assert tuple(model.output.shape) == (None, 8)
        assert model.get_layer("predictions").activation is keras.activations.softmax
        feature = model.get_layer(trained.FEATURE_LAYERS[name])
        assert len(feature.output.shape) == 4  # a convolutional feature map
        # the late layer is the last one before the global pooling
        assert model.layers[model.layers.index(feature) + 1].name == "avg_pool"
        # any image size
        assert model.predict(np.zeros((1, 40, 40, 3)), verbose=0).shape == (1, 8)
    vgg, resnet, mobilenet = (layers[name] for name in trained.ARCHITECTURES)
    assert "MaxPooling2D" in vgg and "Add" not in vgg and "DepthwiseConv2D" not in vgg
    assert vgg.count("Conv2D") == 6
    assert resnet.count("Add") == 3 and "DepthwiseConv2D" not in resnet
    assert mobilenet.count("DepthwiseConv2D") == 4 and "Add" not in mobilenet


@pytest.mark.slow
def test_training_reaches_the_accuracy_floor(texture_models):
    """Each model, loaded as a user would (models.load_model(name, weights=PATH)), classifies
    new images (a seed not used in training or testing) with >= 95 % accuracy."""
    images, labels = textures.make_dataset(400, 64, seed=11)
    for name, path in texture_models.items():
        model = models.load_model(name, weights=path)
        predicted = np.argmax(model.predict(_by_hand(images), verbose=0), axis=1)
        assert np.mean(predicted == labels) >= 0.95, name
        report = trained.report(path)
        assert report.name == name and report.accuracy >= trained.ACCURACY_FLOOR == 0.95
        assert report.recipe["seed"] == 0 and report.recipe["train_images"] == 4000
        assert report.seconds > 0


@pytest.mark.slow
def test_cache_is_reused_and_files_are_plain_keras(texture_cache, texture_models):
    import keras

    name, path = "texture_mobilenet", texture_models["texture_mobilenet"]
    written = path.stat().st_mtime_ns
    assert trained.trained_model_path(name, cache=texture_cache) == path
    assert path.stat().st_mtime_ns == written  # not trained again
    assert path.name == f"{name}-{trained.cache_key(name)}.keras"
    assert trained.cache_key(name, trained.Recipe(epochs=3)) != trained.cache_key(name)
    assert trained.cache_key("texture_vgg") != trained.cache_key(name)
    assert not list(texture_cache.glob("*partial*"))
    # a plain Keras file: Keras alone loads it, and gives what models.load_model gives
    images = textures.make_dataset(8, 64, seed=12)[0]
    plain = keras.saving.load_model(path).predict(_by_hand(images), verbose=0)
    ours = models.load_model(name, weights=path).predict(_by_hand(images), verbose=0)
    np.testing.assert_allclose(ours, plain, rtol=1e-5, atol=1e-6)
    # without its head: the late layer's feature map, same weights
    headless = models.load_model(name, weights=path, include_top=False)
    assert headless.layers[-1].name == trained.FEATURE_LAYERS[name]
    features = headless.predict(_by_hand(images), verbose=0)
    full = keras.saving.load_model(path)
    cut = keras.Model(full.inputs, full.get_layer(trained.FEATURE_LAYERS[name]).output)
    np.testing.assert_allclose(
        features, cut.predict(_by_hand(images), verbose=0), rtol=1e-5, atol=1e-5
    )


def test_texture_models_have_no_imagenet_weights():
    with pytest.raises(
        ValueError,
        match="texture_vgg is a texture model trained here: it has "
        "no ImageNet weights; pass weights=",
    ):
        models.load_model("texture_vgg")
    random = models.load_model("texture_vgg", weights=None)
    assert random.name == "texture_vgg"


@pytest.mark.slow
def test_classify_with_texture_models(texture_models):
    from featviz_extras import classification

    loaded = {name: models.load_model(name, weights=path) for name, path in texture_models.items()}
    image = textures.make_class("stripes_90", 1, 64, seed=13)[0]
    result = classification.classify(image, loaded, top=3)
    for name in trained.ARCHITECTURES:
        top = result[name]
        assert len(top) == 3
        assert top[0][:2] == ("stripes_90", "stripes_90")  # the id of a texture class: its name
        assert top[0][2] > 0.5
        expected = loaded[name].predict(_by_hand(image[None]), verbose=0)[0]
        ranked = np.argsort(-expected)[:3]
        assert [textures.CLASSES[i] for i in ranked] == [label for _, label, _ in top]
        np.testing.assert_allclose([p for _, _, p in top], expected[ranked], rtol=1e-5)
    # a larger image is resized to the models' 64 x 64
    bigger = np.kron(image, np.ones((2, 2, 1))).astype(np.uint8)
    assert classification.classify(bigger, loaded, top=1)["texture_vgg"][0][1] == "stripes_90"
    with pytest.raises(ValueError, match="top must be an integer from 1 to 8"):
        classification.classify(image, loaded, top=9)
    # by name, loaded with a weights file
    by_name = classification.classify(
        image, ["texture_resnet"], top=2, weights=texture_models["texture_resnet"]
    )
    assert by_name["texture_resnet"][0][1] == "stripes_90" and not by_name.random_weights
