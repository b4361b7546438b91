"""The loop data set on disk (Data Preprocess): bit-packed loop rolls, their metadata, splits and provenance.

A data set is one directory::

    rolls.npy       (n, 1488) uint8: each (128, 93) loop, row-major, np.packbits (big bit order)
    loops.csv       one row per loop: index, source, md5, start_bar, bpm, split
    files.csv       one row per input file: source, md5, status, rule, reason, n_loops, split
                    (a source name that is not valid UTF-8 is written with its odd bytes as \\xNN; a field
                    holding a comma, a quote, a line feed or a carriage return is quoted: ``csv_line``)
                    status is "used" (gave loops), "rejected" (by the named rule), "failed" (with a reason)
                    or "skipped" (not a MIDI file name)
    failures.csv    source, reason: the failed files (a subset of files.csv)
    settings.json   the extraction settings, the sources and the loopkit version
    funnel.json     files seen -> parsed -> 4/4 -> with bass and drums -> with loops -> loops
    manifest.json   written last: sizes and SHA-256 of the files above (a data set without it is incomplete);
                    ``load_loops`` checks them, so a damaged file is named instead of trained on

Splits are by source file, never by loop (loops of one song are near-copies): see ``assign_splits``.
LMD-full's 150,750 loops take 224 MB packed, on disk and in memory; ``Loops.rolls`` unpacks on indexing.
``DatasetWriter`` writes a data set front to back (what ``loopkit extract`` uses, so memory does not grow with
the corpus); ``write_dataset`` is its in-memory front end; both write the same bytes for the same rows.
pandas is imported only by the functions that need it (extraction workers never load it).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, NamedTuple, Sequence

import numpy as np

from loopkit.atomic import file_hash, naming_file, write_bytes
from loopkit.data.inputs import readable_source
from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import DEFAULT_BPM, LOOP_STEPS, N_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

ROLL_SHAPE = (LOOP_STEPS, N_COLUMNS)
ROLL_CELLS = LOOP_STEPS * N_COLUMNS  # 11,904
PACKED_BYTES = ROLL_CELLS // 8  # 1,488
SPLITS = ("train", "valid", "test")
DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)

FILES = ("rolls.npy", "loops.csv", "files.csv", "failures.csv", "settings.json", "funnel.json")
MANIFEST = "manifest.json"
#: what an unfinished extraction keeps in the folder (``loopkit.data.journal``)
JOURNAL = ".extract-journal"
FORMAT = "loopkit-loops-1"
LOOP_COLUMNS = ["index", "source", "md5", "start_bar", "bpm", "split"]
FILE_COLUMNS = ["source", "md5", "status", "rule", "reason", "n_loops", "split"]
FAILURE_COLUMNS = ["source", "reason"]
#: What extraction made of an input file (files.csv's ``status``).
FILE_STATUSES = ("used", "rejected", "failed", "skipped")
#: The rules a rejected file names (files.csv's ``rule``), in the order ``loopkit.data.extract`` checks them.
REJECTION_RULES = ("not_4_4", "no_time_signature", "no_bass", "no_drums", "no_loops")


class FileResult(NamedTuple):
    """What extraction made of one input file: a row of files.csv plus its loops."""

    status: str  # one of FILE_STATUSES
    rule: str = ""  # one of REJECTION_RULES when rejected
    reason: str = ""
    md5: str = ""
    start_bars: tuple[int, ...] = ()
    bpms: tuple[float, ...] = ()
    packed: bytes = b""  # (n_loops, 1488) uint8, row-major
    recovered: bool = False  # read by the tolerant reader after the parser refused it (``ExtractionSettings``)

    @property
    def n_loops(self) -> int:
        return len(self.start_bars)


def _empty_frame(columns):
    import pandas as pd  # imported where needed: extraction workers never load pandas

    return pd.DataFrame(columns=columns)


def pack_rolls(rolls: np.ndarray) -> np.ndarray:
    """``(b, 128, 93)`` bool -> ``(b, 1488)`` uint8 (np.packbits, big bit order, row-major)."""
    rolls = np.asarray(rolls, dtype=bool)
    if rolls.shape[1:] != ROLL_SHAPE:
        raise LoopkitError(f"expected loops of shape (n, {LOOP_STEPS}, {N_COLUMNS}), got {rolls.shape}")
    return np.packbits(rolls.reshape(len(rolls), ROLL_CELLS), axis=1)


def unpack_rolls(packed: np.ndarray) -> np.ndarray:
    """``(b, 1488)`` uint8 -> ``(b, 128, 93)`` bool; inverse of ``pack_rolls``."""
    packed = np.asarray(packed, dtype=np.uint8)
    return np.unpackbits(packed, axis=-1, count=ROLL_CELLS).astype(bool).reshape(*packed.shape[:-1], *ROLL_SHAPE)


class PackedRolls:
    """An ``(n, 128, 93)`` bool array stored bit-packed; indexing unpacks only what it returns.

    ``rolls[i]`` is one ``(128, 93)`` loop; ``rolls[idx]`` with a slice, an index array or a boolean mask is
    ``(k, 128, 93)``; ``np.asarray(rolls)`` unpacks everything (1 byte a cell: 1.8 GB for LMD, so prefer
    batches). ``.packed`` is the ``(n, 1488)`` uint8 storage, e.g. to move the whole set to a GPU.
    """

    dtype = np.dtype(bool)
    ndim = 3

    def __init__(self, packed: np.ndarray):
        packed = np.asarray(packed, dtype=np.uint8)
        if packed.ndim != 2 or packed.shape[1] != PACKED_BYTES:
            raise LoopkitError(f"packed rolls must be (n, {PACKED_BYTES}) uint8, got {packed.shape}")
        self.packed = packed

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.packed), *ROLL_SHAPE)

    @property
    def nbytes(self) -> int:
        return self.packed.nbytes

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, index):
        if isinstance(index, tuple):  # rolls[i, t, p]: unpack the loops named by the first index only
            head, rest = index[0], index[1:]
            out = unpack_rolls(self.packed[head])
            scalar = np.ndim(head) == 0 and not isinstance(head, slice)
            return out[rest] if scalar else out[(slice(None), *rest)]
        return unpack_rolls(self.packed[index])

    def __array__(self, dtype=None, copy=None):
        out = unpack_rolls(self.packed)
        return out if dtype is None else out.astype(dtype)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"PackedRolls(n={len(self)}, shape={self.shape}, {self.nbytes / 1e6:.1f} MB packed)"


@dataclass
class Loops:
    """A loaded loop data set (see the module docstring); ``load_loops`` builds it."""

    rolls: PackedRolls
    meta: pd.DataFrame
    failures: pd.DataFrame = field(default_factory=lambda: _empty_frame(FAILURE_COLUMNS))
    files: pd.DataFrame = field(default_factory=lambda: _empty_frame(FILE_COLUMNS))
    settings: dict = field(default_factory=dict)
    funnel: dict = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.rolls)

    def split(self, name: str) -> "Loops":
        """The loops of one split ("train", "valid" or "test"), as a new ``Loops``."""
        if name not in SPLITS:
            raise LoopkitError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
        mask = (self.meta["split"] == name).to_numpy()
        return Loops(
            rolls=PackedRolls(self.rolls.packed[mask]),
            meta=self.meta[mask].reset_index(drop=True),
            failures=self.failures,
            files=self.files,
            settings=self.settings,
            funnel=self.funnel,
            path=self.path,
        )

    @property
    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) over the packed rolls and their split labels."""
        h = hashlib.sha256(np.ascontiguousarray(self.rolls.packed).tobytes())
        h.update("\n".join(self.meta["split"].astype(str)).encode())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        counts = self.meta["split"].value_counts().to_dict() if len(self.meta) else {}
        where = f" from {self.path}" if self.path else ""
        return f"Loops(n={len(self)}, splits={counts}, failures={len(self.failures)}{where})"


