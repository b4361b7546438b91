"""``loopkit data demo|lmd``: get the corpora of the paper's Data Preprocess section with one command (the Debian
demo corpus, or LMD-full), ready for ``loopkit extract``."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="download a MIDI corpus: the Debian demo corpus or LMD-full",
        description="Download a MIDI corpus for `loopkit extract`: the demo corpus (three Debian packages with "
        "bass+drum MIDI and redistributable licences) or LMD-full (the paper's corpus).",
    )
    sub = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True)

    demo = sub.add_parser(
        "demo",
        help="the demo corpus from Debian packages (freedoom, openttd-openmsx, planetblupi-music-midi)",
        description="Fetch the three packages with `apt-get download` (no installation, no root), unpack them with "
        "dpkg-deb, and write one folder per package with its MIDI files, its licence text and a manifest.json. "
        "A second run with everything in place does nothing.",
    )
    demo.add_argument("--out", required=True, type=Path, help="corpus folder (created if needed)")
    demo.add_argument(
        "--debs",
        type=Path,
        help="folder with the three .deb files downloaded by hand (for machines without apt-get or a mirror)",
    )
    demo.add_argument("--force", action="store_true", help="rebuild every package even when its files are complete")
    demo.set_defaults(handler=run_demo)

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


def run_demo(args: argparse.Namespace) -> int:
    from ..sources.demo import DemoSourceError, fetch_demo

    try:
        out = fetch_demo(args.out, debs=args.debs, force=args.force)
    except DemoSourceError as exc:
        hint = " (loopkit data demo --out DIR --debs FOLDER)" if exc.manual else ""
        raise UserError(f"{exc}{hint}") from None
    print(f"next: loopkit extract {out} --out {out.parent / (out.name + '-loops')}")
    return 0


def run_lmd(args: argparse.Namespace) -> int:
    from ..errors import LoopkitError
    from ..sources.lmd import LMD_FULL_URL, DownloadError, check_hex, download_lmd

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
