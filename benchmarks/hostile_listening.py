"""Reliability figures, the listening test's part (``benchmarks/hostile.py`` runs it with the rest): the rating
server sent malformed requests, trickling clients and SIGKILLs while listeners rate, ratings forged as a page of
another origin would, 1 GB bodies stated by 4 clients at once; and a stimulus's group guessed from its bytes.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hostile import cli, report
from test_hardening import two_group_stimuli


# ---------------------------------------------------------------------------------------------------------
# the rating server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(stimuli: Path, db: Path, port: int, *flags: str) -> subprocess.Popen:
    p = cli("listen", "serve", "--stimuli", str(stimuli), "--db", str(db), "--port", str(port), *flags)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=2).read()
            return p
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError("the server did not start: " + (p.stderr.read() if p.poll() is not None else ""))
            time.sleep(0.2)


def listener(url: str, latencies: list[float] | None = None, retry_s: float = 0.0, pause: float = 0.0
             ) -> tuple[int, int]:  # fmt: skip
    """One listener through a whole session (retrying while the server is down for up to ``retry_s``, pausing up
    to ``pause`` seconds before each rating, as people do); returns (ratings acknowledged, requests retried)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    retried = 0

    def call(path, payload=None):
        nonlocal retried
        deadline = time.monotonic() + retry_s
        while True:
            data = json.dumps(payload if payload is not None else {}).encode()
            req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
            t0 = time.monotonic()
            try:
                with opener.open(req, timeout=20) as resp:
                    body = json.loads(resp.read())
                if latencies is not None:
                    latencies.append(time.monotonic() - t0)
                return body
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                if time.monotonic() > deadline:
                    raise
                retried += 1
                time.sleep(0.2)

    state = call("/api/start")
    state = call("/familiarised")
    acknowledged = 0
    while state.get("next"):
        time.sleep(random.uniform(0, pause))
        sid = state["next"]["id"]
        state = call("/rate", {"stimulus": sid, "rating": 1 + sum(map(ord, sid)) % 5})
        acknowledged += 1
    return acknowledged, retried


