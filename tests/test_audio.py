"""loopkit.outputs.audio: rolls rendered with FluidSynth to OGG that decodes, lasts as long as the tempo says, and is heard."""

import base64
import re

import numpy as np
import pytest

from loopkit.outputs import audio
from loopkit.book import display
from loopkit.outputs.audio import AudioSettings, InaudibleAudioError
from loopkit.cli import main
from loopkit.data.dataset import pack_rolls
from loopkit.data.pianoroll import LOOP_STEPS, N_COLUMNS, bass_column, drum_column, write_midi

# a low sample rate keeps the tests fast; the size test uses the defaults
FAST = AudioSettings(sample_rate=16_000)


def make_loop(variant: int = 0) -> np.ndarray:
    """An 8-bar loop with a bass note on every beat and kick, crash, snare and hi-hat."""
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    for bar in range(8):
        start = bar * 16
        pitch = 36 + (variant + bar) % 12
        for beat in range(4):
            roll[start + 4 * beat : start + 4 * beat + 2, bass_column(pitch)] = True
        roll[start, drum_column("kick")] = roll[start, drum_column("crash")] = True
        roll[start + 8, drum_column("kick")] = True
        roll[[start + 4, start + 12], drum_column("snare")] = True
        roll[start : start + 16 : 2, drum_column("closed_hihat")] = True
    return roll


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("bpm, expected", [(120.0, 16.0), (150.0, 12.8), (96.0, 20.0)])
def test_ogg_decodes_with_the_duration_of_the_tempo(bpm, expected):
    # 128 steps of a 16th note: 128 * 60 / (4 * bpm) seconds, plus the tail
    data = audio.roll_to_ogg(make_loop(), bpm=bpm, settings=FAST)
    assert data[:4] == b"OggS"
    decoded, sr = audio.decode_ogg(data)
    assert sr == FAST.sample_rate
    assert decoded.ndim == 1
    assert len(decoded) / sr == pytest.approx(expected + FAST.tail, abs=2 / sr)
    assert rms(decoded) > 10 ** (-40 / 20)  # clearly not silent


def test_the_same_loop_renders_to_the_same_bytes():
    # libsndfile gives every stream a random serial number; fix_ogg_serial sets one and recomputes each page's CRC
    first, second = (audio.roll_to_ogg(make_loop(), settings=FAST) for _ in range(2))
    assert first == second and first[14:18] == audio.OGG_SERIAL.to_bytes(4, "little")
    assert np.array_equal(audio.decode_ogg(first)[0], audio.decode_ogg(second)[0])
    # the CRC is Ogg's: libsndfile's own stream, re-stamped with its own serial, comes back byte for byte
    import io

    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.linspace(-0.5, 0.5, 8000, dtype=np.float32), 8000, format="OGG", subtype="VORBIS")
    raw = buf.getvalue()
    assert audio.fix_ogg_serial(raw, int.from_bytes(raw[14:18], "little")) == raw
    with pytest.raises(ValueError, match="not an Ogg page"):
        audio.fix_ogg_serial(b"RIFF" + first[4:])


def test_repeats_play_the_loop_again():
    once = audio.synthesize_roll(make_loop(), bpm=120, repeats=1, settings=FAST)
    twice = audio.synthesize_roll(make_loop(), bpm=120, repeats=2, settings=FAST)
    assert twice.duration == pytest.approx(32.0 + FAST.tail, abs=1e-3)
    # the second pass starts with the same notes as the first: the first second of each pass is alike
    sr = FAST.sample_rate
    first = twice.audio[:sr]
    second = twice.audio[16 * sr : 17 * sr]
    assert np.corrcoef(first, second)[0, 1] > 0.9
    assert once.duration == pytest.approx(16.0 + FAST.tail, abs=1e-3)


def test_a_drum_hit_sounds_at_its_step():
    # one kick at step 20 (bar 2, beat 2) at 120 bpm: 20 * 0.125 s = 2.5 s
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    roll[20, drum_column("kick")] = True
    rendering = audio.synthesize_roll(roll, bpm=120, settings=AudioSettings(sample_rate=16_000, reverb=False))
    drums = np.abs(rendering.stems["drums"])
    onset = np.argmax(drums > 0.01 * drums.max()) / rendering.sample_rate
    assert onset == pytest.approx(2.5, abs=0.01)
    assert "bass" not in rendering.part_rms_db  # no bass notes: not checked
    assert rms(rendering.stems["bass"]) == 0.0


