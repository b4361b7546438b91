"""The demo corpus: real multi-track bass+drum MIDI with redistributable licences, the small stand-in for LMD-full
(the paper's Data Preprocess section) that every loopkit command and notebook runs on by default.

Three Debian packages carry such music; ``fetch_demo`` gets them with ``apt-get download`` (no installation, no
root) and unpacks them with ``dpkg-deb -x`` (or, where dpkg-deb is missing, with a small reader of the .deb
format in this module), into a temporary folder inside the output folder:

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

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from ..atomic import file_hash, write_json
from ..errors import LoopkitError
from ..pianoroll import BASS_PROGRAMS, read_score
from ..version import __version__
from . import wad

MANIFEST = "manifest.json"
LICENCE_FILE = "copyright"
PARTIAL_PREFIX = ".partial-"
MIDI_SUFFIXES = (".mid", ".midi")
#: Seconds ``apt-get download`` may take before the run gives up.
APT_TIMEOUT_S = 900


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

    @property
    def download_page(self) -> str:
        """Where a person gets the .deb by hand."""
        return f"https://packages.debian.org/stable/all/{self.package}/download"


DEMO_SOURCES: tuple[DebianSource, ...] = (
    DebianSource("freedoom", music=".wad", attribution=("usr/share/doc/freedoom/CREDITS.gz",)),
    DebianSource("openttd-openmsx", attribution=("usr/share/doc/openttd-openmsx/readme.txt.gz",)),
    DebianSource("planetblupi-music-midi"),
)


class DemoSourceError(RuntimeError):
    """The demo corpus could not be obtained (no apt, no mirror, a missing or wrong .deb); the text says what to do.

    ``manual`` is True when the remedy is to download the .deb files by hand and pass their folder as ``debs``.
    """

    def __init__(self, message: str, manual: bool = False):
        super().__init__(message)
        self.manual = manual


# ---------------------------------------------------------------------------------------------------------
# .deb files


def _manual_instructions(sources: tuple[DebianSource, ...] = DEMO_SOURCES) -> str:
    pages = ", ".join(s.download_page for s in sources)
    return f"download the .deb files by hand ({pages}) into one folder and give that folder as debs"


def _ar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Members of a Unix ``ar`` archive (the container of a .deb): 8-byte magic, then 60-byte headers + data."""
    if not data.startswith(b"!<arch>\n"):
        raise LoopkitError("not a .deb file (no ar archive magic)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        if header[58:60] != b"`\n":
            raise LoopkitError(f"corrupt .deb: bad ar member header at byte {pos}")
        name = header[0:16].decode("ascii", errors="replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = pos + 60
        if start + size > len(data):
            raise LoopkitError(f"corrupt .deb: member {name!r} is truncated")
        yield name, data[start : start + size]
        pos = start + size + (size % 2)  # members are padded to an even offset


def _deb_tar(deb: Path, prefix: str) -> tarfile.TarFile:
    """Open the ``control.tar.*`` or ``data.tar.*`` member of a .deb with Python's tarfile."""
    for name, payload in _ar_members(deb.read_bytes()):
        if name.startswith(prefix + ".tar"):
            if name.endswith(".zst"):
                raise DemoSourceError(
                    f"{deb.name} compresses its {name} with zstd, which Python's tarfile cannot read here; "
                    f"install dpkg (it provides dpkg-deb) and run again"
                )
            return tarfile.open(fileobj=io.BytesIO(payload), mode="r:*")
    raise DemoSourceError(f"{deb.name} has no {prefix}.tar member: not a Debian package")


def _has_dpkg(use_dpkg: bool | None) -> bool:
    found = shutil.which("dpkg-deb") is not None
    if use_dpkg and not found:
        raise DemoSourceError("dpkg-deb was not found; leave use_dpkg unset to read the .deb with Python instead")
    return found if use_dpkg is None else use_dpkg


def deb_fields(deb: str | os.PathLike, use_dpkg: bool | None = None) -> dict[str, str]:
    """The ``Package`` and ``Version`` fields of a .deb's control file."""
    deb = Path(deb)
    if _has_dpkg(use_dpkg):
        proc = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Package", "Version"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise DemoSourceError(f"{deb.name} is not a readable Debian package: {proc.stderr.strip()}")
        text = proc.stdout
    else:
        try:
            with _deb_tar(deb, "control") as tar:
                member = next(m for m in tar.getmembers() if PurePosixPath(m.name).name == "control")
                text = tar.extractfile(member).read().decode("utf-8", errors="replace")
        except (ValueError, tarfile.TarError, StopIteration) as exc:
            raise DemoSourceError(f"{deb.name} is not a readable Debian package: {exc}") from None
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("Package", "Version"):
            fields[key] = value.strip()
    if set(fields) != {"Package", "Version"}:
        raise DemoSourceError(f"{deb.name} has no Package/Version in its control file")
    return fields


def extract_deb(deb: str | os.PathLike, dest: str | os.PathLike, use_dpkg: bool | None = None) -> Path:
    """Unpack a .deb's files into ``dest`` without installing it (``dpkg-deb -x``, or Python's tarfile).

    The Python reader writes regular files only (no links, no device files) and refuses paths that leave
    ``dest``.
    """
    deb, dest = Path(deb), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if _has_dpkg(use_dpkg):
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DemoSourceError(f"dpkg-deb could not unpack {deb.name}: {proc.stderr.strip()}")
        return dest
    try:
        with _deb_tar(deb, "data") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = PurePosixPath(member.name).parts
                parts = tuple(p for p in parts if p not in ("", "."))
                if not parts or ".." in parts or PurePosixPath(member.name).is_absolute():
                    raise DemoSourceError(f"{deb.name} holds an unsafe path {member.name!r}")
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (ValueError, tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, DemoSourceError):
            raise
        raise DemoSourceError(f"could not unpack {deb.name}: {exc}") from None
    return dest


def find_debs(folder: str | os.PathLike, packages: list[str], use_dpkg: bool | None = None) -> dict[str, Path]:
    """The .deb file of each package in ``folder`` (named ``<package>_<version>_<arch>.deb`` as Debian names them).

    Raises :class:`DemoSourceError` naming every package that is missing or present more than once, and when a
    file's control data names another package.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder of .deb files {folder} does not exist")
    found, problems = {}, []
    for package in packages:
        candidates = sorted(folder.glob(f"{package}_*.deb"))
        if not candidates:
            problems.append(f"no {package}_*.deb")
        elif len(candidates) > 1:
            problems.append(f"several {package} .deb files ({', '.join(c.name for c in candidates)}); keep one")
        else:
            found[package] = candidates[0]
    if problems:
        wanted = [s for s in DEMO_SOURCES if s.package in packages]
        raise DemoSourceError(f"in {folder}: {'; '.join(problems)}. To get them, {_manual_instructions(tuple(wanted))}",
                              manual=True)  # fmt: skip
    for package, deb in found.items():
        actual = deb_fields(deb, use_dpkg)["Package"]
        if actual != package:
            raise DemoSourceError(f"{deb} is the package {actual!r}, not {package!r}")
    return found


def download_debs(packages: list[str], dest: str | os.PathLike) -> dict[str, Path]:
    """``apt-get download`` the packages into ``dest`` (no installation, no root needed).

    Raises :class:`DemoSourceError` with what to do instead when apt-get is missing or cannot reach a mirror.
    """
    dest = Path(dest)
    wanted = tuple(s for s in DEMO_SOURCES if s.package in packages) or DEMO_SOURCES
    apt = shutil.which("apt-get")
    if apt is None:
        raise DemoSourceError(f"apt-get was not found (not a Debian or Ubuntu system); {_manual_instructions(wanted)}",
                              manual=True)  # fmt: skip
    try:
        proc = subprocess.run(
            [apt, "download", *packages], cwd=dest, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise DemoSourceError(
            f"apt-get download took longer than {APT_TIMEOUT_S} s; check the network, or {_manual_instructions(wanted)}",
            manual=True,
        ) from None
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("E:")] or proc.stderr.splitlines()
        first = errors[0] if errors else f"exit status {proc.returncode}"
        hint = ""
        if "Unable to locate package" in proc.stderr or "has no installation candidate" in proc.stderr:
            hint = "run `sudo apt-get update` first (Ubuntu has these packages in universe), or "
        raise DemoSourceError(f"apt-get download failed ({first}); {hint}{_manual_instructions(wanted)}", manual=True)
    return find_debs(dest, packages)


# ---------------------------------------------------------------------------------------------------------
# the corpus


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bass_and_drums(midi: bytes) -> tuple[bool, bool]:
    """Whether a MIDI file has a bass track (non-drum, GM program 32..39, with notes) and a drum track with notes.

    The same track test as ``loopkit.pianoroll`` (read with symusic).
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
        raise DemoSourceError(f"{deb.name} has no {source.copyright}: cannot keep its licence beside its music")
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
        raise DemoSourceError(f"{deb.name} holds no {source.music} music files: is it the right package?")
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
        "sources": [entries[s.folder] for s in DEMO_SOURCES if s.folder in entries],
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


@contextlib.contextmanager
def _locked(out: Path):
    """Hold an exclusive lock on the corpus folder itself (no lock file that ``loopkit extract`` would list)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock
        yield
        return
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoSourceError(f"another `loopkit data demo` is writing {out}; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def fetch_demo(
    out: str | os.PathLike,
    debs: str | os.PathLike | None = None,
    *,
    force: bool = False,
    use_dpkg: bool | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
) -> Path:
    """Build the demo corpus in ``out`` (see the module docstring) and return ``out``.

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
    DemoSourceError
        When apt-get is missing or fails, or a .deb is missing or wrong; the message says what to do instead.
    """
    from tqdm import tqdm

    say = echo or (lambda _msg: None)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LoopkitError(f"the corpus folder {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        for stale in out.glob(PARTIAL_PREFIX + "*"):  # left by an interrupted run
            shutil.rmtree(stale, ignore_errors=True)
        for stale in out.glob(f".{MANIFEST}.*"):  # a manifest write that never reached os.replace
            stale.unlink(missing_ok=True)
        entries = {e.get("folder"): e for e in read_manifest(out)["sources"] if isinstance(e, dict)}
        todo = [s for s in DEMO_SOURCES if force or not source_complete(out, entries.get(s.folder))]
        if not todo:
            n = sum(len(entries[s.folder]["files"]) for s in DEMO_SOURCES)
            say(f"demo corpus in {out} is complete ({n} MIDI files from {len(DEMO_SOURCES)} packages); nothing to do")
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
