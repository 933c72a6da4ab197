"""featviz_extras: see what a channel of a Keras ImageNet CNN "means".

Maximize one channel by gradient ascent (:mod:`~featviz_extras.render`, from
:mod:`~featviz_extras.objectives`, :mod:`~featviz_extras.param` and
:mod:`~featviz_extras.transform`), ask several ImageNet models what the result shows
(:mod:`~featviz_extras.classification`), and study where it sits among real images in the
layer's activation space (:mod:`~featviz_extras.analysis`, :mod:`~featviz_extras.plots`);
images are read and written by :mod:`~featviz_extras.images`. Small CNNs trained here on
procedural textures of known meaning (:mod:`~featviz_extras.textures`,
:mod:`~featviz_extras.trained`) let the whole experiment be checked offline
(:mod:`~featviz_extras.experiment`). Command line: ``python -m featviz_extras --help``.

The three usual entry points are at the top level: ``featviz_extras.load_model``
(:func:`models.load_model`), ``featviz_extras.visualize`` (:func:`render.visualize`) and
``featviz_extras.classify`` (:func:`classification.classify`).

Importing the package is cheap: submodules (and TensorFlow, which only some of them use) are
imported on first attribute access, e.g. ``featviz_extras.render``.
"""

import importlib

SUBMODULES = (
    "images",
    "models",
    "objectives",
    "param",
    "transform",
    "render",
    "classification",
    "analysis",
    "plots",
    "textures",
    "trained",
    "experiment",
    "cli",
)

# top-level name -> the submodule that defines it
FUNCTIONS = {"load_model": "models", "visualize": "render", "classify": "classification"}

#: Modules that come with the ``featviz`` extra of the package, and how to install them.
EXTRA_MODULES = ("keras", "tensorflow", "sklearn", "PIL", "tqdm")
INSTALL_HINT = "pip install 'cobaya-planck-clik[featviz]'"


def missing_extra(error: ImportError) -> str | None:
    """One line saying what to install when ``error`` is a module of the ``featviz`` extra
    that is not installed (``No module named 'keras'``), else None."""
    name = (getattr(error, "name", None) or "").split(".")[0]
    if isinstance(error, ModuleNotFoundError) and name in EXTRA_MODULES:
        return f"No module named {name!r}: featviz_extras needs its extra: {INSTALL_HINT}"
    return None


__all__ = list(SUBMODULES) + list(FUNCTIONS)


def __getattr__(name: str):
    """Import a submodule, or the submodule of a top-level function, on first access."""
    if name not in SUBMODULES and name not in FUNCTIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{FUNCTIONS.get(name, name)}")
    except ModuleNotFoundError as error:
        hint = missing_extra(error)
        if hint is None:
            raise
        raise ModuleNotFoundError(hint, name=error.name) from None
    return getattr(module, name) if name in FUNCTIONS else module


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
