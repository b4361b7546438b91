"""``loopkit book``: run the notebooks under a profile and build the book (the README's main job)."""

from __future__ import annotations

import time


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "book",
        help="run the five notebooks with papermill and build the Jupyter Book",
        description="Run notebooks/01..05 with papermill under a profile (cpu: the demo corpus on a laptop; "
        "paper: the paper's settings, for a GPU and LMD-full), then build the book into _build/html.",
    )
    p.add_argument("--profile", default="cpu", help="training profile: smoke, cpu or paper (default cpu)")
    p.add_argument(
        "--corpus",
        default="demo",
        help="'demo' (game music from three Debian packages and mma's grooves rendered into songs, fetched into "
        "data/demo), 'games' or 'grooves' (either half, into data/NAME), or a path to MIDI files, folders or "
        "archives such as lmd_full.tar.gz (default demo)",
    )
    p.add_argument("--out", default=None, help="output folder for data, models and tables (default runs/PROFILE)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--ratings", default="", help="a listening-test ratings CSV for notebook 5 (default: simulated)")
    p.add_argument("--only", nargs="*", metavar="NN", help="run only these notebooks (e.g. 02 04)")
    p.add_argument("--no-build", action="store_true", help="run the notebooks but do not build the HTML")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    from ..book import build_book, run_notebooks

    start = time.perf_counter()
    out = args.out or f"runs/{args.profile}"
    params = {
        "profile": args.profile,
        "corpus": args.corpus,
        "out": out,
        "device": args.device,
        "ratings": args.ratings,
    }
    run_notebooks(params, only=args.only)
    if not args.no_build:
        index = build_book()
        print(f"[book] built in {time.perf_counter() - start:.0f} s in all; open {index}")
    return 0
