"""The paper's loop extraction over whole corpora (Data Preprocess): every input file through the representation
(``loopkit.data.pianoroll``) and the loop rules (``loopkit.data.rules``) into a loop data set
(``loopkit.data.dataset``).

``extract(sources, out)`` reads folders, MIDI files and archives (``loopkit.data.inputs``), in parallel worker
processes, and accounts for every file: ``used`` (it gave loops), ``rejected`` by a named rule, ``failed`` with
a one-line reason, or ``skipped`` (not a MIDI file name). What happens to one file (``process_midi``), in order:

1. read the bytes (at most ``max_file_mib``); a RIFF ``RMID`` wrapper is unwrapped; the header must be a
   standard MIDI header with ticks per quarter note (not SMPTE) and the file must hold as many track chunks as
   the header announces; then symusic parses it (failed: the parser's error); with ``tolerant_reader`` (off by
   default) a file the parser refuses is read once more leniently (``tolerant_midi_bytes``) and, if that works,
   goes on marked as recovered;
2. ``not_4_4``: any time-signature event (from any track) other than 4/4 rejects the file, and so does a 4/4
   event off the bar lines (an irregular bar; bar lines: see ``loopkit.data.pianoroll``);
   ``no_time_signature``: a file without any such event counts as 4/4 (the MIDI standard's default) unless
   ``missing_time_signature="drop"`` (what the authors' follow-up code did);
3. ``no_bass`` / ``no_drums``: no bass note (program in ``bass_programs``, pitch C1..B7) / no drum note that
   the drum map keeps;
4. a song whose bass/drum notes reach past ``max_bars`` bars is failed ("absurd length");
5. ``no_loops``: no 8-bar window passes the loop rules (``LoopRules``); otherwise the file is used and every
   passing window is a loop, with the tempo in effect at its first bar; a loop whose tempo is 0 microseconds per
   quarter note (stored as bpm ``inf`` before) or faster than ``MAX_BPM`` fails the file ("absurd tempo").

Robustness: the files go through worker processes (``loopkit.data.workers``) with a per-file time limit; a worker
that overruns it (a hung parser cannot be interrupted in-process) is killed and replaced, and the file is failed
with the reason; a worker that dies (a crashing parser) is replaced the same way. Resumability: the parent
process, the only writer, appends one record per file to a journal in the output folder (``loopkit.data.journal``).
Running the same command again after any interruption, even SIGKILL, skips the files already in the journal and
ends with the same bytes an uninterrupted run writes: the data set is written at the end, streamed from the
journal in input order, so memory does not grow with the number of loops (the parent keeps about 40 bytes of
bookkeeping per input file). The funnel from files to loops is counted on the way (``loopkit.data.funnel``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from loopkit.data.midifile import (
    RECOVERED_NOTE,
    standard_midi_bytes,
    tempo_at,
    tempo_rule,
    time_signature_rule,
    tolerant_midi_bytes,
)
from loopkit.data.inputs import MAX_FILE_MIB, check_sources, iter_inputs, one_line, read_path, total_bytes
from loopkit.data.dataset import (
    DEFAULT_SPLIT_FRACTIONS,
    FILE_STATUSES,
    SPLITS,
    DatasetWriter,
    FileResult,
    Loops,
    assign_splits,
    check_split_fractions,
    family_key,
    load_loops,
    pack_rolls,
)
from loopkit.errors import LoopkitError
from loopkit.data.funnel import funnel_from_counts
from loopkit.data.journal import JOURNAL, JOURNAL_FORMAT, Journal, Ledger, decode_record, encode_record, prepare_output
from loopkit.data.rules import LoopRules, cut_loops, find_loops
from loopkit.data.pianoroll import (
    BARS_PER_LOOP,
    BASS_PROGRAMS,
    BEATS_PER_BAR,
    DRUM_MAPS,
    STEPS_PER_BAR,
    bar_origin,
    notes_to_roll,
    score_notes,
)
from loopkit.runlock import hold_folder
from loopkit.version import __version__
from loopkit.data.workers import Task, peak_rss, run_pool

#: What to do with a file without a time-signature event. (The rejection rules, in the order they are checked,
#: are ``loopkit.data.dataset.REJECTION_RULES``: files.csv names them.)
MISSING_TIME_SIGNATURE = ("assume_4_4", "drop")
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
    drum_map : name of a GM drum map in ``loopkit.data.pianoroll.DRUM_MAPS`` ("full" or "strict")
    missing_time_signature : "assume_4_4" (the MIDI default) or "drop" for files without a time signature
    bass_programs : 0-based GM programs read as bass (32..39 in the paper)
    max_bars : a song whose bass/drum notes reach past this many bars fails (absurd tick counts)
    max_file_mib : a larger input file fails without being parsed
    time_limit_s : per-file time limit in a worker process (reading, parsing and the rules)
    split_fractions : train, valid, test shares of loops (splits are by file, see ``assign_splits``)
    family_pattern : a regular expression searched in each file's source name; files it matches are split by its
        first group (their family: e.g. the style file a rendered groove song comes from), so that a family's
        near-copies never straddle two splits; files it does not match, and every file when it is empty (the
        default, the paper's split), are split by their own content (MD5)
    tolerant_reader : read a file the parser refuses once more with ``tolerant_midi_bytes`` (data bytes over 127
        clipped, a chunk length past the end of the file cut there); off by default, so the default stays the
        parser's (and pretty_midi's) behaviour. The funnel counts the files it recovered.
    """

    rules: LoopRules = LoopRules()
    drum_map: str = "full"
    missing_time_signature: str = "assume_4_4"
    bass_programs: tuple[int, ...] = BASS_PROGRAMS
    max_bars: int = 4096
    max_file_mib: float = MAX_FILE_MIB
    time_limit_s: float = 30.0
    split_fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS
    tolerant_reader: bool = False
    family_pattern: str = ""

    def __post_init__(self):
        object.__setattr__(self, "bass_programs", tuple(int(p) for p in self.bass_programs))
        object.__setattr__(self, "split_fractions", check_split_fractions(self.split_fractions))
        if self.rules.bars != BARS_PER_LOOP:
            raise LoopkitError(f"the data set stores {BARS_PER_LOOP}-bar loops; rules.bars is {self.rules.bars}")
        if self.drum_map not in DRUM_MAPS:
            raise LoopkitError(f"unknown drum map {self.drum_map!r}; known: {', '.join(DRUM_MAPS)}")
        if self.missing_time_signature not in MISSING_TIME_SIGNATURE:
            raise LoopkitError(
                f"missing_time_signature must be one of {', '.join(MISSING_TIME_SIGNATURE)}, "
                f"got {self.missing_time_signature!r}"
            )
        if not all(0 <= p <= 127 for p in self.bass_programs) or not self.bass_programs:
            raise LoopkitError(f"bass_programs must be GM programs 0..127, got {self.bass_programs}")
        if self.max_bars < BARS_PER_LOOP:
            raise LoopkitError(f"max_bars must be at least {BARS_PER_LOOP}, got {self.max_bars}")
        if not self.max_file_mib > 0:
            raise LoopkitError(f"max_file_mib must be positive, got {self.max_file_mib}")
        if not self.time_limit_s > 0:
            raise LoopkitError(f"time_limit_s must be positive, got {self.time_limit_s}")
        try:
            re.compile(self.family_pattern)
        except re.error as exc:
            raise LoopkitError(f"family_pattern is not a regular expression: {exc}") from None

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


