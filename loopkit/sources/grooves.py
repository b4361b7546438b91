"""The groove corpus: human-written accompaniment grooves of Debian's ``mma`` (Musical MIDI Accompaniment, GPL-2+)
rendered over generated chord charts into bass+drum songs, the larger half of the demo corpus that stands in for
LMD-full (the paper's Data Preprocess section).

What it is, plainly: not pop songs like LMD's, but the style library of an auto-accompaniment program (1,993
grooves in 277 style files written by mma's authors and contributors: rock, pop, funk, latin, jazz, country,
keyboard-style conversions in ``casio``, ``yamaha``, ``zoom``, ...), each groove a bass pattern and a drum
pattern (plus chord instruments that loopkit ignores) that mma plays over any chord chart. The songs are made
by this module, deterministically from a seed:

* every main groove of the library (not its intros, endings, fills or breaks) leads ``songs_per_groove`` songs;
* a song has a key (12 tonics), a tempo (``tempo_range``), a form of four 8-bar sections (``FORMS``), each
  letter a groove of the same style file (the leading groove for "A", another of the file's main grooves for
  "B" and "C") over a chord progression (``PROGRESSIONS``: 4-bar ones played twice, whose bar 5 repeats bar 1,
  and 8-bar ones that do not), with chord qualities varied (7ths), an intro of the style's intro groove and an
  ending of its ending groove where it has them (``intro_share``, ``ending_share``);
* a drummer's section mark: a crash cymbal and a kick on the first beat of each 8-bar section (an arrangement
  choice, written into the MIDI by this module as its own drum track "Section marks"). mma's grooves carry no
  crash on the first step, so without it the paper's rules would find no loop at all.

mma renders all the songs of one style file in one run (a medley: a new ``Groove`` restarts the pattern, each
song sets its own tempo and random seed), and the medley is cut at the songs' bar lines into one MIDI file per
song (notes clipped at the song's end; tempo and time signature carried to its start).

The folder written::

    <lib>/<style>/<groove>-<n>.mid   one song (lower-case names)
    songs.csv                         per song: file, family (lib/style), groove, key, bpm, form, chart, seed
    copyright                         mma's licence text (Debian's copyright file: GPL-2+)
    manifest.json                     mma's version and .deb digest, the settings, every file's SHA-256

mma comes from Debian's package ``mma``, fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``
(nothing installed; ``debs`` names a folder with the .deb downloaded by hand), and runs with the Python running
loopkit (it needs only the standard library). Files of one style file are one family: ``FAMILY_PATTERN`` is the
regular expression extraction uses to keep a family in one split (``loopkit.data.extract.ExtractionSettings``).
A run is atomic (built in ``.partial-*``, moved into place whole); a second run that finds every file with its
recorded SHA-256 does nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from loopkit.atomic import file_hash, write_json
from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import BEATS_PER_BAR
from loopkit.version import __version__
from loopkit.sources import games
from loopkit.sources.debian import (
    PARTIAL_PREFIX,
    DebianSourceError,
    corpus_folder,
    deb_fields,
    download_debs,
    extract_deb,
    find_debs,
)

PACKAGE = "mma"
MANIFEST = "manifest.json"
SONGS = "songs.csv"
LICENCE_FILE = "copyright"
#: Extraction's family pattern for this corpus: a song's family is its library and style file ("stdlib/rock").
FAMILY_PATTERN = r"(?:^|/)grooves/([^/]+/[^/]+)/[^/]+$"
#: Groove names that are not a song's main pattern (mma's naming of its intros, endings, fills and breaks).
_ROLES = (("intro", re.compile(r"intro", re.I)), ("end", re.compile(r"end(ing)?[a-z]?\d*(sus|plus)?$", re.I)),
          ("fill", re.compile(r"fill|break", re.I)))  # fmt: skip
#: Seconds one mma run (one style file's medley) may take.
RENDER_TIMEOUT_S = 300
SECTION_BARS = 8
#: The song forms: one letter per 8-bar section.
FORMS = ("AABA", "ABAB", "AABB", "ABAC", "AAAB")
#: Chord progressions, one entry per bar (two chords in one bar share it); minor ones start with "i".
#: The 4-bar ones are played twice in a section (bar 5 repeats bar 1: loop material); the 8-bar ones once.
PROGRESSIONS = (
    "I V vi IV", "I vi IV V", "vi IV I V", "I IV V IV", "I IV I V", "ii V I I", "I bVII IV I", "I I IV IV",
    "I IV vi V", "I iii IV V", "IV I V vi", "I I,V IV I,V", "i bVI bIII bVII", "i iv v i", "i bVII bVI bVII",
    "i i iv iv", "i bVI bVII i", "i iv bVII bIII",
    "I IV V I vi ii V I", "I vi ii V iii vi ii V", "i iv bVII bIII bVI ii V i", "I I IV IV V IV I V",
)  # fmt: skip
_DEGREES = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: The section mark: GM drum notes struck together on the first beat of each 8-bar section.
SECTION_MARK = (("crash", 49), ("kick", 36))
MARK_VELOCITY = 100


@dataclass(frozen=True)
class GrooveSettings:
    """What decides the songs written (recorded in the manifest; a different setting rebuilds the corpus).

    Attributes
    ----------
    songs_per_groove : songs led by each main groove of the library
    seed : the seed every song's choices derive from (with the groove's name and the song's number)
    tempo_range : lowest and highest tempo in bpm, drawn uniformly in whole bpm
    intro_share, ending_share : share of songs that start with the style's intro / end with its ending groove
    seventh_share : share of chords given a 7th (the bass of some grooves plays it)
    libraries : mma's style libraries used (all of them by default)
    """

    songs_per_groove: int = 3
    seed: int = 0
    tempo_range: tuple[int, int] = (80, 140)
    intro_share: float = 0.5
    ending_share: float = 0.5
    seventh_share: float = 0.25
    libraries: tuple[str, ...] = ("alexis", "casio", "kara", "pflib", "stdlib", "yamaha", "zoom")

    def __post_init__(self):
        object.__setattr__(self, "tempo_range", tuple(int(t) for t in self.tempo_range))
        object.__setattr__(self, "libraries", tuple(self.libraries))
        if self.songs_per_groove < 1:
            raise LoopkitError(f"songs_per_groove must be at least 1, got {self.songs_per_groove}")
        low, high = self.tempo_range
        if not 20 <= low <= high <= 300:
            raise LoopkitError(f"tempo_range must be two tempi in 20..300 bpm, low first, got {self.tempo_range}")
        for name in ("intro_share", "ending_share", "seventh_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise LoopkitError(f"{name} must lie in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class Groove:
    """One ``DefGroove`` of mma's library: its library, style file (without ``.mma``), name and role."""

    lib: str
    style: str
    name: str
    role: str  # "main", "intro", "end" or "fill"

    @property
    def family(self) -> str:
        """The split family of songs led by this groove: its library and style file."""
        return f"{self.lib}/{self.style}"



