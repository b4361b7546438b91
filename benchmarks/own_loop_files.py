"""How many of a folder's real MIDI files does `loopkit encode` read with its default flags, among those a musician
would expect it to read (issue 29's measure)?

A file is expected to be read when mido, reading it independently of loopkit, finds 8 bars in a row of 4/4 in each of
which a General MIDI bass (programs 32-39, any channel but the drum channel) and the drum channel both sound. For each
such file the reader behind `encode`, `vary` and `interpolate` (``loopkit.ownloop.reader.read_loop``, default flags)
is run; the script prints the share read and each refusal's one line, and any other exception as a failure.

    python benchmarks/own_loop_files.py DIR

Nothing is asserted: the share is the figure, measured on whatever files the folder holds.
"""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

#: General MIDI's bass programs (0-based) and drum channel (0-based).
BASS_PROGRAMS, DRUM_CHANNEL = range(32, 40), 9
BARS = 8


def expected(path: Path) -> bool:
    """mido's reading: 8 bars in a row of 4/4, each with a GM bass note and a drum hit."""
    import mido

    mid = mido.MidiFile(path, clip=True)
    tpq = mid.ticks_per_beat
    events = []  # (tick, order, kind, value): meters first at a tick, then programs, then notes
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "time_signature":
                events.append((tick, 0, "meter", (msg.numerator, msg.denominator)))
            elif msg.type == "program_change":
                events.append((tick, 1, "program", (msg.channel, msg.program)))
            elif msg.type == "note_on" and msg.velocity > 0:
                events.append((tick, 2, "note", msg.channel))
    events.sort(key=lambda e: e[:2])
    programs: dict[int, int] = collections.defaultdict(int)
    meter, origin, first_bar, length = (4, 4), 0, 0, 4 * tpq
    bars: dict[int, set] = collections.defaultdict(set)  # bar -> {"bass", "drums", "other meter"}
    for tick, _, kind, value in events:
        bar = first_bar + (tick - origin) // length
        if kind == "meter":
            first_bar = bar + (1 if (tick - origin) % length else 0)  # a meter event starts a bar
            meter, origin, length = value, tick, max(1, tpq * 4 * value[0] // value[1])
        elif kind == "program":
            programs[value[0]] = value[1]
        else:
            if meter != (4, 4):
                bars[bar].add("other meter")
            if value == DRUM_CHANNEL:
                bars[bar].add("drums")
            elif programs[value] in BASS_PROGRAMS:
                bars[bar].add("bass")
    run = 0
    for bar in range(max(bars, default=-1) + 1):
        run = run + 1 if {"bass", "drums"} <= bars[bar] and "other meter" not in bars[bar] else 0
        if run >= BARS:
            return True
    return False


def main(argv: list[str]) -> int:
    from loopkit.errors import LoopkitError
    from loopkit.ownloop.reader import read_loop

    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(__doc__.split("\n\n")[2].strip(), file=sys.stderr)
        return 2
    files = sorted(p for p in Path(argv[0]).rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    counted, read = 0, 0
    refusals: collections.Counter = collections.Counter()
    failures = []
    for path in files:
        try:
            if not expected(path):
                continue
        except Exception:  # noqa: BLE001 - mido cannot read it: not in the population
            continue
        counted += 1
        try:
            read_loop(path, None)
            read += 1
        except (LoopkitError, FileNotFoundError) as exc:
            refusals[re.sub(r"\d+", "N", str(exc).split(": ", 1)[-1])[:140]] += 1
        except Exception as exc:  # noqa: BLE001 - a traceback a musician would see: counted, shown
            failures.append(f"{path.name}: {type(exc).__name__}: {exc}")
    print(f"{len(files)} MIDI files; {counted} hold 8 bars of 4/4 with a GM bass and drums sounding (mido)")
    if counted:
        print(f"read by encode's reader with default flags: {read} of {counted} ({read / counted:.0%})")
    for text, n in refusals.most_common():
        print(f"  refused ({n}): {text}")
    for line in failures:
        print(f"  FAILED, not one line: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
