"""Tests of loopkit.sources: the WAD reader, the game music of the demo corpus, and the resumable LMD-full download.

The game-music tests use the real Debian packages (network to the Debian mirror, allowed here and in CI; about two
seconds). The LMD tests serve a small archive from a Range-capable HTTP server on 127.0.0.1 written below.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import socket
import struct
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from loopkit.cli import main
from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import BASS_COLUMNS, LOOP_STEPS, N_COLUMNS, drum_column, roll_to_midi
from loopkit.sources import debian, games, grooves, lmd, wad

# ---------------------------------------------------------------------------------------------------------
# WAD reader

MIDI_LUMP = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60"  # 14 bytes: a MIDI header chunk
PALETTE = b"\x01\x02\x03"


def hand_built_wad() -> bytes:
    """Three lumps laid out by hand: D_TEST at 12 (14 bytes), PLAYPAL at 26 (3 bytes), F_START at 29 (empty);
    the directory follows at 12 + 14 + 3 = 29."""
    header = b"PWAD" + struct.pack("<i", 3) + struct.pack("<i", 29)
    directory = (
        struct.pack("<ii", 12, 14) + b"D_TEST\0\0"
        + struct.pack("<ii", 26, 3) + b"PLAYPAL\0"
        + struct.pack("<ii", 29, 0) + b"F_START\0"
    )
    return header + MIDI_LUMP + PALETTE + directory


def test_wad_directory_matches_hand_computed_offsets():
    magic, lumps = wad.read_directory(hand_built_wad())
    assert magic == "PWAD"
    assert lumps == [wad.Lump("D_TEST", 12, 14), wad.Lump("PLAYPAL", 26, 3), wad.Lump("F_START", 29, 0)]
    assert len(hand_built_wad()) == 29 + 3 * 16


def test_wad_midi_lumps_are_the_lumps_starting_with_mthd():
    found = wad.midi_lumps(hand_built_wad())
    assert [(lump.name, data) for lump, data in found] == [("D_TEST", MIDI_LUMP)]
    assert wad.mus_lumps(hand_built_wad()) == []


def test_build_wad_writes_the_hand_computed_layout():
    built = wad.build_wad([("D_TEST", MIDI_LUMP), ("PLAYPAL", PALETTE), ("F_START", b"")])
    assert built == hand_built_wad()


def test_wad_name_stops_at_first_nul_and_mus_lumps_are_recognised(tmp_path):
    data = bytearray(wad.build_wad([("D_E1M1", b"MUS\x1a" + bytes(10)), ("D_E1M2", MIDI_LUMP)], magic=b"IWAD"))
    # garbage after the NUL of the first name: record 0 of the directory, name field at bytes 8..16
    _, _, dir_offset = struct.unpack_from("<4sii", data, 0)
    data[dir_offset + 8 : dir_offset + 16] = b"D_E1M1\0X"
    magic, lumps = wad.read_directory(bytes(data))
    assert magic == "IWAD" and lumps[0].name == "D_E1M1"
    assert [lump.name for lump in wad.mus_lumps(bytes(data))] == ["D_E1M1"]
    path = tmp_path / "x.wad"
    path.write_bytes(bytes(data))
    assert [lump.name for lump, _ in wad.read_midi_lumps(path)] == ["D_E1M2"]


@pytest.mark.parametrize(
    "data, words",
    [
        (b"PWAD\x00", "shorter than"),
        (b"XWAD" + struct.pack("<ii", 0, 12), "magic"),
        (b"PWAD" + struct.pack("<ii", 2, 12) + bytes(16), "directory of 2 records"),
        (b"PWAD" + struct.pack("<ii", 1, 12) + struct.pack("<ii", 12, 100) + b"D_BIG\0\0\0", "lies outside"),
    ],
)
def test_wad_reader_rejects_broken_files(data, words):
    with pytest.raises(ValueError, match=words):
        wad.read_directory(data)


def test_licence_name_reads_the_files_star_paragraph():
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: X\n\n"
        "Files: debian/*\nCopyright: 2020 A\nLicense: MIT\n\n"
        "Files: *\nCopyright: 2019 B\nLicense: GPL-3+\n\n"
        "License: GPL-3+\n text\n"
    )
    assert games.licence_name(text) == "GPL-3+"
    assert games.licence_name("no fields here") == "see copyright"


# ---------------------------------------------------------------------------------------------------------
# the demo corpus (real Debian packages)

#: What the packages of Debian 12 hold, counted by hand from the unpacked packages (file listings, WAD
#: directories, symusic track lists). Other Debian releases may ship other versions; then only the
#: version-independent checks apply.
KNOWN = {
    ("freedoom", "0.12.1-2"): {"files": 66, "duplicates": 1, "bass_and_drums": 49},
    ("openttd-openmsx", "0.4.2-1"): {"files": 31, "duplicates": 0, "bass_and_drums": 23},
    ("planetblupi-music-midi", "1.14.2-3"): {"files": 10, "duplicates": 0, "bass_and_drums": 9},
}


@pytest.fixture(scope="module")
def debs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("debs")
    debian.download_debs([s.package for s in games.GAME_SOURCES], folder)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("demo") / "corpus"
    lines: list[str] = []
    games.fetch_games(out, progress=False, echo=lines.append)
    return out, lines


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*")
            if p.is_file()}


def test_fetch_games_writes_every_package_with_licence_and_manifest(corpus):
    out, lines = corpus
    manifest = json.loads((out / games.MANIFEST).read_text())
    assert [s["package"] for s in manifest["sources"]] == ["freedoom", "openttd-openmsx", "planetblupi-music-midi"]
    for source in manifest["sources"]:
        folder = out / source["folder"]
        copyright_text = (folder / "copyright").read_text()
        assert "License:" in copyright_text and source["licence"] in copyright_text
        midi = sorted(p.name for p in folder.glob("*.mid"))
        assert midi == sorted(f["name"] for f in source["files"])
        for f in source["files"]:
            data = (folder / f["name"]).read_bytes()
            assert data[:4] == b"MThd"
            assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
        assert len({f["sha256"] for f in source["files"]}) == len(source["files"])  # duplicates written once
        known = KNOWN.get((source["package"], source["version"]))
        row = next(r for r in games.summarize(out) if r["package"] == source["package"])
        assert row["bass_and_drums"] > 0
        if known:
            assert {k: row[k] for k in known} == known
    assert manifest["sources"][0]["licence"] == "freedoom-license"
    assert (out / "freedoom" / "freedoom1_d_e1m1.mid").is_file()  # <wad>_<lump>.mid, lower case
    assert (out / "freedoom" / "CREDITS").is_file() and (out / "openttd-openmsx" / "readme.txt").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["freedoom", "manifest.json", "openttd-openmsx",
                                                     "planetblupi-music-midi"]  # no temporary or lock files
    assert any("with bass and drums" in line for line in lines)


def test_fetch_games_second_run_does_nothing_and_says_so(corpus):
    out, _ = corpus
    before = _snapshot(out)
    lines: list[str] = []
    games.fetch_games(out, progress=False, echo=lines.append)
    assert len(lines) == 1 and "nothing to do" in lines[0]
    assert _snapshot(out) == before


def test_fetch_games_from_debs_with_python_reader_matches_dpkg(corpus, debs, tmp_path):
    out, _ = corpus
    other = games.fetch_games(tmp_path / "c", debs=debs, use_dpkg=False, progress=False, echo=None)
    assert (other / games.MANIFEST).read_bytes() == (out / games.MANIFEST).read_bytes()


def test_fetch_games_repairs_a_damaged_package_and_removes_leftovers(debs, tmp_path):
    out = games.fetch_games(tmp_path / "c", debs=debs, progress=False, echo=None)
    (out / ".partial-killed").mkdir()  # what an interrupted run leaves
    (out / ".partial-killed" / "half.mid").write_bytes(b"MTh")
    victim = sorted((out / "openttd-openmsx").glob("*.mid"))[0]
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 2])
    untouched = (out / "freedoom" / "freedoom1_d_e1m1.mid").stat().st_mtime_ns
    lines: list[str] = []
    games.fetch_games(out, debs=debs, progress=False, echo=lines.append)
    assert victim.read_bytes() == good
    assert not (out / ".partial-killed").exists()
    assert (out / "freedoom" / "freedoom1_d_e1m1.mid").stat().st_mtime_ns == untouched  # complete ones are kept
    assert all(games.source_complete(out, e) for e in games.read_manifest(out)["sources"])


def test_interrupted_fetch_games_leaves_only_whole_packages(debs, tmp_path, monkeypatch):
    real_stage, real_check, calls = games._stage_source, games.bass_and_drums, []

    def stage(root, source, *args):
        calls.append(source.package)
        return real_stage(root, source, *args)

    def check(midi):  # Ctrl-C while the third file of the second package (openttd-openmsx) is being written
        calls.append("file")
        if "openttd-openmsx" in calls and calls[calls.index("openttd-openmsx") :].count("file") == 3:
            raise KeyboardInterrupt
        return real_check(midi)

    monkeypatch.setattr(games, "_stage_source", stage)
    monkeypatch.setattr(games, "bass_and_drums", check)
    with pytest.raises(KeyboardInterrupt):
        games.fetch_games(tmp_path / "c", debs=debs, progress=False, echo=None)
    out = tmp_path / "c"
    assert sorted(p.name for p in out.iterdir()) == ["freedoom", "manifest.json"]
    assert [e["package"] for e in games.read_manifest(out)["sources"]] == ["freedoom"]
    monkeypatch.setattr(games, "bass_and_drums", real_check)
    lines: list[str] = []
    games.fetch_games(out, debs=debs, progress=False, echo=lines.append)
    assert [e["package"] for e in games.read_manifest(out)["sources"]] == [s.package for s in games.GAME_SOURCES]
    assert all(games.source_complete(out, e) for e in games.read_manifest(out)["sources"])


def test_fetch_games_refuses_a_folder_another_run_is_writing(tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    with debian.folder_lock(out, "loopkit data"):
        with pytest.raises(debian.DebianSourceError, match="another `loopkit data` is writing"):
            games.fetch_games(out, progress=False, echo=None)


def test_a_corpus_folder_is_a_folder_cleared_of_an_interrupted_run_s_work(tmp_path):
    (tmp_path / "file").write_text("x")
    for fetch in (games.fetch_games, grooves.fetch_grooves):
        with pytest.raises(LoopkitError, match="the corpus folder .*file is a file, not a folder"):
            fetch(tmp_path / "file", progress=False, echo=None)
    out = tmp_path / "c"
    (out / (debian.PARTIAL_PREFIX + "abc") / "sub").mkdir(parents=True)
    (out / "kept.mid").write_bytes(b"")
    with debian.corpus_folder(out) as ready:
        assert ready == out and sorted(p.name for p in out.iterdir()) == ["kept.mid"]


def test_fetch_games_without_apt_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(debian.DebianSourceError, match=r"apt-get was not found.*give that folder as debs") as info:
        games.fetch_games(tmp_path / "c", progress=False, echo=None)
    assert "packages.debian.org/stable/all/freedoom/download" in str(info.value) and info.value.manual
    assert not list((tmp_path / "c").glob(".partial-*"))  # nothing half-written stays


def test_fetch_games_names_missing_and_wrong_debs(debs, tmp_path):
    (tmp_path / "few").mkdir()
    shutil.copy(next(debs.glob("freedoom_*.deb")), tmp_path / "few")
    with pytest.raises(debian.DebianSourceError, match="no openttd-openmsx_.*no planetblupi-music-midi_"):
        games.fetch_games(tmp_path / "c", debs=tmp_path / "few", progress=False, echo=None)
    (tmp_path / "wrong").mkdir()
    for deb in debs.glob("*.deb"):
        shutil.copy(deb, tmp_path / "wrong")
    blupi = next((tmp_path / "wrong").glob("planetblupi-music-midi_*.deb"))
    shutil.copy(next(debs.glob("freedoom_*.deb")), blupi)
    with pytest.raises(debian.DebianSourceError, match="is the package 'freedoom', not 'planetblupi-music-midi'"):
        games.fetch_games(tmp_path / "c2", debs=tmp_path / "wrong", progress=False, echo=None)


def test_cli_data_games(debs, tmp_path, capsys):
    assert main(["data", "games", "--out", str(tmp_path / "c"), "--debs", str(debs)]) == 0
    assert f"next: loopkit extract {tmp_path / 'c'}" in capsys.readouterr().out
    assert main(["data", "games", "--out", str(tmp_path / "d"), "--debs", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("loopkit data: error:") and "nowhere" in err and "\n" not in err


# ---------------------------------------------------------------------------------------------------------
# LMD-full download, against a Range-capable server on 127.0.0.1


def _loop_midi(pitch: int) -> bytes:
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    roll[::16, BASS_COLUMNS.start + pitch] = True
    roll[::16, drum_column("kick")] = True
    return roll_to_midi(roll)


def lmd_like_archive(n: int = 3, corrupt_member: bool = False) -> bytes:
    """A small .tar.gz laid out like LMD-full, lmd_full/<first hex digit>/<md5>.mid, plus one file of 4 KiB of
    incompressible bytes not named by its MD5 (so the archive is a few KiB and counts 4 files, 3 MD5-named)."""
    members = [_loop_midi(10 + i) for i in range(n)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i, data in enumerate(members):
            digest = hashlib.md5(data).hexdigest()
            if corrupt_member and i == 0:
                data = data[:20] + bytes([data[20] ^ 1]) + data[21:]  # one bit flipped
            info = tarfile.TarInfo(f"lmd_full/{digest[0]}/{digest}.mid")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
        info = tarfile.TarInfo("lmd_full/NOTES.bin")
        info.size = len(noise)
        tar.addfile(info, io.BytesIO(noise))
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append(rng)
        if self.path != "/lmd_full.tar.gz":
            self.send_error(404)
            return
        data, start = srv.data, 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and srv.ranges:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if srv.drops:  # announce the whole body, send only part of it, then hang up
            body = body[: srv.drops.pop(0)]
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.data, srv.ranges, srv.drops, srv.requests = lmd_like_archive(), True, [], []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/lmd_full.tar.gz"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(srv, out, **kw):
    kw.setdefault("backoff_s", 0.0)
    return lmd.download_lmd(out, url=srv.url, progress=False, echo=None, timeout=10, **kw)


def test_lmd_full_download_verifies_and_records(server, tmp_path):
    path = _get(server, tmp_path)
    assert path == tmp_path / "lmd_full.tar.gz" and path.read_bytes() == server.data
    assert not (tmp_path / "lmd_full.tar.gz.part").exists()
    record = json.loads((tmp_path / "lmd_full.tar.gz.json").read_text())
    assert len(server.data) > 4096
    assert record["files"] == 4 and record["md5_named"] == 3
    assert record["md5"] == hashlib.md5(server.data).hexdigest()
    assert record["sha256"] == hashlib.sha256(server.data).hexdigest()
    assert server.requests == [None]
    lines: list[str] = []
    lmd.download_lmd(tmp_path, url=server.url, progress=False, echo=lines.append)
    assert server.requests == [None] and "nothing to do" in lines[0]  # idempotent: no second request


def test_lmd_resume_after_dropped_connection(server, tmp_path):
    server.drops = [1000]
    with pytest.raises(lmd.DownloadError, match="run the same command again to resume"):
        _get(server, tmp_path, retries=0)
    part = tmp_path / "lmd_full.tar.gz.part"
    assert part.read_bytes() == server.data[:1000]
    assert not (tmp_path / "lmd_full.tar.gz").exists()
    path = _get(server, tmp_path)
    assert path.read_bytes() == server.data
    assert server.requests == [None, "bytes=1000-"]


def test_lmd_retries_a_dropped_connection_within_one_run(server, tmp_path):
    server.drops = [700, 300]
    assert _get(server, tmp_path, retries=1).read_bytes() == server.data
    assert server.requests == [None, "bytes=700-", "bytes=1000-"]


def test_lmd_server_without_range_restarts_cleanly(server, tmp_path):
    server.ranges = False
    (tmp_path / "lmd_full.tar.gz.part").write_bytes(b"stale bytes from another file" * 10)
    assert _get(server, tmp_path).read_bytes() == server.data
    assert server.requests == ["bytes=290-"]


def test_lmd_complete_part_file_is_finished_without_downloading_again(server, tmp_path):
    (tmp_path / "lmd_full.tar.gz.part").write_bytes(server.data)
    assert _get(server, tmp_path).read_bytes() == server.data
    assert server.requests == [f"bytes={len(server.data)}-"]  # answered 416 with the size: already complete


def test_lmd_checksum_mismatch_leaves_no_final_file(server, tmp_path):
    with pytest.raises(lmd.ChecksumError, match="MD5 of the download is .* expected 0{32}"):
        _get(server, tmp_path, md5="0" * 32)
    assert not (tmp_path / "lmd_full.tar.gz").exists() and not (tmp_path / "lmd_full.tar.gz.part").exists()
    good = hashlib.sha256(server.data).hexdigest()
    assert _get(server, tmp_path, md5=hashlib.md5(server.data).hexdigest().upper(), sha256=good).exists()
    with pytest.raises(lmd.ChecksumError, match="already here"):
        _get(server, tmp_path, sha256="f" * 64)


@pytest.mark.parametrize(
    "data, words",
    [
        (lmd_like_archive()[:-40], "truncated or corrupt"),
        (lmd_like_archive(corrupt_member=True), "does not have the MD5 its name states"),
        (b"plain text, not gzip", "truncated or corrupt"),
    ],
)
def test_lmd_structural_check_rejects_broken_archives(server, tmp_path, data, words):
    server.data = data
    with pytest.raises(lmd.DownloadError, match=words):
        _get(server, tmp_path)
    assert not (tmp_path / "lmd_full.tar.gz").exists() and not (tmp_path / "lmd_full.tar.gz.part").exists()


def test_lmd_network_failure_and_http_errors_are_one_clear_line(server, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(lmd.DownloadError, match="network failure .*run the same command again"):
        lmd.download_lmd(tmp_path, url=f"http://127.0.0.1:{port}/lmd_full.tar.gz", retries=1, backoff_s=0,
                         progress=False, echo=None)
    assert list(tmp_path.iterdir()) == []  # nothing downloaded: no empty part file left behind
    with pytest.raises(lmd.DownloadError, match="HTTP 404"):
        lmd.download_lmd(tmp_path, url=server.url.replace("lmd_full", "missing"), progress=False, echo=None)
    with pytest.raises(ValueError, match="md5 must be 32 hexadecimal digits"):
        lmd.download_lmd(tmp_path, url=server.url, md5="abc", progress=False, echo=None)
    with pytest.raises(ValueError, match="url must be an http"):
        lmd.download_lmd(tmp_path, url="ftp://example.org/x.tar.gz", progress=False, echo=None)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        lmd.download_lmd(tmp_path / "file", url=server.url, progress=False, echo=None)
    with pytest.raises(ValueError, match="is a file"):
        games.fetch_games(tmp_path / "file", progress=False, echo=None)


def test_cli_data_lmd(server, tmp_path, capsys):
    assert main(["data", "lmd", "--out", str(tmp_path), "--url", server.url]) == 0
    out = capsys.readouterr().out
    assert "publishes no checksum" in out
    assert f"next: loopkit extract {tmp_path / 'lmd_full.tar.gz'} --out" in out
    assert main(["data", "lmd", "--out", str(tmp_path), "--url", server.url, "--md5", "xyz"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "loopkit data: error: --md5 must be 32 hexadecimal digits, not 'xyz'"
