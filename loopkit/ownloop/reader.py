"""A musician's MIDI file read into one loop of the paper's representation (the reading behind ``loopkit encode``,
``vary`` and ``interpolate`` and chapter 3's "Bring your own loop"; ``loopkit.ownloop.encode`` does the rest).

``read_loop`` uses the same code as extraction (``loopkit.data.pianoroll``): bass = the tracks with a General MIDI bass
program, drums = the tracks on the drum channel, or the tracks chosen by number or name (several of a part are
merged). The file is read as a player reads it and its meter bar by bar (``loopkit.ownloop.songread``): the loop's 8
bars must be 4/4 (or 2/2; no time signature counts as 4/4) wherever they stand, whatever meter stands elsewhere (corpus
extraction keeps the paper's rule); 8 bars are taken from a given bar, else from the first window that passes the
paper's loop rules, else from the densest window (``densest_window``: the most bars holding both bass and drums,
then the most notes; never an empty intro when the song has a fuller window); a 4-bar song is played twice. The
song ends at its last note-on and only its 4/4 stretches are built, so a note held for 0x0FFFFFFF ticks costs
nothing; a song longer than ``MAX_SONG_BARS`` is refused, as extraction refuses it. What
the representation changes is counted: repeated bass notes of one pitch merged into one held note, chords reduced
to their lowest note, bass notes outside C1..B7, notes moved onto the 16th-note grid by more than a 64th note,
drum notes the drum map drops or merges; tempo changes inside the loop are listed (the loop is written at the tempo
of its first bar). ``held_out_loop`` finds the book's default loop, one the models never trained on. Bars are song
bars (``BAR_NUMBERING``), 0-based in arguments and 1-based in messages.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from loopkit.atomic import write_bytes
from loopkit.errors import LoopkitError
from loopkit.data.extract import ExtractionSettings
from loopkit.data.midifile import standard_midi_bytes, tempo_at, time_signature_rule
from loopkit.data.rules import LoopRules, find_loops, window_checks
from loopkit.ownloop.resemblance import part_notes
from loopkit.ownloop.songread import (
    MeterMap,
    PlayerFix,
    last_onset_tick,
    meter_map,
    player_bytes,
    program_name,
    stretch_roll,
)
from loopkit.data.pianoroll import (
    BARS_PER_LOOP,
    BASS_HIGHEST_PITCH,
    BASS_LOWEST_PITCH,
    BASS_COLUMNS,
    BASS_PROGRAMS,
    BEATS_PER_BAR,
    DRUM_COLUMNS,
    LOOP_STEPS,
    N_BASS,
    STEPS_PER_BAR,
    STEPS_PER_BEAT,
    bar_origin,
    drum_map_lookup,
    mspq_to_bpm,
    score_notes,
    ticks_to_steps,
)

#: The two parts a loop has, as the track options name them.
ROLES = ("bass", "drums")
#: A note is "off the grid" when quantising moves its onset by more than this share of a 16th step (a 64th note):
#: triplets, swing and played timing; the rounding of a note written on the grid moves it by nothing.
OFF_GRID_SHARE = 0.25
#: How ``read_loop`` chose the loop's bars, as its summary says it.
CHOSEN_BY = {
    "given": "as asked",
    "first loop": "the first window that passes the paper's loop rules",
    "densest": "no window passes the paper's loop rules, so the densest window: the most bars with both bass and "
               "drums, then the most notes",
    "repeated": "the song is a 4-bar loop: played twice to make the 8 bars the models read",
}
#: Loops of this many bars are played twice to make ``BARS_PER_LOOP`` (every other length short of it is refused).
REPEATED_BARS = BARS_PER_LOOP // 2
#: The longest song read (bars up to its last note-on), as extraction bounds it: a file with a note at tick
#: 0x0FFFFFFF is refused in one line instead of costing gigabytes.
MAX_SONG_BARS = ExtractionSettings().max_bars
#: What ``--meter`` accepts: the file's own time signatures (None), or 4/4 whatever they say.
METERS = ("4/4",)
#: What an error about the meter suggests (``loopkit encode`` names its flag for it).
METER_HINT = "if the file's time signature is wrong, it can be read as 4/4 whatever it says"
#: How bars are numbered in every argument, file name and message of the own-loop commands.
BAR_NUMBERING = "song bars counted from 1 as a DAW counts them, following the file's time signatures"


def safe_stem(source: str) -> str:
    """A file-name-safe stem of a source path."""
    name = Path(source).stem or "loop"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]




# ---------------------------------------------------------------------------------------------------------
# reading a musician's MIDI file


@dataclass(frozen=True)
class TrackInfo:
    """One track of a MIDI file as symusic reads it: number (0-based, the order ``describe`` lists), name,
    0-based GM program, whether it is on the drum channel, notes, and the part it plays in the loop (``"bass"``,
    ``"drums"`` or ``"ignored"``)."""

    index: int
    name: str
    program: int
    is_drum: bool
    notes: int
    role: str = "ignored"

    def describe(self) -> str:
        """``#1 "Fretless" (GM program 36, Fretless Bass; 212 notes)``; drum tracks say "drum channel"."""
        name = self.name.strip() or "(no name)"
        kind = "drum channel" if self.is_drum else f"GM program {self.program + 1}, {program_name(self.program)}"
        return f'#{self.index} "{name}" ({kind}; {self.notes} notes)'


