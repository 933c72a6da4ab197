"""What do several ImageNet models see in an image? Predictions decoded with an offline class index.

:func:`classify` (also ``featviz_extras.classify``) returns a :class:`Classification`: each model's
top classes, and a note when they come from random weights and so mean nothing.

The 1000 ImageNet classes are read from ``data/imagenet_classes.tsv`` (Keras order: WordNet ids
sorted; names as in Keras, e.g. ``sea_cucumber``), so decoding never needs the internet. See
``data/SOURCE.md`` for where that table comes from. The texture models trained here
(:data:`featviz_extras.models.TEXTURE_MODEL_NAMES`) predict the classes of
:data:`featviz_extras.textures.CLASSES` instead (:func:`model_classes`); a texture class's id is
its name.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from featviz_extras import textures
from featviz_extras.images import ImageLike, load_image

if TYPE_CHECKING:
    import keras

CLASS_INDEX_FILE = Path(__file__).with_name("data") / "imagenet_classes.tsv"
N_CLASSES = 1000
DEFAULT_MODELS = ("vgg19", "vgg16", "resnet50")

# (class id: the wnid of an ImageNet class, the name of a texture class; class name, probability)
Prediction = tuple[str, str, float]

RANDOM_WEIGHTS_NOTE = (
    "these predictions come from random weights and are meaningless without trained weights"
)


@cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """The 1000 ImageNet classes as ``(wnid, name)`` pairs, in the order of Keras's outputs."""
    lines = CLASS_INDEX_FILE.read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines[1:] if line]
    if len(rows) != N_CLASSES or [int(row[0]) for row in rows] != list(range(N_CLASSES)):
        raise RuntimeError(
            f"{CLASS_INDEX_FILE} is damaged: expected rows 0..{N_CLASSES - 1}; regenerate it with "
            "featviz_extras/data/make_imagenet_classes.py"
        )
    return tuple((wnid, name) for _, wnid, name in rows)


def class_index(wnid_or_name: str) -> int:
    """Output index (0-999) of an ImageNet class given its wnid (``n02321529``) or its name
    (``sea_cucumber``). A name shared by two classes (``crane``, ``maillot``) must be given by
    wnid."""
    matches = [
        i for i, (wnid, name) in enumerate(imagenet_classes()) if wnid_or_name in (wnid, name)
    ]
    if not matches:
        raise ValueError(
            f"{wnid_or_name!r} is not an ImageNet class wnid or name; see {CLASS_INDEX_FILE}"
        )
    if len(matches) > 1:
        wnids = [imagenet_classes()[i][0] for i in matches]
        raise ValueError(f"class name {wnid_or_name!r} is ambiguous; use one of the wnids {wnids}")
    return matches[0]


def model_classes(name: str) -> tuple[tuple[str, str], ...]:
    """The ``(id, name)`` classes of a named model's outputs, in order: :func:`imagenet_classes`
    for the ImageNet models, ``(name, name)`` for each of :data:`textures.CLASSES` for the
    texture models."""
    from featviz_extras import models

    if name not in models.MODEL_NAMES:
        raise ValueError(
            f"unknown model name {name!r}: it selects the preprocessing and the classes, so use "
            f"one of {models.MODEL_NAMES}"
        )
    if name in models.TEXTURE_MODEL_NAMES:
        return tuple((label, label) for label in textures.CLASSES)
    return imagenet_classes()


def _check_top(top: int, count: int = N_CLASSES) -> None:
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or not 1 <= top <= count:
        raise ValueError(f"top must be an integer from 1 to {count}, not {top!r}")


def decode(
    probs: np.ndarray, top: int = 5, classes: Sequence[tuple[str, str]] | None = None
) -> list[Prediction] | list[list[Prediction]]:
    """The ``top`` most probable classes of model outputs.

    ``probs`` of shape ``(K,)`` gives ``[(id, name, probability), ...]``, highest first; shape
    ``(N, K)`` gives one such list per row. ``classes``: the K ``(id, name)`` pairs of the
    outputs (e.g. :func:`model_classes`); default: the 1000 ImageNet classes.
    """
    probs = np.asarray(probs)
    if classes is None:
        classes = imagenet_classes()
        expected = "the output of a model with its ImageNet classifier (include_top=True)"
    else:
        expected = f"one probability per class of {len(classes)}"
    count = len(classes)
    if probs.ndim not in (1, 2) or probs.shape[-1] != count:
        raise ValueError(
            f"probs has shape {probs.shape}; expected ({count},) or (N, {count}), {expected}"
        )
    if not np.all(np.isfinite(probs)):
        raise ValueError("probs contains NaN or infinite values")
    _check_top(top, count)
    if probs.ndim == 2:
        return [decode(row, top, classes) for row in probs]
    best = np.argsort(-probs, kind="stable")[:top]
    return [(classes[i][0], classes[i][1], float(probs[i])) for i in best]


