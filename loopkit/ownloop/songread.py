"""A musician's MIDI file read as a MIDI player reads it, for your own loop (beyond the paper: its extraction keeps
its own rules in ``loopkit.data.extract``): data bytes out of range clamped, programs per channel from whichever track
sets them, and the meter judged bar by bar, so that 8 bars of 4/4 are a loop's candidate wherever they stand.

``player_bytes`` rewrites the file only where a player and symusic would disagree: a data byte over 127 (a
velocity of 156, say) becomes 127 as mido's ``clip=True`` makes it, and a note whose channel's program was last
set on another track (a "DATA" track of program changes, as many web files have) gets that program change in its
own track, because symusic reads programs per track. ``meter_map`` lays the bar lines of a song: 4/4 from
``loopkit.data.pianoroll.bar_origin`` until the first time-signature event, then each event starts a bar (an event
inside a bar cuts it short: an irregular bar); bars are numbered 0, 1, ... from the origin (1-based in messages,
as a DAW counts them; a pickup before the origin is no bar, as in extraction). A stretch of four-beat bars (4/4,
or 2/2, whose bar holds four quarter notes) is where a loop can stand; ``override=True`` (``--meter 4/4``) reads
the whole file as 4/4 whatever its markers say.
"""

from __future__ import annotations

import bisect
import io
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from loopkit.data.pianoroll import BEATS_PER_BAR, STEPS_PER_BAR, bar_origin, notes_to_roll, score_notes

#: The meters whose bars hold four quarter notes: read as 4/4 (the report says so for 2/2).
FOUR_BEAT_METERS = ((4, 4), (2, 2))
#: The GM drum channel (0-based): its notes have no program.
DRUM_CHANNEL = 9


# ---------------------------------------------------------------------------------------------------------
# bytes as a player reads them


def program_name(program: int) -> str:
    """The General MIDI name of a 0-based program: 33 -> "Electric Bass (finger)"."""
    import pretty_midi

    return pretty_midi.program_to_instrument_name(int(program))


@dataclass(frozen=True)
class PlayerFix:
    """What ``player_bytes`` changed: ``clamped`` data bytes over 127 set to 127; ``programs``: one
    ``(track name, 1-based channel, 0-based GM program, name of the track that sets it)`` per note track and channel
    that takes its program from another track."""

    clamped: int = 0
    programs: tuple[tuple[str, int, int, str], ...] = ()

    def lines(self) -> list[str]:
        """What the summary of a reading says about it ("" parts left out)."""
        out = []
        if self.clamped:
            out.append(f"{self.clamped} data byte(s) above 127 (e.g. a velocity of 156) clamped to 127, as a player "
                       "reads them")  # fmt: skip
        if self.programs:
            said = "; ".join(f'track "{t or "(no name)"}" channel {c}: GM program {p + 1}, {program_name(p)}, set on '
                             f'track "{src or "(no name)"}"' for t, c, p, src in self.programs)  # fmt: skip
            out.append(f"programs read per channel from the track that sets them, as a player does: {said}")
        return out


def _varlen(body: bytes, i: int) -> tuple[int, int]:
    value = 0
    while True:
        b = body[i]
        i += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i


#: Data bytes of the system messages mido reads (undefined ones raise there and here).
_SYSTEM_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}


def _scan(data: bytes):
    """``(tracks, clamped)`` of a standard MIDI file, read as mido reads it: per ``MTrk`` chunk its name and its
    note-ons (velocity > 0) and program changes as ``(tick, "on" | "pc", channel, value)``; ``clamped``: data bytes
    over 127 in channel and system messages. None where the bytes do not parse (symusic then says why)."""
    try:
        pos = 8 + int.from_bytes(data[4:8], "big")
        tracks, clamped = [], 0
        while pos + 8 <= len(data):
            kind, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "big")
            body = data[pos + 8 : pos + 8 + length]
            pos += 8 + length
            if kind != b"MTrk":
                continue
            events, name, i, tick, last = [], "", 0, 0, None
            while i < len(body):
                delta, i = _varlen(body, i)
                tick += delta
                status = body[i]
                if status < 0x80:  # running status: this byte is the first data byte
                    if last is None:
                        return None
                    status = last
                else:
                    i += 1
                    if status != 0xFF:
                        last = status
                if status == 0xFF:
                    meta = body[i]
                    size, i = _varlen(body, i + 1)
                    if meta == 0x03 and not name:
                        name = body[i : i + size].decode("latin-1")
                    i += size
                elif status in (0xF0, 0xF7):
                    size, i = _varlen(body, i)
                    i += size
                else:
                    size = (1 if status & 0xF0 in (0xC0, 0xD0) else 2) if status < 0xF0 else _SYSTEM_DATA[status]
                    values = body[i : i + size]
                    if len(values) < size:
                        return None
                    i += size
                    clamped += sum(v > 127 for v in values)
                    if status & 0xF0 == 0x90 and values[1] > 0:
                        events.append((tick, "on", status & 0x0F, min(values[0], 127)))
                    elif status & 0xF0 == 0xC0:
                        events.append((tick, "pc", status & 0x0F, min(values[0], 127)))
            tracks.append((name, events))
        return tracks, clamped
    except (IndexError, KeyError):
        return None


