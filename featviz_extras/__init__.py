"""featviz_extras: see what a channel of a Keras ImageNet CNN "means".

Maximize one channel by gradient ascent (:mod:`~featviz_extras.render`, from
:mod:`~featviz_extras.objectives`, :mod:`~featviz_extras.param` and
:mod:`~featviz_extras.transform`), ask several ImageNet models what the result shows
(:mod:`~featviz_extras.classification`), and study where it sits among real images in the
layer's activation space (:mod:`~featviz_extras.analysis`, :mod:`~featviz_extras.plots`);
images are read and written by :mod:`~featviz_extras.images`. Command line:
``python -m featviz_extras --help``.

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
    "cli",
)

# top-level name -> the submodule that defines it
FUNCTIONS = {"load_model": "models", "visualize": "render", "classify": "classification"}

__all__ = list(SUBMODULES) + list(FUNCTIONS)


def __getattr__(name: str):
    """Import a submodule, or the submodule of a top-level function, on first access."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.{FUNCTIONS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