class TrackChoiceError(LoopkitError):
    """The file has no track for a part (or the one named does not exist): ``role`` is "bass" or "drums",
    ``tracks`` the file's tracks, so a caller can say how to choose one."""

    def __init__(self, message: str, role: str, tracks: Sequence[TrackInfo]):
        super().__init__(message)
        self.role = role
        self.tracks = tuple(tracks)


@dataclass(frozen=True)
class LoopReading:
    """One loop read from a MIDI file, and everything said about how.

    Attributes
    ----------
    source : the file as given
    md5 : of the file's bytes
    roll : (128, 93) bool, the 8 bars as the models see them
    start_bar : first bar of the loop, 0-based (``BAR_NUMBERING``)
    song_bars : bars up to the song's last note, as the meter map counts them
    chosen_by : a key of ``CHOSEN_BY``: "given", "first loop" (the first window passing the loop rules),
        "densest" (none passes: ``densest_window``) or "repeated" (a 4-bar song played twice)
    rules : which loop rules the window passes: {"hamming", "kick", "crash", "bass"} -> bool
    bpm : the tempo in effect at the loop's first bar (120, MIDI's default, when the file sets none)
    time_signature : how the loop's meter was read: "4/4", "none (4/4 assumed)", 2/2 read as 4/4, 4/4 by
        ``--meter``, and what the file says elsewhere (``meter_text``)
    tracks : every track, with its role
    changed : what the representation changes inside the loop: ``bass_repeats_merged`` (bass notes that start
        while the same pitch sounds in the roll, so they become part of one held note), ``bass_out_of_range``
        (notes outside C1..B7), ``bass_chord_cells`` (notes of chords reduced to the lowest, counted per 16th step)
        and ``bass_chord_steps`` (steps with a chord), ``off_grid`` (bass and drum notes moved by more than
        ``OFF_GRID_SHARE`` of a step), ``drums_unmapped`` (hits on GM notes the drum map drops), ``drums_merged``
        (hits that fell on a component and step already struck)
    window : the chosen window's bass notes, drum hits and bars holding both (``window_density``)
    tempo_changes : ((0-based song bar, bpm), ...) tempo changes after the loop's first tick and inside it
    repeated : 2 when a 4-bar song is played twice to make the loop, else 1
    meter : the song's ``MeterMap``
    fix : what was read as a player reads it (``loopkit.ownloop.songread.PlayerFix``: bytes clamped, programs)
    """

    source: str
    md5: str
    roll: np.ndarray
    start_bar: int
    song_bars: int
    chosen_by: str
    rules: dict
    bpm: float
    time_signature: str
    tracks: tuple[TrackInfo, ...]
    changed: dict
    window: dict
    tempo_changes: tuple[tuple[int, float], ...] = ()
    repeated: int = 1
    meter: MeterMap | None = None
    fix: PlayerFix = PlayerFix()

    @property
    def bars_read(self) -> int:
        """The song's bars the loop is made of: 8, or 4 played twice."""
        return BARS_PER_LOOP // self.repeated

    @property
    def bars_label(self) -> str:
        """The loop's bars as a DAW counts them: ``"bars 9-16"``, ``"bars 1-4 played twice"``."""
        twice = " played twice" if self.repeated > 1 else ""
        return f"bars {self.start_bar + 1}-{self.start_bar + self.bars_read}{twice}"

    @property
    def stem(self) -> str:
        """The file-name stem of the loop's files: ``groove_bars9-16``, ``groove_bars1-4x2``."""
        return loop_stem(self.source, self.start_bar + 1, self.start_bar + self.bars_read, self.repeated)

    @property
    def passes_rules(self) -> bool:
        return all(self.rules.values())

    def tracks_in(self, role: str) -> list[TrackInfo]:
        return [t for t in self.tracks if t.role == role]

    def summary(self) -> list[str]:
        """What was read, one fact a line (``loopkit encode`` prints these)."""
        lines = []
        for role in (*ROLES, "ignored"):
            chosen = self.tracks_in(role)
            if chosen:
                merged = f" ({len(chosen)} tracks merged)" if role in ROLES and len(chosen) > 1 else ""
                lines.append(f"{role}{merged}: " + "; ".join(t.describe() for t in chosen))
        lines.append(f"tempo {self.bpm:g} bpm at the loop's first bar; time signature {self.time_signature}")
        lines.extend(self.fix.lines())
        if self.tempo_changes:
            lines.append(self.tempo_change_line())
        failed = [k for k, ok in self.rules.items() if not ok]
        w = self.window
        lines.append(
            f"loop: {self.bars_label} of {self.song_bars} ({CHOSEN_BY[self.chosen_by]}): {w['bass_notes']} bass "
            f"note(s), {w['drum_hits']} drum hit(s), {w['bars_with_both']} of {BARS_PER_LOOP} bars with both; "
            + ("it passes every loop rule" if not failed else "it fails the loop rule(s): " + ", ".join(failed))
            + " (bars are song bars counted from 1, as --start-bar and vary --bars count them)"
        )
        d = self.changed
        lines.append(
            f"changed by the representation: {d['bass_repeats_merged']} repeated bass note(s) merged into a held "
            f"note, {d['bass_chord_cells']} chord note step(s) reduced to the lowest bass note (on "
            f"{d['bass_chord_steps']} step(s)), {d['bass_out_of_range']} bass note(s) outside C1..B7, "
            f"{d['off_grid']} note(s) moved onto the 16th grid by more than a 64th, {d['drums_unmapped']} drum "
            f"hit(s) the drum map drops, {d['drums_merged']} merged into a hit already there"
        )
        return lines

    def tempo_change_line(self) -> str:
        """``tempo changes inside the loop: 120 bpm at bar 5; ...``, or "" when there is none."""
        return tempo_change_line(self.tempo_changes, self.bpm)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "md5": self.md5,
            "first_bar": self.start_bar + 1,
            "last_bar": self.start_bar + self.bars_read,
            "repeated": self.repeated,
            "bar_numbering": BAR_NUMBERING,
            "song_bars": self.song_bars,
            "chosen_by": self.chosen_by,
            "loop_rules": dict(self.rules),
            "bpm": self.bpm,
            "time_signature": self.time_signature,
            "meter": {"override": bool(self.meter and self.meter.override),
                      "file": self.meter.events_text() if self.meter else "none"},
            "read_as_a_player": {"data_bytes_clamped": self.fix.clamped,
                                 "programs_from_other_tracks": [list(p) for p in self.fix.programs]},
            "tracks": {role: [t.describe() for t in self.tracks_in(role)] for role in (*ROLES, "ignored")},
            "changed": dict(self.changed),
            "window": dict(self.window),
            "tempo_changes": [{"bar": b + 1, "bpm": bpm} for b, bpm in self.tempo_changes],
        }


