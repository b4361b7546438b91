"""Generation (loopkit.generation.sampling, loopkit.generation.generate, `loopkit generate`): sampling rules, temperature, seeding, latent
copies while sampling, and MIDI files read back with mido (a parser independent of the writer's symusic)."""

import json
import math
import sys

import mido
import numpy as np
import pytest
import torch
from tiny_models import constant_prior, tiny_prior, tiny_vqvae

from loopkit.models import checkpoints as C
from loopkit import cli
from loopkit.generation import generate as G
from loopkit.generation import latent as L
from loopkit.generation import sampling as S
from loopkit.data.dataset import PackedRolls
from loopkit.models import build_model
from loopkit.data.pianoroll import (
    BASS_LOWEST_PITCH,
    BASS_PLAYBACK_PROGRAM,
    BASS_VELOCITY,
    DRUM_COMPONENTS,
    DRUM_PLAYBACK_NOTE,
    DRUM_VELOCITY,
    N_BASS,
)

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------------
# temperature


def test_parse_temperature():
    assert S.parse_temperature("argmax") == 0.0
    assert S.parse_temperature(" Argmax ") == 0.0
    assert S.parse_temperature(0) == 0.0
    assert S.parse_temperature("1.5") == 1.5
    assert S.parse_temperature(2) == 2.0
    for bad in ("hot", -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            S.parse_temperature(bad)
    assert [S.temperature_label(t) for t in ("argmax", 1, 1.5, 2.0)] == ["argmax", "temp 1", "temp 1.5", "temp 2"]


# ---------------------------------------------------------------------------------------------------------
# sampling from the prior


def test_sample_categorical_matches_the_probabilities():
    gen = torch.Generator().manual_seed(0)
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2])
    draws = S.sample_categorical(probs.expand(40_000, -1), gen)
    freq = np.bincount(draws.numpy(), minlength=4) / 40_000
    assert freq[1] == 0  # a zero-probability index is never drawn
    assert freq == pytest.approx([0.5, 0.0, 0.3, 0.2], abs=0.01)
    # unnormalised rows are normalised
    draws = S.sample_categorical(torch.tensor([[0.0, 3.0, 1.0]]).expand(20_000, -1), gen)
    assert np.bincount(draws.numpy(), minlength=3)[1] / 20_000 == pytest.approx(0.75, abs=0.015)


def test_first_code_comes_from_the_training_distribution():
    # p(z_0) = counts / sum = (0, 0, 3/4, 1/4, 0, ...); later steps are irrelevant here
    counts = np.zeros(8)
    counts[2], counts[3] = 3, 1
    prior = constant_prior(torch.zeros(8), counts)
    codes = G.sample_codes(prior, 4000, temperature=1.0, seed=1)
    assert set(np.unique(codes[:, 0])) == {2, 3}
    assert np.mean(codes[:, 0] == 2) == pytest.approx(0.75, abs=0.03)
    # argmax does not apply to z_0: it is drawn from p(z_0) all the same
    codes = G.sample_codes(prior, 4000, temperature="argmax", seed=1)
    assert np.mean(codes[:, 0] == 2) == pytest.approx(0.75, abs=0.03)


def test_temperature_divides_the_logits():
    bias = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5, -0.5])
    prior = constant_prior(bias)
    # argmax: every step after z_0 is the largest logit (code 0)
    codes = G.sample_codes(prior, 200, temperature=0, seed=0)
    assert (codes[:, 1:] == 0).all()
    for T in (0.5, 2.0):
        codes = G.sample_codes(prior, 3000, temperature=T, seed=0)
        freq = np.bincount(codes[:, 1:].ravel(), minlength=6) / codes[:, 1:].size
        expected = torch.softmax(bias / T, dim=0).numpy()  # softmax(logits / T)
        assert freq == pytest.approx(expected, abs=0.01)


