"""Gradient-ascent feature visualization: the classic "seed" loop and a regularized loop.

Image convention: the loops optimize float RGB images in [-1, 1] of shape (N, H, W, 3)
and feed them to the model as they are, unless a ``preprocess`` callable is given that
maps [-1, 1] images to the model's input (e.g. ``models.preprocessor("vgg19")`` for
ImageNet weights). Results are returned as uint8 ``(x + 1) / 2 * 255``, rounded.

Methods:

* ``"seed"``, the classic loop: start from uniform random uint8 noise
  (``numpy.random.default_rng(seed)``) or from ``start``, mapped to [-1, 1]; each step
  takes the gradient of the objective, divides it by its standard deviation, adds
  ``step_size`` times it to the image and clips the image to [-1, 1].
* ``"regularized"``: the image is a :class:`~featviz_extras.param.FourierImage`
  (Fourier-space, colour-decorrelated), each step shows the model a randomly jittered,
  scaled and rotated copy (:mod:`~featviz_extras.transform`), optionally with a total
  variation penalty, and Adam (learning rate ``step_size``) updates the parameters.
  Random draws are seeded, so the result is reproducible.

Several images are optimized in one batched pass (:func:`visualize_batch`), each for its
own channel; they do not interact (the gradient normalisation and Adam are per image).
Compiled steps are cached per (model, method, objective kind, layer, preprocess,
regularization), so rendering another channel or calling again does not retrace.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from featviz_extras import models, objectives, param, transform
from featviz_extras.objectives import Objective

if TYPE_CHECKING:
    import keras

METHODS = ("seed", "regularized")
DEFAULT_STEP_SIZE = {"seed": 0.1, "regularized": 0.05}
DEFAULT_SIZE = 224

_ADAM_BETA1, _ADAM_BETA2, _ADAM_EPSILON = 0.9, 0.999, 1e-8

# keras.Model -> {cache key: compiled function}
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Regularization:
    """Settings of the ``"regularized"`` method.

    :param transforms: ranges of the random jitter (pixels), scale and rotation (degrees).
    :param decay: the Fourier coefficient at frequency f is scaled by f ** -decay.
    :param amplitude: overall scale of the Fourier parameterization.
    :param decorrelate: use the colour-decorrelated basis (else plain RGB channels).
    :param tv_weight: weight of the total-variation penalty (mean absolute neighbour
        difference of the [-1, 1] image) subtracted from the objective; 0 disables it.
    """

    transforms: transform.Transforms = field(default_factory=transform.Transforms)
    decay: float = 1.0
    amplitude: float = 0.25
    decorrelate: bool = True
    tv_weight: float = 0.0


@dataclass
class History:
    """Record of one render.

    :param activation: objective value after each step, (steps + 1,) for one image or
        (steps + 1, N) for a batch; entry 0 is the start image. Always measured on the
        image itself (for "regularized", without the random transformations).
    :param frames: uint8 images, (H, W, 3) each, or (N, H, W, 3) for a batch.
    :param frame_steps: the step after which each frame was taken.
    """

    activation: np.ndarray
    frames: list[np.ndarray]
    frame_steps: list[int]


def high_frequency_share(image: np.ndarray, cutoff: float = 0.25) -> float:
    """Fraction of an image's spectral power above a spatial frequency.

    The image is converted to greyscale (luma 0.299 R + 0.587 G + 0.114 B), its mean is
    removed, and the power of its 2D FFT is summed over the frequencies whose magnitude
    sqrt(fx**2 + fy**2) exceeds ``cutoff`` (cycles/pixel; the highest is 0.5 per axis).
    White noise gives about 0.80 for cutoff 0.25, natural photographs about 0.02-0.03.

    :param image: (H, W, 3) RGB or (H, W) grey, any numeric dtype.
    :return: a number in [0, 1]; NaN for a constant image (no power at all).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = image @ np.array([0.299, 0.587, 0.114])
    elif image.ndim != 2:
        raise ValueError(f"image must have shape (H, W, 3) or (H, W), got {image.shape}")
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(image.shape[0]),
                                      np.fft.fftfreq(image.shape[1]), indexing="ij"))
    total = power.sum()
    if total == 0:
        return float("nan")
    return float(power[frequency > cutoff].sum() / total)