def predict(name: str, model: "keras.Model", image: np.ndarray) -> np.ndarray:
    """Class probabilities ``(K,)`` of one model for one RGB image ``(H, W, 3)`` in [0, 255]
    (K = 1000 for the ImageNet models, one per :func:`model_classes` in general).

    ``name`` (one of :data:`featviz_extras.models.MODEL_NAMES`) selects the preprocessing and
    the classes; the image is resized (bilinear) to the model's input size (its fixed input,
    else ``models.input_size(name)``).
    """
    from featviz_extras import models

    count = len(model_classes(name))  # an unknown name fails here
    size = models.fixed_input_size(model) or models.input_size(name)
    batch = models.preprocess(name, load_image(image, size)[np.newaxis])
    probs = np.asarray(model(batch, training=False), dtype=np.float64)
    if probs.shape != (1, count):
        kind = "ImageNet" if count == N_CLASSES else "texture"
        raise ValueError(
            f"model {name!r} outputs shape {probs.shape[1:]}; expected {count} {kind} class "
            "probabilities (load it with include_top=True)"
        )
    probs = probs[0]
    if probs.min() < 0 or abs(probs.sum() - 1) > 1e-3:
        raise ValueError(
            f"model {name!r} outputs do not look like probabilities (min {probs.min():g}, "
            f"sum {probs.sum():g}); build it with classifier_activation='softmax'"
        )
    return probs


@dataclass(frozen=True)
class Classification:
    """Top predictions of several models for one image.

    :param predictions: ``{model name: [(class id, class name, probability), ...]}``, highest
        probability first (the id is an ImageNet wnid, or a texture class's name).
    :param random_weights: the models were loaded with random weights (``weights=None``), so
        the predictions are meaningless; :attr:`note` says so.
    """

    predictions: dict[str, list[Prediction]]
    random_weights: bool = False

    @property
    def note(self) -> str | None:
        """A warning to show next to the predictions, or None."""
        if not self.random_weights:
            return None
        return (
            f"{RANDOM_WEIGHTS_NOTE} (weights=None); pass weights='imagenet' or the path "
            "of a weights file"
        )

    def __getitem__(self, name: str) -> list[Prediction]:
        return self.predictions[name]

    def table(self) -> str:
        """The predictions as text: the model name, then ``rank. wnid name probability%``
        lines (``rank. name probability%`` for a texture class, whose id is its name)."""
        lines = []
        for name, predictions in self.predictions.items():
            lines.append(name)
            for rank, (wnid, class_name, probability) in enumerate(predictions, start=1):
                label = class_name if wnid == class_name else f"{wnid} {class_name}"
                lines.append(f"  {rank}. {label:<40} {100 * probability:6.2f}%")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table() + (f"\nNOTE: {self.note}" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form: ``{"random_weights": bool, "note": str | None, "predictions":
        {model name: [{"wnid", "name", "probability"}, ...]}}`` (the note without a fix)."""
        return {
            "random_weights": self.random_weights,
            "note": RANDOM_WEIGHTS_NOTE if self.random_weights else None,
            "predictions": {
                name: [{"wnid": w, "name": n, "probability": p} for w, n, p in predictions]
                for name, predictions in self.predictions.items()
            },
        }


def classify(
    image: ImageLike,
    models: Sequence[str] | Mapping[str, "keras.Model"] = DEFAULT_MODELS,
    top: int = 3,
    weights: str | Path | None = "imagenet",
) -> Classification:
    """Top-``top`` ImageNet predictions of several models for one image.

    :param image: a path, or an RGB array ``(H, W, 3)`` in [0, 255] (e.g. the uint8 output of
        :func:`featviz_extras.render.visualize`); resized to each model's input size.
    :param models: model names from :data:`featviz_extras.models.MODEL_NAMES`, loaded one at a
        time with ``weights``; or a mapping ``{name: keras.Model}`` of already-loaded models
        (``weights`` is then not used; the name selects the preprocessing and the classes).
    :param weights: ``"imagenet"``, None (random weights: the result carries a note that the
        predictions are meaningless) or a local weights file, for every model given by name.
    :return: a :class:`Classification`; ``result[name]`` is ``[(class id, class name,
        probability), ...]``, highest probability first. ``top`` may not exceed the number of
        classes of any model.
    """
    from featviz_extras import models as model_zoo

    if isinstance(models, str):
        raise TypeError(f"models must be a list of names or a dict, not the string {models!r}")
    if len(models) == 0:
        raise ValueError(f"no models given; use names from {model_zoo.MODEL_NAMES}")
    for name in models:  # unknown names and a top above a model's classes fail before loading
        _check_top(top, len(model_classes(name)))
    image = load_image(image)
    if isinstance(models, Mapping):
        return Classification(
            {
                name: decode(predict(name, model, image), top, model_classes(name))
                for name, model in models.items()
            }
        )
    results = {}
    for name in models:
        model = model_zoo.load_model(name, weights=weights, include_top=True)
        results[name] = decode(predict(name, model, image), top, model_classes(name))
        del model  # one large model in memory at a time
    return Classification(results, random_weights=weights is None)
