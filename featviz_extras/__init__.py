"""featviz_extras: see what a channel of a Keras ImageNet CNN "means".

Maximize one channel by gradient ascent (:mod:`~featviz_extras.render`), ask several ImageNet
models what the result shows (:mod:`~featviz_extras.classify`), and study where it sits among real
images in the layer's activation space (:mod:`~featviz_extras.analysis`,
:mod:`~featviz_extras.plots`). Command line: ``python -m featviz_extras --help``.

Importing the package is cheap: submodules (and TensorFlow, which only some of them use) are
imported on first attribute access, e.g. ``featviz_extras.render``.
"""

import importlib

SUBMODULES = (
    "models",
    "objectives",
    "param",
    "transform",
    "render",
    "classify",
    "analysis",
    "plots",
    "cli",
)

__all__ = list(SUBMODULES)


def __getattr__(name: str):
    """Import a submodule on first access (``featviz_extras.analysis`` etc.)."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(SUBMODULES))