def bad_requests(url: str) -> tuple[int, int]:
    """Malformed and hostile requests; returns (sent, answered 4xx)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    headers = {"Content-Type": "application/json"}
    with opener.open(urllib.request.Request(url + "/api/start", data=b"{}", headers=headers)) as resp:
        fam = json.loads(resp.read())["familiarisation"][0]["id"]
    opener.open(urllib.request.Request(url + "/familiarised", data=b"{}", headers=headers)).read()
    sid = json.loads(opener.open(url + "/api/state").read())["next"]["id"]
    json_bodies = [{"stimulus": "0123456789abcdef", "rating": 3}, {"stimulus": "../stimuli.json", "rating": 3},
                   {"stimulus": 12, "rating": 3}, {"stimulus": fam, "rating": 3}, {"stimulus": sid},
                   [sid, 3], {"stimulus": sid, "rating": 3, "pad": "x" * 20_000}, {"stimulus": None, "rating": 3}]
    json_bodies += [{"stimulus": sid, "rating": r} for r in (0, 6, -1, 2.5, "3", True, None, [3], 1e308, "NaN")]
    requests = [("POST", "/rate", json.dumps(b).encode(), "application/json", True) for b in json_bodies]
    requests += [("POST", "/rate", b'{"stimulus": "' + sid.encode() + b'", "rating": ', "application/json", True),
                 ("POST", "/rate", b"rating=3", "text/plain", True),
                 ("POST", "/rate", f"stimulus={sid}&rating=9".encode(), "application/x-www-form-urlencoded", True),
                 ("POST", "/rate", b"\xff\xfe\x00garbage", "application/json", True),
                 ("POST", "/rate", json.dumps({"stimulus": sid, "rating": 3}).encode(), "application/json", False),
                 ("POST", "/familiarised", b"{}", "application/json", False),
                 ("GET", "/rate", None, None, True), ("PUT", "/rate", b"{}", "application/json", True),
                 ("DELETE", "/api/state", None, None, True)]  # fmt: skip
    for path in ("/audio/../stimuli.json", "/audio/%2e%2e%2fstimuli.json", "/audio/" + sid + ".ogg",
                 "/audio/" + "0" * 16 + ".wav", "/audio/" + sid.upper() + ".wav", "/audio/.wav",
                 "/audio/" + sid + ".wav/../../plan.json", "/midi/" + sid + ".mid", "/stimuli.json", "/plan.json",
                 "/audio/" + "a" * 5000 + ".wav"):  # fmt: skip
        requests.append(("GET", path, None, None, True))
    answered = 0
    for method, path, body, ctype, with_cookie in requests:
        req = urllib.request.Request(url + path, data=body, method=method,
                                     headers={"Content-Type": ctype} if ctype else {})  # fmt: skip
        try:
            (opener if with_cookie else urllib.request.build_opener()).open(req, timeout=10)
            print(f"  answered 2xx/3xx: {method} {path[:60]} {body[:60] if body else ''}")
        except urllib.error.HTTPError as exc:
            answered += 400 <= exc.code < 500
            if not 400 <= exc.code < 500:
                print(f"  answered {exc.code}: {method} {path[:60]} {body[:60] if body else ''}")
    # raw bytes that are not HTTP at all, and a cookie the server never issued
    for raw in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
                b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /rate HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nCookie: loopkit_listener=" + b"A" * 24 + b"\r\n" + b"X: " +
                b"y" * 20_000 + b"\r\n\r\n"):  # fmt: skip
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(raw)
            try:
                answer = s.recv(64)
            except (ConnectionResetError, TimeoutError):
                answer = b""
        requests.append(("RAW", "", raw, None, False))
        good = answer == b"" or (answer.startswith(b"HTTP/1.") and answer[9:10] == b"4")
        answered += good
        if not good:
            print(f"  raw request answered {answer[:20]!r}: {raw[:40]!r}")
    return len(requests), answered


def forged_requests(url: str) -> tuple[int, int, int]:
    """Ratings posted into a listener's session as another site's page would send them (issue 28); returns (sent,
    refused with 403, stored). The listener's own form, sent afterwards, must go through."""
    import re

    from loopkit.listening.app import CSRF_FIELD

    def session():
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(url + "/").read().decode()
        for path in ("/start", "/familiarised"):
            tok = re.search(rf'name="{CSRF_FIELD}" value="(\w+)"', page).group(1)
            page = opener.open(url + path, data=f"{CSRF_FIELD}={tok}".encode()).read().decode()
        tok = re.search(rf'name="{CSRF_FIELD}" value="(\w+)"', page).group(1)
        return opener, re.search(r'name="stimulus" value="(\w+)"', page).group(1), tok

    opener, sid, tok = session()
    _, _, other_tok = session()
    port = int(url.rsplit(":", 1)[1])
    other = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}"
    form = f"stimulus={sid}&rating=1"
    forms = "application/x-www-form-urlencoded"
    # the first four carry the session's token, as if it had leaked: the origin alone refuses them
    attempts = [(f"{form}&{CSRF_FIELD}={tok}", forms, {"Origin": other}),
                (f"{form}&{CSRF_FIELD}={tok}", forms, {"Origin": "null"}),
                (f"{form}&{CSRF_FIELD}={tok}", forms, {"Referer": other + "/attack.html"}),
                (f"{form}&{CSRF_FIELD}={tok}", forms, {"Origin": other, "Referer": url + "/"}),
                (form, forms, {}), (f"{form}&{CSRF_FIELD}=", forms, {}),
                (f"{form}&{CSRF_FIELD}={other_tok}", forms, {}),
                (f"{form}&{CSRF_FIELD}={tok[:-1]}", forms, {}), (form, "text/plain", {}),
                (json.dumps({"stimulus": sid, "rating": 1}), "application/json", {"Origin": other}),
                (json.dumps({"stimulus": sid, "rating": 1}), "application/json", {"Origin": "null"})]  # fmt: skip
    refused = 0
    for body, ctype, headers in attempts:
        req = urllib.request.Request(url + "/rate", data=body.encode(), headers={"Content-Type": ctype, **headers})
        try:
            opener.open(req, timeout=10)
            print(f"  forged rating accepted: {headers} {body[:60]}")
        except urllib.error.HTTPError as exc:
            refused += exc.code == 403
    state = json.loads(opener.open(url + "/api/state").read())
    stored = state["done"]
    req = urllib.request.Request(url + "/rate", data=f"stimulus={sid}&rating=4&{CSRF_FIELD}={tok}".encode(),
                                 headers={"Content-Type": forms, "Origin": url})  # fmt: skip
    opener.open(req, timeout=10).read()  # the listener's own rating
    own = json.loads(opener.open(url + "/api/state").read())["done"] == 1
    return len(attempts), refused, stored if own else -1


