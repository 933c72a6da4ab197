"""Test helpers: a tarball of mock files laid out like the Planck 2018 baseline product, and a
local HTTP server (127.0.0.1 only) that serves it with Range support and planted faults."""

from __future__ import annotations

import io
import re
import socket
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cobaya_plugins.install import PLANCK_2018

#: mock kind -> where the real product has that file (the ``clik_file`` of Cobaya's own
#: planck_2018_lowl.TT_clik, planck_2018_highl_plik.TTTEEE / TTTEEE_lite and
#: planck_2018_lensing.clik likelihoods; written out here, not read from cobaya_plugins).
LAYOUT = {
    "lowl_TT": "baseline/plc_3.0/low_l/commander/commander_dx12_v3_2_29.clik",
    "highl_TTTEEE": "baseline/plc_3.0/hi_l/plik/plik_rd12_HM_v22b_TTTEEE.clik",
    "highl_TTTEEE_lite": "baseline/plc_3.0/hi_l/plik_lite/plik_lite_v22_TTTEEE.clik",
    "lensing": "baseline/plc_3.0/lensing/smicadx12_Dec5_ftl_mv2_ndclpp_p_teb_consext8.clik_lensing",
}


def product_tarball(
    mock_paths: dict[str, Path],
    extra: list[tarfile.TarInfo] | None = None,
    skip: tuple[str, ...] = (),
) -> bytes:
    """A .tar.gz holding the mock files at the real product's paths (plus ``extra`` members,
    without ``skip`` kinds)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for kind, where in LAYOUT.items():
            if kind not in skip:
                tar.add(mock_paths[kind], arcname=where)
        for member in extra or []:
            data = b"x" * member.size if member.isfile() else None
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


class ArchiveServer:
    """Serves ``payload`` at ``/<name>`` on 127.0.0.1 (any other path: 404).

    Faults: ``break_after`` (bytes) makes the next ``breaks`` responses stop after that many
    bytes of the body; ``fail_status`` answers every request after the first break with that
    HTTP status; ``ranges=False`` ignores Range headers; ``delay`` (seconds) waits before each
    body. ``requests`` records the Range header of each GET (None when absent).
    """

    def __init__(self, payload: bytes, name: str = PLANCK_2018.archive):
        self.payload = payload
        self.name = name
        self.requests: list[str | None] = []
        self.break_after: int | None = None
        self.breaks = 0
        self.fail_status: int | None = None
        self.ranges = True
        self.delay = 0.0
        self._broke = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests.append(self.headers.get("Range"))
                if self.path != "/" + server.name:
                    self.send_error(404, "Not Found")
                    return
                if server._broke and server.fail_status:
                    self.send_error(server.fail_status)
                    return
                start = 0
                found = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if found and server.ranges and self.headers.get("If-Range") in (None, '"v1"'):
                    start = int(found.group(1))
                if start >= len(server.payload) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(server.payload)}")
                    self.end_headers()
                    return
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header(
                        "Content-Range",
                        f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}",
                    )
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"v1"')
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                time.sleep(server.delay)
                if server.break_after is not None and server.breaks > 0:
                    server.breaks -= 1
                    server._broke = True
                    self.wfile.write(body[: server.break_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The URL of the archive."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{self.name}"

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{PLANCK_2018.archive}"


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (a black hole)."""

    def __enter__(self) -> str:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/{PLANCK_2018.archive}"

    def __exit__(self, *exc) -> None:
        self._sock.close()
