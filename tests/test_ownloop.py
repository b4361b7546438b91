"""Your own loop (loopkit.ownloop.encode, `loopkit encode`, `vary`, `interpolate`): a hand-built MIDI file read into the
roll worked out by hand, the reconstruction's distance, variations that keep what they must, bar forms, slerp and
the code crossfade, every output MIDI read back by pretty_midi (a parser independent of the writer's symusic) at the
input's tempo, byte-identical re-runs, and one line for every kind of bad input."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import torch
from midi_builder import bar, build, drum, note, program, step, tempo, time_signature, track, write
from tiny_models import tiny_prior, tiny_vqvae

from loopkit import cli
from loopkit.ownloop import interpolation as I
from loopkit.ownloop import encode as O
from loopkit.ownloop import variations as V
from loopkit.ownloop import reader as F
from loopkit.models.checkpoints import load_model
from loopkit.generation.latent import bar_steps, code_overlap, crossfade_codes
from loopkit.data.pianoroll import LOOP_STEPS, N_COLUMNS, bass_column, drum_column
from loopkit.outputs.plots import plot_loop_codes

torch.set_num_threads(1)

BPM = 97.0


def groove(bars: int = 10, tpq: int = 480, extras: bool = False, signature=(4, 4), bass_program: int = 33,
           drums_on_channel_10: bool = True, names=("Bass", "Drums", "Keys"), crash_bars=(0, 8)) -> bytes:  # fmt: skip
    """A groove: bass E2 (40) on every beat for half a beat, kick on every beat, snare on beats 2 and 4, crash on
    the first step of bars 1 and 9; a piano track that is ignored. ``extras`` adds, in bar 1, what the representation
    drops: a chord (B2 over E2 on beat 1), a bass note above B7 (110), a GM drum note no map keeps (30) and a second
    kick (35) on the step of the first kick."""
    drum_channel = 9 if drums_on_channel_10 else 3
    conductor = track(*([time_signature(*signature)] if signature else []), tempo(BPM))
    bass = [program(bass_program, channel=1)]
    drums, keys = [], [program(0, channel=2), note(60, 0, 4 * tpq, channel=2)]
    for b in range(bars):
        for beat in range(4):
            t = bar(b, tpq) + beat * tpq
            bass.append(note(40, t, tpq // 2, channel=1))
            drums.append(note(36, t, 30, channel=drum_channel))
            if beat in (1, 3):
                drums.append(note(38, t, 30, channel=drum_channel))
        if b in crash_bars:
            drums.append(note(49, bar(b, tpq), 30, channel=drum_channel))
    if extras:
        bass += [note(47, 0, tpq // 2, channel=1), note(110, step(2, tpq), 60, channel=1)]
        drums += [note(30, step(6, tpq), 30, channel=drum_channel), note(35, 0, 30, channel=drum_channel)]
    return build(conductor, track(*bass, name=names[0]), track(*drums, name=names[1]), track(*keys, name=names[2]),
                 tpq=tpq)  # fmt: skip


def expected_roll() -> np.ndarray:
    """The groove's first 8 bars, by hand: (128, 93)."""
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    for b in range(8):
        for beat in range(4):
            s = 16 * b + 4 * beat
            roll[s : s + 2, bass_column(40)] = True  # half a beat = 2 sixteenth steps
            roll[s, drum_column("kick")] = True
            if beat in (1, 3):
                roll[s, drum_column("snare")] = True
    roll[0, drum_column("crash")] = True
    return roll


@pytest.fixture
def groove_file(tmp_path):
    return write(tmp_path / "groove.mid", groove())


# ---------------------------------------------------------------------------------------------------------
# reading


def test_a_hand_built_groove_reads_as_the_roll_worked_out_by_hand(groove_file):
    r = F.read_loop(groove_file)
    assert np.array_equal(r.roll, expected_roll())
    assert (r.start_bar, r.song_bars, r.chosen_by, r.passes_rules) == (0, 10, "first loop", True)
    assert r.bpm == pytest.approx(BPM) and r.time_signature == "4/4"
    assert [(t.name, t.role) for t in r.tracks] == [("Bass", "bass"), ("Drums", "drums"), ("Keys", "ignored")]
    assert r.changed == dict(bass_repeats_merged=0, bass_out_of_range=0, bass_chord_cells=0, bass_chord_steps=0,
                             off_grid=0, drums_unmapped=0, drums_merged=0)  # fmt: skip
    assert r.window == {"bass_notes": 32, "drum_hits": 49, "bars_with_both": 8} and r.tempo_changes == ()
    assert r.bars_label == "bars 1-8"


