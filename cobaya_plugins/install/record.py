"""The install record and the install lock of an install directory.

``DIR/.cobaya_plugins_install.json`` records a finished install (the product, where it came from,
the files the archive held, the listing of its ``.clik`` files); an install is complete when the
record and every file it lists exist. ``DIR/.cobaya_plugins_install.lock`` (an advisory
``flock`` lock, there while an install runs) serialises installs into one directory: two
processes started together (two cluster jobs) take turns, and the second finds the first one's
complete install and does nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from cobaya_plugins.install.products import get_product

try:  # POSIX; elsewhere installs into one directory are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

#: The record of a finished install, inside the install directory.
MANIFEST = ".cobaya_plugins_install.json"
#: The lock file, inside the install directory while an install runs.
LOCK = ".cobaya_plugins_install.lock"


def read_manifest(directory: str | os.PathLike) -> dict | None:
    """The install record of ``directory`` if it exists and is readable, else None."""
    try:
        return json.loads((Path(directory) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def write_manifest(directory: str | os.PathLike, record: dict) -> Path:
    """Write the install record of ``directory`` (atomically: a reader sees the old or the new
    record, never half of one); returns its path."""
    target = Path(directory) / MANIFEST
    partial = target.with_name(target.name + ".part")
    partial.write_text(json.dumps(record, indent=1))
    partial.replace(target)
    return target


def is_installed(
    directory: str | os.PathLike, product: str = "planck2018", required: Iterable[str] | None = None
) -> bool:
    """True if ``directory`` holds a complete install of ``product``: the install record, all
    the files it lists, and the ``required`` clik paths (default: the product's)."""
    directory = Path(directory)
    info = get_product(product)
    manifest = read_manifest(directory)
    if not manifest or manifest.get("product") != info.name:
        return False
    needed = list(info.required if required is None else required)
    files = manifest.get("files", [])
    return all((directory / f).exists() for f in [*files, *needed])


@contextlib.contextmanager
def install_lock(directory: Path, log: Callable[[str], None] = print) -> Iterator[Path]:
    """Hold the install lock of ``directory`` (created if missing) for the ``with`` block.

    When another process holds it, says so through ``log`` and waits until it is released (the
    lock goes with its process: a killed install leaves no stale lock). The lock file is removed
    when the block ends; a process that was waiting on the removed file takes the new one.
    Yields the lock file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK
    if fcntl is None:  # pragma: no cover
        yield path
        return
    told = False
    while True:
        handle = open(path, "a")  # closed below, or after the block
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not told:
                log(f"another install into {directory} is running (lock {path}); waiting for it")
                told = True
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:  # still the lock file, or one its holder removed when it finished?
            current = os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:
            break
        handle.close()
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)  # while holding it: waiters see a removed file
        handle.close()  # releases the lock
