"""``loopkit interpolate``: from one loop to another, MusicVAE's experiment on the paper's continuous VAEs (slerp
between posterior means) and, for the VQ-VAE, a bar-by-bar crossfade in code space; the ends measured against A
and B."""

from __future__ import annotations

import argparse
from pathlib import Path

from loopkit.commands import UserError, report_written
from loopkit.commands.encode import (
    add_output_flags,
    add_reading_flags,
    add_runs_flag,
    check_output_flags,
    lost_part_warnings,
    read,
    runs_folder,
    warn,
)


def register(subparsers) -> None:
    from loopkit.ownloop.interpolation import INTERPOLATORS

    p = subparsers.add_parser(
        "interpolate",
        help="loops between two loops: slerp in a continuous VAE's z, or a bar-by-bar code crossfade (VQ-VAE)",
        description=(
            "Interpolate from loop A to loop B in STEPS loops. A continuous VAE (" + ", ".join(INTERPOLATORS[:-1]) +
            ") encodes both to their posterior means and decodes points on the great circle between them "
            "(spherical interpolation, as MusicVAE does); the VQ-VAE crosses from A's codes to B's bar by bar, left "
            "to right (with 9 steps one bar a step). The first loop is the model's reconstruction of A, the last "
            "its reconstruction of B: both are measured as `loopkit encode` measures an encoding (the share of the "
            "empty loop's error removed), with a warning when one is no closer to its loop than an empty loop. "
            "Without --model and --checkpoint the model is the one of the --runs folder whose reconstructions keep "
            "most of A and B among those that reconstruct both (each keeps at least half of each part's notes); "
            "when none does, the VQ-VAE's code crossfade, and the output says so. Loops equal to the one before "
            "them are reported (same_as_previous in the CSV). A and B are MIDI files, read as `loopkit encode` "
            "reads them: --start-bar, --bass-track, --drum-track and --meter apply to both (to choose differently "
            "for each, encode each and give its codes.json). Bars are song bars counted from 1. Writes "
            "A_to_B_MODEL_1of9.mid ... (+ PNG, OGG with --audio) at A's tempo and interpolation.csv."
        ),
    )
    p.add_argument("a", metavar="A.mid|codes.json", help="the first loop")
    p.add_argument("b", metavar="B.mid|codes.json", help="the last loop")
    p.add_argument("--model", default=None, choices=INTERPOLATORS,
                   help="the model (default: the one under --runs that reconstructs A and B best, or what "
                   "--checkpoint holds)")  # fmt: skip
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="the model's checkpoint (default: MODEL/best.pt in the --runs folder)")  # fmt: skip
    add_runs_flag(p)
    p.add_argument("--steps", type=int, default=9, help="loops from A to B, both included (default 9)")
    add_reading_flags(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    add_output_flags(p)
    p.set_defaults(handler=run)


def _loop(args, source: str):
    """(roll, bpm, name, tempo-change line) of one end: a MIDI file read, or the roll a codes.json names."""
    from loopkit.errors import LoopkitError
    from loopkit.ownloop.reader import tempo_change_line
    from loopkit.ownloop.encode import read_codes

    if Path(source).suffix.lower() == ".json":
        doc = read_codes(source)
        if doc["roll"] is None:
            raise LoopkitError(f"{source}: the loop's roll ({(doc.get('files') or {}).get('roll')}) is not beside it")
        return doc["roll"], doc["bpm"], doc["stem"], tempo_change_line(doc["tempo_changes"], doc["bpm"])
    reading = read(args, source)
    for line in reading.fix.lines():
        print(f"{source}: {line}")
    if reading.time_signature != "4/4":
        print(f"{source}: time signature {reading.time_signature}")
    return reading.roll, reading.bpm, reading.stem, tempo_change_line(reading.tempo_changes, reading.bpm)


def _end(r) -> str:
    from loopkit.ownloop.resemblance import percent

    removed = "empty" if r.share_removed is None else f"{percent(r.share_removed)} of the empty loop's error removed"
    return (f"{removed}, bass recall {percent(r.parts['bass'].recall)}, drums recall "
            f"{percent(r.parts['drums'].recall)}")


def run(args: argparse.Namespace) -> int:
    from loopkit.models.checkpoints import BEST, resolve_device
    from loopkit.config import PAPER_NAMES
    from loopkit.ownloop.interpolation import (
        MAX_STEPS,
        choose_model,
        find_models,
        identical_neighbours,
        interpolate,
        interpolate_to_folder,
        kept_share,
        load_interpolator,
        rank_models,
    )
    from loopkit.ownloop.resemblance import MIN_SHARE_REMOVED, percent

    if not 2 <= args.steps <= MAX_STEPS:  # before reading or loading anything
        raise UserError(f"--steps counts both ends: 2..{MAX_STEPS:,}, got {args.steps}")
    check_output_flags(args)
    chosen = None
    if args.checkpoint is not None:
        checkpoint = Path(args.checkpoint)
    elif args.model is not None:
        checkpoint = runs_folder(args.runs, args.model) / args.model / BEST
    else:
        found = find_models(runs_folder(args.runs))
        if not found:
            raise UserError(f"no model an interpolation runs on under {runs_folder(args.runs)}")
        checkpoint = None
    roll_a, bpm, name_a, tempo_a = _loop(args, args.a)
    roll_b, _, name_b, tempo_b = _loop(args, args.b)
    device = resolve_device(args.device)
    if checkpoint is None:
        models = {name: load_interpolator(path, name, device=device) for name, path in found.items()}
        ranking = rank_models(models, roll_a, roll_b)
        chosen, why = choose_model(ranking)
        model, checkpoint = models[chosen], found[chosen]
    else:
        model = load_interpolator(checkpoint, args.model, device=device)
    inter = interpolate(model, roll_a, roll_b, args.steps)
    silent: list[str] = []
    rows = interpolate_to_folder(inter, args.out, name_a=name_a, name_b=name_b, bpm=bpm, roll_a=roll_a, roll_b=roll_b,
                                 png=not args.no_png, audio=args.audio, seamless=args.seamless,
                                 silent=silent)  # fmt: skip
    how = "bar-by-bar code crossfade" if inter.model == "vq_vae" else "slerp between posterior means"
    print(f"{PAPER_NAMES[inter.model]} ({checkpoint}), {how}: {name_a} -> {name_b}, {len(rows)} loops at {bpm:g} bpm "
          "(A's tempo)")  # fmt: skip
    if chosen is not None:
        scores = ", ".join(f"{PAPER_NAMES[name]} {percent(kept_share(ends))}" for name, ends in ranking)
        print(f"model: {why} (share of the empty loops' error removed: {scores})")
    for end, line in (("A", tempo_a), ("B", tempo_b)):
        if line:
            print(f"{end}: {line}")
    print(f"first loop against A: {_end(inter.ends[0])}; last loop against B: {_end(inter.ends[1])}")
    for row in rows:
        print(f"  {row['file']}: Hamming {row['hamming_to_a']} to A, {row['hamming_to_b']} to B, FND {row['fnd']} "
              f"FNB {row['fnb']} HD {row['hd']}")  # fmt: skip
    same = identical_neighbours(inter.rolls)
    if len(same) == len(rows) - 1:
        warn("interpolate", f"all {len(rows)} loops are identical: the {PAPER_NAMES[inter.model]} decodes A and B to "
                            "the same loop; try another --model, or loops that differ more")  # fmt: skip
    elif same:
        pairs = ", ".join(f"{i}-{i + 1}" for i in same)
        print(f"identical neighbouring loops (steps {pairs}): same_as_previous in interpolation.csv")
    bad = inter.unanchored()
    if bad:
        ends = " and ".join({"A": "first loop does not resemble A", "B": "last loop does not resemble B"}[e]
                            for e in bad)  # fmt: skip
        try_ = ("no model under the --runs folder reconstructs them better" if chosen is not None else
                "try another --model (without --model and --checkpoint: the one that reconstructs A and B best)")
        warn("interpolate", f"the {PAPER_NAMES[inter.model]}'s {ends} (it removes under {MIN_SHARE_REMOVED:.0%} "
                            f"of the empty loop's error): the loops between are not between A and B; {try_}")
    for end, r in zip("AB", inter.ends):
        if end not in bad:
            for line in lost_part_warnings(r, f"the {'first' if end == 'A' else 'last'} loop (the model's "
                                              f"reconstruction of {end})"):  # fmt: skip
                warn("interpolate", line)
    report_written(len(rows), silent, "interpolation.csv", args.out)
    return 0
