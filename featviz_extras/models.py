"""Keras models by name: loading, weights, input sizes, preprocessing, cutting at a layer.

Two kinds of named models share this interface: the Keras ImageNet applications
(:data:`IMAGENET_MODEL_NAMES`, 1000 ImageNet classes) and the small texture CNNs trained here
(:data:`TEXTURE_MODEL_NAMES`, the classes of :data:`featviz_extras.textures.CLASSES`; see
:mod:`featviz_extras.trained`). Both load with :func:`load_model` ``(name, weights=PATH)``.

Input sizes: :func:`input_size` is a named architecture's native size (224, 299);
:func:`fixed_input_size` is what a built model accepts (None: any size). Every module asks
these two, nowhere else.

Images handed to :func:`preprocess` are float RGB in [0, 255] with shape (N, H, W, 3).
The gradient-ascent loops in :mod:`featviz_extras.render` optimize images in [-1, 1];
:func:`preprocessor` gives the matching map from [-1, 1] to a named model's input.

TensorFlow is imported lazily inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from featviz_extras import trained

if TYPE_CHECKING:
    import keras

IMAGENET_MODEL_NAMES = ("vgg19", "vgg16", "resnet50", "inception_v3")
TEXTURE_MODEL_NAMES = trained.ARCHITECTURES
MODEL_NAMES = IMAGENET_MODEL_NAMES + TEXTURE_MODEL_NAMES

# name -> (keras.applications module, constructor name, input size in pixels)
_APPLICATIONS = {
    "vgg19": ("vgg19", "VGG19", 224),
    "vgg16": ("vgg16", "VGG16", 224),
    "resnet50": ("resnet50", "ResNet50", 224),
    "inception_v3": ("inception_v3", "InceptionV3", 299),
}

# keras.Model -> {layer name: cut keras.Model}; entries vanish with the model
_LAYER_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check_name(name: str) -> str:
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model name {name!r}; valid names are {', '.join(MODEL_NAMES)}")
    return name


def _application(name: str) -> Any:
    """The keras.applications submodule for an ImageNet model name (has the constructor and
    ``preprocess_input``)."""
    module = _APPLICATIONS[_check_name(name)][0]
    import keras

    return getattr(keras.applications, module)


def _preprocess_input(name: str) -> Callable:
    """A named model's ``preprocess_input`` (from [0, 255] RGB to its input)."""
    if _check_name(name) in TEXTURE_MODEL_NAMES:
        return trained.preprocess_input
    return _application(name).preprocess_input


def _constructor(name: str) -> Callable[..., keras.Model]:
    return getattr(_application(name), _APPLICATIONS[name][1])


def input_size(name: str) -> int:
    """Native square input size in pixels of a named model (224, or 299 for inception_v3, 64
    for the texture models): the size it was trained at, and for the ImageNet models the fixed
    input size of the model built with its head (the texture models take any size)."""
    if _check_name(name) in TEXTURE_MODEL_NAMES:
        return trained.INPUT_SIZE
    return _APPLICATIONS[name][2]


def fixed_input_size(model: keras.Model) -> int | None:
    """Square input size in pixels of a built single-input model, or None if it accepts any
    image size (e.g. the applications built with ``include_top=False``). A non-square fixed
    input raises ValueError."""
    height, width = model_input(model).shape[1:3]
    if height is None or width is None:
        return None
    if height != width:
        raise ValueError(
            f"model {model.name!r} takes non-square {height}x{width} images; "
            "feature visualization here needs square images"
        )
    return int(height)


class WeightsDownloadError(RuntimeError):
    """Keras could not download a model's ImageNet weights (no internet, blocked URL)."""

    def __init__(self, name: str, cause: Exception):
        self.model_name, self.cause = name, cause
        super().__init__(
            f"could not download ImageNet weights for {name}; pass weights=<local .h5 file> "
            f"or weights=None (random initialisation). The error was: {cause}"
        )


def load_model(
    name: str, weights: str | os.PathLike | None = "imagenet", include_top: bool = True
) -> keras.Model:
    """Build a named model: a Keras ImageNet application or a texture model.

    :param name: one of :data:`MODEL_NAMES`.
    :param weights: ``"imagenet"`` (downloaded by Keras, needs internet the first time; not
        for the texture models), ``None`` (random initialisation; seed it with
        ``keras.utils.set_random_seed``), or the path of a local weights file (``.h5``,
        ``.weights.h5`` or ``.keras``; for a texture model, e.g. the file of
        :func:`featviz_extras.trained.trained_model_path`).
    :param include_top: keep the classifier head. With the head the input of an ImageNet
        model is fixed to :func:`input_size` pixels; without it any image size is accepted.
        A texture model takes any size either way; without its head it ends at its late
        layer (:data:`featviz_extras.trained.FEATURE_LAYERS`).
    :return: the ``keras.Model``; its input takes images already passed through
        :func:`preprocess` (shape (N, H, W, 3)). A failed download of the ImageNet weights
        raises :class:`WeightsDownloadError`.
    """
    _check_name(name)
    if weights is None or weights == "imagenet":
        pass
    elif isinstance(weights, str | os.PathLike):
        weights = os.fspath(weights)
        if not os.path.isfile(weights):
            raise FileNotFoundError(
                f"weights file {weights!r} for model {name!r} does not exist; pass the path "
                "of a local .h5/.keras weights file, weights='imagenet' or weights=None"
            )
    else:
        raise ValueError(
            f"weights must be 'imagenet', None or the path of a local weights file, not {weights!r}"
        )
    if name in TEXTURE_MODEL_NAMES:
        return _texture_model(name, weights, include_top)
    constructor = _constructor(name)
    if weights != "imagenet":
        return constructor(weights=weights, include_top=include_top)
    try:
        return constructor(weights="imagenet", include_top=include_top)
    except Exception as excpt:  # Keras raises a bare Exception on URL failures
        raise WeightsDownloadError(name, excpt) from excpt


