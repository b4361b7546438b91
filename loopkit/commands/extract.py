"""``loopkit extract``: the paper's loop data set (Data Preprocess) from MIDI folders, files and archives."""

from __future__ import annotations

import sys

from loopkit.commands import UserError


def register(subparsers) -> None:
    from loopkit.data.extract import MISSING_TIME_SIGNATURE, ExtractionSettings  # light (numpy); defaults live there
    from loopkit.data.pianoroll import DRUM_MAPS

    d = ExtractionSettings()
    p = subparsers.add_parser(
        "extract",
        help="extract the 8-bar bass+drum loop data set from MIDI files",
        description=(
            "Read every MIDI file of the sources (folders, files, .tar/.tar.gz/.tgz/.zip archives, read in place), "
            "apply the paper's representation and loop rules, and write the loop data set to --out. "
            "Every input file is listed in files.csv as used, rejected (with the rule) or failed (with the reason). "
            "If the run is interrupted, the same command continues it."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="MIDI folder, MIDI file or archive")
    p.add_argument("--out", required=True, metavar="DIR", help="data set folder to write")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: every core; 0: in this process, without the per-file time limit)",
    )
    p.add_argument(
        "--stride-bars", type=int, default=d.rules.stride_bars, metavar="N", help="window stride in bars (%(default)s)"
    )
    p.add_argument(
        "--max-hamming",
        type=float,
        default=d.rules.max_hamming,
        metavar="X",
        help="bar 1 vs bar 5 Hamming distance must be below this (%(default)s)",
    )
    p.add_argument(
        "--hamming-normalisation",
        choices=("bar", "loop"),
        default=d.rules.hamming_normalisation,
        help="divide differing cells by one bar's 16x93 cells or by the loop's 128x93 (%(default)s)",
    )
    p.add_argument("--drum-map", choices=tuple(DRUM_MAPS), default=d.drum_map, help="GM drum map (%(default)s)")
    p.add_argument(
        "--missing-time-signature",
        choices=MISSING_TIME_SIGNATURE,
        default=d.missing_time_signature,
        help="files without a time-signature event: count as 4/4 (the MIDI standard) or drop (%(default)s)",
    )
    p.add_argument("--max-bars", type=int, default=d.max_bars, metavar="N", help="longest song in bars (%(default)s)")
    p.add_argument(
        "--time-limit", type=float, default=d.time_limit_s, metavar="S", help="per-file time limit, s (%(default)s)"
    )
    p.add_argument(
        "--split",
        type=float,
        nargs=3,
        default=d.split_fractions,
        metavar=("TRAIN", "VALID", "TEST"),
        help="shares of loops per split, by source file or by family (%(default)s)",
    )
    p.add_argument("--family-pattern", default=d.family_pattern, metavar="REGEX",
                   help="split by family: files whose source name this regular expression matches share a split "
                        "with the others of its first group (e.g. the style file of the demo corpus's groove songs; "
                        "`loopkit data demo` prints the one to use); default: every file is its own family")  # fmt: skip
    p.add_argument("--tolerant-reader", action="store_true",
                   help="read files the parser refuses once more, leniently (data bytes over 127 clipped, chunk "
                        "lengths past the end of the file cut there); off by default: the paper's parser behaviour")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace a data set or unfinished run with other settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def settings_from_args(args):
    """The ``ExtractionSettings`` named by the command-line options."""
    from loopkit.data.extract import ExtractionSettings
    from loopkit.data.rules import LoopRules

    rules = LoopRules(
        max_hamming=args.max_hamming, hamming_normalisation=args.hamming_normalisation, stride_bars=args.stride_bars
    )  # the other rule settings keep the paper's defaults
    return ExtractionSettings(
        rules=rules,
        drum_map=args.drum_map,
        missing_time_signature=args.missing_time_signature,
        max_bars=args.max_bars,
        time_limit_s=args.time_limit,
        split_fractions=tuple(args.split),
        tolerant_reader=args.tolerant_reader,
        family_pattern=args.family_pattern,
    )


def run(args) -> int:
    from loopkit.data.extract import extract
    from loopkit.data.funnel import format_funnel
    from loopkit.data.workers import WorkerStartError

    settings = settings_from_args(args)
    report: dict = {}
    try:
        loops = extract(
            args.sources,
            args.out,
            settings=settings,
            workers=args.workers,
            progress=not args.quiet,
            overwrite=args.overwrite,
            report=report,
        )
    except WorkerStartError as exc:
        raise UserError(f"{exc}; --workers 0 works without worker processes") from exc
    except KeyboardInterrupt:
        print("loopkit extract: interrupted; run the same command again to continue where it stopped", file=sys.stderr)
        return 130
    if report.get("state") == "complete":
        print(f"{args.out} is already complete (same sources and settings); nothing to do")
    else:
        if report.get("state") == "rebuild":
            print(f"{args.out} held a damaged data set (its files did not match manifest.json): extracted it again")
        files, seconds = report["files"], report["seconds"]
        done = report["files_processed"]
        resumed = f", {report['resumed_files']:,} from the interrupted run" if report["resumed_files"] else ""
        n = report["workers"]
        how = "in this process" if n == 0 else f"with {n} worker process{'es' if n != 1 else ''}"
        print(f"extracted {args.out}: {files:,} files ({done:,} read now{resumed}) in {seconds:.1f} s {how}")
    print(format_funnel(loops.funnel))
    return 0