def check_split_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """The train, valid, test shares of loops as floats, checked: three non-negative numbers summing to 1."""
    f = tuple(float(x) for x in fractions)
    if len(f) != 3 or abs(sum(f) - 1) > 1e-9 or min(f) < 0:
        raise LoopkitError(f"split fractions must be three non-negative numbers summing to 1, got {f}")
    return f


def family_key(source: str, pattern: str, own: str) -> str:
    """The split group of a file: ``"family:" + `` the first group of ``pattern`` (the whole match if it has no
    group) searched in its source name, or ``own`` (its MD5) when the pattern is empty or does not match."""
    m = re.search(pattern, source) if pattern else None
    if m is None:
        return own
    return "family:" + (m.group(1) if m.re.groups else m.group(0))


def assign_splits(
    groups: Sequence[str], weights: Sequence[int], fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS
) -> list[str]:
    """Deterministic split of source files, balanced on loop counts.

    Files are ordered by the SHA-256 of their group key (the file's MD5, so identical files share a split and
    the order does not depend on file names or input order), then filled into train until it holds
    ``fractions[0]`` of all loops, then valid, then test. With three or more files carrying loops, each split
    receives at least one. Returns one split name per entry of ``groups``.

    Parameters
    ----------
    groups : group key of each file (its MD5, or its family's key: ``family_key``)
    weights : number of loops of each file (files with 0 loops get the split their order gives)
    fractions : train, valid, test shares of loops
    """
    fractions = check_split_fractions(fractions)
    total_by_group: dict[str, int] = {}
    for g, w in zip(groups, weights):
        total_by_group[g] = total_by_group.get(g, 0) + int(w)
    order = sorted(total_by_group, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    total = sum(total_by_group.values())
    bounds = np.cumsum(fractions) * total
    carrying = [g for g in order if total_by_group[g] > 0]

    result: dict[str, str] = {}
    done = 0
    for g in order:
        w = total_by_group[g]
        # the split in which this group's first loop falls
        k = int(np.searchsorted(bounds, done + 0.5 * (w > 0), side="right")) if total else 0
        result[g] = SPLITS[min(k, 2)]
        done += w
    if len(carrying) >= 3:
        # keep every split non-empty: move the smallest file of the split that has the most files
        rank = {g: i for i, g in enumerate(order)}
        for target in ("test", "valid", "train"):
            if any(result[g] == target for g in carrying):
                continue
            by_split = {s: [g for g in carrying if result[g] == s] for s in SPLITS}
            donor_split = max(SPLITS, key=lambda s: len(by_split[s]))
            smallest = min(by_split[donor_split], key=lambda g: (total_by_group[g], rank[g]))
            result[smallest] = target
    return [result[g] for g in groups]


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _npy_header(n: int) -> bytes:
    """The .npy header of an ``(n, 1488)`` uint8 array, byte for byte what ``np.save`` writes."""
    buf = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(np.uint8))
    header = {"descr": descr, "fortran_order": False, "shape": (n, PACKED_BYTES)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))
    return readable_source(str(value))  # a file name that is not UTF-8: its odd bytes as \xNN