def process_midi(data: bytes, settings: ExtractionSettings = ExtractionSettings()) -> FileResult:
    """Everything extraction does with one file's bytes (steps 1-5 of the module docstring)."""
    import symusic

    md5 = hashlib.md5(data).hexdigest()
    try:
        score = symusic.Score.from_midi(standard_midi_bytes(data))
    except (ValueError, RuntimeError) as exc:
        if not settings.tolerant_reader or isinstance(exc, LoopkitError):  # header refusals stand in any case
            return FileResult("failed", reason=one_line(exc), md5=md5)
        try:
            score = symusic.Score.from_midi(tolerant_midi_bytes(data))
        except Exception:  # noqa: BLE001 - mido raises EOFError, OSError, KeyError, ... on what it cannot read
            return FileResult("failed", reason=f"{one_line(exc)} (the tolerant reader could not read it either)",
                              md5=md5)  # fmt: skip
        result = _rules(score, md5, settings)
        reason = f"{result.reason}; {RECOVERED_NOTE}" if result.reason else RECOVERED_NOTE
        return result._replace(reason=reason, recovered=True)
    return _rules(score, md5, settings)


def _rules(score, md5: str, settings: ExtractionSettings) -> FileResult:
    """Steps 2-5 of the module docstring on a parsed score."""
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
    roll = notes_to_roll(notes, -(-end // STEPS_PER_BAR) * STEPS_PER_BAR)
    starts = find_loops(roll, settings.rules)
    if len(starts) == 0:
        return FileResult("rejected", rule="no_loops", reason="no window passes the loop rules", md5=md5)
    packed = pack_rolls(cut_loops(roll, starts, settings.rules.bars))
    tpq = int(score.ticks_per_quarter)
    bpm = tempo_at(score, bar_origin(score) + starts.astype(np.int64) * BEATS_PER_BAR * tpq)
    if (absurd := tempo_rule(bpm, starts)) is not None:
        return FileResult("failed", reason=absurd, md5=md5)
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


def work_on_file(context: tuple[ExtractionSettings, frozenset], path: str | None, data: bytes | None) -> FileResult:
    """What a worker process does with one file (``loopkit.data.workers``): read it when only its path is given, then
    ``process_midi``. ``context`` is ``(settings, crash_on)``: a worker kills itself with SIGSEGV on a file whose
    MD5 is in ``crash_on`` (``CRASH_HOOK_ENV``, a test hook standing in for a crashing parser)."""
    settings, crash_on = context
    if data is None:
        try:
            data = read_path(path, settings.max_file_bytes)
        except (OSError, ValueError) as exc:
            return FileResult("failed", reason=f"cannot read: {one_line(exc)}")
    if crash_on and hashlib.md5(data).hexdigest() in crash_on:
        os.kill(os.getpid(), signal.SIGSEGV)
    return _guarded(data, settings)


# ---------------------------------------------------------------------------------------------------------
# the run


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def settings_document(settings: ExtractionSettings, sources: list[str]) -> dict:
    """What a data set's settings.json holds: the settings, the sources and the loopkit version."""
    return {"settings": settings.to_dict(), "sources": sources, "loopkit_version": __version__}


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
    out : the data set folder (see ``loopkit.data.dataset``); created if needed
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
    ``.funnel`` and funnel.json; ``loopkit.data.funnel.format_funnel`` prints it.

    Running the same call again after an interruption continues it; on a finished data set with the same
    settings and sources it returns at once, unless the data set's files no longer match its manifest: then it
    extracts it again (``report["state"]`` is "rebuild").
    """
    started = time.perf_counter()
    sources = check_sources(sources)
    out = Path(out)
    workers = _default_workers() if workers is None else int(workers)
    if workers < 0:
        raise LoopkitError(f"workers must be 0 or more, got {workers}")
    real_out = os.path.realpath(out)
    for src in sources:
        real_src = os.path.realpath(src)
        if os.path.isdir(real_src) and (real_out + os.sep).startswith(real_src.rstrip(os.sep) + os.sep):
            raise LoopkitError(f"the output folder {out} lies inside the source folder {src}: choose one outside it")
    document = settings_document(settings, sources)
    with hold_folder(out, f"extracting {len(sources)} source(s)"):  # one writer of a data set folder at a time
        return _extract_into(out, sources, document, settings, workers, progress, overwrite, report, started)


def _extract_into(out: Path, sources, document: dict, settings: ExtractionSettings, workers: int, progress: bool,
                  overwrite: bool, report: dict | None, started: float) -> Loops:  # fmt: skip
    state = prepare_output(out, document, overwrite)
    if report is not None:
        report.update(state=state, workers=workers)
    if state == "complete":
        return load_loops(out, mmap=True, verify=False)  # prepare_output has checked it against its manifest
    out.mkdir(parents=True, exist_ok=True)
    header = {"format": JOURNAL_FORMAT, **document}
    ledger = Ledger()
    if state in ("start", "rebuild"):
        journal = Journal.create(out / JOURNAL, header)
    else:

        def visit(offset: int, payload: bytes) -> None:
            index, source, result = decode_record(payload)
            ledger.add(index, offset, source, result)

        journal = Journal.open_existing(out / JOURNAL, visit)
    resumed = int(np.count_nonzero(ledger.offset >= 0))

    crash_on = frozenset(x for x in os.environ.get(CRASH_HOOK_ENV, "").split(",") if x)
    bar = None
    if progress:
        from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

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
    return load_loops(out, mmap=True, verify=False)  # the manifest's digests are of the bytes just written


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
        offset = self.journal.append(encode_record(index, source, result))
        self.ledger.add(index, offset, source, result)
        self._counts[result.status] += 1
        self._counts["loops"] += result.n_loops
        now = time.monotonic()
        if self.bar is not None and now - self._last_postfix > 0.5:
            c = self._counts
            self.bar.set_postfix_str(
                f"files={sum(c[s] for s in FILE_STATUSES):,} loops={c['loops']:,} failed={c['failed']:,}", refresh=False
            )
            self._last_postfix = now

    def _next_task(self) -> Task | None:
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
                return Task(index, item.source, None, data)
            else:
                return Task(index, item.source, item.path, None)
        return None

    def in_process(self) -> None:
        while (task := self._next_task()) is not None:
            if task.data is None:
                result = process_path(task.path, self.settings)
            else:
                result = _guarded(task.data, self.settings)
            self._record(task.index, task.source, result)

    def with_workers(self, n: int) -> None:
        report = run_pool(
            n,
            work_on_file,
            (self.settings, self.crash_on),
            self._next_task,
            on_result=lambda task, result: self._record(task.index, task.source, result),
            on_failure=lambda task, reason: self._record(task.index, task.source, FileResult("failed", reason=reason)),
            time_limit=self.settings.time_limit_s,
            preload=("symusic",),
        )
        self.worker_rss, self.restarts = report.worker_rss, report.restarts


# ---------------------------------------------------------------------------------------------------------
# writing the data set


def _write_dataset(out: Path, journal: Journal, ledger: Ledger, n_items: int, settings, document) -> dict:
    """Stream the journal, in input order, into the data set files; returns the funnel."""
    missing = np.nonzero(ledger.offset[:n_items] < 0)[0]
    if len(missing):
        raise RuntimeError(f"internal error: {len(missing)} input files have no result (first: #{missing[0]})")
    status = ledger.status[:n_items]
    with_split = np.nonzero(np.isin(status, [FILE_STATUSES.index("used"), FILE_STATUSES.index("rejected")]))[0]
    keys = [ledger.md5[i].tobytes().hex() for i in with_split]
    if settings.family_pattern:  # the family of each file, from its source name in the journal
        for j, i in enumerate(with_split):
            keys[j] = family_key(decode_record(journal.read_at(int(ledger.offset[i])))[1], settings.family_pattern,
                                 keys[j])  # fmt: skip
    splits = assign_splits(keys, ledger.n_loops[with_split].tolist(), settings.split_fractions)
    del keys
    split_code = np.full(n_items, -1, dtype=np.int8)
    split_code[with_split] = [SPLITS.index(s) for s in splits]
    del splits
    n_loops = int(ledger.n_loops[:n_items].sum())
    split_loops = {s: int(ledger.n_loops[:n_items][split_code == k].sum()) for k, s in enumerate(SPLITS)}
    funnel = funnel_from_counts(ledger.counts(n_items), n_loops, split_loops)

    writer = DatasetWriter(out, n_loops)
    try:
        for i in range(n_items):
            _, source, r = decode_record(journal.read_at(int(ledger.offset[i])))
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