def _program_plan(tracks) -> dict[tuple[int, int], int]:
    """``{(track, index of a note-on in its events): program}``: the note-ons whose channel's program, as a player
    reads it (the latest program change on that channel at or before the note, from any track), differs from the
    program of their own track's latest change (what symusic reads; 0 before any)."""
    changes: dict[int, list] = {}
    for t, (_, events) in enumerate(tracks):
        for k, (tick, kind, channel, value) in enumerate(events):
            if kind == "pc":
                changes.setdefault(channel, []).append((tick, t, k, value))
    for found in changes.values():
        found.sort()
    plan = {}
    for t, (_, events) in enumerate(tracks):
        own: dict[int, int] = {}
        for k, (tick, kind, channel, value) in enumerate(events):
            if kind == "pc":
                own[channel] = value
                continue
            if channel == DRUM_CHANNEL or channel not in changes:
                continue
            found = changes[channel]
            j = bisect.bisect_right(found, (tick, len(tracks), 0, 128)) - 1
            if j < 0:
                continue
            program, source = found[j][3], found[j][1]
            if program != own.get(channel, 0):
                plan[(t, k)] = (program, source)
                own[channel] = program
    return plan


def player_bytes(data: bytes, clamp: bool) -> tuple[bytes, PlayerFix]:
    """``data`` (a standard MIDI file, header checked) as a player reads it, and what changed (see the module
    docstring); ``clamp``: clamp data bytes over 127 (when the parser refused the file). The bytes come back
    unchanged when nothing needs changing."""
    import mido

    scanned = _scan(data)
    if scanned is None:
        return data, PlayerFix()
    tracks, clamped = scanned
    plan = _program_plan(tracks)
    if not plan and not (clamp and clamped):
        return data, PlayerFix()
    mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
    if len(mid.tracks) != len(tracks):
        return data, PlayerFix()
    said: dict[tuple[int, int], tuple[str, int, int, str]] = {}
    for t, track in enumerate(mid.tracks):
        k, out = -1, mido.MidiTrack()
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0 or msg.type == "program_change":
                k += 1
            fix = plan.get((t, k)) if msg.type == "note_on" and msg.velocity > 0 else None
            if fix is not None:
                out.append(mido.Message("program_change", channel=msg.channel, program=fix[0], time=msg.time))
                msg = msg.copy(time=0)
                said.setdefault((t, msg.channel), (tracks[t][0], msg.channel + 1, fix[0], tracks[fix[1]][0]))
            out.append(msg)
        mid.tracks[t] = out
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue(), PlayerFix(clamped if clamp else 0, tuple(said[key] for key in sorted(said)))


# ---------------------------------------------------------------------------------------------------------
# the meter, bar by bar


@dataclass(frozen=True)
class Stretch:
    """Bars of four quarter notes in a row: ``first_bar`` (0-based song bar), ``start`` (tick of its first bar
    line), ``bars``, and the meters they stand in (``"4/4"``, ``"2/2"``, ``"none"``: no event, 4/4 assumed)."""

    first_bar: int
    start: int
    bars: int
    meters: tuple[str, ...]

    def holds(self, first_bar: int, bars: int) -> bool:
        return self.first_bar <= first_bar and first_bar + bars <= self.first_bar + self.bars


@dataclass(frozen=True)
class MeterMap:
    """The bar lines of a song (see the module docstring).

    Attributes
    ----------
    events : ((0-based bar, tick, numerator, denominator), ...) the file's time signatures where they stand
    stretches : the stretches of four-beat bars, in order
    song_bars : bars up to the song's last note
    override : True when ``--meter 4/4`` reads the whole file as 4/4
    """

    events: tuple[tuple[int, int, int, int], ...]
    stretches: tuple[Stretch, ...]
    song_bars: int
    override: bool = False

    def stretch_holding(self, first_bar: int, bars: int) -> Stretch | None:
        return next((s for s in self.stretches if s.holds(first_bar, bars)), None)

    def events_text(self) -> str:
        """``"4/4 at bar 1, 3/4 at bar 25"`` (bars as a DAW counts them), or "none"."""
        if not self.events:
            return "none"
        if self.override:  # bars of the file's own meter are not the bars read
            return ", ".join(f"{n}/{d} at tick {t}" for _, t, n, d in self.events)
        return ", ".join(f"{n}/{d} at bar {b + 1}" for b, _, n, d in self.events)

    def stretches_text(self, at_least: int = 1) -> str:
        """``"bars 1-24, 33-95"``: the stretches of at least ``at_least`` bars, or "none"."""
        runs = [f"{s.first_bar + 1}-{s.first_bar + s.bars}" for s in self.stretches if s.bars >= at_least]
        return "bars " + ", ".join(runs) if runs else "none"