def test_higher_temperature_gives_more_diverse_sequences():
    prior = tiny_prior(K=16, seed=2)
    distinct = []
    for T in ("argmax", 0.5, 1.0, 2.0):
        codes = G.sample_codes(prior, 400, temperature=T, seed=0)
        distinct.append(len({row.tobytes() for row in codes}))
    # argmax: a function of z_0, so at most K distinct sequences; then strictly more with temperature
    assert distinct[0] <= 16
    assert distinct[0] < distinct[1] <= distinct[2] <= distinct[3]
    assert distinct[3] == 400


def _argmax_consistent(prior, codes) -> np.ndarray:
    """(b, t-1) bool: code i equals the prior's argmax given codes 0..i-1 (teacher-forced, one call)."""
    with torch.no_grad():
        pred = prior(torch.as_tensor(codes)).argmax(-1).numpy()
    return pred[:, :-1] == codes[:, 1:]


def test_argmax_sampling_is_the_prior_argmax_and_deterministic():
    prior = tiny_prior(K=16, seed=4)
    a = G.sample_codes(prior, 64, temperature="argmax", seed=0)
    b = G.sample_codes(prior, 64, temperature="argmax", seed=99)
    assert _argmax_consistent(prior, a).all()
    # given z_0 the whole sequence is fixed: rows with the same first code are equal, across seeds too
    for z0 in set(a[:, 0]) & set(b[:, 0]):
        rows = np.concatenate([a[a[:, 0] == z0], b[b[:, 0] == z0]])
        assert (rows == rows[0]).all()


def test_same_seed_same_codes_other_seed_other_codes():
    prior = tiny_prior(K=16, seed=5)
    a = G.sample_codes(prior, 50, temperature=1.0, seed=7)
    b = G.sample_codes(prior, 50, temperature=1.0, seed=7)
    c = G.sample_codes(prior, 50, temperature=1.0, seed=8)
    assert (a == b).all() and not (a == c).all()
    # a generator given directly is used as is
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert (G.sample_codes(prior, 50, generator=g1) == G.sample_codes(prior, 50, generator=g2)).all()
    assert (G.sample_codes(prior, 50, seed=7, batch_size=50) == a).all()  # default batch holds all 50 too


def test_manipulation_after_copies_bar_1_onto_bar_5():
    prior = tiny_prior(K=16, seed=6)
    plain = G.sample_codes(prior, 64, temperature=1.0, seed=3)
    copied = G.sample_codes(prior, 64, temperature=1.0, seed=3, copy="paper", mode="after")
    # the copied steps of bar 5 equal bar 1's; nothing else changed (same draws, copy applied afterwards)
    assert (copied[:, 16:18] == copied[:, 0:2]).all()
    assert (np.delete(copied, [16, 17], axis=1) == np.delete(plain, [16, 17], axis=1)).all()
    # a whole-bar form: bars 3, 5, 7 equal bar 1 and bars 4, 6, 8 equal bar 2
    form = G.sample_codes(prior, 64, temperature=1.5, seed=3, copy="ABAB ABAB")
    bars = form.reshape(64, 8, 4)
    assert (bars[:, [2, 4, 6]] == bars[:, [0]]).all() and (bars[:, [3, 5, 7]] == bars[:, [1]]).all()


def test_manipulation_condition_forces_the_copies_while_sampling():
    prior = tiny_prior(K=16, seed=6)
    cond = G.sample_codes(prior, 128, temperature="argmax", seed=3, copy="paper", mode="condition")
    after = G.sample_codes(prior, 128, temperature="argmax", seed=3, copy="paper", mode="after")
    assert (cond[:, 16:18] == cond[:, 0:2]).all() and (after[:, 16:18] == after[:, 0:2]).all()
    ok_cond = _argmax_consistent(prior, cond)
    ok_after = _argmax_consistent(prior, after)
    # position i of ok_* says whether code i+1 is the prior's argmax given codes 0..i
    free = [i for i in range(31) if i + 1 not in (16, 17)]
    # condition: every free step (18 included) continues the copied codes
    assert ok_cond[:, free].all()
    # after: step 18 was sampled given the original codes at 16, 17, so somewhere it does not continue the copy
    assert not ok_after[:, 17].all()
    # both agree before the first copied step
    assert (cond[:, :16] == after[:, :16]).all()


