"""What makes ``loopkit extract`` resumable: a journal of per-file results (length-prefixed, CRC-checked records),
the ledger that indexes it, and the state of the output folder (complete, resume or start).

The parent process of an extraction, the only writer, appends one record per input file to ``.extract-journal``
in the output folder. Running the same command again after any interruption, even SIGKILL, drops a torn last
record, skips the files already journaled and ends with the bytes an uninterrupted run writes: the data set is
written at the end, streamed from the journal in input order (``loopkit.data.extract``).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from loopkit.atomic import remove_temporaries, write_bytes
from loopkit.data.inputs import source_bytes
from loopkit.data.dataset import FILE_STATUSES, FILES, JOURNAL, MANIFEST, REJECTION_RULES, FileResult, damaged_files
from loopkit.errors import LoopkitError, differences
from loopkit.runlock import LOCK_FILE

JOURNAL_FORMAT = "loopkit-extract-journal-1"


class Journal:
    """An append-only file of records, written by one process: ``[length u32][crc32 u32][payload]`` each.

    The first record is the run header (JSON: settings, sources, version). ``open_existing`` drops a torn or
    corrupt tail (what a kill in the middle of a write leaves) by truncating the file after the last good record.
    """

    HEAD = struct.Struct("<II")

    def __init__(self, path: Path, fd: int, size: int):
        self.path = path
        self._fd = fd
        self.size = size
        self._last_sync = time.monotonic()

    @classmethod
    def create(cls, path: Path, header: dict) -> "Journal":
        payload = json.dumps(header, sort_keys=True).encode()
        write_bytes(path, cls.HEAD.pack(len(payload), zlib.crc32(payload)) + payload)
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


# ---------------------------------------------------------------------------------------------------------
# one record: an input file's result

_RULES = ("",) + REJECTION_RULES


def encode_record(index: int, source: str, r: FileResult) -> bytes:
    """A journal payload: ``[length u32][JSON metadata][packed loops]``.

    The JSON is ASCII (``\\uXXXX`` escapes), so a file name that is not valid UTF-8, which Python holds with
    surrogate escapes, is journaled as it is and decoded back to the same string."""
    fields = [index, source, r.status, r.rule, r.reason, r.md5, list(r.start_bars), list(r.bpms)]
    if r.recovered:
        fields.append(True)
    meta = json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return struct.pack("<I", len(meta)) + meta + r.packed


def decode_record(payload: bytes) -> tuple[int, str, FileResult]:
    """``(index, source, result)`` of a payload written by ``encode_record``."""
    (n,) = struct.unpack_from("<I", payload)
    index, source, status, rule, reason, md5, bars, bpms, *recovered = json.loads(payload[4 : 4 + n])
    return index, source, FileResult(status, rule, reason, md5, tuple(bars), tuple(bpms), payload[4 + n :],
                                     bool(recovered and recovered[0]))  # fmt: skip


def _source_hash(source: str) -> int:
    return int.from_bytes(hashlib.blake2b(source_bytes(source), digest_size=8).digest(), "little") | 1


class Ledger:
    """Per-input-file bookkeeping of a run, in flat arrays (about 40 bytes a file): where each file's record is
    in the journal, its status, rule, number of loops, MD5 and whether the tolerant reader recovered it."""

    def __init__(self):
        self.n = 0
        self.offset = np.full(1024, -1, dtype=np.int64)
        self.source = np.zeros(1024, dtype=np.uint64)
        self.status = np.zeros(1024, dtype=np.int8)
        self.rule = np.zeros(1024, dtype=np.int8)
        self.n_loops = np.zeros(1024, dtype=np.int32)
        self.md5 = np.zeros((1024, 16), dtype=np.uint8)
        self.recovered = np.zeros(1024, dtype=bool)

    def _grow(self, index: int) -> None:
        size = len(self.offset)
        if index < size:
            return
        new = max(2 * size, index + 1)
        for name in ("offset", "source", "status", "rule", "n_loops", "md5", "recovered"):
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
        self.status[index] = FILE_STATUSES.index(r.status)
        self.rule[index] = _RULES.index(r.rule)
        self.n_loops[index] = r.n_loops
        self.recovered[index] = r.recovered
        if r.md5:
            self.md5[index] = np.frombuffer(bytes.fromhex(r.md5), dtype=np.uint8)
        self.n = max(self.n, index + 1)

    def done(self, index: int) -> bool:
        return index < len(self.offset) and self.offset[index] >= 0

    def check_source(self, index: int, source: str) -> None:
        if self.source[index] != _source_hash(source):
            raise LoopkitError(
                f"the inputs changed since the interrupted run (input file {index + 1} is now {source}); "
                "start again with overwrite"
            )

    def counts(self, n_items: int) -> Counter:
        """How many of the first ``n_items`` files have each status, each rejection rule, and how many the
        tolerant reader recovered (``"recovered"``)."""
        status = self.status[:n_items]
        rule = self.rule[:n_items]
        c = Counter()
        for s, name in enumerate(FILE_STATUSES):
            c[name] = int(np.count_nonzero(status == s))
        for k in range(1, len(_RULES)):
            c[_RULES[k]] = int(np.count_nonzero((status == FILE_STATUSES.index("rejected")) & (rule == k)))
        c["recovered"] = int(np.count_nonzero(self.recovered[:n_items]))
        return c


# ---------------------------------------------------------------------------------------------------------
# the output folder


def is_ours(name: str) -> bool:
    """Whether a file name in an output folder is one extraction writes (data set files, journal, temporaries)."""
    return name in FILES or name in (MANIFEST, JOURNAL) or name.endswith(".partial") or ".tmp-" in name


def clear_output(out: Path) -> None:
    """Delete the files extraction wrote in ``out`` (nothing else)."""
    for p in out.iterdir():
        if is_ours(p.name) and p.is_file():
            p.unlink()


def prepare_output(out: Path, document: dict, overwrite: bool) -> str:
    """Decide what to do with the output folder: "complete", "resume", "start" (clearing it for a start) or
    "rebuild" (a start over a damaged data set).

    ``document`` is what settings.json will hold (settings, sources, version): a finished data set or an
    unfinished journal with another document is refused unless ``overwrite``. A finished data set with this
    document whose files no longer match its manifest (``loopkit.data.dataset.damaged_files``) is extracted again
    ("rebuild"). Temporaries of a run killed while writing are removed in every case.
    """
    if out.exists() and not out.is_dir():
        raise LoopkitError(f"the output folder {out} is a file, not a folder")
    if not out.exists():
        return "start"
    remove_temporaries(out, (".partial",))  # of loopkit.atomic and of DatasetWriter, left by a kill mid-write
    header = {"format": JOURNAL_FORMAT, **document}
    if (out / MANIFEST).exists():
        try:
            old = json.loads((out / "settings.json").read_text())
        except (OSError, ValueError):
            old = {}
        damaged = damaged_files(out) if not overwrite else []
        if old == document and not overwrite and not damaged:
            (out / JOURNAL).unlink(missing_ok=True)
            return "complete"
        if not overwrite and old != document:
            diff = "; ".join(differences(old, document)[:4])
            state = f"a damaged data set ({damaged[0]})" if damaged else "a data set"
            raise LoopkitError(
                f"{out} already holds {state} extracted with other settings or sources ({diff}): "
                "choose another output folder or overwrite it"
            )
        clear_output(out)  # overwrite, or a damaged data set of these very settings: extract it again
        return "rebuild" if damaged else "start"
    if (out / JOURNAL).exists():
        old = Journal.read_header(out / JOURNAL)
        if old == header and not overwrite:
            return "resume"
        if not overwrite:
            diff = "; ".join(differences(old or {}, header)[:4])
            raise LoopkitError(
                f"{out} holds an unfinished extraction with other settings or sources ({diff}): run that "
                "extraction again to finish it, or overwrite it to start this one"
            )
        clear_output(out)
        return "start"
    if any(not is_ours(p.name) and p.name != LOCK_FILE for p in out.iterdir()):  # the lock: this run's
        raise LoopkitError(f"{out} is not empty and holds no loopkit data set: choose a new or empty folder")
    clear_output(out)
    return "start"