def test_a_bass_note_sounds_at_its_pitch():
    # A2 (MIDI 45, 110 Hz) held for a whole bar: the strongest partial below 1 kHz is a harmonic of 110 Hz
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    roll[0:16, bass_column(45)] = True
    rendering = audio.synthesize_roll(roll, bpm=120, settings=AudioSettings(sample_rate=16_000, reverb=False))
    sr = rendering.sample_rate
    x = rendering.stems["bass"][int(0.2 * sr) : int(1.8 * sr)]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    band = (freqs > 40) & (freqs < 1000)
    peak = freqs[band][np.argmax(spectrum[band])]
    harmonic = peak / 110.0
    assert abs(harmonic - round(harmonic)) < 0.03 and round(harmonic) >= 1
    assert rendering.part_rms_db["bass"] > -40
    assert rms(rendering.stems["drums"]) == 0.0


def test_both_parts_are_checked_and_heard():
    rendering = audio.synthesize_roll(make_loop(), settings=FAST)
    assert set(rendering.part_rms_db) == {"bass", "drums"}
    assert all(level > FAST.min_part_rms_db for level in rendering.part_rms_db.values())
    # the mix is the sum of the stems
    np.testing.assert_allclose(rendering.audio, rendering.stems["bass"] + rendering.stems["drums"], atol=1e-6)
    assert np.max(np.abs(rendering.audio)) <= 1.0


def test_check_parts_heard_by_hand():
    sr = 1000
    loud = np.full(sr, 0.1, dtype=np.float32)  # -20 dBFS
    silent = np.zeros(sr, dtype=np.float32)
    levels = audio.check_parts_heard({"bass": loud, "drums": loud}, {"bass": [(0, 500)], "drums": [(100, 200)]})
    assert levels == pytest.approx({"bass": -20.0, "drums": -20.0}, abs=1e-4)
    with pytest.raises(InaudibleAudioError, match="drums cannot be heard"):
        audio.check_parts_heard({"bass": loud, "drums": silent}, {"bass": [(0, 500)], "drums": [(0, 500)]})
    # sound only outside the part's notes does not count
    late = np.zeros(sr, dtype=np.float32)
    late[600:] = 0.5
    with pytest.raises(InaudibleAudioError, match="bass"):
        audio.check_parts_heard({"bass": late, "drums": loud}, {"bass": [(0, 500)], "drums": [(0, 500)]})
    # a part without notes is not checked; no notes at all is an error
    assert set(audio.check_parts_heard({"bass": silent, "drums": loud}, {"bass": [], "drums": [(0, 9)]})) == {"drums"}
    with pytest.raises(InaudibleAudioError, match="nothing to render"):
        audio.check_parts_heard({"bass": loud, "drums": loud}, {"bass": [], "drums": []})


def test_an_empty_roll_is_refused():
    with pytest.raises(InaudibleAudioError, match="no bass or drum notes"):
        audio.synthesize_roll(np.zeros((LOOP_STEPS, N_COLUMNS), bool), settings=FAST)


