"""``loopkit encode``: a musician's MIDI file read into one 8-bar loop and encoded to the VQ-VAE's codes, measured
against the empty loop; also the flags and helpers that ``loopkit vary`` and ``loopkit interpolate`` share with
it (reading a loop, finding the trained models, warnings)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loopkit.commands import UserError

#: The environment variable naming the folder of trained models (``DIR/MODEL/best.pt``) for the own-loop commands.
RUNS_ENV = "LOOPKIT_RUNS"
#: Where ``make book`` (profile cpu) leaves its models, relative to the working folder or to the loopkit checkout.
DEFAULT_RUNS = Path("runs/cpu/models")


def add_reading_flags(p: argparse.ArgumentParser) -> None:
    """The flags that choose the loop inside a MIDI file."""
    from loopkit.ownloop.reader import METERS

    p.add_argument("--start-bar", type=int, default=None, metavar="N",
                   help="first bar of the loop: a song bar, counted from 1 as a DAW counts them through the file's "
                   "time signatures, as every bar loopkit names is (default: the first 8 bars of 4/4 that pass the "
                   "paper's loop rules, else the densest such window: the most bars with both bass and drums, then "
                   "the most notes; a 4-bar song is played twice)")  # fmt: skip
    p.add_argument("--meter", choices=METERS, default=None,
                   help="read the whole file as 4/4 whatever its time signatures say (for a file whose marker is "
                   "wrong, e.g. 1/4 over 4/4 music); default: the file's time signatures, and the loop's 8 bars "
                   "must be 4/4 (or 2/2, four quarter notes a bar), whatever meter stands elsewhere")  # fmt: skip
    p.add_argument("--bass-track", action="append", default=None, metavar="NUMBER|NAME",
                   help="a track to read as the bass; repeat it to merge several (default: every track with a GM "
                   "bass program 33-40)")  # fmt: skip
    p.add_argument("--drum-track", action="append", default=None, metavar="NUMBER|NAME",
                   help="a track to read as the drums, through the GM drum map, whatever its channel; repeat it to "
                   "merge several, e.g. --drum-track 3 --drum-track 4 (default: every track on the drum channel 10)")


def add_runs_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", default=None, metavar="DIR",
                   help=f"the folder of trained models, DIR/MODEL/best.pt (default: ${RUNS_ENV}, else {DEFAULT_RUNS} "
                   "in the current folder, else in the loopkit checkout)")  # fmt: skip


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audio", action="store_true", help="also render every loop to OGG with FluidSynth")
    p.add_argument("--seamless", action="store_true",
                   help="with --audio: OGGs exactly one loop long, for a player or DAW that repeats them (what rings "
                   "on after the last step is added onto the start, no fade-out); default: a short tail to ring out")
    p.add_argument("--no-png", action="store_true", help="do not draw pianoroll PNGs")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (created); one that holds earlier results is refused unless --force")
    p.add_argument("--force", action="store_true",
                   help="write into an --out folder that holds earlier results (files of the same names are "
                   "replaced, others left)")  # fmt: skip


def check_output_flags(args: argparse.Namespace) -> None:
    """Refuse ``--seamless`` without ``--audio`` and an ``--out`` that holds earlier results without ``--force``;
    fail before any work when ``--audio`` has no sound font."""
    if args.seamless and not args.audio:
        raise UserError("--seamless shapes the OGG files: add --audio")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    from loopkit.runlock import LOCK_FILE  # left by a run killed while writing: not a result

    held = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE) if out.is_dir() else []
    if held and not args.force:
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        raise UserError(f"--out {out} holds earlier results ({shown}): choose another folder, or add --force to "
                        "write over them")  # fmt: skip
    if args.audio:
        from loopkit.outputs.audio import resolve_soundfont

        resolve_soundfont(None)


def runs_folders(given: str | None) -> list[Path]:
    """Where to look for trained models: ``given`` (--runs), else ``$LOOPKIT_RUNS``, else ``DEFAULT_RUNS`` in the
    current folder and in the loopkit checkout (when loopkit runs from one)."""
    if given:
        return [Path(given)]
    if os.environ.get(RUNS_ENV):
        return [Path(os.environ[RUNS_ENV])]
    folders = [DEFAULT_RUNS]
    try:
        from loopkit.book.build import project_root

        checkout = project_root() / DEFAULT_RUNS
        if checkout.resolve() != DEFAULT_RUNS.resolve():
            folders.append(checkout)
    except FileNotFoundError:
        pass
    return folders


def runs_folder(given: str | None, model: str | None = None) -> Path:
    """The first of ``runs_folders`` that holds ``MODEL/best.pt`` (any model when ``model`` is None); a one-line
    error naming every folder looked in when none does."""
    from loopkit.models.checkpoints import BEST

    folders = runs_folders(given)
    for folder in folders:
        if (model is not None and (folder / model / BEST).is_file()) or (
                model is None and folder.is_dir() and any(folder.glob(f"*/{BEST}"))):  # fmt: skip
            return folder
    looked = " and ".join(str((f / (model or "MODEL") / BEST).absolute()) for f in folders)
    raise UserError(f"no trained model at {looked}: train the models (`make book` in the loopkit checkout), point "
                    f"--runs DIR or ${RUNS_ENV} at a folder of trained models, or name a checkpoint with --checkpoint")


def default_checkpoint(args: argparse.Namespace, model: str) -> Path:
    """``--checkpoint``, or ``MODEL/best.pt`` in the runs folder (``runs_folder``)."""
    from loopkit.models.checkpoints import BEST

    if args.checkpoint is not None:
        return Path(args.checkpoint)
    return runs_folder(args.runs, model) / model / BEST


def warn(command: str, text: str) -> None:
    """One warning line on stderr, in the form of the CLI's errors."""
    print(f"loopkit {command}: warning: {text}", file=sys.stderr)