def test_what_the_representation_drops_is_counted(tmp_path):
    r = F.read_loop(write(tmp_path / "extras.mid", groove(extras=True)))
    # B2 over E2 for 2 steps: 2 cells reduced on 2 steps; the lowest note (E2) is kept
    assert r.changed == dict(bass_repeats_merged=0, bass_out_of_range=1, bass_chord_cells=2, bass_chord_steps=2,
                             off_grid=0, drums_unmapped=1, drums_merged=1)  # fmt: skip
    assert np.array_equal(r.roll, expected_roll())
    text = "\n".join(r.summary())
    assert "1 bass note(s) outside C1..B7" in text and "2 chord note step(s)" in text and "1 drum hit(s)" in text


def test_a_given_start_bar_and_the_fallback_to_bar_1(groove_file, tmp_path):
    r = F.read_loop(groove_file, 2)
    assert (r.start_bar, r.chosen_by) == (2, "given")
    assert r.rules["crash"] is False and not r.passes_rules  # bar 3 has no crash
    expected = expected_roll()
    expected[0, drum_column("crash")] = False
    expected[16 * 6, drum_column("crash")] = True  # the song's bar 9 is the loop's bar 7
    assert np.array_equal(r.roll, expected)
    # no window passes the rules without a crash: the densest, which is the earliest of equal ones, said so
    r = F.read_loop(write(tmp_path / "nocrash.mid", groove(crash_bars=())))
    assert (r.start_bar, r.chosen_by) == (0, "densest")
    assert "no window passes the paper's loop rules, so the densest window" in "\n".join(r.summary())


def test_tracks_chosen_by_name_or_number(tmp_path):
    # the bass on a piano program, the drums on channel 4: nothing to find by default
    path = write(tmp_path / "odd.mid", groove(bass_program=0, drums_on_channel_10=False))
    with pytest.raises(F.TrackChoiceError, match="no bass track") as info:
        F.read_loop(path)
    assert info.value.role == "bass" and '#0 "Bass"' in str(info.value)
    r = F.read_loop(path, bass_track="bass", drum_track=1)
    assert np.array_equal(r.roll, expected_roll())
    assert [t.role for t in r.tracks] == ["bass", "drums", "ignored"]
    with pytest.raises(F.TrackChoiceError, match="no track named 'tuba'"):
        F.read_loop(path, bass_track="tuba", drum_track=1)
    with pytest.raises(F.TrackChoiceError, match="no track #7"):
        F.read_loop(path, bass_track=7, drum_track=1)


# ---------------------------------------------------------------------------------------------------------
# encoding


def test_encoding_reports_the_reconstruction_s_distance(groove_file):
    vq = tiny_vqvae()
    enc = O.encode_loop(vq, F.read_loop(groove_file))
    x = torch.as_tensor(expected_roll()[None], dtype=torch.float32)
    assert np.array_equal(enc.codes, vq.codes(x)[0].numpy())
    decoded = vq.reconstruct(x)[0].numpy()
    assert np.array_equal(enc.decoded, decoded)
    cells = int(np.count_nonzero(decoded != expected_roll()))
    assert enc.cells == cells and enc.hamming == pytest.approx(cells / (128 * 93))


def read_back(path):
    """(tempo, time signatures, bass notes (pitch, start step, end step), drum hits (note, step)) with pretty_midi."""
    pm = pretty_midi.PrettyMIDI(str(path))
    _, tempi = pm.get_tempo_changes()
    per_step = 60.0 / tempi[0] / 4
    bass = sorted((n.pitch, round(n.start / per_step), round(n.end / per_step))
                  for i in pm.instruments if not i.is_drum for n in i.notes)  # fmt: skip
    drums = sorted((n.pitch, round(n.start / per_step)) for i in pm.instruments if i.is_drum for n in i.notes)
    sigs = [(s.numerator, s.denominator) for s in pm.time_signature_changes]
    return float(tempi[0]), sigs, bass, drums