class _HashedFile:
    """A binary file written once, front to back, hashing what it writes."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.partial")
        self.fh = open(self.tmp, "wb")
        self.sha = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> None:
        try:
            self.fh.write(data)
        except OSError as exc:  # a full disk: named as the file meant (the temporary goes at the next run)
            raise naming_file(exc, self.path) from None
        self.sha.update(data)
        self.bytes += len(data)

    def close(self) -> None:
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
        except OSError as exc:
            raise naming_file(exc, self.path) from None
        finally:
            with contextlib.suppress(OSError):
                self.fh.close()

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # what it still buffers may not fit a full disk: it goes anyway
            self.fh.close()
        self.tmp.unlink(missing_ok=True)


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


def csv_line(values: Sequence) -> str:
    """One row of the data set's CSV files: ``csv.writer``'s minimal quoting, line feed ended, except that a field
    holding a carriage return is quoted too (``csv.writer`` with a ``"\\n"`` line ending leaves it bare, and
    every reader then breaks the row there: a file or archive member may be named so)."""
    return ",".join(_quoted(_cell(v)) for v in values) + "\n"


class _CsvFile(_HashedFile):
    def __init__(self, path: Path, columns: Sequence[str]):
        super().__init__(path)
        self._buf = io.StringIO()
        self.row(columns)

    def row(self, values: Sequence) -> None:
        self._buf.write(csv_line(values))
        if self._buf.tell() > 1 << 16:
            self.flush_rows()

    def flush_rows(self) -> None:
        self.write(self._buf.getvalue().encode())
        self._buf.seek(0)
        self._buf.truncate()

    def close(self) -> None:
        self.flush_rows()
        super().close()


class DatasetWriter:
    """Writes a data set directory front to back, so memory does not grow with the number of loops.

    Give the number of loops up front (the .npy header holds it), then ``add_loops`` and ``add_file`` in the
    order the rows should appear, then ``finish``. Files are written under temporary names and renamed into
    place by ``finish``, ``manifest.json`` last, so a data set directory is either complete (it has a
    manifest) or visibly incomplete. ``write_dataset`` is the in-memory front end of this class.
    """

    def __init__(self, path: str | os.PathLike, n_loops: int):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / MANIFEST).unlink(missing_ok=True)  # the set is incomplete until the new manifest lands
        self.n_loops = int(n_loops)
        self._loops_written = 0
        self._rolls = _HashedFile(self.path / "rolls.npy")
        self._rolls.write(_npy_header(self.n_loops))
        self._loops = _CsvFile(self.path / "loops.csv", LOOP_COLUMNS)
        self._files = _CsvFile(self.path / "files.csv", FILE_COLUMNS)
        self._failures = _CsvFile(self.path / "failures.csv", FAILURE_COLUMNS)

    def add_loops(self, packed: np.ndarray, sources, md5s, start_bars, bpms, splits) -> None:
        """Append ``(k, 1488)`` packed loops and their metadata (one value, or one per loop, for each column)."""
        packed = np.ascontiguousarray(packed, dtype=np.uint8).reshape(-1, PACKED_BYTES)
        k = len(packed)
        if self._loops_written + k > self.n_loops:
            raise LoopkitError(f"more loops than the {self.n_loops} announced")

        def column(values):
            if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
                return [values] * k
            values = list(values)
            if len(values) != k:
                raise LoopkitError(f"{k} loops but {len(values)} metadata values")
            return values

        cols = [column(v) for v in (sources, md5s, start_bars, bpms, splits)]
        self._rolls.write(packed.tobytes())
        for i, row in enumerate(zip(*cols)):
            self._loops.row([self._loops_written + i, *row])
        self._loops_written += k

    def add_file(self, source: str, md5: str, status: str, rule: str, reason: str, n_loops: int, split: str) -> None:
        """Append one row of files.csv (and of failures.csv when ``status`` is "failed")."""
        if status not in FILE_STATUSES:
            raise LoopkitError(f"unknown file status {status!r}; known: {', '.join(FILE_STATUSES)}")
        self._files.row([source, md5, status, rule, reason, n_loops, split])
        if status == "failed":
            self._failures.row([source, reason])

    def finish(self, settings: dict, funnel: dict) -> Path:
        """Write settings.json and funnel.json, move everything into place, then write the manifest."""
        if self._loops_written != self.n_loops:
            raise LoopkitError(f"{self._loops_written} loops written but {self.n_loops} announced")
        streams = [self._rolls, self._loops, self._files, self._failures]
        for f in streams:
            f.close()
        manifest = {}
        for f in streams:
            os.replace(f.tmp, f.path)
            manifest[f.path.name] = {"bytes": f.bytes, "sha256": f.sha.hexdigest()}
        for name, obj in (("settings.json", settings), ("funnel.json", funnel)):
            data = _json_bytes(obj)
            write_bytes(self.path / name, data)
            manifest[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        manifest = {name: manifest[name] for name in FILES}
        write_bytes(self.path / MANIFEST, _json_bytes({"format": FORMAT, "files": manifest}))
        return self.path

    def discard(self) -> None:
        """Remove the temporary files of an unfinished write."""
        for f in (self._rolls, self._loops, self._files, self._failures):
            f.discard()


def write_dataset(
    path: str | os.PathLike,
    packed: np.ndarray,
    loops: pd.DataFrame,
    files: pd.DataFrame,
    settings: dict,
    funnel: dict,
) -> Path:
    """Write a data set directory from in-memory tables; every file atomically, ``manifest.json`` last.

    ``loops`` needs the columns ``source, md5, start_bar, bpm, split`` (``index`` is renumbered 0..n-1);
    ``files`` the columns of ``FILE_COLUMNS``. The bytes written depend only on the arguments, and are the
    bytes ``DatasetWriter`` writes for the same rows.
    """
    packed = np.asarray(packed, dtype=np.uint8).reshape(-1, PACKED_BYTES)
    if len(packed) != len(loops):
        raise LoopkitError(f"{len(packed)} rolls but {len(loops)} metadata rows")
    writer = DatasetWriter(path, len(packed))
    try:
        if len(packed):
            writer.add_loops(
                packed, *(loops[c].tolist() for c in ("source", "md5", "start_bar", "bpm", "split"))
            )
        for row in files.reindex(columns=FILE_COLUMNS).fillna("").itertuples(index=False):
            writer.add_file(*row)
        return writer.finish(settings, funnel)
    except BaseException:
        writer.discard()
        raise


def damaged_files(path: str | os.PathLike) -> list[str]:
    """What is wrong with the files of a data set folder that has a manifest, checked against it (each file's size
    and SHA-256, read in 1 MiB chunks), and with its CSV tables (``broken_rows``): one ``"name: what"`` per
    damaged file, empty for an intact data set."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        entries = manifest["files"]
        if manifest.get("format") != FORMAT or not isinstance(entries, dict) or sorted(entries) != sorted(FILES):
            raise ValueError("not a loopkit data set manifest")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{MANIFEST}: unreadable ({type(exc).__name__})"]
    problems = []
    for name in FILES:
        recorded = entries[name]
        try:
            size = (path / name).stat().st_size
        except OSError:
            problems.append(f"{name}: missing")
            continue
        if size != recorded.get("bytes"):
            problems.append(f"{name}: {size:,} bytes, {MANIFEST} records {recorded.get('bytes')!r}")
        elif file_hash(path / name) != recorded.get("sha256"):
            problems.append(f"{name}: its SHA-256 differs from the one {MANIFEST} records")
        elif name in _TABLES and (broken := broken_rows(path / name, _TABLES[name])):
            problems.append(f"{name}: {broken}")
    return problems


