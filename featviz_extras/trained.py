"""Small CNNs trained here in seconds on the procedural textures of :mod:`featviz_extras.textures`.

Three architectures of different families, the same interface as the Keras ImageNet models of
:mod:`featviz_extras.models` (which loads them by name, ``models.load_model("texture_vgg",
weights=PATH)``):

* ``texture_vgg``: a VGG-style stack (3x3 convolutions and max pooling; batch
  normalization after each convolution);
* ``texture_resnet``: a residual net (strided stem, three residual stages);
* ``texture_mobilenet``: a depthwise-separable net (MobileNet-style blocks).

Each takes images of any size (trained at 64 x 64, :data:`INPUT_SIZE`), already passed
through :func:`preprocess_input` (uint8 RGB [0, 255] -> [-1, 1]), ends with a global average
pool (``avg_pool``) and a softmax ``predictions`` layer over :data:`textures.CLASSES`; its last
convolutional feature map, the "late layer" whose channels are visualized, is
``FEATURE_LAYERS[name]``.

:func:`trained_model_path` trains a model once (fixed seed) and keeps it as a ``.keras`` file in
the cache folder (:func:`cache_dir`: ``$FEATVIZ_CACHE`` if set, else the user's cache folder);
later calls reuse the file. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from featviz_extras import textures

if TYPE_CHECKING:
    import keras

ARCHITECTURES = ("texture_vgg", "texture_resnet", "texture_mobilenet")
FEATURE_LAYERS = {
    "texture_vgg": "block3_conv2_relu",
    "texture_resnet": "stage3_out",
    "texture_mobilenet": "block4_pointwise_relu",
}
INPUT_SIZE = textures.DEFAULT_SIZE
CACHE_ENV = "FEATVIZ_CACHE"

TRAIN_IMAGES, TEST_IMAGES = 4000, 800  # test images: another seed, never seen in training
ACCURACY_FLOOR = 0.95
TRAINING_SEED = 0


def preprocess_input(images):
    """uint8-range RGB [0, 255] -> the models' input, ``x / 127.5 - 1`` (NumPy arrays or
    tensors, any shape)."""
    return images / 127.5 - 1.0


def _check_name(name: str) -> str:
    if name not in ARCHITECTURES:
        raise ValueError(
            f"unknown texture model {name!r}; valid names are {', '.join(ARCHITECTURES)}"
        )
    return name


# ---- architectures -------------------------------------------------------------------------


def build(name: str) -> keras.Model:
    """A new, untrained texture model (weights from Keras's global seed,
    ``keras.utils.set_random_seed``): input (None, None, 3), output (N, 8) probabilities."""
    builders = {"texture_vgg": _vgg, "texture_resnet": _resnet, "texture_mobilenet": _mobilenet}
    builder = builders[_check_name(name)]
    import keras

    inputs = keras.Input((None, None, 3), name="input")
    features = builder(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    outputs = keras.layers.Dense(len(textures.CLASSES), activation="softmax", name="predictions")(
        pooled
    )
    return keras.Model(inputs, outputs, name=name)


def _convolution(x, width: int, kernel: int, strides: int, name: str, activation: bool = True):
    """Convolution ``name`` (no bias), batch normalization ``name_bn``, ReLU ``name_relu``."""
    from keras import layers

    x = layers.Conv2D(width, kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if activation else x


def _vgg(x):
    from keras import layers

    for block, width in enumerate([16, 32, 64], start=1):
        for number in (1, 2):
            x = _convolution(x, width, 3, 1, f"block{block}_conv{number}")
        if block < 3:
            x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return x


def _resnet(x):
    from keras import layers

    x = _convolution(x, 16, 3, 2, "stem_conv")
    for stage, width in enumerate([16, 32, 64], start=1):
        strides = 1 if stage == 1 else 2
        shortcut = x
        if strides != 1 or x.shape[-1] != width:
            shortcut = _convolution(x, width, 1, strides, f"stage{stage}_shortcut", False)
        y = _convolution(x, width, 3, strides, f"stage{stage}_conv_a")
        y = _convolution(y, width, 3, 1, f"stage{stage}_conv_b", activation=False)
        added = layers.Add(name=f"stage{stage}_add")([shortcut, y])
        x = layers.ReLU(name=f"stage{stage}_out")(added)
    return x


def _mobilenet(x):
    from keras import layers

    x = _convolution(x, 16, 3, 2, "stem_conv")
    for block, (width, strides) in enumerate([(32, 1), (48, 2), (64, 1), (96, 2)], start=1):
        name = f"block{block}_depthwise"
        x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        x = layers.ReLU(name=f"{name}_relu")(x)
        x = _convolution(x, width, 1, 1, f"block{block}_pointwise")
    return x


# ---- training and the cache ------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How a texture model is trained: Adam with a cosine decay of the learning rate to zero,
    on ``train_images`` images of :func:`textures.make_dataset` (seed ``seed``), tested on
    ``test_images`` others (seed ``seed + 1``). Keras's global seed is set to ``seed`` before
    the model is built, so the weights' start and the batch order are fixed too."""

    train_images: int = TRAIN_IMAGES
    test_images: int = TEST_IMAGES
    epochs: int = 2
    batch_size: int = 64
    learning_rate: float = 3e-3
    seed: int = TRAINING_SEED


