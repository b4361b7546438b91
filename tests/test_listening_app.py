"""The listening test: stimuli preparation, the app's bad inputs, idempotence, resume, blindness, and a load test.

The stimulus set is real: small hand-made loops written as MIDI (and one loop data set for the training-set
group), picked and rendered with FluidSynth by ``prepare_stimuli``. It is rendered fast (16 kHz, 480 bpm).
"""

import http.cookiejar
import json
import re
import shutil
import threading
from contextlib import closing
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from loopkit.outputs.audio import AudioSettings, decode_ogg
from loopkit.cli import main
from loopkit.data.dataset import FILE_COLUMNS, pack_rolls, write_dataset
from loopkit.listening import db
from loopkit.listening.app import COOKIE, CSRF_FIELD, count_ratings, create_app
from loopkit.listening.prepare import AUDIO_DIR, MANIFEST, Candidate, load_stimuli, pick_stimuli, prepare_stimuli
from loopkit.commands import UserError
from loopkit.commands.listen import parse_group_args
from loopkit.data.pianoroll import LOOP_STEPS, N_COLUMNS, bass_column, drum_column, write_midi

FAST = AudioSettings(sample_rate=16_000, tail=0.1)
FAST_BPM = 480.0  # 8 bars in 4 s
GROUPS = ["Training set", "AR LSTM-VAE", "NonAR LSTM-VAE", "CNN-VAE", "VQ-VAE (temp 1.2)"]


def make_loop(variant: int) -> np.ndarray:
    """A distinct 8-bar loop: bass on every beat, kick+crash on each bar's first step, a snare."""
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    for bar in range(8):
        start = bar * 16
        pitch = 30 + (variant * 7 + bar) % 40
        for beat in range(4):
            roll[start + 4 * beat : start + 4 * beat + 2, bass_column(pitch)] = True
        roll[start, drum_column("kick")] = roll[start, drum_column("crash")] = True
        roll[start + 4 + variant % 8, drum_column("snare")] = True
    return roll


def make_dataset(path, n_train=12, n_valid=4):
    rolls = np.stack([make_loop(100 + i) for i in range(n_train + n_valid)])
    splits = ["train"] * n_train + ["valid"] * n_valid
    loops = pd.DataFrame(
        {
            "source": [f"{s}-song-{i}.mid" for i, s in enumerate(splits)],
            "md5": [f"{i:032x}" for i in range(len(splits))],
            "start_bar": 0,
            "bpm": 120.0,
            "split": splits,
        }
    )
    write_dataset(path, pack_rolls(rolls), loops, pd.DataFrame(columns=FILE_COLUMNS), {"test": True}, {})
    return path


def make_sources(root, per_group=11):
    """{group: source spec}: the training set from a data set, the four models from folders of .mid files."""
    groups = {GROUPS[0]: f"data:{make_dataset(root / 'dataset')}"}
    for k, name in enumerate(GROUPS[1:], start=1):
        folder = root / f"model{k}"
        folder.mkdir(parents=True)
        for i in range(per_group):
            write_midi(make_loop(20 * k + i), folder / f"sample_{i:03d}.mid")
        groups[name] = str(folder)
    return groups


@pytest.fixture(scope="module")
def stimuli_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("listen")
    groups = make_sources(root)
    out = root / "stimuli"
    prepare_stimuli(groups, out, per_group=10, familiarisation=3, seed=7, bpm=FAST_BPM, settings=FAST, progress=False)
    return out


@pytest.fixture()
def app_env(stimuli_dir, tmp_path):
    app = create_app(stimuli_dir, tmp_path / "ratings.sqlite")
    app.config["TESTING"] = True
    return app, app.config["LOOPKIT_STIMULI"], tmp_path / "ratings.sqlite"


def token(page: str) -> str:
    """The session's token in the form of a page."""
    return re.search(rf'name="{CSRF_FIELD}" value="([0-9a-f]{{32}})"', page).group(1)


def submit(client, path: str, data: dict | None = None):
    """Submit the form of the page the client is on (``/``): its token goes with ``data``."""
    return client.post(path, data={**(data or {}), CSRF_FIELD: token(client.get("/").get_data(as_text=True))})


def started(app):
    """A client that has pressed Start and finished the familiarisation."""
    client = app.test_client()
    assert submit(client, "/start").status_code == 303
    assert submit(client, "/familiarised").status_code == 303
    return client


