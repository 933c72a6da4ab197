"""Tests of featviz_extras.analysis: activation vectors, distances, t-SNE, the whole pipeline."""

import csv
from itertools import combinations

import numpy as np
import pytest
from featviz_testing import write_image

from featviz_extras import analysis

# -- distances ----------------------------------------------------------------------------------


def test_l2_distances_and_by_class():
    target = np.array([0.0, 0.0])
    vectors = np.array([[3.0, 4.0], [6.0, 8.0], [0.0, 1.0]])
    np.testing.assert_allclose(analysis.l2_distances(target, vectors), [5.0, 10.0, 1.0])
    by_class = analysis.distances_by_class(target, vectors, ["b", "b", "a"])
    assert list(by_class) == ["a", "b"]
    np.testing.assert_allclose(by_class["a"], [1.0])
    np.testing.assert_allclose(by_class["b"], [5.0, 10.0])
    with pytest.raises(ValueError, match="target has shape"):
        analysis.l2_distances(np.zeros(3), vectors)
    with pytest.raises(ValueError, match="2 labels for 3 vectors"):
        analysis.distances_by_class(target, vectors, ["a", "b"])


def planted_clusters(n_classes=3, per_class=8, dim=40, spread=1.0, separation=20.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, separation, (n_classes, dim))
    vectors = np.concatenate([c + rng.normal(0, spread, (per_class, dim)) for c in centres])
    labels = np.repeat([f"class{i}" for i in range(n_classes)], per_class)
    return vectors, labels, centres


def test_pair_distances_all_pairs_exact():
    vectors = np.array([[0.0], [1.0], [10.0], [13.0], [30.0]])
    labels = ["a", "a", "b", "b", "c"]
    groups = analysis.pair_distances(vectors, labels, n_pairs=None)
    assert list(groups) == list(analysis.PAIR_GROUPS)
    np.testing.assert_allclose(sorted(groups["same_class"]), [1.0, 3.0])
    expected_all = sorted(abs(a - b) for a, b in combinations([0, 1, 10, 13, 30], 2))
    np.testing.assert_allclose(sorted(groups["random"]), expected_all)
    assert len(groups["different_class"]) == 10 - 2
    assert not set(np.round(groups["different_class"], 9)) & {1.0, 3.0}


def test_pair_distances_separate_planted_clusters():
    vectors, labels, _ = planted_clusters()
    groups = analysis.pair_distances(vectors, labels, n_pairs=500, seed=3)
    assert all(len(d) == 500 for d in groups.values())
    # tight clusters far apart: every same-class pair is closer than every different-class pair
    assert groups["same_class"].max() < groups["different_class"].min()
    # random pairs are a mixture: 7 of 23 partners are same-class
    fraction_close = np.mean(groups["random"] < groups["same_class"].max())
    assert 7 / 23 - 0.08 < fraction_close < 7 / 23 + 0.08


def test_pair_sampling_is_uniform_within_each_group():
    # positions 2**k make every pairwise distance unique, so each distance names its pair
    positions = 2.0 ** np.arange(7)
    labels = ["a", "a", "a", "a", "b", "b", "c"]  # unequal classes
    pair_of = {abs(positions[i] - positions[j]): (i, j) for i, j in combinations(range(7), 2)}
    groups = analysis.pair_distances(positions[:, None], labels, n_pairs=21000, seed=1)
    for group, distances in groups.items():
        pairs = [pair_of[d] for d in distances]
        same = [labels[i] == labels[j] for i, j in pairs]
        if group == "same_class":
            assert all(same)
            expected = 6 + 1  # C(4,2) + C(2,2)
        elif group == "different_class":
            assert not any(same)
            expected = 21 - 7
        else:
            expected = 21
        counts = np.unique(np.array(pairs), axis=0, return_counts=True)[1]
        assert len(counts) == expected  # every pair of the group occurs
        mean = 21000 / expected
        assert np.all(np.abs(counts - mean) < 5 * np.sqrt(mean))


def test_pair_distances_seeded():
    vectors, labels, _ = planted_clusters()
    first = analysis.pair_distances(vectors, labels, n_pairs=50, seed=7)
    again = analysis.pair_distances(vectors, labels, n_pairs=50, seed=7)
    other = analysis.pair_distances(vectors, labels, n_pairs=50, seed=8)
    for group in analysis.PAIR_GROUPS:
        np.testing.assert_array_equal(first[group], again[group])
        assert not np.array_equal(first[group], other[group])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["a", "a", "a"], "all images are of class 'a'"),
        (["a", "b", "c"], "no class has 2 or more images"),
        (["a", "b"], "2 labels for 3 vectors"),
    ],
)
def test_pair_distances_errors(labels, message):
    with pytest.raises(ValueError, match=message):
        analysis.pair_distances(np.zeros((3, 2)), labels)