def read(args: argparse.Namespace, source: str, reading_flags: bool = True):
    """``loopkit.ownloop.reader.read_loop`` on ``source`` with the reading flags; a missing track names the flag to
    use."""
    from loopkit.errors import LoopkitError
    from loopkit.ownloop.reader import METER_HINT, TrackChoiceError, read_loop

    start = None
    if reading_flags and args.start_bar is not None:
        if args.start_bar < 1:
            raise UserError(f"--start-bar counts bars from 1, got {args.start_bar}")
        start = args.start_bar - 1
    try:
        return read_loop(source, start, bass_track=args.bass_track if reading_flags else None,
                         drum_track=args.drum_track if reading_flags else None,
                         meter=args.meter if reading_flags else None)  # fmt: skip
    except TrackChoiceError as exc:
        flag = "--bass-track" if exc.role == "bass" else "--drum-track"
        how = (f"pick one with {flag} NUMBER or NAME (repeat it to merge several)" if reading_flags else
               f"encode it with `loopkit encode {source} {flag} NUMBER --out DIR` and give its codes.json here")
        raise UserError(f"{str(exc).removesuffix(f'. Choose one as the {exc.role} track by its number or name')}: "
                        f"{how}") from None  # fmt: skip
    except LoopkitError as exc:
        if METER_HINT not in str(exc):
            raise
        hint = ("if the file's time signature is wrong, --meter 4/4 reads it as 4/4" if reading_flags else
                f"if the file's time signature is wrong, encode it with `loopkit encode {source} --meter 4/4 --out "
                "DIR` and give its codes.json here")  # fmt: skip
        raise UserError(str(exc).replace(METER_HINT, hint)) from None


def lost_part_warnings(res, where: str = "the decoding") -> list[str]:
    """One warning a part of which a reconstruction keeps fewer than half the notes (``Resemblance.lost_parts``),
    whatever the figure over the whole loop, with what to try."""
    out = []
    for part in res.lost_parts():
        m = res.parts[part]
        flag = "--bass-track" if part == "bass" else "--drum-track"
        notes = "bass notes" if part == "bass" else "drum hits"
        out.append(f"{where} keeps {m.both} of {m.reference} {notes} (recall {m.recall:.0%}): it loses most of "
                   f"the {part}; try another --start-bar, {flag} if another track plays it, or another model "
                   "(--checkpoint, --runs)")  # fmt: skip
    return out


def encoding_warning(enc) -> str | None:
    """The one warning an encoding deserves (``EncodedLoop.problem``) and what to try, or None."""
    problem = enc.problem()
    if problem is None:
        return None
    if enc.resemblance.sparse_parts():
        try_ = ("try another --start-bar (without it, encode takes the first window that passes the loop rules, "
                "else the densest)" if enc.reading.chosen_by != "densest" else
                "it is the song's densest window: choose other tracks with --bass-track/--drum-track, or another "
                "file")  # fmt: skip
    else:
        try_ = "try another --start-bar, or another model (--checkpoint, --runs)"
    return f"{problem}; {try_}"


