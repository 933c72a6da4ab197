"""Download and install the Planck 2018 baseline likelihood files (Planck Legacy Archive).

:func:`install` is the one entry point, used by ``python -m cobaya_plugins install`` and by
``cobaya-install`` (through the Planck classes' ``install`` class method). It

1. downloads the product archive (HTTP(S) with a progress bar; an interrupted transfer is
   resumed with an HTTP ``Range`` request, also across runs, from ``DIR/.download/``),
   or takes a local archive (``file://`` URL or plain path);
2. checks it: size against the server's announced length, SHA-256 when one is known, and a
   full decompression pass (gzip CRC and length; tar headers);
3. extracts it SAFELY: every member is checked first (no absolute path, no ``..``, no link
   pointing outside ``DIR``, no device or FIFO), and nothing is written if one is refused;
   extraction goes to a staging directory inside ``DIR`` that is moved into place at the end;
4. lists the ``.clik`` files found with each one's self-check (clik re-evaluates the
   likelihood at a stored point and compares with the stored value), and records the install
   in ``DIR/.cobaya_plugins_install.json``. A second run on a complete install does nothing.

Errors are :class:`InstallError`, whose message says what was tried and how to install by hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from cobaya_plugins.clikdata import ClikFile

#: Environment variable that replaces the default download URL (a mirror, a local tarball).
URL_ENV = "COBAYA_PLUGINS_PLANCK_URL"
#: Where downloads in progress live, inside the install directory.
DOWNLOAD_DIR = ".download"
#: The record of a finished install, inside the install directory.
MANIFEST = ".cobaya_plugins_install.json"
#: (connect, read) timeouts [s] of the HTTP requests: offline, the install fails in seconds.
TIMEOUTS = (10.0, 60.0)
#: Attempts to resume a transfer that breaks (each one must bring new bytes).
MAX_RESUMES = 5
#: Chunk size [bytes] of file checks, and of network reads (a broken read loses at most one).
CHUNK = 1 << 20
NET_CHUNK = 1 << 16


@dataclasses.dataclass(frozen=True)
class Product:
    """A downloadable likelihood product.

    ``url``: default download address; ``archive``: the archive's file name; ``size``: its
    size in bytes if known (used for the progress bar only when the server does not say it);
    ``sha256``: its checksum if known (then enforced); ``required``: the ``.clik`` paths
    (relative to the install directory) that must exist after the install; ``data_path``: the
    sub-directory of ``<packages_path>/data`` that ``cobaya-install`` uses.
    """

    name: str
    description: str
    url: str
    archive: str
    size: int | None
    sha256: str | None
    required: tuple[str, ...]
    data_path: str


PLANCK_2018 = Product(
    name="planck2018",
    description="Planck 2018 baseline likelihoods (PLA product COM_Likelihood_Data-baseline_R3.00)",
    url="https://pla.esac.esa.int/pla-sl/data-action?COSMOLOGY.COSMOLOGY_OID=151902",
    archive="COM_Likelihood_Data-baseline_R3.00.tar.gz",
    size=60293120,  # Cobaya's progress-bar hint for product 151902; not checked
    sha256=None,  # no checksum known here: the archive is checked by full decompression instead
    required=(
        "baseline/plc_3.0/low_l/commander/commander_dx12_v3_2_29.clik",
        "baseline/plc_3.0/hi_l/plik/plik_rd12_HM_v22b_TTTEEE.clik",
        "baseline/plc_3.0/hi_l/plik_lite/plik_lite_v22_TTTEEE.clik",
        "baseline/plc_3.0/lensing/smicadx12_Dec5_ftl_mv2_ndclpp_p_teb_consext8.clik_lensing",
    ),
    data_path="planck_2018",
)
PRODUCTS = {PLANCK_2018.name: PLANCK_2018}


class InstallError(Exception):
    """An install step failed; the message says what was tried and what to do."""


class UnsafeArchiveError(InstallError):
    """The archive has members that would land outside the install directory."""


@dataclasses.dataclass
class ClikEntry:
    """One ``.clik`` file found after an install (``path`` relative to the install dir)."""

    path: str
    lkl_type: str
    spectra: str
    n_nuisance: int
    self_check: str
    ok: bool


@dataclasses.dataclass
class InstallResult:
    """What :func:`install` did: ``directory``, ``entries`` (the table), ``already`` (True when
    the install was complete and nothing was done), ``ok`` (every self-check passed)."""

    directory: Path
    entries: list[ClikEntry]
    already: bool

    @property
    def ok(self) -> bool:
        """True when every listed file opened and passed its self-check."""
        return all(e.ok for e in self.entries)


def get_product(name: str) -> Product:
    """The product called ``name`` (see :data:`PRODUCTS`); ``ValueError`` lists the valid ones."""
    try:
        return PRODUCTS[name]
    except KeyError:
        raise ValueError(
            f"Unknown product {name!r}; available: {', '.join(PRODUCTS)}."
        ) from None


def resolve_url(product: Product, url: str | None = None) -> str:
    """The URL to use: ``url`` if given, else ``$COBAYA_PLUGINS_PLANCK_URL``, else the default."""
    return url or os.environ.get(URL_ENV) or product.url


def manual_instructions(product: Product, directory: Path) -> str:
    """How to download and place the files by hand (appended to every download error)."""
    return (
        f"To install by hand: on a machine with internet access, download {product.archive} "
        f"({product.description}) from the Planck Legacy Archive ({product.url}, or "
        "https://pla.esac.esa.int -> Cosmology -> Likelihood), copy it here, then run "
        f"`python -m cobaya_plugins install {product.name} --path {directory} --url "
        f"file:///path/to/{product.archive}` (checked, safe extraction), or unpack it yourself "
        f"with `tar -xzf {product.archive} -C {directory}` so that "
        f"{directory / product.required[0]} exists. A mirror or local copy can also be given "
        f"once for all with the environment variable {URL_ENV}."
    )


def default_data_directory(
    packages_path: str | os.PathLike | None = None, product: str = "planck2018"
) -> Path | None:
    """``<packages_path>/data/planck_2018`` (``cobaya-install``'s place); the packages path
    defaults to Cobaya's (``$COBAYA_PACKAGES_PATH`` or its config file). None if unknown."""
    if packages_path is None:
        from cobaya.tools import resolve_packages_path

        packages_path = resolve_packages_path()
    if not packages_path:
        return None
    return Path(packages_path) / "data" / get_product(product).data_path


# --- download -----------------------------------------------------------------------------


def local_source(url: str) -> Path | None:
    """The local file a ``file://`` URL or a plain path points to; None for a remote URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.parse.unquote(parsed.path))
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme and len(parsed.scheme) > 1:
        raise InstallError(
            f"Unsupported URL scheme {parsed.scheme!r} in {url!r}: use http://, https://, "
            "file:// or a local path."
        )
    return Path(url)


def _progress(total: int | None, initial: int, enabled: bool, label: str):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
        desc=label, disable=not enabled, file=sys.stderr, dynamic_ncols=True,
    )  # fmt: skip


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/total`` header."""
    found = re.match(r"bytes\s+(\d+|\*)-?(\d*)/(\d+|\*)", header or "")
    if not found:
        return None, None
    first = None if found.group(1) == "*" else int(found.group(1))
    total = None if found.group(3) == "*" else int(found.group(3))
    return first, total


def check_host(url: str, timeout: float) -> None:
    """Resolve the host of ``url`` within ``timeout`` seconds, else raise :class:`InstallError`.

    The name lookup has no timeout of its own (requests' timeouts start after it); offline, a
    resolver that does not answer could otherwise hang for long.
    """
    import socket
    import threading

    host = urllib.parse.urlparse(url).hostname
    if not host:
        raise InstallError(f"{url!r} has no host name.")
    outcome: list = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, None))
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise InstallError(
            f"GET {url} failed: the host name {host} was not resolved within {timeout:g} s "
            "(no network?)."
        )
    if isinstance(outcome[0], OSError):
        raise InstallError(
            f"GET {url} failed: ConnectionError: cannot resolve the host name {host} "
            f"({outcome[0]}; no network?)."
        )


