"""Gradient-ascent feature visualization: the classic "seed" loop and a regularized loop.

Image convention: the loops optimize float RGB images in [-1, 1] of shape (N, H, W, 3)
and feed them to the model as they are, unless a ``preprocess`` callable is given that
maps [-1, 1] images to the model's input (e.g. ``models.preprocessor("vgg19")`` for
ImageNet weights). Results are returned as uint8 ``(x + 1) / 2 * 255``, rounded.

How to render is one :class:`Settings` value, shared by :func:`visualize` (one
objective), :func:`visualize_batch` (several channels of a layer) and :func:`render` (a
batch of objectives); its fields may also be given as keywords
(``visualize(model, layer, 4, steps=50)``).

The two methods:

* ``"seed"``, the classic loop (docs/featviz.md): start from uniform random uint8 noise
  (``numpy.random.default_rng(seed)``) or from ``start``, mapped to [-1, 1]; each step
  takes the gradient g of the objective, divides it by its standard deviation (over all
  of the image's pixels and colours, no epsilon), adds ``step_size * g / std(g)`` to the
  image and clips it to [-1, 1]. An image whose gradient is exactly zero (a dead channel)
  is left unchanged at that step, and a :class:`ZeroGradientWarning` says so.
* ``"regularized"``: the image is a :class:`~featviz_extras.param.FourierImage`
  (Fourier-space, colour-decorrelated), each step shows the model a randomly jittered,
  scaled and rotated copy (:mod:`~featviz_extras.transform`; by default the ranges shrink to
  zero over the first half of the steps), optionally with a total variation penalty, and
  Adam updates the parameters. Random draws are seeded, so the result is reproducible. An
  image whose gradient is exactly zero at some steps (a channel dead on the start image) gets
  a :class:`ZeroGradientWarning` too.

Several images are optimized in one batched pass, each for its own objective; they do not
interact (the gradient normalisation and Adam are per image). Compiled steps are cached per
(model, method, objective kind, layer, preprocess, regularization), so rendering another
channel or calling again does not retrace.
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from featviz_extras import models, objectives, param, transform
from featviz_extras.objectives import Objective

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

METHODS = ("seed", "regularized")
OUTPUTS = ("uint8", "float")
DEFAULT_STEP_SIZE = {"seed": 0.1, "regularized": 0.1}  # docs/featviz.md: how they were chosen
DEFAULT_SIZE = 224

_ADAM_BETA1, _ADAM_BETA2, _ADAM_EPSILON = 0.9, 0.999, 1e-8

# keras.Model -> {cache key: compiled function}
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ZeroGradientWarning(UserWarning):
    """The objective's gradient was exactly zero for an image at some steps (a dead channel
    for that image): the "seed" loop left the image unchanged at those steps; the
    "regularized" loop got no signal from the objective at those steps."""


@dataclass(frozen=True)
class Regularization:
    """Settings of the ``"regularized"`` method.

    :param transforms: ranges of the random jitter (pixels), scale and rotation (degrees).
    :param decay: the Fourier coefficient at frequency f is scaled by f ** -decay.
    :param amplitude: overall scale of the Fourier parameterization.
    :param decorrelate: use the colour-decorrelated basis (else plain RGB channels).
    :param tv_weight: weight of the total-variation penalty (mean absolute neighbour
        difference of the [-1, 1] image) subtracted from the objective; 0 disables it.
    :param fade: None: the transformations keep their full ranges; a fraction f in (0, 1]:
        their ranges shrink linearly from full at the first step to zero at fraction f of
        the steps, and the later steps show the model the image itself.
    :param start_std: standard deviation of the random start parameters (without a start
        image): 0.2 gives a start image with about 13 uint8 levels of spread; 0.01 (the old
        default) a nearly uniform grey one, on which a trained network's ReLU channel is often
        exactly zero, so that it gets no gradient at all.

    The defaults (and the learning rate 0.1) were chosen on a random VGG19, where constant
    transformations cost most of the activation, and ``start_std`` on the texture CNNs trained
    here, where it raised the transfer rate from 0.85 to 0.97; docs/featviz.md gives the
    measurements.
    """

    transforms: transform.Transforms = field(default_factory=transform.Transforms)
    decay: float = 1.0
    amplitude: float = 0.25
    decorrelate: bool = True
    tv_weight: float = 0.0
    fade: float | None = 0.5
    start_std: float = 0.2

    def __post_init__(self):
        if self.fade is not None and not 0 < self.fade <= 1:
            raise ValueError(f"fade must be None or a fraction in (0, 1], got {self.fade!r}")
        if not self.start_std >= 0:
            raise ValueError(f"start_std must be >= 0, got {self.start_std!r}")

    def strength(self, step: int, steps: int) -> float:
        """Strength (1: full ranges, 0: none) of the transformations at step ``step`` of
        ``steps`` (see ``fade``)."""
        if self.fade is None:
            return 1.0
        return max(0.0, 1.0 - step / (self.fade * steps))


@dataclass(frozen=True)
class Settings:
    """How to render: one value shared by :func:`visualize`, :func:`visualize_batch` and
    :func:`render`. Invalid values raise ValueError when the settings are made.

    :param steps: number of gradient-ascent steps (>= 0).
    :param method: ``"seed"`` (the classic loop) or ``"regularized"``.
    :param step_size: "seed": the step added per normalised gradient (default 0.1);
        "regularized": the Adam learning rate (default 0.1). None: the method's default.
    :param size: image side in pixels. None: the side of ``start`` if given, else the
        model's fixed input size if it has one, else 224.
    :param seed: non-negative integer seeding the start noise / parameters and the random
        transformations; None draws one.
    :param preprocess: callable mapping [-1, 1] images (N, H, W, 3) to the model input
        (default: none, the [-1, 1] image is the model input). Pass the same callable each
        time to reuse compiled steps.
    :param regularization: settings of the "regularized" method (None:
        :class:`Regularization()`); an error with method "seed".
    :param return_history: also return a :class:`History`.
    :param frame_every: keep a frame every this many steps (plus the last one).
    :param output: ``"uint8"`` (default) or ``"float"`` (the optimized image in [-1, 1]).
    :param progress: show a tqdm progress bar.
    """

    steps: int = 100
    method: str = "seed"
    step_size: float | None = None
    size: int | None = None
    seed: int | None = None
    preprocess: Callable | None = None
    regularization: Regularization | None = None
    return_history: bool = False
    frame_every: int = 10
    output: str = "uint8"
    progress: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid methods are {METHODS}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be 'uint8' or 'float', got {self.output!r}")
        if not _is_integer(self.steps) or self.steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {self.steps!r}")
        if not _is_integer(self.frame_every) or self.frame_every < 1:
            raise ValueError(f"frame_every must be an integer >= 1, got {self.frame_every!r}")
        if self.seed is not None and (not _is_integer(self.seed) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {self.seed!r}")
        if self.size is not None and (not _is_integer(self.size) or self.size < 1):
            raise ValueError(f"size must be a positive integer or None, got {self.size!r}")
        if self.regularization is not None and self.method != "regularized":
            raise ValueError(
                f"regularization settings only apply to method='regularized', "
                f"not method={self.method!r}"
            )

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (``settings.replace(steps=50)``)."""
        return dataclasses.replace(self, **changes)

    def resolved_step_size(self) -> float:
        """``step_size``, or the method's default if it is None."""
        return DEFAULT_STEP_SIZE[self.method] if self.step_size is None else self.step_size


