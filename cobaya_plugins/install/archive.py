"""Archive safety: checking a tar archive (SHA-256, a full decompression pass, its headers) and
extracting it without letting any member land outside the target directory."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from cobaya_plugins.install.errors import InstallError, UnsafeArchiveError

#: Chunk size [bytes] of file reads.
CHUNK = 1 << 20


def sha256sum(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_archive(path: Path, sha256: str | None = None) -> None:
    """Check an archive: SHA-256 (if given), a full decompression pass, and the tar headers.

    Raises :class:`InstallError` naming the problem (truncated, corrupted, wrong checksum).
    """
    if sha256 and sha256sum(path).lower() != sha256.lower():
        raise InstallError(f"{path} has the wrong SHA-256 (expected {sha256}).")
    with open(path, "rb") as handle:
        magic = handle.read(2)
    try:
        if magic == b"\x1f\x8b":  # gzip: reading to the end checks its CRC-32 and length
            with gzip.open(path, "rb") as stream:
                while stream.read(CHUNK):
                    pass
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
    except (OSError, EOFError, tarfile.TarError, ValueError) as exc:
        raise InstallError(
            f"{path} is not a complete, readable tar archive ({type(exc).__name__}: {exc}): "
            "it is truncated or corrupted."
        ) from None
    if not members:
        raise InstallError(f"{path} is an empty archive.")


def _leaves_root(path: PurePosixPath) -> bool:
    """True if a relative path climbs above its starting directory at some point."""
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return True
    return False


def unsafe_members(members: Iterable[tarfile.TarInfo]) -> list[str]:
    """Descriptions of the members that must not be extracted (empty list: all safe).

    Refused: absolute paths, ``..`` components, symbolic or hard links whose target is
    absolute or leaves the extraction directory, devices, FIFOs and other special files.
    """
    problems = []
    for member in members:
        name = member.name
        parts = PurePosixPath(name).parts
        if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            problems.append(f"{name!r}: absolute path")
            continue
        if ".." in parts or "\\" in name:
            problems.append(f"{name!r}: path leaves the directory ('..' or '\\')")
            continue
        if member.issym() or member.islnk():
            link = member.linkname
            # a symlink is resolved from its own directory, a hard link from the archive root
            target = (PurePosixPath(name).parent if member.issym() else PurePosixPath()) / link
            if not link or link.startswith("/") or _leaves_root(target):
                kind = "symbolic" if member.issym() else "hard"
                problems.append(f"{name!r}: {kind} link to {link!r} points outside")
            continue
        if not (member.isfile() or member.isdir()):
            problems.append(f"{name!r}: special file (device, FIFO) not allowed")
    return problems


def _move_into(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, merging directories and replacing files."""
    if source.is_dir() and not source.is_symlink() and target.is_dir():
        for child in source.iterdir():
            _move_into(child, target / child.name)
        source.rmdir()
        return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    source.replace(target)


def safe_extract(archive: Path, directory: Path) -> list[str]:
    """Extract ``archive`` into ``directory`` after checking every member; returns the names.

    Raises :class:`UnsafeArchiveError` (and writes nothing) if any member is unsafe.
    """
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        problems = unsafe_members(members)
        if problems:
            raise UnsafeArchiveError(
                f"Refusing to extract {archive}: {len(problems)} member(s) would land outside "
                f"{directory} or are special files; nothing was written. "
                + "; ".join(problems[:10])
                + (" ..." if len(problems) > 10 else "")
            )
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
        try:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, members=members, **kwargs)
            for child in list(staging.iterdir()):
                _move_into(child, directory / child.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return [m.name for m in members]
