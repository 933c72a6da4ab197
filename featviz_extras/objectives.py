"""What the gradient-ascent loops maximize: a channel, a neuron, a whole layer, a class logit.

An :class:`Objective` names the kind, the layer and the integer target (channel, neuron
position, class index). :func:`evaluate` turns a batch of layer activations into one
value per image, each image with its own target, so several channels can be optimized
in one batched pass. Targets are runtime tensors: one compiled step serves every channel.

Activations have shape (N, H, W, C) for convolutional layers or (N, C) for dense layers.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from featviz_extras import models

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

KINDS = ("channel", "neuron", "layer", "class_logit")

# number of integers in the target of each kind
_TARGET_LENGTH = {"channel": 1, "neuron": 3, "layer": 0, "class_logit": 1}

# keras.Model -> its pre-softmax model (see logits_model)
_LOGITS_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Objective:
    """A quantity to maximize.

    :param kind: one of :data:`KINDS`.
    :param layer: layer name (``None`` for ``"class_logit"``: the model's pre-softmax output).
    :param target: ``(channel,)`` for "channel"; ``(x, y, channel)`` for "neuron" (x the
        column, y the row of the layer's feature map); ``()`` for "layer";
        ``(class_index,)`` for "class_logit".
    """

    kind: str
    layer: str | None
    target: tuple[int, ...] = ()

    def __post_init__(self):
        for value in self.target:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"objective targets must be integers, got {self.target!r}")
        object.__setattr__(self, "target", tuple(int(value) for value in self.target))
        if self.kind not in KINDS:
            raise ValueError(f"unknown objective kind {self.kind!r}; valid kinds are {KINDS}")
        if len(self.target) != _TARGET_LENGTH[self.kind]:
            raise ValueError(
                f"objective {self.kind!r} needs a target of {_TARGET_LENGTH[self.kind]} "
                f"integers, got {self.target!r}"
            )
        if (self.kind == "class_logit") != (self.layer is None):
            raise ValueError("layer must be None for 'class_logit' and a layer name otherwise")


def channel(layer: str, channel: int) -> Objective:
    """Mean activation of one channel over the feature map."""
    return Objective("channel", layer, (channel,))


def neuron(layer: str, x: int, y: int, channel: int) -> Objective:
    """Activation of one channel at one feature-map position (column x, row y)."""
    return Objective("neuron", layer, (x, y, channel))


def layer(layer: str) -> Objective:
    """DeepDream: mean of the squared activations of the whole layer."""
    return Objective("layer", layer, ())


def class_logit(index: int) -> Objective:
    """Pre-softmax score (logit) of one output class."""
    return Objective("class_logit", None, (index,))


def evaluate(kind: str, activations: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """Objective value of each image.

    :param kind: one of :data:`KINDS`.
    :param activations: layer output, (N, H, W, C) or (N, C).
    :param targets: int32 (N, k) with each image's target (k = 1, 3, 0 or 1 for
        channel, neuron, layer, class_logit).
    :return: float tensor (N,).
    """
    import tensorflow as tf

    if kind in ("channel", "class_logit"):
        selected = tf.gather(activations, targets[:, 0], axis=-1, batch_dims=1)
        if len(selected.shape) == 1:
            return selected
        return tf.reduce_mean(selected, axis=list(range(1, len(selected.shape))))
    if kind == "neuron":
        # (x, y, channel) -> index (row y, column x, channel) in (H, W, C)
        indices = tf.stack([targets[:, 1], targets[:, 0], targets[:, 2]], axis=1)
        return tf.gather_nd(activations, indices, batch_dims=1)
    if kind == "layer":
        return tf.reduce_mean(tf.square(activations), axis=list(range(1, len(activations.shape))))
    raise ValueError(f"unknown objective kind {kind!r}; valid kinds are {KINDS}")


def _is_softmax(function) -> bool:
    return getattr(function, "__name__", None) == "softmax"


def logits_model(model: keras.Model) -> keras.Model:
    """A model mapping ``model``'s input to its pre-softmax output (logits).

    If the last layer is a softmax layer, its input is used; if it is a layer with a
    softmax activation (e.g. the ``predictions`` Dense layer of the Keras applications),
    a copy of it with a linear activation is applied to its input (the weights are copied
    once, when this model is first built); otherwise the output is taken as logits.
    Cached per model.
    """
    import keras

    if model in _LOGITS_MODELS:
        return _LOGITS_MODELS[model]
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and _is_softmax(last.activation)
    ):
        output = last.input
    elif _is_softmax(getattr(last, "activation", None)):
        config = last.get_config()
        config["activation"] = "linear"
        config["name"] = f"{last.name}_logits"
        linear = type(last).from_config(config)
        output = linear(last.input)
        linear.set_weights(last.get_weights())
    else:
        output = model.outputs[0]
    logits = keras.Model(models.model_input(model), output, name=f"{model.name}_logits")
    _LOGITS_MODELS[model] = logits
    return logits


def output_model(model: keras.Model, objective: Objective) -> keras.Model:
    """The sub-model whose output the objective reads: the cut at ``objective.layer``, or
    the logits model for "class_logit"."""
    if objective.kind == "class_logit":
        return logits_model(model)
    return models.layer_model(model, objective.layer)


def validate(model: keras.Model, objective: Objective) -> None:
    """Check the objective against the model: the layer exists, the channel or class
    index is in range. (Neuron positions are checked against the feature-map size by the
    render functions, which know the image size.)"""
    if objective.kind == "class_logit":
        count = int(logits_model(model).output.shape[-1])
        index = objective.target[0]
        if not 0 <= index < count:
            raise IndexError(
                f"class index {index} is out of range: model {model.name!r} has {count} "
                f"output classes (valid: 0 to {count - 1})"
            )
        return
    models.get_layer(model, objective.layer)
    if objective.kind in ("channel", "neuron"):
        models.check_channel(model, objective.layer, objective.target[-1])


def total_variation(images: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference between neighbouring pixels of each image.

    :param images: float (N, H, W, C).
    :return: float tensor (N,) (independent of the image size, unlike
        ``tf.image.total_variation``).
    """
    import tensorflow as tf

    down = tf.reduce_mean(tf.abs(images[:, 1:] - images[:, :-1]), axis=[1, 2, 3])
    right = tf.reduce_mean(tf.abs(images[:, :, 1:] - images[:, :, :-1]), axis=[1, 2, 3])
    return down + right