# ---------------------------------------------------------------------------------------------------------
# prepare


def test_prepared_stimulus_set(stimuli_dir):
    s = load_stimuli(stimuli_dir)
    assert len(s.test_ids) == 50 and len(s.familiarisation_ids) == 3
    assert s.groups == GROUPS
    counts = pd.Series([x["group"] for x in s.stimuli if x["role"] == "test"]).value_counts()
    assert (counts == 10).all() and len(counts) == 5
    assert len({x["id"] for x in s.stimuli}) == 53
    assert all(re.fullmatch(r"[0-9a-f]{16}", x["id"]) for x in s.stimuli)
    # the familiarisation loops are not test loops, and come from three different groups
    test_sources = {x["source"] for x in s.stimuli if x["role"] == "test"}
    fam = [x for x in s.stimuli if x["role"] == "familiarisation"]
    assert not {x["source"] for x in fam} & test_sources
    assert len({x["group"] for x in fam}) == 3
    # the training-set group drew from the data set's training split only
    training = [x["source"] for x in s.stimuli if x["group"] == "Training set"]
    assert all("train-song" in src for src in training)
    # audio: named by id only, decodes, lasts 8 bars at the tempo plus the tail
    files = sorted(p.name for p in (stimuli_dir / AUDIO_DIR).iterdir())
    assert files == sorted(f"{x['id']}.wav" for x in s.stimuli)
    audio, sr = decode_ogg(stimuli_dir / AUDIO_DIR / files[0])
    assert len(audio) / sr == pytest.approx(128 * 60 / (4 * FAST_BPM) + FAST.tail, abs=1e-3)
    assert np.sqrt(np.mean(audio**2)) > 1e-3


def test_picks_are_seeded_and_checked():
    cands = {g: [Candidate(f"{g}/{i}", lambda: None) for i in range(6)] for g in ("a", "b", "c")}
    one = pick_stimuli(cands, per_group=4, familiarisation=3, seed=1)
    again = pick_stimuli(cands, per_group=4, familiarisation=3, seed=1)
    other = pick_stimuli(cands, per_group=4, familiarisation=3, seed=2)
    as_tuples = lambda picks: [(r, g, c.source) for r, g, c in picks]  # noqa: E731
    assert as_tuples(one) == as_tuples(again) != as_tuples(other)
    assert [r for r, _, _ in one].count("test") == 12
    fam = [(g, c.source) for r, g, c in one if r == "familiarisation"]
    assert sorted(g for g, _ in fam) == ["a", "b", "c"]
    only_b = pick_stimuli(cands, per_group=4, familiarisation=2, seed=1, familiarisation_group="b")
    assert [g for r, g, _ in only_b if r == "familiarisation"] == ["b", "b"]
    with pytest.raises(ValueError, match="fewer than the 7 asked for"):
        pick_stimuli(cands, per_group=7, familiarisation=0, seed=1)
    with pytest.raises(ValueError, match="only 6 loop"):
        pick_stimuli(cands, per_group=4, familiarisation=7, seed=1)
    with pytest.raises(ValueError, match="only 2 loop"):
        pick_stimuli(cands, per_group=4, familiarisation=3, seed=1, familiarisation_group="a")


def test_group_arguments():
    assert parse_group_args(["A=x", "B = data:y"]) == {"A": "x", "B": "data:y"}
    for bad in (["A=x"], ["A=x", "A=y"], ["A", "B=y"], ["=x", "B=y"]):
        with pytest.raises(UserError):
            parse_group_args(bad)


def test_prepare_resumes_and_refuses_other_sets(tmp_path):
    groups = {}
    for k, g in enumerate(("one", "two")):
        (tmp_path / g).mkdir()
        for i in range(3):
            write_midi(make_loop(10 * k + i), tmp_path / g / f"{i}.mid")
        groups[g] = str(tmp_path / g / "*.mid")  # a glob
    out = tmp_path / "set"
    kw = dict(per_group=2, familiarisation=1, seed=0, bpm=FAST_BPM, settings=FAST, progress=False)
    first = prepare_stimuli(groups, out, **kw)
    ids = [x["id"] for x in first.stimuli]
    # an interruption: the manifest and one audio file were never written
    (out / MANIFEST).unlink()
    (out / AUDIO_DIR / f"{ids[0]}.wav").unlink()
    with pytest.raises(FileNotFoundError, match="interrupted"):
        load_stimuli(out)
    again = prepare_stimuli(groups, out, **kw)
    assert [x["id"] for x in again.stimuli] == ids
    assert [x["sha256"] for x in again.stimuli][1:] == [x["sha256"] for x in first.stimuli][1:]  # kept
    assert (out / AUDIO_DIR / f"{ids[0]}.wav").is_file()  # rendered again
    with pytest.raises(ValueError, match="other settings"):
        prepare_stimuli(groups, out, **{**kw, "seed": 1})
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        prepare_stimuli(groups, tmp_path / "busy", **kw)


