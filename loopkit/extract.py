"""The paper's loop extraction over whole corpora (Data Preprocess): every input file through the representation
(``loopkit.pianoroll``) and the loop rules (``loopkit.loops``) into a loop data set (``loopkit.dataset``).

``extract(sources, out)`` reads folders, MIDI files and archives (``loopkit.corpus``), in parallel worker
processes, and accounts for every file: ``used`` (it gave loops), ``rejected`` by a named rule, ``failed`` with
a one-line reason, or ``skipped`` (not a MIDI file name). What happens to one file (``process_midi``), in order:

1. read the bytes (at most ``max_file_mib``); a RIFF ``RMID`` wrapper is unwrapped; the header must be a
   standard MIDI header with ticks per quarter note (not SMPTE) and the file must hold as many track chunks as
   the header announces; then symusic parses it (failed: the parser's error);
2. ``not_4_4``: any time-signature event (from any track) other than 4/4 rejects the file, and so does a 4/4
   event off the bar lines (an irregular bar; bar lines: see ``loopkit.pianoroll``);
   ``no_time_signature``: a file without any such event counts as 4/4 (the MIDI standard's default) unless
   ``missing_time_signature="drop"`` (what the authors' follow-up code did);
3. ``no_bass`` / ``no_drums``: no bass note (program in ``bass_programs``, pitch C1..B7) / no drum note that
   the drum map keeps;
4. a song whose bass/drum notes reach past ``max_bars`` bars is failed ("absurd length");
5. ``no_loops``: no 8-bar window passes the loop rules (``LoopRules``); otherwise the file is used and every
   passing window is a loop, with the tempo in effect at its first bar.

Robustness: each worker process has a per-file time limit; a worker that overruns it (a hung parser cannot be
interrupted in-process) is killed and replaced, and the file is failed with the reason; a worker that dies
(a crashing parser) is replaced the same way. Resumability: the parent process, the only writer, appends one
record per file to a journal in the output folder (length-prefixed, CRC-checked; a torn last record is dropped
on restart). Running the same command again after any interruption, even SIGKILL, skips the files already in
the journal and ends with the same bytes an uninterrupted run writes: the data set is written at the end,
streamed from the journal in input order, so memory does not grow with the number of loops (the parent keeps
about 40 bytes of bookkeeping per input file).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import resource
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from .corpus import check_sources, iter_inputs, one_line, read_path, total_bytes
from .dataset import (
    DEFAULT_SPLIT_FRACTIONS,
    FILES,
    MANIFEST,
    SPLITS,
    DatasetWriter,
    Loops,
    assign_splits,
    load_loops,
    pack_rolls,
)
from .loops import LoopRules, cut_loops, find_loops
from .pianoroll import (
    BARS_PER_LOOP,
    BASS_PROGRAMS,
    BEATS_PER_BAR,
    DRUM_MAPS,
    STEPS_PER_BAR,
    bar_origin,
    render_roll,
    score_notes,
    ticks_to_steps,
)

#: Rejection rules, in the order they are checked (the funnel's order).
REJECTION_RULES = ("not_4_4", "no_time_signature", "no_bass", "no_drums", "no_loops")
MISSING_TIME_SIGNATURE = ("assume_4_4", "drop")
JOURNAL = ".extract-journal"
JOURNAL_FORMAT = "loopkit-extract-journal-1"
#: MIDI tempo when a file sets none (120 quarter notes per minute)
DEFAULT_BPM = 120.0
#: test hook: comma-separated MD5s of files on which a worker process kills itself with SIGSEGV, standing in
#: for a crashing C++ parser (no real file is known to crash symusic). Read by ``extract`` in the parent.
CRASH_HOOK_ENV = "LOOPKIT_TEST_CRASH_ON_MD5"


@dataclass(frozen=True)
class ExtractionSettings:
    """Every setting that decides what an extraction writes; the defaults are the paper's choices.

    Stored in the data set's settings.json; a resumed run must use the same settings.

    Attributes
    ----------
    rules : the loop rules and their thresholds (window stride, Hamming threshold and normalisation, ...)
    drum_map : name of a GM drum map in ``loopkit.pianoroll.DRUM_MAPS`` ("full" or "strict")
    missing_time_signature : "assume_4_4" (the MIDI default) or "drop" for files without a time signature
    bass_programs : 0-based GM programs read as bass (32..39 in the paper)
    max_bars : a song whose bass/drum notes reach past this many bars fails (absurd tick counts)
    max_file_mib : a larger input file fails without being parsed
    time_limit_s : per-file time limit in a worker process (reading, parsing and the rules)
    split_fractions : train, valid, test shares of loops (splits are by file, see ``assign_splits``)
    """

    rules: LoopRules = LoopRules()
    drum_map: str = "full"
    missing_time_signature: str = "assume_4_4"
    bass_programs: tuple[int, ...] = BASS_PROGRAMS
    max_bars: int = 4096
    max_file_mib: float = 64.0
    time_limit_s: float = 30.0
    split_fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS

    def __post_init__(self):
        object.__setattr__(self, "bass_programs", tuple(int(p) for p in self.bass_programs))
        object.__setattr__(self, "split_fractions", tuple(float(f) for f in self.split_fractions))
        if self.rules.bars != BARS_PER_LOOP:
            raise ValueError(f"the data set stores {BARS_PER_LOOP}-bar loops; rules.bars is {self.rules.bars}")
        if self.drum_map not in DRUM_MAPS:
            raise ValueError(f"unknown drum map {self.drum_map!r}; known: {', '.join(DRUM_MAPS)}")
        if self.missing_time_signature not in MISSING_TIME_SIGNATURE:
            raise ValueError(
                f"missing_time_signature must be one of {', '.join(MISSING_TIME_SIGNATURE)}, "
                f"got {self.missing_time_signature!r}"
            )
        if not all(0 <= p <= 127 for p in self.bass_programs) or not self.bass_programs:
            raise ValueError(f"bass_programs must be GM programs 0..127, got {self.bass_programs}")
        if self.max_bars < BARS_PER_LOOP:
            raise ValueError(f"max_bars must be at least {BARS_PER_LOOP}, got {self.max_bars}")
        if not self.max_file_mib > 0:
            raise ValueError(f"max_file_mib must be positive, got {self.max_file_mib}")
        if not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s must be positive, got {self.time_limit_s}")
        f = self.split_fractions
        if len(f) != 3 or abs(sum(f) - 1) > 1e-9 or min(f) < 0:
            raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {f}")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mib * 2**20)

    def to_dict(self) -> dict:
        """A JSON-ready dict (what settings.json stores)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> "ExtractionSettings":
        d = dict(d)
        rules = d.pop("rules", {})
        if "compared_bars" in rules:
            rules = {**rules, "compared_bars": tuple(rules["compared_bars"])}
        return cls(rules=LoopRules(**rules), **d)