def test_encode_command_writes_codes_and_midi_at_the_input_s_tempo(runs, groove_file, tmp_path, capsys):
    out = tmp_path / "enc"
    assert cli.main(["encode", str(groove_file), "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--out",
                     str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert 'bass: #0 "Bass"' in text and 'ignored: #2 "Keys"' in text and "tempo 97 bpm" in text
    # the baseline: an empty loop gets the groove's 113 active cells wrong (64 bass, 32 kicks, 16 snares, 1 crash)
    cells = O.read_codes(out / "codes.json")["reconstruction"]["cells"]
    share = (f"{(113 - cells) / 113:.0%} of the empty loop's error removed" if cells <= 113 else
             f"worse than the empty loop, {cells / 113:.3g} times its error")  # fmt: skip
    assert f"{cells:,} cells differ from the input, an empty loop 113: {share}" in text
    assert "\n  bass: " in text and "\n  drums: " in text and "(recall " in text and "(precision " in text
    doc = O.read_codes(out / "codes.json")
    assert len(doc["codes"]) == 32 and (doc["first_bar"], doc["last_bar"], doc["bpm"]) == (1, 8, BPM)
    assert np.array_equal(doc["roll"], expected_roll())
    vq = load_model(runs / "vq_vae" / "best.pt")
    cells = int(np.count_nonzero(
        vq.reconstruct(torch.as_tensor(expected_roll()[None], dtype=torch.float32))[0].numpy() != expected_roll()))
    rec = doc["reconstruction"]
    assert rec["cells"] == cells and rec["empty_loop_cells"] == 113
    assert rec["share_of_empty_error_removed"] == pytest.approx((113 - cells) / 113)
    assert rec["bass"]["notes"] == 32 and rec["drums"]["notes"] == 49
    # the loop as read, written and parsed back by pretty_midi: same notes, same tempo, 4/4
    bpm, sigs, bass, drums = read_back(out / doc["files"]["input"]["mid"])
    assert bpm == pytest.approx(BPM, abs=0.01) and sigs == [(4, 4)]
    assert bass == [(40, 16 * b + 4 * k, 16 * b + 4 * k + 2) for b in range(8) for k in range(4)]
    assert (49, 0) in drums and sum(1 for p, _ in drums if p == 36) == 32
    assert read_back(out / doc["files"]["decoded"]["mid"])[0] == pytest.approx(BPM, abs=0.01)


# ---------------------------------------------------------------------------------------------------------
# varying


def test_redrawn_bars_keep_every_other_code():
    prior = tiny_prior()
    codes = np.arange(32) % 16
    out = V.vary_codes(prior, codes, bars=[4, 5, 6, 7], n=8, seed=3)
    assert out.shape == (8, 32)
    assert np.array_equal(out[:, :16], np.repeat(codes[None, :16], 8, axis=0))  # bars 1-4 kept
    assert (out[:, 16:] != codes[16:]).any()  # and bars 5-8 redrawn
    out = V.vary_codes(prior, codes, bars=[2], n=8, seed=3)  # bar 3: the bars after it keep their codes
    keep = [s for s in range(32) if s not in bar_steps(2)]
    assert np.array_equal(out[:, keep], np.repeat(codes[None, keep], 8, axis=0))
    assert np.array_equal(V.vary_codes(prior, codes, bars=[2], n=8, seed=3), out)  # same seed, same codes


def test_a_bar_form_makes_the_copied_bars_codes_equal():
    prior = tiny_prior()
    codes = np.arange(32) % 16
    alone = V.vary_codes(prior, codes, form="AABA AABA", n=1)[0]
    bar_codes = alone.reshape(8, 4)
    for b in (1, 3, 4, 5, 7):  # A bars: copies of bar 1
        assert np.array_equal(bar_codes[b], codes[:4])
    assert np.array_equal(bar_codes[2], codes[8:12]) and np.array_equal(bar_codes[6], codes[8:12])  # B: bar 3
    # with bars redrawn, the form holds on the redrawn codes: bar 2 (B) redrawn, bars 4, 6, 8 follow it
    out = V.vary_codes(prior, codes, form="ABAB ABAB", bars=[1], n=6, seed=1)
    for row in out.reshape(6, 8, 4):
        assert all(np.array_equal(row[b], row[1]) for b in (3, 5, 7))
        assert all(np.array_equal(row[b], codes[:4]) for b in (0, 2, 4, 6))
    assert (out.reshape(6, 8, 4)[:, 1] != codes[4:8]).any()
    with pytest.raises(ValueError, match="one variation"):
        V.vary_codes(prior, codes, form="AABA AABA", n=3)


def test_bars_as_a_daw_counts_them():
    assert V.parse_bars("5-8") == [4, 5, 6, 7] and V.parse_bars("2, 4") == [1, 3] and V.parse_bars("8") == [7]
    assert V.bars_label([4, 5, 6, 7]) == "5-8" and V.bars_label([1, 3, 4]) == "2,4-5"
    assert V.form_label("aaba ?aba") == "AABA-xABA"
    for bad in ("0", "9", "5-9", "x", "6-5", ""):
        with pytest.raises(ValueError):
            V.parse_bars(bad)


def test_vary_command_files_csv_and_byte_identical_reruns(runs, groove_file, tmp_path, capsys):
    enc = tmp_path / "enc"
    prior = str(runs / "prior" / "best.pt")
    assert cli.main(["encode", str(groove_file), "--checkpoint", prior, "--out", str(enc)]) == 0
    outs = []
    for name in ("v1", "v2"):
        out = tmp_path / name
        assert cli.main(["vary", str(enc / "codes.json"), "--bars", "5-8", "-n", "2", "--temperature", "1.5",
                         "--seed", "7", "--checkpoint", str(runs / "prior" / "best.pt"), "--audio",
                         "--out", str(out)]) == 0  # fmt: skip
        outs.append(out)
    files = sorted(p.name for p in outs[0].iterdir())
    assert "groove_bars1-8_decoded.mid" in files and "groove_bars1-8_redraw5-8_02.mid" in files
    assert "groove_bars1-8_redraw5-8_02.ogg" in files
    assert "groove_bars1-8_redraw5-8_01.png" in files and "variations.csv" in files
    assert files == sorted(p.name for p in outs[1].iterdir())
    for name in files:  # MIDI, PNG, OGG, CSV: the same seed writes the same bytes
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    rows = list(csv.DictReader((outs[0] / "variations.csv").open()))
    assert [r["variation"] for r in rows] == ["0", "1", "2"]
    input_codes = rows[0]["codes"].split()
    for r in rows[1:]:
        assert r["codes"].split()[:16] == input_codes[:16] and r["bars_redrawn"] == "5-8" and r["seed"] == "7"
        assert int(r["codes_changed"]) == sum(a != b for a, b in zip(r["codes"].split(), input_codes))
        assert 0 <= float(r["hamming_to_input"]) <= 1 and r["fnd"] in ("0", "1") and float(r["hd"]) >= 0
        assert read_back(outs[0] / r["file"])[0] == pytest.approx(BPM, abs=0.01)
    # another seed, other codes
    assert cli.main(["vary", str(enc / "codes.json"), "--bars", "5-8", "-n", "2", "--seed", "8", "--checkpoint",
                     str(runs / "prior" / "best.pt"), "--out", str(tmp_path / "v3")]) == 0  # fmt: skip
    other = list(csv.DictReader((tmp_path / "v3" / "variations.csv").open()))
    assert [r["codes"] for r in other[1:]] != [r["codes"] for r in rows[1:]]


def test_vary_a_midi_file_with_a_form(runs, groove_file, tmp_path, capsys):
    out = tmp_path / "form"
    assert cli.main(["vary", str(groove_file), "--form", "AABA AABA", "--checkpoint", str(runs / "vq_vae" / "best.pt"),
                     "--out", str(out)]) == 0  # fmt: skip
    rows = list(csv.DictReader((out / "variations.csv").open()))
    assert [r["file"] for r in rows] == ["groove_bars1-8_decoded.mid", "groove_bars1-8_form-AABA-AABA_01.mid"]
    codes = np.array(rows[1]["codes"].split()).reshape(8, 4)
    assert all((codes[b] == codes[0]).all() for b in (1, 3, 4, 5, 7)) and (codes[6] == codes[2]).all()


def test_vary_finds_the_prior_beside_its_vqvae(runs, groove_file, tmp_path, capsys):
    """--checkpoint naming the VQ-VAE of a run folder redraws bars with the prior beside it, as naming the prior."""
    outs = {}
    for kind in ("vq_vae", "prior"):
        outs[kind] = tmp_path / kind
        assert cli.main(["vary", str(groove_file), "--bars", "8", "-n", "1", "--seed", "3", "--checkpoint",
                         str(runs / kind / "best.pt"), "--out", str(outs[kind])]) == 0  # fmt: skip
    csvs = [(outs[k] / "variations.csv").read_text().splitlines() for k in outs]
    assert [r.split(",")[:3] for r in csvs[0]] == [r.split(",")[:3] for r in csvs[1]]
    assert (outs["vq_vae"] / "groove_bars1-8_redraw8_01.mid").read_bytes() == \
        (outs["prior"] / "groove_bars1-8_redraw8_01.mid").read_bytes()


# ---------------------------------------------------------------------------------------------------------
# interpolating


def test_slerp_by_hand():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    z = I.slerp(a, b, [0.0, 0.5, 1.0])
    assert np.array_equal(z[0], a) and np.array_equal(z[-1], b)
    # w = 90 degrees: sin(45)/sin(90) of each
    assert z[1] == pytest.approx([math.sqrt(0.5), 2 * math.sqrt(0.5)])
    # parallel vectors: linear
    assert I.slerp(a, 3 * a, [0.5])[0] == pytest.approx([2.0, 0.0])


def test_crossfade_is_bar_by_bar_from_a_to_b():
    a, b = np.zeros(32, dtype=int), np.ones(32, dtype=int)
    codes, from_b = crossfade_codes(a, b, 9)
    assert from_b.tolist() == list(range(9))
    for i in range(9):
        assert codes[i].tolist() == [1] * 4 * i + [0] * (32 - 4 * i)
    assert crossfade_codes(a, b, 3)[1].tolist() == [0, 4, 8]
    with pytest.raises(ValueError, match="at least 2"):
        crossfade_codes(a, b, 1)


def test_code_overlap_says_which_codes_the_training_set_uses():
    train = np.array([[1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 1, 1, 1, 1, 1]])
    assert code_overlap([1, 3, 2, 9, 5, 5, 5, 8], train).tolist() == [0, 1, 1, 2, 0, 1, 1, 0]


@pytest.mark.parametrize("name", ["cnn_vae", "vq_vae"])
def test_interpolation_starts_and_ends_at_the_encodings_of_a_and_b(runs, name, groove_file, tmp_path):
    model = load_model(runs / name / "best.pt")
    a = expected_roll()
    b = np.roll(a, 8, axis=0)
    inter = I.interpolate(model, a, b, 5)
    x = torch.as_tensor(np.stack([a, b]), dtype=torch.float32)
    ends = model.reconstruct(x).numpy()  # decode(mu) / decode(codes): the encodings of A and B
    assert np.array_equal(inter.rolls[0], ends[0]) and np.array_equal(inter.rolls[-1], ends[1])
    assert inter.rolls.shape == (5, 128, 93) and inter.alphas[0] == 0 and inter.alphas[-1] == 1


def test_interpolate_command(runs, groove_file, tmp_path, capsys):
    other = write(tmp_path / "other.mid", groove(bars=8))
    out = tmp_path / "int"
    assert cli.main(["interpolate", str(groove_file), str(other), "--checkpoint", str(runs / "cnn_vae" / "best.pt"),
                     "--steps", "4", "--out", str(out)]) == 0  # fmt: skip
    assert "CNN-VAE" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "interpolation.csv").open()))
    assert [r["file"] for r in rows] == [f"groove_bars1-8_to_other_bars1-8_cnn_vae_{i}of4.mid" for i in range(1, 5)]
    assert [float(r["share_of_b"]) for r in rows] == pytest.approx([0, 1 / 3, 2 / 3, 1], abs=1e-4)
    for r in rows:
        assert read_back(out / r["file"])[0] == pytest.approx(BPM, abs=0.01)
    # the VQ-VAE through its prior's checkpoint: a crossfade, bars from B in the CSV
    assert cli.main(["interpolate", str(groove_file), str(other), "--checkpoint", str(runs / "prior" / "best.pt"),
                     "--model", "vq_vae", "--steps", "3", "--out", str(tmp_path / "vq")]) == 0  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "vq" / "interpolation.csv").open()))
    assert [r["bars_from_b"] for r in rows] == ["0", "4", "8"]


