"""Corpus extraction: every file accounted for, the funnel, archives, failures, a hung and a crashing worker,
resume after SIGKILL, and the command line. Small MIDI files are built by the tests (midi_builder, mido)."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from loopkit import cli
from loopkit.data.inputs import iter_inputs
from loopkit.data.dataset import MANIFEST, load_loops
from loopkit.data.extract import CRASH_HOOK_ENV, ExtractionSettings, extract, process_midi
from loopkit.data.midifile import standard_midi_bytes
from loopkit.data.funnel import format_funnel
from loopkit.data.journal import JOURNAL
from loopkit.data.rules import LoopRules
from loopkit.data.pianoroll import LOOP_STEPS, midi_to_roll, roll_to_midi
from midi_builder import bar, build, drum, loop_song, note, program, tempo, time_signature, track, write

DATASET_FILES = ("rolls.npy", "loops.csv", "files.csv", "failures.csv", "settings.json", "funnel.json", MANIFEST)


def no_crash_song(bars=8):
    """Bass and drums, but no crash anywhere: never a loop."""
    return loop_song(bars, crash_bars=())


def waltz(meta_track_first=True):
    """A 3/4 song (bass and drums); the time signature on the first track or on the bass track."""
    ts = time_signature(3, 4)
    bass = [program(33, channel=1)] + [note(40, bar(b), 480, channel=1) for b in range(8)]
    drums = [drum(36, bar(b)) for b in range(8)] + [drum(49, 0)]
    if meta_track_first:
        return build(track(ts, tempo(100)), track(*bass), track(*drums))
    return build(track(tempo(100)), track(ts, *bass), track(*drums))


def drums_only():
    return build(track(tempo(120)), track(*(drum(36, bar(b)) for b in range(8)), drum(49, 0)))


def bass_only():
    return build(
        track(tempo(120)), track(program(33, channel=1), *(note(40, bar(b), 480, channel=1) for b in range(8)))
    )


@pytest.fixture
def corpus(tmp_path):
    """Ten files in nested folders; expected outcome of each, in enumeration order (names sorted)."""
    root = tmp_path / "corpus"
    files = {
        "a/loop10.mid": loop_song(10, crash_bars=(0, 1)),  # loops at bars 0 and 1
        "a/loop8.mid": loop_song(8),  # one loop, bar 0
        "a/sub/waltz.mid": waltz(meta_track_first=False),  # 3/4 on a non-first track
        "b/UPPER.MID": loop_song(8, bass_pitch=45),  # suffix in capitals: one loop
        "b/corrupt.mid": loop_song(8)[:200],  # cut inside a track chunk
        "b/no_bass.mid": drums_only(),
        "b/no_drums.mid": bass_only(),
        "b/no_loops.mid": no_crash_song(),
        "b/no_ts.mid": loop_song(8, signature=None, bass_pitch=38),  # no time signature: 4/4 by default
        "b/readme.txt": b"not music",
    }
    for rel, data in files.items():
        write(root / rel, data)
    return root


EXPECTED_STATUS = [  # (relative source, status, rule, n_loops)
    ("a/loop10.mid", "used", "", 2),
    ("a/loop8.mid", "used", "", 1),
    ("a/sub/waltz.mid", "rejected", "not_4_4", 0),
    ("b/UPPER.MID", "used", "", 1),
    ("b/corrupt.mid", "failed", "", 0),
    ("b/no_bass.mid", "rejected", "no_bass", 0),
    ("b/no_drums.mid", "rejected", "no_drums", 0),
    ("b/no_loops.mid", "rejected", "no_loops", 0),
    ("b/no_ts.mid", "used", "", 1),
    ("b/readme.txt", "skipped", "", 0),
]


def file_rows(files, root):
    """files.csv rows as (source relative to root, status, rule, n_loops)."""
    prefix = str(root) + os.sep
    return [
        (src.replace(prefix, "").replace(os.sep, "/"), status, rule, n)
        for src, status, rule, n in zip(files["source"], files["status"], files["rule"], files["n_loops"])
    ]


def same_bytes(a: Path, b: Path):
    return {name: (a / name).read_bytes() == (b / name).read_bytes() for name in DATASET_FILES}


# ---------------------------------------------------------------------------------------------------------
# one file


def test_process_midi_uses_a_loop_song():
    r = process_midi(loop_song(10, crash_bars=(0, 1)))
    assert (r.status, r.rule, r.start_bars, r.bpms) == ("used", "", (0, 1), (120.0, 120.0))
    assert r.md5 == hashlib.md5(loop_song(10, crash_bars=(0, 1))).hexdigest()
    loops = np.unpackbits(np.frombuffer(r.packed, np.uint8)).reshape(2, 128, 93).astype(bool)
    song = midi_to_roll(loop_song(10, crash_bars=(0, 1)))
    assert np.array_equal(loops[0], song[:128]) and np.array_equal(loops[1], song[16:144])


def test_tempo_of_each_loop_is_the_one_in_effect_at_its_first_bar():
    data = loop_song(10, crash_bars=(0, 1))
    # the same song with a tempo change to 90 on bar 1 (on another track than the first tempo)
    import io

    import mido

    mid = mido.MidiFile(file=io.BytesIO(data))
    extra = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=bar(1))])
    mid.tracks.append(extra)
    buf = io.BytesIO()
    mid.save(file=buf)
    r = process_midi(buf.getvalue())
    assert r.start_bars == (0, 1) and r.bpms == (120.0, 90.0)


@pytest.mark.parametrize(
    "data, rule",
    [
        (waltz(meta_track_first=True), "not_4_4"),
        (waltz(meta_track_first=False), "not_4_4"),  # meta events on a non-first track are read
        (drums_only(), "no_bass"),
        (bass_only(), "no_drums"),
        (no_crash_song(), "no_loops"),
    ],
)
def test_rejection_rules(data, rule):
    r = process_midi(data)
    assert (r.status, r.rule) == ("rejected", rule)
    assert r.reason and r.md5


def test_time_signature_policy():
    no_ts = loop_song(8, signature=None)
    assert process_midi(no_ts).status == "used"
    r = process_midi(no_ts, ExtractionSettings(missing_time_signature="drop"))
    assert (r.status, r.rule) == ("rejected", "no_time_signature")
    # 4/4, then a change to 3/4 at bar 4: not a 4/4 file
    changed = build(
        track(time_signature(4, 4), time_signature(3, 4, at=bar(4))),
        track(program(33, channel=1), note(40, 0, 480, channel=1)),
        track(drum(36, 0), drum(49, 0)),
    )
    r = process_midi(changed)
    assert (r.rule, r.reason) == ("not_4_4", f"time signature 3/4 at tick {bar(4)}")
    # 4/4 repeated on two tracks is still 4/4
    repeated = build(
        track(time_signature(4, 4)), track(time_signature(4, 4), *loop_track_events()), track(*loop_drum_events())
    )
    assert process_midi(repeated).status == "used"


def test_pickup_files_and_irregular_bars():
    # the loop song of 8 bars, everything 1 beat later, with a pickup note: the loop starts on bar 0
    shifted = [program(33, channel=1)] + [note(40, bar(b) + 480, 480, channel=1) for b in range(8)]
    shifted.append(note(45, 0, 240, channel=1))  # the pickup
    drums = [drum(36, bar(b) + 480) for b in range(8)] + [drum(49, 480)]
    data = build(track(time_signature(4, 4, at=480), tempo(90, at=480)), track(*shifted), track(*drums))
    r = process_midi(data)
    assert (r.status, r.start_bars, r.bpms) == ("used", (0,), (90.0,))
    # 4/4 at tick 0 and again at beat 3 of bar 0: the second starts an irregular bar
    irregular = build(
        track(time_signature(4, 4), time_signature(4, 4, at=960)),
        track(*loop_track_events()),
        track(*loop_drum_events()),
    )
    r = process_midi(irregular)
    assert (r.rule, r.reason) == ("not_4_4", "4/4 time signature at tick 960 is off the bar lines (an irregular bar)")


def loop_track_events():
    return [program(33, channel=1)] + [note(40, bar(b), 480, channel=1) for b in range(8)]


def loop_drum_events():
    return [drum(36, bar(b)) for b in range(8)] + [drum(49, 0)]


def test_drum_map_and_bass_programs_are_settings():
    # drums only as china cymbal (52) and kick: the strict map drops 52, so there is no crash: no loop
    data = build(
        track(time_signature(4, 4)),
        track(*loop_track_events()),
        track(*(drum(36, bar(b)) for b in range(8)), drum(52, 0)),
    )
    assert process_midi(data).status == "used"
    assert process_midi(data, ExtractionSettings(drum_map="strict")).rule == "no_loops"
    assert process_midi(data, ExtractionSettings(bass_programs=(38, 39))).rule == "no_bass"


def midi_chunks(data):
    """Offsets of the chunk boundaries of a MIDI file."""
    pos, out = 14, [14]
    while pos < len(data):
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "big")
        out.append(pos)
    return out


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda d: b"", "empty file"),
        (lambda d: b"Hello, this is text\n" * 10, "not a MIDI file"),
        (lambda d: d[:10], "truncated MIDI header"),
        (lambda d: d[: midi_chunks(d)[1]], "truncated: the header announces 3 tracks, the file holds 1"),
        (lambda d: d[: midi_chunks(d)[2] + 20], "Invalid chunk length"),  # cut inside the third chunk
        (lambda d: d[:12] + bytes([0xE7, 0x28]) + d[14:], "SMPTE"),
        (lambda d: d[:12] + b"\x00\x00" + d[14:], "0 ticks per quarter"),
        (lambda d: b"RIFF\x10\x00\x00\x00WAVEfmt " + d, "not a RIFF MIDI file"),
    ],
)
def test_corrupt_files_fail_with_a_reason(make, reason):
    r = process_midi(make(loop_song(8)))
    assert r.status == "failed"
    assert reason in r.reason
    assert "\n" not in r.reason


def test_rmid_files_are_unwrapped():
    smf = loop_song(8)
    data_chunk = b"data" + len(smf).to_bytes(4, "little") + smf + (b"\0" if len(smf) % 2 else b"")
    riff = b"RIFF" + (4 + len(data_chunk)).to_bytes(4, "little") + b"RMID" + data_chunk
    assert standard_midi_bytes(riff) == smf
    assert process_midi(riff).start_bars == (0,)


def test_absurd_tick_counts_fail():
    # a kick 2**27 ticks in (70,000 bars at 480 ticks per quarter)
    data = build(track(*loop_track_events()), track(*loop_drum_events(), drum(36, 2**27)))
    r = process_midi(data)
    assert r.status == "failed" and r.reason.startswith("absurd length")
    assert process_midi(loop_song(10), ExtractionSettings(max_bars=9)).reason.startswith("absurd length")


def test_settings_round_trip_and_validation():
    s = ExtractionSettings(rules=LoopRules(stride_bars=2, compared_bars=(1, 5)), drum_map="strict", max_bars=100)
    assert ExtractionSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    for bad, match in [
        (dict(drum_map="x"), "unknown drum map"),
        (dict(missing_time_signature="x"), "missing_time_signature"),
        (dict(split_fractions=(0.5, 0.5, 0.5)), "split fractions"),
        (dict(rules=LoopRules(bars=4, compared_bars=(0, 2))), "8-bar loops"),
        (dict(time_limit_s=0), "time_limit_s"),
    ]:
        with pytest.raises(ValueError, match=match):
            ExtractionSettings(**bad)


# ---------------------------------------------------------------------------------------------------------
# a corpus


def test_extract_accounts_for_every_file(corpus, tmp_path):
    ds = extract([corpus], tmp_path / "out", workers=2, progress=False)
    assert file_rows(ds.files, corpus) == EXPECTED_STATUS
    assert ds.funnel == {
        "files_seen": 10,
        "skipped": 1,
        "midi_files": 9,
        "failed": 1,
        "parsed": 8,
        "four_four": 7,
        "bass_and_drums": 5,
        "with_loops": 4,
        "loops": 5,
        "recovered": 0,
        "rejected": {"not_4_4": 1, "no_time_signature": 0, "no_bass": 1, "no_drums": 1, "no_loops": 1},
        "split_loops": ds.funnel["split_loops"],
    }
    assert sum(ds.funnel["split_loops"].values()) == 5
    # load_loops on the result
    assert ds.rolls.shape == (5, 128, 93) and np.asarray(ds.rolls).dtype == bool
    assert ds.meta["start_bar"].tolist() == [0, 1, 0, 0, 0]
    assert [Path(s).name for s in ds.meta["source"]] == [
        "loop10.mid",
        "loop10.mid",
        "loop8.mid",
        "UPPER.MID",
        "no_ts.mid",
    ]
    assert set(ds.meta.columns) >= {"source", "start_bar", "split", "md5", "bpm"}
    assert ds.failures["source"].tolist() == [str(corpus / "b" / "corrupt.mid")]
    assert "Invalid chunk length" in ds.failures["reason"][0] or "truncated" in ds.failures["reason"][0]
    # every split non-empty (four files with loops); a file's loops share its split
    assert set(ds.meta["split"]) == {"train", "valid", "test"}
    assert ds.meta.groupby("source")["split"].nunique().max() == 1
    # the loops are the song rolls' windows
    song = midi_to_roll(loop_song(10, crash_bars=(0, 1)))
    assert np.array_equal(ds.rolls[1], song[16:144])
    assert ds.settings["sources"] == [str(corpus)] and ds.settings["settings"]["drum_map"] == "full"
    assert not (tmp_path / "out" / JOURNAL).exists()
    assert "loops" in format_funnel(ds.funnel) and "150,750" in format_funnel(ds.funnel)


def test_every_loop_survives_the_midi_round_trip(corpus, tmp_path):
    ds = extract([corpus], tmp_path / "out", workers=0, progress=False)
    for i in range(len(ds)):
        loop = ds.rolls[i]
        assert np.array_equal(midi_to_roll(roll_to_midi(loop, bpm=ds.meta["bpm"][i]), steps=LOOP_STEPS), loop)


def test_workers_do_not_change_the_bytes(corpus, tmp_path):
    extract([corpus], tmp_path / "w0", workers=0, progress=False)
    extract([corpus], tmp_path / "w3", workers=3, progress=False)
    assert all(same_bytes(tmp_path / "w0", tmp_path / "w3").values())


def test_archives_are_read_in_place(corpus, tmp_path):
    tgz = tmp_path / "corpus.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(corpus, arcname="lmd")  # nested folders, as LMD-full
        info = tarfile.TarInfo("lmd/inner.zip")
        info.size = 4
        tar.addfile(info, fileobj=__import__("io").BytesIO(b"PK\x03\x04"))
    zpath = tmp_path / "corpus.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(corpus.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(corpus).as_posix())
    folder = extract([corpus], tmp_path / "f", workers=0, progress=False)
    for archive, prefix in ((tgz, "lmd/"), (zpath, "")):
        ds = extract([archive], tmp_path / archive.name.replace(".", "_"), workers=2, progress=False)
        # both archives list members in the folder's sorted order, so the loops come out in the same order
        assert ds.meta["md5"].tolist() == folder.meta["md5"].tolist()
        assert ds.meta["start_bar"].tolist() == folder.meta["start_bar"].tolist()
        assert np.array_equal(np.asarray(ds.rolls), np.asarray(folder.rolls))
        assert f"{archive}!{prefix}a/loop8.mid" in set(ds.meta["source"])
        statuses = dict(zip(ds.files["source"], ds.files["status"]))
        assert statuses[f"{archive}!{prefix}b/readme.txt"] == "skipped"
        assert statuses[f"{archive}!{prefix}b/corrupt.mid"] == "failed"
    tar_files = load_loops(tmp_path / "corpus_tar_gz").files
    nested = tar_files[tar_files["source"] == f"{tgz}!lmd/inner.zip"]
    assert nested["status"].tolist() == ["skipped"] and "archive inside an archive" in nested["reason"].iloc[0]


def test_a_truncated_archive_is_reported_and_the_rest_kept(corpus, tmp_path):
    tgz = tmp_path / "cut.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(corpus, arcname="c")
    data = tgz.read_bytes()
    tgz.write_bytes(data[: len(data) * 2 // 3])
    ds = extract([tgz, corpus / "a" / "loop8.mid"], tmp_path / "out", workers=0, progress=False)
    last = ds.files.iloc[-2]
    assert last["source"] == str(tgz) and last["status"] == "failed"
    assert "archive is corrupt or ends early" in last["reason"]
    assert ds.files.iloc[-1]["source"] == str(corpus / "a" / "loop8.mid")
    assert ds.files.iloc[-1]["status"] == "used"


def test_enumeration_order_and_skips(tmp_path):
    root = tmp_path / "r"
    for rel in ["b.mid", "a/z.midi", "a/y.KAR", "c.rmi", "B.txt", "a.mid"]:
        write(root / rel, b"x")
    (root / "link").symlink_to(root / "a")
    items = list(iter_inputs([root]))
    names = [os.path.relpath(i.source, root) for i in items]
    assert names == ["B.txt", "a/y.KAR", "a/z.midi", "a.mid", "b.mid", "c.rmi", "link"]
    assert [i.skip for i in items] == [
        "not a MIDI file name (.mid .midi .kar .rmi)",
        None,
        None,
        None,
        None,
        None,
        "symbolic link to a folder (not followed)",
    ]


# ---------------------------------------------------------------------------------------------------------
# a hung and a crashing worker


def test_a_hung_reader_is_killed_and_the_run_goes_on(corpus, tmp_path):
    # a named pipe without a writer: opening it blocks forever in the worker, like a stalled parser
    os.mkfifo(corpus / "a" / "hang.mid")
    settings = ExtractionSettings(time_limit_s=1.0)
    t0 = time.monotonic()
    ds = extract([corpus], tmp_path / "out", settings=settings, workers=2, progress=False)
    assert time.monotonic() - t0 < 30
    row = ds.files[ds.files["source"] == str(corpus / "a" / "hang.mid")].iloc[0]
    assert row["status"] == "failed" and row["reason"].startswith(
        "timed out: took longer than the per-file time limit of 1 s"
    )
    rest = ds.files[ds.files["source"] != str(corpus / "a" / "hang.mid")]
    assert file_rows(rest, corpus) == EXPECTED_STATUS


def test_a_crashing_parser_is_replaced_and_the_run_goes_on(corpus, tmp_path, monkeypatch):
    # test hook (no real file is known to crash symusic): the worker kills itself with SIGSEGV on this MD5
    monkeypatch.setenv(CRASH_HOOK_ENV, hashlib.md5((corpus / "a" / "loop8.mid").read_bytes()).hexdigest())
    report = {}
    ds = extract([corpus], tmp_path / "out", workers=2, progress=False, report=report)
    row = ds.files[ds.files["source"] == str(corpus / "a" / "loop8.mid")].iloc[0]
    assert row["status"] == "failed" and "worker process died" in row["reason"] and "SIGSEGV" in row["reason"]
    assert report["worker_restarts"] == 1
    statuses = [s for s in ds.files["status"]]
    assert statuses.count("used") == 3 and ds.funnel["loops"] == 4


# ---------------------------------------------------------------------------------------------------------
# resume


def big_corpus(root: Path, copies: int = 40) -> Path:
    songs = [loop_song(8 + i % 5, bass_pitch=30 + i, bpm=100 + i, crash_bars=(0, 1)) for i in range(25)]
    for k in range(copies):
        for i, data in enumerate(songs):
            write(root / f"{k:03d}" / f"s{i:02d}.mid", data)
    write(root / "000" / "zz_corrupt.mid", songs[0][:300])
    return root


def run_cli(src, out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "loopkit", "extract", str(src), "--out", str(out), "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_resume_after_sigkill_gives_the_same_bytes(tmp_path):
    src = big_corpus(tmp_path / "corpus")
    ref = tmp_path / "ref"
    p = run_cli(src, ref, "--workers", "2")
    assert p.wait(120) == 0, p.stderr.read()

    out = tmp_path / "out"
    journal = out / JOURNAL
    header = 0
    kills = []
    # kill (SIGKILL) once the journal holds its header (size unknown yet: 1 byte), then a few records, then
    # about a third of the run (one file is about 3.2 kB: two loops of 1,488 bytes and metadata)
    for extra in (1, 10_000, 1_200_000):
        p = run_cli(src, out, "--workers", "1")
        t0 = time.monotonic()
        while p.poll() is None and time.monotonic() - t0 < 60:
            if journal.exists() and journal.stat().st_size >= header + extra:
                break
            time.sleep(0.002)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if journal.exists():
            header = header or journal.stat().st_size
            kills.append(journal.stat().st_size)
    assert not (out / MANIFEST).exists() and journal.exists()
    assert len(kills) >= 2 and kills[-1] > kills[0]  # killed at different points while files were processed

    # a torn last record, as a kill in the middle of a write leaves it
    torn = tmp_path / "torn"
    shutil.copytree(out, torn)
    size = (torn / JOURNAL).stat().st_size
    with open(torn / JOURNAL, "r+b") as fh:
        fh.truncate(size - 7)
    assert run_cli(src, torn, "--workers", "2").wait(120) == 0
    assert same_bytes(ref, torn) == {name: True for name in DATASET_FILES}

    p = run_cli(src, out, "--workers", "2")
    stdout = p.communicate(timeout=120)[0]
    assert p.returncode == 0 and "from the interrupted run" in stdout
    assert same_bytes(ref, out) == {name: True for name in DATASET_FILES}
    assert not journal.exists()


def test_rerun_settings_checks(corpus, tmp_path):
    out = tmp_path / "out"
    extract([corpus], out, workers=0, progress=False)
    before = (out / "rolls.npy").stat().st_mtime_ns
    report = {}
    extract([corpus], out, workers=0, progress=False, report=report)  # complete: nothing to do
    assert report["state"] == "complete" and (out / "rolls.npy").stat().st_mtime_ns == before
    other = ExtractionSettings(rules=LoopRules(stride_bars=2))
    with pytest.raises(ValueError, match=r"other settings or sources \(settings.rules.stride_bars: 1 -> 2\)"):
        extract([corpus], out, settings=other, workers=0, progress=False)
    ds = extract([corpus], out, settings=other, workers=0, progress=False, overwrite=True)
    assert ds.settings["settings"]["rules"]["stride_bars"] == 2
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        extract([corpus], tmp_path / "busy", workers=0, progress=False)


def test_unfinished_run_with_other_settings_is_refused(corpus, tmp_path):
    out = tmp_path / "out"
    from loopkit.data.extract import settings_document
    from loopkit.data.journal import JOURNAL_FORMAT, Journal

    out.mkdir()
    doc = settings_document(ExtractionSettings(drum_map="strict"), [str(corpus)])
    Journal.create(out / JOURNAL, {"format": JOURNAL_FORMAT, **doc}).close()
    with pytest.raises(ValueError, match="unfinished extraction with other settings"):
        extract([corpus], out, workers=0, progress=False)


# ---------------------------------------------------------------------------------------------------------
# command line


def test_cli_extract_prints_the_funnel(corpus, tmp_path, capsys):
    assert (
        cli.main(
            ["extract", str(corpus), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet", "--stride-bars", "1"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "files seen" in out and "4/4" in out and "with bass and drums" in out
    assert "1 failed (see failures.csv)" in out
    assert json.loads((tmp_path / "o" / "funnel.json").read_text())["loops"] == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere"], "no such file or folder: nowhere"),
        (["{corpus}/b/readme.txt"], "is neither a MIDI file"),
        (["{corpus}", "{corpus}/a"], "lies inside"),
        (["{corpus}", "--drum-map", "strict", "--split", "0.5", "0.5", "0.5"], "split fractions"),
        (["{corpus}", "--out", "{corpus}/loops"], "lies inside the source folder"),
    ],
)
def test_cli_errors_are_one_line(corpus, tmp_path, capsys, args, message):
    argv = ["extract", "--out", str(tmp_path / "o"), *[a.format(corpus=corpus) for a in args], "--quiet"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("loopkit extract: error:") and message in err and "\n" not in err


def test_a_worker_that_cannot_start_is_a_clear_error(corpus, tmp_path, monkeypatch, capsys):
    import loopkit.data.workers as workers

    monkeypatch.setattr(workers, "_WORKER_CODE", "import sys; sys.exit(3)")
    assert cli.main(["extract", str(corpus), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        "loopkit extract: error: a worker process failed to start (exit status 3); its error is printed above; "
        "--workers 0 works without worker processes"
    )
