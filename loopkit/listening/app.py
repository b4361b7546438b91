"""The listening-test web app (paper, Listening Test): blind 1..5 ratings of "How much does this sound like music?".

A Flask app served by waitress (``serve``; the server's connection limit and timeouts: ``loopkit.listening.server``,
so that slow clients cannot lock listeners out). A listener gets an anonymous id in a cookie, reads the
instructions, hears the familiarisation loops, then rates every test loop in a random order drawn for them
alone and stored, so closing the tab and coming back resumes where they left off. Nothing that reaches the
browser names a group, a model or a source file: stimuli are known by their random ids only.

Routes (HTML for people, JSON under ``/api`` for scripts; both share one validation)::

    GET  /                 the page for the listener's current step
    POST /start            new listener (form); POST /api/start the same, answering JSON
    POST /familiarised     done listening to the familiarisation loops (form or JSON)
    POST /rate             a rating: form fields or a JSON object {"stimulus": ID, "rating": 1..5}
    GET  /api/state        the listener's step, progress and next stimulus as JSON
    GET  /audio/<id>.wav   a stimulus's audio (known ids only; one size for all: ``loopkit.listening.prepare``)

Bad input answers 4xx and writes nothing: unknown stimulus ids (404), ratings outside 1..5 or malformed
bodies (400), no listener cookie (403), rating before the familiarisation or a changed rating (409), bodies
over 16 KB (413), anything but a known id in an audio URL (404).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import threading
from contextlib import closing
from datetime import datetime
from pathlib import Path

import numpy as np
from flask import Flask, abort, g, jsonify, redirect, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from loopkit.listening import db
from loopkit.listening.prepare import AUDIO_SUFFIX, ID_RE, StimulusSet, load_stimuli
from loopkit.listening.server import CHANNEL_TIMEOUT_S, CONNECTION_LIMIT, make_server

COOKIE = "loopkit_listener"
COOKIE_MAX_AGE = 180 * 24 * 3600
LISTENER_RE = re.compile(r"^[A-Za-z0-9_-]{24}$")
MAX_BODY_BYTES = 16 * 1024
QUESTION = "How much does this sound like music?"
SCALE_LABELS = {1: "Not at all", 2: "A little", 3: "Somewhat", 4: "Much", 5: "Very much"}


class BadRequest(Exception):
    """Input the app refuses: answered with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def create_app(stimuli_dir: str | os.PathLike, db_path: str | os.PathLike) -> Flask:
    """The Flask app for a stimulus set and a ratings database (created and checked here)."""
    stimuli: StimulusSet = load_stimuli(stimuli_dir)
    db_path = Path(db_path)
    db.init_db(db_path, stimuli)
    by_id = stimuli.by_id()
    test_ids = set(stimuli.test_ids)
    familiar = stimuli.familiarisation_ids
    audio_files = {sid: stimuli.audio_path(sid).resolve() for sid in by_id}
    # the files were rendered group after group: their modification times would hint at the groups, so every
    # audio answer carries the same Last-Modified and an ETag made from its content
    published = datetime.fromisoformat(stimuli.manifest["created"])
    seconds = float(np.mean([s["seconds"] for s in stimuli.stimuli]))
    # listening to every loop plus about 8 s to answer
    minutes = max(1, round((len(familiar) + len(test_ids)) * (seconds + 8) / 60))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["LOOPKIT_STIMULI"] = stimuli
    app.config["LOOPKIT_DB"] = db_path

    def conn():
        if "db" not in g:
            g.db = db.connect(db_path)
        return g.db

    @app.teardown_appcontext
    def close_db(_exc):
        c = g.pop("db", None)
        if c is not None:
            c.close()

    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.is_json

    def listener_id() -> str | None:
        value = request.cookies.get(COOKIE, "")
        return value if LISTENER_RE.match(value) else None

    def current_listener() -> dict | None:
        lid = listener_id()
        return db.get_listener(conn(), lid) if lid else None

    def state(listener: dict | None) -> dict:
        if listener is None:
            return {"phase": "new", "done": 0, "total": len(test_ids)}
        rated = db.ratings_of(conn(), listener["id"])
        order = listener["test_order"]
        done = sum(1 for s in order if s in rated)
        out = {"phase": listener["phase"], "done": done, "total": len(order)}
        if listener["phase"] == "familiarisation":
            out["familiarisation"] = [{"id": s, "audio": f"/audio/{s}{AUDIO_SUFFIX}"} for s in familiar]
        else:
            nxt = next((s for s in order if s not in rated), None)
            out["next"] = {"id": nxt, "audio": f"/audio/{nxt}{AUDIO_SUFFIX}"} if nxt else None
            if nxt is None:
                out["phase"] = "done"
        return out

    def new_listener() -> str:
        lid = secrets.token_urlsafe(18)
        order = list(stimuli.test_ids)
        secrets.SystemRandom().shuffle(order)
        db.create_listener(conn(), lid, order, "familiarisation" if familiar else "test")
        return lid

    def set_cookie(resp, lid: str):
        resp.set_cookie(COOKIE, lid, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax", path="/")
        return resp

    def body() -> dict:
        """The request's fields: a JSON object, or the form."""
        if request.is_json:
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                raise BadRequest(400, "malformed body: send one JSON object")
            return data
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return request.form.to_dict()
        if request.get_data(cache=True):
            raise BadRequest(400, "send a JSON object (Content-Type: application/json) or a form")
        return {}

    def parse_rating(data: dict) -> tuple[str, int]:
        if "stimulus" not in data or "rating" not in data:
            raise BadRequest(400, "a rating needs the fields 'stimulus' and 'rating'")
        sid, value = data["stimulus"], data["rating"]
        if not isinstance(sid, str) or not ID_RE.match(sid) or sid not in by_id:
            raise BadRequest(404, "unknown stimulus")
        if sid not in test_ids:
            raise BadRequest(400, "this loop is for familiarisation and is not rated")
        if isinstance(value, str) and not request.is_json and re.fullmatch(r"[0-9]", value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not db.RATING_MIN <= value <= db.RATING_MAX:
            raise BadRequest(400, f"a rating is a whole number from {db.RATING_MIN} to {db.RATING_MAX}")
        return sid, value

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        if wants_json():
            return jsonify(error=exc.message), exc.status
        return render_template("message.html", title="Sorry", message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = {
            404: "not found",
            405: "method not allowed",
            413: "request body too large",
        }.get(exc.code, exc.name.lower())
        if wants_json():
            return jsonify(error=message), exc.code
        return render_template("message.html", title="Sorry", message=message), exc.code

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    @app.get("/")
    def index():
        listener = current_listener()
        st = state(listener)
        if st["phase"] == "new":
            return render_template("instructions.html", total=st["total"], n_familiar=len(familiar),
                                   question=QUESTION, seconds=round(seconds), minutes=minutes)  # fmt: skip
        if st["phase"] == "familiarisation":
            return render_template("familiarisation.html", items=st["familiarisation"], total=st["total"])
        if st["phase"] == "done":
            return render_template("message.html", title="Thank you",
                                   message=f"You rated all {st['total']} loops. You can close this tab.")  # fmt: skip
        return render_template("rate.html", item=st["next"], done=st["done"], total=st["total"],
                               question=QUESTION, scale=SCALE_LABELS)  # fmt: skip

    def start():
        body()
        lid = listener_id()
        if lid is None or db.get_listener(conn(), lid) is None:
            lid = new_listener()
        return lid

    @app.post("/start")
    def start_form():
        return set_cookie(redirect("/", code=303), start())

    @app.post("/api/start")
    def start_api():
        lid = start()
        return set_cookie(jsonify(state(db.get_listener(conn(), lid))), lid)

    @app.post("/familiarised")
    def familiarised():
        body()
        listener = current_listener()
        if listener is None:
            raise BadRequest(403, "no listening session: open the start page first")
        if listener["phase"] == "familiarisation":
            db.set_phase(conn(), listener["id"], "test")
        if wants_json():
            return jsonify(state(db.get_listener(conn(), listener["id"])))
        return redirect("/", code=303)

    @app.post("/rate")
    def rate():
        data = body()
        listener = current_listener()
        if listener is None:
            raise BadRequest(403, "no listening session: open the start page first")
        sid, value = parse_rating(data)
        if listener["phase"] != "test":
            raise BadRequest(409, "listen to the familiarisation loops first")
        try:
            stored = db.add_rating(conn(), listener["id"], sid, value)
        except db.RatingConflict as exc:
            raise BadRequest(409, str(exc)) from None
        if wants_json():
            return jsonify(stored=stored, **state(listener))
        return redirect("/", code=303)

    @app.get("/api/state")
    def api_state():
        return jsonify(state(current_listener()))

    @app.get("/audio/<name>")
    def audio(name: str):
        sid, dot, ext = name.partition(".")
        if f".{ext}" != AUDIO_SUFFIX or not ID_RE.match(sid) or sid not in audio_files:
            abort(404)
        resp = send_file(audio_files[sid], mimetype="audio/wav", conditional=True, max_age=3600,
                         etag=by_id[sid]["sha256"][:32], last_modified=published)  # fmt: skip
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp

    return app


def serve(
    stimuli_dir: str | os.PathLike,
    db_path: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 8,
    connection_limit: int = CONNECTION_LIMIT,
    channel_timeout: float = CHANNEL_TIMEOUT_S,
) -> None:
    """Serve the app with waitress until Ctrl-C (every rating is committed as it arrives); ``connection_limit``
    and ``channel_timeout`` as in ``make_server``."""
    app = create_app(stimuli_dir, db_path)
    server = make_server(app, host, port, threads, connection_limit, channel_timeout)
    stimuli = app.config["LOOPKIT_STIMULI"]
    where = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{server.effective_port}/"
    print(
        f"listening test: {len(stimuli.test_ids)} loops to rate, {len(stimuli.familiarisation_ids)} to get familiar; "
        f"ratings go to {db_path}; open {where} (Ctrl-C stops)",
        flush=True,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {host}, reachable from other machines", flush=True)
    if server.adj.connection_limit < connection_limit:
        print(f"note: at most {server.adj.connection_limit} connections at once (the open-file limit of this "
              f"process allows no more than that; {connection_limit} were asked for)", flush=True)  # fmt: skip
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C stops the server even when the process was started with SIGINT ignored (a parent that ignores it,
        # such as a shell's background job or a test runner's worker, passes that on to its children)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    server.run()  # returns on Ctrl-C after finishing the requests in flight
    print(f"stopped; {count_ratings(db_path)} rating(s) stored in {db_path}", flush=True)


def count_ratings(db_path: str | os.PathLike) -> int:
    """Number of stored ratings (a quick check for scripts and tests)."""
    with closing(db.connect(db_path, readonly=True)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0])