# ---------------------------------------------------------------------------------------------------------
# bad input: one line each


def run_error(capsys, *argv) -> str:
    assert cli.main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_bad_input_is_one_line(runs, groove_file, tmp_path, capsys):
    vq = str(runs / "vq_vae" / "best.pt")
    prior = str(runs / "prior" / "best.pt")
    out = str(tmp_path / "o")
    notes = write(tmp_path / "notes.mid", b"these are not MIDI bytes")
    assert "not a MIDI file" in run_error(capsys, "encode", str(notes), "--checkpoint", vq, "--out", out)
    no_bass = write(tmp_path / "nobass.mid", groove(bass_program=0))
    err = run_error(capsys, "encode", str(no_bass), "--checkpoint", vq, "--out", out)
    assert "no bass track" in err and '#0 "Bass" (GM program 1, Acoustic Grand Piano' in err and "--bass-track" in err
    no_drums = write(tmp_path / "nodrums.mid", groove(drums_on_channel_10=False))
    err = run_error(capsys, "encode", str(no_drums), "--checkpoint", vq, "--out", out)
    assert "no drums track" in err and "--drum-track" in err and '#1 "Drums"' in err
    err = run_error(capsys, "encode", str(groove_file), "--start-bar", "4", "--checkpoint", vq, "--out", out)
    assert "7 bar(s) of bass and drums from bar 4 (the song has 10); a loop needs 8" in err
    waltz = write(tmp_path / "waltz.mid", groove(signature=(3, 4)))
    err = run_error(capsys, "encode", str(waltz), "--checkpoint", vq, "--out", out)
    assert "no 8 bars of 4/4 in a row (four-beat bars: none; the file's time signatures: 3/4 at bar 1)" in err
    assert "--meter 4/4 reads it as 4/4" in err
    err = run_error(capsys, "encode", str(groove_file), "--checkpoint", str(runs / "cnn_vae" / "best.pt"), "--out", out)
    assert "holds a CNN-VAE, not the VQ-VAE or its prior" in err
    alone = tmp_path / "alone" / "vq_vae"
    alone.mkdir(parents=True)
    (alone / "best.pt").write_bytes(Path(vq).read_bytes())
    err = run_error(capsys, "vary", str(groove_file), "--bars", "5-8", "--checkpoint", str(alone / "best.pt"),
                    "--out", out)  # fmt: skip
    assert "redrawing bars needs its LSTM prior and there is none at " in err and "name the prior as well" in err
    err = run_error(capsys, "interpolate", str(groove_file), str(groove_file), "--model", "cnn_vae", "--checkpoint",
                    prior, "--out", out)  # fmt: skip
    assert "holds a VQ-VAE, not a CNN-VAE" in err
    for bars in ("9", "0-2", "5-12"):
        err = run_error(capsys, "vary", str(groove_file), "--bars", bars, "--checkpoint", prior, "--out", out)
        assert "--bars: bars must lie in 1-8" in err
    err = run_error(capsys, "vary", str(groove_file), "--form", "AABA AABA", "-n", "3", "--checkpoint", prior,
                    "--out", out)  # fmt: skip
    assert "-n 3 with --form alone" in err
    assert "names 7 bars" in run_error(capsys, "vary", str(groove_file), "--form", "AABA ABA", "--checkpoint", prior,
                                       "--out", out)  # fmt: skip
    assert "no MIDI file at" in run_error(capsys, "encode", str(tmp_path / "missing.mid"), "--checkpoint", vq,
                                          "--out", out)  # fmt: skip
    assert not (tmp_path / "o").exists()  # nothing written by a refused command