# ---------------------------------------------------------------------------------------------------------
# generate(): VQ-VAE and the continuous VAEs


def test_generate_vqvae_shapes_seeding_and_codes():
    vq, prior = tiny_vqvae(K=16), tiny_prior(K=16)
    a = G.generate(vq, 10, prior=prior, temperature=1.0, seed=0, batch_size=4, progress=False)
    assert isinstance(a.rolls, PackedRolls) and len(a) == 10
    assert a.loops.shape == (10, 128, 93) and a.loops.dtype == bool
    assert a.codes.shape == (10, 32) and a.codes.min() >= 0 and a.codes.max() < 16
    b = G.generate(vq, 10, prior=prior, temperature=1.0, seed=0, batch_size=4, progress=False)
    assert (a.rolls.packed == b.rolls.packed).all() and (a.codes == b.codes).all()
    # the loops are the codes decoded and thresholded
    assert (S.decode_codes(vq, a.codes) == a.loops).all()
    with torch.no_grad():
        direct = torch.sigmoid(vq.decode_codes(torch.as_tensor(a.codes))) >= 0.5
    assert (direct.numpy() == a.loops).all()
    assert a.settings["label"] == "temp 1" and a.settings["model"] == "vq_vae"
    m = G.generate(vq, 6, prior=prior, temperature=2, copy="paper", seed=1, progress=False)
    assert (m.codes[:, 16:18] == m.codes[:, :2]).all() and m.settings["copy"]["pairs"] == [[0, 16], [1, 17]]


