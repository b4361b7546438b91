"""``loopkit render``: MIDI files and .npy rolls to OGG Vorbis audio with FluidSynth (the paper's playback rules)."""

from __future__ import annotations

import argparse
from pathlib import Path

from loopkit.data.pianoroll import DEFAULT_BPM, check_bpm  # light (numpy); the default lives there
from loopkit.commands import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render",
        help="render MIDI files or .npy rolls to OGG audio",
        description=(
            "Render loops to OGG Vorbis with FluidSynth: each MIDI file is read as a bass+drum roll (the paper's "
            "reading rules) and played back by its playback rules; each .npy holds one roll (steps, 93), several "
            "(n, steps, 93) or packed loops (n, 1488). Folders are searched for .mid/.midi/.npy files. Every "
            "rendering is checked: it fails when the bass or the drums cannot be heard."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="MIDI_OR_NPY", help="files or folders to render")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the .ogg files (created if missing)")
    p.add_argument("--bpm", type=float, default=None,
                   help=f"tempo; default: a MIDI file's own first tempo, {DEFAULT_BPM:g} for .npy rolls")  # fmt: skip
    p.add_argument("--repeats", type=int, default=1, help="times each loop is played back to back (default 1)")
    p.add_argument("--soundfont", default=None, metavar="SF2",
                   help="a .sf2/.sf3 sound font (default: $LOOPKIT_SOUNDFONT or pretty_midi's TimGM6mb.sf2)")  # fmt: skip
    p.add_argument("--sample-rate", type=int, default=None, help="Hz (default 44100)")
    p.add_argument("--channels", type=int, choices=(1, 2), default=None, help="1 mono (default) or 2 stereo")
    p.add_argument("--compression-level", type=float, default=None,
                   help="Vorbis compression 0 (best quality) .. 1 (smallest); default 0.6")  # fmt: skip
    p.add_argument("--tail", type=float, default=None, help="seconds rendered after the last step (default 0.5)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from loopkit.outputs import audio
    from loopkit.atomic import write_bytes
    from loopkit.errors import LoopkitError

    settings = audio.with_settings(
        soundfont=args.soundfont,
        sample_rate=args.sample_rate,
        channels=args.channels,
        compression_level=args.compression_level,
        tail=args.tail,
    )
    audio.resolve_soundfont(settings.soundfont)  # fail before any work when the sound font is missing
    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    if args.bpm is not None:
        check_bpm(args.bpm)
    jobs = audio.render_jobs(audio.expand_inputs(args.inputs), bpm=args.bpm)
    for name, roll, bpm in jobs:  # every length checked before any rendering: no traceback, no half-done run
        try:
            audio.check_duration(len(roll), bpm, args.repeats, settings.tail)
        except LoopkitError as exc:
            raise LoopkitError(f"{name}: {exc}") from None

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total_bytes, total_seconds, started = 0, 0.0, time.perf_counter()
    for name, roll, bpm in tqdm(jobs, desc="render", unit="loop", disable=None):
        try:
            data = audio.roll_to_ogg(roll, bpm=bpm, repeats=args.repeats, settings=settings)
        except audio.InaudibleAudioError as exc:
            raise LoopkitError(f"{name}: {exc}") from None
        write_bytes(out / f"{name}.ogg", data)
        total_bytes += len(data)
        total_seconds += audio.loop_seconds(len(roll), bpm, args.repeats) + settings.tail
    elapsed = time.perf_counter() - started
    per_16s = total_bytes / 1000 / (total_seconds / 16.0) if total_seconds else 0.0
    print(
        f"rendered {len(jobs)} loop(s) to {out}: {total_bytes / 1e6:.2f} MB, {per_16s:.0f} KB per 16 s of audio, "
        f"{elapsed / max(len(jobs), 1):.2f} s per loop"
    )
    return 0
