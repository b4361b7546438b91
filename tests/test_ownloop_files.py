"""Your own loop from the files musicians actually have (issue 29, issue 28 item 4): a meter marker elsewhere in the
song, a wrong marker overridden, 2/2, programs set on another track, data bytes out of range, a 4-bar loop, a part
lost at low recall, loop-ready MIDI files, an --out folder refused without --force, one bar numbering, and a
60-byte file whose one note lasts 0x0FFFFFFF ticks. Every file is hand-built (``midi_builder``)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time

import mido
import numpy as np
import pytest
from midi_builder import bar, build, drum, loop_song, note, program, tempo, time_signature, track, write
from test_ownloop import BPM, expected_roll, groove, run_error

from loopkit import cli
from loopkit.ownloop import interpolation as I
from loopkit.ownloop import reader as F
from loopkit.ownloop import encode as O
from loopkit.commands import encode as encode_command
from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import LOOP_STEPS, bass_column
from loopkit.ownloop.resemblance import resemblance

TPQ = 480


def with_meter_events(*events) -> bytes:
    """The test groove (10 bars of 4/4 music, crash on bars 1 and 9) under a conductor track holding only
    ``events`` (time-signature groups) and the tempo."""
    data = groove(signature=None)
    mid = mido.MidiFile(file=io.BytesIO(data))
    conductor = track(*events, tempo(BPM))
    return build(conductor, *[[(sum(m.time for m in t[:i + 1]), m) for i, m in enumerate(t)
                                if m.type != "end_of_track"] for t in mid.tracks[1:]], tpq=TPQ)  # fmt: skip


def ends_at(path) -> list[int]:
    """Ticks at which each track of a MIDI file ends (its end-of-track event)."""
    return [sum(m.time for m in t) for t in mido.MidiFile(str(path)).tracks]


# ---------------------------------------------------------------------------------------------------------
# 1. the meter judged where the loop is


def test_a_meter_change_after_the_loop_leaves_the_loop_readable(tmp_path):
    # 4/4 for bars 1-9, then 3/4 from bar 10 (tick of 4/4 bar 9): the 4/4 window of bars 1-8 is a candidate
    path = write(tmp_path / "change.mid", with_meter_events(time_signature(4, 4), time_signature(3, 4, at=bar(9))))
    r = F.read_loop(path)
    assert (r.start_bar, r.chosen_by, r.passes_rules) == (0, "first loop", True)
    assert np.array_equal(r.roll, expected_roll())
    assert "3/4 at bar 10" in r.time_signature and "corpus extraction would reject the whole file" in r.time_signature
    assert F.read_loop(path, 0).start_bar == 0  # --start-bar 1 too
    # bars 3-10 reach into the 3/4 bars: one line that says where 8 bars of 4/4 stand
    with pytest.raises(LoopkitError, match=r"bars 3-10 are not all 4/4 .*3/4 at bar 10.*stand in bars 1-9"):
        F.read_loop(path, 2)


def test_a_short_odd_bar_before_4_4_music_numbers_the_bars_after_it(tmp_path):
    # 1/4 at tick 0, 4/4 from tick 480: bar 1 is one beat long, the music's bars are bars 2-11
    data = loop_song(bars=9, signature=None)
    mid = mido.MidiFile(file=io.BytesIO(data))
    shifted = [[(sum(m.time for m in t[:i + 1]) + TPQ, m) for i, m in enumerate(t) if m.type != "end_of_track"]
               for t in mid.tracks[1:]]  # fmt: skip
    conductor = track(time_signature(1, 4), time_signature(4, 4, at=TPQ), tempo(120))
    r = F.read_loop(write(tmp_path / "odd.mid", build(conductor, *shifted, tpq=TPQ)))
    assert r.start_bar == 1 and r.bars_label == "bars 2-9" and r.passes_rules
    assert "1/4 at bar 1, 4/4 at bar 2" in r.time_signature


def test_a_wrong_1_4_marker_is_overridden_by_meter_4_4(tmp_path, runs, capsys):
    path = write(tmp_path / "quarter.mid", groove(signature=(1, 4)))
    with pytest.raises(LoopkitError, match=r"no 8 bars of 4/4 in a row.*1/4 at bar 1.*can be read as 4/4"):
        F.read_loop(path)
    r = F.read_loop(path, meter="4/4")
    assert np.array_equal(r.roll, expected_roll())
    assert r.time_signature == "4/4 as asked (--meter 4/4; the file's time signatures, not used: 1/4 at tick 0)"
    out = tmp_path / "enc"
    assert cli.main(["encode", str(path), "--meter", "4/4", "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--out",
                     str(out)]) == 0  # fmt: skip
    assert "time signature 4/4 as asked (--meter 4/4;" in capsys.readouterr().out
    assert O.read_codes(out / "codes.json")["meter"] == {"override": True, "file": "1/4 at tick 0"}


def test_2_2_is_read_as_four_beats_and_said_so(tmp_path):
    r = F.read_loop(write(tmp_path / "cut.mid", groove(signature=(2, 2))))
    assert np.array_equal(r.roll, expected_roll())
    # extraction keeps the paper's rule (4/4 only) and would reject it: the report says which reading it applied
    assert r.time_signature == ("2/2 (a bar of four quarter notes: read as 4/4); the file's time signatures: 2/2 at "
                                "bar 1: only the loop's bars must be 4/4 here (corpus extraction would reject the "
                                "whole file)")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# 2. as a player reads it


def data_track_song() -> bytes:
    """``groove()`` whose bass track lost its program change, set instead by a "DATA" track for its channel."""
    mid = mido.MidiFile(file=io.BytesIO(groove()))
    for t in mid.tracks:  # the bass track loses its program change; a DATA track sets it for channel 2
        for m in [m for m in t if m.type == "program_change" and m.channel == 1]:
            t.remove(m)
    mid.tracks.insert(1, mido.MidiTrack([mido.MetaMessage("track_name", name="DATA"),
                                         mido.Message("program_change", channel=1, program=33, time=0)]))  # fmt: skip
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def test_programs_set_on_another_track_are_read_per_channel(tmp_path):
    r = F.read_loop(write(tmp_path / "data_track.mid", data_track_song()))
    assert np.array_equal(r.roll, expected_roll())
    assert r.fix.programs == (("Bass", 2, 33, "DATA"),)
    text = "\n".join(r.summary())
    assert 'track "Bass" channel 2: GM program 34, Electric Bass (finger), set on track "DATA"' in text


def test_a_velocity_of_156_is_clamped_and_counted(tmp_path):
    raw = bytearray(groove())
    i = raw.find(bytes([0x91, 40, 100]))
    raw[i + 2] = 156  # one bass note-on's velocity: a data byte out of range, which symusic refuses
    r = F.read_loop(write(tmp_path / "loud.mid", bytes(raw)))
    assert np.array_equal(r.roll, expected_roll()) and r.fix.clamped == 1
    assert "1 data byte(s) above 127 (e.g. a velocity of 156) clamped to 127" in "\n".join(r.summary())


# ---------------------------------------------------------------------------------------------------------
# 3. a 4-bar loop; 6. one bar numbering, loop-ready files, --out


def test_a_4_bar_loop_is_played_twice_by_encode_and_vary(tmp_path, runs, capsys):
    path = write(tmp_path / "four.mid", loop_song(bars=4))
    r = F.read_loop(path)
    assert (r.repeated, r.chosen_by, r.bars_label, r.stem) == (2, "repeated", "bars 1-4 played twice", "four_bars1-4x2")
    assert np.array_equal(r.roll[:64], r.roll[64:]) and r.roll.shape == (LOOP_STEPS, 93) and r.passes_rules
    enc = tmp_path / "enc"
    assert cli.main(["encode", str(path), "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--out", str(enc)]) == 0
    assert "loop: bars 1-4 played twice of 4 (the song is a 4-bar loop" in capsys.readouterr().out
    doc = O.read_codes(enc / "codes.json")
    assert (doc["first_bar"], doc["last_bar"], doc["repeated"]) == (1, 4, 2)
    assert cli.main(["vary", str(enc / "codes.json"), "--bars", "5-8", "-n", "1", "--checkpoint",
                     str(runs / "prior" / "best.pt"), "--out", str(tmp_path / "v")]) == 0  # fmt: skip
    assert (tmp_path / "v" / "four_bars1-4x2_redraw5-8_01.mid").is_file()


def test_vary_counts_song_bars_as_encode_does(tmp_path, runs, groove_file, capsys):
    prior = str(runs / "prior" / "best.pt")
    err = run_error(capsys, "vary", str(groove_file), "--start-bar", "3", "--bars", "1-4", "--checkpoint", prior,
                    "--out", str(tmp_path / "no"))  # fmt: skip
    assert "--bars: bars must lie in 3-10" in err and "its bars 5-8 are 7-10" in err
    assert cli.main(["vary", str(groove_file), "--start-bar", "3", "--bars", "7-10", "-n", "1", "--checkpoint", prior,
                     "--out", str(tmp_path / "v")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "bars are song bars counted from 1 (the loop: 3-10)" in out and "bars 3-6 keep the input's notes" in out
    rows = list(csv.DictReader((tmp_path / "v" / "variations.csv").open()))
    assert rows[1]["file"] == "groove_bars3-10_redraw7-10_01.mid" and rows[1]["bars_redrawn"] == "7-10"
    # bars 3-6 of the song are bars 1-4 of the loop: kept note for note
    kept = F.read_loop(groove_file, 2).roll[:64]
    from loopkit.data.pianoroll import midi_to_roll

    assert np.array_equal(midi_to_roll(tmp_path / "v" / rows[1]["file"], steps=LOOP_STEPS)[:64], kept)


@pytest.fixture
def groove_file(tmp_path):
    return write(tmp_path / "groove.mid", groove())


def test_written_files_end_exactly_at_the_last_bar_and_out_is_not_overwritten(tmp_path, runs, groove_file, capsys):
    vq = str(runs / "vq_vae" / "best.pt")
    out = tmp_path / "enc"
    assert cli.main(["encode", str(groove_file), "--checkpoint", vq, "--out", str(out), "--no-png"]) == 0
    doc = O.read_codes(out / "codes.json")
    for part in ("input", "decoded"):
        assert set(ends_at(out / doc["files"][part]["mid"])) == {8 * 4 * TPQ}  # 15,360 ticks: 8 bars exactly
    before = (out / "codes.json").read_bytes()
    capsys.readouterr()
    err = run_error(capsys, "encode", str(groove_file), "--start-bar", "2", "--checkpoint", vq, "--out", str(out))
    assert f"--out {out} holds earlier results (codes.json, groove_bars1-8.mid" in err and "--force" in err
    assert (out / "codes.json").read_bytes() == before
    assert cli.main(["encode", str(groove_file), "--start-bar", "2", "--checkpoint", vq, "--out", str(out),
                     "--force"]) == 0  # fmt: skip
    assert O.read_codes(out / "codes.json")["first_bar"] == 2


# ---------------------------------------------------------------------------------------------------------
# 4. a part lost at low recall; 5. interpolation's choice and identical neighbours


def test_a_bass_lost_at_low_recall_warns_whatever_the_overall_figure(tmp_path, runs, groove_file, capsys, monkeypatch):
    roll = expected_roll()
    lossy = roll.copy()
    lossy[:, bass_column(40)] = False
    lossy[0:2, bass_column(40)] = True  # 1 of 32 bass notes kept; every drum hit kept
    res = resemblance(roll, lossy)
    assert not res.near_silence and res.lost_parts() == ["bass"]
    [line] = encode_command.lost_part_warnings(res)
    assert line.startswith("the decoding keeps 1 of 32 bass notes (recall 3%): it loses most of the bass; try another "
                           "--start-bar, --bass-track")  # fmt: skip
    monkeypatch.setattr(O, "encode_roll", lambda vqvae, r: (np.zeros(32, dtype=np.int64), lossy))
    assert cli.main(["encode", str(groove_file), "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--out",
                     str(tmp_path / "enc"), "--no-png"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning: the decoding keeps 1 of 32 bass notes" in err


def test_a_model_is_chosen_only_when_it_reconstructs_both_ends():
    roll = expected_roll()
    no_bass = roll.copy()
    no_bass[:, :84] = False
    good, bassless = resemblance(roll, roll), resemblance(roll, no_bass)
    ranking = [("cnn_vae", (bassless, bassless)), ("vq_vae", (good, bassless))]
    name, why = I.choose_model(ranking)
    assert name == "vq_vae" and why.startswith("no model reconstructs both A and B")
    assert I.choose_model([("cnn_vae", (bassless, good)), ("ar_lstm_vae", (good, good))])[0] == "ar_lstm_vae"
    rolls = np.stack([roll, roll, no_bass, no_bass, roll])
    assert I.identical_neighbours(rolls) == [1, 3]


def test_interpolate_reads_with_the_reading_flags(tmp_path, runs, capsys):
    a = write(tmp_path / "a.mid", groove(signature=(1, 4)))
    b = write(tmp_path / "b.mid", groove(signature=(1, 4)))
    out = tmp_path / "i"
    assert cli.main(["interpolate", str(a), str(b), "--meter", "4/4", "--start-bar", "2", "--checkpoint",
                     str(runs / "prior" / "best.pt"), "--steps", "3", "--out", str(out), "--no-png"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "a_bars2-9 -> b_bars2-9" in captured.out and "a.mid: time signature 4/4 as asked" in captured.out
    assert "warning: all 3 loops are identical" in captured.err
    rows = list(csv.DictReader((out / "interpolation.csv").open()))
    assert [r["same_as_previous"] for r in rows] == ["0", "1", "1"]  # A and B are the same loop


# ---------------------------------------------------------------------------------------------------------
# issue 28 item 4: a 60-byte file whose one note lasts 0x0FFFFFFF ticks


def long_note_file(tpq: int, with_drums: bool) -> bytes:
    events = [program(33, channel=1), note(40, 0, 0x0FFFFFFF, channel=1)]
    return build(track(*events, *([drum(36, 0)] if with_drums else [])), tpq=tpq)


@pytest.mark.parametrize("tpq", [1, 192])
def test_a_60_byte_file_with_a_note_of_0x0fffffff_ticks_is_one_line_in_bounded_time_and_memory(tmp_path, tpq):
    data = long_note_file(tpq, with_drums=True)
    assert len(data) <= 64
    path = write(tmp_path / "long.mid", data)
    measured = tmp_path / "measured.txt"  # the figures go to a file of their own: stdout is the command's
    code = ("import resource, sys, time; from loopkit import cli; t = time.perf_counter(); "
            "rc = cli.main(sys.argv[2:]); open(sys.argv[1], 'w').write("
            "f'{rc} {time.perf_counter() - t} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}')")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, str(measured), "encode", str(path), "--checkpoint",
                           str(tmp_path / "no.pt"), "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert measured.exists(), (done.returncode, done.stdout, done.stderr)
    rc, seconds, kib = measured.read_text().split()
    assert rc == "2" and done.stderr.count("\n") == 1, (done.stdout, done.stderr)
    assert "the song has 1 bar(s) of bass and drums" in done.stderr
    assert float(seconds) < 20 and int(kib) < 2**20  # under 20 s and 1 GiB


def test_a_note_of_0x0fffffff_ticks_inside_a_groove_is_read_to_the_loop_s_end(tmp_path):
    mid = mido.MidiFile(file=io.BytesIO(groove()))
    bass = [(sum(m.time for m in mid.tracks[1][:i + 1]), m) for i, m in enumerate(mid.tracks[1])
            if m.type != "end_of_track"]  # fmt: skip
    conductor = [(sum(m.time for m in mid.tracks[0][:i + 1]), m) for i, m in enumerate(mid.tracks[0])
                 if m.type != "end_of_track"]  # fmt: skip
    drums = [(sum(m.time for m in mid.tracks[2][:i + 1]), m) for i, m in enumerate(mid.tracks[2])
             if m.type != "end_of_track"]  # fmt: skip
    path = write(tmp_path / "drone.mid", build(conductor, bass + note(28, 0, 0x0FFFFFFF, channel=1), drums, tpq=TPQ))
    started = time.perf_counter()
    r = F.read_loop(path)
    assert time.perf_counter() - started < 20
    assert r.song_bars == 10 and r.roll[:, bass_column(28)].all()  # the drone, lowest, on every step of the loop


def test_a_hit_0x0fffffff_ticks_away_is_an_absurd_length_in_one_line(tmp_path):
    events = [program(33, channel=1), note(40, 0, 10, channel=1), drum(36, 0), drum(36, 0x0FFFFFFF)]
    path = write(tmp_path / "far.mid", build(track(*events), tpq=192))
    started = time.perf_counter()
    with pytest.raises(LoopkitError, match=r"absurd length: a note starts in bar 349526; loopkit reads songs of up to "
                                           r"4096 bars, as extraction does"):  # fmt: skip
        F.read_loop(path)
    assert time.perf_counter() - started < 20


def test_damaged_files_are_one_line_never_a_traceback(tmp_path):
    """Files cut short and with bytes changed at random (a fixed seed): each is read or refused in one line. Before,
    44 of 600 such files ended in mido's EOFError or ValueError (the player's reading of programs and clamped bytes
    goes through mido, which cannot read or write back what symusic refuses or tolerates)."""
    import random

    rng = random.Random(1)
    songs = [loop_song(10, crash_bars=(0, 1)), groove(bars=8), data_track_song()]
    outcomes = {"read": 0, "refused": 0}
    for i in range(120):
        data = bytearray(rng.choice(songs))
        if rng.random() < 0.7:
            data = data[: rng.randrange(14, len(data))]
        for _ in range(rng.randrange(0, 12)):
            j = rng.randrange(14, len(data))
            data[j] = rng.randrange(256)
        path = write(tmp_path / f"damaged{i}.mid", bytes(data))
        try:
            F.read_loop(path, None)
            outcomes["read"] += 1
        except LoopkitError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
    assert outcomes["read"] > 0 and outcomes["refused"] > 0, outcomes


def test_a_file_cut_inside_a_track_is_not_readable_in_one_line(tmp_path):
    data = loop_song(10, crash_bars=(0, 1))
    path = write(tmp_path / "cut.mid", data[:-7])  # inside the last track: symusic refuses, mido hits the end
    with pytest.raises(LoopkitError, match="not a readable MIDI file"):
        F.read_loop(path, None)