def visualize(
    model: keras.Model,
    layer: str | None,
    channel: int | None,
    steps: int = 100,
    step_size: float | None = None,
    size: int | None = None,
    seed: int | None = None,
    start: np.ndarray | None = None,
    method: str = "seed",
    return_history: bool = False,
    frame_every: int = 10,
    objective: str = "channel",
    position: tuple[int, int] | None = None,
    preprocess: Callable | None = None,
    regularization: Regularization | None = None,
    output: str = "uint8",
    progress: bool = False,
) -> np.ndarray | tuple[np.ndarray, History]:
    """Maximize one channel (or neuron, layer, class logit) of a Keras model by gradient
    ascent on the input image.

    :param model: any ``keras.Model`` with a defined input.
    :param layer: layer name (None for ``objective="class_logit"``).
    :param channel: channel index (the class index for "class_logit"; None for "layer").
    :param steps: number of gradient-ascent steps.
    :param step_size: "seed": the step added per normalised gradient (default 0.1);
        "regularized": the Adam learning rate (default 0.05).
    :param size: image side in pixels. Default: the side of ``start`` if given, else the
        model's fixed input size if it has one, else 224.
    :param seed: seeds the start noise / parameters and the random transformations.
    :param start: uint8 start image (H, W, 3) instead of random noise.
    :param method: ``"seed"`` (classic loop) or ``"regularized"``.
    :param return_history: also return a :class:`History`.
    :param frame_every: keep a frame every this many steps (plus the last one).
    :param objective: "channel" (mean activation), "neuron" (at ``position``), "layer"
        (DeepDream: mean squared activation) or "class_logit" (pre-softmax score).
    :param position: (x, y) feature-map position for "neuron" (column, row).
    :param preprocess: callable mapping [-1, 1] images to the model input (default: none,
        the [-1, 1] image is the model input). Pass the same callable each time to reuse
        compiled steps.
    :param regularization: settings of the "regularized" method (default
        :class:`Regularization()`).
    :param output: "uint8" (default) or "float" (the optimized image in [-1, 1]).
    :param progress: show a tqdm progress bar.
    :return: image (H, W, 3), or ``(image, history)``.
    """
    target = _objective(objective, layer, channel, position)
    if start is not None:
        start = _check_start(start)[None]
    result = render(model, [target], steps=steps, step_size=step_size, size=size, seed=seed,
                    start=start, method=method, return_history=return_history,
                    frame_every=frame_every, preprocess=preprocess,
                    regularization=regularization, output=output, progress=progress)
    if not return_history:
        return result[0]
    images, history = result
    history.activation = history.activation[:, 0]
    history.frames = [frame[0] for frame in history.frames]
    return images[0], history


def visualize_batch(
    model: keras.Model,
    layer: str,
    channels: Sequence[int],
    steps: int = 100,
    step_size: float | None = None,
    size: int | None = None,
    seed: int | None = None,
    start: np.ndarray | None = None,
    method: str = "seed",
    return_history: bool = False,
    frame_every: int = 10,
    preprocess: Callable | None = None,
    regularization: Regularization | None = None,
    output: str = "uint8",
    progress: bool = False,
) -> np.ndarray | tuple[np.ndarray, History]:
    """Render several channels of one layer in one batched pass; image i maximizes the
    mean activation of ``channels[i]``. Arguments as in :func:`visualize`; ``start`` is
    one uint8 image (H, W, 3) shared by all, or one per channel (N, H, W, 3).

    :return: uint8 images (N, H, W, 3) (or float with ``output="float"``), or
        ``(images, history)`` with ``history.activation`` of shape (steps + 1, N).
    """
    if len(channels) == 0:
        raise ValueError("channels is empty: pass at least one channel index")
    targets = [objectives.channel(layer, c) for c in channels]
    if start is not None:
        start = _check_start(start)
        if start.ndim == 3:
            start = np.repeat(start[None], len(targets), axis=0)
        elif len(start) != len(targets):
            raise ValueError(f"start has {len(start)} images but {len(targets)} channels "
                             "were requested; pass one image or one per channel")
    return render(model, targets, steps=steps, step_size=step_size, size=size, seed=seed,
                  start=start, method=method, return_history=return_history,
                  frame_every=frame_every, preprocess=preprocess,
                  regularization=regularization, output=output, progress=progress)


