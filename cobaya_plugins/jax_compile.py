"""JAX compilation: a persistent cache shared by processes, and compiles announced with their time.

Compiling a plik likelihood (or a whole log-posterior) with XLA takes 10–60 s on 2 cores, and
opening a file with clipy's JAX path compiles ~140 small operations. JAX can keep compiled code on
disk and reuse it in the next process (its *persistent compilation cache*): with it, a second
process opens plik and makes its first call in a few seconds instead of ~20 (docs/jax.md).

:func:`enable_cache` turns it on, once per process, before the first compile, in a user cache
folder: ``$COBAYA_PLUGINS_JAX_CACHE`` when set, else ``$XDG_CACHE_HOME/cobaya_plugins/jax`` (by
default ``~/.cache/cobaya_plugins/jax``). ``COBAYA_PLUGINS_JAX_CACHE=off`` switches it off. A
cache folder that the user set for JAX itself (``jax_compilation_cache_dir``) is left as it is.
The cache is keyed by the compiled program, JAX version and machine, so a stale entry is never
used; deleting the folder is always safe.

:class:`AnnouncedJit` jit-compiles a function and logs, at the first call with each new input
shape, what it compiles and how long it took (and whether it came from the cache).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Environment variable: the cache folder, or ``off`` to disable the persistent cache.
CACHE_ENV = "COBAYA_PLUGINS_JAX_CACHE"

#: Values of :data:`CACHE_ENV` that switch the cache off.
OFF_VALUES = ("off", "0", "false", "no", "none")

log = logging.getLogger("cobaya_plugins.jax")

_lock = threading.Lock()
_state: dict[str, Any] = {"enabled": None, "hits": 0}


def cache_folder() -> Path | None:
    """The persistent cache folder this package uses (None when switched off by
    :data:`CACHE_ENV`)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in OFF_VALUES:
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cobaya_plugins" / "jax"


#: XLA's CPU threading for this package's processes when the user has not set ``XLA_FLAGS``: one
#: thread. Measured on 2 cores: a full-plik posterior value+gradient in 8.0 ms single-threaded
#: against 9.5 ms with XLA's default thread pool (clipy's plik is many small operations, which
#: threads only contend for), and MPI ranks (one per core) no longer oversubscribe the cores.
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def configure_threads() -> None:
    """Set ``XLA_FLAGS`` to :data:`XLA_SINGLE_THREAD` unless the user set it (then it is left as
    it is). Effective only before JAX's CPU backend starts, i.e. before the first JAX
    computation of the process (:func:`enable_cache` calls it)."""
    os.environ.setdefault("XLA_FLAGS", XLA_SINGLE_THREAD)


def enable_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache (idempotent); returns the folder in use.

    Call before the process compiles anything with JAX (JAX decides at its first compile
    whether a cache is used). Every compile is cached, however short, so that the ~140 small
    operations of a clipy file open are reused too. Returns None when switched off
    (``COBAYA_PLUGINS_JAX_CACHE=off``) or when the folder cannot be created (a warning says so).
    """
    with _lock:
        if _state["enabled"] is not None:
            return _state["enabled"] or None
        configure_threads()
        import jax

        folder = cache_folder()
        user_set = jax.config.jax_compilation_cache_dir
        if user_set:
            folder = Path(user_set)
        elif folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning(
                    "Cannot create the JAX compilation cache folder %s (%s): compiled code "
                    "will not be reused by the next process. Set %s to a writable folder "
                    "(or to 'off').",
                    folder, exc, CACHE_ENV,
                )  # fmt: skip
                folder = None
            else:
                jax.config.update("jax_compilation_cache_dir", str(folder))
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
                jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        jax.monitoring.register_event_listener(_count_hits)
        _state["enabled"] = folder or False
        return folder


def _count_hits(event: str, **kwargs: Any) -> None:
    """JAX monitoring listener: count persistent-cache hits (to say where code came from)."""
    if event == "/jax/compilation_cache/cache_hits":
        _state["hits"] += 1


def cache_hits() -> int:
    """Number of programs loaded from the persistent cache so far in this process."""
    return _state["hits"]


def announce(message: str, *args: Any) -> None:
    """Log ``message % args`` at INFO on ``cobaya_plugins.jax``, printed to stderr when logging
    is not configured at all (as in a plain Python session), so that no compile is silent."""
    if not logging.getLogger().handlers and not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[jax] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    log.info(message, *args)


class Timer:
    """Context manager announcing ``what`` and its wall time (and cache hits) when it ends."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self._hits = cache_hits()
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None:
            return
        self.seconds = time.perf_counter() - self._start
        hits = cache_hits() - self._hits
        source = f"; {hits} program(s) from the compilation cache" if hits else ""
        announce("%s: %.1f s%s", self.what, self.seconds, source)


class AnnouncedJit:
    """``jax.jit(fn)`` that announces each compile (first call per input shape) with its time.

    ``what`` names the function in the message, e.g. ``"plik value+gradient"``. The compile is
    done ahead of the first call (``lower(...).compile()``), so the time announced is the
    compile alone. Later calls with a seen shape cost one dictionary lookup more than
    ``jax.jit(fn)``.
    """

    def __init__(self, fn: Callable, what: str, **jit_kwargs: Any):
        import jax

        enable_cache()
        self.what = what
        self._jitted = jax.jit(fn, **jit_kwargs)
        self._compiled: dict = {}

    def __call__(self, *args: Any) -> Any:
        """The jitted function's result (compiling first, announced, for a new input shape)."""
        import jax

        key = tuple((getattr(a, "shape", None), str(getattr(a, "dtype", type(a)))) for a in args)
        compiled = self._compiled.get(key)
        if compiled is None:
            with Timer(f"compiled {self.what}"):
                compiled = self._jitted.lower(*args).compile()
            self._compiled[key] = compiled
        try:
            return compiled(*args)
        except TypeError:  # arguments of another structure than the key tells: jit decides
            return jax.block_until_ready(self._jitted(*args))