def test_codes_of_another_vqvae_are_refused(runs, groove_file, tmp_path, capsys):
    enc = tmp_path / "enc"
    vq = str(runs / "vq_vae" / "best.pt")
    assert cli.main(["encode", str(groove_file), "--checkpoint", vq, "--out", str(enc)]) == 0
    capsys.readouterr()
    doc = (enc / "codes.json").read_text().replace('"digest": "', '"digest": "0000')
    (enc / "codes.json").write_text(doc)
    err = run_error(capsys, "vary", str(enc / "codes.json"), "--bars", "2", "--checkpoint",
                    str(runs / "prior" / "best.pt"), "--out", str(tmp_path / "o"))  # fmt: skip
    assert "come from another VQ-VAE" in err


def test_the_book_s_default_loop_is_held_out(tmp_path, monkeypatch):
    import pandas as pd

    song = write(tmp_path / "corpus" / "song.mid", groove())

    class Loops:
        path = tmp_path / "runs" / "cpu" / "loops"
        meta = pd.DataFrame({"source": ["corpus/other.mid", "corpus/song.mid"], "start_bar": [0, 2],
                             "split": ["train", "test"]})  # fmt: skip

    Loops.path.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "runs")  # the recorded path is relative to tmp_path, two folders above the data set
    assert F.held_out_loop(Loops) == (song.resolve(), 2)
    with pytest.raises(ValueError, match="no valid loop"):
        F.held_out_loop(Loops, "valid")