# ---------------------------------------------------------------------------------------------------------
# one file


class FileResult(NamedTuple):
    """What extraction made of one input file (a row of files.csv plus its loops)."""

    status: str  # used | rejected | failed | skipped
    rule: str = ""
    reason: str = ""
    md5: str = ""
    start_bars: tuple[int, ...] = ()
    bpms: tuple[float, ...] = ()
    packed: bytes = b""  # (n_loops, 1488) uint8, row-major

    @property
    def n_loops(self) -> int:
        return len(self.start_bars)


def standard_midi_bytes(data: bytes) -> bytes:
    """The standard MIDI file inside ``data`` after header checks (``ValueError`` with the reason if not).

    Unwraps a RIFF ``RMID`` file (.rmi); checks the ``MThd`` header, that time is in ticks per quarter note
    (not SMPTE frames) and non-zero, and that the file holds the number of track chunks its header announces
    (a file cut at a chunk boundary would otherwise parse as a shorter song).
    """
    if len(data) == 0:
        raise ValueError("empty file (0 bytes)")
    if data[:4] == b"RIFF":
        data = _unwrap_rmid(data)
    if data[:4] != b"MThd":
        raise ValueError(f"not a MIDI file (it starts with {bytes(data[:4])!r}, not b'MThd')")
    if len(data) < 14:
        raise ValueError(f"truncated MIDI header ({len(data)} bytes)")
    header_len, _fmt, n_tracks, division = struct.unpack(">IHHH", data[4:14])
    if header_len < 6:
        raise ValueError(f"invalid MIDI header length {header_len}")
    if division & 0x8000:
        raise ValueError("SMPTE time division (frames per second) is not supported; loopkit needs ticks per quarter")
    if division == 0:
        raise ValueError("invalid MIDI header: 0 ticks per quarter note")
    pos, found = 8 + header_len, 0
    while pos + 8 <= len(data) and found < n_tracks:
        kind, length = struct.unpack(">4sI", data[pos : pos + 8])
        if pos + 8 + length > len(data):
            break  # a cut chunk: the parser reports it
        found += kind == b"MTrk"
        pos += 8 + length
    if found < n_tracks and pos + 8 > len(data):
        raise ValueError(f"truncated: the header announces {n_tracks} tracks, the file holds {found}")
    return data


def _unwrap_rmid(data: bytes) -> bytes:
    if data[8:12] != b"RMID":
        raise ValueError(f"a RIFF file of type {bytes(data[8:12])!r}, not a RIFF MIDI file (RMID)")
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos : pos + 8])
        if kind == b"data":
            return data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
    raise ValueError("a RIFF MIDI file (RMID) without a data chunk")


def time_signature_rule(score, missing: str = "assume_4_4") -> tuple[str, str] | None:
    """``(rule, reason)`` when the score's time signatures reject it, else None (see the module docstring).

    Every time-signature event (from any track) must be 4/4 and sit on a bar line of the grid that starts at
    ``bar_origin`` (to the nearest step); a 4/4 event off that grid marks an irregular bar.
    """
    sigs = score.time_signatures
    if len(sigs) == 0:
        if missing == "drop":
            return "no_time_signature", "no time-signature event (dropped by missing_time_signature='drop')"
        return None
    for ts in sigs:
        if (ts.numerator, ts.denominator) != (BEATS_PER_BAR, 4):
            return "not_4_4", f"time signature {ts.numerator}/{ts.denominator} at tick {ts.time}"
    tpq = int(score.ticks_per_quarter)
    origin = bar_origin(score)
    for ts in sigs:
        if int(ticks_to_steps(int(ts.time) - origin, tpq)) % STEPS_PER_BAR:
            return "not_4_4", f"4/4 time signature at tick {ts.time} is off the bar lines (an irregular bar)"
    return None