def test_prepare_reports_bad_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    kw = dict(per_group=1, familiarisation=0, bpm=FAST_BPM, settings=FAST, progress=False)
    with pytest.raises(FileNotFoundError, match="no .mid files"):
        prepare_stimuli({"a": str(tmp_path / "empty"), "b": str(tmp_path / "empty")}, tmp_path / "o1", **kw)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare_stimuli({"a": str(tmp_path / "nope"), "b": str(tmp_path / "nope")}, tmp_path / "o2", **kw)
    long = np.concatenate([make_loop(1), make_loop(2)])  # 16 bars: not a loop
    (tmp_path / "long").mkdir()
    write_midi(long, tmp_path / "long" / "x.mid")
    with pytest.raises(ValueError, match="not a readable 8-bar loop"):
        prepare_stimuli({"a": str(tmp_path / "long"), "b": str(tmp_path / "long")}, tmp_path / "o3", **kw)


# ---------------------------------------------------------------------------------------------------------
# the app


def test_a_whole_session_is_blind_and_complete(app_env):
    app, stimuli, db_path = app_env
    secrets_of_the_set = set(stimuli.groups) | {x["source"] for x in stimuli.stimuli}
    secrets_of_the_set |= {"VAE", "Training", "training", ".mid", "model", "sample_"}
    seen = []

    def check(resp):
        text = resp.get_data(as_text=True)
        seen.append(text)
        for word in secrets_of_the_set:
            assert word not in text, f"{word!r} leaked into {resp.request.path}"
        for value in resp.headers.values():
            assert not any(word in value for word in secrets_of_the_set)
        return text

    client = app.test_client()
    page = check(client.get("/"))
    assert "How much does this sound like music?" in page and 'action="/start"' in page
    assert count_ratings(db_path) == 0
    resp = client.post("/start", data={CSRF_FIELD: token(page)})
    check(resp)
    assert resp.status_code == 303 and client.get_cookie(COOKIE) is not None
    page = check(client.get("/"))
    fam_srcs = re.findall(r'<audio[^>]*src="([^"]+)"', page)
    assert fam_srcs == [f"/audio/{i}.wav" for i in stimuli.familiarisation_ids]
    for src in fam_srcs:
        audio = client.get(src)
        assert audio.status_code == 200 and audio.mimetype == "audio/wav"
        assert audio.data == (stimuli.root / AUDIO_DIR / src.split("/")[-1]).read_bytes()
    # audio headers: no file times (files were rendered group by group), an ETag from the content
    answers = [client.get(f"/audio/{sid}.wav") for sid in stimuli.test_ids]
    assert len({a.headers["Last-Modified"] for a in answers}) == 1
    by_id = stimuli.by_id()
    assert all(a.headers["ETag"].strip('"') == by_id[sid]["sha256"][:32] for a, sid in zip(answers, stimuli.test_ids))
    assert client.get(f"/audio/{stimuli.test_ids[0]}.wav", headers={"If-None-Match": answers[0].headers["ETag"]}
                      ).status_code == 304  # fmt: skip
    check(client.post("/familiarised", data={CSRF_FIELD: token(page)}))
    order = []
    for k in range(50):
        page = check(client.get("/"))
        assert f"Loop {k + 1} of 50" in page and f'<progress id="progress" value="{k}" max="50"' in page
        sid = re.search(r'name="stimulus" value="([0-9a-f]{16})"', page).group(1)
        assert re.search(rf'<audio[^>]*src="/audio/{sid}.wav"', page)
        order.append(sid)
        resp = client.post("/rate", data={"stimulus": sid, "rating": str(1 + k % 5), CSRF_FIELD: token(page)})
        assert resp.status_code == 303
    assert sorted(order) == sorted(stimuli.test_ids)
    assert order != stimuli.test_ids  # a random order, not the manifest's (1 chance in 50! of a false alarm)
    page = check(client.get("/"))
    assert "Thank you" in page and "all 50 loops" in page
    state = client.get("/api/state").get_json()
    assert state["phase"] == "done" and state["done"] == 50
    # the rows: one per stimulus, with the rating given and the group from the manifest
    rows = db.read_ratings(db_path)
    assert len(rows) == 50
    expected = {sid: 1 + k % 5 for k, sid in enumerate(order)}
    assert dict(zip(rows["stimulus"], rows["rating"])) == expected
    assert all(by_id[s]["group"] == g for s, g in zip(rows["stimulus"], rows["group"]))


