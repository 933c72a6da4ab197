"""Where an image sits in a layer's activation space: activation vectors, distances, t-SNE.

The "sea cucumber" experiment asks whether the image that maximizes one channel is close, in a
layer's activation space, to real images of the class it resembles. Each image is summarized by
its *activation vector*: the layer's output averaged over the spatial positions, one value per
channel, shape ``(C,)``. Distances are Euclidean (L2) between such vectors, in the layer's own
activation units. Images are float RGB in [0, 255], shape ``(H, W, 3)``, read by
:mod:`featviz_extras.images`.

:func:`analyze` runs the whole pipeline and returns an :class:`Analysis` that writes its plots,
a JSON summary and a CSV table. Only :func:`activation_vectors` (and so :func:`analyze`) needs
TensorFlow; distances and t-SNE do not.
"""

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from featviz_extras.images import ImageLike, labelled_images, load_image, load_images

if TYPE_CHECKING:
    import keras

PAIR_GROUPS = ("same_class", "different_class", "random")

Preprocess = str | Callable[[np.ndarray], np.ndarray] | None


# ---------------------------------------------------------------------------------------------
# Activation vectors (TensorFlow)
# ---------------------------------------------------------------------------------------------


def _preprocess_function(preprocess: Preprocess) -> Callable[[np.ndarray], np.ndarray]:
    if preprocess is None:
        return lambda batch: batch
    if isinstance(preprocess, str):
        from featviz_extras import models

        if preprocess not in models.MODEL_NAMES:
            raise ValueError(
                f"unknown preprocessing {preprocess!r}; use one of {models.MODEL_NAMES}, "
                "a function of a (N, H, W, 3) batch, or None"
            )
        return lambda batch: models.preprocess(preprocess, batch)
    if callable(preprocess):
        return preprocess
    raise TypeError(f"preprocess must be a model name, a function or None, not {preprocess!r}")