@dataclass(frozen=True)
class Report:
    """What training one model gave: ``accuracy`` on the held-out test images, the wall
    ``seconds`` of training (compiling and fitting; not the data generation), the
    ``data_seconds`` of generating the images, the ``recipe`` (as a dict)."""

    name: str
    accuracy: float
    seconds: float
    data_seconds: float
    recipe: dict

    def to_json(self) -> dict:
        """JSON-ready dict of the fields."""
        return asdict(self)


def cache_dir() -> Path:
    """Folder of the trained models: ``$FEATVIZ_CACHE`` if set, else
    ``$XDG_CACHE_HOME/featviz_extras`` (``~/.cache/featviz_extras``). Not created here."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "featviz_extras"


class _Data:
    """The training and test images, generated on first use and shared by the models."""

    def __init__(self, recipe: Recipe):
        self.recipe, self._arrays, self.seconds = recipe, None, 0.0

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            start = time.perf_counter()
            train = textures.make_dataset(self.recipe.train_images, INPUT_SIZE, self.recipe.seed)
            test = textures.make_dataset(self.recipe.test_images, INPUT_SIZE, self.recipe.seed + 1)
            self._arrays = (*train, *test)
            self.seconds = time.perf_counter() - start
        return self._arrays


def train(
    name: str, recipe: Recipe | None = None, data: _Data | None = None
) -> tuple[keras.Model, Report]:
    """Train one texture model from scratch (the same recipe gives the same model, up to
    TensorFlow's floating-point ordering). Returns the model and its :class:`Report`."""
    import keras

    recipe = recipe or Recipe()
    data = data or _Data(recipe)
    train_images, train_labels, test_images, test_labels = data.arrays()
    start = time.perf_counter()
    keras.utils.set_random_seed(recipe.seed)
    model = build(name)
    steps = recipe.epochs * -(-recipe.train_images // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(
        preprocess_input(train_images.astype(np.float32)),
        train_labels,
        batch_size=recipe.batch_size,
        epochs=recipe.epochs,
        shuffle=True,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    probabilities = model.predict(
        preprocess_input(test_images.astype(np.float32)), batch_size=256, verbose=0
    )
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == test_labels))
    return model, Report(name, accuracy, seconds, data.seconds, asdict(recipe))


def cache_key(name: str, recipe: Recipe | None = None) -> str:
    """12 hex digits that change whenever the model's architecture, the recipe, the data set
    (a fingerprint of its first images) or the Keras version change."""
    import hashlib

    import keras

    recipe = recipe or Recipe()
    images, labels = textures.make_dataset(16, INPUT_SIZE, recipe.seed)
    content = json.dumps(
        {
            "architecture": json.loads(build(name).to_json()),
            "recipe": asdict(recipe),
            "data": hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest(),
            "keras": keras.__version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(content.encode()).hexdigest()[:12]


def trained_model_path(
    name: str,
    cache: str | os.PathLike | None = None,
    recipe: Recipe | None = None,
    progress: bool = False,
) -> Path:
    """Path of the ``.keras`` file of a trained texture model, training and saving it first
    if the cache does not hold it (``<cache>/<name>-<cache_key>.keras``, beside a
    ``.json`` :class:`Report`). ``cache``: the folder (default :func:`cache_dir`), created if
    needed. Load it with ``models.load_model(name, weights=path)``."""
    return trained_model_paths([name], cache, recipe, progress)[name]


def trained_model_paths(
    names: tuple[str, ...] | list[str] = ARCHITECTURES,
    cache: str | os.PathLike | None = None,
    recipe: Recipe | None = None,
    progress: bool = False,
) -> dict[str, Path]:
    """:func:`trained_model_path` of several models (those to train share one data set):
    ``{name: path}``."""
    recipe = recipe or Recipe()
    folder = Path(cache) if cache is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    data = _Data(recipe)
    paths = {}
    for name in names:
        path = folder / f"{_check_name(name)}-{cache_key(name, recipe)}.keras"
        if not (path.is_file() and path.with_suffix(".json").is_file()):
            if progress:
                print(f"training {name} (once; kept in {folder}) ...", flush=True)
            model, report = train(name, recipe, data)
            # written under a temporary name, then renamed: never a half-written file
            partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.keras")
            with warnings.catch_warnings():  # Keras's own saving code, with NumPy 2
                warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
                model.save(partial)
            path.with_suffix(".json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
            os.replace(partial, path)
            if progress:
                print(
                    f"  {name}: test accuracy {report.accuracy:.4f} after "
                    f"{report.seconds:.1f} s of training",
                    flush=True,
                )
        paths[name] = path
    return paths


def report(path: str | os.PathLike) -> Report:
    """The :class:`Report` stored beside a trained model's ``.keras`` file."""
    return Report(**json.loads(Path(path).with_suffix(".json").read_text()))
