"""The Planck data installer, end to end against a local HTTP server on 127.0.0.1 serving a
tarball of mock files laid out like the real product (no other network)."""

import hashlib
import io
import json
import tarfile
import time

import pytest
from planck_product import (
    LAYOUT,
    ArchiveServer,
    SilentServer,
    closed_port_url,
    product_tarball,
)

from cobaya_plugins import install as inst
from cobaya_plugins.clik import open_clik
from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.mock import default_nuisance


def quiet(*_):
    pass


def member(name, kind=tarfile.REGTYPE, link="", size=3):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, size if kind == tarfile.REGTYPE else 0
    return info


def assert_installed_like_mocks(directory, product_mocks):
    fid = load_fiducial()
    for kind in ("lowl_TT", "highl_TTTEEE_lite"):
        installed = open_clik(directory / LAYOUT[kind])
        original = open_clik(product_mocks[kind])
        nuis = default_nuisance(kind)
        assert installed.loglike(fid, nuis) == original.loglike(fid, nuis)


def test_download_with_progress_then_listing(tarball, product_mocks, tmp_path, capsys):
    with ArchiveServer(tarball) as server:
        result = inst.install("planck2018", tmp_path / "data", url=server.url, log=print)
    assert server.requests == [None]
    directory = tmp_path / "data"
    assert result.directory == directory and not result.already and result.ok
    err = capsys.readouterr().err
    assert inst.PLANCK_2018.archive in err and "100%" in err  # tqdm's bar on stderr
    assert sorted(e.path for e in result.entries) == sorted(LAYOUT.values())
    for entry in result.entries:
        assert entry.ok and "got" in entry.self_check and "passed" in entry.self_check
    table = inst.format_table(result.entries)
    assert "plik_rd12_HM_v22b_TTTEEE.clik" in table and "smica" in table
    assert_installed_like_mocks(directory, product_mocks)
    manifest = json.loads((directory / inst.MANIFEST).read_text())
    assert manifest["url"] == server.url and len(manifest["clik"]) == 4
    assert not (directory / inst.DOWNLOAD_DIR).exists()  # the archive is removed after use
    assert not list(directory.glob(".staging-*"))


def test_second_run_does_nothing(tarball, tmp_path, capsys):
    with ArchiveServer(tarball) as server:
        inst.install("planck2018", tmp_path, url=server.url, progress=False, log=quiet)
        before = (tmp_path / LAYOUT["lowl_TT"] / "clik" / "_mdb").stat().st_mtime_ns
        again = inst.install("planck2018", tmp_path, url=server.url, progress=False, log=print)
    assert again.already and len(again.entries) == 4 and again.ok
    assert server.requests == [None]  # no second download
    assert "nothing to do" in capsys.readouterr().out
    assert (tmp_path / LAYOUT["lowl_TT"] / "clik" / "_mdb").stat().st_mtime_ns == before
    assert inst.is_installed(tmp_path)


def test_interrupted_transfer_is_resumed(tarball, product_mocks, tmp_path):
    messages = []
    with ArchiveServer(tarball) as server:
        server.break_after, server.breaks = 1 << 20, 2  # whole network chunks: exact offsets
        result = inst.install(
            "planck2018", tmp_path, url=server.url, progress=False, log=messages.append
        )
    assert server.requests == [None, "bytes=1048576-", "bytes=2097152-"]
    assert sum("resuming" in m for m in messages) >= 2
    assert result.ok
    assert_installed_like_mocks(tmp_path, product_mocks)


def test_partial_download_is_resumed_by_the_next_run(tarball, product_mocks, tmp_path):
    with ArchiveServer(tarball) as server:
        server.break_after, server.breaks, server.fail_status = 655_360, 1, 503
        with pytest.raises(inst.InstallError, match="next run resumes") as err:
            inst.install("planck2018", tmp_path, url=server.url, progress=False, log=quiet)
        assert "HTTP 503" in str(err.value) or "transfer stopped" in str(err.value)
        part = tmp_path / inst.DOWNLOAD_DIR / (inst.PLANCK_2018.archive + ".part")
        assert part.stat().st_size == 655_360
        assert not (tmp_path / "baseline").exists()
        server.fail_status, server._broke = None, False
        result = inst.install("planck2018", tmp_path, url=server.url, progress=False, log=quiet)
    assert server.requests[-1] == "bytes=655360-"
    assert result.ok
    assert_installed_like_mocks(tmp_path, product_mocks)