def loop_stem(source: str, first_bar: int, last_bar: int, repeated: int = 1) -> str:
    """The file-name stem of a loop's files: the source's stem and its 1-based bars, ``x2`` when played twice."""
    return f"{safe_stem(source)}_bars{first_bar}-{last_bar}" + (f"x{repeated}" if repeated > 1 else "")


def tempo_change_line(changes, bpm: float) -> str:
    """One line for tempo changes inside a loop: ``changes`` ((0-based bar, bpm), ...); "" when there is none."""
    if not len(changes):
        return ""
    listed = "; ".join(f"{float(b):g} bpm at bar {int(a) + 1}" for a, b in changes)
    return f"tempo changes inside the loop: {listed} (every file is written at {bpm:g} bpm throughout)"


def _tracks(score) -> list[TrackInfo]:
    return [TrackInfo(i, str(t.name), int(t.program), bool(t.is_drum), int(t.note_num()))
            for i, t in enumerate(score.tracks)]  # fmt: skip


def _pick_track(choice: int | str, role: str, tracks: list[TrackInfo], where: str) -> TrackInfo:
    """The track named by number or name (case-insensitive; a name must name exactly one)."""
    listing = "; ".join(t.describe() for t in tracks) or "none"
    if isinstance(choice, (int, np.integer)) or (isinstance(choice, str) and choice.strip().isdigit()):
        i = int(choice)
        if not 0 <= i < len(tracks):
            raise TrackChoiceError(f"{where}: there is no track #{i}; its tracks: {listing}", role, tracks)
        return tracks[i]
    found = [t for t in tracks if t.name.strip().lower() == str(choice).strip().lower()]
    if len(found) != 1:
        what = "no track" if not found else f"{len(found)} tracks"
        raise TrackChoiceError(f"{where}: {what} named {choice!r}; its tracks: {listing}", role, tracks)
    return found[0]