@dataclass(frozen=True)
class Section:
    """Some bars of a song: a groove, one chord string per bar, and whether it starts with a section mark."""

    label: str  # "intro", "A".."C" or "end"
    groove: Groove
    chords: tuple[str, ...]
    marked: bool


@dataclass(frozen=True)
class Song:
    """One song of the corpus: everything mma needs to render it, and the name it is written under."""

    file: str  # <lib>/<style>/<groove>-<n>.mid
    groove: Groove  # the leading groove
    key: str
    bpm: int
    form: str
    seed: int
    sections: tuple[Section, ...] = field(default=())

    @property
    def bars(self) -> int:
        return sum(len(s.chords) for s in self.sections)

    @property
    def marked_bars(self) -> list[int]:
        """0-based bars that start a marked section."""
        out, bar = [], 0
        for s in self.sections:
            if s.marked:
                out.append(bar)
            bar += len(s.chords)
        return out

    def chart(self) -> str:
        """The song's chord chart as the lines of an mma file (its tempo, seed, grooves and one line per bar), to
        follow a ``Use`` of its style file (``medley_chart``)."""
        lines = [f"Tempo {self.bpm}", f"RndSeed {self.seed}"]
        for s in self.sections:
            lines.append(f"Groove {s.groove.name}")
            lines.extend(s.chords)
        return "\n".join(lines) + "\n"

    def chart_summary(self) -> str:
        """The chart in one line: ``label groove: chords | ...`` per section (songs.csv)."""
        return " || ".join(f"{s.label} {s.groove.name}: {' | '.join(s.chords)}" for s in self.sections)