def test_each_listener_gets_a_fresh_order(app_env):
    app, stimuli, _ = app_env
    orders = []
    for _ in range(3):
        client = started(app)
        state = client.get("/api/state").get_json()
        lid = client.get_cookie(COOKIE).value
        with closing(db.connect(app.config["LOOPKIT_DB"])) as conn:
            orders.append(db.get_listener(conn, lid)["test_order"])
        assert state["next"]["id"] == orders[-1][0]
    assert all(sorted(o) == sorted(stimuli.test_ids) for o in orders)
    assert len({tuple(o) for o in orders}) == 3


def test_resume_after_closing_the_tab(app_env):
    app, _, db_path = app_env
    client = started(app)
    lid = client.get_cookie(COOKIE).value
    first = []
    for _ in range(3):
        sid = client.get("/api/state").get_json()["next"]["id"]
        first.append(sid)
        assert client.post("/rate", json={"stimulus": sid, "rating": 4}).status_code == 200
    with closing(db.connect(db_path)) as conn:
        order = db.get_listener(conn, lid)["test_order"]
    # the tab is closed; the browser comes back later with its cookie
    later = app.test_client()
    later.set_cookie(COOKIE, lid)
    page = later.get("/").get_data(as_text=True)
    assert "Loop 4 of 50" in page
    assert f'name="stimulus" value="{order[3]}"' in page
    assert first == order[:3]
    # Start again from the same browser keeps the listener
    assert later.post("/start", data={CSRF_FIELD: token(page)}).status_code == 303
    assert later.get_cookie(COOKIE).value == lid
    assert later.get("/api/state").get_json()["done"] == 3


def test_a_repeated_rating_is_idempotent(app_env):
    app, _, db_path = app_env
    client = started(app)
    sid = client.get("/api/state").get_json()["next"]["id"]
    r1 = client.post("/rate", json={"stimulus": sid, "rating": 3})
    r2 = client.post("/rate", json={"stimulus": sid, "rating": 3})
    assert (r1.status_code, r1.get_json()["stored"]) == (200, True)
    assert (r2.status_code, r2.get_json()["stored"]) == (200, False)
    assert r2.get_json()["done"] == 1
    assert submit(client, "/rate", {"stimulus": sid, "rating": "3"}).status_code == 303  # the form, again
    changed = client.post("/rate", json={"stimulus": sid, "rating": 5})
    assert changed.status_code == 409 and "first rating stands" in changed.get_json()["error"]
    rows = db.read_ratings(db_path)
    assert len(rows) == 1 and rows["rating"].tolist() == [3]


