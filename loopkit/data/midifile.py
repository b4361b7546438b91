"""A MIDI file's bytes and header-level facts, read before any roll is built (Data Preprocess): the standard MIDI
file inside the bytes (RIFF .rmi unwrapped, the header checked, or a lenient rewrite for a damaged file), the
paper's time-signature rule, and the tempo in effect at a tick.

Shared by corpus extraction (``loopkit.data.extract``) and a musician's own file (``loopkit.ownloop.reader``).
"""

from __future__ import annotations

import struct

import numpy as np

from loopkit.data.pianoroll import (
    BEATS_PER_BAR,
    DEFAULT_BPM,
    MAX_BPM,
    STEPS_PER_BAR,
    bar_origin,
    mspq_to_bpm,
    ticks_to_steps,
)
from loopkit.errors import LoopkitError


def standard_midi_bytes(data: bytes) -> bytes:
    """The standard MIDI file inside ``data`` after header checks (``ValueError`` with the reason if not).

    Unwraps a RIFF ``RMID`` file (.rmi); checks the ``MThd`` header, that time is in ticks per quarter note
    (not SMPTE frames) and non-zero, and that the file holds the number of track chunks its header announces
    (a file cut at a chunk boundary would otherwise parse as a shorter song).
    """
    if len(data) == 0:
        raise LoopkitError("empty file (0 bytes)")
    if data[:4] == b"RIFF":
        data = _unwrap_rmid(data)
    if data[:4] != b"MThd":
        raise LoopkitError(f"not a MIDI file (it starts with {bytes(data[:4])!r}, not b'MThd')")
    if len(data) < 14:
        raise LoopkitError(f"truncated MIDI header ({len(data)} bytes)")
    header_len, _fmt, n_tracks, division = struct.unpack(">IHHH", data[4:14])
    if header_len < 6:
        raise LoopkitError(f"invalid MIDI header length {header_len}")
    if division & 0x8000:
        raise LoopkitError("SMPTE time division (frames per second) is not supported; loopkit needs ticks per quarter")
    if division == 0:
        raise LoopkitError("invalid MIDI header: 0 ticks per quarter note")
    pos, found = 8 + header_len, 0
    while pos + 8 <= len(data) and found < n_tracks:
        kind, length = struct.unpack(">4sI", data[pos : pos + 8])
        if pos + 8 + length > len(data):
            break  # a cut chunk: the parser reports it
        found += kind == b"MTrk"
        pos += 8 + length
    if found < n_tracks and pos + 8 > len(data):
        raise LoopkitError(f"truncated: the header announces {n_tracks} tracks, the file holds {found}")
    return data


#: what files.csv says of a file the tolerant reader recovered (in its reason column)
RECOVERED_NOTE = "recovered by the tolerant reader"


def tolerant_midi_bytes(data: bytes) -> bytes:
    """A standard MIDI file rewritten from ``data`` by a lenient reading (``ExtractionSettings.tolerant_reader``):
    the header checks of ``standard_midi_bytes`` still apply; a track chunk whose stated length runs past the end
    of the file is cut at the end; mido reads the file with ``clip=True`` (data bytes over 127, such as a
    velocity of 200, become 127) and writes it out again. Raises whatever mido raises on what it cannot read."""
    import io

    import mido

    data = bytearray(standard_midi_bytes(data))
    pos = 8 + int.from_bytes(data[4:8], "big")
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if pos + 8 + length > len(data):
            data[pos + 4 : pos + 8] = (len(data) - pos - 8).to_bytes(4, "big")
            break
        pos += 8 + length
    out = io.BytesIO()
    mido.MidiFile(file=io.BytesIO(bytes(data)), clip=True).save(file=out)
    return out.getvalue()


def _unwrap_rmid(data: bytes) -> bytes:
    if data[8:12] != b"RMID":
        raise LoopkitError(f"a RIFF file of type {bytes(data[8:12])!r}, not a RIFF MIDI file (RMID)")
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos : pos + 8])
        if kind == b"data":
            return data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
    raise LoopkitError("a RIFF MIDI file (RMID) without a data chunk")


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
    """Tempo (quarter notes per minute) in effect at each tick; ``DEFAULT_BPM`` (120) before the first tempo event;
    ``inf`` where a tempo of 0 microseconds per quarter note is in effect."""
    tempos = score.tempos.numpy()
    times = np.asarray(tempos["time"], dtype=np.int64)
    if len(times) == 0:
        return np.full(len(ticks), DEFAULT_BPM)
    order = np.argsort(times, kind="stable")
    times = times[order]
    qpm = mspq_to_bpm(tempos["mspq"])[order]
    idx = np.searchsorted(times, ticks, side="right") - 1
    return np.where(idx >= 0, qpm[np.maximum(idx, 0)], DEFAULT_BPM)


def tempo_rule(bpm: np.ndarray, start_bars: np.ndarray) -> str | None:
    """The failure reason when a loop's tempo (``tempo_at`` its first bar) is not one loopkit stores: 0 microseconds
    per quarter note, or faster than ``MAX_BPM``; else None."""
    bad = np.nonzero(~(bpm <= MAX_BPM))[0]
    if len(bad) == 0:
        return None
    i = int(bad[0])
    what = "a tempo of 0 microseconds per quarter note" if np.isinf(bpm[i]) else f"a tempo of {f'{bpm[i]:,.2f}'.rstrip('0').rstrip('.')} bpm"
    return (f"absurd tempo: {what} at the loop starting on bar {int(start_bars[i])} (loopkit stores tempos up to "
            f"{MAX_BPM:g} bpm)")  # fmt: skip