def medley_chart(songs: list[Song]) -> str:
    """One mma source that plays songs of one style file one after another: the style file is read once (``Use``;
    the names of its grooves are then unambiguous, and mma does not parse the file again at every ``Groove``)."""
    families = {s.groove.family for s in songs}
    if len(families) != 1:
        raise LoopkitError(f"a medley plays the songs of one style file, not of {len(families)}")
    return f"Use {families.pop()}\n" + "".join(s.chart() for s in songs)


def read_catalogue(lib_root: str | os.PathLike, libraries: tuple[str, ...] | None = None) -> list[Groove]:
    """Every ``DefGroove`` of mma's style library under ``lib_root``, in sorted file order, with its role."""
    root = Path(lib_root)
    grooves = []
    for path in sorted(root.rglob("*.mma")):
        rel = path.relative_to(root)
        if len(rel.parts) != 2 or (libraries is not None and rel.parts[0] not in libraries):
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = re.match(r"\s*defgroove\s+(\S+)", line, re.I)
            if m and ":" not in m.group(1) and "/" not in m.group(1):
                name = m.group(1)
                role = next((r for r, pattern in _ROLES if pattern.search(name)), "main")
                grooves.append(Groove(rel.parts[0], path.stem, name, role))
    return grooves


def chord_name(numeral: str, tonic: int, seventh: bool) -> str:
    """An mma chord name from a Roman numeral (upper case major, lower case minor, ``b`` flattens) in a key."""
    flat = numeral.startswith("b")
    core = numeral[1:] if flat else numeral
    if core.lower() not in _DEGREES:
        raise LoopkitError(f"unknown Roman numeral {numeral!r}")
    root = _NOTE_NAMES[(tonic + _DEGREES[core.lower()] - flat) % 12]
    minor = core.islower()
    if seventh:
        return root + ("m7" if minor else ("7" if core.upper() == "V" else "M7"))
    return root + ("m" if minor else "")