def tempo_at(score, ticks: np.ndarray) -> np.ndarray:
    """Tempo (quarter notes per minute) in effect at each tick; 120 before the first tempo event."""
    tempos = score.tempos.numpy()
    times = np.asarray(tempos["time"], dtype=np.int64)
    if len(times) == 0:
        return np.full(len(ticks), DEFAULT_BPM)
    order = np.argsort(times, kind="stable")
    times = times[order]
    qpm = 60_000_000.0 / np.asarray(tempos["mspq"], dtype=np.float64)[order]
    idx = np.searchsorted(times, ticks, side="right") - 1
    return np.where(idx >= 0, qpm[np.maximum(idx, 0)], DEFAULT_BPM)


def process_midi(data: bytes, settings: ExtractionSettings = ExtractionSettings()) -> FileResult:
    """Everything extraction does with one file's bytes (steps 1-5 of the module docstring)."""
    import symusic

    md5 = hashlib.md5(data).hexdigest()
    try:
        score = symusic.Score.from_midi(standard_midi_bytes(data))
    except (ValueError, RuntimeError) as exc:
        return FileResult("failed", reason=one_line(exc), md5=md5)
    rejected = time_signature_rule(score, settings.missing_time_signature)
    if rejected:
        return FileResult("rejected", rule=rejected[0], reason=rejected[1], md5=md5)
    notes = score_notes(score, drum_map=settings.drum_map, bass_programs=settings.bass_programs)
    if len(notes.bass_on) == 0:
        return FileResult("rejected", rule="no_bass", reason="no bass note (programs, C1..B7)", md5=md5)
    if len(notes.drum_on) == 0:
        return FileResult("rejected", rule="no_drums", reason="no drum note the drum map keeps", md5=md5)
    end = notes.end_step
    if end > settings.max_bars * STEPS_PER_BAR:
        return FileResult(
            "failed",
            reason=f"absurd length: bass/drum notes reach bar {-(-end // STEPS_PER_BAR)} "
            f"(limit {settings.max_bars} bars)",
            md5=md5,
        )
    roll = render_roll(notes, -(-end // STEPS_PER_BAR) * STEPS_PER_BAR)
    starts = find_loops(roll, settings.rules)
    if len(starts) == 0:
        return FileResult("rejected", rule="no_loops", reason="no window passes the loop rules", md5=md5)
    packed = pack_rolls(cut_loops(roll, starts, settings.rules.bars))
    tpq = int(score.ticks_per_quarter)
    bpm = tempo_at(score, bar_origin(score) + starts.astype(np.int64) * BEATS_PER_BAR * tpq)
    return FileResult(
        "used",
        md5=md5,
        start_bars=tuple(int(s) for s in starts),
        bpms=tuple(round(float(b), 2) for b in bpm),
        packed=packed.tobytes(),
    )


def process_path(path: str | os.PathLike, settings: ExtractionSettings = ExtractionSettings()) -> FileResult:
    """``process_midi`` on a file on disk (a read error fails the file)."""
    try:
        data = read_path(path, settings.max_file_bytes)
    except (OSError, ValueError) as exc:
        return FileResult("failed", reason=f"cannot read: {one_line(exc)}")
    return _guarded(data, settings)


def _guarded(data: bytes, settings: ExtractionSettings) -> FileResult:
    """``process_midi``, with an unforeseen exception failing the file instead of the run."""
    try:
        return process_midi(data, settings)
    except Exception as exc:
        return FileResult("failed", reason=f"{type(exc).__name__}: {one_line(exc)}", md5=hashlib.md5(data).hexdigest())


# ---------------------------------------------------------------------------------------------------------
# the journal


class Journal:
    """An append-only file of records, written by one process: ``[length u32][crc32 u32][payload]`` each.

    The first record is the run header (JSON: settings, sources, version). ``open`` drops a torn or corrupt
    tail (what a kill in the middle of a write leaves) by truncating the file after the last good record.
    """

    HEAD = struct.Struct("<II")

    def __init__(self, path: Path, fd: int, size: int):
        self.path = path
        self._fd = fd
        self.size = size
        self._last_sync = time.monotonic()

    @classmethod
    def create(cls, path: Path, header: dict) -> "Journal":
        tmp = path.with_name(path.name + ".new")
        payload = json.dumps(header, sort_keys=True).encode()
        with open(tmp, "wb") as fh:
            fh.write(cls.HEAD.pack(len(payload), zlib.crc32(payload)) + payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return cls.open_existing(path)

    @classmethod
    def read_header(cls, path: Path) -> dict | None:
        """The run header of a journal, or None when it is unreadable."""
        try:
            with open(path, "rb") as fh:
                head = fh.read(cls.HEAD.size)
                if len(head) < cls.HEAD.size:
                    return None
                n, crc = cls.HEAD.unpack(head)
                payload = fh.read(n)
            if len(payload) != n or zlib.crc32(payload) != crc:
                return None
            return json.loads(payload)
        except (OSError, ValueError):
            return None

    @classmethod
    def open_existing(cls, path: Path, visit=None) -> "Journal":
        """Open for appending, calling ``visit(offset, payload)`` for each record after the header.

        Reads one record at a time; stops at the first torn or corrupt record and truncates the file there.
        """
        good = 0
        with open(path, "rb") as fh:
            while True:
                head = fh.read(cls.HEAD.size)
                if len(head) < cls.HEAD.size:
                    break
                n, crc = cls.HEAD.unpack(head)
                payload = fh.read(n)
                if len(payload) < n or zlib.crc32(payload) != crc:
                    break
                if good > 0 and visit is not None:
                    visit(good, payload)
                good += cls.HEAD.size + n
        fd = os.open(path, os.O_RDWR)
        if good != os.fstat(fd).st_size:
            os.ftruncate(fd, good)
            os.fsync(fd)
        return cls(path, fd, good)

    def append(self, payload: bytes) -> int:
        """Append one record; returns its offset."""
        offset = self.size
        record = self.HEAD.pack(len(payload), zlib.crc32(payload)) + payload
        written = os.pwrite(self._fd, record, offset)
        if written != len(record):
            raise OSError(f"short write to {self.path}")
        self.size += len(record)
        now = time.monotonic()
        if now - self._last_sync > 5.0:
            os.fsync(self._fd)
            self._last_sync = now
        return offset

    def read_at(self, offset: int) -> bytes:
        n, crc = self.HEAD.unpack(os.pread(self._fd, self.HEAD.size, offset))
        payload = os.pread(self._fd, n, offset + self.HEAD.size)
        if len(payload) != n or zlib.crc32(payload) != crc:
            raise OSError(f"{self.path}: corrupt record at offset {offset}")
        return payload

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


_STATUS = ("used", "rejected", "failed", "skipped")
_RULES = ("",) + REJECTION_RULES


def _encode(index: int, source: str, r: FileResult) -> bytes:
    meta = json.dumps(
        [index, source, r.status, r.rule, r.reason, r.md5, list(r.start_bars), list(r.bpms)],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return struct.pack("<I", len(meta)) + meta + r.packed


def _decode(payload: bytes) -> tuple[int, str, FileResult]:
    (n,) = struct.unpack_from("<I", payload)
    index, source, status, rule, reason, md5, bars, bpms = json.loads(payload[4 : 4 + n])
    return index, source, FileResult(status, rule, reason, md5, tuple(bars), tuple(bpms), payload[4 + n :])


def _source_hash(source: str) -> int:
    return int.from_bytes(hashlib.blake2b(source.encode(), digest_size=8).digest(), "little") | 1


class _Ledger:
    """Per-input-file bookkeeping of a run, in flat arrays (about 40 bytes a file)."""

    def __init__(self):
        self.n = 0
        self.offset = np.full(1024, -1, dtype=np.int64)
        self.source = np.zeros(1024, dtype=np.uint64)
        self.status = np.zeros(1024, dtype=np.int8)
        self.rule = np.zeros(1024, dtype=np.int8)
        self.n_loops = np.zeros(1024, dtype=np.int32)
        self.md5 = np.zeros((1024, 16), dtype=np.uint8)

    def _grow(self, index: int) -> None:
        size = len(self.offset)
        if index < size:
            return
        new = max(2 * size, index + 1)
        for name in ("offset", "source", "status", "rule", "n_loops", "md5"):
            old = getattr(self, name)
            arr = np.full((new, *old.shape[1:]), -1 if name == "offset" else 0, dtype=old.dtype)
            arr[:size] = old
            setattr(self, name, arr)

    def add(self, index: int, offset: int, source: str, r: FileResult) -> None:
        self._grow(index)
        if self.offset[index] >= 0:
            return  # already recorded (the first record wins)
        self.offset[index] = offset
        self.source[index] = _source_hash(source)
        self.status[index] = _STATUS.index(r.status)
        self.rule[index] = _RULES.index(r.rule)
        self.n_loops[index] = r.n_loops
        if r.md5:
            self.md5[index] = np.frombuffer(bytes.fromhex(r.md5), dtype=np.uint8)
        self.n = max(self.n, index + 1)

    def done(self, index: int) -> bool:
        return index < len(self.offset) and self.offset[index] >= 0

    def check_source(self, index: int, source: str) -> None:
        if self.source[index] != _source_hash(source):
            raise ValueError(
                f"the inputs changed since the interrupted run (input file {index + 1} is now {source}); "
                "run with --overwrite to start again"
            )

    def counts(self, n_items: int) -> Counter:
        status = self.status[:n_items]
        rule = self.rule[:n_items]
        c = Counter()
        for s in range(len(_STATUS)):
            c[_STATUS[s]] = int(np.count_nonzero(status == s))
        for k in range(1, len(_RULES)):
            c[_RULES[k]] = int(np.count_nonzero((status == _STATUS.index("rejected")) & (rule == k)))
        return c


# ---------------------------------------------------------------------------------------------------------
# funnel


def funnel_from_counts(counts: Counter, n_loops: int, split_loops: dict[str, int]) -> dict:
    """The paper's funnel from status and rule counts (see ``extract``)."""
    seen = sum(counts[s] for s in _STATUS)
    midi = seen - counts["skipped"]
    parsed = midi - counts["failed"]
    four_four = parsed - counts["not_4_4"] - counts["no_time_signature"]
    bass_drums = four_four - counts["no_bass"] - counts["no_drums"]
    return {
        "files_seen": seen,
        "skipped": counts["skipped"],
        "midi_files": midi,
        "failed": counts["failed"],
        "parsed": parsed,
        "four_four": four_four,
        "bass_and_drums": bass_drums,
        "with_loops": counts["used"],
        "loops": int(n_loops),
        "rejected": {rule: counts[rule] for rule in REJECTION_RULES},
        "split_loops": {s: int(split_loops.get(s, 0)) for s in SPLITS},
    }


def funnel_rows(funnel: dict) -> list[tuple[str, int, int | None]]:
    """(stage, this run, the paper's LMD-full figure or None) for each row of the funnel."""
    from .paper import CORPUS

    return [
        ("files seen", funnel["files_seen"], CORPUS["files"]),
        ("MIDI files", funnel["midi_files"], None),
        ("parsed", funnel["parsed"], None),
        ("4/4", funnel["four_four"], CORPUS["files_4_4"]),
        ("with bass and drums", funnel["bass_and_drums"], None),
        ("with loops", funnel["with_loops"], None),
        ("loops", funnel["loops"], CORPUS["loops"]),
    ] + [(f"  {s} loops", funnel["split_loops"][s], CORPUS[s]) for s in SPLITS]


def funnel_table(funnel: dict):
    """The funnel as a DataFrame with the paper's LMD-full figures beside ours (for the book)."""
    import pandas as pd

    rows = funnel_rows(funnel)
    return pd.DataFrame(
        {
            "stage": [r[0].strip() for r in rows],
            "this run": [r[1] for r in rows],
            "paper (LMD-full)": pd.array([r[2] for r in rows], dtype="Int64"),
        }
    )


def format_funnel(funnel: dict) -> str:
    """The funnel as a small text table, beside the paper's LMD-full figures where it gives them."""
    rows = funnel_rows(funnel)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':<{width}}  {'this run':>10}  {'paper (LMD-full)':>16}"]
    for name, value, paper in rows:
        lines.append(f"{name:<{width}}  {value:>10,}  {'' if paper is None else f'{paper:,}':>16}")
    notes = []
    if funnel["skipped"]:
        notes.append(f"{funnel['skipped']:,} skipped (not MIDI file names)")
    if funnel["failed"]:
        notes.append(f"{funnel['failed']:,} failed (see failures.csv)")
    rejected = ", ".join(f"{k} {v:,}" for k, v in funnel["rejected"].items() if v)
    if rejected:
        notes.append(f"rejected: {rejected}")
    return "\n".join(lines + notes)


# ---------------------------------------------------------------------------------------------------------
# worker processes
#
# Each worker is a fresh ``python -c`` process (not multiprocessing): it does not depend on the caller's
# ``__main__`` or on forking a process that may hold threads, and it can be killed at any moment. The parent
# talks to it over two pipes with length-prefixed pickles: settings first, then ``(index, path, data)`` tasks;
# the worker answers ``("ready",)`` once, then ``(index, FileResult)`` per task, then ``("peak_rss", bytes)``.

_WORKER_CODE = (
    "import sys; from loopkit.extract import _worker_entry; _worker_entry(int(sys.argv[1]), int(sys.argv[2]))"
)
_FRAME = struct.Struct("<Q")


def _write_message(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_FRAME.pack(len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_message(fd: int):
    (n,) = _FRAME.unpack(_read_exactly(fd, _FRAME.size))
    return pickle.loads(_read_exactly(fd, n))


def peak_rss() -> int:
    """Peak resident memory of this process in bytes (``VmHWM``; ``ru_maxrss`` would include the memory of
    the process that started it, which Linux carries across ``exec``)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphans after a SIGKILL of the run)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_entry(task_fd: int, result_fd: int) -> None:
    """Main loop of a worker process (see the comment above)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends its workers
    import symusic  # noqa: F401  (imported before "ready", so no file's time limit pays for it)

    try:
        settings, crash_on = _read_message(task_fd)
        _write_message(result_fd, ("ready",))
        while True:
            msg = _read_message(task_fd)
            if msg is None:
                break
            index, path, data = msg
            if data is None:
                try:
                    data = read_path(path, settings.max_file_bytes)
                except (OSError, ValueError) as exc:
                    _write_message(result_fd, (index, FileResult("failed", reason=f"cannot read: {one_line(exc)}")))
                    continue
            if crash_on and hashlib.md5(data).hexdigest() in crash_on:
                os.kill(os.getpid(), signal.SIGSEGV)
            _write_message(result_fd, (index, _guarded(data, settings)))
        _write_message(result_fd, ("peak_rss", peak_rss()))
    except (EOFError, BrokenPipeError):
        pass  # the parent went away


class _Task(NamedTuple):
    index: int
    source: str
    path: str | None
    data: bytes | None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else len(self.path or "")


#: a second task is queued to a busy worker only when it is this small (it then waits in the pipe's buffer)
_PIPELINE_BYTES = 16 * 1024
#: seconds a new worker process may take to start (import numpy and symusic)
_START_TIMEOUT_S = 120.0


class WorkerStartError(RuntimeError):
    """A worker process could not be started (its own error is printed on stderr)."""


class _Worker:
    def __init__(self, settings: ExtractionSettings, crash_on: frozenset):
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        for fd in (task_w, result_w):
            try:
                import fcntl

                fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ: 1 MiB buffers where the system allows
            except (OSError, ImportError):
                pass
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, str(task_r), str(result_w)],
            pass_fds=(task_r, result_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        os.close(task_r)
        os.close(result_w)
        self.task_fd, self.result_fd = task_w, result_r
        self.ready = False
        self.started = time.monotonic()
        self.queue: deque[_Task] = deque()
        self.since = 0.0  # when the task at the head of the queue started
        _write_message(self.task_fd, (settings, crash_on))

    def can_take(self, task: _Task) -> bool:
        if not self.ready:
            return False
        return not self.queue or (len(self.queue) == 1 and task.size <= _PIPELINE_BYTES)

    def send(self, task: _Task) -> None:
        if not self.queue:
            self.since = time.monotonic()
        self.queue.append(task)
        _write_message(self.task_fd, (task.index, task.path, task.data))

    def close(self, kill: bool = True) -> None:
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.task_fd, self.result_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.task_fd = self.result_fd = -1


def _death_reason(proc) -> str:
    try:
        code = proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if code is not None and code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit status {code}"
    return f"the worker process died while reading this file ({how}); the parser crashed on it"


# ---------------------------------------------------------------------------------------------------------
# the run


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _settings_document(settings: ExtractionSettings, sources: list[str]) -> dict:
    from . import __version__

    return {"settings": settings.to_dict(), "sources": sources, "loopkit_version": __version__}


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def _ours(name: str) -> bool:
    return (
        name in FILES or name in (MANIFEST, JOURNAL, JOURNAL + ".new") or name.endswith(".partial") or ".tmp-" in name
    )


def _clear(out: Path) -> None:
    for p in out.iterdir():
        if _ours(p.name) and p.is_file():
            p.unlink()


def _prepare(out: Path, document: dict, overwrite: bool) -> str:
    """Decide what to do with the output folder: "complete", "resume" or "start"."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file, not a folder")
    if not out.exists():
        return "start"
    header = {"format": JOURNAL_FORMAT, **document}
    if (out / MANIFEST).exists():
        try:
            old = json.loads((out / "settings.json").read_text())
        except (OSError, ValueError):
            old = {}
        if old == document and not overwrite:
            (out / JOURNAL).unlink(missing_ok=True)
            return "complete"
        if not overwrite:
            diff = "; ".join(_differences(old, document)[:4])
            raise ValueError(
                f"{out} already holds a data set extracted with other settings or sources ({diff}): "
                "choose another --out or pass --overwrite"
            )
        _clear(out)
        return "start"
    if (out / JOURNAL).exists():
        old = Journal.read_header(out / JOURNAL)
        if old == header and not overwrite:
            return "resume"
        if not overwrite:
            diff = "; ".join(_differences(old or {}, header)[:4])
            raise ValueError(
                f"{out} holds an unfinished extraction with other settings or sources ({diff}): run that "
                "command again to finish it, or pass --overwrite to start this one"
            )
        _clear(out)
        return "start"
    if any(not _ours(p.name) for p in out.iterdir()):
        raise ValueError(f"{out} is not empty and holds no loopkit data set: choose a new or empty folder")
    _clear(out)
    return "start"


def extract(
    sources: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    settings: ExtractionSettings = ExtractionSettings(),
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    report: dict | None = None,
) -> Loops:
    """Extract the paper's loop data set from MIDI folders, files and archives into the folder ``out``.

    Parameters
    ----------
    sources : folders (walked in sorted order), MIDI files, .tar/.tar.gz/.tgz/.zip archives (read in place)
    out : the data set folder (see ``loopkit.dataset``); created if needed
    settings : every setting that decides the result (stored in settings.json)
    workers : worker processes; None uses every core this process may run on; 0 works in this process
        (no per-file time limit: for debugging and profiling only)
    progress : show a progress bar (on stderr)
    overwrite : replace a data set or an unfinished run with other settings in ``out``
    report : if a dict is given, it is filled with figures of the run (files, seconds, peak memory)

    Returns
    -------
    The data set, loaded with its packed rolls memory-mapped (``load_loops(out, mmap=True)``). The funnel
    (files seen -> MIDI files -> parsed -> 4/4 -> with bass and drums -> with loops -> loops) is in
    ``.funnel`` and funnel.json; ``format_funnel`` prints it.

    Running the same call again after an interruption continues it; on a finished data set with the same
    settings and sources it returns at once.
    """
    started = time.perf_counter()
    sources = check_sources(sources)
    out = Path(out)
    workers = _default_workers() if workers is None else int(workers)
    if workers < 0:
        raise ValueError(f"workers must be 0 or more, got {workers}")
    real_out = os.path.realpath(out)
    for src in sources:
        real_src = os.path.realpath(src)
        if os.path.isdir(real_src) and (real_out + os.sep).startswith(real_src.rstrip(os.sep) + os.sep):
            raise ValueError(f"--out {out} lies inside the source folder {src}: choose a folder outside it")
    document = _settings_document(settings, sources)
    state = _prepare(out, document, overwrite)
    if report is not None:
        report.update(state=state, workers=workers)
    if state == "complete":
        return load_loops(out, mmap=True)
    out.mkdir(parents=True, exist_ok=True)
    header = {"format": JOURNAL_FORMAT, **document}
    ledger = _Ledger()
    if state == "start":
        journal = Journal.create(out / JOURNAL, header)
    else:

        def visit(offset: int, payload: bytes) -> None:
            index, source, result = _decode(payload)
            ledger.add(index, offset, source, result)

        journal = Journal.open_existing(out / JOURNAL, visit)
    resumed = int(np.count_nonzero(ledger.offset >= 0))

    crash_on = frozenset(x for x in os.environ.get(CRASH_HOOK_ENV, "").split(",") if x)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total_bytes(sources),
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc="extract",
            dynamic_ncols=True,
            file=sys.stderr,
        )
    try:
        run = _Run(sources, settings, journal, ledger, bar, crash_on)
        if workers == 0:
            run.in_process()
        else:
            run.with_workers(workers)
        n_items = run.n_items
        if bar is not None:
            bar.set_postfix_str("writing the data set", refresh=True)
        funnel = _write_dataset(out, journal, ledger, n_items, settings, document)
    finally:
        if bar is not None:
            bar.close()
        journal.close()
    (out / JOURNAL).unlink(missing_ok=True)
    if report is not None:
        report.update(
            files=n_items,
            files_processed=n_items - resumed,
            resumed_files=resumed,
            seconds=time.perf_counter() - started,
            peak_rss_parent=peak_rss(),
            peak_rss_worker=max(run.worker_rss, default=0),
            worker_restarts=run.restarts,
            funnel=funnel,
        )
    return load_loops(out, mmap=True)


class _Run:
    """One pass over the inputs: hands files to workers and journals every result."""

    def __init__(self, sources, settings, journal, ledger, bar, crash_on):
        self.settings = settings
        self.journal = journal
        self.ledger = ledger
        self.bar = bar
        self.crash_on = crash_on
        self.n_items = 0
        self.worker_rss: list[int] = []
        self.restarts = 0
        self._counts = Counter()
        self._last_postfix = 0.0
        self._items = iter_inputs(sources, settings.max_file_bytes, on_bytes=self._advance)

    def _advance(self, n: int) -> None:
        if self.bar is not None and n:
            self.bar.update(n)

    def _record(self, index: int, source: str, result: FileResult) -> None:
        offset = self.journal.append(_encode(index, source, result))
        self.ledger.add(index, offset, source, result)
        self._counts[result.status] += 1
        self._counts["loops"] += result.n_loops
        now = time.monotonic()
        if self.bar is not None and now - self._last_postfix > 0.5:
            c = self._counts
            self.bar.set_postfix_str(
                f"files={sum(c[s] for s in _STATUS):,} loops={c['loops']:,} failed={c['failed']:,}", refresh=False
            )
            self._last_postfix = now

    def _next_task(self) -> _Task | None:
        """The next input file that needs a worker; records the others (skipped, failed, done) on the way."""
        for item in self._items:
            index = self.n_items
            self.n_items += 1
            if self.ledger.done(index):
                self.ledger.check_source(index, item.source)
                continue
            if item.skip is not None:
                self._record(index, item.source, FileResult("skipped", reason=item.skip))
            elif item.error is not None:
                self._record(index, item.source, FileResult("failed", reason=item.error))
            elif item.read is not None:
                try:
                    data = item.read()
                except Exception as exc:  # zlib, CRC, I/O errors of one archive member
                    self._record(index, item.source, FileResult("failed", reason=f"cannot read: {one_line(exc)}"))
                    continue
                return _Task(index, item.source, None, data)
            else:
                return _Task(index, item.source, item.path, None)
        return None

    def in_process(self) -> None:
        while (task := self._next_task()) is not None:
            if task.data is None:
                result = process_path(task.path, self.settings)
            else:
                result = _guarded(task.data, self.settings)
            self._record(task.index, task.source, result)

    def with_workers(self, n: int) -> None:
        import select

        limit = self.settings.time_limit_s
        pool = [_Worker(self.settings, self.crash_on) for _ in range(n)]
        retry: deque[_Task] = deque()
        pending: _Task | None = None
        exhausted = False
        try:
            while True:
                # hand out work: tasks of a dead worker first, in input order, then new ones
                for w in pool:
                    while True:
                        if pending is None:
                            if retry:
                                pending = retry.popleft()
                            elif not exhausted:
                                pending = self._next_task()
                                exhausted = pending is None
                        if pending is None or not w.can_take(pending):
                            break
                        task, pending = pending, None
                        try:
                            w.send(task)
                        except OSError:  # the worker died: its results are read, and it is replaced, below
                            break
                if pending is None and not retry and exhausted and not any(w.queue for w in pool):
                    break
                now = time.monotonic()
                deadlines = [w.since + limit for w in pool if w.queue]
                deadlines += [w.started + _START_TIMEOUT_S for w in pool if not w.ready]
                timeout = max(0.0, min(deadlines, default=now + 1.0) - now)
                poller = select.poll()
                for w in pool:
                    poller.register(w.result_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
                readable = {fd for fd, _ in poller.poll(timeout * 1000)}
                for i, w in enumerate(pool):
                    if w.result_fd in readable:
                        pool[i] = self._receive(w, retry)
                now = time.monotonic()
                for i, w in enumerate(pool):
                    if not w.ready and now - w.started > _START_TIMEOUT_S:
                        raise WorkerStartError(f"a worker process did not start within {_START_TIMEOUT_S:g} s")
                    if w.queue and now - w.since > limit:
                        task = w.queue.popleft()
                        retry.extendleft(reversed(w.queue))
                        w.queue.clear()
                        w.close()
                        self._record(
                            task.index,
                            task.source,
                            FileResult(
                                "failed",
                                reason=f"timed out: took longer than the per-file time limit of {limit:g} s "
                                "(its worker process was killed)",
                            ),
                        )
                        pool[i] = _Worker(self.settings, self.crash_on)
                        self.restarts += 1
            for w in pool:
                try:
                    _write_message(w.task_fd, None)
                except OSError:
                    pass
            for w in pool:
                try:
                    msg = _read_message(w.result_fd)
                    if isinstance(msg, tuple) and msg[0] == "peak_rss":
                        self.worker_rss.append(int(msg[1]))
                except (EOFError, OSError):
                    pass
                w.close(kill=False)
        finally:
            for w in pool:
                if w.task_fd >= 0:
                    w.close()

    def _receive(self, w: _Worker, retry: deque) -> _Worker:
        """Take one message from a worker that has something to say; replace the worker if it died."""
        try:
            msg = _read_message(w.result_fd)
        except (EOFError, OSError):
            if not w.ready:
                code = w.proc.wait()
                raise WorkerStartError(
                    f"a worker process failed to start (exit status {code}); its error is printed above"
                ) from None
            reason = _death_reason(w.proc)
            w.close()
            if w.queue:
                task = w.queue.popleft()
                retry.extendleft(reversed(w.queue))
                self._record(task.index, task.source, FileResult("failed", reason=reason))
            self.restarts += 1
            return _Worker(self.settings, self.crash_on)
        if msg == ("ready",):
            w.ready = True
            return w
        index, result = msg
        task = w.queue.popleft()
        if index != task.index:
            raise RuntimeError(f"internal error: a worker answered for file {index}, expected {task.index}")
        self._record(task.index, task.source, result)
        w.since = time.monotonic()
        return w


# ---------------------------------------------------------------------------------------------------------
# writing the data set


def _write_dataset(out: Path, journal: Journal, ledger: _Ledger, n_items: int, settings, document) -> dict:
    """Stream the journal, in input order, into the data set files; returns the funnel."""
    missing = np.nonzero(ledger.offset[:n_items] < 0)[0]
    if len(missing):
        raise RuntimeError(f"internal error: {len(missing)} input files have no result (first: #{missing[0]})")
    status = ledger.status[:n_items]
    with_split = np.nonzero(np.isin(status, [_STATUS.index("used"), _STATUS.index("rejected")]))[0]
    md5_hex = [ledger.md5[i].tobytes().hex() for i in with_split]
    splits = assign_splits(md5_hex, ledger.n_loops[with_split].tolist(), settings.split_fractions)
    del md5_hex
    split_code = np.full(n_items, -1, dtype=np.int8)
    split_code[with_split] = [SPLITS.index(s) for s in splits]
    del splits
    n_loops = int(ledger.n_loops[:n_items].sum())
    split_loops = {s: int(ledger.n_loops[:n_items][split_code == k].sum()) for k, s in enumerate(SPLITS)}
    funnel = funnel_from_counts(ledger.counts(n_items), n_loops, split_loops)

    writer = DatasetWriter(out, n_loops)
    try:
        for i in range(n_items):
            _, source, r = _decode(journal.read_at(int(ledger.offset[i])))
            split = SPLITS[split_code[i]] if split_code[i] >= 0 else ""
            if r.n_loops:
                packed = np.frombuffer(r.packed, dtype=np.uint8)
                writer.add_loops(packed, source, r.md5, r.start_bars, r.bpms, split)
            writer.add_file(source, r.md5, r.status, r.rule, r.reason, r.n_loops, split)
        writer.finish(document, funnel)
    except BaseException:
        writer.discard()
        raise
    return funnel
