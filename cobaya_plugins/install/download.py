"""Downloading an archive over HTTP(S), resumable (``Range`` requests, also across runs), with a
progress bar; or finding the local file a ``file://`` URL or a path names."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from cobaya_plugins.install.errors import InstallError

#: (connect, read) timeouts [s] of the HTTP requests: offline, the install fails in seconds.
TIMEOUTS = (10.0, 60.0)
#: Attempts to resume a transfer that breaks (each one must bring new bytes).
MAX_RESUMES = 5
#: Chunk size [bytes] of network reads (a broken read loses at most one).
NET_CHUNK = 1 << 16


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
            raise InstallError(f"GET {url} failed: {type(exc).__name__}: {exc}{kept}") from None
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
