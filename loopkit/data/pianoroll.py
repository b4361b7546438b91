"""The paper's bass+drum pianoroll (Data Preprocess): MIDI to a 93-column binary roll at 16 steps per bar, and back.

This module is the one place that knows the column layout and the General MIDI drum map. Everything else
asks it for columns by name (``bass_column(pitch)``, ``drum_column("kick")``) and never writes an index
literal.

Layout (columns ``p``), 16 steps per bar (``t``)::

    0 .. 83   bass pitches C1 .. B7 (MIDI 24 .. 107), column = pitch - 24
    84 .. 92  drum components, in the order of ``DRUM_COMPONENTS``

Reading rules (the paper, made precise; see ``../shared/notes/reproduction.md``):

* Bass = every non-drum track whose General MIDI program is 32..39 (0-based). A held note is active on
  every step it covers. Only the lowest sounding pitch per step survives. Notes outside C1..B7 are dropped.
* Drums = every drum track (MIDI channel 10). Onsets only: a hit marks the step it starts on. GM drum notes
  are merged into 9 components by a named drum map (``DRUM_MAPS``); notes the map does not name are dropped.
* Quantisation is on the file's own beat grid: a step is ticks-per-quarter / 4 ticks, and a time in ticks is
  rounded to the nearest step (half-way rounds up). No conversion through seconds, so tempo changes do not
  move notes. A note shorter than half a step still covers its onset step.
* Bars: bar lines fall every 4 quarter notes from the first time-signature event, counted back by whole bars
  towards tick 0 (``bar_origin``); without a time signature, and whenever that event sits on a bar line counted
  from tick 0 (nearly always: at tick 0), bar ``b`` starts at tick ``b * 4 * tpq``, i.e. at step ``16 b``. A
  pickup (a 4/4 signature that starts after a partial bar, e.g. at beat 2) is not part of any bar: drum hits
  in it are dropped and a bass note held from it into the first bar sounds from that bar's first step.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from loopkit.atomic import write_bytes
from loopkit.errors import LoopkitError

STEPS_PER_BEAT = 4
BEATS_PER_BAR = 4
STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR  # T = 16 in the paper
BARS_PER_LOOP = 8  # B = 8
LOOP_STEPS = STEPS_PER_BAR * BARS_PER_LOOP  # 128

BASS_LOWEST_PITCH = 24  # C1
BASS_HIGHEST_PITCH = 107  # B7
N_BASS = BASS_HIGHEST_PITCH - BASS_LOWEST_PITCH + 1  # 84

DRUM_COMPONENTS: tuple[str, ...] = (
    "kick",
    "snare",
    "closed_hihat",
    "open_hihat",
    "low_tom",
    "mid_tom",
    "high_tom",
    "crash",
    "ride",
)
N_DRUMS = len(DRUM_COMPONENTS)  # 9
N_COLUMNS = N_BASS + N_DRUMS  # P = 93

BASS_COLUMNS = slice(0, N_BASS)
DRUM_COLUMNS = slice(N_BASS, N_COLUMNS)

#: General MIDI programs (0-based) that count as bass: Acoustic Bass .. Synth Bass 2.
BASS_PROGRAMS = tuple(range(32, 40))

#: The note each drum component is played with when a roll is written back to MIDI (GM percussion map).
DRUM_PLAYBACK_NOTE: Mapping[str, int] = {
    "kick": 36,  # Bass Drum 1
    "snare": 38,  # Acoustic Snare
    "closed_hihat": 42,  # Closed Hi-Hat
    "open_hihat": 46,  # Open Hi-Hat
    "low_tom": 45,  # Low Tom
    "mid_tom": 47,  # Low-Mid Tom
    "high_tom": 50,  # High Tom
    "crash": 49,  # Crash Cymbal 1
    "ride": 51,  # Ride Cymbal 1
}

#: Velocities used when a roll is played back (paper, appendix "How to Play Pianoroll Representation").
BASS_VELOCITY = 80
DRUM_VELOCITY = 100
#: GM program written for the bass track (33 = Electric Bass (finger)).
BASS_PLAYBACK_PROGRAM = 33
#: Tempo in quarter notes per minute where none is given: MIDI's default when a file sets none, and the tempo a
#: roll is written and played at unless one is asked for.
DEFAULT_BPM = 120.0
#: The fastest tempo loopkit stores with a loop or writes into a MIDI file, in quarter notes per minute (a quarter
#: note of 60 ms, a 16th of 15 ms). MIDI itself allows 1 microsecond per quarter note (60,000,000 bpm) and files
#: hold 0 (a division by zero, which the standard does not allow); such tempos are refused with the reason.
MAX_BPM = 1000.0
#: The slowest tempo a MIDI file can hold: its tempo event stores microseconds per quarter note in 24 bits, at most
#: 16,777,215 (3.58 bpm); a slower tempo would wrap round to a fast one.
MIN_BPM = 60_000_000 / 0xFFFFFF


def check_bpm(bpm: float) -> float:
    """A tempo in quarter notes per minute, as a float, if it is a finite number from ``MIN_BPM`` (what a MIDI file
    can hold) to ``MAX_BPM``; otherwise a ``LoopkitError`` that says which."""
    bpm = float(bpm)
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise LoopkitError(f"tempo must lie between {MIN_BPM:.2f} bpm (the slowest a MIDI file can hold) and "
                           f"{MAX_BPM:g} bpm, got {bpm:g} bpm")
    return bpm


def mspq_to_bpm(mspq) -> np.ndarray:
    """Quarter notes per minute of MIDI tempos given in microseconds per quarter note; 0 (or less) gives ``inf``,
    without numpy's division warning."""
    mspq = np.asarray(mspq, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(mspq > 0, 60_000_000.0 / np.where(mspq > 0, mspq, 1.0), np.inf)


def _invert(groups: Mapping[str, tuple[int, ...]]) -> dict[int, str]:
    out: dict[int, str] = {}
    for component, notes in groups.items():
        for note in notes:
            if note in out:
                raise LoopkitError(f"GM drum note {note} is mapped twice")
            out[note] = component
    return out


#: GM drum note -> component. Two named maps; every GM note not listed in a map is dropped by it.
#:
#: ``"full"`` (default): all 47 General MIDI Level 1 percussion notes (35..81) merged into the closest
#: standard component, in the spirit of Magenta's 9-class drum mapping and of the paper's "the rest of the
#: components are incorporated into the closest standard set". Notes outside 35..81 (GS/XG extensions) are
#: dropped.
#:
#: ``"strict"``: the map of the authors' follow-up code, which keeps 20 notes and drops the other 27 of 35..81.
DRUM_MAPS: Mapping[str, Mapping[int, str]] = {
    "full": _invert(
        {
            "kick": (35, 36),
            "snare": (37, 38, 39, 40, 56, 65, 66, 75),  # side stick, snares, clap, cowbell, timbales, claves
            "closed_hihat": (42, 44, 54, 68, 69, 70, 71, 73, 78, 80),  # pedal hh, tambourine, shakers, short sounds
            "open_hihat": (46, 67, 72, 74, 79, 81),  # open hh and long sounds
            "low_tom": (41, 43, 45, 61, 64),  # floor toms, low tom, low bongo, low conga
            "mid_tom": (47, 48, 60, 63, 77),  # mid toms, hi bongo, open hi conga, low wood block
            "high_tom": (50, 62, 76),  # high tom, mute hi conga, hi wood block
            "crash": (49, 52, 55, 57, 58),  # crashes, china, splash, vibraslap
            "ride": (51, 53, 59),  # rides and ride bell
        }
    ),
    "strict": _invert(
        {
            "kick": (35, 36),
            "snare": (37, 38, 39, 40),
            "closed_hihat": (42, 44),
            "open_hihat": (46,),
            "low_tom": (41, 43, 45),
            "mid_tom": (47, 48),
            "high_tom": (50,),
            "crash": (49, 55, 57),
            "ride": (51, 59),
        }
    ),
}


def bass_column(pitch: int) -> int:
    """Column of a MIDI bass pitch (24..107)."""
    if not BASS_LOWEST_PITCH <= pitch <= BASS_HIGHEST_PITCH:
        raise LoopkitError(f"bass pitch {pitch} is outside C1..B7 ({BASS_LOWEST_PITCH}..{BASS_HIGHEST_PITCH})")
    return pitch - BASS_LOWEST_PITCH


def bass_pitch(column: int) -> int:
    """MIDI pitch of a bass column (0..83)."""
    if not 0 <= column < N_BASS:
        raise LoopkitError(f"column {column} is not a bass column (0..{N_BASS - 1})")
    return column + BASS_LOWEST_PITCH


def drum_column(component: str) -> int:
    """Column of a drum component named in ``DRUM_COMPONENTS``."""
    try:
        return N_BASS + DRUM_COMPONENTS.index(component)
    except ValueError:
        raise LoopkitError(f"unknown drum component {component!r}; known: {', '.join(DRUM_COMPONENTS)}") from None


def column_names() -> list[str]:
    """A readable name for every column: bass note names (``E1``) then drum components."""
    names = "C C# D D# E F F# G G# A A# B".split()
    bass = [f"{names[p % 12]}{p // 12 - 1}" for p in range(BASS_LOWEST_PITCH, BASS_HIGHEST_PITCH + 1)]
    return bass + list(DRUM_COMPONENTS)


@functools.lru_cache(maxsize=None)
def drum_map_lookup(name: str = "full") -> np.ndarray:
    """A 128-entry table: GM note -> roll column, or -1 where the named map drops the note (read-only)."""
    if name not in DRUM_MAPS:
        raise LoopkitError(f"unknown drum map {name!r}; known: {', '.join(DRUM_MAPS)}")
    table = np.full(128, -1, dtype=np.int16)
    for note, component in DRUM_MAPS[name].items():
        table[note] = drum_column(component)
    table.flags.writeable = False
    return table


def check_roll(roll, allow_empty: bool = True) -> np.ndarray:
    """A ``(t, 93)`` roll (a loop or a song) as a bool array, checked: two axes, 93 columns, only 0 and 1.

    ``allow_empty=False`` also refuses a roll of zero steps. Model outputs must be thresholded first.
    """
    x = np.asarray(roll)
    if x.ndim != 2 or x.shape[1] != N_COLUMNS:
        raise LoopkitError(f"expected a (steps, {N_COLUMNS}) roll, got an array of shape {x.shape}")
    if x.dtype != bool and not np.isin(x, (0, 1)).all():
        raise LoopkitError("a roll holds only 0 and 1 (or booleans): threshold model outputs first")
    if not allow_empty and len(x) == 0:
        raise LoopkitError("the roll has no steps")
    return x.astype(bool)


# ---------------------------------------------------------------------------------------------------------
# MIDI -> roll


def ticks_to_steps(ticks: np.ndarray, tpq: int) -> np.ndarray:
    """Round tick times to the nearest 16th-note step of a grid with ``tpq`` ticks per quarter note.

    Exact integer arithmetic: ``floor((4 * ticks) / tpq + 1/2)``, so a time half-way between two steps
    goes to the later one.
    """
    ticks = np.asarray(ticks, dtype=np.int64)
    return (2 * STEPS_PER_BEAT * ticks + tpq) // (2 * tpq)


@dataclass(frozen=True)
class SongNotes:
    """The bass and drum notes of a song, quantised to steps (``t``) and mapped to roll columns (``p``).

    Attributes
    ----------
    bass_on, bass_off : (n,) int64, first step and one-past-last step of each bass note (``off > on``)
    bass_col : (n,) int64, bass column of each note (pitch - 24)
    drum_on : (m,) int64, onset step of each kept drum hit
    drum_col : (m,) int64, drum column of each hit
    """

    bass_on: np.ndarray
    bass_off: np.ndarray
    bass_col: np.ndarray
    drum_on: np.ndarray
    drum_col: np.ndarray

    @property
    def end_step(self) -> int:
        """One past the last step any bass or drum note reaches (0 for a song without them)."""
        return max(int(self.bass_off.max(initial=0)), int(self.drum_on.max(initial=-1)) + 1)


_EMPTY = np.zeros(0, dtype=np.int64)


def bar_origin(score) -> int:
    """Tick of the first bar line (see the module docstring): the first time-signature event's tick modulo
    one 4/4 bar (``4 * tpq`` ticks); 0 without time signatures."""
    sigs = score.time_signatures
    if len(sigs) == 0:
        return 0
    first = min(int(ts.time) for ts in sigs)
    return first % (BEATS_PER_BAR * int(score.ticks_per_quarter))


def score_notes(
    score, drum_map: str = "full", bass_programs: tuple[int, ...] = BASS_PROGRAMS, origin: int | None = None
) -> SongNotes:
    """Quantise the bass and drum notes of a ``symusic.Score`` in ticks (see the module docstring's rules).

    ``origin`` is the tick of the first bar line (default ``bar_origin(score)``); notes before it belong to no
    bar (drum hits dropped, held bass notes start at step 0).
    """
    tpq = int(score.ticks_per_quarter)
    if tpq <= 0:
        raise LoopkitError(f"invalid ticks per quarter note: {tpq}")
    lookup = drum_map_lookup(drum_map)
    origin = bar_origin(score) if origin is None else int(origin)

    bass_on, bass_off, bass_col = [], [], []
    drum_on, drum_col = [], []
    for track in score.tracks:
        if track.is_drum:
            if track.note_num() == 0:
                continue
            notes = track.notes.numpy()
            cols = lookup[notes["pitch"].astype(np.int64) & 127].astype(np.int64)
            on = ticks_to_steps(notes["time"].astype(np.int64) - origin, tpq)
            keep = (cols >= 0) & (on >= 0)
            drum_on.append(on[keep])
            drum_col.append(cols[keep])
        elif track.program in bass_programs:
            if track.note_num() == 0:
                continue
            notes = track.notes.numpy()
            pitch = notes["pitch"].astype(np.int64)
            start = notes["time"].astype(np.int64) - origin
            end = start + np.maximum(notes["duration"].astype(np.int64), 0)
            on = ticks_to_steps(start, tpq)
            off = np.maximum(ticks_to_steps(end, tpq), on + 1)
            keep = (pitch >= BASS_LOWEST_PITCH) & (pitch <= BASS_HIGHEST_PITCH) & (off > 0)
            bass_on.append(np.maximum(on[keep], 0))
            bass_off.append(off[keep])
            bass_col.append(pitch[keep] - BASS_LOWEST_PITCH)

    def cat(parts):
        return np.concatenate(parts) if parts else _EMPTY

    return SongNotes(cat(bass_on), cat(bass_off), cat(bass_col), cat(drum_on), cat(drum_col))


def lowest_bass(on: np.ndarray, off: np.ndarray, col: np.ndarray, n_steps: int) -> np.ndarray:
    """Lowest sounding bass column at each step, or -1 where no bass note sounds.

    A note sounds on steps ``on .. off - 1``. Parameters are (n,) int arrays (see ``SongNotes``); returns an
    (t,) int64 array with ``t = n_steps``.
    """
    lowest = np.full(n_steps, -1, dtype=np.int64)
    if len(on) == 0:
        return lowest
    lengths = off - on
    covered = int(lengths.sum())
    if covered <= 8 * n_steps + 4096:
        # Expand every note into its (step, column) cells, sort by step then column, keep each step's first.
        first = np.repeat(on - np.cumsum(lengths) + lengths, lengths)
        steps = first + np.arange(covered)
        key = np.sort(steps * N_BASS + np.repeat(col, lengths))
        step_of = key // N_BASS
        head = np.ones(len(key), dtype=bool)
        head[1:] = step_of[1:] != step_of[:-1]
        lowest[step_of[head]] = key[head] % N_BASS
    else:
        # Many long overlapping notes: a difference array per column avoids expanding them.
        active = np.zeros((n_steps + 1, N_BASS), dtype=np.int32)
        np.add.at(active, (on, col), 1)
        np.add.at(active, (off, col), -1)
        sounding = np.cumsum(active[:-1], axis=0) > 0
        low = np.argmax(sounding, axis=1)
        has = sounding[np.arange(n_steps), low]
        lowest[has] = low[has]
    return lowest


def notes_to_roll(notes: SongNotes, n_steps: int) -> np.ndarray:
    """The ``(t, 93)`` bool roll of quantised notes, ``t = n_steps`` (notes past it must not exist)."""
    roll = np.zeros((n_steps, N_COLUMNS), dtype=bool)
    roll[notes.drum_on, notes.drum_col] = True
    lowest = lowest_bass(notes.bass_on, notes.bass_off, notes.bass_col, n_steps)
    steps = np.nonzero(lowest >= 0)[0]
    roll[steps, lowest[steps]] = True
    return roll


def score_to_roll(
    score,
    drum_map: str = "full",
    max_steps: int | None = None,
    steps: int | None = None,
    bass_programs: tuple[int, ...] = BASS_PROGRAMS,
) -> np.ndarray:
    """Song-level roll of a ``symusic.Score`` in ticks: ``(t, 93)`` bool, ``t`` a whole number of bars.

    Bass and drums follow the module's reading rules. ``max_steps`` guards against absurd tick counts: a score
    whose bass/drum content reaches past it raises ``ValueError``. A score without bass or drum notes gives
    a roll of zero bars. ``steps`` fixes the length instead (e.g. 128 to read back a loop whose last bars
    are silent); content past it raises ``ValueError``.
    """
    notes = score_notes(score, drum_map=drum_map, bass_programs=bass_programs)
    end_step = notes.end_step
    if max_steps is not None and end_step > max_steps:
        raise LoopkitError(
            f"bass/drum content spans {end_step} steps ({-(-end_step // STEPS_PER_BAR)} bars), "
            f"over the limit of {max_steps // STEPS_PER_BAR} bars"
        )
    if steps is not None:
        if end_step > steps:
            raise LoopkitError(f"content spans {end_step} steps, more than the {steps} asked for")
        n_steps = steps
    else:
        n_steps = -(-end_step // STEPS_PER_BAR) * STEPS_PER_BAR
    return notes_to_roll(notes, n_steps)


def read_score(source: str | os.PathLike | bytes):
    """Parse MIDI from a path or from bytes into a ``symusic.Score`` in ticks."""
    import symusic

    if isinstance(source, (bytes, bytearray, memoryview)):
        return symusic.Score.from_midi(bytes(source))
    return symusic.Score(str(source))


def midi_to_roll(source: str | os.PathLike | bytes, drum_map: str = "full", steps: int | None = None) -> np.ndarray:
    """Song-level ``(t, 93)`` roll of a MIDI file (path or bytes). See the module docstring for the rules.

    ``steps=LOOP_STEPS`` reads a loop written by ``write_midi`` (or ``roll_to_midi``) back to its exact ``(128, 93)``
    shape.
    """
    return score_to_roll(read_score(source), drum_map=drum_map, steps=steps)


# ---------------------------------------------------------------------------------------------------------
# roll -> MIDI


def roll_to_score(roll: np.ndarray, bpm: float = DEFAULT_BPM, tpq: int = 480):
    """A ``symusic.Score`` that plays a ``(t, 93)`` roll (a loop or a whole song).

    Bass: one track named "Bass", GM program 33, velocity 80; consecutive active steps of one pitch are one
    note. Drums: one track named "Drums" on the GM drum channel, each active cell a one-step hit at velocity
    100. A 4/4 time signature and the tempo ``bpm`` are written at tick 0.
    """
    import symusic

    roll = check_roll(roll)
    bpm = check_bpm(bpm)
    if tpq % STEPS_PER_BEAT:
        raise LoopkitError(f"ticks per quarter ({tpq}) must be a multiple of {STEPS_PER_BEAT}")
    step = tpq // STEPS_PER_BEAT
    score = symusic.Score(tpq)
    score.time_signatures.append(symusic.TimeSignature(0, BEATS_PER_BAR, 4))
    score.tempos.append(symusic.Tempo(0, float(bpm)))

    bass = symusic.Track("Bass", BASS_PLAYBACK_PROGRAM, False)
    b = roll[:, BASS_COLUMNS]
    padded = np.zeros((b.shape[0] + 2, b.shape[1]), dtype=np.int8)
    padded[1:-1] = b
    edges = np.diff(padded, axis=0)
    # nonzero on the (pitch, time) array orders runs by pitch, then time, so starts and ends pair up.
    run_col, run_start = np.nonzero(edges.T == 1)
    _, run_end = np.nonzero(edges.T == -1)
    for c, s, e in zip(run_col, run_start, run_end):
        bass.notes.append(symusic.Note(int(s) * step, int(e - s) * step, bass_pitch(int(c)), BASS_VELOCITY))
    bass.notes.sort()
    score.tracks.append(bass)

    drums = symusic.Track("Drums", 0, True)
    steps, cols = np.nonzero(roll[:, DRUM_COLUMNS])
    for s, c in zip(steps, cols):
        note = DRUM_PLAYBACK_NOTE[DRUM_COMPONENTS[int(c)]]
        drums.notes.append(symusic.Note(int(s) * step, step, note, DRUM_VELOCITY))
    score.tracks.append(drums)
    return score


def roll_to_midi(roll: np.ndarray, bpm: float = DEFAULT_BPM, tpq: int = 480) -> bytes:
    """Standard MIDI file bytes for a roll (see ``roll_to_score``). Every track ends exactly at the end of the roll's
    last step (t steps of ``tpq / 4`` ticks), so that a DAW or player repeating the file loops it in time."""
    data = bytes(roll_to_score(roll, bpm=bpm, tpq=tpq).dumps_midi())
    return _end_tracks_at(data, len(check_roll(roll)) * (tpq // STEPS_PER_BEAT))


def _end_tracks_at(data: bytes, end: int) -> bytes:
    """MIDI bytes with every track's end-of-track event moved to tick ``end`` (none of its events lies later)."""
    import io

    import mido

    mid = mido.MidiFile(file=io.BytesIO(data))
    for track in mid.tracks:
        last = sum(msg.time for msg in track if not (msg.is_meta and msg.type == "end_of_track"))
        for msg in track:
            if msg.is_meta and msg.type == "end_of_track":
                msg.time = max(end - last, 0)
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def write_midi(roll: np.ndarray, path: str | os.PathLike, bpm: float = DEFAULT_BPM, tpq: int = 480) -> Path:
    """Write a roll as a standard MIDI file that any DAW opens (see ``roll_to_score``). Returns the path."""
    return write_bytes(path, roll_to_midi(roll, bpm=bpm, tpq=tpq))