def test_a_too_quiet_part_is_refused():
    # a threshold above anything the sound font plays: the check must fail and say which part
    with pytest.raises(InaudibleAudioError, match="cannot be heard"):
        audio.synthesize_roll(make_loop(), settings=AudioSettings(sample_rate=16_000, min_part_rms_db=0.0))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\(steps, 93\) roll"):
        audio.synthesize_roll(np.zeros((128, 90), bool))
    with pytest.raises(ValueError, match="repeats"):
        audio.synthesize_roll(make_loop(), repeats=0)
    with pytest.raises(ValueError, match="tempo"):
        audio.synthesize_roll(make_loop(), bpm=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        audio.synthesize_roll(make_loop(), settings=AudioSettings(soundfont="/no/such/font.sf2"))
    with pytest.raises(ValueError, match="not a .sf2 or .sf3"):
        audio.resolve_soundfont("/etc/hostname")
    with pytest.raises(ValueError, match="channels"):
        AudioSettings(channels=3)


def test_soundfont_from_the_environment(monkeypatch, tmp_path):
    assert audio.default_soundfont().name == "TimGM6mb.sf2"
    assert audio.default_soundfont().is_file()
    monkeypatch.setenv(audio.SOUNDFONT_ENV, str(tmp_path / "mine.sf2"))
    assert audio.default_soundfont() == tmp_path / "mine.sf2"
    with pytest.raises(FileNotFoundError):
        audio.synthesize_roll(make_loop(), settings=FAST)


def test_stereo_output():
    decoded, _ = audio.decode_ogg(audio.roll_to_ogg(make_loop(), settings=AudioSettings(sample_rate=16_000, channels=2)))
    assert decoded.ndim == 2 and decoded.shape[1] == 2


def test_size_of_a_16_second_loop(record_property):
    # the defaults (44.1 kHz mono Vorbis, compression level 0.6) aim at about 150 KB per 16-second loop
    sizes = [len(audio.roll_to_ogg(make_loop(v))) for v in (0, 5)]
    kb = float(np.mean(sizes)) / 1000
    record_property("ogg_kb_per_16s_loop", round(kb, 1))
    print(f"OGG size per 16-second loop (16.5 s with the tail): {kb:.0f} KB")
    assert 60 < kb < 250


def test_audio_grid_embeds_decodable_players(tmp_path):
    ogg = audio.roll_to_ogg(make_loop(), settings=FAST)
    (tmp_path / "a.ogg").write_bytes(audio.roll_to_ogg(make_loop(1), settings=FAST))
    items = [make_loop(3), ogg, tmp_path / "a.ogg"]
    grid = display.audio_grid(items, labels=["<b>roll</b>", "bytes", "file"], columns=2, settings=FAST)
    page = grid.data
    assert "grid-template-columns:repeat(2," in page
    assert "&lt;b&gt;roll&lt;/b&gt;" in page and "<b>roll</b>" not in page
    sources = re.findall(r'<audio[^>]*src="data:audio/ogg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(sources) == 3
    for src in sources:
        decoded, sr = audio.decode_ogg(base64.b64decode(src))
        assert rms(decoded) > 1e-3
    assert base64.b64decode(sources[1]) == ogg
    with pytest.raises(ValueError, match="labels"):
        display.audio_grid_html([ogg], labels=["a", "b"])


def test_audio_grid_shows_an_empty_roll_as_a_caption_not_a_silent_player():
    empty = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    page = display.audio_grid_html([empty, make_loop()], labels=["model output", "input"], settings=FAST)
    assert page.count("<audio") == 1
    assert "model output" in page and "empty loop: no note to play" in page


def test_read_npy_rolls(tmp_path):
    loops = np.stack([make_loop(0), make_loop(1)])
    np.save(tmp_path / "one.npy", loops[0])
    np.save(tmp_path / "two.npy", loops.astype(np.uint8))
    np.save(tmp_path / "packed.npy", pack_rolls(loops))
    np.save(tmp_path / "bad.npy", np.zeros((4, 5)))
    np.save(tmp_path / "float.npy", loops[0] * 0.5)
    assert audio.read_npy_rolls(tmp_path / "one.npy").shape == (1, LOOP_STEPS, N_COLUMNS)
    np.testing.assert_array_equal(audio.read_npy_rolls(tmp_path / "two.npy"), loops)
    np.testing.assert_array_equal(audio.read_npy_rolls(tmp_path / "packed.npy"), loops)
    with pytest.raises(ValueError, match="expected rolls of shape"):
        audio.read_npy_rolls(tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="only 0 and 1"):
        audio.read_npy_rolls(tmp_path / "float.npy")


def test_read_midi_loop_pads_to_eight_bars(tmp_path):
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    roll[0, bass_column(40)] = roll[0, drum_column("kick")] = True  # only bar 1 has notes
    write_midi(roll, tmp_path / "short.mid", bpm=100)
    back = audio.read_midi_loop(tmp_path / "short.mid")
    np.testing.assert_array_equal(back, roll)
    assert audio.midi_tempo(tmp_path / "short.mid") == pytest.approx(100.0)


def test_render_command(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    write_midi(make_loop(1), src / "slow.mid", bpm=100)
    np.save(src / "pair.npy", np.stack([make_loop(2), make_loop(3)]))
    out = tmp_path / "out"
    assert main(["render", str(src / "slow.mid"), str(src / "pair.npy"), "--out", str(out), "--sample-rate",
                 "16000"]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["pair_0000.ogg", "pair_0001.ogg", "slow.ogg"]
    decoded, sr = audio.decode_ogg(out / "slow.ogg")
    # the MIDI file's own tempo: 128 * 60 / (4 * 100) = 19.2 s, plus the tail
    assert len(decoded) / sr == pytest.approx(19.2 + 0.5, abs=2 / sr)
    assert "rendered 3 loop(s)" in capsys.readouterr().out
    # --bpm overrides it; a folder is searched
    assert main(["render", str(src), "--out", str(out), "--bpm", "120", "--sample-rate", "16000"]) == 0
    decoded, sr = audio.decode_ogg(out / "slow.ogg")
    assert len(decoded) / sr == pytest.approx(16.0 + 0.5, abs=2 / sr)


def test_render_command_bad_input(tmp_path, capsys):
    assert main(["render", str(tmp_path / "missing.mid"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    np.save(tmp_path / "empty.npy", np.zeros((LOOP_STEPS, N_COLUMNS), bool))
    assert main(["render", str(tmp_path / "empty.npy"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loopkit render: error: empty: nothing to render") and err.count("\n") == 1
    (tmp_path / "notes.txt").write_text("x")
    assert main(["render", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "not a .mid, .midi or .npy file" in capsys.readouterr().err
    (tmp_path / "broken.mid").write_bytes(b"MThd not really")
    assert main(["render", str(tmp_path / "broken.mid"), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read MIDI" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "empty.npy"), "--out", str(tmp_path / "o"), "--soundfont", "x.sf2"]) == 2
    assert "sound font x.sf2 does not exist" in capsys.readouterr().err
