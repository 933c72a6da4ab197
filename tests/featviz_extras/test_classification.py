"""Tests of featviz_extras.classification: the offline ImageNet class index, decoding, classify."""

import importlib.util
import re

import numpy as np
import pytest

from featviz_extras import classification

WNID = re.compile(r"^n\d{8}$")


# -- class index --------------------------------------------------------------------------------


def test_class_index_is_complete_and_in_keras_order():
    classes = classification.imagenet_classes()
    assert len(classes) == 1000
    wnids = [wnid for wnid, _ in classes]
    assert all(WNID.match(wnid) for wnid in wnids)
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000
    # well-known Keras indices and names
    assert classes[0] == ("n01440764", "tench")
    assert classes[1] == ("n01443537", "goldfish")
    assert classes[2] == ("n01484850", "great_white_shark")
    assert classes[329] == ("n02321529", "sea_cucumber")
    assert classes[999] == ("n15075141", "toilet_tissue")
    assert all(" " not in name and name for _, name in classes)


def test_class_index_lookup():
    assert classification.class_index("sea_cucumber") == 329
    assert classification.class_index("n02321529") == 329
    assert classification.class_index("n03126707") == 517  # crane, the machine
    with pytest.raises(ValueError, match=r"'crane' is ambiguous.*n02012849.*n03126707"):
        classification.class_index("crane")
    with pytest.raises(ValueError, match="'sea cucumber' is not an ImageNet class"):
        classification.class_index("sea cucumber")