@dataclass
class History:
    """Record of one render.

    :param activation: objective value before each step and after the last, (steps + 1,)
        for one image or (steps + 1, N) for a batch; entry 0 is the start image. Always
        measured on the image itself (for "regularized", without the random
        transformations).
    :param frames: uint8 images, (H, W, 3) each, or (N, H, W, 3) for a batch.
    :param frame_steps: the step after which each frame was taken.
    """

    activation: np.ndarray
    frames: list[np.ndarray]
    frame_steps: list[int]


def visualize(
    model: keras.Model,
    layer: str | None,
    channel: int | None,
    settings: Settings | None = None,
    *,
    objective: str = "channel",
    position: tuple[int, int] | None = None,
    start: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray | tuple[np.ndarray, History]:
    """Maximize one channel (or neuron, layer, class logit) of a Keras model by gradient
    ascent on the input image.

    :param model: any single-input ``keras.Model``.
    :param layer: layer name (None for ``objective="class_logit"``).
    :param channel: channel index (the class index for "class_logit"; None for "layer").
    :param settings: how to render (:class:`Settings`; default ``Settings()``).
    :param objective: "channel" (mean activation), "neuron" (at ``position``), "layer"
        (DeepDream: mean squared activation) or "class_logit" (pre-softmax score).
    :param position: (x, y) feature-map position for "neuron" (column, row).
    :param start: start image (H, W, 3) instead of random noise: uint8 in [0, 255], mapped
        to [-1, 1]; or, for method "seed" only, a float image taken as the loop's first
        image as it is (the classic recipe as its code runs starts from
        ``models.preprocess("vgg19", noise)``, which the first step clips to [-1, 1]).
    :param options: :class:`Settings` fields, replacing those of ``settings``.
    :return: image (H, W, 3), or ``(image, history)`` with ``return_history``.
    """
    target = _objective(objective, layer, channel, position)
    if start is not None:
        start = _check_start(start)[None]
    result = render(model, [target], settings, start=start, **options)
    if not isinstance(result, tuple):
        return result[0]
    images, history = result
    history.activation = history.activation[:, 0]
    history.frames = [frame[0] for frame in history.frames]
    return images[0], history


def visualize_batch(
    model: keras.Model,
    layer: str,
    channels: Sequence[int],
    settings: Settings | None = None,
    *,
    start: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray | tuple[np.ndarray, History]:
    """Render several channels of one layer in one batched pass; image i maximizes the
    mean activation of ``channels[i]``. Arguments as in :func:`visualize`; ``start`` is
    one image (H, W, 3) shared by all, or one per channel (N, H, W, 3).

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
            raise ValueError(
                f"start has {len(start)} images but {len(targets)} channels "
                "were requested; pass one image or one per channel"
            )
    return render(model, targets, settings, start=start, **options)


def render(
    model: keras.Model,
    batch: Sequence[Objective],
    settings: Settings | None = None,
    *,
    start: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray | tuple[np.ndarray, History]:
    """Optimize one image per objective, all in one batch.

    :param batch: N objectives of the same kind and layer (each with its own target).
    :param settings: how to render (:class:`Settings`; default ``Settings()``).
    :param start: start images (N, H, W, 3) as in :func:`visualize`, or None for random
        noise.
    :param options: :class:`Settings` fields, replacing those of ``settings``.
    :return: images (N, H, W, 3) (uint8, or float in [-1, 1] with ``output="float"``), or
        ``(images, history)`` with ``history.activation`` (steps + 1, N).
    """
    settings = (settings or Settings()).replace(**options)
    targets = list(batch)
    _check_objectives(model, targets)
    if start is not None:
        start = _check_start(start)
        if start.ndim != 4 or len(start) != len(targets):
            raise ValueError(
                f"start must hold one image per objective, shape "
                f"({len(targets)}, H, W, 3), got {start.shape}"
            )
        if start.dtype != np.uint8 and settings.method != "seed":
            raise TypeError(
                f"a float start image is only for method='seed'; method="
                f"{settings.method!r} needs a uint8 image in [0, 255]"
            )
    shape = _image_shape(model, settings.size, start)
    for target in targets:
        _check_neuron_position(model, target, *shape)
    seed = settings.seed
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    loop = _Loop(model, targets, settings)
    method = _seed_ascent if settings.method == "seed" else _regularized_ascent
    images, history = loop.run(method(loop, shape, seed, start))
    images = images if settings.output == "float" else param.unit_to_uint8(images)
    return (images, history) if settings.return_history else images


# ---- checks ----------------------------------------------------------------------------


def _is_integer(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


def _objective(
    kind: str, layer: str | None, channel: int | None, position: tuple[int, int] | None
) -> Objective:
    if kind == "channel":
        _require(channel is not None, "objective 'channel' needs a channel index")
        return objectives.channel(layer, channel)
    if kind == "neuron":
        _require(
            channel is not None and position is not None,
            "objective 'neuron' needs a channel index and position=(x, y)",
        )
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
    if start.dtype != np.uint8 and not np.issubdtype(start.dtype, np.floating):
        raise TypeError(
            f"start must be a uint8 image in [0, 255] (or, for method 'seed', a "
            f"float image), got dtype {start.dtype}; convert it with "
            "numpy.asarray(image, dtype=numpy.uint8)"
        )
    if start.ndim not in (3, 4) or start.shape[-1] != 3:
        raise ValueError(f"start must be an RGB image (H, W, 3), got shape {start.shape}")
    if start.dtype != np.uint8 and not np.all(np.isfinite(start)):
        raise ValueError("start contains NaN or infinite values")
    return start


def _check_objectives(model, targets: list[Objective]) -> None:
    if not targets:
        raise ValueError("no objectives given")
    kinds = {(target.kind, target.layer) for target in targets}
    if len(kinds) > 1:
        raise ValueError(f"a batch must share one objective kind and layer, got {sorted(kinds)}")
    for target in targets:
        objectives.validate(model, target)


def _image_shape(model, size: int | None, start: np.ndarray | None) -> tuple[int, int]:
    fixed = models.fixed_input_size(model)
    if start is not None:
        shape = tuple(start.shape[1:3])
        if size is not None and shape != (size, size):
            raise ValueError(
                f"start images are {shape[0]}x{shape[1]} but size={size}; "
                "pass size=None or a start image of that size"
            )
    else:
        side = size or fixed or DEFAULT_SIZE
        shape = (side, side)
    if fixed is not None and shape != (fixed, fixed):
        raise ValueError(
            f"model {model.name!r} takes {fixed}x{fixed} images, not "
            f"{shape[0]}x{shape[1]}; use that size, or a model built for any size "
            "(e.g. models.load_model(..., include_top=False))"
        )
    return shape


def _check_neuron_position(model, target: Objective, height: int, width: int) -> None:
    if target.kind != "neuron":
        return
    cut = objectives.output_model(model, target)
    map_height, map_width = cut.compute_output_shape((1, height, width, 3))[1:3]
    x, y = target.target[:2]
    if not (0 <= x < map_width and 0 <= y < map_height):
        raise IndexError(
            f"neuron position (x={x}, y={y}) is outside the {map_width}x"
            f"{map_height} (width x height) feature map of layer "
            f"{target.layer!r} for {width}x{height} images"
        )


def _warn_zero_gradients(
    targets: list[Objective], zero_steps: np.ndarray, steps: int, effect: str, hint: str
) -> None:
    dead = [
        f"{target.kind} {list(target.target)} of {target.layer or 'the logits'} "
        f"(image {index}: {count} of {steps} steps)"
        for index, (target, count) in enumerate(zip(targets, zero_steps, strict=True))
        if count
    ]
    if dead:
        warnings.warn(
            f"the objective's gradient was exactly zero, so {effect} at those steps (a dead "
            f"unit for that image; {hint} may help): " + "; ".join(dead),
            ZeroGradientWarning,
            stacklevel=2,
        )


# ---- the loop shared by both methods -------------------------------------------------------


@dataclass
class _Ascent:
    """One method's state and step.

    ``advance(state, number)`` makes step ``number`` and returns the new state and, where the
    step computes them anyway, the objective values of the images before the step (else
    None); ``images(state)`` gives the current [-1, 1] images (N, H, W, 3); ``finish(state)``
    is called with the final state (to report on the run).
    """

    state: tuple
    advance: Callable[[tuple, int], tuple[tuple, Any]]
    images: Callable[[tuple], Any]
    finish: Callable[[tuple], None] = lambda state: None


class _Loop:
    """What both methods share: the sub-model read by the objectives, the preprocessing,
    the target tensor, the compiled-function cache, the step loop and the history."""

    def __init__(self, model, targets: list[Objective], settings: Settings):
        import tensorflow as tf

        self.model, self.settings = model, settings
        self.kind, self.layer = targets[0].kind, targets[0].layer
        self.cut = objectives.output_model(model, targets[0])
        self.preprocess = settings.preprocess or _identity
        self.objectives = targets
        self.targets = tf.constant([t.target for t in targets], dtype=tf.int32)
        self.count = len(targets)

    def compiled(self, name: str, build: Callable[[], Callable], *key) -> Callable:
        """The compiled function cached for this model under (name, kind, layer, preprocess,
        *key), built on first use."""
        cache = _COMPILED.setdefault(self.model, {})
        full_key = (name, self.kind, self.layer, self.preprocess, *key)
        if full_key not in cache:
            cache[full_key] = build()
        return cache[full_key]

    def values(self, images: tf.Tensor) -> tf.Tensor:
        """Objective values (N,) of [-1, 1] images (N, H, W, 3)."""
        return self.compiled("evaluate", lambda: _evaluation(self.cut, self.kind, self.preprocess))(
            images, self.targets
        )

    def run(self, ascent: _Ascent) -> tuple[np.ndarray, History | None]:
        """Make ``settings.steps`` steps; the final images (N, H, W, 3) and the history."""
        settings = self.settings
        record = settings.return_history
        state = ascent.state
        values, frames, frame_steps = [], [], []
        for number in _steps_range(settings.steps, settings.progress):
            before = ascent.images(state) if record else None
            if record and number % settings.frame_every == 0:
                frames.append(param.unit_to_uint8(before.numpy()))
                frame_steps.append(number)
            state, step_values = ascent.advance(state, number)
            if record:
                values.append(step_values if step_values is not None else self.values(before))
        ascent.finish(state)
        images = ascent.images(state)
        if not record:
            return images.numpy(), None
        values.append(self.values(images))
        frames.append(param.unit_to_uint8(images.numpy()))
        frame_steps.append(settings.steps)
        return images.numpy(), History(np.array([v.numpy() for v in values]), frames, frame_steps)


def _identity(images):
    return images


def _steps_range(steps: int, progress: bool):
    if not progress:
        return range(steps)
    from tqdm.auto import tqdm

    return tqdm(range(steps), desc="gradient ascent")


def _evaluation(cut, kind: str, preprocess: Callable) -> Callable:
    import tensorflow as tf

    @tf.function
    def evaluate(images, targets):
        return objectives.evaluate(kind, cut(preprocess(images), training=False), targets)

    return evaluate


# ---- the classic "seed" loop ---------------------------------------------------------------


def _seed_step(cut, kind: str, preprocess: Callable) -> Callable:
    import tensorflow as tf

    @tf.function
    def step(images, zero_steps, targets, step_size):
        with tf.GradientTape() as tape:
            tape.watch(images)
            values = objectives.evaluate(kind, cut(preprocess(images), training=False), targets)
            total = tf.reduce_sum(values)  # image i's gradient is that of its own value
        gradients = tape.gradient(total, images)
        spread = tf.math.reduce_std(gradients, axis=[1, 2, 3], keepdims=True)
        # g / std(g) exactly; where std(g) == 0 (a zero gradient) the step is zero
        normalised = tf.math.divide_no_nan(gradients, spread)
        zero_steps += tf.cast(tf.reshape(spread, [-1]) == 0.0, tf.int32)
        images = tf.clip_by_value(images + step_size * normalised, -1.0, 1.0)
        return values, images, zero_steps

    return step


def _seed_ascent(
    loop: _Loop, shape: tuple[int, int], seed: int, start: np.ndarray | None
) -> _Ascent:
    import tensorflow as tf

    step = loop.compiled("seed", lambda: _seed_step(loop.cut, loop.kind, loop.preprocess))
    if start is None:
        start = param.noise_images(loop.count, *shape, seed)
    if start.dtype == np.uint8:
        images = param.uint8_to_unit(start)
    else:  # a float start is the loop's first image as it is
        images = start.astype(np.float32)
    step_size = tf.constant(loop.settings.resolved_step_size(), dtype=tf.float32)

    def advance(state, number):
        images, zero_steps = state
        values, images, zero_steps = step(images, zero_steps, loop.targets, step_size)
        return (images, zero_steps), values

    def finish(state):
        _warn_zero_gradients(
            loop.objectives,
            state[1].numpy(),
            loop.settings.steps,
            "the image was left unchanged",
            "another seed, start image or channel",
        )

    state = (tf.constant(images), tf.zeros([loop.count], tf.int32))
    return _Ascent(state, advance, lambda state: state[0], finish)


# ---- the regularized loop ------------------------------------------------------------------


def _regularized_step(
    cut,
    kind: str,
    preprocess: Callable,
    fourier: param.FourierImage,
    regularization: Regularization,
) -> Callable:
    import tensorflow as tf

    @tf.function
    def step(
        parameters,
        first_moment,
        second_moment,
        count,
        zero_steps,
        seed,
        strength,
        targets,
        learning_rate,
    ):
        with tf.GradientTape() as tape:
            tape.watch(parameters)
            images = fourier.images(parameters)
            seen = transform.random_transform(images, seed, regularization.transforms, strength)
            values = objectives.evaluate(kind, cut(preprocess(seen), training=False), targets)
            loss = -tf.reduce_sum(values)
            if regularization.tv_weight:
                loss += regularization.tv_weight * tf.reduce_sum(objectives.total_variation(images))
        gradients = tape.gradient(loss, parameters)
        zero = tf.reduce_all(tf.equal(gradients, 0.0), axis=[1, 2, 3, 4])
        zero_steps += tf.cast(zero, tf.int32)
        # Adam, elementwise, so the images of a batch do not interact
        first_moment = _ADAM_BETA1 * first_moment + (1 - _ADAM_BETA1) * gradients
        second_moment = _ADAM_BETA2 * second_moment + (1 - _ADAM_BETA2) * tf.square(gradients)
        count += 1.0
        corrected_first = first_moment / (1 - _ADAM_BETA1**count)
        corrected_second = second_moment / (1 - _ADAM_BETA2**count)
        parameters -= learning_rate * corrected_first / (tf.sqrt(corrected_second) + _ADAM_EPSILON)
        return parameters, first_moment, second_moment, count, zero_steps

    return step


def _regularized_ascent(
    loop: _Loop, shape: tuple[int, int], seed: int, start: np.ndarray | None
) -> _Ascent:
    import tensorflow as tf

    regularization = loop.settings.regularization or Regularization()
    fourier = param.FourierImage(
        *shape,
        decay=regularization.decay,
        amplitude=regularization.amplitude,
        decorrelate=regularization.decorrelate,
    )
    step = loop.compiled(
        "regularized",
        lambda: _regularized_step(loop.cut, loop.kind, loop.preprocess, fourier, regularization),
        fourier,
        regularization,
    )
    if start is None:
        parameters = fourier.random_parameters(loop.count, seed, regularization.start_std)
    else:
        parameters = fourier.parameters_from_images(param.uint8_to_unit(start))
    parameters = tf.constant(parameters)
    learning_rate = tf.constant(loop.settings.resolved_step_size(), dtype=tf.float32)

    steps = loop.settings.steps

    def advance(state, number):
        step_seed = tf.constant([seed % 2**63, number], dtype=tf.int64)
        strength = tf.constant(regularization.strength(number, steps), dtype=tf.float32)
        return step(*state, step_seed, strength, loop.targets, learning_rate), None

    def finish(state):
        _warn_zero_gradients(
            loop.objectives,
            state[4].numpy(),
            steps,
            "the objective gave the image no direction",
            "another seed or channel, or in Python a start with more contrast "
            "(Regularization(start_std=...))",
        )

    zeros = tf.zeros_like(parameters)
    state = (parameters, zeros, zeros, tf.constant(0.0), tf.zeros([loop.count], tf.int32))
    return _Ascent(state, advance, lambda state: fourier.images(state[0]), finish)
