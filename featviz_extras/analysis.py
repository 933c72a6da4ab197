"""Where an image sits in a layer's activation space: image loading, activation vectors, distances.

The "sea cucumber" experiment asks whether the image that maximizes one channel is close, in a
layer's activation space, to real images of the class it resembles. Each image is summarized by
its *activation vector*: the layer's output averaged over the spatial positions, one value per
channel, shape ``(C,)``. Distances are Euclidean (L2) between such vectors, in the layer's own
activation units. Images are float RGB in [0, 255], shape ``(H, W, 3)``, as in
:func:`featviz_extras.models.preprocess`.

Only :func:`activation_vectors` needs TensorFlow; loading, distances and t-SNE do not.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
FOLDER_LAYOUT = "<root>/<class, e.g. a wnid like n02321529>/<image>.JPEG (also .jpg, .png)"
PAIR_GROUPS = ("same_class", "different_class", "random")

ImageLike = str | Path | np.ndarray
Preprocess = str | Callable[[np.ndarray], np.ndarray] | None


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def find_images(root: str | Path) -> dict[str, list[Path]]:
    """Image files of an ImageNet-style folder tree, ``<root>/<class>/*.JPEG`` (also .jpg, .png).

    Returns ``{class folder name: sorted image paths}``, classes sorted by name; class folders
    without images are left out. Raises FileNotFoundError if ``root`` is not a folder and
    ValueError if it holds no images in that layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist; expected {FOLDER_LAYOUT}")
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if files:
            found[folder.name] = files
    if not found:
        loose = [p.name for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f" ({len(loose)} images lie directly in it: move them into class folders)"
        raise ValueError(
            f"no images found in {root}; expected {FOLDER_LAYOUT}" + (hint if loose else "")
        )
    return found


def labelled_images(
    root: str | Path, max_per_class: int | None = None
) -> tuple[list[Path], list[str]]:
    """Flattened :func:`find_images`: image paths and their class names, in the same order.

    ``max_per_class`` keeps at most that many images (the first ones, sorted by name) per class.
    """
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be a positive integer or None, not {max_per_class}")
    paths, labels = [], []
    for label, files in find_images(root).items():
        kept = files[:max_per_class] if max_per_class else files
        paths.extend(kept)
        labels.extend([label] * len(kept))
    return paths, labels


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check that ``image`` is a finite RGB image ``(H, W, 3)`` with values in [0, 255].

    Returns it as float32 (a copy only if the dtype changes); raises ValueError otherwise.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"{name} has shape {image.shape}; expected an RGB image of shape (H, W, 3) "
            "(drop an alpha channel with image[..., :3]; repeat a grey image over 3 channels)"
        )
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"{name} has dtype {image.dtype}; expected real numbers in [0, 255]")
    image = image.astype(np.float32, copy=False)
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 255:
        raise ValueError(
            f"{name} has values in [{low:g}, {high:g}]; expected RGB values in [0, 255] "
            "(undo any model preprocessing first)"
        )
    return image


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an RGB image ``(H, W, 3)`` to ``(size, size, 3)`` float32.

    The aspect ratio is not kept (as ``keras.utils.load_img(target_size=...)``); an image that
    already has that size is returned unchanged (as float32).
    """
    from PIL import Image

    image = check_image(image)
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, not {size}")
    if image.shape[:2] == (size, size):
        return image
    channels = [
        np.asarray(Image.fromarray(image[..., c]).resize((size, size), Image.Resampling.BILINEAR))
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.float32)


def load_image(image: ImageLike, size: int | None = None) -> np.ndarray:
    """One image as float32 RGB in [0, 255], shape ``(size, size, 3)`` (or unresized if None).

    ``image`` is a file path (any format Pillow reads; grey or CMYK files are converted to RGB)
    or an array ``(H, W, 3)`` with values in [0, 255]. The input array is not modified.
    """
    if isinstance(image, str | Path):
        from PIL import Image, UnidentifiedImageError

        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file {path} does not exist")
        try:
            with Image.open(path) as opened:
                array = np.asarray(opened.convert("RGB"), dtype=np.float32)
        except UnidentifiedImageError as error:
            raise ValueError(f"{path} is not an image file Pillow can read") from error
        name = str(path)
    else:
        array, name = image, "image array"
    array = check_image(array, name)
    return array if size is None else resize_image(array, size)


def load_images(images: Sequence[ImageLike] | np.ndarray, size: int | None = None) -> np.ndarray:
    """Several images (paths and/or arrays, or one array ``(N, H, W, 3)``) as ``(N, S, S, 3)``.

    With ``size=None`` the images are not resized and must all have the same shape.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if len(images) == 0:
        raise ValueError("no images given")
    loaded = [load_image(image, size) for image in images]
    shapes = {image.shape for image in loaded}
    if len(shapes) > 1:
        raise ValueError(f"images have different shapes {sorted(shapes)}; pass size= to resize")
    return np.stack(loaded)


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


def model_input_size(model: "keras.Model") -> int | None:
    """Square input size (pixels) of a Keras model, or None if its input size is not fixed."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise ValueError(f"model {model.name} has several inputs; expected one image input")
    height, width = shape[1], shape[2]
    if height is None or width is None:
        return None
    if height != width:
        raise ValueError(f"model {model.name} has a non-square input {height}x{width}")
    return int(height)


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
    fixed_size = model_input_size(model)
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
