"""``loopkit vary``: variations of your loop through the VQ-VAE's codebook: bars redrawn by the LSTM prior, or a
bar form imposed."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import UserError, report_written
from .encode import DEFAULT_MODELS, add_output_flags, add_reading_flags, default_checkpoint, read


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "vary",
        help="variations of your loop: bars redrawn by the VQ-VAE's prior, or a bar form imposed",
        description=(
            "Vary a loop through the VQ-VAE's codes. INPUT is a MIDI file (read and encoded as `loopkit encode` "
            "does) or a codes.json that `loopkit encode` wrote. --bars redraws those bars with the LSTM prior, "
            "conditioned on the codes before them; the bars after them keep their codes (the prior reads left to "
            "right). --form imposes a bar form: every bar whose letter came before becomes a copy of the first bar "
            "with that letter ('?' leaves a bar as it is); alone it gives one loop, with --bars the form holds while "
            "the bars are redrawn. Writes NAME_decoded.mid (the input's codes decoded, to compare like with like), "
            "NAME_redraw5-8_01.mid ... or NAME_form-AABA-AABA_01.mid (+ PNG, OGG with --audio), all at the input's "
            "tempo, and variations.csv: each loop's codes, its Hamming distance to the input and the paper's loop "
            "properties FND, FNB and HD. The same --seed writes the same files."
        ),
    )
    p.add_argument("input", metavar="FILE.mid|codes.json", help="a MIDI file or a codes.json from `loopkit encode`")
    p.add_argument("--bars", default=None, metavar="BARS",
                   help="bars to redraw, counted from 1: '5-8', '4' or '2,4' (all within 1-8)")  # fmt: skip
    p.add_argument("--form", default=None, metavar="FORM",
                   help="a bar form of 8 letters such as 'AABA AABA' ('?' keeps a bar)")  # fmt: skip
    p.add_argument("-n", type=int, default=None,
                   help="number of variations (default 4 with --bars; a --form alone gives 1)")  # fmt: skip
    p.add_argument("--temperature", default="1.0",
                   help="divides the prior's logits: below 1 safer, above 1 wilder; 'argmax' (or 0) takes the most "
                   "likely code (default 1)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_reading_flags(p)
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help=f"the prior's checkpoint (it names its VQ-VAE), or the VQ-VAE's with --prior (default "
                   f"{DEFAULT_MODELS}/prior/best.pt)")  # fmt: skip
    p.add_argument("--prior", default=None, metavar="PATH",
                   help="the prior's checkpoint when --checkpoint is the VQ-VAE")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    add_output_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoints import resolve_device
    from ..errors import LoopkitError
    from ..loopfile import safe_stem
    from ..ownloop import check_codes_model, encode_loop, load_codebook, parse_bars, read_codes, vary_to_folder
    from ..pianoroll import BARS_PER_LOOP

    if args.bars is None and args.form is None:
        raise UserError("say what to vary: --bars (e.g. 5-8) to redraw, --form (e.g. 'AABA AABA'), or both")
    try:
        bars = parse_bars(args.bars) if args.bars is not None else None
    except LoopkitError as exc:
        raise UserError(f"--bars: {exc}") from None
    n = args.n if args.n is not None else (4 if bars else 1)
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    if not bars and n != 1:
        raise UserError(f"-n {n} with --form alone: a bar form applied to your codes gives one loop; add --bars to "
                        "redraw bars under the form for more")  # fmt: skip
    checkpoint = default_checkpoint(args.checkpoint, "prior" if args.prior is None else "vq_vae")
    source = Path(args.input)
    from_codes = source.suffix.lower() == ".json"
    if from_codes:
        if any(v is not None for v in (args.start_bar, args.bass_track, args.drum_track)):
            raise UserError("--start-bar, --bass-track and --drum-track choose the loop in a MIDI file; a codes.json "
                            "already holds one")  # fmt: skip
        doc = read_codes(source)
    else:
        reading = read(args, args.input)
    if args.audio:
        from ..audio import resolve_soundfont

        resolve_soundfont(None)
    vqvae, prior = load_codebook(checkpoint, prior=args.prior, need_prior=bool(bars),
                                 device=resolve_device(args.device))  # fmt: skip
    if from_codes:
        check_codes_model(doc, vqvae, f"the codes in {source}")
        codes, roll, bpm = doc["codes"], doc["roll"], float(doc["bpm"])
        name = f"{safe_stem(doc['source'])}_bars{doc['first_bar']}-{doc['last_bar']}"
        where = f"{doc['source']}, bars {doc['first_bar']}-{doc['last_bar']}"
    else:
        enc = encode_loop(vqvae, reading)
        codes, roll, bpm = enc.codes, reading.roll, reading.bpm
        name = f"{safe_stem(args.input)}_bars{reading.start_bar + 1}-{reading.start_bar + BARS_PER_LOOP}"
        where = f"{args.input}, {reading.bars_label} ({reading.chosen_by})"
    silent: list[str] = []
    rows = vary_to_folder(vqvae, prior, codes, args.out, bars=bars, form=args.form, n=n, temperature=args.temperature,
                          seed=args.seed, bpm=bpm, name=name, input_roll=roll, png=not args.no_png,
                          audio=args.audio, silent=silent)  # fmt: skip
    print(f"input: {where}; tempo {bpm:g} bpm")
    for row in rows:
        dist = row["hamming_to_input"] or row["hamming_to_decoded"]
        print(f"  {row['file']}: {row['codes_changed']} of {len(codes)} codes changed, Hamming {dist} to the input, "
              f"FND {row['fnd']} FNB {row['fnb']} HD {row['hd']}")  # fmt: skip
    report_written(len(rows), silent, "variations.csv", args.out)
    return 0