def test_shipped_data_has_source_note_and_generator(tmp_path):
    data = classification.CLASS_INDEX_FILE.parent
    note = (data / "SOURCE.md").read_text()
    for needed in ("timm", "Apache", "WordNet", "imagenet_synsets.txt", "make_imagenet_classes.py"):
        assert needed in note
    # the generator: sorted wnids, first lemma with underscores, checks for 1000 ids
    spec = importlib.util.spec_from_file_location("gen", data / "make_imagenet_classes.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    wnids = [f"n{i:08d}" for i in range(1000)][::-1]
    (tmp_path / generator.SYNSETS_FILE).write_text("\n".join(wnids) + "\n")
    lemmas = [f"{w}\tthing {w[-3:]}, other name" for w in wnids] + ["n99999999\tunused"]
    (tmp_path / generator.LEMMAS_FILE).write_text("\n".join(lemmas) + "\n")
    table = generator.make_table(tmp_path)
    assert table[0] == (0, "n00000000", "thing_000")
    assert table[999] == (999, "n00000999", "thing_999")
    (tmp_path / generator.SYNSETS_FILE).write_text("\n".join(wnids[:10]))
    with pytest.raises(ValueError, match="should list 1000 distinct WordNet ids"):
        generator.make_table(tmp_path)


# -- decode -------------------------------------------------------------------------------------


def planted_probabilities():
    probs = np.full(1000, 0.1 / 997)
    probs[[329, 0, 517]] = [0.6, 0.2, 0.1]
    return probs


def test_decode_sorted_top_classes():
    decoded = classification.decode(planted_probabilities(), top=3)
    assert decoded == [
        ("n02321529", "sea_cucumber", pytest.approx(0.6)),
        ("n01440764", "tench", pytest.approx(0.2)),
        ("n03126707", "crane", pytest.approx(0.1)),
    ]
    assert all(isinstance(p, float) for _, _, p in decoded)
    five = classification.decode(planted_probabilities(), top=5)
    assert [p for _, _, p in five] == sorted((p for _, _, p in five), reverse=True)
    assert five[3][2] == pytest.approx(0.1 / 997)


def test_decode_batch():
    batch = np.stack([planted_probabilities(), np.roll(planted_probabilities(), 1)])
    decoded = classification.decode(batch, top=2)
    assert [[wnid for wnid, _, _ in row] for row in decoded] == [
        ["n02321529", "n01440764"],
        ["n02325366", "n01443537"],  # classes 330 and 1
    ]


@pytest.mark.parametrize(
    ("probs", "top", "message"),
    [
        (np.zeros(10), 3, r"shape \(10,\); expected \(1000,\) or \(N, 1000\)"),
        (np.zeros((1, 2, 1000)), 3, "expected"),
        (np.full(1000, np.nan), 3, "NaN"),
        (np.zeros(1000), 0, "top must be an integer from 1 to 1000"),
        (np.zeros(1000), 1001, "top must be"),
        (np.zeros(1000), 2.5, "top must be"),
    ],
)
def test_decode_errors(probs, top, message):
    with pytest.raises(ValueError, match=message):
        classification.decode(probs, top)


# -- classify with models (TensorFlow) ----------------------------------------------------------


def tiny_classifier(size=16, bias=None, kernel_scale=0.0, seed=0):
    """Input (size, size, 3) -> global average -> Dense(1000, softmax).

    With ``kernel_scale=0`` the probabilities are ``softmax(bias)`` whatever the image.
    """
    import keras

    inputs = keras.Input((size, size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(1000, activation="softmax", name="predictions")
    model = keras.Model(inputs, dense(pooled), name=f"tiny{size}")
    rng = np.random.default_rng(seed)
    bias = np.zeros(1000) if bias is None else bias
    dense.set_weights([kernel_scale * rng.normal(size=(3, 1000)), bias])
    return model


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def test_classify_preloaded_models_planted_outputs():
    bias = np.zeros(1000)
    bias[[329, 0, 1]] = [6.0, 5.0, 4.0]
    models = {"vgg19": tiny_classifier(16, bias), "resnet50": tiny_classifier(24, bias)}
    image = np.random.default_rng(0).uniform(0, 255, (40, 30, 3))  # resized to 16 and 24
    result = classification.classify(image, models=models, top=3)
    assert list(result.predictions) == ["vgg19", "resnet50"]
    expected = softmax(bias)
    for predictions in result.predictions.values():
        assert [(w, n) for w, n, _ in predictions] == [
            ("n02321529", "sea_cucumber"),
            ("n01440764", "tench"),
            ("n01443537", "goldfish"),
        ]
        np.testing.assert_allclose([p for _, _, p in predictions], expected[[329, 0, 1]], rtol=1e-5)


def test_classify_uses_each_models_preprocessing_and_size(tmp_path):
    """A constant 20x20 image, resized to the model's 12x12: the pooled input is the colour
    after each model's preprocessing, written out by hand."""
    from PIL import Image

    colour = np.array([200.0, 100.0, 10.0])  # R, G, B
    path = tmp_path / "image.png"
    Image.fromarray(np.broadcast_to(colour, (20, 20, 3)).astype(np.uint8)).save(path)
    model = tiny_classifier(12, kernel_scale=0.05, seed=3)
    kernel, bias = model.get_layer("predictions").get_weights()
    result = classification.classify(path, models={"vgg19": model, "inception_v3": model}, top=1000)
    pooled = {
        # "caffe": RGB -> BGR, minus the ImageNet BGR means
        "vgg19": np.array([10 - 103.939, 100 - 116.779, 200 - 123.68]),
        # "tf": x / 127.5 - 1
        "inception_v3": colour / 127.5 - 1,
    }
    for name, inputs in pooled.items():
        expected = softmax(inputs @ kernel + bias)
        got = np.zeros(1000)
        for wnid, _, p in result[name]:
            got[classification.class_index(wnid)] = p
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-9)
    assert result["vgg19"][0] != result["inception_v3"][0]
    assert not result.random_weights and result.note is None


def test_classify_by_name_with_random_weights_says_they_are_meaningless():
    import keras

    keras.utils.set_random_seed(0)
    image = np.random.default_rng(2).uniform(0, 255, (64, 48, 3))
    result = classification.classify(image, models=["resnet50"], top=5, weights=None)
    assert list(result.predictions) == ["resnet50"]
    predictions = result["resnet50"]
    assert len(predictions) == 5
    probabilities = [p for _, _, p in predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1 + 1e-6
    known = dict(classification.imagenet_classes())
    assert all(known[wnid] == name for wnid, name, _ in predictions)
    # next to the predictions: they mean nothing, and the fix in Python syntax
    assert result.random_weights
    assert "meaningless without trained weights" in result.note
    assert "weights='imagenet'" in result.note and "--weights" not in result.note
    text = str(result)
    assert text.startswith("resnet50\n  1. ") and text.splitlines()[-1] == f"NOTE: {result.note}"
    assert result.to_json()["random_weights"] is True
    assert "meaningless" in result.to_json()["note"]


def test_classify_errors():
    image = np.zeros((16, 16, 3))
    with pytest.raises(TypeError, match="not the string 'vgg19'"):
        classification.classify(image, models="vgg19")
    with pytest.raises(ValueError, match="unknown model name 'alexnet'.*vgg19"):
        classification.classify(image, models=["vgg19", "alexnet"], weights=None)
    with pytest.raises(ValueError, match="no models given"):
        classification.classify(image, models=[])
    with pytest.raises(ValueError, match="top must be"):
        classification.classify(image, models={"vgg19": tiny_classifier()}, top=0)
    with pytest.raises(ValueError, match="it selects the preprocessing"):
        classification.classify(image, models={"mine": tiny_classifier()})
    with pytest.raises(ValueError, match=r"expected RGB values in \[0, 255\]"):
        classification.classify(image - 1, models={"vgg19": tiny_classifier()})
    import keras

    inputs = keras.Input((16, 16, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    ten_classes = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(pooled))
    with pytest.raises(ValueError, match=r"outputs shape \(10,\); expected 1000"):
        classification.classify(image, models={"vgg19": ten_classes})
    logits = keras.Model(inputs, keras.layers.Dense(1000, bias_initializer="ones")(pooled))
    with pytest.raises(ValueError, match="do not look like probabilities.*softmax"):
        classification.classify(image, models={"vgg19": logits})
