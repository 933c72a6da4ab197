"""The online emulator's training set on disk: one file per exact call, keyed by configuration.

Layout under the ``cache:`` folder::

    <cache>/<name>-<key>/config.json        the exact theory's configuration (what the key hashes)
    <cache>/<name>-<key>/points/<id>.npz    one exact call: inputs, spectra, derived parameters
                                            (or the failure and its message)

``key`` is the first 16 hex digits of the SHA-256 of the configuration written as canonical JSON
(:func:`configuration_key`), so another configuration lands in another folder and is never mixed
in. Each file is written to a hidden temporary name in the same folder and then renamed
(``os.replace``, atomic on POSIX): a reader sees a whole file or none, and processes writing at
the same time never touch the same name (``<time ns>-<host>-<pid>-<n>``). A process learns the
others' exact calls by listing the folder again (:meth:`TrainingStore.read_new`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Length of the configuration key in the folder name (hex digits of the SHA-256).
KEY_LENGTH = 16


class StoreError(ValueError):
    """A cache file cannot be read, or a cache folder holds another configuration."""


@dataclass
class TrainingPoint:
    """One exact call: ``params`` (inputs by name), ``cls`` (spectrum -> C_ell from ell = 0, in
    the units the emulator learns), ``derived`` (by name); a failed call has ``failed`` True, no
    spectra and the exact code's ``message``. ``seconds``: the exact call's time; ``name``: the
    file name (set by the store); ``check``: the emulator's prediction at this point compared
    with the result, made before it learned the point (see :meth:`.Emulator.check`), or None."""

    params: dict[str, float]
    cls: dict[str, np.ndarray] = field(default_factory=dict)
    derived: dict[str, float] = field(default_factory=dict)
    failed: bool = False
    message: str = ""
    seconds: float = 0.0
    name: str = ""
    check: dict[str, Any] | None = None


def _canonical(value: Any) -> Any:
    """A JSON-able, deterministic form of an option value (callables by module and name)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if callable(value):
        return f"{getattr(value, '__module__', '?')}:{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


def configuration_key(configuration: Mapping[str, Any]) -> str:
    """The key of a configuration: SHA-256 (hex, :data:`KEY_LENGTH` digits) of its canonical
    JSON (sorted keys; callables as ``module:qualname``, arrays as lists, others by ``repr``)."""
    text = json.dumps(_canonical(configuration), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class TrainingStore:
    """The training points of one configuration under ``folder`` (the ``cache:`` option).

    ``configuration``: the exact theory's configuration (JSON-able after
    :func:`configuration_key`'s canonical form); ``name``: a readable prefix of the subfolder
    (e.g. the theory's class). Creates ``<folder>/<name>-<key>/``. ``other_configurations``
    lists the sibling folders of other configurations (never read).
    """

    def __init__(self, folder: str | os.PathLike, configuration: Mapping[str, Any], name: str):
        self.key = configuration_key(configuration)
        self.root = Path(folder).expanduser().resolve()
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:60] or "theory"
        self.folder = self.root / f"{safe}-{self.key}"
        self.points_folder = self.folder / "points"
        self.points_folder.mkdir(parents=True, exist_ok=True)
        config_file = self.folder / "config.json"
        text = json.dumps(_canonical(configuration), sort_keys=True, indent=1)
        if config_file.exists():
            try:
                stored = json.loads(config_file.read_text())
            except (OSError, ValueError) as excpt:
                raise StoreError(
                    f"The cache file {config_file} cannot be read ({excpt}). Delete it (it is "
                    f"rewritten), or the folder {self.folder} to start this model's cache afresh."
                ) from None
            if configuration_key(stored) != self.key:
                raise StoreError(
                    f"The cache folder {self.folder} holds another configuration than its name "
                    f"says ({config_file} was changed or copied). Delete the folder, or point "
                    "`cache:` elsewhere."
                )
        else:
            _write_atomic(config_file, lambda f: f.write(text.encode()))
        self.other_configurations = sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and p != self.folder
        )
        self._seen: set[str] = set()
        self._counter = itertools.count()
        self._prefix = f"{socket.gethostname()}-{os.getpid()}".replace(".", "_")

    def __len__(self) -> int:
        return len(self._names())

    def _names(self) -> list[str]:
        return sorted(
            p for p in os.listdir(self.points_folder) if p.endswith(".npz") and p[0] != "."
        )

    def append(self, point: TrainingPoint) -> str:
        """Write ``point`` as a new file (atomically); returns its file name (also set on it)."""
        name = f"{time.time_ns()}-{self._prefix}-{next(self._counter)}.npz"
        arrays: dict[str, np.ndarray] = {
            "key": np.array(self.key),
            "param_names": np.array(list(point.params), dtype=str),
            "param_values": np.array(list(point.params.values()), dtype=float),
            "derived_names": np.array(list(point.derived), dtype=str),
            "derived_values": np.array(list(point.derived.values()), dtype=float),
            "spectra": np.array(list(point.cls), dtype=str),
            "failed": np.array(bool(point.failed)),
            "message": np.array(str(point.message)),
            "seconds": np.array(float(point.seconds)),
        }
        for spectrum, values in point.cls.items():
            arrays[f"cl_{spectrum}"] = np.asarray(values, dtype=float)
        if point.check:
            check = point.check
            arrays["check"] = np.array(
                [check["mean"], check["std"], check["estimate"], check.get("delta", 0.0)]
            )
            arrays["check_derived_names"] = np.array(list(check["derived"]), dtype=str)
            arrays["check_derived_values"] = np.array(list(check["derived"].values()), dtype=float)
        _write_atomic(self.points_folder / name, lambda f: np.savez(f, **arrays))
        self._seen.add(name)
        point.name = name
        return name

    def read(self, name: str) -> TrainingPoint:
        """The point in file ``name``; :class:`StoreError` naming the file and the fix if it
        cannot be read or belongs to another configuration."""
        path = self.points_folder / name
        fix = (
            f"Delete this file (only this training point is lost), or the folder {self.folder} "
            "to start this model's cache afresh."
        )
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != self.key:
                    raise StoreError(
                        f"The cache file {path} belongs to another configuration (key "
                        f"{data['key']}, this folder's is {self.key}). {fix}"
                    )
                cls = {str(s): np.array(data[f"cl_{s}"]) for s in data["spectra"]}
                names, values = data["param_names"], data["param_values"]
                params = {str(n): float(v) for n, v in zip(names, values, strict=True)}
                names, values = data["derived_names"], data["derived_values"]
                derived = {str(n): float(v) for n, v in zip(names, values, strict=True)}
                check = None
                if "check" in data:
                    mean, std, estimate, delta = map(float, data["check"])
                    names, values = data["check_derived_names"], data["check_derived_values"]
                    check = {
                        "mean": mean,
                        "std": std,
                        "estimate": estimate,
                        "delta": delta,
                        "derived": {str(n): float(v) for n, v in zip(names, values, strict=True)},
                    }
                return TrainingPoint(
                    params=params,
                    cls=cls,
                    derived=derived,
                    failed=bool(data["failed"]),
                    message=str(data["message"]),
                    seconds=float(data["seconds"]),
                    name=name,
                    check=check,
                )  # fmt: skip
        except StoreError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as excpt:
            raise StoreError(f"The cache file {path} is unreadable ({excpt}). {fix}") from None

    def read_new(self) -> list[TrainingPoint]:
        """The points written (by any process) since the last call, in file-name order."""
        new = [n for n in self._names() if n not in self._seen]
        points = [self.read(n) for n in new]
        self._seen.update(new)
        return points