def test_summarize():
    summary = analysis.summarize(np.array([1.0, 2.0, 6.0]))
    assert summary == {
        "count": 3,
        "mean": 3.0,
        "std": pytest.approx(np.std([1, 2, 6])),
        "min": 1.0,
        "median": 2.0,
        "max": 6.0,
    }
    with pytest.raises(ValueError, match="no distances"):
        analysis.summarize(np.array([]))


# -- t-SNE --------------------------------------------------------------------------------------


def test_auto_perplexity_adapts_to_small_sets():
    assert analysis.auto_perplexity(1000) == 30.0
    assert analysis.auto_perplexity(10) == 3.0
    assert analysis.auto_perplexity(3) < 3
    with pytest.raises(ValueError, match="at least 3 points"):
        analysis.auto_perplexity(2)


def test_tsne_separates_planted_clusters_and_places_target():
    vectors, labels, centres = planted_clusters(n_classes=3, per_class=10)
    embedding = analysis.tsne_embedding(vectors, target=centres[1], seed=0, n_threads=1)
    assert embedding.shape == (31, 2)
    points, target = embedding[:-1], embedding[-1]
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    # every point's 5 nearest neighbours in the embedding are of its own cluster
    neighbours = np.argsort(distances, axis=1)[:, :5]
    assert np.all(labels[neighbours] == labels[:, None])
    # the target, planted at the centre of class1, lands among class1 points
    nearest = np.argsort(np.linalg.norm(points - target, axis=1))[:5]
    assert np.all(labels[nearest] == "class1")


def test_tsne_small_set_and_perplexity_errors():
    vectors, _, _ = planted_clusters(n_classes=2, per_class=2, dim=5)
    assert analysis.tsne_embedding(vectors, n_threads=1).shape == (4, 2)  # perplexity 1
    with pytest.raises(ValueError, match=r"perplexity 4 must be in \(0, 4\) for 4 points"):
        analysis.tsne_embedding(vectors, perplexity=4)
    with pytest.raises(ValueError, match="target has shape"):
        analysis.tsne_embedding(vectors, target=np.zeros(3))
    with pytest.raises(ValueError, match="at least 3 points"):
        analysis.tsne_embedding(vectors[:2])


# -- activation vectors (TensorFlow) ------------------------------------------------------------


def identity_conv_model(size=None):
    """Input -> 1x1 conv 'mix' (identity on 3 channels, no bias) -> 'double' (x 2)."""
    import keras

    inputs = keras.Input((size, size, 3))
    mix = keras.layers.Conv2D(3, 1, use_bias=False, name="mix")
    doubled = keras.layers.Rescaling(2.0, name="double")(mix(inputs))
    mix.set_weights([np.eye(3).reshape(1, 1, 3, 3)])
    return keras.Model(inputs, doubled, name="tiny")


@pytest.mark.slow
def test_activation_vectors_are_channel_means(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 255, (5, 8, 8, 3))
    model = identity_conv_model(size=8)
    vectors = analysis.activation_vectors(model, "mix", images, None, batch_size=2, progress=False)
    assert vectors.shape == (5, 3) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, images.mean(axis=(1, 2)), rtol=1e-5)
    doubled = analysis.activation_vectors(model, "double", list(images), None, batch_size=10)
    np.testing.assert_allclose(doubled, 2 * images.mean(axis=(1, 2)), rtol=1e-5)
    # a preprocessing function is applied before the model
    shifted = analysis.activation_vectors(model, "mix", images, lambda x: x - 100.0)
    np.testing.assert_allclose(shifted, images.mean(axis=(1, 2)) - 100.0, rtol=1e-4)
    # paths are loaded and resized to the model's fixed input size
    paths = [write_image(tmp_path / f"{i}.png", np.full((16, 12, 3), 10 * i)) for i in range(3)]
    from_files = analysis.activation_vectors(model, "mix", paths, None, progress=False)
    np.testing.assert_allclose(from_files, 10.0 * np.arange(3)[:, None] * np.ones(3), atol=1e-3)


