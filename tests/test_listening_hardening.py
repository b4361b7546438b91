"""The rating server against hostile requests and failing storage (issue 28): forged ratings from another site's
page (CSRF), bodies far over the limit, a full disk, a file that is not a ratings database, JSON nested thousands
deep. Fast: a small stimulus set rendered once, the app's test client, and a real waitress server where the
bytes on the wire matter. The same forgery in real Chromium: tests/test_listening_browser.py."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import threading
import time
from contextlib import closing

import pytest

from loopkit.cli import main
from loopkit.listening import db
from loopkit.listening.app import COOKIE, CSRF_FIELD, count_ratings, create_app
from loopkit.listening.prepare import prepare_stimuli
from loopkit.listening.server import MAX_REQUEST_BODY_BYTES, make_server
from loopkit.data.pianoroll import write_midi

from test_listening_app import FAST, FAST_BPM, make_loop, submit, token

HOST = "http://localhost"  # the test client's origin


@pytest.fixture(scope="module")
def stimuli_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-listen")
    groups = {}
    for k, name in enumerate(("A", "B")):
        (root / name).mkdir()
        for i in range(3):
            write_midi(make_loop(10 * k + i), root / name / f"{i}.mid")
        groups[name] = str(root / name)
    return prepare_stimuli(groups, root / "stimuli", per_group=2, familiarisation=1, bpm=FAST_BPM, settings=FAST,
                           progress=False).root  # fmt: skip


@pytest.fixture()
def app(stimuli_dir, tmp_path):
    return create_app(stimuli_dir, tmp_path / "ratings.sqlite")


def rating_client(app):
    """A listener's client at the rating page; returns (client, the stimulus to rate, the page's token)."""
    client = app.test_client()
    assert submit(client, "/start").status_code == 303
    assert submit(client, "/familiarised").status_code == 303
    page = client.get("/").get_data(as_text=True)
    sid = re.search(r'name="stimulus" value="([0-9a-f]{16})"', page).group(1)
    return client, sid, token(page)


# ---------------------------------------------------------------------------------------------------------
# 3. forged ratings: the origin, the form's token, the cookie


def test_a_rating_from_another_origin_is_refused_and_nothing_is_stored(app):
    client, sid, tok = rating_client(app)
    form = {"stimulus": sid, "rating": "1", CSRF_FIELD: tok}
    for origin in ("http://localhost:8001", "http://127.0.0.1", "https://localhost", "http://evil.example", "null",
                   "http://localhost.evil.example", "not a url"):  # fmt: skip
        resp = client.post("/rate", data=form, headers={"Origin": origin})
        assert resp.status_code == 403, origin
        assert "another site" in resp.get_data(as_text=True)
        assert client.post("/rate", json={"stimulus": sid, "rating": 1}, headers={"Origin": origin}).status_code == 403
    for referer in ("http://localhost:8001/attack.html", "http://evil.example/"):  # no Origin: the Referer decides
        assert client.post("/rate", data=form, headers={"Referer": referer}).status_code == 403
    # another port's Origin is refused even with a Referer of the app's own
    resp = client.post("/rate", data=form, headers={"Origin": "http://localhost:8001", "Referer": f"{HOST}/"})
    assert resp.status_code == 403
    assert count_ratings(app.config["LOOPKIT_DB"]) == 0
    # the app's own origin (its port written or not) passes, so the listener can still rate: the first rating stands
    assert client.post("/rate", data=form, headers={"Origin": "http://LOCALHOST:80"}).status_code == 303
    assert count_ratings(app.config["LOOPKIT_DB"]) == 1


def test_a_form_needs_the_token_of_its_session(app):
    client, sid, tok = rating_client(app)
    other, _, other_tok = rating_client(app)
    assert tok != other_tok
    for sent in (None, "", "0" * 32, other_tok, tok[:-1], tok + "0", "é" * 32):  # neither Origin nor Referer sent
        form = {"stimulus": sid, "rating": "2"} | ({} if sent is None else {CSRF_FIELD: sent})
        resp = client.post("/rate", data=form)
        assert resp.status_code == 403 and "reload the page" in resp.get_data(as_text=True), sent
    for body, ctype in ((f"stimulus={sid}&rating=2", "text/plain"), (b"", None)):  # what no-cors fetch can send
        assert client.post("/rate", data=body, content_type=ctype).status_code == 403
    assert client.post("/familiarised").status_code == 403 and client.post("/api/start").status_code == 403
    assert count_ratings(app.config["LOOPKIT_DB"]) == 0
    # the token of the page, from the app's own origin: stored
    resp = client.post("/rate", data={"stimulus": sid, "rating": "2", CSRF_FIELD: tok}, headers={"Origin": HOST})
    assert resp.status_code == 303 and count_ratings(app.config["LOOPKIT_DB"]) == 1
    # JSON needs no token (a browser sends it to another origin only after a CORS preflight, never granted here)
    resp = other.post("/rate", json={"stimulus": other.get("/api/state").get_json()["next"]["id"], "rating": 2})
    assert resp.status_code == 200 and count_ratings(app.config["LOOPKIT_DB"]) == 2
    assert "Access-Control-Allow-Origin" not in client.options("/rate", headers={"Origin": "http://x:1"}).headers


def test_the_cookie_is_strict_and_pages_send_their_origin(app):
    client = app.test_client()
    page = client.get("/")
    assert page.headers["Referrer-Policy"] == "same-origin"  # "no-referrer" made the app's own forms send "null"
    resp = client.post("/start", data={CSRF_FIELD: token(page.get_data(as_text=True))})
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "SameSite=Strict" in cookie and "HttpOnly" in cookie
    # the Start page opened without the cookie (a link from another site), Start pressed with it: the same listener
    lid = client.get_cookie(COOKIE).value
    assert client.post("/start", data={CSRF_FIELD: token(page.get_data(as_text=True))}).status_code == 303
    assert client.get_cookie(COOKIE).value == lid
    for path in ("/", "/api/state"):
        assert client.get(path, headers={"Origin": "http://evil.example"}).status_code == 200  # reads are not refused


def test_json_nested_thousands_deep_is_a_400(app):
    client, sid, _ = rating_client(app)
    for path in ("/rate", "/api/start", "/familiarised"):
        for deep in ("[" * 5000 + "]" * 5000, '{"a":' * 2500 + "1" + "}" * 2500):  # under 16 KB
            resp = client.post(path, data=deep, content_type="application/json")
            assert resp.status_code == 400 and "nested too deep" in resp.get_json()["error"], path
    assert count_ratings(app.config["LOOPKIT_DB"]) == 0


# ---------------------------------------------------------------------------------------------------------
# 5. bodies over the limit: refused from the stated length, nothing read or spooled


@pytest.fixture()
def server(app):
    srv = make_server(app, port=0, threads=2)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield srv.effective_port
    finally:
        srv.close()
        thread.join(timeout=10)


def answer(port: int, head: bytes, body_chunks=(), timeout: float = 10.0) -> bytes:
    """The server's answer to a raw request (sending the body chunks while it reads)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the body was through
        data = b""
        try:
            while not data.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in data:
                part = s.recv(4096)
                if not part:
                    break
                data += part
        except ConnectionResetError:
            pass
        return data


