"""``loopkit book``: run the notebooks under a profile and build the book (the README's main job)."""

from __future__ import annotations

import time

from loopkit.commands import UserError
from loopkit.commands.train import SET_HELP


def register(subparsers) -> None:
    from loopkit.book.rehearsal import REHEARSAL

    p = subparsers.add_parser(
        "book",
        help="run the five notebooks with papermill and build the Jupyter Book",
        description="Run notebooks/01..05 with papermill under a profile (cpu: the demo corpus on a laptop; "
        "paper: the paper's settings, for a GPU and LMD-full), then build the book into _build/html. With "
        "--rehearsal, the whole path at the profile's batch and sizes in minutes: the first epochs of every "
        "training schedule, a few thousand loops per table row, every page labelled, the full run's time projected.",
    )
    p.add_argument("--profile", default="cpu",
                   help="training profile: smoke, cpu, long (the recorded long run) or paper (default cpu)")
    p.add_argument(
        "--corpus",
        default="demo",
        help="'demo' (game music from three Debian packages and mma's grooves rendered into songs, fetched into "
        "data/demo), 'games' or 'grooves' (either half, into data/NAME), or a path to MIDI files, folders or "
        "archives such as lmd_full.tar.gz (default demo)",
    )
    p.add_argument("--out", default=None, help="output folder for data, models and tables (default runs/PROFILE; "
                   "a rehearsal writes to its own folder, OUT-rehearsal)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--ratings", default="", help="a listening-test ratings CSV for notebook 5 (default: simulated)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings", help=SET_HELP)
    p.add_argument("--rehearsal", nargs="?", type=int, const=REHEARSAL.epochs, default=0, metavar="EPOCHS",
                   help=f"rehearse: train the first EPOCHS (default {REHEARSAL.epochs}) epochs of every schedule, "
                   f"generate {REHEARSAL.loops_per_row:,} loops per row of Tables 3 and 4, label every page, print the "
                   "measured times and the full run's projected time")
    p.add_argument("--only", nargs="*", metavar="NN", help="run only these notebooks (e.g. 02 04)")
    p.add_argument("--record", nargs="?", const="", default=None, metavar="NAME",
                   help="record the run's tables, claims, learning curves and provenance as text in records/NAME "
                   "(default NAME: the profile), which every build then shows beside its own (loopkit.book.records)")
    p.add_argument("--no-build", action="store_true", help="run the notebooks but do not build the HTML")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    from loopkit.book.build import build_book, run_notebooks
    from loopkit.book.rehearsal import describe, rehearsal_folder, summary_lines
    from loopkit.commands.train import settings_from

    if args.rehearsal < 0:
        raise UserError(f"--rehearsal must be a number of epochs of at least 1, got {args.rehearsal}")
    settings = settings_from(args)
    start = time.perf_counter()
    out = args.out or f"runs/{args.profile}"
    if args.rehearsal:
        out = str(rehearsal_folder(out))
        print(f"[book] {describe(args.rehearsal, args.profile)}; output in {out}, the rehearsal's own folder")
    params = {
        "profile": args.profile,
        "corpus": args.corpus,
        "out": out,
        "device": args.device,
        "ratings": args.ratings,
        "rehearsal": args.rehearsal,
    }
    if settings:
        params["settings"] = settings
    run_notebooks(params, only=args.only)
    if args.record is not None:
        import shlex
        import sys

        from loopkit.book.records import record_run

        if args.rehearsal:
            raise UserError("a rehearsal is not a result: --record records full runs only")
        command = "loopkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        folder = record_run(out, args.record or args.profile, command)
        print(f"[book] recorded the run in {folder} (commit it: its files are small text)")
    if args.rehearsal:
        print("[book] time per chapter, measured in this rehearsal and projected for the full run:")
        for line in summary_lines(out):
            print(f"[book]   {line}")
    if not args.no_build:
        announcement = f"Rehearsal, not results: {describe(args.rehearsal, args.profile)}." if args.rehearsal else None
        index = build_book(announcement=announcement)
        print(f"[book] built in {time.perf_counter() - start:.0f} s in all; open {index}")
    return 0
