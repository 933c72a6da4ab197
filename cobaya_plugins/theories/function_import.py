"""Importing a user's model function from the path written in a YAML file.

Accepted forms of the path:

``"package.module:func"`` or ``"package.module.func"``
    ``func`` from an importable module (installed, or its folder on ``PYTHONPATH``).
``"path/to/file.py:func"``
    ``func`` from a Python file (absolute, or relative to the working directory).

A Python callable is also accepted and returned as it is (for use from Python with ``get_model``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

_FORMS = "'package.module:func', 'package.module.func' or 'path/to/file.py:func'"


def import_function(path: str | Callable) -> Callable:
    """The function named by ``path`` (see the module docstring); a callable is returned as is.

    Raises ``ValueError`` for a malformed path and ``ImportError`` when the module or the function
    cannot be found; both messages name what was tried and how to fix it.
    """
    if callable(path):
        return path
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"A model function must be given as {_FORMS}; got {path!r}.")
    text = path.strip()
    if ":" in text:
        module_part, _, name = text.rpartition(":")
    else:
        module_part, _, name = text.rpartition(".")
    if not module_part or not name.isidentifier():
        raise ValueError(f"Cannot read the function path {path!r}: use {_FORMS}.")
    if module_part.endswith(".py"):
        module = _load_file(Path(module_part), path)
    else:
        module = _import_module(module_part, path)
    function = getattr(module, name, None)
    if function is None or not callable(function):
        available = sorted(
            n
            for n, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and n[0] != "_"
        )
        where = getattr(module, "__file__", None) or module.__name__
        what = "no function" if function is None else "an object that is not callable named"
        raise ImportError(
            f"Module {module.__name__!r} ({where}) has {what} {name!r} (from {path!r}). "
            f"Functions defined there: {', '.join(available) or 'none'}."
        )
    return function


def _import_module(module_name: str, path: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as excpt:
        # Only "this module (or a parent package) does not exist" is a path error; a missing
        # dependency imported by the user's module is reported as it is.
        missing = excpt.name or ""
        if not (module_name == missing or module_name.startswith(missing + ".")):
            raise
        raise ImportError(
            f"Cannot import module {module_name!r} for the function {path!r} ({excpt}). "
            "The module must be importable: install its package, or add its folder to "
            "PYTHONPATH (e.g. `PYTHONPATH=$PWD cobaya-run input.yaml`), or give the file "
            "itself as 'path/to/module.py:func'."
        ) from excpt


def _load_file(file: Path, path: str) -> ModuleType:
    full = file.expanduser().resolve()
    if not full.is_file():
        raise ImportError(
            f"Cannot find the file {str(full)!r} for the function {path!r} (relative paths are "
            f"taken from the working directory, {Path.cwd()})."
        )
    # One module per file, under a name that cannot shadow an installed module.
    module_name = "_cobaya_plugins_user_" + re.sub(r"\W", "_", str(full))
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, full)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot load {str(full)!r} as a Python module (from {path!r}).")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def keyword_parameters(function: Callable, skip: int = 0) -> tuple[list[str], list[str], bool]:
    """Names the function takes as keyword arguments: ``(required, optional, takes_any)``.

    The first ``skip`` positional parameters are left out (e.g. the spectra of a postprocess
    function). ``takes_any`` is True when the function has ``**kwargs``. Raises ``TypeError``
    when a required parameter can only be passed by position.
    """
    parameters = list(inspect.signature(function).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    skipped = [p for p in parameters if p.kind in positional][:skip]
    if len(skipped) < skip:
        raise TypeError(
            f"{_name(function)} must take {skip} positional argument(s) before its parameters."
        )
    required, optional, takes_any = [], [], False
    for parameter in parameters:
        if parameter in skipped or parameter.kind == inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.kind == inspect.Parameter.VAR_KEYWORD:
            takes_any = True
        elif parameter.kind == inspect.Parameter.POSITIONAL_ONLY:
            if parameter.default is inspect.Parameter.empty:
                raise TypeError(
                    f"{_name(function)}: parameter {parameter.name!r} is positional-only; "
                    "model parameters are passed by keyword (remove the '/' in its signature)."
                )
        elif parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
        else:
            optional.append(parameter.name)
    return required, optional, takes_any


def _name(function: Callable) -> str:
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None) or repr(function)
    return f"{module}.{name}" if module else name