def activation_vectors(
    model: "keras.Model",
    layer: str,
    images: Sequence[ImageLike] | np.ndarray,
    preprocess: Preprocess,
    size: int | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> np.ndarray:
    """Channel-mean activations of ``layer`` for many images, shape ``(N, C)`` float32.

    ``model`` is a Keras model; ``images`` are paths and/or RGB arrays in [0, 255] (or one array
    ``(N, H, W, 3)``), loaded and resized to ``size`` pixels (default: the model's fixed input
    size) ``batch_size`` at a time, with a progress bar. ``preprocess`` is a model name of
    :data:`featviz_extras.models.MODEL_NAMES` (that model's ``preprocess_input``), a function of
    a float batch ``(N, S, S, 3)``, or None for no preprocessing. Each row is the layer output
    averaged over its spatial axes (a dense layer's output is used as it is).
    """
    from tqdm.auto import tqdm

    from featviz_extras import models

    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, not {batch_size}")
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if len(images) == 0:
        raise ValueError("no images given")
    fixed_size = models.fixed_input_size(model)
    if size is None:
        if fixed_size is None:
            raise ValueError(
                f"model {model.name} accepts any input size; pass size= (e.g. "
                "featviz_extras.models.input_size(name))"
            )
        size = fixed_size
    elif fixed_size is not None and size != fixed_size:
        raise ValueError(f"model {model.name} takes {fixed_size}x{fixed_size} images, not {size}")
    apply_preprocess = _preprocess_function(preprocess)
    cut = models.layer_model(model, layer)
    vectors = []
    bar = tqdm(total=len(images), desc=f"{layer} activations", unit="img", disable=not progress)
    with bar:
        for start in range(0, len(images), batch_size):
            batch = load_images(images[start : start + batch_size], size)
            output = np.asarray(cut(apply_preprocess(batch), training=False))
            vectors.append(output.mean(axis=tuple(range(1, output.ndim - 1))))
            bar.update(len(batch))
    return np.concatenate(vectors).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------


def _check_vectors(vectors: np.ndarray, name: str = "vectors") -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"{name} has shape {vectors.shape}; expected (N, C) with N >= 1")
    if not np.all(np.isfinite(vectors)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return vectors


def _check_labels(labels: Sequence[str], n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"got {labels.size} labels for {n} vectors; expected one label per vector")
    return labels


def l2_distances(target: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(N,)`` from a target vector ``(C,)`` to each row of ``(N, C)``."""
    vectors = _check_vectors(vectors)
    target = np.asarray(target, dtype=np.float64)
    if target.shape != vectors.shape[1:]:
        raise ValueError(
            f"target has shape {target.shape}, vectors have {vectors.shape[1]} channels; "
            "compute both at the same layer"
        )
    return np.linalg.norm(vectors - target, axis=1)


def distances_by_class(
    target: np.ndarray, vectors: np.ndarray, labels: Sequence[str]
) -> dict[str, np.ndarray]:
    """Distances from the target ``(C,)`` to the vectors ``(N, C)`` of each class.

    Returns ``{label: distances (n_label,)}``, labels sorted.
    """
    distances = l2_distances(target, vectors)
    labels = _check_labels(labels, len(distances))
    return {str(label): distances[labels == label] for label in np.unique(labels)}


def pair_distances(
    vectors: np.ndarray, labels: Sequence[str], n_pairs: int | None = 2000, seed: int | None = 0
) -> dict[str, np.ndarray]:
    """Distances between pairs of vectors ``(N, C)``, in the three groups of :data:`PAIR_GROUPS`.

    ``same_class``: two different images of one class; ``different_class``: images of two
    different classes; ``random``: any two different images. With ``n_pairs=None`` every pair of
    each group is used once; otherwise ``n_pairs`` pairs are drawn uniformly, with replacement,
    from each group with a generator seeded by ``seed``. Returns ``{group: distances}``.
    """
    vectors = _check_vectors(vectors)
    n = len(vectors)
    labels = _check_labels(labels, n)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if n < 2:
        raise ValueError("need at least 2 vectors to form pairs")
    if counts.max() < 2:
        raise ValueError("no class has 2 or more images, so there are no same-class pairs")
    if len(classes) < 2:
        raise ValueError(f"all images are of class {str(classes[0])!r}; need at least 2 classes")
    if n_pairs is None:
        first, second = np.triu_indices(n, k=1)
        same = inverse[first] == inverse[second]
        groups = {
            "same_class": (first[same], second[same]),
            "different_class": (first[~same], second[~same]),
            "random": (first, second),
        }
    else:
        if n_pairs < 1:
            raise ValueError(f"n_pairs must be a positive integer or None, not {n_pairs}")
        groups = _sample_pairs(inverse, counts, n_pairs, np.random.default_rng(seed))
    return {
        group: np.linalg.norm(vectors[first] - vectors[second], axis=1)
        for group, (first, second) in groups.items()
    }


def _sample_pairs(
    inverse: np.ndarray, counts: np.ndarray, n_pairs: int, rng: np.random.Generator
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Index pairs drawn uniformly from each group; ``inverse`` is each item's class number."""
    n = len(inverse)
    order = np.argsort(inverse, kind="stable")  # items grouped by class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # random: i uniform, j uniform among the others
    first = rng.integers(n, size=n_pairs)
    second = rng.integers(n - 1, size=n_pairs)
    second += second >= first
    groups = {"random": (first, second)}
    # same class: class with probability proportional to its number of pairs, then 2 members
    pairs_per_class = counts * (counts - 1.0)
    cls = rng.choice(len(counts), size=n_pairs, p=pairs_per_class / pairs_per_class.sum())
    a = rng.integers(counts[cls])
    b = rng.integers(counts[cls] - 1)
    b += b >= a
    groups["same_class"] = (order[starts[cls] + a], order[starts[cls] + b])
    # different class: i with probability proportional to its number of partners, then j
    partners = n - counts[inverse]
    first = rng.choice(n, size=n_pairs, p=partners / partners.sum())
    cls = inverse[first]
    position = rng.integers(partners[first])
    position += np.where(position >= starts[cls], counts[cls], 0)
    groups["different_class"] = (first, order[position])
    return {group: groups[group] for group in PAIR_GROUPS}


def summarize(distances: np.ndarray) -> dict[str, float]:
    """Count, mean, standard deviation, min, median and max of a set of distances."""
    distances = np.asarray(distances, dtype=np.float64)
    if distances.size == 0:
        raise ValueError("no distances to summarize")
    return {
        "count": int(distances.size),
        "mean": float(distances.mean()),
        "std": float(distances.std()),
        "min": float(distances.min()),
        "median": float(np.median(distances)),
        "max": float(distances.max()),
    }


# ---------------------------------------------------------------------------------------------
# t-SNE
# ---------------------------------------------------------------------------------------------


def auto_perplexity(n_samples: int, default: float = 30.0) -> float:
    """t-SNE perplexity for ``n_samples`` points: ``default``, lowered to ``(n - 1) / 3`` for
    small sets (scikit-learn requires perplexity < n_samples)."""
    if n_samples < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {n_samples}")
    return float(min(default, (n_samples - 1) / 3))


def tsne_embedding(
    vectors: np.ndarray,
    target: np.ndarray | None = None,
    perplexity: float | None = None,
    seed: int | None = 0,
    n_threads: int | None = None,
) -> np.ndarray:
    """2-D t-SNE (scikit-learn) of activation vectors ``(N, C)``.

    If ``target`` ``(C,)`` is given it is embedded together with the vectors as the last row,
    so the result has shape ``(N + 1, 2)``; otherwise ``(N, 2)``. ``perplexity=None`` uses
    :func:`auto_perplexity`; an explicit value must be below the number of points.
    ``n_threads`` caps the OpenMP threads of scikit-learn's Barnes-Hut gradient (default: all
    cores); use 1 on a machine shared with other jobs, where idle-spinning threads can make
    a small embedding a hundred times slower.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    points = _check_vectors(vectors)
    if target is not None:
        target = np.asarray(target, dtype=np.float64)
        if target.shape != points.shape[1:]:
            raise ValueError(
                f"target has shape {target.shape}, vectors have {points.shape[1]} channels"
            )
        points = np.vstack([points, target])
    n = len(points)
    automatic = auto_perplexity(n)
    if perplexity is None:
        perplexity = automatic
    elif not 0 < perplexity < n:
        raise ValueError(
            f"perplexity {perplexity} must be in (0, {n}) for {n} points "
            f"(perplexity=None picks {automatic:g})"
        )
    tsne = TSNE(
        n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed
    )
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return tsne.fit_transform(points)


# ---------------------------------------------------------------------------------------------
# The whole pipeline
# ---------------------------------------------------------------------------------------------


@dataclass
class Analysis:
    """Result of :func:`analyze`: a target image among the images of a folder, at one layer.

    N images of the folder, C channels of the layer; distances are L2 between channel-mean
    activation vectors.

    :param model_name: the Keras model's name; ``layer``, ``channel``: as given to analyze.
    :param image_size: side in pixels every image was resized to.
    :param target_name: the target's path, or ``"image array"``.
    :param root: the image folder; ``paths``, ``labels``: its N images and their classes.
    :param target: the target's activation vector (C,); ``vectors``: the images' (N, C).
    :param to_target: distance of each image to the target (N,).
    :param by_class: ``{class: distances to the target of that class's images}``.
    :param pairs: ``{group: distances}`` for the groups of :data:`PAIR_GROUPS`.
    :param embedding: t-SNE map (N + 1, 2), the target last; ``perplexity``, ``seed``: its
        settings.
    """

    model_name: str
    layer: str
    channel: int
    image_size: int
    target_name: str
    root: Path
    paths: list[Path]
    labels: list[str]
    target: np.ndarray
    vectors: np.ndarray
    to_target: np.ndarray
    by_class: dict[str, np.ndarray]
    pairs: dict[str, np.ndarray]
    embedding: np.ndarray
    perplexity: float
    seed: int | None

    def class_summaries(self) -> dict[str, dict[str, float]]:
        """:func:`summarize` of the target's distances to each class, closest class first."""
        summaries = {label: summarize(d) for label, d in self.by_class.items()}
        return dict(sorted(summaries.items(), key=lambda item: item[1]["mean"]))

    def summary(self) -> dict[str, Any]:
        """Everything but the per-image rows, as JSON-ready values."""
        return {
            "model": self.model_name,
            "layer": self.layer,
            "channel": self.channel,
            "image_size": self.image_size,
            "target": self.target_name,
            "images": str(self.root),
            "n_images": len(self.paths),
            "target_channel_activation": float(self.target[self.channel]),
            "target_vs_images": summarize(self.to_target),
            "target_vs_class": self.class_summaries(),
            "pairs": {group: summarize(d) for group, d in self.pairs.items()},
            "tsne": {
                "perplexity": self.perplexity,
                "seed": self.seed,
                "target": self.embedding[-1].tolist(),
            },
        }

    def write_json(self, path: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
        """Write :meth:`summary` (after the entries of ``extra``, e.g. the weights used) as
        JSON; returns the path."""
        path = Path(path)
        path.write_text(json.dumps({**(extra or {}), **self.summary()}, indent=2) + "\n")
        return path

    def write_csv(self, path: str | Path) -> Path:
        """Write one row per image: path, class, distance to the target, the channel's
        activation, t-SNE x and y; returns the path."""
        path = Path(path)
        with open(path, "w", newline="") as table:
            writer = csv.writer(table)
            writer.writerow(
                ["path", "class", "distance_to_target", "channel_activation", "tsne_x", "tsne_y"]
            )
            for i, image_path in enumerate(self.paths):
                writer.writerow(
                    [
                        image_path,
                        self.labels[i],
                        f"{self.to_target[i]:.6g}",
                        f"{self.vectors[i, self.channel]:.6g}",
                        *self.embedding[i].round(4),
                    ]
                )
        return path

    def write_plots(self, folder: str | Path) -> list[Path]:
        """Write activation_profile.png, distances.png and tsne.png into an existing folder;
        returns their paths."""
        from featviz_extras import plots

        folder = Path(folder)
        title = f"{self.model_name} {self.layer}"
        target_label = Path(self.target_name).name
        closest, nearest = next(iter(self.class_summaries().items()))
        return [
            plots.plot_activation_profile(
                self.target,
                folder / "activation_profile.png",
                self.channel,
                title=f"{target_label}: {title} channel means",
            ),
            plots.plot_distance_histograms(
                {**self.pairs, "target_vs_images": self.to_target},
                folder / "distances.png",
                markers={f"target vs {closest} (mean)": nearest["mean"]},
                title=f"{title}: L2 distances of channel-mean activations",
            ),
            plots.plot_tsne(
                self.embedding,
                self.labels,
                folder / "tsne.png",
                target_label=target_label,
                title=f"{title}: t-SNE (perplexity {self.perplexity:g})",
            ),
        ]


def analyze(
    model: "keras.Model",
    layer: str,
    target: ImageLike,
    root: str | Path,
    preprocess: Preprocess,
    channel: int,
    size: int | None = None,
    max_per_class: int | None = None,
    batch_size: int = 32,
    n_pairs: int | None = 2000,
    perplexity: float | None = None,
    seed: int | None = 0,
    progress: bool = True,
    n_threads: int | None = None,
) -> Analysis:
    """Place a target image among the images of an ImageNet-style folder in a layer's
    activation space: activation vectors, distances to the target and between pairs, t-SNE.

    :param model: a Keras model with ``layer``; ``channel``: the channel reported on.
    :param target: a path or an RGB array (H, W, 3) in [0, 255].
    :param root: folder ``<root>/<class>/*.JPEG`` (:func:`featviz_extras.images.find_images`).
    :param preprocess, size, batch_size, progress: as in :func:`activation_vectors`.
    :param max_per_class: as in :func:`featviz_extras.images.labelled_images`.
    :param n_pairs, seed: as in :func:`pair_distances` (seed also seeds t-SNE).
    :param perplexity, n_threads: as in :func:`tsne_embedding` (None: automatic).
    :return: an :class:`Analysis`.
    """
    from featviz_extras import models

    models.check_channel(model, layer, channel)
    paths, labels = labelled_images(root, max_per_class)
    target_image = load_image(target)
    size = size or models.fixed_input_size(model)
    target_vector = activation_vectors(
        model, layer, [target_image], preprocess, size=size, progress=False
    )[0]
    vectors = activation_vectors(
        model, layer, paths, preprocess, size=size, batch_size=batch_size, progress=progress
    )
    if perplexity is None:
        perplexity = auto_perplexity(len(vectors) + 1)
    return Analysis(
        model_name=model.name,
        layer=layer,
        channel=channel,
        image_size=size,
        target_name=str(target) if isinstance(target, str | Path) else "image array",
        root=Path(root),
        paths=paths,
        labels=labels,
        target=target_vector,
        vectors=vectors,
        to_target=l2_distances(target_vector, vectors),
        by_class=distances_by_class(target_vector, vectors, labels),
        pairs=pair_distances(vectors, labels, n_pairs=n_pairs, seed=seed),
        embedding=tsne_embedding(
            vectors, target_vector, perplexity=perplexity, seed=seed, n_threads=n_threads
        ),
        perplexity=perplexity,
        seed=seed,
    )