def test_a_body_over_the_limit_is_refused_unread_and_nothing_is_spooled(server, monkeypatch):
    import tempfile

    spooled = []
    real = tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda *a, **k: spooled.append(1) or real(*a, **k))
    head = "POST /rate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    # 1 GB stated, no byte of it sent: answered at once (before, the server waited for the whole body; it refused
    # only 1 GiB and more)
    t0 = time.monotonic()
    got = answer(server, head.format(10**9).encode())
    assert got.startswith(b"HTTP/1.1 413"), got[:80]
    assert time.monotonic() - t0 < 5
    # 2 MiB sent: answered 413 from the stated length, not spooled (waitress spooled bodies over 512 KiB to files)
    got = answer(server, head.format(2 * 2**20).encode(), [b"x" * 65536] * 32)
    assert got.startswith(b"HTTP/1.1 413"), got[:80]
    # chunked, no length stated: cut off past the limit
    chunked = b"POST /rate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    got = answer(server, chunked, [b"10000\r\n" + b"x" * 65536 + b"\r\n"] * 32)
    assert got.startswith(b"HTTP/1.1 413"), got[:80]
    assert spooled == []
    # the limit itself passes to the app (a JSON body of exactly the limit: refused by the app's checks, not 413)
    body = b'{"pad": "' + b"x" * (MAX_REQUEST_BODY_BYTES - 11) + b'"}'
    assert len(body) == MAX_REQUEST_BODY_BYTES
    got = answer(server, head.format(len(body)).encode(), [body])
    assert got.startswith(b"HTTP/1.1 403"), got[:80]  # no listener cookie


# ---------------------------------------------------------------------------------------------------------
# 9. a full disk, a file that is not a ratings database