def test_activation_vectors_with_named_preprocessing():
    images = np.random.default_rng(3).uniform(0, 255, (2, 8, 8, 3))
    model = identity_conv_model()
    vectors = analysis.activation_vectors(model, "mix", images, "vgg19", size=8, progress=False)
    # vgg19 ("caffe") preprocessing, by hand: RGB -> BGR, minus the ImageNet BGR means
    expected = images.mean(axis=(1, 2))[:, ::-1] - [103.939, 116.779, 123.68]
    np.testing.assert_allclose(vectors, expected, rtol=1e-4, atol=1e-4)


def test_activation_vectors_errors():
    images = np.zeros((2, 8, 8, 3))
    with pytest.raises(ValueError, match="accepts any input size; pass size="):
        analysis.activation_vectors(identity_conv_model(), "mix", images, None)
    with pytest.raises(ValueError, match="takes 8x8 images, not 16"):
        analysis.activation_vectors(identity_conv_model(8), "mix", images, None, size=16)
    with pytest.raises(ValueError, match="no layer 'nope'.*mix"):
        analysis.activation_vectors(identity_conv_model(8), "nope", images, None)
    with pytest.raises(ValueError, match="unknown preprocessing 'alexnet'"):
        analysis.activation_vectors(identity_conv_model(8), "mix", images, "alexnet")
    with pytest.raises(ValueError, match="no images"):
        analysis.activation_vectors(identity_conv_model(8), "mix", [], None)


# -- the whole pipeline -------------------------------------------------------------------------


def colour_tree(root):
    """3 classes of 3 noisy 24x24 images each: red, green or blue."""
    rng = np.random.default_rng(1)
    for k, label in enumerate(["n01", "n02", "n03"]):
        (root / label).mkdir(parents=True)
        for i in range(3):
            pixels = np.full((24, 24, 3), 30.0)
            pixels[..., k] = 220
            write_image(
                root / label / f"{i}.png", np.clip(pixels + rng.normal(0, 15, pixels.shape), 0, 255)
            )
    return root


def test_analyze_places_the_target_and_writes_its_tables(tmp_path):
    """The identity 1x1 conv makes the activation vectors the images' mean colours, so every
    number can be checked against NumPy on the pixels."""
    import json

    from featviz_extras import images

    root = colour_tree(tmp_path / "images")
    target = root / "n02" / "1.png"
    result = analysis.analyze(
        identity_conv_model(),
        "mix",
        target,
        root,
        None,
        channel=1,
        size=24,
        n_pairs=None,
        seed=0,
        progress=False,
        n_threads=1,
    )
    paths, labels = images.labelled_images(root)
    means = np.stack([images.load_image(path).mean(axis=(0, 1)) for path in paths])
    assert result.paths == paths and result.labels == labels and result.image_size == 24
    np.testing.assert_allclose(result.vectors, means, rtol=1e-5)
    np.testing.assert_allclose(result.target, means[4], rtol=1e-5)
    np.testing.assert_allclose(
        result.to_target, np.linalg.norm(means - means[4], axis=1), rtol=1e-4, atol=1e-3
    )
    assert list(result.class_summaries())[0] == "n02"  # the green images are the closest
    assert result.embedding.shape == (10, 2) and result.perplexity == pytest.approx(3.0)
    json_path = result.write_json(tmp_path / "d.json", extra={"weights": None})
    summary = json.loads(json_path.read_text())
    assert summary["weights"] is None and summary["model"] == "tiny"
    assert summary["n_images"] == 9 and summary["images"] == str(root)
    assert summary["target_channel_activation"] == pytest.approx(means[4, 1], rel=1e-5)
    assert summary["pairs"]["same_class"]["count"] == 9  # 3 classes x C(3, 2), n_pairs=None
    assert summary["pairs"]["random"]["count"] == 36  # C(9, 2)
    with open(result.write_csv(tmp_path / "d.csv")) as table:
        rows = list(csv.DictReader(table))
    assert [row["path"] for row in rows] == [str(path) for path in paths]
    np.testing.assert_allclose(
        [float(row["channel_activation"]) for row in rows], means[:, 1], rtol=1e-5
    )
    written = result.write_plots(tmp_path)
    assert [path.name for path in written] == [
        "activation_profile.png",
        "distances.png",
        "tsne.png",
    ]
    with pytest.raises(IndexError, match="channel 3 is out of range"):
        analysis.analyze(identity_conv_model(), "mix", target, root, None, channel=3, size=24)