def _choices(choice) -> list:
    """A track choice as a list: None -> [], one number or name -> [it], a sequence -> its items."""
    if choice is None:
        return []
    if isinstance(choice, (list, tuple)):
        return list(choice)
    return [choice]


def _choose_tracks(tracks: list[TrackInfo], bass_track, drum_track, where: str) -> list[TrackInfo]:
    """Give every track its role: the chosen ones (several of a part are merged), else every GM bass track and
    every drum-channel track."""
    roles: dict[int, str] = {}
    if _choices(bass_track):
        for choice in _choices(bass_track):
            chosen = _pick_track(choice, "bass", tracks, where)
            if chosen.is_drum:
                raise TrackChoiceError(f"{where}: track {chosen.describe()} is on the drum channel: it cannot be the "
                                       "bass", "bass", tracks)  # fmt: skip
            roles[chosen.index] = "bass"
    else:
        roles.update({t.index: "bass" for t in tracks if not t.is_drum and t.program in BASS_PROGRAMS and t.notes})
    if _choices(drum_track):
        for choice in _choices(drum_track):
            chosen = _pick_track(choice, "drums", tracks, where)
            if roles.get(chosen.index) == "bass":
                raise TrackChoiceError(f"{where}: track #{chosen.index} cannot be both the bass and the drums",
                                       "drums", tracks)  # fmt: skip
            roles[chosen.index] = "drums"
    else:
        roles.update({t.index: "drums" for t in tracks if t.is_drum and t.notes and t.index not in roles})
    listing = "; ".join(t.describe() for t in tracks if t.notes) or "no track with notes"
    for role, rule in (("bass", "a General MIDI bass program (33-40)"), ("drums", "the drum channel (10)")):
        if role not in roles.values():
            raise TrackChoiceError(
                f"{where}: no {role} track (none on {rule}); its tracks: {listing}. Choose one as the {role} track "
                "by its number or name", role, tracks)  # fmt: skip
    return [TrackInfo(t.index, t.name, t.program, t.is_drum, t.notes, roles.get(t.index, "ignored")) for t in tracks]


def _part_score(score, tracks: list[TrackInfo]):
    """A copy of ``score`` with only the chosen tracks, each made to read as its part: a chosen bass track keeps
    its program (passed as the bass programs), a chosen drum track goes on the drum channel."""
    import symusic

    part = score.copy()
    part.tracks = symusic.Score(int(score.ticks_per_quarter)).tracks  # an empty track list of the right type
    for info in tracks:
        if info.role == "ignored":
            continue
        track = score.tracks[info.index].copy()
        track.is_drum = info.role == "drums"
        part.tracks.append(track)
    return part