@pytest.fixture()
def small_disk(tmp_path):
    """A 256 KiB tmpfs (root only: elsewhere skipped; the simulated full disk below runs everywhere)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder) -> None:
    try:
        with open(folder / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass


def test_a_full_disk_answers_507_in_one_line_and_pages_still_serve(stimuli_dir, small_disk, capsys):
    path = small_disk / "ratings.sqlite"
    app = create_app(stimuli_dir, path)
    client, sid, tok = rating_client(app)
    fill(small_disk)
    capsys.readouterr()
    for p in ("/", "/api/state", f"/audio/{sid}.wav"):  # reads: served (before, every request was a 500)
        assert client.get(p).status_code == 200, p
    resp = client.post("/rate", data={"stimulus": sid, "rating": "4", CSRF_FIELD: tok})
    assert resp.status_code == 507 and "disk is full" in resp.get_data(as_text=True)
    resp = app.test_client().post("/api/start", json={})
    assert resp.status_code == 507 and "disk is full" in resp.get_json()["error"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(f"the disk holding {path} is full" in line for line in err), err
    assert "Traceback" not in "".join(err)
    # the server stopped, the disk filled since: opening the database needs room for WAL's shared-memory file
    app.config["LOOPKIT_KEEPER"].close()
    (small_disk / "filler").unlink()
    with closing(db.connect(path)):
        pass  # the last connection to close checkpoints and removes the WAL files
    assert not (small_disk / "ratings.sqlite-shm").exists()
    fill(small_disk)
    out = small_disk.parent / "ratings.csv"
    assert main(["listen", "export", "--db", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"loopkit listen: error: the disk holding {path} is full"), err
    assert "not a loopkit ratings database" not in err and "\n" not in err
    assert main(["listen", "serve", "--stimuli", str(stimuli_dir), "--db", str(path), "--port", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"loopkit listen: error: the disk holding {path} is full") and "\n" not in err, err
    (small_disk / "filler").unlink()  # room again
    assert main(["listen", "export", "--db", str(path), "--out", str(out)]) == 0
    assert "wrote 0 rating(s)" in capsys.readouterr().out


def test_a_simulated_full_disk_answers_507_and_writes_nothing(app, monkeypatch, capsys):
    """The same on any machine: SQLite's own "database or disk is full", from a page limit on every connection."""
    client, sid, tok = rating_client(app)
    connect = db.connect

    def small(*args, **kw):
        conn = connect(*args, **kw)
        conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
        return conn

    monkeypatch.setattr(db, "connect", small)
    for _ in range(500):  # more listeners than the pages hold room for
        resp = app.test_client().post("/api/start", json={})
        if resp.status_code == 507:
            break
    assert resp.status_code == 507 and "disk is full" in resp.get_json()["error"]
    assert client.get("/").status_code == 200
    err = capsys.readouterr().err
    assert "is full (SQLite: database or disk is full)" in err and "Traceback" not in err
    error = db.storage_error(OSError(28, "No space left on device"), "/x/ratings.sqlite")
    assert str(error).startswith("the disk holding /x/ratings.sqlite is full (No space left on device)")


def test_a_file_that_is_not_a_ratings_database_is_refused_at_start_in_one_line(stimuli_dir, tmp_path, capsys):
    cases = {}
    (tmp_path / "bytes.sqlite").write_bytes(os.urandom(8192))
    cases["bytes.sqlite"] = "is not a loopkit ratings database: file is not a database"
    for name, sql, words in (
        ("notes.sqlite", "CREATE TABLE notes (x); CREATE TABLE ratings (a, b)",
         "its table ratings has the columns a, b"),
        ("other.sqlite", "CREATE TABLE other (name TEXT)", "it holds the table(s) other of another application"),
        ("listeners.sqlite", "CREATE TABLE listeners (name TEXT)", "its table listeners has the columns name"),
    ):
        with closing(sqlite3.connect(tmp_path / name)) as conn:
            conn.executescript(sql)
        cases[name] = words
    (tmp_path / "folder.sqlite").mkdir()
    cases["folder.sqlite"] = "is not a file"
    for name, words in cases.items():
        before = (tmp_path / name).read_bytes() if (tmp_path / name).is_file() else None
        assert main(["listen", "serve", "--stimuli", str(stimuli_dir), "--db", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("loopkit listen: error: ") and words in err, (name, err)
        if before is not None:  # another application's file is left as it was (before, loopkit added its tables)
            assert (tmp_path / name).read_bytes() == before, name
    # a ratings database with a damaged page
    good = tmp_path / "good.sqlite"
    create_app(stimuli_dir, good).config["LOOPKIT_KEEPER"].close()
    with closing(sqlite3.connect(good)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(good.read_bytes())
    data[4096 : 4096 + 8] = b"\xff" * 8  # the head of the second page (the table meta)
    good.write_bytes(bytes(data))
    assert main(["listen", "serve", "--stimuli", str(stimuli_dir), "--db", str(good)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("is damaged" in err or "not a loopkit ratings database" in err), err
