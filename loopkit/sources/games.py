"""The game music of the demo corpus: real multi-track bass+drum MIDI with redistributable licences, written for
games (the demo corpus's other half is ``loopkit.sources.grooves``; together they stand in for LMD-full, the paper's
Data Preprocess section).

Three Debian packages carry such music; ``fetch_games`` gets them with ``apt-get download`` (no installation, no
root) and unpacks them with ``dpkg-deb -x`` (``loopkit.sources.debian``), into a temporary folder inside the
output folder:

* ``freedoom``: MIDI lumps inside ``freedoom1.wad`` and ``freedoom2.wad``; BSD 3-clause ("freedoom-license").
* ``openttd-openmsx``: the ``.mid`` files of OpenTTD's OpenMSX music set; GPL-2.0.
* ``planetblupi-music-midi``: the ``.mid`` files of the game Planet Blupi; GPL-3+.

The output folder gets one sub-folder per package with its ``.mid`` files and, beside them, the package's
licence text (``copyright``, Debian's ``usr/share/doc/<package>/copyright``) and its attribution file where it
has one (Freedoom's ``CREDITS``, OpenMSX's ``readme.txt`` with per-song credits), plus ``manifest.json``:
package, version, licence, the .deb's SHA-256 and, for every MIDI file, its name, origin inside the package,
size, SHA-256 and whether it has a bass track (GM program 32..39) and a drum track (checked with symusic).

File names are deterministic: a MIDI file keeps its base name; a WAD lump becomes ``<wad>_<lump>.mid`` in lower
case (``freedoom1_d_e1m1.mid``). A file whose bytes repeat an earlier file of the same package is written once
and listed under ``duplicates`` (Freedoom 0.12.1 reuses one track for two levels).

Runs are idempotent and atomic: a package's folder is built in ``DIR/.partial-*`` and renamed into place whole,
then ``manifest.json`` is replaced atomically; a second run that finds every file with its recorded SHA-256
does nothing and says so, and an interrupted run leaves only a ``.partial-*`` folder that the next run removes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from loopkit.atomic import file_hash, write_json
from loopkit.data.pianoroll import BASS_PROGRAMS, read_score
from loopkit.version import __version__
from loopkit.sources import wad
from loopkit.sources.debian import (
    PARTIAL_PREFIX,
    DebianSourceError,
    corpus_folder,
    deb_fields,
    download_debs,
    extract_deb,
    find_debs,
)

MANIFEST = "manifest.json"
LICENCE_FILE = "copyright"
MIDI_SUFFIXES = (".mid", ".midi")


@dataclass(frozen=True)
class DebianSource:
    """One Debian package of the demo corpus.

    ``music`` is the file suffix searched for anywhere in the package (``.mid`` files, or ``.wad`` files whose
    MIDI lumps are read out); ``attribution`` names extra documentation files copied beside the licence (a
    ``.gz`` one is unpacked and loses the suffix).
    """

    package: str
    music: str = ".mid"
    attribution: tuple[str, ...] = ()

    @property
    def folder(self) -> str:
        """The sub-folder of the corpus that holds this package's files."""
        return self.package

    @property
    def copyright(self) -> str:
        """Path of the package's licence text inside the package."""
        return f"usr/share/doc/{self.package}/copyright"



GAME_SOURCES: tuple[DebianSource, ...] = (
    DebianSource("freedoom", music=".wad", attribution=("usr/share/doc/freedoom/CREDITS.gz",)),
    DebianSource("openttd-openmsx", attribution=("usr/share/doc/openttd-openmsx/readme.txt.gz",)),
    DebianSource("planetblupi-music-midi"),
)


# ---------------------------------------------------------------------------------------------------------
# the corpus


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bass_and_drums(midi: bytes) -> tuple[bool, bool]:
    """Whether a MIDI file has a bass track (non-drum, GM program 32..39, with notes) and a drum track with notes.

    The same track test as ``loopkit.data.pianoroll`` (read with symusic).
    """
    score = read_score(midi)
    bass = any((not t.is_drum) and t.program in BASS_PROGRAMS and len(t.notes) > 0 for t in score.tracks)
    drums = any(t.is_drum and len(t.notes) > 0 for t in score.tracks)
    return bass, drums