def spooled_bytes(pid: int) -> int:
    """Bytes in the deleted files a process holds open (waitress's spooled request bodies are such files)."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).endswith("(deleted)"):
                total += os.stat(fd).st_size
        except OSError:
            pass
    return total


def large_bodies(port: int, pid: int, clients: int = 4, seconds: float = 10.0) -> tuple[list[float], int, int]:
    """``clients`` connections at once, each stating a 1 GB body and sending it as fast as it can for up to
    ``seconds``; returns (seconds to each answer, -1 where none came; the most bytes spooled to temporary files at
    any moment; bytes the clients got out before the server closed)."""
    head = (b"POST /rate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + str(10**9).encode() + b"\r\n\r\n")  # 1 GB: waitress refused 1 GiB and more  # fmt: skip
    answers: list[float] = []
    sent = [0]
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], spooled_bytes(pid))

    def client():
        t0 = time.monotonic()
        chunk = b"x" * 2**20
        with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
            s.sendall(head)
            s.setblocking(False)
            got = b""
            while time.monotonic() - t0 < seconds and not got:
                try:
                    sent[0] += s.send(chunk)
                except (BlockingIOError, InterruptedError):
                    time.sleep(0.001)
                except OSError:
                    pass
                try:
                    got = s.recv(64)
                except BlockingIOError:
                    pass
                except OSError:
                    break
        answers.append(time.monotonic() - t0 if got.startswith(b"HTTP/1.1 413") else -1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(lambda _: client(), range(clients)))
    stop.set()
    sampler.join()
    return answers, max(peak[0], spooled_bytes(pid)), sent[0]


def server_attacks(work: Path, rng: random.Random, kills: int) -> None:
    from loopkit.listening.app import count_ratings
    from loopkit.listening.db import read_ratings
    stimuli = two_group_stimuli(work, per_group=5, familiarisation=1)  # 10 test loops, 1 to get familiar with
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = work / "ratings.sqlite"
    server = start_server(stimuli, db, port)
    try:
        sent, answered = bad_requests(url)
        stored = count_ratings(db)
        alive = listener(url)[0] == 10
        report("malformed HTTP requests", f"{sent} (bad JSON, wrong types, unknown and traversal ids, 20 KB bodies, "
               "no cookie, other methods, raw non-HTTP bytes)", f"{answered} answered 4xx or closed, {stored} "
               "written; the server went on serving", answered == sent and stored == 0 and alive)  # fmt: skip

        before = count_ratings(db)
        sent, refused, stored = forged_requests(url)
        report("forged ratings (CSRF)", f"{sent} ratings posted into a listener's session as another origin's page "
               "would: Origin of another port of 127.0.0.1 or null, a foreign Referer, no token, a wrong or another "
               "session's token, text/plain, JSON from another origin", f"{refused} refused with 403, {stored} "
               "stored; the listener's own rating then went through", refused == sent and stored == 0
               and count_ratings(db) == before + 1)  # fmt: skip
        answers, spooled, pushed = large_bodies(port, server.pid)
        report("large request bodies", f"{len(answers)} clients at once, each stating a 1 GB body and sending it "
               "as fast as it can", f"each answered 413 in at most {max(answers) * 1000:.0f} ms; {spooled:,} bytes "
               f"spooled to temporary files ({pushed / 2**20:.1f} MiB left the clients before the server closed)",
               min(answers) >= 0 and spooled == 0 and listener(url)[0] == 10)  # fmt: skip

        stored_before = len(read_ratings(db))  # the attacks above stored their listeners' ratings
        stop = threading.Event()
        slow = slow_clients(port, 150, every=1.0, stop=stop)
        time.sleep(2)
        latencies: list[float] = []
        with ThreadPoolExecutor(max_workers=20) as pool:
            acks = [a for a, _ in pool.map(lambda _: listener(url, latencies), range(20))]
        stop.set()
        for s in slow:
            s.close()
        rows = read_ratings(db)
        ok = (acks == [10] * 20 and len(rows) == stored_before + 200
              and not rows.duplicated(["listener", "stimulus"]).any())
        lat = np.array(latencies)
        report("slow clients", "150 connections sending a byte a second, 20 listeners rating at once",
               f"every listener served ({sum(acks)} ratings stored once each); request time median "
               f"{np.median(lat) * 1000:.0f} ms, max {lat.max() * 1000:.0f} ms", ok)  # fmt: skip
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)

    trickling_attack(stimuli, work / "trickled.sqlite", port)

    # kills of the server while 10 listeners rate; each listener retries until it is back
    db2 = work / "killed.sqlite"
    server = start_server(stimuli, db2, port)
    results: list[tuple[int, int]] = []
    runner = threading.Thread(target=lambda: results.extend(
        ThreadPoolExecutor(max_workers=10).map(lambda _: listener(url, retry_s=60, pause=1.0), range(10))))  # fmt: skip
    runner.start()
    done = 0
    for _ in range(kills):
        time.sleep(rng.uniform(0.5, 1.5))
        if server.poll() is None:
            server.send_signal(signal.SIGKILL)
            server.communicate()
            done += 1
        server = start_server(stimuli, db2, port)
    runner.join(timeout=300)
    server.send_signal(signal.SIGINT)
    server.communicate(timeout=30)
    rows = read_ratings(db2)
    ok = [a for a, _ in results] == [10] * 10 and len(rows) == 100 and not rows.duplicated(["listener", "stimulus"]).any()
    report("SIGKILL of the rating server", f"{done} kills while 10 listeners rated ({sum(r for _, r in results)} "
           "requests retried)", f"{len(rows)} ratings stored for {sum(a for a, _ in results)} acknowledged, "
           f"duplicates: {int(rows.duplicated(['listener', 'stimulus']).sum())}", ok)  # fmt: skip


def slow_clients(port: int, n: int, every: float, stop: threading.Event) -> list[socket.socket]:
    """``n`` connections to the server on ``port``, each sending one more byte of a request head that never ends
    every ``every`` seconds (from a daemon thread) until ``stop`` is set; the caller closes them."""
    slow = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)

    def trickle():
        while not stop.wait(every):
            for s in slow:
                try:
                    s.send(b"a")
                except OSError:
                    pass

    threading.Thread(target=trickle, daemon=True).start()
    return slow


def trickling_attack(stimuli: Path, db: Path, port: int) -> None:
    """110 connections sending a byte of their request head every 10 s to a server holding 100: before the request
    deadline, none was ever silent for the 30-s channel timeout, and every listener request timed out."""
    from loopkit.listening.server import REQUEST_DEADLINE_S

    server = start_server(stimuli, db, port, "--connection-limit", "100")
    url = f"http://127.0.0.1:{port}"
    slow: list[socket.socket] = []
    stop = threading.Event()
    try:
        slow += slow_clients(port, 110, every=10.0, stop=stop)
        started = time.monotonic()
        served = None
        while served is None and time.monotonic() - started < 180:
            try:
                urllib.request.urlopen(url + "/api/state", timeout=5).read()
                served = time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        session = listener(url)[0] == 10 if served is not None else False
        open_ = set(range(len(slow)))  # those queued beyond the limit are taken, then closed, a deadline later
        while open_ and time.monotonic() - started < 240:
            for i in list(open_):
                slow[i].setblocking(False)
                try:
                    if slow[i].recv(1) == b"":
                        open_.discard(i)
                except BlockingIOError:
                    pass
                except OSError:
                    open_.discard(i)
            time.sleep(0.5)
        all_closed = time.monotonic() - started
    finally:
        stop.set()
        for s in slow:
            s.close()
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    report("trickling clients", "110 connections sending a byte every 10 s against --connection-limit 100",
           f"listeners served again {served:.0f} s after they connected (request deadline {REQUEST_DEADLINE_S} s) "
           f"and a whole session went through; {110 - len(open_)} of 110 closed by the server, the last after "
           f"{all_closed:.0f} s" if served is not None else "no listener served within 180 s",
           served is not None and session and not open_)  # fmt: skip


def listening_bytes_attack(work: Path) -> None:
    """The guess-the-group-from-the-bytes attack: two groups whose OGGs differ in size (busy and sparse loops),
    the best threshold on a byte count, as OGG (the padding's length in a padded OGG is this count) and as the
    WAV stimuli loopkit serves."""
    from loopkit.outputs.audio import roll_to_ogg
    from loopkit.listening.prepare import AUDIO_DIR, prepare_stimuli
    from loopkit.data.pianoroll import drum_column, write_midi
    from test_listening_app import FAST, FAST_BPM, make_loop

    groups, per_group = {}, 20
    oggs: dict[str, list[int]] = {}
    for name in ("busy", "sparse"):
        (work / name).mkdir()
        oggs[name] = []
        for i in range(per_group):
            roll = make_loop(i)
            if name == "busy":
                roll[1::2, drum_column("closed_hihat")] = True
            write_midi(roll, work / name / f"{i}.mid", bpm=FAST_BPM)
            oggs[name].append(len(roll_to_ogg(roll, bpm=FAST_BPM, settings=FAST)))
        groups[name] = str(work / name)
    stimuli = prepare_stimuli(groups, work / "stimuli", per_group=per_group, familiarisation=0, bpm=FAST_BPM,
                              settings=FAST, progress=False)  # fmt: skip
    wav = {"busy": [], "sparse": []}
    headers = set()
    for s in stimuli.stimuli:
        data = (stimuli.root / AUDIO_DIR / f"{s['id']}.wav").read_bytes()
        wav[s["group"]].append(len(data))
        headers.add(data[:44])

    def best_guess(sizes: dict[str, list[int]]) -> int:
        """Right guesses of the best rule "size above t is one group", t and the group chosen after the fact."""
        values = sorted({v for vs in sizes.values() for v in vs})
        best = 0
        for t in [values[0] - 1, *values]:
            above = sum(v > t for v in sizes["busy"]) + sum(v <= t for v in sizes["sparse"])
            best = max(best, above, 2 * per_group - above)
        return best

    n = 2 * per_group
    sizes = {v for vs in wav.values() for v in vs}
    report("the group from the bytes", f"{n} stimuli of 2 groups whose OGGs differ in size; the best threshold on "
           "a byte count (a padded OGG's padding length is that count)", f"as OGG {best_guess(oggs)}/{n} right; as "
           f"the WAV loopkit serves {best_guess(wav)}/{n} (chance {n // 2}/{n}): {len(sizes)} size, {len(headers)} "
           "header, only the samples differ", best_guess(wav) == n // 2 and len(sizes) == len(headers) == 1)