def test_bad_input_gets_4xx_and_writes_nothing(app_env):
    app, stimuli, db_path = app_env
    client = started(app)
    sid = stimuli.test_ids[0]

    def post_json(payload, status, message):
        resp = client.post("/rate", json=payload)
        assert resp.status_code == status, (payload, resp.get_data(as_text=True))
        assert message in resp.get_json()["error"]

    post_json({"stimulus": "0123456789abcdef", "rating": 3}, 404, "unknown stimulus")
    post_json({"stimulus": "../stimuli.json", "rating": 3}, 404, "unknown stimulus")
    post_json({"stimulus": 12, "rating": 3}, 404, "unknown stimulus")
    post_json({"stimulus": stimuli.familiarisation_ids[0], "rating": 3}, 400, "not rated")
    for rating in (0, 6, -1, 2.5, "3", True, None, [3]):
        post_json({"stimulus": sid, "rating": rating}, 400, "whole number from 1 to 5")
    post_json({"stimulus": sid}, 400, "needs the fields")
    post_json([sid, 3], 400, "malformed body")
    resp = client.post("/rate", data='{"stimulus": "' + sid + '", "rating": ', content_type="application/json")
    assert resp.status_code == 400
    resp = client.post("/rate", data="[" * 5000 + "]" * 5000, content_type="application/json")  # was a 500
    assert resp.status_code == 400 and "nested too deep" in resp.get_json()["error"]
    resp = client.post("/rate", data="rating=3", content_type="text/plain")  # no form, no token
    assert resp.status_code == 403
    resp = submit(client, "/rate", {"stimulus": sid, "rating": "9"})
    assert resp.status_code == 400 and "whole number" in resp.get_data(as_text=True)  # the form path, as HTML
    resp = client.post("/rate", json={"stimulus": sid, "rating": 3, "pad": "x" * 20_000})
    assert resp.status_code == 413
    # no listener: no cookie, or a cookie the server never issued
    anon = app.test_client()
    assert anon.post("/rate", json={"stimulus": sid, "rating": 3}).status_code == 403
    anon.set_cookie(COOKIE, "A" * 24)
    assert anon.post("/rate", json={"stimulus": sid, "rating": 3}).status_code == 403
    anon.set_cookie(COOKIE, "'; DROP TABLE ratings; --")
    assert anon.post("/rate", json={"stimulus": sid, "rating": 3}).status_code == 403
    assert anon.post("/familiarised").status_code == 403
    # rating before the familiarisation is done
    early = app.test_client()
    submit(early, "/start")
    assert early.post("/rate", json={"stimulus": sid, "rating": 3}).status_code == 409
    assert early.get("/rate").status_code == 405
    assert count_ratings(db_path) == 0


def test_audio_urls_serve_known_ids_only(app_env):
    app, stimuli, _ = app_env
    client = app.test_client()
    sid = stimuli.test_ids[0]
    assert client.get(f"/audio/{sid}.wav").status_code == 200
    manifest = (stimuli.root / MANIFEST).read_text()
    tricks = [
        "/audio/../stimuli.json",
        "/audio/..%2Fstimuli.json",
        "/audio/%2e%2e%2fstimuli.json",
        "/audio/..%5Cstimuli.json",
        f"/audio/{sid}.wav/../../stimuli.json",
        f"/audio/{sid}.wav%00.json",
        f"/audio/{sid}",
        f"/audio/{sid}.mid",
        f"/audio/{sid.upper()}.wav",
        "/audio/0123456789abcdef.wav",
        f"/audio/{sid}.ogg",  # the format of older stimulus sets
        "/audio/stimuli.json",
        "/audio/plan.json",
        "/stimuli.json",
        "/plan.json",
        f"/midi/{sid}.mid",
        "/static/../stimuli.json",
        "/static/..%2f..%2fstimuli.json",
        "/static/%2e%2e/%2e%2e/prepare.py",
    ]
    for url in tricks:
        resp = client.get(url)
        assert resp.status_code == 404, url
        assert '"stimuli"' not in resp.get_data(as_text=True) and manifest not in resp.get_data(as_text=True)
    assert client.get("/static/style.css").status_code == 200


def test_a_database_belongs_to_one_stimulus_set(app_env, tmp_path):
    app, stimuli, db_path = app_env
    other = tmp_path / "other"
    shutil.copytree(stimuli.root, other)
    manifest = json.loads((other / MANIFEST).read_text())
    manifest["stimuli"][0]["group"] = "CNN-VAE" if manifest["stimuli"][0]["group"] != "CNN-VAE" else "AR LSTM-VAE"
    (other / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="another stimulus set"):
        create_app(other, db_path)
    create_app(stimuli.root, db_path)  # the same set again is fine


# ---------------------------------------------------------------------------------------------------------
# the command line


def test_listen_commands(app_env, tmp_path, capsys):
    app, stimuli, db_path = app_env
    client = started(app)
    for _ in range(2):
        sid = client.get("/api/state").get_json()["next"]["id"]
        client.post("/rate", json={"stimulus": sid, "rating": 2})
    out = tmp_path / "ratings.csv"
    assert main(["listen", "export", "--db", str(db_path), "--out", str(out)]) == 0
    assert "wrote 2 rating(s)" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns) == ["listener", "stimulus", "group", "rating", "time"]
    assert table["rating"].tolist() == [2, 2] and set(table["group"]) <= set(GROUPS)
    assert main(["listen", "export", "--db", str(tmp_path / "none.sqlite"), "--out", str(out)]) == 2
    assert "no ratings database" in capsys.readouterr().err
    assert main(["listen", "serve", "--stimuli", str(tmp_path / "nowhere"), "--db", str(db_path)]) == 2
    assert "no stimulus set" in capsys.readouterr().err
    assert main(["listen", "prepare", "--group", "A=x", "--out", str(tmp_path / "s")]) == 2
    assert "at least two groups" in capsys.readouterr().err


