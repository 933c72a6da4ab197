"""Download and install the Planck 2018 baseline likelihood files (Planck Legacy Archive).

:func:`install` is the one entry point, used by ``python -m cobaya_plugins install`` and by
``cobaya-install`` (through the Planck classes' ``install`` class method). Holding the install
lock of ``DIR`` (:mod:`.record`: concurrent installs into one directory take turns), it

1. downloads the product archive (:mod:`.download`: HTTP(S) with a progress bar; an interrupted
   transfer is resumed with an HTTP ``Range`` request, also across runs, from
   ``DIR/.download/``), or takes a local archive (``file://`` URL or plain path);
2. checks it (:mod:`.archive`): size against the server's announced length, SHA-256 when one is
   known, and a full decompression pass (gzip CRC and length; tar headers);
3. extracts it SAFELY (:mod:`.archive`): every member is checked first (no absolute path, no
   ``..``, no link pointing outside ``DIR``, no device or FIFO), and nothing is written if one is
   refused; extraction goes to a staging directory inside ``DIR`` that is moved into place at
   the end;
4. lists the ``.clik`` files found with each one's self-check (clik re-evaluates the
   likelihood at a stored point and compares with the stored value), and records the install
   in ``DIR/.cobaya_plugins_install.json`` (:mod:`.record`). A run on a complete install does
   nothing.

Errors are :class:`InstallError`, whose message says what was tried and how to install by hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from cobaya_plugins.clikdata import ClikFile
from cobaya_plugins.install import archive, download, record
from cobaya_plugins.install.archive import safe_extract, sha256sum, unsafe_members, verify_archive
from cobaya_plugins.install.download import local_source
from cobaya_plugins.install.errors import InstallError, UnsafeArchiveError
from cobaya_plugins.install.products import (
    PLANCK_2018,
    PRODUCTS,
    URL_ENV,
    Product,
    get_product,
    resolve_url,
)
from cobaya_plugins.install.record import LOCK, MANIFEST, install_lock, is_installed, read_manifest

__all__ = [
    "DOWNLOAD_DIR", "LOCK", "MANIFEST", "PLANCK_2018", "PRODUCTS", "URL_ENV", "ClikEntry",
    "InstallError", "InstallResult", "Product", "UnsafeArchiveError", "archive",
    "default_data_directory", "describe_clik", "download", "find_clik_files", "format_table",
    "get_product", "install", "is_installed", "local_source", "manual_instructions",
    "read_manifest", "record", "resolve_url", "safe_extract", "sha256sum", "unsafe_members",
    "verify_archive",
]  # fmt: skip

#: Where downloads in progress live, inside the install directory.
DOWNLOAD_DIR = ".download"


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
    with install_lock(directory, log):  # another install into it: wait, then find it complete
        if not force and is_installed(directory, info.name):
            manifest = read_manifest(directory) or {}
            entries = [ClikEntry(**e) for e in manifest.get("clik", [])]
            log(f"{info.description} already installed in {directory}: nothing to do "
                "(use --force to reinstall).")  # fmt: skip
            return InstallResult(directory, entries, already=True)
        return _install(info, directory, url, progress, sha256, log)


def _install(
    info: Product,
    directory: Path,
    url: str | None,
    progress: bool,
    sha256: str | None,
    log: Callable[[str], None],
) -> InstallResult:
    """The steps of :func:`install` (the caller holds the lock)."""
    source_url = resolve_url(info, url)
    checksum = sha256 or (info.sha256 if source_url == info.url else None)
    local = local_source(source_url)
    downloaded = None
    try:
        if local is not None:
            if not local.is_file():
                raise InstallError(f"Local archive {local} (from {source_url!r}) not found.")
            source = local
            log(f"using local archive {source}")
        else:
            log(f"downloading {source_url}")
            target = directory / DOWNLOAD_DIR / info.archive
            source = downloaded = download.download(source_url, target, progress, log,
                                                     info.size)  # fmt: skip
        log(f"checking {source.name}")
        verify_archive(source, checksum)
    except InstallError as exc:
        if downloaded is not None:  # a complete but bad download: remove it, retry anew
            downloaded.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only if empty: a partial download is kept
            (directory / DOWNLOAD_DIR).rmdir()
        tried = f"Tried: {source_url}" + (" (from $" + URL_ENV + ")" if not url and
                                          os.environ.get(URL_ENV) else "")  # fmt: skip
        raise InstallError(f"{exc} {tried}. {manual_instructions(info, directory)}") from None
    log(f"extracting into {directory}")
    files = safe_extract(source, directory)
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
    record.write_manifest(directory, {
        "product": info.name,
        "url": source_url,
        "files": sorted({f.rstrip("/") for f in files}),
        "clik": [dataclasses.asdict(e) for e in entries],
    })  # fmt: skip
    return result
