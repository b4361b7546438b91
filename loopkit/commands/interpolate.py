"""``loopkit interpolate``: from one loop to another, MusicVAE's experiment on the paper's continuous VAEs (slerp
between posterior means) and, for the VQ-VAE, a bar-by-bar crossfade in code space."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import UserError, report_written
from .encode import DEFAULT_MODELS, add_output_flags, read


def register(subparsers) -> None:
    from ..config import CONTINUOUS_MODELS

    p = subparsers.add_parser(
        "interpolate",
        help="loops between two loops: slerp in a continuous VAE's z, or a bar-by-bar code crossfade (VQ-VAE)",
        description=(
            "Interpolate from loop A to loop B in STEPS loops. A continuous VAE (" + ", ".join(CONTINUOUS_MODELS) +
            ") encodes both to their posterior means and decodes points on the great circle between them "
            "(spherical interpolation, as MusicVAE does); the VQ-VAE crosses from A's codes to B's bar by bar, left "
            "to right (with 9 steps one bar a step). A and B are MIDI files (the first 8-bar window that passes the "
            "loop rules, else bar 1) or codes.json files from `loopkit encode` (to choose bars or tracks). Writes "
            "A_to_B_MODEL_1of9.mid ... (+ PNG, OGG with --audio) at A's tempo and interpolation.csv."
        ),
    )
    p.add_argument("a", metavar="A.mid|codes.json", help="the first loop")
    p.add_argument("b", metavar="B.mid|codes.json", help="the last loop")
    p.add_argument("--model", default=None, choices=(*CONTINUOUS_MODELS, "vq_vae"),
                   help=f"the model (default: the continuous VAE that reconstructs its training loops best under {DEFAULT_MODELS},"
                   " or what --checkpoint holds)")  # fmt: skip
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help=f"the model's checkpoint (default {DEFAULT_MODELS}/MODEL/best.pt)")  # fmt: skip
    p.add_argument("--steps", type=int, default=9, help="loops from A to B, both included (default 9)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    add_output_flags(p)
    p.set_defaults(handler=run, start_bar=None, bass_track=None, drum_track=None)


def _loop(args, source: str):
    """(roll, bpm, name) of one end: a MIDI file read, or the roll a codes.json names."""
    from ..errors import LoopkitError
    from ..loopfile import safe_stem
    from ..ownloop import read_codes
    from ..pianoroll import BARS_PER_LOOP

    if Path(source).suffix.lower() == ".json":
        doc = read_codes(source)
        if doc["roll"] is None:
            raise LoopkitError(f"{source}: the loop's roll ({(doc.get('files') or {}).get('roll')}) is not beside it")
        return doc["roll"], float(doc["bpm"]), f"{safe_stem(doc['source'])}_bars{doc['first_bar']}-{doc['last_bar']}"
    reading = read(args, source, reading_flags=False)
    bars = f"bars{reading.start_bar + 1}-{reading.start_bar + BARS_PER_LOOP}"
    return reading.roll, reading.bpm, f"{safe_stem(source)}_{bars}"


def run(args: argparse.Namespace) -> int:
    from ..checkpoints import resolve_device
    from ..config import PAPER_NAMES
    from ..ownloop import best_continuous_vae, interpolate, interpolate_to_folder, load_interpolator

    if args.steps < 2:
        raise UserError(f"--steps counts both ends: at least 2, got {args.steps}")
    if args.checkpoint is not None:
        checkpoint = Path(args.checkpoint)
    elif args.model is not None:
        checkpoint = DEFAULT_MODELS / args.model / "best.pt"
        if not checkpoint.is_file():
            raise UserError(f"no --checkpoint given and no {checkpoint} (train the models with `make book`, or name "
                            "one with --checkpoint)")  # fmt: skip
    else:
        try:
            _, checkpoint = best_continuous_vae(DEFAULT_MODELS)
        except FileNotFoundError:
            raise UserError(f"no --model or --checkpoint given and no trained continuous VAE under {DEFAULT_MODELS}"
                            ) from None  # fmt: skip
    roll_a, bpm, name_a = _loop(args, args.a)
    roll_b, _, name_b = _loop(args, args.b)
    if args.audio:
        from ..audio import resolve_soundfont

        resolve_soundfont(None)
    model = load_interpolator(checkpoint, args.model, device=resolve_device(args.device))
    inter = interpolate(model, roll_a, roll_b, args.steps)
    silent: list[str] = []
    rows = interpolate_to_folder(inter, args.out, name_a=name_a, name_b=name_b, bpm=bpm, roll_a=roll_a, roll_b=roll_b,
                                 png=not args.no_png, audio=args.audio, silent=silent)  # fmt: skip
    how = "bar-by-bar code crossfade" if inter.model == "vq_vae" else "slerp between posterior means"
    print(f"{PAPER_NAMES[inter.model]} ({checkpoint}), {how}: {name_a} -> {name_b}, {len(rows)} loops at {bpm:g} bpm "
          "(A's tempo)")  # fmt: skip
    for row in rows:
        print(f"  {row['file']}: Hamming {row['hamming_to_a']} to A, {row['hamming_to_b']} to B, FND {row['fnd']} "
              f"FNB {row['fnb']} HD {row['hd']}")  # fmt: skip
    report_written(len(rows), silent, "interpolation.csv", args.out)
    return 0