def render(
    model: keras.Model,
    batch: Sequence[Objective],
    steps: int = 100,
    step_size: float | None = None,
    size: int | None = None,
    seed: int | None = None,
    start: np.ndarray | None = None,
    method: str = "seed",
    return_history: bool = False,
    frame_every: int = 10,
    preprocess: Callable | None = None,
    regularization: Regularization | None = None,
    output: str = "uint8",
    progress: bool = False,
) -> np.ndarray | tuple[np.ndarray, History]:
    """Optimize one image per objective, all in one batch.

    :param batch: N objectives of the same kind and layer (each with its own target).
    :param start: uint8 start images (N, H, W, 3), or None for random noise.
    Other arguments as in :func:`visualize`.
    :return: images (N, H, W, 3) (uint8, or float in [-1, 1] with ``output="float"``), or
        ``(images, history)`` with ``history.activation`` (steps + 1, N).
    """
    targets = list(batch)
    _check_arguments(model, targets, steps, method, frame_every, output)
    if regularization is not None and method != "regularized":
        raise ValueError(f"regularization settings only apply to method='regularized', "
                         f"not method={method!r}")
    if start is not None:
        start = _check_start(start)
        if start.ndim != 4 or len(start) != len(targets):
            raise ValueError(f"start must hold one image per objective, shape "
                             f"({len(targets)}, H, W, 3), got {start.shape}")
    height, width = _image_shape(model, size, start)
    for target in targets:
        _check_neuron_position(model, target, height, width)
    if step_size is None:
        step_size = DEFAULT_STEP_SIZE[method]
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    elif isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    run = _run_seed if method == "seed" else _run_regularized
    images, history = run(model, targets, steps, step_size, (height, width), seed, start,
                          return_history, frame_every, preprocess,
                          regularization or Regularization(), progress)
    images = images if output == "float" else param.unit_to_uint8(images)
    return (images, history) if return_history else images


