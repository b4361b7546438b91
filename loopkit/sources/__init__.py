"""Corpora a user gets with one command, the inputs of the paper's Data Preprocess section: the demo corpus (real
game music from three Debian packages, ``games``, plus mma's human-written grooves rendered into songs,
``grooves``) and LMD-full (``lmd``).

``fetch_corpus(name, out)`` writes a named corpus (``CORPORA``); ``loopkit data NAME --out DIR`` calls it (or
:func:`loopkit.sources.lmd.download_lmd`), and ``loopkit extract`` then turns any of them into a loop data set,
with ``family_pattern(name)`` as its family pattern so that the songs of one style file share a split.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

#: The named corpora: what each holds.
CORPORA = {
    "demo": "the default: the game music of three Debian packages and mma's grooves rendered into songs "
            "(in the sub-folder grooves/)",
    "games": "the game music of three Debian packages (freedoom, openttd-openmsx, planetblupi-music-midi)",
    "grooves": "mma's accompaniment grooves (Debian's mma package) rendered over generated chord charts",
}  # fmt: skip
#: The sub-folder of the demo corpus that holds the groove songs.
GROOVES_FOLDER = "grooves"


def family_pattern(name: str) -> str:
    """The extraction family pattern of a named corpus ("" where files are their own family)."""
    from loopkit.sources.grooves import FAMILY_PATTERN

    return FAMILY_PATTERN if name in ("demo", "grooves") else ""


def fetch_corpus(
    name: str,
    out: str | os.PathLike,
    debs: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
) -> Path:
    """Write the named corpus (``CORPORA``) into ``out`` and return ``out``; parts already complete are kept.

    ``debs`` is a folder with the packages' .deb files downloaded by hand (where apt-get cannot fetch them).
    Raises ``loopkit.sources.debian.DebianSourceError`` when a package cannot be had (the message says what to do).
    """
    from loopkit.errors import LoopkitError
    from loopkit.sources.games import fetch_games
    from loopkit.sources.grooves import fetch_grooves

    if name not in CORPORA:
        raise LoopkitError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    out = Path(out)
    kw = dict(force=force, progress=progress, echo=echo)
    if name == "games":
        return fetch_games(out, debs, **kw)
    if name == "grooves":
        return fetch_grooves(out, debs, **kw)
    fetch_games(out, debs, **kw)
    fetch_grooves(out / GROOVES_FOLDER, debs, **kw)
    return out


def corpus_summary(name: str, out: str | os.PathLike) -> list[dict]:
    """One row per part of a named corpus written by ``fetch_corpus``: part, what it is, version, licence, MIDI
    files (and, for the groove songs, the style files and grooves they come from)."""
    from loopkit.sources.games import summarize
    from loopkit.sources.grooves import corpus_summary as groove_summary

    out = Path(out)
    rows = []
    if name in ("demo", "games"):
        for r in summarize(out):
            rows.append({"part": r["package"], "what": "game music (Debian package)", "version": r["version"],
                         "licence": r["licence"], "MIDI files": r["files"]})  # fmt: skip
    if name in ("demo", "grooves"):
        rows.append(groove_summary(out / GROOVES_FOLDER if name == "demo" else out))
    return rows