def download(
    url: str,
    target: Path,
    progress: bool = True,
    log: Callable[[str], None] = print,
    size_hint: int | None = None,
) -> Path:
    """Download ``url`` to ``target`` (HTTP(S)), resuming from ``target + '.part'`` if present.

    The partial file survives a failure, so the next call resumes it with a ``Range`` request
    (``If-Range`` with the server's ETag/Last-Modified guards against a changed file). A
    transfer that breaks is resumed up to :data:`MAX_RESUMES` times. Raises
    :class:`InstallError` (status, network error, or a size that does not match what the
    server announced). Returns ``target``.
    """
    import requests

    check_host(url, TIMEOUTS[0])
    part = target.with_name(target.name + ".part")
    meta_file = target.with_name(target.name + ".part.json")
    meta = {}
    if part.exists() and meta_file.exists():
        with contextlib.suppress(ValueError):
            meta = json.loads(meta_file.read_text())
    if meta.get("url") != url:  # a partial download of something else: start again
        part.unlink(missing_ok=True)
        meta = {"url": url}
    target.parent.mkdir(parents=True, exist_ok=True)
    attempts = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        headers = {}
        if have:
            headers["Range"] = f"bytes={have}-"
            validator = meta.get("etag") or meta.get("last_modified")
            if validator:
                headers["If-Range"] = validator
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=TIMEOUTS)
        except requests.RequestException as exc:
            kept = f" ({have} bytes kept in {part} for the next run)" if have else ""
            raise InstallError(f"GET {url} failed: {type(exc).__name__}: {exc}{kept}") from exc
        with response:
            if response.status_code == 416 and have:  # nothing left to send?
                _, total = _content_range(response.headers.get("Content-Range"))
                if total == have:
                    break
                part.unlink()
                continue
            if response.status_code not in (200, 206):
                kept = (f" {have} bytes are kept in {part} and the next run resumes from "
                        "there." if have else "")  # fmt: skip
                raise InstallError(
                    f"GET {url} answered HTTP {response.status_code} {response.reason}.{kept}"
                )
            if response.status_code == 206:
                first, total = _content_range(response.headers.get("Content-Range"))
                if first != have:
                    raise InstallError(
                        f"GET {url}: asked for bytes from {have}, the server sent a range "
                        f"starting at {first} (Content-Range "
                        f"{response.headers.get('Content-Range')!r})."
                    )
                mode = "ab"
                log(f"resuming {target.name} at {have} bytes")
            else:  # 200: the whole file (the server ignored or refused the range)
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                have, mode = 0, "wb"
            meta.update(
                url=url,
                total=total,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
            meta_file.write_text(json.dumps(meta))
            received = 0
            bar = _progress(total or size_hint, have, progress, target.name)
            try:
                with open(part, mode) as out:
                    for chunk in response.iter_content(chunk_size=NET_CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                broken = None
            except requests.RequestException as exc:
                broken = exc
            finally:
                bar.close()
        size = part.stat().st_size
        if broken is None and (total is None or size == total):
            break
        attempts += 1
        what = f"{type(broken).__name__}: {broken}" if broken else f"{size} of {total} bytes"
        if received == 0 or attempts > MAX_RESUMES:
            raise InstallError(
                f"GET {url}: the transfer stopped ({what}); {size} bytes are kept in {part} "
                "and the next run resumes from there."
            )
        log(f"transfer interrupted ({what}); resuming")
    part.replace(target)
    meta_file.unlink(missing_ok=True)
    return target


# --- checks -------------------------------------------------------------------------------


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
        ) from exc
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


# --- extraction ---------------------------------------------------------------------------


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


# --- listing ------------------------------------------------------------------------------


def find_clik_files(directory: Path) -> list[Path]:
    """The clik likelihood directories under ``directory`` (containing ``clik/`` or
    ``clik_lensing/``), sorted, skipping hidden directories."""
    found = []
    for root, dirs, _ in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(root)
        if ClikFile.find(here) is not None:
            found.append(here)
            dirs[:] = []
    return found


def describe_clik(path: Path, directory: Path) -> ClikEntry:
    """Open one clik file and report its self-check (see :class:`cobaya_plugins.clik.SelfCheck`:
    the loglike at the file's stored check point against the stored value).

    A file that cannot be opened, or whose self-check fails, gives ``ok=False``.
    """
    from cobaya_plugins.clik import open_clik

    relative = str(path.relative_to(directory))
    try:
        lkl = open_clik(path)
    except Exception as exc:  # noqa: BLE001 - reported in the table, counted as a failure
        return ClikEntry(relative, "?", "?", 0, f"cannot open: {exc}", False)
    spectra = " ".join(f"{s.upper()}:{lm}" for s, lm in lkl.lmax.items())
    check = lkl.self_check
    text = "no self-check in this file" if check is None else str(check)
    ok = check is None or check.passed
    return ClikEntry(relative, lkl.lkl_type, spectra, len(lkl.nuisance_names), text, ok)


def format_table(entries: list[ClikEntry]) -> str:
    """The listing printed at the end of an install: one line per clik file."""
    if not entries:
        return "no .clik files found"
    width = max(len(e.path) for e in entries)
    lines = [f"{'file':<{width}}  {'type':<13} {'nuis':>4}  self-check"]
    for e in entries:
        lines.append(f"{e.path:<{width}}  {e.lkl_type:<13} {e.n_nuisance:>4}  {e.self_check}")
    return "\n".join(lines)


# --- the install --------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict | None:
    """The install record of ``directory`` if it exists and is readable, else None."""
    try:
        return json.loads((Path(directory) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_installed(directory: str | os.PathLike, product: str = "planck2018",
                 required: Iterable[str] | None = None) -> bool:
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


def install(
    product: str = "planck2018",
    path: str | os.PathLike = ".",
    url: str | None = None,
    force: bool = False,
    progress: bool = True,
    sha256: str | None = None,
    log: Callable[[str], None] = print,
) -> InstallResult:
    """Download, check, safely extract and list ``product`` into the directory ``path``.

    ``url`` (or ``$COBAYA_PLUGINS_PLANCK_URL``) replaces the default address: ``http(s)://``,
    ``file://`` or a local path. ``force`` reinstalls over a complete install. ``sha256``
    enforces a checksum. ``log`` receives the progress messages (the progress bar itself
    goes to stderr). Raises :class:`InstallError` (:class:`UnsafeArchiveError` for a
    dangerous archive) with what was tried and how to install by hand.
    """
    info = get_product(product)
    directory = Path(path).expanduser().resolve()
    if not force and is_installed(directory, info.name):
        manifest = read_manifest(directory) or {}
        entries = [ClikEntry(**e) for e in manifest.get("clik", [])]
        log(f"{info.description} already installed in {directory}: nothing to do "
            "(use --force to reinstall).")  # fmt: skip
        return InstallResult(directory, entries, already=True)
    source_url = resolve_url(info, url)
    checksum = sha256 or (info.sha256 if source_url == info.url else None)
    local = local_source(source_url)
    downloaded = None
    try:
        if local is not None:
            if not local.is_file():
                raise InstallError(f"Local archive {local} (from {source_url!r}) not found.")
            archive = local
            log(f"using local archive {archive}")
        else:
            log(f"downloading {source_url}")
            target = directory / DOWNLOAD_DIR / info.archive
            archive = downloaded = download(source_url, target, progress, log, info.size)
        log(f"checking {archive.name}")
        verify_archive(archive, checksum)
    except InstallError as exc:
        if downloaded is not None:  # a complete but bad download: remove it, retry anew
            downloaded.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only if empty: a partial download is kept
            (directory / DOWNLOAD_DIR).rmdir()
        tried = f"Tried: {source_url}" + (" (from $" + URL_ENV + ")" if not url and
                                          os.environ.get(URL_ENV) else "")  # fmt: skip
        raise InstallError(f"{exc} {tried}. {manual_instructions(info, directory)}") from exc
    log(f"extracting into {directory}")
    files = safe_extract(archive, directory)
    if downloaded is not None:
        downloaded.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            (directory / DOWNLOAD_DIR).rmdir()
    missing = [r for r in info.required if not (directory / r).exists()]
    entries = [describe_clik(p, directory) for p in find_clik_files(directory)]
    if missing:
        raise InstallError(
            f"The archive from {source_url} was extracted into {directory}, but it lacks "
            f"{', '.join(missing)}: it is not the {info.description}."
        )
    result = InstallResult(directory, entries, already=False)
    if not result.ok:  # no install record: the next run tries again
        return result
    record = {
        "product": info.name,
        "url": source_url,
        "files": sorted({f.rstrip("/") for f in files}),
        "clik": [dataclasses.asdict(e) for e in entries],
    }
    (directory / MANIFEST).write_text(json.dumps(record, indent=1))
    return result
