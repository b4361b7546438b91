"""The groove corpus (loopkit.sources.grooves): chord charts, mma's rendering, the section marks, the family split.

The rendering tests use Debian's real mma package (fetched once with apt-get download and cached, like the game
music) over two of its small style libraries, one song per groove: a few seconds.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from loopkit.cli import main
from loopkit.data.extract import ExtractionSettings, extract
from loopkit.data.pianoroll import BASS_COLUMNS, STEPS_PER_BAR, drum_column, midi_to_roll
from loopkit.sources import debian, family_pattern, grooves
from loopkit.sources.grooves import FAMILY_PATTERN, GrooveSettings, Groove, plan_songs

from conftest import CACHE

SMALL = GrooveSettings(songs_per_groove=1, libraries=("alexis", "pflib"))


def _catalogue() -> list[Groove]:
    return [Groove("stdlib", "rock", "Rock", "main"), Groove("stdlib", "rock", "RockSus", "main"),
            Groove("stdlib", "rock", "RockIntro", "intro"), Groove("stdlib", "rock", "RockEnd", "end"),
            Groove("casio", "funk", "Funk", "main")]  # fmt: skip


def test_chord_names_by_hand():
    assert grooves.chord_name("V", 0, True) == "G7"
    assert grooves.chord_name("bVII", 2, False) == "C"
    assert grooves.chord_name("vi", 7, False) == "Em"
    assert grooves.chord_name("ii", 10, True) == "Cm7"
    assert grooves.chord_name("IV", 11, True) == "EM7"
    with pytest.raises(ValueError, match="Roman numeral"):
        grooves.chord_name("X", 0, False)


def test_the_chart_generator_is_deterministic_for_a_seed():
    songs = plan_songs(_catalogue(), GrooveSettings(songs_per_groove=4))
    assert songs == plan_songs(_catalogue(), GrooveSettings(songs_per_groove=4))
    assert [s.chart() for s in songs] != [s.chart() for s in plan_songs(_catalogue(), GrooveSettings(4, seed=1))]
    assert len(songs) == 12 and len({s.file for s in songs}) == 12  # 3 main grooves x 4 songs, distinct names
    for song in songs:
        body = [s for s in song.sections if s.label not in ("intro", "end")]
        assert "".join(s.label for s in body) == song.form and all(len(s.chords) == 8 for s in body)
        assert body[0].groove == song.groove  # "A" is played by the leading groove
        assert {s.groove.family for s in song.sections} == {song.groove.family}  # one style file per song
        starts = np.cumsum([0] + [len(s.chords) for s in song.sections])[:-1]
        assert song.marked_bars == [int(b) for b, s in zip(starts, song.sections) if s.marked]
        assert all(s.marked == (s.label not in ("intro", "end")) for s in song.sections)
        assert 80 <= song.bpm <= 140 and song.chart().startswith(f"Tempo {song.bpm}\nRndSeed {song.seed}\n")
    # a 4-bar progression is played twice: bar 5 of such a section repeats bar 1 (loop material)
    assert any(s.chords[:4] == s.chords[4:] for song in songs for s in song.sections if s.marked)


def test_the_catalogue_reads_defgroove_lines_and_their_roles(tmp_path):
    (tmp_path / "stdlib").mkdir()
    (tmp_path / "stdlib" / "rock.mma").write_text(
        "// rock\nDefGroove Rock   A basic rock beat.\n  defgroove RockIntro  4 bar intro\nDefGroove RockEndingA x\n"
        "DefGroove RockFill a fill\nDefGroove DescendingRock not an ending\nBegin Drum\nEnd\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.mma").write_text("DefGroove Other x\n")
    found = grooves.read_catalogue(tmp_path, ("stdlib",))
    assert [(g.name, g.role) for g in found] == [("Rock", "main"), ("RockIntro", "intro"), ("RockEndingA", "end"),
                                                 ("RockFill", "fill"), ("DescendingRock", "main")]  # fmt: skip
    assert {g.family for g in found} == {"stdlib/rock"}
    assert len(grooves.read_catalogue(tmp_path)) == 6


def test_family_keys_and_the_demo_corpus_pattern():
    key = "family:stdlib/rock"
    assert grooves.re.search(FAMILY_PATTERN, "data/demo/grooves/stdlib/rock/rock-1.mid").group(1) == "stdlib/rock"
    from loopkit.data.dataset import family_key

    assert family_key("data/demo/grooves/stdlib/rock/rock-1.mid", FAMILY_PATTERN, "abc") == key
    assert family_key("data/demo/freedoom/d_e1m1.mid", FAMILY_PATTERN, "abc") == "abc"  # its own family
    assert family_key("x/grooves/stdlib/rock/rock-1.mid", "", "abc") == "abc"  # no pattern: by file
    assert family_pattern("demo") == family_pattern("grooves") == FAMILY_PATTERN and family_pattern("games") == ""
    with pytest.raises(ValueError, match="family_pattern is not a regular expression"):
        ExtractionSettings(family_pattern="(")


# ------------------------------------------------------------------------------------------------ rendering


@pytest.fixture(scope="session")
def mma_debs() -> Path:
    folder = CACHE / "mma-deb"
    if not list(folder.glob("mma_*.deb")):
        folder.mkdir(parents=True, exist_ok=True)
        debian.download_debs([grooves.PACKAGE], folder)
    return folder


@pytest.fixture(scope="session")
def small_corpus(mma_debs, tmp_path_factory) -> tuple[Path, list[str]]:
    lines: list[str] = []
    root = tmp_path_factory.mktemp("grooves")
    here = os.getcwd()
    os.chdir(root)  # a relative output folder, as `loopkit data grooves --out data/grooves` gives it
    try:
        grooves.fetch_grooves(Path("grooves"), mma_debs, SMALL, progress=False, echo=lines.append)
    finally:
        os.chdir(here)
    return root / "grooves", lines


def _songs(folder: Path) -> list[dict]:
    with open(folder / grooves.SONGS, newline="") as fh:
        return list(csv.DictReader(fh))


def test_fetch_grooves_writes_songs_with_their_charts_licence_and_manifest(small_corpus):
    out, lines = small_corpus
    manifest = json.loads((out / grooves.MANIFEST).read_text())
    rows = _songs(out)
    assert len(rows) >= 40 and manifest["songs"] == len(rows) + len(manifest["failed"])
    assert manifest["mma"]["package"] == "mma" and manifest["mma"]["licence"] == "GPL-2+"
    assert manifest["settings"]["libraries"] == ["alexis", "pflib"] and manifest["family_pattern"] == FAMILY_PATTERN
    assert "GPL" in (out / grooves.LICENCE_FILE).read_text()
    for row in rows:
        path = out / row["file"]
        assert path.is_file() and manifest["files"][row["file"]] == grooves.file_hash(path)
        assert row["family"] == "/".join(Path(row["file"]).parts[:2]) and row["chart"].count("||") >= 3
    assert f"{len(rows)} songs" in lines[-1]


def test_a_rendered_song_has_the_grooves_bass_and_drums_and_the_section_marks(small_corpus):
    out, _ = small_corpus
    with_bass = 0
    for row in _songs(out):
        roll = midi_to_roll(out / row["file"])
        bars = [int(b) - 1 for b in row["marked_bars"].split()]
        assert len(roll) >= int(row["bars"]) * STEPS_PER_BAR - STEPS_PER_BAR  # the whole song, to its last note
        for bar in bars:  # a crash and a kick on the first step of every marked section
            assert roll[bar * STEPS_PER_BAR, drum_column("crash")] and roll[bar * STEPS_PER_BAR, drum_column("kick")]
        with_bass += bool(roll[:, BASS_COLUMNS].any())
    assert with_bass >= 10  # most of these grooves play a bass guitar


def test_a_song_cut_from_the_medley_equals_the_song_rendered_alone(small_corpus, mma_debs, tmp_path):
    mma = grooves.unpack_mma(tmp_path / "mma", mma_debs)
    songs = [s for s in plan_songs(grooves.read_catalogue(mma.lib, ("alexis",)), SMALL)][:3]
    medley = grooves.render_songs(mma, songs, tmp_path / "m")[0]
    for song in songs:
        alone = grooves.render_songs(mma, [song], tmp_path / "a")[0][song.file]
        assert np.array_equal(midi_to_roll(medley[song.file]), midi_to_roll(alone))
    out, _ = small_corpus
    assert np.array_equal(midi_to_roll(out / songs[0].file), midi_to_roll(medley[songs[0].file]))


def test_a_second_run_does_nothing_and_says_so(small_corpus, mma_debs):
    out, _ = small_corpus
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    lines: list[str] = []
    grooves.fetch_grooves(out, mma_debs, SMALL, progress=False, echo=lines.append)
    assert "nothing to do" in lines[-1] and before == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_the_family_split_never_puts_one_style_file_in_two_splits(small_corpus, tmp_path):
    out, _ = small_corpus
    corpus = tmp_path / "demo" / "grooves"
    shutil.copytree(out, corpus)
    loops = extract([tmp_path / "demo"], tmp_path / "loops", ExtractionSettings(family_pattern=FAMILY_PATTERN),
                    progress=False, workers=0)  # fmt: skip
    splits = defaultdict(set)
    for source, split in zip(loops.files["source"], loops.files["split"]):
        if split:
            splits["/".join(Path(source).parts[-3:-1])].add(split)
    assert len(splits) >= 5 and all(len(s) == 1 for s in splits.values())
    assert {next(iter(s)) for s in splits.values()} >= {"train", "valid"}
    assert loops.settings["settings"]["family_pattern"] == FAMILY_PATTERN


def test_without_mma_the_corpus_command_fails_in_one_line_naming_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(debian.DebianSourceError, match=r"apt-get was not found.*packages.debian.org/stable/all/mma/"):
        grooves.fetch_grooves(tmp_path / "c", progress=False, echo=None)
    assert not list((tmp_path / "c").glob(".partial-*"))
    (tmp_path / "nothing").mkdir()
    assert main(["data", "grooves", "--out", str(tmp_path / "d"), "--debs", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("loopkit data: error:") and "no mma_*.deb" in err and "\n" not in err