def licence_name(copyright_text: str) -> str:
    """The ``License:`` short name of the ``Files: *`` paragraph of a machine-readable Debian copyright file."""
    for paragraph in re.split(r"\n\s*\n", copyright_text):
        fields = dict(
            (m.group(1), m.group(2).strip()) for m in re.finditer(r"^([A-Za-z-]+):[ \t]*(.*)$", paragraph, re.M)
        )
        if fields.get("Files", "").split() and fields["Files"].split()[0] == "*" and "License" in fields:
            return fields["License"]
    return "see copyright"


def _file_name(stem: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_.-]+", "_", stem.lower()).strip("_") or "track"
    name, n = f"{base}.mid", 2
    while name in taken:  # two different files with one name: number them in (sorted) origin order
        name, n = f"{base}-{n}.mid", n + 1
    return name


def _music_items(root: Path, source: DebianSource) -> Iterator[tuple[str, str, bytes]]:
    """(origin, proposed stem, MIDI bytes) of every music file of an unpacked package, in sorted path order."""
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == source.music)
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if source.music == ".wad":
            for lump, payload in wad.read_midi_lumps(path):
                yield f"{rel}:{lump.name}", f"{path.stem}_{lump.name}", payload
        else:
            yield rel, path.stem, path.read_bytes()