def _objective(kind: str, layer: str | None, channel: int | None,
               position: tuple[int, int] | None) -> Objective:
    if kind == "channel":
        _require(channel is not None, "objective 'channel' needs a channel index")
        return objectives.channel(layer, channel)
    if kind == "neuron":
        _require(channel is not None and position is not None,
                 "objective 'neuron' needs a channel index and position=(x, y)")
        return objectives.neuron(layer, position[0], position[1], channel)
    if kind == "layer":
        _require(channel is None, "objective 'layer' uses the whole layer: pass channel=None")
        return objectives.layer(layer)
    if kind == "class_logit":
        _require(channel is not None, "objective 'class_logit' needs a class index (channel=)")
        _require(layer is None, "objective 'class_logit' reads the model output: pass layer=None")
        return objectives.class_logit(channel)
    raise ValueError(f"unknown objective {kind!r}; valid objectives are {objectives.KINDS}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_start(start: np.ndarray) -> np.ndarray:
    start = np.asarray(start)
    if start.dtype != np.uint8:
        raise TypeError(f"start must be a uint8 image in [0, 255], got dtype {start.dtype}; "
                        "convert it with numpy.asarray(image, dtype=numpy.uint8)")
    if start.ndim not in (3, 4) or start.shape[-1] != 3:
        raise ValueError(f"start must be an RGB image (H, W, 3), got shape {start.shape}")
    return start


def _check_arguments(model, targets: list[Objective], steps: int, method: str,
                     frame_every: int, output: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods are {METHODS}")
    if output not in ("uint8", "float"):
        raise ValueError(f"output must be 'uint8' or 'float', got {output!r}")
    if not isinstance(steps, int | np.integer) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if frame_every < 1:
        raise ValueError(f"frame_every must be >= 1, got {frame_every}")
    if not targets:
        raise ValueError("no objectives given")
    kinds = {(target.kind, target.layer) for target in targets}
    if len(kinds) > 1:
        raise ValueError(f"a batch must share one objective kind and layer, got {sorted(kinds)}")
    for target in targets:
        objectives.validate(model, target)


def _image_shape(model, size: int | None, start: np.ndarray | None) -> tuple[int, int]:
    fixed = tuple(models.model_input(model).shape[1:3])
    fixed = fixed if None not in fixed else None
    if start is not None:
        shape = tuple(start.shape[1:3])
        if size is not None and shape != (size, size):
            raise ValueError(f"start images are {shape[0]}x{shape[1]} but size={size}; "
                             "pass size=None or a start image of that size")
    elif size is not None:
        shape = (int(size), int(size))
    else:
        shape = fixed or (DEFAULT_SIZE, DEFAULT_SIZE)
    if fixed is not None and shape != fixed:
        raise ValueError(f"model {model.name!r} takes {fixed[0]}x{fixed[1]} images, not "
                         f"{shape[0]}x{shape[1]}; use that size, or a model built for any size "
                         "(e.g. models.load_model(..., include_top=False))")
    return shape


def _check_neuron_position(model, target: Objective, height: int, width: int) -> None:
    if target.kind != "neuron":
        return
    cut = objectives.output_model(model, target)
    map_height, map_width = cut.compute_output_shape((1, height, width, 3))[1:3]
    x, y = target.target[:2]
    if not (0 <= x < map_width and 0 <= y < map_height):
        raise IndexError(f"neuron position (x={x}, y={y}) is outside the {map_width}x"
                         f"{map_height} (width x height) feature map of layer "
                         f"{target.layer!r} for {width}x{height} images")


def _compiled(model, key: tuple, build: Callable[[], Callable]) -> Callable:
    """The compiled function cached for ``model`` under ``key`` (built on first use)."""
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _identity(images):
    return images


def _seed_step(cut, kind: str, preprocess: Callable) -> Callable:
    import tensorflow as tf

    @tf.function
    def step(images, targets, step_size):
        with tf.GradientTape() as tape:
            tape.watch(images)
            values = objectives.evaluate(kind, cut(preprocess(images), training=False), targets)
            total = tf.reduce_sum(values)
        gradients = tape.gradient(total, images)
        gradients /= tf.math.reduce_std(gradients, axis=[1, 2, 3], keepdims=True) + 1e-8
        images = tf.clip_by_value(images + gradients * step_size, -1.0, 1.0)
        return values, images

    return step


def _evaluation(cut, kind: str, preprocess: Callable) -> Callable:
    import tensorflow as tf

    @tf.function
    def evaluate(images, targets):
        return objectives.evaluate(kind, cut(preprocess(images), training=False), targets)

    return evaluate


def _regularized_step(cut, kind: str, preprocess: Callable, fourier: param.FourierImage,
                      regularization: Regularization) -> Callable:
    import tensorflow as tf

    @tf.function
    def step(parameters, first_moment, second_moment, count, seed, targets, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(parameters)
            images = fourier.images(parameters)
            seen = transform.random_transform(images, seed, regularization.transforms)
            values = objectives.evaluate(kind, cut(preprocess(seen), training=False), targets)
            loss = -tf.reduce_sum(values)
            if regularization.tv_weight:
                loss += regularization.tv_weight * tf.reduce_sum(
                    objectives.total_variation(images))
        gradients = tape.gradient(loss, parameters)
        # Adam, elementwise, so the images of a batch do not interact
        first_moment = _ADAM_BETA1 * first_moment + (1 - _ADAM_BETA1) * gradients
        second_moment = _ADAM_BETA2 * second_moment + (1 - _ADAM_BETA2) * tf.square(gradients)
        count += 1.0
        corrected_first = first_moment / (1 - _ADAM_BETA1**count)
        corrected_second = second_moment / (1 - _ADAM_BETA2**count)
        parameters -= learning_rate * corrected_first / (tf.sqrt(corrected_second)
                                                         + _ADAM_EPSILON)
        return values, images, parameters, first_moment, second_moment, count

    return step


def _steps_range(steps: int, progress: bool):
    if not progress:
        return range(steps)
    from tqdm.auto import tqdm

    return tqdm(range(steps), desc="gradient ascent")


def _is_frame(step: int, steps: int, frame_every: int) -> bool:
    return step % frame_every == 0 or step == steps


def _run_seed(model, targets, steps, step_size, shape, seed, start, return_history,
              frame_every, preprocess, regularization, progress):
    import tensorflow as tf

    kind, layer = targets[0].kind, targets[0].layer
    cut = objectives.output_model(model, targets[0])
    preprocess = preprocess or _identity
    step = _compiled(model, ("seed", kind, layer, preprocess),
                     lambda: _seed_step(cut, kind, preprocess))
    if start is None:
        start = param.noise_images(len(targets), *shape, seed)
    images = tf.constant(param.uint8_to_unit(start))
    target_tensor = tf.constant([t.target for t in targets], dtype=tf.int32)
    step_size = tf.constant(step_size, dtype=tf.float32)
    values, frames, frame_steps = [], [], []
    for number in _steps_range(steps, progress):
        if return_history and _is_frame(number, steps, frame_every):
            frames.append(param.unit_to_uint8(images.numpy()))
            frame_steps.append(number)
        value, images = step(images, target_tensor, step_size)
        values.append(value)
    history = None
    if return_history:
        evaluate = _compiled(model, ("evaluate", kind, layer, preprocess),
                             lambda: _evaluation(cut, kind, preprocess))
        values.append(evaluate(images, target_tensor))
        frames.append(param.unit_to_uint8(images.numpy()))
        frame_steps.append(steps)
        history = History(np.array([v.numpy() for v in values]), frames, frame_steps)
    return images.numpy(), history


def _run_regularized(model, targets, steps, step_size, shape, seed, start, return_history,
                     frame_every, preprocess, regularization, progress):
    import tensorflow as tf

    kind, layer = targets[0].kind, targets[0].layer
    cut = objectives.output_model(model, targets[0])
    preprocess = preprocess or _identity
    fourier = param.FourierImage(*shape, decay=regularization.decay,
                                 amplitude=regularization.amplitude,
                                 decorrelate=regularization.decorrelate)
    step = _compiled(model, ("regularized", kind, layer, preprocess, fourier, regularization),
                     lambda: _regularized_step(cut, kind, preprocess, fourier, regularization))
    if start is None:
        parameters = fourier.random_parameters(len(targets), seed)
    else:
        parameters = fourier.parameters_from_images(param.uint8_to_unit(start))
    parameters = tf.constant(parameters)
    first_moment = tf.zeros_like(parameters)
    second_moment = tf.zeros_like(parameters)
    count = tf.constant(0.0)
    target_tensor = tf.constant([t.target for t in targets], dtype=tf.int32)
    learning_rate = tf.constant(step_size, dtype=tf.float32)
    evaluate = _compiled(model, ("evaluate", kind, layer, preprocess),
                         lambda: _evaluation(cut, kind, preprocess))
    values, frames, frame_steps = [], [], []
    for number in _steps_range(steps, progress):
        step_seed = tf.constant([seed % 2**63, number], dtype=tf.int64)
        _, images, parameters, first_moment, second_moment, count = step(
            parameters, first_moment, second_moment, count, step_seed, target_tensor,
            learning_rate)
        if return_history:
            values.append(evaluate(images, target_tensor))
            if _is_frame(number, steps, frame_every):
                frames.append(param.unit_to_uint8(images.numpy()))
                frame_steps.append(number)
    images = fourier.images(parameters)
    history = None
    if return_history:
        values.append(evaluate(images, target_tensor))
        frames.append(param.unit_to_uint8(images.numpy()))
        frame_steps.append(steps)
        history = History(np.array([v.numpy() for v in values]), frames, frame_steps)
    return images.numpy(), history