def _window_changes(score, tracks: list[TrackInfo], origin: int, first_step: int, drum_map: str, notes,
                    roll: np.ndarray, span: int = LOOP_STEPS) -> dict:  # fmt: skip
    """What the representation changes inside steps ``first_step .. first_step + span - 1`` (see
    ``LoopReading``); ``roll`` is the loop's (128, 93) roll, whose first ``span`` steps are the window."""
    tpq = int(score.ticks_per_quarter)
    lo, hi = first_step, first_step + span
    out = dict(bass_repeats_merged=0, bass_out_of_range=0, bass_chord_cells=0, bass_chord_steps=0, off_grid=0,
               drums_unmapped=0, drums_merged=0)  # fmt: skip
    lookup = drum_map_lookup(drum_map)
    for info in tracks:
        if info.role == "ignored" or not info.notes:
            continue
        n = score.tracks[info.index].notes.numpy()
        ticks = n["time"].astype(np.int64) - origin
        on = ticks_to_steps(ticks, tpq)
        inside = (on >= lo) & (on < hi)
        pitch = n["pitch"].astype(np.int64)
        # |4 ticks / tpq - step| > OFF_GRID_SHARE, in integers
        moved = np.abs(STEPS_PER_BEAT * ticks - on * tpq) > OFF_GRID_SHARE * tpq
        out["off_grid"] += int(np.count_nonzero(inside & moved))
        if info.role == "bass":
            out["bass_out_of_range"] += int(np.count_nonzero(inside & ((pitch < BASS_LOWEST_PITCH) |
                                                                        (pitch > BASS_HIGHEST_PITCH))))  # fmt: skip
        else:
            out["drums_unmapped"] += int(np.count_nonzero(inside & (lookup[pitch & 127] < 0)))
    # bass: a note kept at its onset (the lowest there) that starts while its pitch already sounds in the roll, or
    # on the step another note of its pitch starts, is heard as part of one held note
    started: set[tuple[int, int]] = set()
    for a, c in sorted(zip(notes.bass_on.tolist(), notes.bass_col.tolist())):
        if lo <= a < hi and roll[a - lo, c]:
            if (a, c) in started or (a > lo and roll[a - lo - 1, c]):
                out["bass_repeats_merged"] += 1
            started.add((a, c))
    # bass: every (step, pitch) cell that sounds in the window, against the one lowest note kept per step
    sounding = np.zeros((LOOP_STEPS, N_BASS), dtype=bool)
    for a, b, c in zip(notes.bass_on, notes.bass_off, notes.bass_col):
        a, b = max(int(a), lo), min(int(b), hi)
        if a < b:
            sounding[a - lo : b - lo, int(c)] = True
    per_step = sounding.sum(axis=1)
    out["bass_chord_cells"] = int(np.maximum(per_step - 1, 0).sum())
    out["bass_chord_steps"] = int(np.count_nonzero(per_step > 1))
    hits = (notes.drum_on >= lo) & (notes.drum_on < hi)
    cells = {(int(s), int(c)) for s, c in zip(notes.drum_on[hits], notes.drum_col[hits])}
    out["drums_merged"] = int(np.count_nonzero(hits)) - len(cells)
    return out


def window_density(song: np.ndarray, start_bar: int) -> dict:
    """``{"bass_notes", "drum_hits", "bars_with_both"}`` of the 8 bars of a song roll (t, 93) from ``start_bar``:
    notes as ``loopkit.ownloop.resemblance`` counts them (a held bass note is one), bars that hold bass and drums."""
    roll = np.asarray(song, dtype=bool)[start_bar * STEPS_PER_BAR : (start_bar + BARS_PER_LOOP) * STEPS_PER_BAR]
    notes = part_notes(roll)
    bars = roll.reshape(BARS_PER_LOOP, STEPS_PER_BAR, -1)
    both = bars[:, :, BASS_COLUMNS].any(axis=(1, 2)) & bars[:, :, DRUM_COLUMNS].any(axis=(1, 2))
    return {"bass_notes": len(notes["bass"]), "drum_hits": len(notes["drums"]), "bars_with_both": int(both.sum())}


def densest_window(song: np.ndarray) -> int:
    """The 0-based first bar of the densest 8-bar window of a song roll (t, 93): the most bars holding both bass and
    drums, then the most notes (bass notes + drum hits, ``window_density``), then the earliest. The fallback of
    ``read_loop`` when no window passes the loop rules: an intro of drums alone, or of silence, loses to the
    song's body."""
    n_bars = np.asarray(song).shape[0] // STEPS_PER_BAR
    starts = range(max(n_bars - BARS_PER_LOOP + 1, 1))
    density = [window_density(song, b) for b in starts]
    return max(starts, key=lambda b: (density[b]["bars_with_both"], density[b]["bass_notes"] + density[b]["drum_hits"],
                                      -b))  # fmt: skip