_TABLES = {"loops.csv": LOOP_COLUMNS, "files.csv": FILE_COLUMNS, "failures.csv": FAILURE_COLUMNS}


def broken_rows(path: Path, columns: Sequence[str]) -> str | None:
    """Why a CSV table of a data set does not read back as rows of ``columns``, or None. Only a table holding a
    carriage return is parsed (the rest cannot break): before ``csv_line`` quoted them, a carriage return in a
    file name was written bare and split its row in two, so that data set must be extracted again."""
    import csv

    data = path.read_bytes()
    if b"\r" not in data:
        return None
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline="")))
    bad = next((i for i, row in enumerate(rows) if len(row) != len(columns)), None)
    if rows and rows[0] != list(columns):
        return "its header is not the data set's columns"
    if bad is not None:
        return f"row {bad} holds {len(rows[bad])} fields, not {len(columns)} (a line break inside a name left bare)"
    return None


def _sources_of(path: Path) -> str:
    try:
        sources = json.loads((path / "settings.json").read_text())["sources"]
        return " ".join(str(s) for s in sources)
    except (OSError, ValueError, KeyError, TypeError):
        return "SOURCES"


def load_loops(path: str | os.PathLike, mmap: bool = False, verify: bool = True) -> Loops:
    """Load a data set directory written by ``loopkit extract``.

    Parameters
    ----------
    path : the directory
    mmap : memory-map the packed rolls instead of reading them (for data sets larger than memory)
    verify : check every file against the size and SHA-256 that manifest.json records (``damaged_files``), so a
        flipped bit never trains silently: it reads each byte once (about a second for LMD-full's 224 MB of rolls,
        little next to training); False skips it for very large sets. A damaged set is a ``LoopkitError`` that
        names the file and the command that rebuilds it.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no loop data set at {path}: extract one there first (`loopkit extract`)")
    if not (path / MANIFEST).exists():
        unfinished = (path / JOURNAL).exists() or any((path / name).exists() for name in FILES)
        if not unfinished:
            raise FileNotFoundError(f"no loop data set at {path} (no {MANIFEST}): extract one there first "
                                    "(`loopkit extract`), or name the folder that holds one")  # fmt: skip
        raise FileNotFoundError(
            f"the data set at {path} is incomplete (no {MANIFEST}): run the same `loopkit extract` command "
            "again to finish it"
        )
    if verify and (damaged := damaged_files(path)):
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise LoopkitError(
            f"the data set at {path} is damaged: {damaged[0]}{more}; rebuild it by running the `loopkit extract` "
            f"command that made it again (`loopkit extract {_sources_of(path)}` into this folder, with the settings "
            "in its settings.json): extraction replaces a damaged data set"
        )
    packed = np.load(path / "rolls.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
    name = "loops.csv"
    try:
        meta = pd.read_csv(path / name, keep_default_na=False, dtype={"source": str, "md5": str, "split": str})
        name = "files.csv"
        files = pd.read_csv(path / name, keep_default_na=False, dtype=str)
        if len(files):
            files["n_loops"] = files["n_loops"].astype(int)
        name = "failures.csv"
        failures = pd.read_csv(path / name, keep_default_na=False, dtype=str)
    except (ValueError, pd.errors.ParserError) as exc:  # a table written by hand, or before names were quoted
        why = " ".join(str(exc).split())[:160]
        raise LoopkitError(f"the data set at {path} cannot be read: {name}: {type(exc).__name__}: {why}; rebuild "
                           "it by running the `loopkit extract` command that made it again") from None  # fmt: skip
    settings = json.loads((path / "settings.json").read_text())
    funnel = json.loads((path / "funnel.json").read_text())
    if len(packed) != len(meta):
        raise LoopkitError(f"{path}: {len(packed)} rolls but {len(meta)} rows in loops.csv")
    return Loops(
        rolls=PackedRolls(packed),
        meta=meta,
        failures=failures,
        files=files,
        settings=settings,
        funnel=funnel,
        path=path,
    )


def as_loops(data: Loops | str | os.PathLike) -> Loops:
    """``data`` itself when it is a ``Loops``, else the data set loaded from that folder (``load_loops``)."""
    return data if isinstance(data, Loops) else load_loops(data)


def loops_from_arrays(rolls: np.ndarray, splits: Iterable[str] | None = None, source: str = "array") -> Loops:
    """An in-memory ``Loops`` from ``(n, 128, 93)`` arrays (tests, synthetic benchmarks)."""
    import pandas as pd

    rolls = np.asarray(rolls, dtype=bool)
    n = len(rolls)
    split = list(splits) if splits is not None else ["train"] * n
    meta = pd.DataFrame(
        {
            "index": np.arange(n),
            "source": [f"{source}:{i}" for i in range(n)],
            "md5": [""] * n,
            "start_bar": np.zeros(n, dtype=int),
            "bpm": np.full(n, DEFAULT_BPM),
            "split": split,
        }
    )
    return Loops(rolls=PackedRolls(pack_rolls(rolls)), meta=meta)