def _stage_source(root: Path, source: DebianSource, fields: dict[str, str], deb: Path, stage: Path) -> dict:
    """Write one package's MIDI files and licence text into ``stage``; return its manifest entry."""
    stage.mkdir(parents=True)
    copyright_path = root / source.copyright
    if not copyright_path.is_file():
        raise DebianSourceError(f"{deb.name} has no {source.copyright}: cannot keep its licence beside its music")
    licence_text = copyright_path.read_bytes()
    (stage / LICENCE_FILE).write_bytes(licence_text)
    extra = {LICENCE_FILE: sha256_bytes(licence_text)}
    for rel in source.attribution:
        path = root / rel
        if not path.is_file():
            continue  # attribution beyond the copyright file is a courtesy; the licence itself is required
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        name = path.stem if path.suffix == ".gz" else path.name
        (stage / name).write_bytes(data)
        extra[name] = sha256_bytes(data)

    files, duplicates, taken, by_hash = [], [], set(extra), {}
    for origin, stem, payload in _music_items(root, source):
        digest = sha256_bytes(payload)
        if digest in by_hash:
            duplicates.append({"origin": origin, "same_as": by_hash[digest]})
            continue
        name = _file_name(stem, taken)
        taken.add(name)
        by_hash[digest] = name
        (stage / name).write_bytes(payload)
        entry = {"name": name, "origin": origin, "bytes": len(payload), "sha256": digest}
        try:
            entry["bass"], entry["drums"] = bass_and_drums(payload)
        except Exception as exc:  # noqa: BLE001 - symusic raises several types; extraction will report the file too
            entry["bass"] = entry["drums"] = None
            entry["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        files.append(entry)
    if not files:
        raise DebianSourceError(f"{deb.name} holds no {source.music} music files: is it the right package?")
    return {
        "package": source.package,
        "version": fields["Version"],
        "licence": licence_name(licence_text.decode("utf-8", errors="replace")),
        "licence_files": extra,
        "deb": {"name": deb.name, "sha256": file_hash(deb)},
        "folder": source.folder,
        "files": files,
        "duplicates": duplicates,
    }


def read_manifest(out: str | os.PathLike) -> dict:
    """The demo corpus's ``manifest.json`` (an empty one when there is none yet)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return {"sources": []}
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"sources": []}  # written atomically, so this is not ours: rebuild it
    return manifest if isinstance(manifest.get("sources"), list) else {"sources": []}


def _write_manifest(out: Path, entries: dict[str, dict]) -> None:
    manifest = {
        "corpus": "loopkit demo corpus: bass+drum MIDI from Debian packages",
        "written_by": f"loopkit {__version__} (loopkit data demo)",
        "sources": [entries[s.folder] for s in GAME_SOURCES if s.folder in entries],
    }
    write_json(out / MANIFEST, manifest, indent=1)




def source_complete(out: str | os.PathLike, entry: dict | None) -> bool:
    """Whether every file a manifest entry lists is in place with its recorded SHA-256."""
    if not entry:
        return False
    folder = Path(out) / entry.get("folder", "")
    try:
        expected = {f["name"]: f["sha256"] for f in entry["files"]} | dict(entry["licence_files"])
    except (KeyError, TypeError):
        return False
    return all((folder / name).is_file() and file_hash(folder / name) == digest for name, digest in expected.items())


def fetch_games(
    out: str | os.PathLike,
    debs: str | os.PathLike | None = None,
    *,
    force: bool = False,
    use_dpkg: bool | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
) -> Path:
    """Build the game-music corpus (the demo corpus's first part) in ``out`` (see the module docstring) and return
    ``out``.

    Parameters
    ----------
    out
        The corpus folder; created if needed. Packages already complete there are kept.
    debs
        A folder with the three .deb files downloaded by hand; without it ``apt-get download`` fetches them.
    force
        Rebuild every package even when its files are complete.
    use_dpkg
        ``None``: unpack with dpkg-deb where it exists, else with Python; ``True``/``False`` force one reader.
    progress
        Show a tqdm progress bar over the packages.
    echo
        Where status lines go (``None`` for silence).

    Raises
    ------
    DebianSourceError
        When apt-get is missing or fails, or a .deb is missing or wrong; the message says what to do instead.
    """
    from tqdm import tqdm

    say = echo or (lambda _msg: None)
    with corpus_folder(out) as out:
        for stale in out.glob(f".{MANIFEST}.*"):  # a manifest write that never reached os.replace
            stale.unlink(missing_ok=True)
        entries = {e.get("folder"): e for e in read_manifest(out)["sources"] if isinstance(e, dict)}
        todo = [s for s in GAME_SOURCES if force or not source_complete(out, entries.get(s.folder))]
        if not todo:
            n = sum(len(entries[s.folder]["files"]) for s in GAME_SOURCES)
            say(f"demo corpus in {out} is complete ({n} MIDI files from {len(GAME_SOURCES)} packages); nothing to do")
            return out
        work = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out))
        try:
            packages = [s.package for s in todo]
            if debs is not None:
                found = find_debs(debs, packages, use_dpkg)
            else:
                say(f"downloading {', '.join(packages)} with apt-get download")
                (work / "debs").mkdir()
                found = download_debs(packages, work / "debs")
            bar = tqdm(todo, desc="demo corpus", unit="package", disable=not progress)
            for source in bar:
                bar.set_postfix_str(source.package)
                deb = found[source.package]
                fields = deb_fields(deb, use_dpkg)
                root = extract_deb(deb, work / "unpacked" / source.package, use_dpkg)
                entry = _stage_source(root, source, fields, deb, work / "stage" / source.folder)
                target = out / source.folder
                if target.exists():  # an older or broken copy: move it out of the way, then swap the new one in
                    os.replace(target, work / f"old-{source.folder}")
                os.replace(work / "stage" / source.folder, target)
                entries[source.folder] = entry
                _write_manifest(out, entries)
                shutil.rmtree(work / "unpacked" / source.package, ignore_errors=True)
            bar.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for row in summarize(out):
            say(
                f"{row['package']} {row['version']} ({row['licence']}): {row['files']} MIDI files, "
                f"{row['bass_and_drums']} with bass and drums"
            )
        return out


def summarize(out: str | os.PathLike) -> list[dict]:
    """Per package of the demo corpus: version, licence, MIDI files, and how many have both bass and drums."""
    rows = []
    for entry in read_manifest(out)["sources"]:
        files = entry["files"]
        rows.append(
            {
                "package": entry["package"],
                "version": entry["version"],
                "licence": entry["licence"],
                "files": len(files),
                "bass": sum(bool(f.get("bass")) for f in files),
                "drums": sum(bool(f.get("drums")) for f in files),
                "bass_and_drums": sum(bool(f.get("bass") and f.get("drums")) for f in files),
                "duplicates": len(entry.get("duplicates", [])),
            }
        )
    return rows
