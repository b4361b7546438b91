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
bodies (400, JSON nested too deep included), no listener cookie (403), rating before the familiarisation or a
changed rating (409), bodies over 16 KB (413, by the server before any byte of the body is read:
``loopkit.listening.server``), anything but a known id in an audio URL (404).

Forged requests (another site's page posting into a listener's session) are refused with 403 and write nothing:

* a request that changes anything (any method but GET, HEAD, OPTIONS) must come from the app's own origin: its
  ``Origin`` header, or where that is absent its ``Referer``, must name this scheme, host and port (another port
  of the same host is another origin; so is ``Origin: null``, what a page that hides its address sends). A
  request with neither header is let through to the next check: browsers send ``Origin`` with every cross-origin
  POST, so only programs that are not browsers send neither (curl, scripts of the JSON API);
* a form (any body but JSON) must carry the token of the listener's session (``CSRF_FIELD``, in every form the
  app renders: an HMAC of the listener id under a key kept in the database, compared in constant time); the Start
  form, before any session exists, carries the server's start token, which the origin check alone guards. JSON
  bodies need no token: a browser sends ``Content-Type: application/json`` to another origin only after a CORS
  preflight, which this app never grants;
* the listener cookie is ``SameSite=Strict`` (``Lax`` counts other ports of one host as the same site), and the
  pages' ``Referrer-Policy: same-origin`` makes the app's own forms send their true ``Origin``.

A full disk or failing storage under the ratings database answers 507 (503 for other I/O errors) with one line,
and the server logs one line naming the database; pages that only read still serve (the app holds one
connection open, so WAL's shared-memory file, which every reader needs, stays in place when the disk fills).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import signal
import sqlite3
import sys
import threading
from contextlib import closing
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from flask import Flask, abort, g, jsonify, redirect, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from loopkit.listening import db
from loopkit.listening.prepare import AUDIO_SUFFIX, ID_RE, StimulusSet, load_stimuli
from loopkit.listening.server import CHANNEL_TIMEOUT_S, CONNECTION_LIMIT, MAX_REQUEST_BODY_BYTES, make_server

COOKIE = "loopkit_listener"
COOKIE_MAX_AGE = 180 * 24 * 3600
LISTENER_RE = re.compile(r"^[A-Za-z0-9_-]{24}$")
MAX_BODY_BYTES = MAX_REQUEST_BODY_BYTES
#: The form field that carries the session's token (``Forged requests`` in the module docstring).
CSRF_FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_DEFAULT_PORTS = {"http": 80, "https": 443}
QUESTION = "How much does this sound like music?"
SCALE_LABELS = {1: "Not at all", 2: "A little", 3: "Somewhat", 4: "Much", 5: "Very much"}


def _origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of a URL or an ``Origin`` value, the port made explicit; None when it names none
    (``null``, a malformed value)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


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
    csrf_key = db.init_db(db_path, stimuli).encode()
    try:
        # held for the app's life, so that WAL's shared-memory file stays: when the disk fills, a new connection
        # can still read (opening one where that file is gone needs room to create it)
        keeper = db.connect(db_path, check_same_thread=False)
        keeper.execute("SELECT COUNT(*) FROM meta").fetchall()  # all rows: no read transaction left open
    except (sqlite3.Error, OSError) as exc:
        error = db.storage_error(exc, db_path)
        if error is None:
            raise
        raise error from None
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
    app.config["LOOPKIT_KEEPER"] = keeper

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
        resp.set_cookie(COOKIE, lid, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Strict", path="/")
        return resp

    def csrf_token(lid: str | None = None) -> str:
        """The token the forms of a session carry: bound to the listener's id, or the start token without one."""
        message = b"listener:" + lid.encode() if lid else b"start"
        return hmac.new(csrf_key, message, hashlib.sha256).hexdigest()[:32]

    @app.context_processor
    def with_csrf_token():
        return {"csrf_field": CSRF_FIELD, "csrf_token": csrf_token(listener_id())}

    @app.before_request
    def refuse_forged_requests():
        if request.method in SAFE_METHODS:
            return
        own = _origin(f"{request.scheme}://{request.host}")
        origin = request.headers.get("Origin")
        referer = request.headers.get("Referer")
        if origin is not None:
            if own is None or _origin(origin) != own:
                raise BadRequest(403, "refused: this request was sent by a page of another site")
        elif referer is not None and (own is None or _origin(referer) != own):
            raise BadRequest(403, "refused: this request was sent by a page of another site")
        if not request.is_json:
            sent = ""
            if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                sent = request.form.get(CSRF_FIELD, "")
            sent = sent.encode("utf-8", "replace")
            # the Start page may have been opened without the cookie (SameSite=Strict: a link from another site),
            # and Start pressed with it: the start token is public anyway, the origin check guards that form
            tokens = [csrf_token(listener_id())] + ([csrf_token()] if request.path == "/start" else [])
            if not any([hmac.compare_digest(sent, t.encode()) for t in tokens]):
                raise BadRequest(403, "refused: this form does not come from this test's page (reload the page)")

    def body() -> dict:
        """The request's fields: a JSON object, or the form."""
        if request.is_json:
            try:
                data = request.get_json(silent=True)
            except RecursionError:  # nested thousands deep
                raise BadRequest(400, "malformed body: JSON nested too deep") from None
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

    @app.errorhandler(sqlite3.Error)
    @app.errorhandler(OSError)
    def storage_failed(exc):
        error = db.storage_error(exc, db_path)
        if error is None:
            raise exc  # a bug: Flask logs it in full and answers 500
        full = isinstance(exc, OSError) or "is full" in str(error)
        status = 507 if full else 503
        print(f"[listen] {request.method} {request.path} answered {status}: {error}", file=sys.stderr, flush=True)
        message = ("the server cannot store answers now: its disk is full. Nothing was stored; please try again "
                   "later" if full else "the server cannot reach its ratings now; please try again later")  # fmt: skip
        if wants_json():
            return jsonify(error=message), status
        return render_template("message.html", title="Sorry", message=message), status

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
        # the app's own forms send their Origin (with "no-referrer" they sent "null", as another site's page may)
        resp.headers["Referrer-Policy"] = "same-origin"
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

