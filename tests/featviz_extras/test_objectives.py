"""Tests of featviz_extras.objectives on hand-made activations and tiny models."""

import numpy as np
import pytest

from featviz_extras import objectives

# activations (N=2, H=2, W=3, C=2), values chosen so that every sum is easy by hand
ACTIVATIONS = np.array(
    [
        [[[1, 10], [2, 20], [3, 30]], [[4, 40], [5, 50], [6, 60]]],
        [[[-1, 0], [0, 0], [1, 0]], [[2, 7], [0, 0], [4, -7]]],
    ],
    dtype=np.float32,
)


def test_objective_constructors_and_validation():
    assert objectives.channel("conv", 3) == objectives.Objective("channel", "conv", (3,))
    assert objectives.neuron("conv", 1, 2, 5).target == (1, 2, 5)
    assert objectives.layer("conv") == objectives.Objective("layer", "conv", ())
    assert objectives.class_logit(7) == objectives.Objective("class_logit", None, (7,))
    with pytest.raises(ValueError, match="valid kinds"):
        objectives.Objective("mean", "conv", (1,))
    with pytest.raises(ValueError, match="3 integers"):
        objectives.Objective("neuron", "conv", (1,))
    with pytest.raises(ValueError, match="layer must be None"):
        objectives.Objective("class_logit", "predictions", (1,))
    with pytest.raises(ValueError, match="layer must be None"):
        objectives.Objective("channel", None, (1,))
    with pytest.raises(TypeError, match="integers"):
        objectives.channel("conv", 1.5)
    assert objectives.channel("conv", np.int64(2)).target == (2,)


def test_evaluate_by_hand():
    import tensorflow as tf

    acts = tf.constant(ACTIVATIONS)
    channel = objectives.evaluate("channel", acts, tf.constant([[1], [0]]))
    # image 0, channel 1: (10+20+30+40+50+60)/6 = 35; image 1, channel 0: (-1+0+1+2+0+4)/6 = 1
    np.testing.assert_allclose(channel.numpy(), [35.0, 1.0])
    # neuron (x, y, c): image 0 at column 2, row 0, channel 0 -> 3; image 1 at (0, 1, 1) -> 7
    neuron = objectives.evaluate("neuron", acts, tf.constant([[2, 0, 0], [0, 1, 1]]))
    np.testing.assert_allclose(neuron.numpy(), [3.0, 7.0])
    # layer: mean of squares over the 12 values of each image
    squares = [(1 + 4 + 9 + 16 + 25 + 36) * 101 / 12, (1 + 0 + 1 + 4 + 49 + 16 + 49) / 12]
    layer = objectives.evaluate("layer", acts, tf.zeros((2, 0), tf.int32))
    np.testing.assert_allclose(layer.numpy(), squares, rtol=1e-6)
    # dense activations (N, C): channel / class logit pick one entry per image
    logits = tf.constant([[0.5, -2.0, 3.0], [1.0, 4.0, -1.0]])
    np.testing.assert_allclose(
        objectives.evaluate("class_logit", logits, tf.constant([[2], [1]])).numpy(), [3.0, 4.0]
    )
    np.testing.assert_allclose(
        objectives.evaluate("channel", logits, tf.constant([[0], [2]])).numpy(), [0.5, -1.0]
    )


def test_total_variation_by_hand():
    import tensorflow as tf

    image = np.zeros((1, 2, 3, 1), np.float32)
    image[0, :, :, 0] = [[0, 1, 3], [2, 2, 2]]
    # vertical differences |2-0|,|2-1|,|2-3| -> mean 4/3; horizontal 1,2,0,0 -> mean 3/4
    tv = objectives.total_variation(tf.constant(image)).numpy()
    np.testing.assert_allclose(tv, [4 / 3 + 3 / 4], rtol=1e-6)


def _classifier(last: str):
    """Tiny model 2 inputs -> 3 classes; the last layer is a Dense with softmax activation,
    a Dense followed by a Softmax layer / an Activation('softmax') layer, or linear."""
    import keras

    inputs = keras.Input((2,))
    kernel = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -3.0]], np.float32)
    bias = np.array([0.1, 0.2, 0.3], np.float32)
    activation = "softmax" if last == "dense_softmax" else None
    dense = keras.layers.Dense(3, activation=activation, name="scores")
    outputs = dense(inputs)
    dense.set_weights([kernel, bias])
    if last == "softmax_layer":
        outputs = keras.layers.Softmax(name="probabilities")(outputs)
    elif last == "activation_layer":
        outputs = keras.layers.Activation("softmax", name="probabilities")(outputs)
    return keras.Model(inputs, outputs), kernel, bias


@pytest.mark.parametrize("last", ["dense_softmax", "softmax_layer", "activation_layer", "linear"])
def test_logits_model_removes_the_softmax(last):
    model, kernel, bias = _classifier(last)
    x = np.array([[1.0, 2.0], [-0.5, 0.25]], np.float32)
    logits = objectives.logits_model(model).predict(x, verbose=0)
    np.testing.assert_allclose(logits, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    assert objectives.logits_model(model) is objectives.logits_model(model)
    probabilities = model.predict(x, verbose=0)
    if last != "linear":  # the original model still outputs probabilities
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_output_model_and_validate():
    import keras

    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(conv)
    outputs = keras.layers.Dense(5, activation="softmax", name="predictions")(pooled)
    model = keras.Model(inputs, outputs)
    assert objectives.output_model(model, objectives.channel("conv", 1)).output.shape[1:] == (
        6,
        6,
        4,
    )
    assert objectives.output_model(model, objectives.class_logit(2)).output.shape[1:] == (5,)
    objectives.validate(model, objectives.channel("conv", 3))
    objectives.validate(model, objectives.layer("pool"))
    objectives.validate(model, objectives.class_logit(4))
    with pytest.raises(ValueError, match="no layer 'conv9'.*conv, pool, predictions"):
        objectives.validate(model, objectives.channel("conv9", 0))
    with pytest.raises(IndexError, match="4 channels"):
        objectives.validate(model, objectives.channel("conv", 4))
    with pytest.raises(IndexError, match="4 channels"):
        objectives.validate(model, objectives.neuron("conv", 0, 0, -1))
    with pytest.raises(IndexError, match="5 output classes"):
        objectives.validate(model, objectives.class_logit(5))
