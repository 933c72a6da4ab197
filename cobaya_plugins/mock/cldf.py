"""Writer for clik's "cldf" directory storage (the on-disk format of ``.clik`` likelihoods).

A *group* is a directory with a ``_mdb`` text file of ``<key> <int|float|str> <value>`` lines.
Any other entry of a group is a file named like its key: a FITS image (arrays; optionally
gzip-compressed in place, which clik and clipy still read) or raw text (long strings and
NUL-separated name lists). Sub-directories are sub-groups; ``_external/`` holds files read
directly by a likelihood's own code. See ``docs/clik_format.md`` (the format as clipy's reader,
``clipy/minicldf.py`` in the ``clipy-like`` package, reads it).

Everything written here is deterministic: the same calls give byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

METADATA_FILE = "_mdb"
EXTERNAL_DIR = "_external"
_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key) or key in (METADATA_FILE, EXTERNAL_DIR):
        raise ValueError(
            f"Invalid cldf key {key!r}: use letters, digits, '_', '-', '.' only "
            f"(no spaces or '/'), and not {METADATA_FILE!r} or {EXTERNAL_DIR!r}."
        )
    return key


def fits_bytes(values: np.ndarray | Sequence, compress: bool = False) -> bytes:
    """Serialize an array as a FITS primary image (int -> int64, float -> float64).

    With ``compress=True`` the FITS bytes are gzip-compressed (fixed header, no timestamp).
    """
    array = np.asarray(values)
    if array.dtype.kind in "iub":
        array = array.astype(np.int64)
    elif array.dtype.kind == "f":
        array = array.astype(np.float64)
    else:
        raise TypeError(f"Only int or float arrays can be stored as FITS, got dtype {array.dtype}.")
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.ascontiguousarray(array)).writeto(buffer)
    data = buffer.getvalue()
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    return data


class Group:
    """One cldf group (a directory with a ``_mdb`` file), created empty on construction.

    Scalar metadata are kept in memory and the ``_mdb`` file is rewritten on every change,
    so the directory is always readable.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=False)
        self._metadata: dict[str, int | float | str] = {}
        self._write_metadata()

    def _write_metadata(self) -> None:
        lines = []
        for key, value in self._metadata.items():
            if isinstance(value, str):
                lines.append(f"{key} str {value}\n")
            elif isinstance(value, int):
                lines.append(f"{key} int {value:d}\n")
            else:
                lines.append(f"{key} float {value!r}\n")
        (self.path / METADATA_FILE).write_text("".join(lines))

    def set(self, key: str, value: int | float | str) -> None:
        """Store a scalar in ``_mdb``: int (incl. numpy ints), float, or one-line str."""
        _check_key(key)
        if isinstance(value, bool) or not isinstance(value, int | float | str | np.number):
            raise TypeError(f"cldf metadata {key!r} must be int, float or str, got {value!r}.")
        if isinstance(value, str):
            if "\n" in value or "\0" in value:
                raise ValueError(f"cldf metadata string {key!r} must be a single line.")
        elif isinstance(value, np.integer | int):
            value = int(value)
        else:
            value = float(value)
        self._metadata[key] = value
        self._write_metadata()

    def set_many(self, **values: int | float | str) -> None:
        """Store several scalars in ``_mdb`` (see :meth:`set`), in the order given."""
        for key, value in values.items():
            self.set(key, value)

    def array(self, key: str, values: np.ndarray | Sequence, compress: bool = False) -> Path:
        """Store an int or float array as a FITS member (flattened readers reshape it)."""
        target = self.path / _check_key(key)
        target.write_bytes(fits_bytes(values, compress=compress))
        return target

    def names(self, key: str, names: Sequence[str]) -> Path:
        r"""Store a list of names as NUL-separated raw text (``name1\0name2\0``)."""
        for name in names:
            if not name or any(c.isspace() or c == "\0" for c in name):
                raise ValueError(f"cldf name list {key!r}: invalid name {name!r}.")
        return self.text(key, "".join(f"{name}\0" for name in names))

    def text(self, key: str, text: str) -> Path:
        """Store a raw text member (clik reads a non-FITS file back as a string)."""
        target = self.path / _check_key(key)
        target.write_bytes(text.encode("ascii"))
        return target

    def group(self, key: str) -> Group:
        """Create and return the sub-group ``key``."""
        return Group(self.path / _check_key(key))

    def external(self, filename: str) -> Path:
        """Path of ``_external/<filename>`` (the directory is created); the caller writes it."""
        directory = self.path / EXTERNAL_DIR
        directory.mkdir(exist_ok=True)
        return directory / _check_key(filename)
