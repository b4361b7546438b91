"""The listening test's ratings store (paper, Listening Test): SQLite in WAL mode, one connection per request.

Tables::

    meta       key, value: the stimulus set's fingerprint, so a database is never mixed with another set, and the
               key of the forms' tokens (``csrf_key``), so a page stays valid across restarts of the server
    stimuli    id, role ("test" | "familiarisation"), grp, source: copied from the manifest when serving starts
    listeners  id, created, phase ("familiarisation" | "test"), test_order (JSON list of ids, fixed per listener)
    ratings    listener, stimulus, rating (1..5), time: one row per (listener, stimulus), the primary key

A rating is written with ``INSERT ... ON CONFLICT DO NOTHING`` inside an immediate transaction: a repeated
submission of the same rating changes nothing, a different rating for an already rated stimulus is refused
(``RatingConflict``), and concurrent writers wait for each other (``busy_timeout``) instead of failing.

A file that is not such a database (another application's SQLite file, a damaged one, bytes that are not SQLite)
is refused when serving starts (``init_db``), in one line; a full disk or failing storage is named as such
(``storage_error``), never blamed on the database.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from loopkit.atomic import write_bytes
from loopkit.errors import LoopkitError
from loopkit.listening.prepare import StimulusSet

PHASES = ("familiarisation", "test")
RATING_MIN, RATING_MAX = 1, 5
EXPORT_COLUMNS = ["listener", "stimulus", "group", "rating", "time"]
BUSY_TIMEOUT_MS = 30_000

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stimuli (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('test', 'familiarisation')),
    grp TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS listeners (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('familiarisation', 'test')),
    test_order TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    listener TEXT NOT NULL REFERENCES listeners(id),
    stimulus TEXT NOT NULL REFERENCES stimuli(id),
    rating INTEGER NOT NULL CHECK (rating BETWEEN {RATING_MIN} AND {RATING_MAX}),
    time TEXT NOT NULL,
    PRIMARY KEY (listener, stimulus)
) WITHOUT ROWID;
"""


#: The columns of each table, as ``SCHEMA`` makes them: a file whose tables of these names differ is not ours.
TABLES = {
    "meta": ["key", "value"],
    "stimuli": ["id", "role", "grp", "source"],
    "listeners": ["id", "created", "phase", "test_order"],
    "ratings": ["listener", "stimulus", "rating", "time"],
}
_FULL = "the disk holding {path} is full"


class RatingConflict(Exception):
    """The listener already gave this stimulus a different rating (the first one stands)."""


def utc_now() -> str:
    """The current time as ISO 8601 UTC with milliseconds (the ``time`` column)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def connect(path: str | os.PathLike, readonly: bool = False, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection with WAL, a busy timeout and foreign keys on; ``readonly`` opens an existing file only."""
    path = Path(path)
    if readonly:
        if not path.is_file():
            raise FileNotFoundError(f"no ratings database at {path}")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=check_same_thread)  # fmt: skip
    else:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=check_same_thread)  # fmt: skip
    try:
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn


def disk_full(path: str | os.PathLike) -> bool:
    """Whether the file system holding ``path`` has no block left for this process."""
    try:
        return os.statvfs(Path(path).parent).f_bavail == 0
    except OSError:
        return False


def storage_error(exc: BaseException, path: str | os.PathLike) -> LoopkitError | None:
    """The one-line error for a failure of the storage under ``path`` (a full disk, failing I/O, a file SQLite
    cannot open) or a file that is not an SQLite database; None for anything else (a bug, shown in full).

    A full disk shows as SQLite's "database or disk is full", as ``OSError`` ENOSPC, or as a "disk I/O error"
    when SQLite cannot grow the shared-memory file of WAL mode (every connection, readers too, needs it): the
    last is told from other I/O errors by the free space left."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return LoopkitError(f"{_FULL.format(path=path)} ({exc.strerror}): free some space and try again")
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR and disk_full(path)):
        return LoopkitError(f"{_FULL.format(path=path)} (SQLite: {exc}): free some space and try again")
    if primary == sqlite3.SQLITE_IOERR:
        return LoopkitError(f"cannot read or write {path}: {exc} ({exc.sqlite_errorname})")
    if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return LoopkitError(f"cannot use {path}: {exc}")
    if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return LoopkitError(f"{path} is not a loopkit ratings database: {exc} (damaged, or not SQLite)")
    return None


def _check_tables(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that holds another application's tables (an empty one is made ours)."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                        "'sqlite_%' ORDER BY name").fetchall()]  # fmt: skip
    for name in names:
        if name in TABLES:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({name})").fetchall()]
            if columns != TABLES[name]:
                want = ", ".join(TABLES[name])
                raise LoopkitError(f"{path} is not a loopkit ratings database: its table {name} has the columns "
                                   f"{', '.join(columns)}, not {want}; choose a new ratings database file")  # fmt: skip
    others = [n for n in names if n not in TABLES]
    ours = set(TABLES) <= set(names) and conn.execute(
        "SELECT 1 FROM meta WHERE key = 'stimulus_set'").fetchall()  # fmt: skip
    if others and not ours:
        raise LoopkitError(f"{path} is not a loopkit ratings database: it holds the table(s) {', '.join(others)} of "
                           "another application; choose a new ratings database file")  # fmt: skip
    problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        raise LoopkitError(f"{path} is damaged (SQLite's check: {problems[0]}); choose a new ratings database file")


def init_db(path: str | os.PathLike, stimuli: StimulusSet) -> str:
    """Create the tables and copy the stimulus set into them; returns the key of the forms' tokens. Refuses, in one
    line (``LoopkitError``), a database made for another stimulus set, a file that is not a loopkit ratings
    database, and storage that cannot hold it (``storage_error``)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of the database {path} does not exist")
    if path.exists() and not path.is_file():
        raise LoopkitError(f"{path} is not a file: choose a ratings database file (created if missing)")
    try:
        return _init_db(path, stimuli)
    except (sqlite3.Error, OSError) as exc:
        error = storage_error(exc, path)
        if error is None:
            raise
        raise error from None