def test_server_without_ranges_restarts_cleanly(tarball, tmp_path):
    with ArchiveServer(tarball) as server:
        server.break_after, server.breaks, server.ranges = 524_288, 1, False
        result = inst.install("planck2018", tmp_path, url=server.url, progress=False, log=quiet)
    assert server.requests == [None, "bytes=524288-"]  # asked, got the whole file again
    assert result.ok


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_bad_archive_detected_and_nothing_extracted(tarball, tmp_path, damage):
    if damage == "truncated":
        payload = tarball[: len(tarball) * 2 // 3]
    else:
        middle = len(tarball) // 2
        payload = (
            tarball[:middle]
            + bytes(b ^ 0xFF for b in tarball[middle : middle + 64])
            + tarball[middle + 64 :]
        )
    with ArchiveServer(payload) as server:
        with pytest.raises(inst.InstallError) as err:
            inst.install("planck2018", tmp_path, url=server.url, progress=False, log=quiet)
    msg = str(err.value)
    assert "truncated or corrupted" in msg
    assert f"Tried: {server.url}" in msg and "To install by hand" in msg
    assert [p.name for p in tmp_path.iterdir()] in ([], [inst.DOWNLOAD_DIR])
    assert not list(tmp_path.rglob("*.clik"))
    assert not list(tmp_path.rglob("*.tar.gz"))  # the bad download is removed


def test_sha256_enforced(tarball, tmp_path):
    archive = tmp_path / "product.tar.gz"
    archive.write_bytes(tarball)
    with pytest.raises(inst.InstallError, match="wrong SHA-256"):
        inst.install(
            "planck2018",
            tmp_path / "d",
            url=str(archive),
            sha256="0" * 64,
            progress=False,
            log=quiet,
        )
    good = hashlib.sha256(tarball).hexdigest()
    assert inst.sha256sum(archive) == good
    assert inst.install(
        "planck2018", tmp_path / "d", url=archive.as_uri(), sha256=good, progress=False, log=quiet
    ).ok


@pytest.mark.parametrize("bad, why", [
    (member("baseline/../../evil.txt"), "leaves the directory"),
    (member("/tmp/evil_absolute.txt"), "absolute path"),
    (member("baseline/plc_3.0/escape", tarfile.SYMTYPE, "../../../outside"), "symbolic link"),
    (member("baseline/abs_link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    (member("baseline/hard", tarfile.LNKTYPE, "../outside"), "hard link"),
    (member("baseline/fifo", tarfile.FIFOTYPE), "special file"),
])  # fmt: skip
def test_unsafe_member_refused_nothing_written(product_mocks, tmp_path, bad, why):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(product_tarball(product_mocks, extra=[bad]))
    target = tmp_path / "target"
    with pytest.raises(inst.UnsafeArchiveError) as err:
        inst.install("planck2018", target, url=archive.as_uri(), progress=False, log=quiet)
    assert why in str(err.value) and repr(bad.name) in str(err.value)
    assert "nothing was written" in str(err.value)
    assert not target.exists() or not any(target.iterdir())
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "outside").exists()


def test_inside_links_are_accepted():
    ok = [
        member("a/b/link", tarfile.SYMTYPE, "../c"),
        member("a/hard", tarfile.LNKTYPE, "a/c"),
        member("a/dot", tarfile.SYMTYPE, "./x"),
    ]
    assert inst.unsafe_members(ok) == []


def test_offline_fails_fast_with_instructions(tmp_path):
    url = closed_port_url()
    start = time.monotonic()
    with pytest.raises(inst.InstallError) as err:
        inst.install("planck2018", tmp_path, url=url, progress=False, log=quiet)
    assert time.monotonic() - start < 5
    msg = str(err.value)
    assert f"Tried: {url}" in msg and "ConnectionError" in msg
    assert inst.PLANCK_2018.archive in msg and "tar -xzf" in msg and inst.URL_ENV in msg


def test_unresolvable_or_slow_host_name(tmp_path, monkeypatch):
    """A name that does not resolve fails at once; a resolver that hangs, within the timeout."""
    import socket

    def no_dns(host, *args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.delenv(inst.URL_ENV, raising=False)
    with pytest.raises(inst.InstallError, match="cannot resolve the host name pla.esac.esa.int"):
        inst.install("planck2018", tmp_path, progress=False, log=quiet)  # the real URL
    assert not any(tmp_path.iterdir())  # nothing left behind

    def hanging_dns(host, *args, **kwargs):
        time.sleep(5)

    monkeypatch.setattr(socket, "getaddrinfo", hanging_dns)
    monkeypatch.setattr(inst.download, "TIMEOUTS", (0.5, 1.0))
    start = time.monotonic()
    with pytest.raises(inst.InstallError, match="not resolved within 0.5 s") as err:
        inst.install("planck2018", tmp_path, progress=False, log=quiet)
    assert time.monotonic() - start < 2
    assert f"Tried: {inst.PLANCK_2018.url}" in str(err.value)
    assert "To install by hand" in str(err.value)


def test_silent_server_times_out(tmp_path, monkeypatch):
    monkeypatch.setattr(inst.download, "TIMEOUTS", (1.0, 1.0))
    start = time.monotonic()
    with SilentServer() as url, pytest.raises(inst.InstallError, match="Timeout"):
        inst.install("planck2018", tmp_path, url=url, progress=False, log=quiet)
    assert time.monotonic() - start < 5


def test_url_from_environment_and_errors(tarball, tmp_path, monkeypatch):
    with ArchiveServer(tarball) as server:
        monkeypatch.setenv(inst.URL_ENV, server.url)
        assert inst.install("planck2018", tmp_path, progress=False, log=quiet).ok
    assert server.requests == [None]
    monkeypatch.setenv(inst.URL_ENV, server.url + ".missing")
    with ArchiveServer(tarball) as server2:
        monkeypatch.setenv(inst.URL_ENV, server2.url + ".missing")
        with pytest.raises(inst.InstallError, match=r"HTTP 404.*\(from \$COBAYA_PLUGINS"):
            inst.install("planck2018", tmp_path / "other", progress=False, log=quiet)
    with pytest.raises(ValueError, match="available: planck2018"):
        inst.install("planck2015", tmp_path)
    with pytest.raises(inst.InstallError, match="not found"):
        inst.install("planck2018", tmp_path / "x", url=str(tmp_path / "none.tar.gz"))


def test_archive_without_the_planck_files(product_mocks, tmp_path):
    archive = tmp_path / "partial.tar.gz"
    archive.write_bytes(product_tarball(product_mocks, skip=("highl_TTTEEE",)))
    with pytest.raises(inst.InstallError, match="lacks baseline/plc_3.0/hi_l/plik/"):
        inst.install("planck2018", tmp_path / "d", url=str(archive), progress=False, log=quiet)
    assert not inst.is_installed(tmp_path / "d")


def test_failed_self_check_is_reported_and_not_recorded(product_mocks, tmp_path):
    """A file whose stored check value disagrees with the likelihood fails the listing."""
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(product_tarball(product_mocks))) as src,
        tarfile.open(fileobj=buffer, mode="w:gz") as dst,
    ):
        for info in src.getmembers():
            data = src.extractfile(info).read() if info.isfile() else None
            if info.name == LAYOUT["lowl_TT"] + "/clik/_mdb":
                lines = [
                    line
                    for line in data.decode().splitlines()
                    if not line.startswith("check_value")
                ]
                data = ("\n".join(lines) + "\ncheck_value float -1234.5\n").encode()
                info.size = len(data)
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
    archive = tmp_path / "bad_check.tar.gz"
    archive.write_bytes(buffer.getvalue())
    result = inst.install("planck2018", tmp_path / "d", url=str(archive), progress=False, log=quiet)
    assert not result.ok
    bad = [e for e in result.entries if not e.ok]
    assert [e.path for e in bad] == [LAYOUT["lowl_TT"]] and "FAILED" in bad[0].self_check
    assert "expected -1234.500000" in bad[0].self_check
    assert not inst.is_installed(tmp_path / "d")


def _install_command(directory, url):
    import sys

    return [
        sys.executable,
        "-m",
        "cobaya_plugins",
        "install",
        "planck2018",
        "--path",
        str(directory),
        "--url",
        url,
        "--no-progress",
    ]


@pytest.mark.slow
def test_concurrent_installs_into_one_path(tarball, product_mocks, tmp_path):
    """Three installs started together (three cluster jobs): one downloads and installs, the
    others wait for its lock and then find a complete install (no second download, no error)."""
    import subprocess

    directory = tmp_path / "planck"
    with ArchiveServer(tarball) as server:
        server.delay = 3.0  # the first install holds the lock while the others start
        procs = [
            subprocess.Popen(
                _install_command(directory, server.url),
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert server.requests == [None], outs  # one download
    assert sum("extracting into" in out for out in outs) == 1, outs
    assert sum("already installed" in out and "nothing to do" in out for out in outs) == 2, outs
    assert any("waiting for it" in out for out in outs), outs
    assert inst.is_installed(directory) and not (directory / inst.LOCK).exists()
    assert_installed_like_mocks(directory, product_mocks)


def test_an_install_waits_for_the_lock(tarball, tmp_path):
    """While another process holds the install lock of the path, an install says it waits and
    does nothing; once the lock is released it runs."""
    import subprocess

    directory = tmp_path / "planck"
    archive = tmp_path / "product.tar.gz"
    archive.write_bytes(tarball)
    with inst.record.install_lock(directory, log=quiet):
        proc = subprocess.Popen(
            _install_command(directory, archive.as_uri()),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        first = proc.stdout.readline()
        assert "another install into" in first and "waiting for it" in first, first
        time.sleep(0.5)
        assert proc.poll() is None and not (directory / "baseline").exists()
    out = first + proc.communicate(timeout=300)[0]
    assert proc.returncode == 0 and "extracting into" in out, out
    assert inst.is_installed(directory)