def _section_chords(progression: str, tonic: int, rng: random.Random, seventh_share: float) -> tuple[str, ...]:
    bars = progression.split()
    sevenths = {numeral: rng.random() < seventh_share for numeral in sorted(set(progression.replace(",", " ").split()))}
    chords = tuple(" ".join(chord_name(n, tonic, sevenths[n]) for n in bar.split(",")) for bar in bars)
    return chords * (SECTION_BARS // len(chords))


def plan_songs(catalogue: list[Groove], settings: GrooveSettings = GrooveSettings()) -> list[Song]:
    """The songs of the corpus, deterministic for the catalogue and the settings (see the module docstring)."""
    by_style: dict[str, list[Groove]] = {}
    for g in catalogue:
        by_style.setdefault(g.family, []).append(g)
    songs, taken = [], set()
    for family, grooves in by_style.items():
        mains = [g for g in grooves if g.role == "main"]
        intros = [g for g in grooves if g.role == "intro"]
        endings = [g for g in grooves if g.role == "end"]
        for lead in mains:
            for n in range(settings.songs_per_groove):
                rng = random.Random(f"{settings.seed}:{lead.family}:{lead.name}:{n}")
                tonic = rng.randrange(12)
                form = rng.choice(FORMS)
                letters: dict[str, tuple[Groove, tuple[str, ...]]] = {}
                minor = False
                for letter in dict.fromkeys(form):
                    groove = lead if letter == "A" else rng.choice(mains)
                    progression = rng.choice(PROGRESSIONS)
                    minor = minor or (letter == "A" and progression.startswith("i"))
                    letters[letter] = (groove, _section_chords(progression, tonic, rng, settings.seventh_share))
                sections = []
                if intros and rng.random() < settings.intro_share:
                    chords = letters["A"][1][:4]
                    sections.append(Section("intro", rng.choice(intros), chords, False))
                sections += [Section(letter, *letters[letter], True) for letter in form]
                if endings and rng.random() < settings.ending_share:
                    home = chord_name("i" if minor else "I", tonic, False)
                    sections.append(Section("end", rng.choice(endings), (home, home), False))
                key = _NOTE_NAMES[tonic]
                bpm = rng.randint(*settings.tempo_range)
                stem = re.sub(r"[^a-z0-9_+.-]+", "_", lead.name.lower())
                file = f"{lead.lib}/{lead.style}/{stem}-{n + 1}.mid"
                while file in taken:  # two groove names that differ only in case or punctuation
                    stem += "_"
                    file = f"{lead.lib}/{lead.style}/{stem}-{n + 1}.mid"
                taken.add(file)
                songs.append(Song(file, lead, key, bpm, form, rng.randrange(1, 2**31), tuple(sections)))
    return songs


# ---------------------------------------------------------------------------------------------------------
# rendering


@dataclass(frozen=True)
class Mma:
    """A runnable mma unpacked from its .deb: the script, its home (``MMA/``, ``lib/``, ``includes/``), version."""

    script: Path
    home: Path
    version: str
    deb_sha256: str

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    def run(self, args: list[str], cwd: Path, timeout: float = RENDER_TIMEOUT_S) -> subprocess.CompletedProcess:
        """mma with ``args``, run by this Python (mma needs only the standard library)."""
        env = dict(os.environ, MMA_HOME=str(self.home))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # let mma's modules be compiled once, in its unpacked folder
        return subprocess.run([sys.executable, str(self.script), *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)  # fmt: skip

    def render(self, chart: str, workdir: Path) -> bytes:
        """The MIDI file mma writes for an mma source text; a failure is a ``LoopkitError`` with mma's message."""
        workdir.mkdir(parents=True, exist_ok=True)
        source, target = workdir / "song.mma", workdir / "song.mid"
        source.write_text(chart)
        target.unlink(missing_ok=True)
        try:
            proc = self.run(["-w", "-m", str(100_000), "-f", str(target), str(source)], workdir)
        except subprocess.TimeoutExpired:
            raise LoopkitError(f"mma took longer than {RENDER_TIMEOUT_S} s") from None
        if proc.returncode != 0 or not target.is_file():
            said = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
            errors = [line for line in said if line.startswith("Error")] or said or [f"exit status {proc.returncode}"]
            raise LoopkitError(f"mma failed: {errors[0]}")
        return target.read_bytes()


def unpack_mma(work: Path, debs: str | os.PathLike | None = None, use_dpkg: bool | None = None) -> Mma:
    """mma from Debian's package ``mma``: the .deb from ``debs`` or ``apt-get download``, unpacked into ``work``,
    with its groove database built (``mma -G``)."""
    work = work.resolve()  # mma runs with its own working folder: every path it is given is absolute
    work.mkdir(parents=True, exist_ok=True)
    if debs is not None:
        found = find_debs(debs, [PACKAGE], use_dpkg)
    else:
        (work / "debs").mkdir(exist_ok=True)
        found = download_debs([PACKAGE], work / "debs")
    deb = found[PACKAGE]
    fields = deb_fields(deb, use_dpkg)
    root = extract_deb(deb, work / "unpacked", use_dpkg)
    script, home = root / "usr" / "bin" / "mma", root / "usr" / "share" / "mma"
    if not script.is_file() or not (home / "lib").is_dir():
        raise DebianSourceError(f"{deb.name} holds no usr/bin/mma with its library: is it Debian's mma package?")
    (home / "plugins").mkdir(exist_ok=True)  # mma warns on every run when its plugin folder is missing
    mma = Mma(script, home, fields["Version"], file_hash(deb))
    proc = mma.run(["-G"], work)
    if proc.returncode != 0:
        raise DebianSourceError(f"mma could not index its groove library: {(proc.stdout + proc.stderr).strip()[-300:]}")
    return mma


def _bar_starts(score, n_bars: int) -> list[int]:
    """Tick of each bar line 0..n_bars of a score, following its time signatures (4/4 where it has none)."""
    tpq = score.ticks_per_quarter
    signatures = sorted((int(ts.time), ts.numerator, ts.denominator) for ts in score.time_signatures)
    ticks, tick, k = [], 0, 0
    num, den = BEATS_PER_BAR, 4
    for _ in range(n_bars + 1):
        while k < len(signatures) and signatures[k][0] <= tick:
            num, den = signatures[k][1], signatures[k][2]
            k += 1
        ticks.append(tick)
        tick += num * tpq * 4 // den
    return ticks


def split_medley(midi: bytes, songs: list[Song]) -> list[bytes]:
    """Cut mma's rendering of several songs played one after another into one MIDI file per song, each with a
    drum track "Section marks" that strikes ``SECTION_MARK`` on the first beat of its marked sections."""
    import symusic

    score = symusic.Score.from_midi(midi)
    bars = _bar_starts(score, sum(s.bars for s in songs))
    out, first = [], 0
    for song in songs:
        start, end = bars[first], bars[first + song.bars]
        part = score.clip(start, end, clip_end=True).shift_time(-start)
        marks = symusic.Track("Section marks", 0, True)
        length = max(1, score.ticks_per_quarter // 4)
        for bar in song.marked_bars:
            for _, pitch in SECTION_MARK:
                marks.notes.append(symusic.Note(bars[first + bar] - start, length, pitch, MARK_VELOCITY))
        part.tracks.append(marks)
        out.append(part.dumps_midi())
        first += song.bars
    return out


def render_songs(mma: Mma, songs: list[Song], workdir: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """The MIDI bytes of each song (by file name), rendered as one medley; where mma refuses the medley, song by
    song, so that one bad groove costs only its songs. Returns (written, failed: file -> mma's message)."""
    try:
        midi = mma.render(medley_chart(songs), workdir)
        return dict(zip((s.file for s in songs), split_medley(midi, songs))), {}
    except LoopkitError:
        if len(songs) == 1:
            raise
    written, failed = {}, {}
    for song in songs:
        try:
            written.update(render_songs(mma, [song], workdir)[0])
        except LoopkitError as exc:
            failed[song.file] = str(exc)
    return written, failed


# ---------------------------------------------------------------------------------------------------------
# the corpus


def _manifest(out: Path) -> dict:
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def corpus_complete(out: str | os.PathLike, settings: GrooveSettings = GrooveSettings()) -> bool:
    """Whether ``out`` holds the groove corpus of ``settings``: every file its manifest lists, with its SHA-256."""
    out = Path(out)
    manifest = _manifest(out)
    files = manifest.get("files")
    if manifest.get("settings") != json.loads(json.dumps(asdict(settings))) or not isinstance(files, dict):
        return False
    return all((out / name).is_file() and file_hash(out / name) == digest for name, digest in files.items())


def _songs_csv(songs: list[Song], written: set[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", "family", "groove", "key", "bpm", "form", "bars", "marked_bars", "seed", "chart"])
    for s in songs:
        if s.file in written:
            marked = " ".join(str(b + 1) for b in s.marked_bars)
            writer.writerow([s.file, s.groove.family, s.groove.name, s.key, s.bpm, s.form, s.bars, marked, s.seed,
                             s.chart_summary()])  # fmt: skip
    return buf.getvalue().encode()


def _remove_old(out: Path) -> None:
    """Remove the files of an earlier groove corpus in ``out`` (those its manifest lists) and their folders."""
    listed = _manifest(out).get("files") or {}
    for name in [*listed, MANIFEST]:
        (out / name).unlink(missing_ok=True)
    for folder in sorted({Path(name).parts[0] for name in listed if len(Path(name).parts) > 1}):
        for sub in sorted((out / folder).glob("**/"), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                sub.rmdir()  # only folders left empty


def fetch_grooves(
    out: str | os.PathLike,
    debs: str | os.PathLike | None = None,
    settings: GrooveSettings = GrooveSettings(),
    *,
    force: bool = False,
    workers: int | None = None,
    use_dpkg: bool | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
) -> Path:
    """Write the groove corpus (see the module docstring) into ``out`` and return ``out``.

    Parameters
    ----------
    out : the corpus folder (created; a complete corpus of the same settings is kept unless ``force``)
    debs : a folder with mma's .deb downloaded by hand; without it ``apt-get download mma``
    settings : what decides the songs
    workers : mma runs at a time (default: one per CPU core)
    use_dpkg : as in ``loopkit.sources.debian.extract_deb``
    progress : a tqdm bar over the style files
    echo : where status lines go (``None`` for silence)

    Raises
    ------
    DebianSourceError
        When mma cannot be had (no apt-get, no mirror, a missing or wrong .deb): the message names the package
        and what to do instead.
    """
    from tqdm import tqdm

    say = echo or (lambda _msg: None)
    with corpus_folder(out) as out:
        if not force and corpus_complete(out, settings):
            n = len(_manifest(out)["files"]) - 2
            say(f"groove corpus in {out} is complete ({n} songs); nothing to do")
            return out
        others = [p.name for p in out.iterdir() if not p.name.startswith(PARTIAL_PREFIX)]
        if others and not _manifest(out).get("files"):
            raise LoopkitError(f"{out} holds other files ({', '.join(sorted(others)[:3])}, ...) and no groove corpus: "
                               "give an empty folder or the folder of an earlier groove corpus")  # fmt: skip
        work = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out)).resolve()  # mma runs in other folders
        try:
            say("getting mma (Debian's package mma) with apt-get download" if debs is None else "unpacking mma")
            mma = unpack_mma(work / "mma", debs, use_dpkg)
            songs = plan_songs(read_catalogue(mma.lib, settings.libraries), settings)
            by_family: dict[str, list[Song]] = {}
            for song in songs:
                by_family.setdefault(song.groove.family, []).append(song)
            stage = work / "stage"
            written: dict[str, str] = {}
            failed: dict[str, str] = {}
            families = sorted(by_family)

            def one(i: int) -> tuple[dict[str, bytes], dict[str, str]]:
                return render_songs(mma, by_family[families[i]], work / "render" / str(i))

            bar = tqdm(total=len(songs), desc="groove songs", unit="song", disable=not progress)
            with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
                for rendered, refused in pool.map(one, range(len(families))):
                    for name, data in rendered.items():
                        path = stage / name
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(data)
                        written[name] = games.sha256_bytes(data)
                    failed.update(refused)
                    bar.update(len(rendered) + len(refused))
            bar.close()
            licence = mma.home.parents[1] / "share" / "doc" / PACKAGE / "copyright"
            if not licence.is_file():
                raise DebianSourceError(f"mma's .deb has no usr/share/doc/{PACKAGE}/copyright: cannot keep its licence")
            shutil.copyfile(licence, stage / LICENCE_FILE)
            (stage / SONGS).write_bytes(_songs_csv(songs, set(written)))
            files = dict(sorted(written.items()))
            files.update({LICENCE_FILE: file_hash(stage / LICENCE_FILE), SONGS: file_hash(stage / SONGS)})
            write_json(stage / MANIFEST, {
                "corpus": "loopkit groove corpus: mma's accompaniment grooves rendered over generated chord charts",
                "written_by": f"loopkit {__version__} (loopkit data grooves)",
                "mma": {"package": PACKAGE, "version": mma.version, "deb_sha256": mma.deb_sha256,
                        "licence": games.licence_name(licence.read_text(errors="replace"))},
                "settings": asdict(settings),
                "family_pattern": FAMILY_PATTERN,
                "songs": len(songs),
                "failed": failed,
                "files": files,
            }, indent=1)  # fmt: skip
            _remove_old(out)
            for item in sorted(stage.iterdir(), key=lambda p: p.name == MANIFEST):  # the manifest last
                os.replace(item, out / item.name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    say(f"groove corpus in {out}: {len(written)} songs from {len(families)} style files of mma {mma.version}"
        + (f"; {len(failed)} songs mma refused (listed in {MANIFEST})" if failed else ""))  # fmt: skip
    return out


def corpus_summary(out: str | os.PathLike) -> dict:
    """The groove corpus in one row (``loopkit.sources.corpus_summary``): songs, style files, grooves, mma."""
    manifest = _manifest(Path(out))
    songs = []
    if (Path(out) / SONGS).is_file():
        with open(Path(out) / SONGS, newline="") as fh:
            songs = list(csv.DictReader(fh))
    styles = {s["family"] for s in songs}
    leads = {(s["family"], s["groove"]) for s in songs}
    mma = manifest.get("mma", {})
    return {"part": "grooves", "what": f"songs rendered by mma from {len(leads):,} grooves of {len(styles)} style files",
            "version": f"mma {mma.get('version', '?')}", "licence": mma.get("licence", "?"),
            "MIDI files": len(songs)}  # fmt: skip