def _init_db(path: Path, stimuli: StimulusSet) -> str:
    if path.exists():  # checked read-only: another application's file is left as it was (not even made WAL)
        with closing(connect(path, readonly=True)) as conn:
            _check_tables(conn, path)
    with closing(connect(path)) as conn:
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'stimulus_set'").fetchone()
            if row is not None and row["value"] != stimuli.fingerprint:
                raise LoopkitError(
                    f"the database {path} holds ratings of another stimulus set: use a new database for this one"
                )
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('stimulus_set', ?)", (stimuli.fingerprint,)
            )
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('csrf_key', ?)", (secrets.token_hex(32),))
            conn.executemany(
                "INSERT OR IGNORE INTO stimuli (id, role, grp, source) VALUES (?, ?, ?, ?)",
                [(s["id"], s["role"], s["group"], s["source"]) for s in stimuli.stimuli],
            )
            key = conn.execute("SELECT value FROM meta WHERE key = 'csrf_key'").fetchall()[0]["value"]
            conn.execute("COMMIT")
            return key
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def create_listener(conn: sqlite3.Connection, listener: str, test_order: list[str], phase: str) -> None:
    """Add a listener with their fixed random order of test stimuli."""
    if phase not in PHASES:
        raise LoopkitError(f"unknown phase {phase!r}")
    conn.execute(
        "INSERT INTO listeners (id, created, phase, test_order) VALUES (?, ?, ?, ?)",
        (listener, utc_now(), phase, json.dumps(test_order)),
    )


def get_listener(conn: sqlite3.Connection, listener: str) -> dict | None:
    """``{id, created, phase, test_order}`` of a listener, or None if unknown."""
    row = conn.execute("SELECT id, created, phase, test_order FROM listeners WHERE id = ?", (listener,)).fetchone()
    if row is None:
        return None
    return {**dict(row), "test_order": json.loads(row["test_order"])}


def set_phase(conn: sqlite3.Connection, listener: str, phase: str) -> None:
    if phase not in PHASES:
        raise LoopkitError(f"unknown phase {phase!r}")
    conn.execute("UPDATE listeners SET phase = ? WHERE id = ?", (phase, listener))


def ratings_of(conn: sqlite3.Connection, listener: str) -> dict[str, int]:
    """stimulus id -> rating, for one listener."""
    rows = conn.execute("SELECT stimulus, rating FROM ratings WHERE listener = ?", (listener,)).fetchall()
    return {r["stimulus"]: int(r["rating"]) for r in rows}


def add_rating(conn: sqlite3.Connection, listener: str, stimulus: str, rating: int) -> bool:
    """Store a rating; True if a row was written, False if the same rating was already there.

    Raises
    ------
    RatingConflict
        when the listener already rated this stimulus differently (nothing is written)
    ValueError
        for a rating outside 1..5
    """
    if isinstance(rating, bool) or not isinstance(rating, int) or not RATING_MIN <= rating <= RATING_MAX:
        raise LoopkitError(f"a rating is a whole number from {RATING_MIN} to {RATING_MAX}, got {rating!r}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(
            "INSERT INTO ratings (listener, stimulus, rating, time) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (listener, stimulus) DO NOTHING",
            (listener, stimulus, rating, utc_now()),
        )
        if cur.rowcount == 0:
            old = conn.execute(
                "SELECT rating FROM ratings WHERE listener = ? AND stimulus = ?", (listener, stimulus)
            ).fetchone()
            conn.execute("COMMIT")
            if int(old["rating"]) != rating:
                raise RatingConflict(f"this loop was already rated {old['rating']}; the first rating stands")
            return False
        conn.execute("COMMIT")
        return True
    except RatingConflict:
        raise
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def read_ratings(path: str | os.PathLike) -> pd.DataFrame:
    """All ratings with their group: columns listener, stimulus, group, rating, time (ordered by time)."""
    try:
        with closing(connect(path, readonly=True)) as conn:
            rows = conn.execute(
                "SELECT r.listener, r.stimulus, s.grp AS 'group', r.rating, r.time FROM ratings r "
                "JOIN stimuli s ON s.id = r.stimulus ORDER BY r.time, r.listener, r.stimulus"
            ).fetchall()
    except sqlite3.Error as exc:
        # the storage (a full disk: reading a WAL database needs room for its shared-memory file) is named as such
        error = storage_error(exc, path)
        if error is None and isinstance(exc, sqlite3.DatabaseError):  # no such table or column: another schema
            error = LoopkitError(f"{path} is not a loopkit ratings database ({exc})")
        if error is None:
            raise
        raise error from None
    df = pd.DataFrame([dict(r) for r in rows], columns=EXPORT_COLUMNS)
    df["rating"] = df["rating"].astype(int)
    return df


def export_ratings(db: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the ratings as CSV (``EXPORT_COLUMNS``), atomically; returns the number of rows."""
    df = read_ratings(db)
    out = Path(out)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"the folder of {out} does not exist")
    try:
        write_bytes(out, df.to_csv(index=False, lineterminator="\n").encode())
    except OSError as exc:
        error = storage_error(exc, out)
        if error is None:
            raise
        raise error from None
    return len(df)