def _texture_model(name: str, weights: str | None, include_top: bool) -> keras.Model:
    import keras

    if weights == "imagenet":
        raise ValueError(
            f"{name} is a texture model trained here: it has no ImageNet weights; pass "
            f"weights=<its .keras file> (featviz_extras.trained.trained_model_path({name!r})) "
            "or weights=None"
        )
    model = trained.build(name)
    if weights is not None:
        model.load_weights(weights)
    if include_top:
        return model
    features = model.get_layer(trained.FEATURE_LAYERS[name]).output
    return keras.Model(model_input(model), features, name=name)


def load_model_for_layer(
    name: str, layer: str, weights: str | os.PathLike | None = "imagenet"
) -> keras.Model:
    """A named model that has ``layer``: built without its classifier head (any image size)
    when the layer is in the convolutional part, else with it (fixed :func:`input_size`).
    Arguments as in :func:`load_model`; an unknown layer raises ValueError listing the valid
    names. Random weights (``weights=None``) follow Keras's global seed
    (``keras.utils.set_random_seed``)."""
    model = load_model(name, weights=weights, include_top=False)
    if layer not in layer_names(model):
        model = load_model(name, weights=weights, include_top=True)
    get_layer(model, layer)
    return model


def preprocess(name: str, images: np.ndarray) -> np.ndarray:
    """Apply a named model's own ``preprocess_input``.

    :param images: float RGB images in [0, 255], shape (N, H, W, 3); not modified.
    :return: float32 array (N, H, W, 3) ready for the model's input.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}")
    # Keras's preprocess_input works in place on float32 arrays: always hand it a copy
    return np.asarray(_preprocess_input(name)(np.array(images, dtype=np.float32)), dtype=np.float32)


@functools.cache
def preprocessor(name: str) -> Callable:
    """Map from images in [-1, 1] (the convention of :mod:`featviz_extras.render`) to a
    named model's input: ``x -> preprocess_input((x + 1) * 127.5)``.

    The returned callable accepts and returns tensors of shape (N, H, W, 3) and can be
    passed as ``preprocess=`` to the render functions (it is differentiable). The same
    callable is returned for the same name, so compiled render steps are reused.
    """
    preprocess_input = _preprocess_input(name)

    def unit_to_model_input(images):
        return preprocess_input((images + 1.0) * 127.5)

    unit_to_model_input.__name__ = f"{name}_preprocessor"
    return unit_to_model_input


def layer_names(model: keras.Model) -> list[str]:
    """Names of all layers of ``model``, in order."""
    return [layer.name for layer in model.layers]


def get_layer(model: keras.Model, layer: str) -> keras.layers.Layer:
    """The layer of ``model`` called ``layer``; unknown name -> ValueError listing the
    valid names."""
    names = layer_names(model)
    if layer not in names:
        raise ValueError(
            f"model {model.name!r} has no layer {layer!r}; valid layer names are: "
            + ", ".join(names)
        )
    return model.get_layer(layer)


def model_input(model: keras.Model):
    """The input tensor of a single-input model (so that sub-models built on it take a
    plain tensor, not a one-element list); several inputs -> ValueError."""
    if len(model.inputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(model.inputs)} inputs; feature "
            "visualization needs a model with one image input"
        )
    return model.inputs[0]


def layer_model(model: keras.Model, layer: str) -> keras.Model:
    """A model mapping ``model``'s input to the output of ``layer`` (shared weights).

    Built once per (model, layer) and cached.
    """
    import keras

    cut_models = _LAYER_MODELS.setdefault(model, {})
    if layer not in cut_models:
        output = get_layer(model, layer).output
        cut_models[layer] = keras.Model(model_input(model), output, name=f"{model.name}_{layer}")
    return cut_models[layer]


def channel_count(model: keras.Model, layer: str) -> int:
    """Number of channels (last axis) of a layer's output."""
    shape = get_layer(model, layer).output.shape
    return int(shape[-1])


def check_channel(model: keras.Model, layer: str, channel: int) -> int:
    """Check that ``channel`` is a valid channel index of ``layer``; returns the layer's
    channel count. Out of range -> IndexError saying the count; non-integer -> TypeError."""
    count = channel_count(model, layer)
    if isinstance(channel, bool) or not isinstance(channel, int | np.integer):
        raise TypeError(f"channel must be an integer, not {channel!r}")
    if not 0 <= channel < count:
        raise IndexError(
            f"channel {channel} is out of range for layer {layer!r}, which has {count} "
            f"channels (valid: 0 to {count - 1})"
        )
    return count