def test_a_held_out_loop_inside_an_archive_is_read_out_of_it(tmp_path):
    import tarfile

    import pandas as pd

    song = write(tmp_path / "song.mid", groove())
    with tarfile.open(tmp_path / "corpus.tar.gz", "w:gz") as tar:
        tar.add(song, arcname="a/b/song.mid")

    class Loops:
        path = tmp_path / "run" / "loops"
        meta = pd.DataFrame({"source": [f"{tmp_path / 'corpus.tar.gz'}!a/b/song.mid"], "start_bar": [1],
                             "split": ["test"]})  # fmt: skip

    path, start = F.held_out_loop(Loops)
    assert path == tmp_path / "run" / "held_out" / "song.mid" and start == 1
    assert path.read_bytes() == song.read_bytes()
    assert F.read_loop(path, start).start_bar == 1


def test_plot_loop_codes_marks_each_kind():
    fig = plot_loop_codes(np.array([1, 3, 9, 1]), np.array([0, 1, 2, 0]), K=16)
    sizes = [len(c.get_offsets()) for c in fig.axes[0].collections]
    assert sizes == [2, 1, 1]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "at this step in the training set (2)", "at another step in the training set (1)", "new (1)"]


def test_several_bass_tracks_are_read_as_one_and_said_so(tmp_path):
    tpq = 480
    conductor = track(time_signature(4, 4), tempo(BPM))
    low = [note(40, bar(b) + k * tpq, tpq // 2, channel=1) for b in range(8) for k in (0, 2)]
    high = [note(52, bar(b) + k * tpq, tpq, channel=2) for b in range(8) for k in (0, 1)]
    low = track(program(33, channel=1), *low, name="Bass low")
    high = track(program(34, channel=2), *high, name="Bass high")
    drums = track(*[drum(36, bar(b)) for b in range(8)], drum(49, 0), name="Drums")
    r = F.read_loop(write(tmp_path / "two.mid", build(conductor, low, high, drums, tpq=tpq)))
    assert "bass (2 tracks merged)" in r.summary()[0]
    # beat 1: E2 and E3 sound together for 2 steps, E3 alone for 2 more; beat 2: E3 alone
    assert r.roll[0:2, bass_column(40)].all() and not r.roll[0:2, bass_column(52)].any()
    assert r.roll[2:8, bass_column(52)].all()
    assert r.changed["bass_chord_cells"] == 16 and r.changed["bass_chord_steps"] == 16  # 2 steps x 8 bars
    alone = F.read_loop(tmp_path / "two.mid", bass_track="Bass high")
    assert alone.roll[0:8, bass_column(52)].all() and alone.changed["bass_chord_cells"] == 0


@pytest.mark.parametrize("bars", [3, 7])
def test_a_song_shorter_than_a_loop_is_one_line_not_a_traceback(tmp_path, bars):
    from midi_builder import loop_song

    from loopkit.errors import LoopkitError
    from loopkit.ownloop.reader import read_loop

    path = write(tmp_path / f"{bars}bars.mid", loop_song(bars=bars))
    with pytest.raises(LoopkitError, match=rf"the song has {bars} bar\(s\) of bass and drums; a loop needs 8 bars of "
                                           r"4/4, or 4 \(played twice\)"):  # fmt: skip
        read_loop(path)
    with pytest.raises(LoopkitError, match=rf"the song has {bars} bar\(s\)"):
        read_loop(path, start_bar=0)
