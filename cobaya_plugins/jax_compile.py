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

Process-wide JAX settings this package makes, each said in the log when it changes something:
:func:`configure_threads` (XLA on one CPU thread unless ``XLA_FLAGS`` is set) and
:func:`quiet_missing_tpu` (JAX's "no libtpu.so" note dropped), both by :func:`enable_cache`;
:func:`enable_x64` (float64, refused when ``JAX_ENABLE_X64`` says off), by the log-posterior.

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


def configure_threads() -> bool:
    """Set ``XLA_FLAGS`` to :data:`XLA_SINGLE_THREAD` unless the user set it (then it is left as
    it is, even empty); returns True when this call set it. Effective only before JAX's CPU
    backend starts, i.e. before the first JAX computation of the process (:func:`enable_cache`
    calls it, and says so when it sets it)."""
    if "XLA_FLAGS" in os.environ:
        return False
    os.environ["XLA_FLAGS"] = XLA_SINGLE_THREAD
    return True


#: JAX's environment variable for its 64-bit mode, and the values JAX reads as "off".
X64_ENV = "JAX_ENABLE_X64"
X64_OFF = ("0", "false", "f", "no", "n", "off")


def enable_x64(what: str) -> bool:
    """Turn on JAX's 64-bit mode (``jax_enable_x64``) for the process, which ``what`` (e.g. "the
    JAX log-posterior") needs; returns True when this call turned it on, False when it was on.

    Raises ``ValueError`` naming the fix when the user switched it off explicitly,
    ``JAX_ENABLE_X64=0`` (or ``false``, ``off``...): that setting is left alone. A
    ``jax.config.update("jax_enable_x64", False)`` cannot be told apart from JAX's default (off)
    and is overridden like it.
    """
    value = os.environ.get(X64_ENV)
    if value is not None and value.strip().lower() in X64_OFF:
        raise ValueError(
            f"{what} computes in float64, as Cobaya's likelihoods do, but {X64_ENV}={value} in "
            f"the environment switches JAX's 64-bit mode off: unset {X64_ENV} (this package then "
            f"turns the mode on) or set {X64_ENV}=1."
        )
    import jax

    if jax.config.jax_enable_x64:
        return False
    jax.config.update("jax_enable_x64", True)
    return True


#: The record JAX logs (INFO, logger ``jax._src.xla_bridge``) at its first computation when no
#: TPU library is installed: ``Unable to initialize backend 'tpu': ... libtpu.so ...``.
TPU_PROBE_LOGGER = "jax._src.xla_bridge"


def _not_missing_libtpu(record: logging.LogRecord) -> bool:
    """Logging filter: False (drop) for JAX's note that it found no TPU library, which reads
    like an error on every machine without a TPU; True for every other record."""
    message = record.getMessage()
    return not (message.startswith("Unable to initialize backend 'tpu'") and "libtpu" in message)


def quiet_missing_tpu() -> None:
    """Drop JAX's INFO note ``Unable to initialize backend 'tpu': ... libtpu.so: cannot open
    shared object file`` (idempotent). Only that record is dropped: JAX still looks for every
    accelerator (``JAX_PLATFORMS`` is not touched), a GPU or TPU is used when present, and a
    failure of another backend (e.g. ``'cuda'``) is still reported."""
    logger = logging.getLogger(TPU_PROBE_LOGGER)
    if _not_missing_libtpu not in logger.filters:
        logger.addFilter(_not_missing_libtpu)


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
        quiet_missing_tpu()
        if configure_threads():
            announce(
                "XLA_FLAGS is not set: set to '%s' for this process (XLA on one CPU thread, "
                "faster for clipy's many small operations; set XLA_FLAGS yourself, even to '', "
                "to keep XLA's thread pool: docs/jax.md)",
                XLA_SINGLE_THREAD,
            )
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
