"""``loopkit encode``: a musician's MIDI file read into one 8-bar loop and encoded to the VQ-VAE's codes; also the
flags and helpers that ``loopkit vary`` and ``loopkit interpolate`` share with it."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import UserError

#: Where ``make book`` (profile cpu) leaves its models: the default checkpoints of the own-loop commands.
DEFAULT_MODELS = Path("runs/cpu/models")


def add_reading_flags(p: argparse.ArgumentParser) -> None:
    """The flags that choose the loop inside a MIDI file."""
    p.add_argument("--start-bar", type=int, default=None, metavar="N",
                   help="first bar of the loop, counted from 1 as a DAW does (default: the first 8-bar window that "
                   "passes the paper's loop rules, else bar 1)")  # fmt: skip
    p.add_argument("--bass-track", default=None, metavar="NUMBER|NAME",
                   help="the track to read as the bass (default: every track with a GM bass program 33-40)")
    p.add_argument("--drum-track", default=None, metavar="NUMBER|NAME",
                   help="the track to read as the drums, through the GM drum map (default: every track on the drum "
                   "channel 10)")  # fmt: skip


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audio", action="store_true", help="also render every loop to OGG with FluidSynth")
    p.add_argument("--no-png", action="store_true", help="do not draw pianoroll PNGs")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")


def default_checkpoint(given: str | None, model: str) -> Path:
    """``given``, or ``runs/cpu/models/MODEL/best.pt`` when that exists (a clear error when it does not)."""
    if given is not None:
        return Path(given)
    path = DEFAULT_MODELS / model / "best.pt"
    if not path.is_file():
        raise UserError(f"no --checkpoint given and no {path} (train the models with `make book`, or name a "
                        "checkpoint with --checkpoint)")  # fmt: skip
    return path


def read(args: argparse.Namespace, source: str, reading_flags: bool = True):
    """``loopkit.loopfile.read_loop`` on ``source`` with the reading flags; a missing track names the flag to use."""
    from ..loopfile import TrackChoiceError, read_loop

    start = None
    if reading_flags and args.start_bar is not None:
        if args.start_bar < 1:
            raise UserError(f"--start-bar counts bars from 1, got {args.start_bar}")
        start = args.start_bar - 1
    try:
        return read_loop(source, start, bass_track=args.bass_track if reading_flags else None,
                         drum_track=args.drum_track if reading_flags else None)  # fmt: skip
    except TrackChoiceError as exc:
        flag = "--bass-track" if exc.role == "bass" else "--drum-track"
        how = (f"pick one with {flag} NUMBER or NAME" if reading_flags else
               f"encode it with `loopkit encode {source} {flag} NUMBER --out DIR` and give its codes.json here")
        raise UserError(f"{str(exc).removesuffix(f'. Choose one as the {exc.role} track by its number or name')}: "
                        f"{how}") from None  # fmt: skip


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "encode",
        help="read 8 bars of your MIDI file and encode them to the VQ-VAE's codes",
        description=(
            "Read a MIDI file through the same rules as extraction (bass = the tracks with a GM bass program, drums = "
            "the drum channel; or the tracks named by --bass-track/--drum-track), take 8 bars and encode them with "
            "the VQ-VAE. Writes codes.json (the code indices, the source, its bars and tempo, what was read), the "
            "loop as read (.npy roll, MIDI, PNG, OGG with --audio) and the codes decoded (STEM_barsA-B_decoded.*), "
            "every MIDI file at the input's tempo. Prints the tracks used and ignored, the tempo and time signature, "
            "the notes the representation drops and the reconstruction's Hamming distance to the input."
        ),
    )
    p.add_argument("midi", metavar="FILE.mid", help="a standard MIDI file, 4/4, with bass and drums")
    add_reading_flags(p)
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help=f"the VQ-VAE's checkpoint, or its prior's (default {DEFAULT_MODELS}/vq_vae/best.pt)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu: one loop is quick)")
    add_output_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoints import resolve_device
    from ..ownloop import encode_loop, load_codebook, write_encoding

    checkpoint = default_checkpoint(args.checkpoint, "vq_vae")
    reading = read(args, args.midi)
    if args.audio:
        from ..audio import resolve_soundfont

        resolve_soundfont(None)  # fail before any work when there is no sound font
    vqvae, _ = load_codebook(checkpoint, device=resolve_device(args.device))
    enc = encode_loop(vqvae, reading)
    doc = write_encoding(enc, args.out, png=not args.no_png, audio=args.audio)
    for line in reading.summary():
        print(line)
    for role, flag in (("bass", "--bass-track"), ("drums", "--drum-track")):
        if len(reading.tracks_in(role)) > 1:
            n = len(reading.tracks_in(role))
            print(f"  ({n} {role} tracks read as one; {flag} NUMBER or NAME reads one alone)")
    print(f"codes ({len(enc.codes)} latent steps, 4 a bar): {' '.join(str(int(c)) for c in enc.codes)}")
    print(f"reconstruction: {enc.cells:,} of {reading.roll.size:,} cells differ from the input "
          f"(Hamming distance {enc.hamming:.4g})")  # fmt: skip
    files = doc["files"]
    for part in ("input", "decoded"):
        if args.audio and files[part].get("ogg") is None:
            print(f"  no OGG for {files[part]['mid']}: nothing to hear")
    print(f"wrote {args.out}/codes.json, {files['input']['mid']} (the loop as read) and {files['decoded']['mid']} "
          f"(its codes decoded) at {reading.bpm:g} bpm")  # fmt: skip
    return 0
