"""``loopkit vary``: variations of your loop through the VQ-VAE's codebook: bars redrawn by the LSTM prior, or a
bar form imposed; the bars it keeps keep their notes."""

from __future__ import annotations

import argparse
from pathlib import Path

from loopkit.commands import UserError, report_written
from loopkit.commands.encode import (
    add_output_flags,
    add_reading_flags,
    add_runs_flag,
    check_output_flags,
    default_checkpoint,
    lost_part_warnings,
    read,
    warn,
)


def register(subparsers) -> None:
    from loopkit.ownloop.variations import COPY, KEEP

    p = subparsers.add_parser(
        "vary",
        help="variations of your loop: bars redrawn by the VQ-VAE's prior, or a bar form imposed",
        description=(
            "Vary a loop through the VQ-VAE's codes. INPUT is a MIDI file (read and encoded as `loopkit encode` "
            "does) or a codes.json that `loopkit encode` wrote. --bars redraws those bars with the LSTM prior, "
            "conditioned on the codes before them; the bars after them keep their codes (the prior reads left to "
            "right). Every bar that is not redrawn keeps the input's notes exactly (--keep notes, the default): the "
            "variation's decoded roll is spliced at the bar line, because the decoder reaches across bar lines and "
            "kept codes alone would change the notes next to a redrawn bar (--keep codes shows that: the decoded "
            "codes alone). --form imposes a bar form: every bar whose letter came before becomes a copy of the "
            "first bar with that letter ('?' leaves a bar as it is); --copy codes (the default, the paper's latent "
            "copy) copies the codes, which decode close to but not exactly as the source bar; --copy notes makes "
            "each copied bar a note-for-note copy of its source bar. Alone --form gives one loop; with --bars the "
            "form holds while the bars are redrawn. Writes NAME_decoded.mid (the input's codes decoded, to compare "
            "like with like), NAME_redraw5-8_01.mid ... or NAME_form-AABA-AABA_01.mid (+ PNG, OGG with --audio), "
            "all at the input's tempo, and variations.csv: each loop's codes, what its kept bars keep and how many "
            "of their notes differ from the input, its Hamming distance to the input and the paper's loop "
            "properties FND, FNB and HD. The same --seed writes the same files."
        ),
    )
    p.add_argument("input", metavar="FILE.mid|codes.json", help="a MIDI file or a codes.json from `loopkit encode`")
    p.add_argument("--bars", default=None, metavar="BARS",
                   help="bars to redraw, as song bars, the way --start-bar and every report count them: '5-8', '4' "
                   "or '2,4' for a loop of bars 1-8; '13-16' for the second half of a loop read from bar 9 (a 4-bar "
                   "song played twice is bars 1-8, 5-8 the repeat)")  # fmt: skip
    p.add_argument("--form", default=None, metavar="FORM",
                   help="a bar form of 8 letters such as 'AABA AABA' ('?' keeps a bar)")  # fmt: skip
    p.add_argument("--keep", choices=KEEP, default="notes",
                   help="what the bars neither redrawn nor copied keep: the input's notes, exactly (default), or "
                   "only its codes, decoded")  # fmt: skip
    p.add_argument("--copy", choices=COPY, default="codes",
                   help="what a copied bar of --form copies: its source bar's codes (default; decoded, so close to "
                   "the source bar) or its notes (an exact copy)")  # fmt: skip
    p.add_argument("-n", type=int, default=None,
                   help="number of variations (default 4 with --bars; a --form alone gives 1)")  # fmt: skip
    p.add_argument("--temperature", default="1.0",
                   help="divides the prior's logits: below 1 safer, above 1 wilder; 'argmax' (or 0) takes the most "
                   "likely code (default 1)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_reading_flags(p)
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="the prior's checkpoint (it names its VQ-VAE), or the VQ-VAE's with --prior (default: "
                   "prior/best.pt in the --runs folder)")  # fmt: skip
    p.add_argument("--prior", default=None, metavar="PATH",
                   help="the prior's checkpoint when --checkpoint is the VQ-VAE")
    add_runs_flag(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    add_output_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from loopkit.models.checkpoints import resolve_device
    from loopkit.errors import LoopkitError
    import numpy as np

    from loopkit.ownloop.reader import tempo_change_line
    from loopkit.ownloop.encode import check_codes_model, encode_loop, load_codebook, read_codes
    from loopkit.data.pianoroll import BARS_PER_LOOP
    from loopkit.ownloop.resemblance import resemblance
    from loopkit.generation.sampling import decode_codes
    from loopkit.ownloop.variations import bars_label, parse_bars, vary_to_folder

    if args.bars is None and args.form is None:
        raise UserError("say what to vary: --bars (e.g. 5-8) to redraw, --form (e.g. 'AABA AABA'), or both")
    n = args.n if args.n is not None else (4 if args.bars is not None else 1)
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    if args.bars is None and n != 1:
        raise UserError(f"-n {n} with --form alone: a bar form applied to your codes gives one loop; add --bars to "
                        "redraw bars under the form for more")  # fmt: skip
    check_output_flags(args)
    checkpoint = default_checkpoint(args, "prior" if args.prior is None else "vq_vae")
    source = Path(args.input)
    from_codes = source.suffix.lower() == ".json"
    if from_codes:
        if any(v is not None for v in (args.start_bar, args.bass_track, args.drum_track, args.meter)):
            raise UserError("--start-bar, --bass-track, --drum-track and --meter choose the loop in a MIDI file; a "
                            "codes.json already holds one")  # fmt: skip
        doc = read_codes(source)
    else:
        reading = read(args, args.input)
    first_bar = doc["first_bar"] if from_codes else reading.start_bar + 1
    try:
        bars = parse_bars(args.bars, first_bar) if args.bars is not None else None
    except LoopkitError as exc:
        raise UserError(f"--bars: {exc}") from None
    vqvae, prior = load_codebook(checkpoint, prior=args.prior, need_prior=bool(bars),
                                 device=resolve_device(args.device))  # fmt: skip
    if from_codes:
        check_codes_model(doc, vqvae, f"the codes in {source}")
        codes, roll, bpm = doc["codes"], doc["roll"], doc["bpm"]
        name = doc["stem"]
        twice = " played twice" if doc["repeated"] > 1 else ""
        where = f"{doc['source']}, bars {doc['first_bar']}-{doc['last_bar']}{twice}"
        tempo_line = tempo_change_line(doc["tempo_changes"], bpm)
        lost = []
        if roll is not None:
            lost = lost_part_warnings(resemblance(roll, decode_codes(vqvae, np.asarray(codes)[None])[0]),
                                      "the input's codes decoded")  # fmt: skip
    else:
        enc = encode_loop(vqvae, reading)
        codes, roll, bpm = enc.codes, reading.roll, reading.bpm
        name = reading.stem
        where = f"{args.input}, {reading.bars_label} ({reading.chosen_by}); time signature {reading.time_signature}"
        tempo_line = tempo_change_line(reading.tempo_changes, bpm)
        lost = lost_part_warnings(enc.resemblance, "the input's codes decoded")
    silent: list[str] = []
    rows = vary_to_folder(vqvae, prior, codes, args.out, bars=bars, form=args.form, n=n, temperature=args.temperature,
                          seed=args.seed, bpm=bpm, name=name, input_roll=roll, keep=args.keep, copy=args.copy,
                          png=not args.no_png, audio=args.audio, seamless=args.seamless,
                          silent=silent, first_bar=first_bar)  # fmt: skip
    print(f"input: {where}; tempo {bpm:g} bpm; bars are song bars counted from 1 (the loop: {first_bar}-"
          f"{first_bar + BARS_PER_LOOP - 1})")
    if tempo_line:
        print(tempo_line)
    kept = sorted(set(range(BARS_PER_LOOP)) - set(bars or ()))
    if bars and kept:
        whose = ("the input's notes" if roll is not None else
                 "the notes of the input's codes decoded (the codes file's .npy roll is gone)")  # fmt: skip
        label = bars_label(kept, first_bar)
        print(f"bars {label} keep {whose} exactly, spliced at the bar line" if args.keep == "notes" else
              f"bars {label} keep their codes only (--keep codes): the decoder reaches across bar lines, so their "
              "notes may change (kept_notes_changed in variations.csv)")  # fmt: skip
    if args.form:
        print("copied bars are note-for-note copies of their source bar (--copy notes)" if args.copy == "notes" else
              "copied bars copy their source bar's codes (--copy notes copies its notes exactly)")  # fmt: skip
    for row in rows:
        dist = row["hamming_to_input"] or row["hamming_to_decoded"]
        print(f"  {row['file']}: {row['codes_changed']} of {len(codes)} codes changed, Hamming {dist} to the input, "
              f"FND {row['fnd']} FNB {row['fnb']} HD {row['hd']}")  # fmt: skip
    if args.keep == "codes" and any(r["kept_notes_changed"] for r in rows[1:]):
        warn("vary", f"{sum(1 for r in rows[1:] if r['kept_notes_changed'])} variation(s) change notes in bars "
                     "whose codes they keep (--keep notes keeps them)")  # fmt: skip
    for line in lost:
        warn("vary", line)
    report_written(len(rows), silent, "variations.csv", args.out)
    return 0