@pytest.mark.parametrize("name", ["ar_lstm_vae", "nonar_lstm_vae", "cnn_vae"])
def test_generate_continuous_models(name):
    torch.manual_seed(0)
    model = build_model(name, profile="smoke").eval()
    a = G.generate(model, 5, seed=3, progress=False)
    b = G.generate(model, 5, seed=3, progress=False)
    assert a.loops.shape == (5, 128, 93) and a.codes is None
    assert (a.rolls.packed == b.rolls.packed).all()
    # z ~ N(0, I) from the seeded generator, decoded and thresholded
    z = torch.randn((5, model.latent_dim), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = (torch.sigmoid(model.decode(z)) >= 0.5).numpy()
    assert (expected == a.loops).all()
    with pytest.raises(ValueError, match="temperature applies"):
        G.generate(model, 2, temperature=1.5, progress=False)
    with pytest.raises(ValueError, match="latent manipulation"):
        G.generate(model, 2, copy="paper", progress=False)


def test_generate_refuses_bad_requests():
    vq = tiny_vqvae(K=16)
    with pytest.raises(ValueError, match="pass prior="):
        G.generate(vq, 2, progress=False)
    with pytest.raises(ValueError, match="not trained together"):
        G.generate(vq, 2, prior=tiny_prior(K=8), progress=False)
    with pytest.raises(ValueError, match="at least 1"):
        G.generate(vq, 0, prior=tiny_prior(K=16), progress=False)
    with pytest.raises(ValueError, match="mode must be"):
        G.generate(vq, 2, prior=tiny_prior(K=16), copy="paper", mode="before", progress=False)
    with pytest.raises(ValueError, match="move it first"):
        G.generate(vq, 2, prior=tiny_prior(K=16), device="cuda", progress=False)


# ---------------------------------------------------------------------------------------------------------
# one request, validated once where it enters (SamplingRequest)


def test_a_request_is_what_its_values_ask_and_refuses_what_a_model_cannot_do():
    r = L.SamplingRequest.of("argmax", "paper", "condition")
    assert r.temperature == 0.0 and r.label == "argmax" and r.copy.pairs == ((0, 16), (1, 17))
    assert r.forced == {16: 0, 17: 1} and L.SamplingRequest.of(1.5, "paper").forced == {}
    codes = np.arange(64).reshape(2, 32)
    assert (L.SamplingRequest.of(1, "paper").after(codes)[:, 16:18] == codes[:, :2]).all()
    assert (r.after(codes) == codes).all()  # "condition" forces the copies while sampling, not after
    assert L.SamplingRequest.of(1, "ABAB ABAB", latent_steps=16, span=1).copy.pairs[0] == (0, 4)
    for kwargs, message in [({"model": "cnn_vae", "temperature": 2}, "temperature applies"),
                            ({"model": "ar_lstm_vae", "copy": "paper"}, "latent manipulation"),
                            ({"copy": None, "span": 2}, "a span chooses"),
                            ({"mode": "before"}, "mode must be"),
                            ({"temperature": "hot"}, "temperature must be")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            L.SamplingRequest.of(**kwargs)
    with pytest.raises(ValueError, match="parsed float"):
        L.SamplingRequest("2")  # built directly, a request holds parsed values only
    with pytest.raises(ValueError, match="not both"):
        L.SamplingRequest.given(r, temperature=2.0)
    with pytest.raises(ValueError, match="past t = 8"):
        L.SamplingRequest.given(r, latent_steps=8)
    prior, codes = tiny_prior(K=16), np.zeros((2, 32), dtype=np.int64)
    redrawn = L.resample_steps(prior, codes, [0, 1], request=L.SamplingRequest.of(0), seed=1)
    assert (redrawn == L.resample_steps(prior, codes, [0, 1], "argmax", seed=1)).all()
    with pytest.raises(ValueError, match="mode is 'condition'"):  # resampling forces its copies
        L.resample_steps(prior, codes, [0], request=L.SamplingRequest.of(1, "paper", "after"))


def test_a_request_gives_the_loops_its_values_give():
    vq, prior = tiny_vqvae(K=16), tiny_prior(K=16)
    for t, copy, mode in [(1.0, None, "after"), ("argmax", "paper", "after"), (2, "ABAB ABCD", "condition")]:
        raw = G.generate(vq, 6, prior=prior, temperature=t, copy=copy, mode=mode, seed=4, progress=False)
        typed = G.generate(vq, 6, prior=prior, request=L.SamplingRequest.of(t, copy, mode), seed=4, progress=False)
        assert (raw.codes == typed.codes).all() and (raw.rolls.packed == typed.rolls.packed).all()
        assert raw.settings["copy"] == typed.settings["copy"] and raw.settings["label"] == typed.settings["label"]


def test_loopkit_generate_parses_its_temperature_and_form_once(runs, tmp_path, monkeypatch):
    """Issue 26: the temperature was parsed four times and the copy three on the way down; now once, where the
    request enters (``generate_to_folder``), and passed down whole."""
    calls = {"temperature": 0, "copy": 0, "mode": 0}

    def counting(key, fn):
        def wrapped(*args, **kwargs):
            calls[key] += 1
            return fn(*args, **kwargs)

        return wrapped

    import loopkit.outputs.sample_folder  # noqa: F401  (loaded before its names are counted)

    for key, fn in (("temperature", S.parse_temperature), ("mode", L.check_mode)):
        wrapped = counting(key, fn)
        for module in [m for name, m in sys.modules.items() if name.startswith("loopkit.")]:
            if getattr(module, fn.__name__, None) is fn:  # every module that imported it by name
                monkeypatch.setattr(module, fn.__name__, wrapped)
    parse = L.LatentCopy.parse.__func__
    monkeypatch.setattr(L.LatentCopy, "parse", classmethod(counting("copy", parse)))
    assert cli.main(["generate", "--checkpoint", str(runs / "prior" / "best.pt"), "--out", str(tmp_path / "o"),
                     "-n", "3", "--temperature", "1.5", "--form", "ABAB ABCD", "--mode", "condition",
                     "--no-png"]) == 0  # fmt: skip
    assert calls == {"temperature": 1, "copy": 1, "mode": 2}  # the mode: once parsed, once the request's own check
    settings = json.loads((tmp_path / "o" / "generate.json").read_text())["request"]
    assert settings["temperature"] == 1.5 and settings["mode"] == "condition" and len(settings["copy"]["pairs"]) == 16


def test_generated_save_and_load_round_trip(tmp_path):
    vq, prior = tiny_vqvae(K=16), tiny_prior(K=16)
    gen = G.generate(vq, 4, prior=prior, temperature="argmax", seed=0, progress=False)
    path = gen.save(tmp_path / "loops.npz")
    back = G.Generated.load(path)
    assert (back.rolls.packed == gen.rolls.packed).all() and (back.codes == gen.codes).all()
    assert back.settings["temperature"] == 0.0 and back.settings["label"] == "argmax"
    with pytest.raises(FileNotFoundError):
        G.Generated.load(tmp_path / "missing.npz")


# ---------------------------------------------------------------------------------------------------------
# `loopkit generate`, end to end, and the MIDI files read back with mido


def expected_notes(roll):
    """The notes a roll plays (the paper's playback rules), computed here step by step: sorted tuples
    (kind, midi note, first step, end step)."""
    notes = []
    steps = roll.shape[0]
    for col in range(N_BASS):
        t = 0
        while t < steps:
            if roll[t, col]:
                start = t
                while t < steps and roll[t, col]:
                    t += 1
                notes.append(("bass", BASS_LOWEST_PITCH + col, start, t))
            else:
                t += 1
    for i, name in enumerate(DRUM_COMPONENTS):
        for t in np.flatnonzero(roll[:, N_BASS + i]):
            notes.append(("drums", DRUM_PLAYBACK_NOTE[name], int(t), int(t) + 1))
    return sorted(notes)


def mido_notes(path):
    """Notes of a MIDI file parsed with mido: sorted (kind, note, first step, end step), plus what the tracks say."""
    mid = mido.MidiFile(path)
    step = mid.ticks_per_beat // 4
    notes, info = [], {"tracks": [], "programs": {}, "tempo": None, "velocities": {}}
    for track in mid.tracks:
        now, name, pending = 0, None, {}
        for msg in track:
            now += msg.time
            if msg.type == "track_name":
                name = msg.name
                info["tracks"].append(name)
            elif msg.type == "set_tempo":
                info["tempo"] = mido.tempo2bpm(msg.tempo)
            elif msg.type == "program_change":
                info["programs"][msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                pending.setdefault((msg.channel, msg.note), []).append(now)
                info["velocities"].setdefault(msg.channel, set()).add(msg.velocity)
            elif msg.type in ("note_off", "note_on"):
                start = pending[(msg.channel, msg.note)].pop(0)  # FIFO: the earliest open note ends first
                kind = "drums" if msg.channel == 9 else "bass"
                assert start % step == 0 and now % step == 0
                notes.append((kind, msg.note, start // step, now // step))
    return sorted(notes), info


def test_cli_generate_end_to_end(runs, tmp_path, capsys):
    out = tmp_path / "gen"
    args = ["generate", "--checkpoint", str(runs / "prior" / "best.pt"), "-n", "3", "--temperature", "1.5",
            "--form", "paper", "--bpm", "96", "--seed", "5", "--out", str(out)]  # fmt: skip
    assert cli.main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    for i in range(3):
        assert f"loop_{i:04d}.mid" in names and f"loop_{i:04d}.png" in names
    assert "loops.npz" in names and "generate.json" in names
    gen = G.Generated.load(out / "loops.npz")
    assert len(gen) == 3 and (gen.codes[:, 16:18] == gen.codes[:, :2]).all()
    settings = json.loads((out / "generate.json").read_text())
    assert settings["complete"] and settings["request"]["temperature"] == 1.5 and settings["request"]["bpm"] == 96
    assert settings["request"]["copy"]["pairs"] == [[0, 16], [1, 17]]
    # the same request through the library gives the same loops
    vq, prior = C.load_generator(runs / "prior" / "best.pt")
    lib = G.generate(vq, 3, prior=prior, temperature=1.5, copy="paper", seed=5, progress=False)
    assert (lib.rolls.packed == gen.rolls.packed).all()
    # every MIDI file, parsed with mido, plays exactly the loop's notes
    for i in range(3):
        notes, info = mido_notes(out / f"loop_{i:04d}.mid")
        assert notes == expected_notes(gen.rolls[i])
        assert info["tracks"] == ["Bass", "Drums"]
        assert info["tempo"] == pytest.approx(96)
        bass_channels = [c for c in info["programs"] if c != 9]
        assert [info["programs"][c] for c in bass_channels] == [BASS_PLAYBACK_PROGRAM]
        if any(n[0] == "bass" for n in notes):
            assert info["velocities"][bass_channels[0]] == {BASS_VELOCITY}
        if any(n[0] == "drums" for n in notes):
            assert info["velocities"][9] == {DRUM_VELOCITY}
    png = out / "loop_0000.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    # re-running the same request keeps the files; another request into the same folder is refused
    before = (out / "loop_0001.mid").stat().st_mtime_ns
    assert cli.main(args) == 0
    assert (out / "loop_0001.mid").stat().st_mtime_ns == before
    capsys.readouterr()
    assert cli.main(args[:-2] + ["--seed", "6", "--out", str(out)]) == 2
    assert "other settings (generate.json: seed: 5 -> 6)" in capsys.readouterr().err
    # the same checkpoints moved elsewhere (same digests) reuse the folder
    import shutil

    moved = tmp_path / "moved"
    for name in ("vq_vae", "prior"):
        shutil.copytree(runs / name, moved / name)
    assert cli.main(["generate", "--checkpoint", str(moved / "prior" / "best.pt")] + args[3:]) == 0
    assert (out / "loop_0001.mid").stat().st_mtime_ns == before


def test_cli_generate_continuous_with_audio(runs, tmp_path):
    from loopkit.outputs.audio import decode_ogg

    out = tmp_path / "cnn"
    assert cli.main(["generate", "--checkpoint", str(runs / "cnn_vae" / "best.pt"), "-n", "1", "--audio",
                     "--no-png", "--out", str(out)]) == 0  # fmt: skip
    assert (out / "loop_0000.mid").exists() and not (out / "loop_0000.png").exists()
    settings = json.loads((out / "generate.json").read_text())
    gen = G.Generated.load(out / "loops.npz")
    if gen.loops[0].any():
        audio, sr = decode_ogg(out / "loop_0000.ogg")
        assert sr == 44_100 and np.sqrt(np.mean(audio**2)) > 1e-3
    else:  # a silent loop has nothing to render; it is listed, not an error
        assert settings["audio_skipped"] == ["loop_0000"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--temperature", "hot"], "temperature"),
        (["--form", "ABC"], "names 3 bars"),
        (["-n", "0"], "at least 1"),
        (["--bpm", "-5"], "bpm"),
        (["--mode", "sideways", "--form", "paper"], "mode must be"),
        (["--span", "2"], "--span"),
        (["--form", "ABAB ABAB", "--span", "9"], "span must lie"),
    ],
)
def test_cli_generate_bad_input_is_one_line(runs, tmp_path, capsys, extra, message):
    args = ["generate", "--checkpoint", str(runs / "prior" / "best.pt"), "--out", str(tmp_path / "x")] + extra
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("loopkit generate: error:") and message in err and "\n" not in err


def test_cli_generate_missing_checkpoint(tmp_path, capsys):
    assert cli.main(["generate", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_cli_generate_vqvae_needs_prior(runs, tmp_path, capsys):
    assert cli.main(["generate", "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--out", str(tmp_path / "o")]) == 2
    assert "prior" in capsys.readouterr().err
    assert cli.main(["generate", "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--prior",
                     str(runs / "prior" / "best.pt"), "-n", "2", "--no-png", "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    assert math.isclose(json.loads((tmp_path / "o" / "generate.json").read_text())["request"]["temperature"], 1.0)
