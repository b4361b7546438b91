"""Small standard MIDI files for the tests, built with mido (a library independent of the symusic reader).

Times are absolute ticks; ``build`` sorts every track's events by tick (at one tick: meta events and program
changes first, then note-offs, then note-ons) and writes delta times. Example::

    bass = track(program(33, channel=1), note(40, 0, 480, channel=1))
    drums = track(note(36, 0, 60, channel=9), note(49, 0, 60, channel=9))
    data = build(track(time_signature(4, 4), tempo(120)), bass, drums, tpq=480)
"""

from __future__ import annotations

import io
from pathlib import Path

import mido

DRUM_CHANNEL = 9  # MIDI channel 10, 0-based

_ORDER = {"note_off": 1, "note_on": 2}
_AFTER_ONS = 3


def _key(event):
    tick, msg = event[:2]
    if len(event) == 3:
        return (tick, event[2])
    kind = msg.type
    if kind == "note_on" and msg.velocity == 0:
        kind = "note_off"
    return (tick, _ORDER.get(kind, 0))


def on(pitch: int, at: int, velocity: int = 100, channel: int = 0) -> list:
    """A lone note-on event."""
    return [(at, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel))]


def off(pitch: int, at: int, channel: int = 0, running_zero: bool = False) -> list:
    """A lone note-off event (``running_zero``: written as a note-on with velocity 0, as many files do)."""
    if running_zero:
        return [(at, mido.Message("note_on", note=pitch, velocity=0, channel=channel))]
    return [(at, mido.Message("note_off", note=pitch, velocity=0, channel=channel))]


def note(pitch: int, start: int, duration: int, velocity: int = 100, channel: int = 0) -> list:
    """Note-on at ``start`` and note-off ``duration`` ticks later (a zero-length note: the off follows the on)."""
    end = off(pitch, start + duration, channel)
    if duration == 0:
        end = [(t, msg, _AFTER_ONS) for t, msg in end]
    return on(pitch, start, velocity, channel) + end


def drum(pitch: int, start: int, duration: int = 30, velocity: int = 100) -> list:
    """A hit on the GM drum channel."""
    return note(pitch, start, duration, velocity, channel=DRUM_CHANNEL)


def program(number: int, channel: int = 0, at: int = 0) -> list:
    """A program change (0-based GM program)."""
    return [(at, mido.Message("program_change", program=number, channel=channel))]


def time_signature(numerator: int, denominator: int, at: int = 0) -> list:
    return [(at, mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator))]


def tempo(bpm: float, at: int = 0) -> list:
    return [(at, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))]


def track(*groups: list, name: str | None = None) -> list:
    """One MIDI track from event groups (lists returned by ``note``, ``program``, ...)."""
    events = [(0, mido.MetaMessage("track_name", name=name))] if name else []
    for group in groups:
        events.extend(group)
    return events


def build(*tracks: list, tpq: int = 480, midi_type: int | None = None) -> bytes:
    """Standard MIDI file bytes for the given tracks (type 1, or type 0 for a single track)."""
    if midi_type is None:
        midi_type = 0 if len(tracks) == 1 else 1
    mid = mido.MidiFile(type=midi_type, ticks_per_beat=tpq)
    for events in tracks:
        mt = mido.MidiTrack()
        now = 0
        for event in sorted(events, key=_key):
            tick, msg = event[:2]
            mt.append(msg.copy(time=tick - now))
            now = tick
        mt.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(mt)
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def write(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def bar(n: float, tpq: int = 480) -> int:
    """Tick of the start of 0-based 4/4 bar ``n``."""
    return int(round(n * 4 * tpq))


def step(n: float, tpq: int = 480) -> int:
    """Tick of 0-based 16th-note step ``n``."""
    return int(round(n * tpq / 4))


def loop_song(
    bars: int = 8,
    tpq: int = 480,
    bass_pitch: int = 40,
    signature: tuple[int, int] | None = (4, 4),
    bpm: float = 120.0,
    crash_bars: tuple[int, ...] = (0,),
) -> bytes:
    """A song that is one loop per 8 bars: every bar identical (bass on each beat, kick on each beat, snare
    on beats 2 and 4), a crash on the first step of the bars in ``crash_bars``."""
    conductor = track(*(([time_signature(*signature)] if signature else []) + [tempo(bpm)]))
    bass_events = [program(33, channel=1)]
    drum_events = []
    for b in range(bars):
        for beat in range(4):
            t = bar(b, tpq) + beat * tpq
            bass_events.append(note(bass_pitch, t, tpq // 2, channel=1))
            drum_events.append(drum(36, t))
            if beat in (1, 3):
                drum_events.append(drum(38, t))
        if b in crash_bars:
            drum_events.append(drum(49, bar(b, tpq)))
    return build(conductor, track(*bass_events), track(*drum_events), tpq=tpq)