def _tempo_changes(score, first_tick: int, last_tick: int, first_bar: int, bpm: float) -> tuple:
    """((0-based song bar, bpm), ...) of the tempo events after ``first_tick`` and before ``last_tick`` that change
    the tempo in effect (``bpm`` at ``first_tick``)."""
    tempos = score.tempos.numpy()
    if len(tempos["time"]) == 0:
        return ()
    order = np.argsort(tempos["time"], kind="stable")
    times = np.asarray(tempos["time"], dtype=np.int64)[order]
    qpm = mspq_to_bpm(tempos["mspq"])[order]
    bar_ticks = BEATS_PER_BAR * int(score.ticks_per_quarter)
    out, current = [], round(float(bpm), 3)
    for t, q in zip(times.tolist(), qpm.tolist()):
        q = round(float(q), 3)
        if first_tick < t < last_tick and np.isfinite(q) and q != current:
            out.append((first_bar + (t - first_tick) // bar_ticks, q))
            current = q
    return tuple(out)


def _parse(path: Path, data: bytes):
    """``(score, PlayerFix)``: the file parsed by symusic as a player reads it
    (``loopkit.ownloop.songread.player_bytes``); a file the parser refuses is read once more with its data bytes
    clamped. A file mido cannot read (or write back) is read as symusic reads it, or refused in one line."""
    import symusic

    def parse(midi: bytes):
        try:
            return symusic.Score.from_midi(midi), None
        except (ValueError, RuntimeError) as exc:
            return None, exc

    try:
        midi = standard_midi_bytes(data)
    except LoopkitError as exc:
        raise LoopkitError(f"{path}: {exc}") from None
    score, error = parse(midi)
    try:
        fixed, fix = player_bytes(midi, clamp=score is None)
    except (EOFError, ValueError, OSError, KeyError, IndexError) as exc:  # mido cannot read or write it back
        fixed, fix = midi, PlayerFix()
        error = error or exc
    if fixed is not midi:
        score, error = parse(fixed)
    if score is None:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LoopkitError(f"{path}: not a readable MIDI file ({first})") from None
    return score, fix


def _meter_text(meter: MeterMap, meters: tuple[str, ...], extraction_rejects: bool) -> str:
    """How the loop's meter was read, for ``LoopReading.time_signature``."""
    if meter.override:
        said = meter.events_text()
        return f"4/4 as asked (--meter 4/4; the file's time signatures, not used: {said})"
    named = {"none": "none (4/4 assumed)", "2/2": "2/2 (a bar of four quarter notes: read as 4/4)"}
    text = " and ".join(named.get(m, m) for m in meters)
    if extraction_rejects:
        text += (f"; the file's time signatures: {meter.events_text()}: only the loop's bars must be 4/4 here (corpus "
                 "extraction would reject the whole file)")  # fmt: skip
    return text


def read_loop(
    source: str | os.PathLike,
    start_bar: int | None = None,
    *,
    bass_track: int | str | Sequence[int | str] | None = None,
    drum_track: int | str | Sequence[int | str] | None = None,
    drum_map: str = "full",
    rules: LoopRules = LoopRules(),
    meter: str | None = None,
) -> LoopReading:
    """Read one 8-bar loop of bass and drums from a MIDI file (see the module docstring).

    Parameters
    ----------
    source : a standard MIDI file
    start_bar : the loop's first bar, 0-based (``BAR_NUMBERING``); default the first window that passes
        ``rules``, else the densest window (``densest_window``); windows lie in stretches of 4/4 bars
        (``loopkit.ownloop.songread.meter_map``)
    bass_track, drum_track : a track's number (its place in ``LoopReading.tracks``) or name, or a list of them
        (merged into one part), to use instead of every GM bass track / every drum-channel track (needed when the
        file has none; a chosen drum track is read through the GM drum map whatever its channel)
    meter : None (the file's time signatures, bar by bar) or "4/4" (the whole file read as 4/4)

    A song of exactly 4 bars is played twice (``repeated``). Raises ``LoopkitError`` with one line for a file that
    is not MIDI, has no 8 bars of 4/4 in a row (nor is a 4-bar song), has no bass or no drums
    (``TrackChoiceError``, naming the tracks it has), reaches past ``MAX_SONG_BARS``, or has fewer than 8 bars of
    4/4 from ``start_bar``.
    """
    path = Path(source)
    if not path.is_file():
        where = "" if path.is_absolute() else f" (looked for {path.absolute()})"
        raise FileNotFoundError(f"no MIDI file at {path}{where}")
    if meter is not None and meter not in METERS:
        raise LoopkitError(f"the meter is the file's or one of {', '.join(METERS)}, got {meter!r}")
    data = path.read_bytes()
    score, fix = _parse(path, data)
    tracks = _choose_tracks(_tracks(score), bass_track, drum_track, str(path))
    part = _part_score(score, tracks)
    bass_programs = tuple(sorted({t.program for t in tracks if t.role == "bass"}))
    tpq = int(score.ticks_per_quarter)
    origin = bar_origin(score)
    notes = score_notes(part, drum_map=drum_map, bass_programs=bass_programs, origin=origin)
    if len(notes.bass_on) == 0:
        raise LoopkitError(f"{path}: the bass track(s) have no note in C1..B7 (MIDI {BASS_LOWEST_PITCH}.."
                           f"{BASS_HIGHEST_PITCH})")  # fmt: skip
    if len(notes.drum_on) == 0:
        raise LoopkitError(f"{path}: the drum track(s) have no note the '{drum_map}' drum map keeps")
    end_tick = last_onset_tick(part) + 1
    if int(ticks_to_steps(end_tick - origin, tpq)) > MAX_SONG_BARS * STEPS_PER_BAR:
        late = (end_tick - origin) // (BEATS_PER_BAR * tpq) + 1
        raise LoopkitError(f"{path}: absurd length: a note starts in bar {late}; loopkit reads songs of up to "
                           f"{MAX_SONG_BARS} bars, as extraction does")  # fmt: skip
    song_meter = meter_map(score, end_tick, override=meter == "4/4")
    song_bars = song_meter.song_bars
    fix_meter = "" if song_meter.override else f" ({METER_HINT})"
    long = [s for s in song_meter.stretches if s.bars >= BARS_PER_LOOP]
    whole_four = (song_bars == REPEATED_BARS and song_meter.stretch_holding(0, REPEATED_BARS) is not None)
    repeated = 2 if whole_four and not long and start_bar in (None, 0) else 1
    if repeated == 1 and not long:
        if song_bars < BARS_PER_LOOP:
            raise LoopkitError(f"{path}: the song has {song_bars} bar(s) of bass and drums; a loop needs "
                               f"{BARS_PER_LOOP} bars of 4/4, or {REPEATED_BARS} (played twice)")  # fmt: skip
        raise LoopkitError(f"{path}: no {BARS_PER_LOOP} bars of 4/4 in a row (four-beat bars: "
                           f"{song_meter.stretches_text()}; the file's time signatures: {song_meter.events_text()}); "
                           f"the models read 4/4 loops only{fix_meter}")  # fmt: skip
    if start_bar is not None and int(start_bar) < 0:
        raise LoopkitError(f"the first bar must be bar 1 or later, got bar {int(start_bar) + 1}")
    if repeated == 2:
        stretch, local, chosen_by = song_meter.stretches[0], 0, "repeated"
    elif start_bar is None:
        stretch, local, chosen_by, best = None, 0, "first loop", None
        for s in long:
            _, roll_s = stretch_roll(part, s, drum_map, bass_programs)
            found = find_loops(roll_s, rules)
            if len(found):
                stretch, local = s, int(found[0])
                break
            b = densest_window(roll_s)
            d = window_density(roll_s, b)
            key = (d["bars_with_both"], d["bass_notes"] + d["drum_hits"])
            if best is None or key > best[0]:
                best = (key, s, b)
        if stretch is None:
            _, stretch, local = best
            chosen_by = "densest"
    else:
        start, chosen_by = int(start_bar), "given"
        if start + BARS_PER_LOOP > song_bars:
            have = max(song_bars - start, 0)
            raise LoopkitError(f"{path}: {have} bar(s) of bass and drums from bar {start + 1} (the song has "
                               f"{song_bars}); a loop needs {BARS_PER_LOOP}")  # fmt: skip
        stretch = song_meter.stretch_holding(start, BARS_PER_LOOP)
        if stretch is None:
            raise LoopkitError(f"{path}: bars {start + 1}-{start + BARS_PER_LOOP} are not all 4/4 (the file's time "
                               f"signatures: {song_meter.events_text()}); {BARS_PER_LOOP} bars of 4/4 in a row stand "
                               f"in {song_meter.stretches_text(BARS_PER_LOOP)}{fix_meter}")  # fmt: skip
        local = start - stretch.first_bar
    notes, roll_s = stretch_roll(part, stretch, drum_map, bass_programs)
    bars_read = BARS_PER_LOOP // repeated
    window = roll_s[local * STEPS_PER_BAR : (local + bars_read) * STEPS_PER_BAR]
    roll = np.concatenate([window] * repeated) if repeated > 1 else window.copy()
    start = stretch.first_bar + local
    checks = window_checks(roll, rules)
    passes = {k: bool(checks[k][0]) for k in ("hamming", "kick", "crash", "bass")}
    first_tick = stretch.start + local * BEATS_PER_BAR * tpq
    bpm = round(float(tempo_at(score, np.array([first_tick]))[0]), 3)
    tempo_changes = _tempo_changes(score, first_tick, first_tick + bars_read * BEATS_PER_BAR * tpq, start, bpm)
    signature = _meter_text(song_meter, stretch.meters, time_signature_rule(score) is not None)
    changed = _window_changes(score, tracks, stretch.start, local * STEPS_PER_BAR, drum_map, notes, roll,
                              bars_read * STEPS_PER_BAR)  # fmt: skip
    return LoopReading(str(source), hashlib.md5(data).hexdigest(), roll, start, song_bars, chosen_by, passes, bpm,
                       signature, tuple(tracks), changed, window_density(roll, 0), tempo_changes, repeated,
                       song_meter, fix)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# the book's default loop


def held_out_loop(loops, split: str = "test") -> tuple[Path, int]:
    """``(MIDI file, 0-based start bar)`` of the first loop of ``split`` in a data set (``loopkit.load_loops``): a
    loop the models were not trained on. The recorded source is found as ``find_source`` finds it."""
    meta = loops.meta
    rows = meta[meta["split"] == split]
    if rows.empty:
        raise LoopkitError(f"the data set has no {split} loop")
    row = rows.iloc[0]
    return find_source(row["source"], loops.path), int(row["start_bar"])


def find_source(source: str, near: str | os.PathLike) -> Path:
    """A source as extraction recorded it (``loopkit.data.inputs``): a path, found from the working directory or from a
    folder above ``near``; or an archive member (``ARCHIVE!MEMBER``), read out of its archive (streamed) into
    ``near``'s parent folder (the run's output folder), ``held_out/MEMBER-NAME``."""
    from loopkit.data.inputs import MEMBER_SEPARATOR, iter_inputs

    def located(rec: Path) -> Path | None:
        candidates = [rec] if rec.is_absolute() else [rec, *(p / rec for p in Path(near).resolve().parents)]
        return next((p for p in candidates if p.is_file()), None)

    archive, sep, member = str(source).partition(MEMBER_SEPARATOR)
    if not sep:
        found = located(Path(source))
        if found is None:
            raise FileNotFoundError(f"the data set's source {source} is not there any more")
        return found
    path = located(Path(archive))
    if path is None:
        raise FileNotFoundError(f"the archive {archive} of the data set's source {source} is not there any more")
    target = Path(near).resolve().parent / "held_out" / safe_stem(member)
    target = target.with_suffix(Path(member).suffix or ".mid")
    if not target.is_file():
        wanted = f"{path}{MEMBER_SEPARATOR}{member}"
        target.parent.mkdir(parents=True, exist_ok=True)
        for entry in iter_inputs([str(path)]):
            if entry.source == wanted and entry.read is not None:
                write_bytes(target, entry.read())
                break
        else:
            raise FileNotFoundError(f"{archive} holds no member {member}")
    return target