def meter_map(score, end_tick: int, override: bool = False) -> MeterMap:
    """The ``MeterMap`` of a ``symusic.Score`` whose music ends before ``end_tick`` (see the module docstring).
    Bars are counted arithmetically, never enumerated, so an absurd meter (1/64 at 1 tick per quarter) costs
    nothing; a malformed one (numerator or denominator 0) is one irregular bar up to the next event."""
    tpq = int(score.ticks_per_quarter)
    four = BEATS_PER_BAR * tpq
    origin = bar_origin(score)
    sigs: dict[int, tuple[int, int]] = {}
    for ts in sorted(score.time_signatures, key=lambda ts: int(ts.time)):
        sigs[int(ts.time)] = (int(ts.numerator), int(ts.denominator))  # the last at one tick counts
    if override or not sigs:
        spans = [(origin, BEATS_PER_BAR, 4, "none" if not sigs else "4/4")]
    else:
        spans = [(t, n, d, f"{n}/{d}") for t, (n, d) in sorted(sigs.items())]
        if spans[0][0] > origin:
            spans.insert(0, (origin, BEATS_PER_BAR, 4, "none"))
    events, stretches, bar = [], [], 0
    end_tick = max(int(end_tick), origin + 1)
    for i, (a, n, d, label) in enumerate(spans):
        if i and a >= end_tick:
            break
        if label != "none" and not override:
            events.append((bar, a, n, d))
        nxt = spans[i + 1][0] if i + 1 < len(spans) else None
        b = end_tick if nxt is None or nxt > end_tick else nxt
        if n <= 0 or d <= 0:
            bar += 1
            continue
        length = Fraction(n * 4 * tpq, d)
        numbered = -(-(b - a) // length)
        whole = numbered if b == end_tick else (b - a) // length
        if (n, d) in FOUR_BEAT_METERS and length == four and whole:
            prev = stretches[-1] if stretches else None
            if prev and prev.first_bar + prev.bars == bar and prev.start + prev.bars * four == a:
                meters = prev.meters + ((label,) if label not in prev.meters else ())
                stretches[-1] = Stretch(prev.first_bar, prev.start, prev.bars + int(whole), meters)
            else:
                stretches.append(Stretch(bar, a, int(whole), (label,)))
        bar += int(numbered)
    if override and sigs:
        events = [(0, t, n, d) for t, (n, d) in sorted(sigs.items())]  # as the file says, for the report
    return MeterMap(tuple(events), tuple(stretches), bar, override)


def clip_notes(notes, n_steps: int):
    """``loopkit.data.pianoroll.SongNotes`` cut to steps 0 .. ``n_steps`` - 1: later onsets dropped, held bass notes
    ended there (a note held for 0x0FFFFFFF ticks costs one stretch, not the whole song)."""
    from loopkit.data.pianoroll import SongNotes

    b, d = notes.bass_on < n_steps, notes.drum_on < n_steps
    return SongNotes(notes.bass_on[b], np.minimum(notes.bass_off[b], n_steps), notes.bass_col[b], notes.drum_on[d],
                     notes.drum_col[d])  # fmt: skip


def stretch_roll(part, stretch: Stretch, drum_map: str, bass_programs: tuple[int, ...]):
    """``(notes, roll)`` of one stretch of a score holding only the loop's parts: its notes quantised from its first
    bar line and cut at its end (``clip_notes``), and its roll (t, 93), t = 16 steps a bar."""
    notes = clip_notes(score_notes(part, drum_map=drum_map, bass_programs=bass_programs, origin=stretch.start),
                       stretch.bars * STEPS_PER_BAR)  # fmt: skip
    return notes, notes_to_roll(notes, stretch.bars * STEPS_PER_BAR)


def last_onset_tick(part) -> int:
    """The tick of the last note-on of a score (-1 without notes): where the song ends, whatever its note-offs."""
    return max((int(t.notes.numpy()["time"].max()) for t in part.tracks if t.note_num()), default=-1)