def test_listen_prepare_command(tmp_path, capsys):
    for g in ("a", "b"):
        (tmp_path / g).mkdir()
        for i in range(2):
            write_midi(make_loop(ord(g) + i), tmp_path / g / f"{i}.mid")
    args = ["listen", "prepare", "--group", f"A={tmp_path / 'a'}", "--group", f"B={tmp_path / 'b'}",
            "--per-group", "1", "--familiarisation", "1", "--bpm", str(FAST_BPM), "--out", str(tmp_path / "s")]  # fmt: skip
    assert main(args) == 0
    assert "2 test loops in 2 groups, 1 familiarisation" in capsys.readouterr().out
    assert len(load_stimuli(tmp_path / "s").stimuli) == 3


# ---------------------------------------------------------------------------------------------------------
# load test: a real waitress server on 127.0.0.1


class _Server:
    def __init__(self, app, threads=8):
        from waitress import create_server

        self.server = create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.closing = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.server.run()
        except OSError:  # select() on the sockets __exit__ closed under it (EBADF): the end asked for
            if not self.closing:
                raise

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.closing = True
        self.server.close()
        self.thread.join(timeout=10)


def _listener(url: str, repeat_first: bool) -> int:
    """One listener: start, finish the familiarisation, rate every loop in their order; returns ratings sent."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(path, payload=None):
        data = json.dumps(payload).encode() if payload is not None else b"{}"
        req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
        with opener.open(req, timeout=60) as resp:
            return json.loads(resp.read())

    state = call("/api/start")
    state = call("/familiarised")
    sent = 0
    while state["next"] is not None:
        sid = state["next"]["id"]
        rating = 1 + sum(map(ord, sid)) % 5
        state = call("/rate", {"stimulus": sid, "rating": rating})
        sent += 1
        if repeat_first and sent == 1:  # a double click: the same rating again, must not add a row
            assert call("/rate", {"stimulus": sid, "rating": rating})["stored"] is False
    return sent


def test_twenty_concurrent_listeners_lose_nothing(app_env):
    app, stimuli, db_path = app_env
    with _Server(app) as server:
        with ThreadPoolExecutor(max_workers=20) as pool:
            sent = list(pool.map(lambda i: _listener(server.url, repeat_first=i % 2 == 0), range(20)))
    assert sent == [50] * 20
    assert count_ratings(db_path) == 1000
    rows = db.read_ratings(db_path)
    assert len(rows) == 1000
    assert rows.groupby("listener").size().tolist() == [50] * 20
    assert not rows.duplicated(["listener", "stimulus"]).any()
    assert (rows["rating"] == [1 + sum(map(ord, s)) % 5 for s in rows["stimulus"]]).all()


def test_listen_serve_command_runs_and_stops_cleanly(stimuli_dir, tmp_path):
    """`loopkit listen serve` in a subprocess: it says where to open, answers on 127.0.0.1, stops on Ctrl-C (even when
    started with SIGINT ignored)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db_file = tmp_path / "served.sqlite"
    cmd = [sys.executable, "-m", "loopkit", "listen", "serve", "--stimuli", str(stimuli_dir), "--db", str(db_file),
           "--port", str(port)]  # fmt: skip
    # started with SIGINT ignored, as a shell's background job or a test runner's worker passes it on: Ctrl-C must
    # still stop it (it once hung here when a worker of the suite had run the notebooks first)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        line = proc.stdout.readline()
        assert f"open http://127.0.0.1:{port}/" in line
        deadline = time.time() + 30
        while True:
            try:
                state = _listener_call(f"http://127.0.0.1:{port}", "/api/state")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.time() < deadline, "the server did not answer"
                time.sleep(0.2)
        assert state == {"phase": "new", "done": 0, "total": 50}
        assert _listener(f"http://127.0.0.1:{port}", repeat_first=False) == 50
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, err
    assert f"stopped; 50 rating(s) stored in {db_file}" in out
    assert count_ratings(db_file) == 50  # every rating was committed as it arrived


def _listener_call(url: str, path: str):
    with urllib.request.urlopen(url + path, timeout=10) as resp:
        return json.loads(resp.read())