def register(subparsers) -> None:
    from loopkit.ownloop.resemblance import MIN_PART_RECALL, MIN_SHARE_REMOVED

    p = subparsers.add_parser(
        "encode",
        help="read 8 bars of your MIDI file and encode them to the VQ-VAE's codes",
        description=(
            "Read a MIDI file through the same rules as extraction (bass = the tracks with a GM bass program, drums = "
            "the drum channel; or the tracks named by --bass-track/--drum-track), take 8 bars and encode them with "
            "the VQ-VAE. Writes codes.json (the code indices, the source, its bars and tempo, what was read), the "
            "loop as read (.npy roll, MIDI, PNG, OGG with --audio) and the codes decoded (STEM_barsA-B_decoded.*), "
            "every MIDI file at the input's tempo. Prints the tracks used and ignored, the tempo (and any tempo "
            "change inside the loop), which bars and why, the notes the representation changes (repeated notes "
            "merged, chords reduced, out of range, off the grid), and the reconstruction against the empty loop: "
            "the share of the empty loop's error it removes (1 = perfect, 0 or less = no better than silence) and "
            "note recall and precision for bass and drums. Warns in one line when the loop is nearly empty (a part "
            f"sounds in fewer than half its bars), when its decoding removes less than {MIN_SHARE_REMOVED:.0%} of the "
            f"empty loop's error, or when it keeps fewer than {MIN_PART_RECALL:.0%} of one part's notes. The loop's "
            "8 bars must be 4/4 (2/2 counts: four quarter notes a bar; no time signature means 4/4) wherever they "
            "lie, whatever meter stands elsewhere; --meter 4/4 overrides a wrong marker. A 4-bar song is played "
            "twice. Bars are song bars counted from 1, as a DAW counts them, in every flag, file name and message; "
            "every MIDI file written ends exactly at the end of its last bar, ready to loop."
        ),
    )
    p.add_argument("midi", metavar="FILE.mid", help="a standard MIDI file with bass and drums and 8 bars of 4/4 (or a "
                   "4-bar loop, played twice)")
    add_reading_flags(p)
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="the VQ-VAE's checkpoint, or its prior's (default: vq_vae/best.pt in the --runs folder)")
    add_runs_flag(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu: one loop is quick)")
    add_output_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from loopkit.models.checkpoints import resolve_device
    from loopkit.ownloop.encode import encode_loop, load_codebook, write_encoding
    from loopkit.ownloop.resemblance import report

    check_output_flags(args)
    checkpoint = default_checkpoint(args, "vq_vae")
    reading = read(args, args.midi)
    vqvae, _ = load_codebook(checkpoint, device=resolve_device(args.device))
    enc = encode_loop(vqvae, reading)
    doc = write_encoding(enc, args.out, png=not args.no_png, audio=args.audio, seamless=args.seamless)
    for line in reading.summary():
        print(line)
    for role, flag in (("bass", "--bass-track"), ("drums", "--drum-track")):
        if len(reading.tracks_in(role)) > 1:
            n = len(reading.tracks_in(role))
            print(f"  ({n} {role} tracks read as one; {flag} NUMBER or NAME reads one alone)")
    print(f"codes ({len(enc.codes)} latent steps, 4 a bar) by {checkpoint}: {' '.join(str(int(c)) for c in enc.codes)}")
    lines = report(enc.resemblance)
    print(f"reconstruction: {lines[0]}")
    for line in lines[1:]:
        print(f"  {line}")
    warning = encoding_warning(enc)
    if warning:
        warn("encode", warning)
    elif not enc.resemblance.sparse_parts():
        for line in lost_part_warnings(enc.resemblance):
            warn("encode", line)
    files = doc["files"]
    for part in ("input", "decoded"):
        if args.audio and files[part].get("ogg") is None:
            print(f"  no OGG for {files[part]['mid']}: nothing to hear")
    print(f"wrote {args.out}/codes.json, {files['input']['mid']} (the loop as read) and {files['decoded']['mid']} "
          f"(its codes decoded) at {reading.bpm:g} bpm")  # fmt: skip
    return 0
