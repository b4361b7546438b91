"""``loopkit data demo|games|grooves|lmd``: get the corpora of the paper's Data Preprocess section with one command
(the demo corpus, its two halves, or LMD-full), ready for ``loopkit extract``."""

from __future__ import annotations

import argparse
from pathlib import Path

from loopkit.commands import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="get a MIDI corpus: the demo corpus (or one of its halves) or LMD-full",
        description="Get a MIDI corpus for `loopkit extract`: the demo corpus (real game music from three Debian "
        "packages plus mma's human-written grooves rendered into songs, all with redistributable licences), "
        "either half of it, or LMD-full (the paper's corpus).",
    )
    sub = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True)

    from loopkit.sources import CORPORA

    details = {
        "demo": "Fetch the game music's three Debian packages and mma's package with `apt-get download` (no "
                "installation, no root), unpack them with dpkg-deb, write one folder per game package with its MIDI "
                "files, licence text and a manifest.json, and render mma's grooves into songs under grooves/ "
                "(a few minutes on two cores). A second run with everything in place does nothing.",
        "games": "Only the game music of the demo corpus: three Debian packages, one folder each.",
        "grooves": "Only the groove songs of the demo corpus: Debian's mma renders its style library over "
                   "generated chord charts (every song's groove, style file and chart in songs.csv).",
    }  # fmt: skip
    for name, what in CORPORA.items():
        parser_ = sub.add_parser(name, help=what, description=details[name])
        parser_.add_argument("--out", required=True, type=Path, help="corpus folder (created if needed)")
        parser_.add_argument("--debs", type=Path,
                             help="folder with the .deb files downloaded by hand (for machines without apt-get or a "
                                  "mirror)")  # fmt: skip
        parser_.add_argument("--force", action="store_true", help="rebuild everything even when it is complete")
        parser_.set_defaults(handler=run_corpus)

    lmd = sub.add_parser(
        "lmd",
        help="download LMD-full (1.7 GB) with resume and verification",
        description="Download lmd_full.tar.gz with resume (HTTP Range), verify it (a digest you give, and the "
        "archive's structure: the Lakh MIDI Dataset publishes no checksum) and rename it into place only when it "
        "passes. `loopkit extract` reads the archive directly.",
    )
    lmd.add_argument("--out", required=True, type=Path, help="folder for lmd_full.tar.gz (created if needed)")
    lmd.add_argument("--url", help="download address (default: the official LMD-full address)")
    lmd.add_argument("--md5", help="expected MD5 of the archive (32 hex digits)")
    lmd.add_argument("--sha256", help="expected SHA-256 of the archive (64 hex digits)")
    lmd.add_argument("--retries", type=int, default=5, help="retries after a dropped connection (default 5)")
    lmd.set_defaults(handler=run_lmd)


def run_corpus(args: argparse.Namespace) -> int:
    import shlex

    from loopkit.errors import LoopkitError
    from loopkit.sources import family_pattern, fetch_corpus
    from loopkit.sources.debian import DebianSourceError

    try:
        out = fetch_corpus(args.corpus, args.out, debs=args.debs, force=args.force)
    except DebianSourceError as exc:
        hint = f" (loopkit data {args.corpus} --out DIR --debs FOLDER)" if exc.manual else ""
        raise UserError(f"{exc}{hint}") from None
    except LoopkitError as exc:
        raise UserError(str(exc)) from None
    family = family_pattern(args.corpus)
    split = f" --family-pattern {shlex.quote(family)}" if family else ""
    print(f"next: loopkit extract {out}{split} --out {out.parent / (out.name + '-loops')}")
    return 0


def run_lmd(args: argparse.Namespace) -> int:
    from loopkit.errors import LoopkitError
    from loopkit.sources.lmd import LMD_FULL_URL, DownloadError, check_hex, download_lmd

    if args.retries < 0:
        raise UserError("--retries must be 0 or more")
    for flag, value, length in (("--md5", args.md5, 32), ("--sha256", args.sha256, 64)):
        try:
            check_hex(value, length, flag)
        except LoopkitError as exc:
            raise UserError(str(exc)) from None
    try:
        archive = download_lmd(args.out, url=args.url or LMD_FULL_URL, md5=args.md5, sha256=args.sha256,
                               retries=args.retries)
    except DownloadError as exc:
        raise UserError(str(exc)) from None
    print(f"next: loopkit extract {archive} --out {archive.parent / 'lmd-loops'}")
    return 0
