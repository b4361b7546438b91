"""``loopkit listen prepare|serve|export``: run the paper's listening test (Listening Test, Figure 6)."""

from __future__ import annotations

import argparse
from typing import Sequence

from loopkit.commands import UserError
from loopkit.listening.server import CHANNEL_TIMEOUT_S, CONNECTION_LIMIT  # light (no Flask); the defaults live there
from loopkit.data.pianoroll import DEFAULT_BPM, check_bpm  # light (numpy); the default lives there


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "listen",
        help="run a listening test: prepare stimuli, serve the rating app, export the ratings",
        description="The paper's listening test: blind 1..5 ratings of \"How much does this sound like music?\".",
    )
    sub = p.add_subparsers(dest="listen_command", metavar="STEP", required=True)

    prep = sub.add_parser(
        "prepare",
        help="pick loops per group and render them to a stimulus set",
        description=(
            "Pick loops per group, render them to WAV under random ids and write a manifest (group labels stay in "
            "it, on the server). Sources: a folder of .mid files (e.g. `loopkit generate` output), a glob, or "
            "data:DIR for the training split of a loop data set. Re-run the same command to finish an "
            "interrupted run."
        ),
    )
    prep.add_argument("--group", action="append", required=True, metavar="NAME=DIR_OR_GLOB",
                      help='a group and its loops, repeated; e.g. --group "Training set=data:data/demo" '
                           '--group "VQ-VAE (temp 1.2)=out/vqvae_t1.2"')  # fmt: skip
    prep.add_argument("--per-group", type=int, default=10, help="test loops per group (default 10, the paper's)")
    prep.add_argument("--familiarisation", type=int, default=3,
                      help="loops heard before the test, not rated (default 3, the paper's)")  # fmt: skip
    prep.add_argument("--familiarisation-group", default=None, metavar="NAME",
                      help="take the familiarisation loops from this group only (default: from all groups)")  # fmt: skip
    prep.add_argument("--seed", type=int, default=0, help="seeds which loops are picked (default 0)")
    prep.add_argument("--bpm", type=float, default=DEFAULT_BPM, help=f"tempo of the rendered loops (default {DEFAULT_BPM:g})")
    prep.add_argument("--repeats", type=int, default=1, help="plays of each loop in its audio (default 1)")
    prep.add_argument("--soundfont", default=None, metavar="SF2", help="a .sf2/.sf3 sound font")
    prep.add_argument("--out", required=True, metavar="DIR", help="the stimulus set folder (new or unfinished)")
    prep.set_defaults(handler=run_prepare)

    serve = sub.add_parser(
        "serve",
        help="serve the rating app",
        description="Serve the listening test (waitress); ratings go to an SQLite database as they arrive.",
    )
    serve.add_argument("--stimuli", required=True, metavar="DIR", help="a folder made by `loopkit listen prepare`")
    serve.add_argument("--db", required=True, metavar="FILE", help="the SQLite ratings database (created if missing)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    serve.add_argument("--connection-limit", type=int, default=CONNECTION_LIMIT, metavar="N",
                       help=f"open connections held at once (default {CONNECTION_LIMIT}; a listener's browser opens "
                            "up to 6, a slow client holds one as long as it likes)")  # fmt: skip
    serve.add_argument("--channel-timeout", type=float, default=CHANNEL_TIMEOUT_S, metavar="S",
                       help=f"seconds an idle connection is kept open (default {CHANNEL_TIMEOUT_S})")  # fmt: skip
    serve.set_defaults(handler=run_serve)

    export = sub.add_parser(
        "export",
        help="write the ratings as CSV",
        description="Write the ratings as CSV: listener, stimulus, group, rating, time.",
    )
    export.add_argument("--db", required=True, metavar="FILE", help="the SQLite ratings database")
    export.add_argument("--out", required=True, metavar="CSV", help="the CSV file to write")
    export.set_defaults(handler=run_export)


def parse_group_args(items: Sequence[str]) -> dict[str, str]:
    """``["NAME=SOURCE", ...]`` (the ``--group`` options) -> ``{name: source}`` in the order given."""
    groups: dict[str, str] = {}
    for item in items:
        name, sep, source = item.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not name or not source:
            raise UserError(f"--group takes NAME=DIR_OR_GLOB (or NAME=data:DIR), got {item!r}")
        if name in groups:
            raise UserError(f"group {name!r} is given twice")
        groups[name] = source
    if len(groups) < 2:
        raise UserError("a listening test needs at least two groups (--group NAME=SOURCE, repeated)")
    return groups


def run_prepare(args: argparse.Namespace) -> int:
    from loopkit.outputs.audio import check_duration, with_settings
    from loopkit.data.pianoroll import LOOP_STEPS
    from loopkit.listening.prepare import prepare_stimuli

    groups = parse_group_args(args.group)
    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    check_bpm(args.bpm)
    settings = with_settings(soundfont=args.soundfont)
    check_duration(LOOP_STEPS, args.bpm, args.repeats, settings.tail)  # before any work
    stimuli = prepare_stimuli(
        groups,
        args.out,
        per_group=args.per_group,
        familiarisation=args.familiarisation,
        seed=args.seed,
        bpm=args.bpm,
        repeats=args.repeats,
        settings=settings,
        familiarisation_group=args.familiarisation_group,
    )
    size = sum(s["bytes"] for s in stimuli.stimuli)
    print(
        f"stimulus set in {stimuli.root}: {len(stimuli.test_ids)} test loops in {len(stimuli.groups)} groups, "
        f"{len(stimuli.familiarisation_ids)} familiarisation loops, {size / 1e6:.1f} MB of audio; "
        f"serve it with `loopkit listen serve --stimuli {stimuli.root} --db ratings.sqlite`"
    )
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from loopkit.listening.app import serve

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, got {args.port}")
    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    if args.connection_limit < 1:
        raise UserError(f"--connection-limit must be at least 1, got {args.connection_limit}")
    if not args.channel_timeout >= 1:
        raise UserError(f"--channel-timeout must be at least 1 second, got {args.channel_timeout}")
    serve(args.stimuli, args.db, host=args.host, port=args.port, threads=args.threads,
          connection_limit=args.connection_limit, channel_timeout=args.channel_timeout)  # fmt: skip
    return 0


def run_export(args: argparse.Namespace) -> int:
    from loopkit.listening.db import export_ratings

    n = export_ratings(args.db, args.out)
    print(f"wrote {n} rating(s) to {args.out}")
    return 0
