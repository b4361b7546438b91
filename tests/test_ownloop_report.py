"""Your own loop, honestly (issue 19): the reconstruction measured against the empty loop by hand, a warning for an
empty window, the densest window instead of an empty intro, the notes the representation changes counted,
variations that keep every note of the bars they keep, bar forms with exact copies, the ends of an interpolation
measured, seamless OGGs, several drum tracks merged, tempo changes reported and the models found from anywhere.
Every input is a hand-built MIDI file (``midi_builder``)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from midi_builder import bar, build, drum, note, program, step, tempo, time_signature, track, write
from test_ownloop import BPM, expected_roll, groove, read_back, run_error

from loopkit import cli
from loopkit.ownloop import interpolation as I
from loopkit.ownloop import reader as F
from loopkit.ownloop import encode as O
from loopkit.ownloop import variations as V
from loopkit.models.checkpoints import load_model
from loopkit.commands import encode as encode_command
from loopkit.data.pianoroll import LOOP_STEPS, N_COLUMNS, bass_column, drum_column, midi_to_roll
from loopkit.ownloop.resemblance import SPARSE_BARS, resemblance
from loopkit.generation.sampling import decode_codes

torch.set_num_threads(1)
TPQ = 480


def song(bars: int, bass_bars, drum_bars, crash_bars=(), tempi=((0, BPM),), bass_length: int = TPQ // 2) -> bytes:
    """Bass E2 on every beat in ``bass_bars`` (notes ``bass_length`` ticks long), kick on every beat and snare on 2
    and 4 in ``drum_bars``, a crash on the first step of ``crash_bars``; tempo events ((bar, bpm), ...)."""
    conductor = track(time_signature(4, 4), *[tempo(bpm, at=bar(b)) for b, bpm in tempi])
    bass, drums = [program(33, channel=1)], []
    for b in range(bars):
        for beat in range(4):
            t = bar(b) + beat * TPQ
            if b in bass_bars:
                bass.append(note(40, t, bass_length, channel=1))
            if b in drum_bars:
                drums.append(drum(36, t))
                if beat in (1, 3):
                    drums.append(drum(38, t))
        if b in crash_bars:
            drums.append(drum(49, bar(b)))
    return build(conductor, track(*bass, name="Bass"), track(*drums, name="Drums"), tpq=TPQ)


# ---------------------------------------------------------------------------------------------------------
# the measure, by hand


def test_resemblance_against_the_empty_loop_by_hand():
    x = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    x[0:4, bass_column(40)] = True  # one bass note held 4 steps
    x[8, bass_column(43)] = True  # a second one
    for s in (0, 4, 8):
        x[s, drum_column("kick")] = True
    y = np.zeros_like(x)
    y[0:4, bass_column(40)] = True  # the held note back
    y[9, bass_column(43)] = True  # the second one a step late: a miss and an extra note
    y[0, drum_column("kick")] = True
    y[4, drum_column("snare")] = True  # an extra hit, the kick at 4 missed
    r = resemblance(x, y)
    # E = 4 + 1 + 3 = 8 active cells; D = {8, 9: bass} + {4 kick, 8 kick, 4 snare} = 5
    assert (r.empty_cells, r.cells) == (8, 5) and r.share_removed == pytest.approx(3 / 8)
    assert (r.parts["bass"].reference, r.parts["bass"].reconstructed, r.parts["bass"].both) == (2, 2, 1)
    assert r.parts["bass"].recall == pytest.approx(0.5) and r.parts["bass"].precision == pytest.approx(0.5)
    assert r.parts["drums"].recall == pytest.approx(1 / 3) and r.parts["drums"].precision == pytest.approx(1 / 2)
    assert not r.near_silence and r.parts["bass"].bars == r.parts["drums"].bars == 1
    assert r.sparse_parts() == ["bass", "drums"]  # each sounds in 1 bar of 8, fewer than 4
    silent = resemblance(x, np.zeros_like(x))
    assert silent.share_removed == 0 and silent.near_silence and silent.parts["bass"].precision is None
    worse = resemblance(x, ~x)
    assert worse.share_removed < 0 and worse.near_silence
    # one cell right of ten: 10% removed, the least that is not near silence; none of eleven is below it
    ten = np.zeros_like(x)
    ten[0:10, bass_column(40)] = True
    one = np.zeros_like(x)
    one[0, bass_column(40)] = True
    assert resemblance(ten, one).share_removed == pytest.approx(0.1) and not resemblance(ten, one).near_silence
    eleven = ten.copy()
    eleven[10, bass_column(40)] = True
    assert resemblance(eleven, one).share_removed == pytest.approx(1 / 11) and resemblance(eleven, one).near_silence
    empty = resemblance(np.zeros_like(x), np.zeros_like(x))
    assert empty.share_removed is None and empty.parts["drums"].recall is None and SPARSE_BARS == 4
    # a drone is not empty: one bass note held over 8 bars, one kick in each of 4 bars
    drone = np.zeros_like(x)
    drone[:, bass_column(40)] = True
    drone[[0, 16, 32, 48], drum_column("kick")] = True
    assert resemblance(drone, drone).sparse_parts() == [] and resemblance(drone, drone).parts["bass"].reference == 1


# ---------------------------------------------------------------------------------------------------------
# reading: the window, the notes the representation changes, tempo changes, tracks merged


def test_no_loop_passes_so_the_densest_window_not_the_intro(tmp_path):
    # 4 bars of drums alone, then 12 bars of bass and drums; no crash anywhere, so no window passes the rules
    path = write(tmp_path / "intro.mid", song(16, bass_bars=range(4, 16), drum_bars=range(16)))
    r = F.read_loop(path)
    assert (r.start_bar, r.chosen_by, r.passes_rules) == (4, "densest", False)
    assert r.window == {"bass_notes": 32, "drum_hits": 48, "bars_with_both": 8}
    assert "bars 5-12 of 16 (no window passes the paper's loop rules, so the densest window" in "\n".join(r.summary())
    # a song whose body is busier later: the window with more notes wins among windows of 8 full bars
    busy = write(tmp_path / "busy.mid", song(12, bass_bars=range(12), drum_bars=range(12)))
    assert F.densest_window(F.read_loop(busy, 0).roll) == 0


def test_repeated_notes_merged_and_notes_off_the_grid_are_counted(tmp_path):
    # bass: E2 quarter notes back to back (each ends where the next starts): the roll holds one 128-step note
    conductor = track(time_signature(4, 4), tempo(BPM))
    bass = track(program(33, channel=1), *[note(40, bar(b) + k * TPQ, TPQ, channel=1) for b in range(8)
                                          for k in range(4)])  # fmt: skip
    # drums: a kick on every beat; 3 triplet hats at 1/3 of a beat (160 ticks = 1.33 steps: moved by 0.33 of a
    # step) and one snare 7 ticks late (0.06 of a step: on the grid as played)
    hits = [drum(36, bar(b) + k * TPQ) for b in range(8) for k in range(4)]
    hits += [drum(42, bar(1) + 160), drum(42, bar(2) + 160), drum(42, bar(3) + 160), drum(38, bar(1) + TPQ + 7)]
    hits.append(drum(49, 0))
    r = F.read_loop(write(tmp_path / "drone.mid", build(conductor, bass, track(*hits), tpq=TPQ)))
    assert r.roll[:, bass_column(40)].all() and r.window["bass_notes"] == 1
    assert r.changed["bass_repeats_merged"] == 31  # 32 note starts, one heard
    assert r.changed["off_grid"] == 3
    text = "\n".join(r.summary())
    assert "31 repeated bass note(s) merged into a held note" in text and "3 note(s) moved onto the 16th grid" in text


def test_a_tempo_change_inside_the_loop_is_reported(tmp_path, runs, capsys):
    path = write(tmp_path / "faster.mid", song(8, range(8), range(8), crash_bars=(0,), tempi=((0, BPM), (4, 130))))
    r = F.read_loop(path)
    assert r.bpm == pytest.approx(BPM) and r.tempo_changes == ((4, 130.0),)
    line = "tempo changes inside the loop: 130 bpm at bar 5 (every file is written at 97 bpm throughout)"
    assert line in r.summary()
    enc = tmp_path / "enc"
    assert cli.main(["encode", str(path), "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--out", str(enc)]) == 0
    assert line in capsys.readouterr().out
    assert O.read_codes(enc / "codes.json")["tempo_changes"] == ((4, 130.0),)
    assert cli.main(["vary", str(enc / "codes.json"), "--form", "AABA AABA", "--checkpoint",
                     str(runs / "vq_vae" / "best.pt"), "--out", str(tmp_path / "v")]) == 0  # fmt: skip
    assert line in capsys.readouterr().out
    assert cli.main(["interpolate", str(enc / "codes.json"), str(path), "--checkpoint",
                     str(runs / "cnn_vae" / "best.pt"), "--steps", "2", "--out", str(tmp_path / "i")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"A: {line}" in out and f"B: {line}" in out


def test_several_drum_tracks_off_channel_10_are_merged(tmp_path, runs, capsys):
    conductor = track(time_signature(4, 4), tempo(BPM))
    bass = track(program(33, channel=1), *[note(40, bar(b) + k * TPQ, TPQ // 2, channel=1) for b in range(8)
                                          for k in range(4)], name="Bass")  # fmt: skip
    kicks = track(*[note(36, bar(b) + k * TPQ, 30, channel=3) for b in range(8) for k in range(4)],
                  note(49, 0, 30, channel=3), name="Kick")  # fmt: skip
    snares = track(*[note(38, bar(b) + k * TPQ, 30, channel=4) for b in range(8) for k in (1, 3)], name="Snare")
    path = write(tmp_path / "split.mid", build(conductor, bass, kicks, snares, tpq=TPQ))
    r = F.read_loop(path, drum_track=[1, "Snare"])
    assert np.array_equal(r.roll, expected_roll())
    assert [t.role for t in r.tracks] == ["bass", "drums", "drums"]
    out = tmp_path / "enc"
    assert cli.main(["encode", str(path), "--drum-track", "1", "--drum-track", "2", "--checkpoint",
                     str(runs / "vq_vae" / "best.pt"), "--out", str(out)]) == 0  # fmt: skip
    assert "drums (2 tracks merged)" in capsys.readouterr().out
    assert np.array_equal(O.read_codes(out / "codes.json")["roll"], expected_roll())


# ---------------------------------------------------------------------------------------------------------
# encode's report and its warnings


def test_an_empty_window_warns_and_says_what_to_try(tmp_path, runs, capsys):
    # bars 1-8: one kick and one bass note; the groove starts at bar 9
    path = write(tmp_path / "late.mid", song(20, bass_bars=[0, *range(8, 20)], drum_bars=[0, *range(8, 20)],
                                             crash_bars=(8,)))  # fmt: skip
    assert cli.main(["encode", str(path), "--start-bar", "1", "--checkpoint", str(runs / "vq_vae" / "best.pt"),
                     "--out", str(tmp_path / "enc")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("loopkit encode: warning: the loop is nearly empty (bars with notes")
    assert "(bars with notes, of 8: bass 1, drums 1; fewer than 4); try another --start-bar" in err
    # without --start-bar the first loop (bar 9) is read: no warning about the window
    assert cli.main(["encode", str(path), "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--out",
                     str(tmp_path / "enc2")]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "loop: bars 9-16 of 20 (the first window" in captured.out and "nearly empty" not in captured.err


def test_a_decoding_no_better_than_silence_is_named(groove_file):
    reading = F.read_loop(groove_file)
    silent = O.EncodedLoop(reading, np.zeros(32, dtype=np.int64), np.zeros_like(reading.roll),
                           resemblance(reading.roll, np.zeros_like(reading.roll)))  # fmt: skip
    assert silent.problem().startswith("the decoded loop is no closer to the input than an empty loop (113 cells "
                                       "differ")  # fmt: skip
    assert "try another --start-bar, or another model" in encode_command.encoding_warning(silent)
    exact = O.EncodedLoop(reading, np.zeros(32, dtype=np.int64), reading.roll, resemblance(reading.roll, reading.roll))
    assert exact.problem() is None and encode_command.encoding_warning(exact) is None


@pytest.fixture
def groove_file(tmp_path):
    return write(tmp_path / "groove.mid", groove())


# ---------------------------------------------------------------------------------------------------------
# vary keeps the notes of the bars it keeps; forms copy notes exactly


def bars_of(roll) -> np.ndarray:
    return np.asarray(roll).reshape(8, 16, N_COLUMNS)


def test_vary_bars_5_8_leaves_the_notes_of_bars_1_4_identical(runs, tmp_path, capsys):
    # a loop whose bars differ (bass pitch rises a semitone a bar), so a changed note cannot hide
    conductor = track(time_signature(4, 4), tempo(BPM))
    bass = track(program(33, channel=1), *[note(40 + b, bar(b) + k * TPQ + step(k % 2), TPQ // 4, channel=1)
                                          for b in range(8) for k in range(4)])  # fmt: skip
    drums = track(*[drum(36 if k % 2 == 0 else 38, bar(b) + k * TPQ) for b in range(8) for k in range(4)],
                  drum(49, 0), drum(42, bar(3) + step(15)))  # fmt: skip
    path = write(tmp_path / "rising.mid", build(conductor, bass, drums, tpq=TPQ))
    read = F.read_loop(path).roll
    out = tmp_path / "v"
    assert cli.main(["vary", str(path), "--bars", "5-8", "-n", "6", "--seed", "2", "--checkpoint",
                     str(runs / "prior" / "best.pt"), "--out", str(out)]) == 0  # fmt: skip
    assert "bars 1-4 keep the input's notes exactly, spliced at the bar line" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "variations.csv").open()))
    _, _, bass_in, drums_in = read_back(path)
    for row in rows[1:]:
        roll = midi_to_roll(out / row["file"], steps=LOOP_STEPS)
        assert np.array_equal(roll[:64], read[:64]), row["file"]
        _, _, bass, drums = read_back(out / row["file"])  # every note of bars 1-4, read back by pretty_midi
        assert [n for n in bass if n[1] < 64] == [n for n in bass_in if n[1] < 64]
        assert [d for d in drums if d[1] < 64] == [d for d in drums_in if d[1] < 64]
        assert row["kept"] == "notes" and row["kept_notes_changed"] == "0"
    # --keep codes: the decoded codes alone; the CSV counts the kept bars' notes that changed, by hand
    assert cli.main(["vary", str(path), "--bars", "5-8", "-n", "6", "--seed", "2", "--keep", "codes", "--checkpoint",
                     str(runs / "prior" / "best.pt"), "--out", str(tmp_path / "c")]) == 0  # fmt: skip
    vq = load_model(runs / "vq_vae" / "best.pt")
    for row in list(csv.DictReader((tmp_path / "c" / "variations.csv").open()))[1:]:
        roll = decode_codes(vq, np.array([row["codes"].split()], dtype=np.int64))[0]
        assert int(row["kept_notes_changed"]) == V.notes_changed(roll, read, range(16), 32)


def test_form_exact_copies_are_note_identical(runs, groove_file, tmp_path, capsys):
    out = tmp_path / "f"
    assert cli.main(["vary", str(groove_file), "--form", "AABA AABA", "--copy", "notes", "--checkpoint",
                     str(runs / "vq_vae" / "best.pt"), "--out", str(out)]) == 0  # fmt: skip
    assert "note-for-note copies" in capsys.readouterr().out
    row = list(csv.DictReader((out / "variations.csv").open()))[1]
    assert row["copies"] == "notes"
    b = bars_of(midi_to_roll(out / row["file"], steps=LOOP_STEPS))
    for a in (1, 3, 4, 5, 7):
        assert np.array_equal(b[a], b[0]), f"bar {a + 1}"
    assert np.array_equal(b[6], b[2])
    assert np.array_equal(b[0], bars_of(expected_roll())[0]) and np.array_equal(b[2], bars_of(expected_roll())[2])
    # with bars redrawn under the form, a copy of a redrawn bar copies its notes too
    redrawn = V.place_notes(np.ones((LOOP_STEPS, N_COLUMNS), bool), expected_roll(), 32, bars=[1], form="ABAB ABAB",
                            copy="notes")  # fmt: skip
    r = bars_of(redrawn)
    assert all(r[k].all() for k in (1, 3, 5, 7))  # bar 2 redrawn (here: all on), bars 4, 6, 8 its copies
    assert np.array_equal(r[0], bars_of(expected_roll())[0]) and all(np.array_equal(r[k], r[0]) for k in (2, 4, 6))


def test_vary_help_documents_keep_and_copy(capsys):
    with pytest.raises(SystemExit):
        cli.main(["vary", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "keeps the input's notes exactly" in text and "--keep codes" in text and "--copy notes" in text


# ---------------------------------------------------------------------------------------------------------
# interpolation: its ends measured, the default model the one that reconstructs A and B best


def test_interpolation_ends_are_measured_and_models_ranked(runs):
    a = expected_roll()
    b = np.roll(a, 8, axis=0)
    models = {name: load_model(runs / name / "best.pt") for name in ("cnn_vae", "vq_vae")}
    ranking = I.rank_models(models, a, b)
    by_hand = {}
    for name, model in models.items():
        ends = model.reconstruct(torch.as_tensor(np.stack([a, b]), dtype=torch.float32)).numpy()
        ra, rb = resemblance(a, ends[0]), resemblance(b, ends[1])
        e = ra.empty_cells + rb.empty_cells
        by_hand[name] = (e - ra.cells - rb.cells) / e
    assert [name for name, _ in ranking] == sorted(by_hand, key=lambda n: -by_hand[n])
    assert all(I.kept_share(ends) == pytest.approx(by_hand[name]) for name, ends in ranking)
    inter = I.Interpolation("cnn_vae", np.stack([np.zeros_like(a), b]), np.array([0.0, 1.0]),
                            ends=(resemblance(a, np.zeros_like(a)), resemblance(b, b)))  # fmt: skip
    assert inter.unanchored() == ["A"]


def test_interpolate_picks_the_model_that_reconstructs_the_inputs_best(runs, groove_file, tmp_path, capsys):
    other = write(tmp_path / "other.mid", groove(bars=8))
    assert cli.main(["interpolate", str(groove_file), str(other), "--runs", str(runs), "--steps", "3", "--out",
                     str(tmp_path / "i")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    # the smoke models may reconstruct neither end: then the VQ-VAE's crossfade, said (choose_model by hand in
    # test_ownloop_files.py)
    assert ("model: the one whose reconstructions keep most of A and B, among those that keep both ends" in out or
            "model: no model reconstructs both A and B" in out and "VQ-VAE" in out.splitlines()[0])  # fmt: skip
    assert "first loop against A: " in out and "of the empty loop's error removed" in out


# ---------------------------------------------------------------------------------------------------------
# seamless OGG; the models found from anywhere


def test_a_seamless_ogg_lasts_exactly_the_loop_and_is_heard(runs, groove_file, tmp_path, capsys):
    from loopkit.outputs.audio import decode_ogg, loop_seconds

    out = tmp_path / "enc"
    assert cli.main(["encode", str(groove_file), "--audio", "--seamless", "--no-png", "--checkpoint",
                     str(runs / "vq_vae" / "best.pt"), "--out", str(out)]) == 0  # fmt: skip
    audio, sr = decode_ogg(out / "groove_bars1-8.ogg")
    assert len(audio) == round(loop_seconds(LOOP_STEPS, BPM) * sr)  # no 0.5 s tail
    assert float(np.sqrt(np.mean(audio**2))) > 1e-3  # not silent
    capsys.readouterr()
    err = run_error(capsys, "encode", str(groove_file), "--seamless", "--checkpoint", str(runs / "vq_vae" / "best.pt"),
                    "--out", str(tmp_path / "x"))  # fmt: skip
    assert "--seamless shapes the OGG files: add --audio" in err


def test_a_seamless_rendering_is_the_loop_on_repeat():
    from loopkit.outputs.audio import AudioSettings, Rendering, fold_tail, loop_seconds, synthesize_roll

    # by hand: 5 samples folded onto a loop of 2 (the tail wraps twice)
    r = Rendering(np.arange(5, dtype=np.float32) / 10, 10, stems={"bass": np.full(5, 0.1, dtype=np.float32)})
    folded = fold_tail(r, 2)
    assert folded.audio.tolist() == pytest.approx([0.0 + 0.2 + 0.4, 0.1 + 0.3])
    assert folded.stems["bass"].tolist() == pytest.approx([0.3, 0.2]) and folded.scaled == 1.0
    loud = fold_tail(Rendering(np.full(4, 0.9, dtype=np.float32), 10), 2)  # 1.8 passes full scale: scaled to 0.99
    assert loud.audio.tolist() == pytest.approx([0.99, 0.99]) and loud.scaled == pytest.approx(0.99 / 1.8)
    # a rendering: exactly the loop's length, its tail (what rings on after the last step) added onto its start
    roll = expected_roll()
    roll[112:, bass_column(40)] = True  # a bass note held to the last step: it rings on past the loop's end
    settings = AudioSettings(sample_rate=16_000, fade=0.0)
    plain = synthesize_roll(roll, bpm=BPM, settings=settings)
    seamless = synthesize_roll(roll, bpm=BPM, settings=settings, seamless=True)
    n = round(loop_seconds(LOOP_STEPS, BPM) * 16_000)
    assert len(plain.audio) == n + 8_000 and len(seamless.audio) == n
    assert np.allclose(seamless.audio, fold_tail(plain, n).audio, atol=1e-6)
    assert np.abs(seamless.audio[:8_000] - plain.audio[:8_000]).max() > 1e-3  # the tail did land on the start


def test_the_models_are_found_by_runs_or_the_environment(runs, groove_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["encode", str(groove_file), "--runs", str(runs), "--out", "a"]) == 0
    monkeypatch.setenv(encode_command.RUNS_ENV, str(runs))
    assert cli.main(["encode", str(groove_file), "--out", "b"]) == 0
    capsys.readouterr()
    monkeypatch.setenv(encode_command.RUNS_ENV, str(tmp_path / "nowhere"))
    err = run_error(capsys, "encode", str(groove_file), "--out", "c")
    assert f"no trained model at {tmp_path / 'nowhere' / 'vq_vae' / 'best.pt'}" in err and "--runs DIR" in err
    monkeypatch.delenv(encode_command.RUNS_ENV)
    folders = encode_command.runs_folders(None)
    assert folders[0].absolute() == tmp_path / "runs" / "cpu" / "models"  # the working folder first, then the checkout
    from loopkit.book.build import project_root

    assert folders[1:] == [project_root() / "runs" / "cpu" / "models"]
