"""Generation (loopkit.generate, `loopkit generate`): sampling rules, temperature, seeding, latent manipulation,
checkpoint loading, and MIDI files read back with mido (a parser independent of the writer's symusic)."""

import json
import math
import shutil
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from loopkit import cli
from loopkit import generate as G
from loopkit.config import model_config
from loopkit.dataset import PackedRolls
from loopkit.models import LSTMPrior, build_model
from loopkit.pianoroll import (
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
# fixtures: tiny models, hand-set priors, smoke checkpoints


def tiny_prior(K=16, t=32, seed=0) -> LSTMPrior:
    torch.manual_seed(seed)
    prior = LSTMPrior(config=model_config("prior", "smoke", codebook_size=K, latent_steps=t)).eval()
    prior.first_code_counts.fill_(1.0)
    return prior


def constant_prior(bias, first_counts=None) -> LSTMPrior:
    """A prior whose next-code logits are ``bias`` at every step, whatever came before (output weights zero)."""
    bias = torch.as_tensor(bias, dtype=torch.float32)
    prior = tiny_prior(K=len(bias))
    with torch.no_grad():
        prior.output.weight.zero_()
        prior.output.bias.copy_(bias)
        prior.first_code_counts.copy_(torch.ones(len(bias)) if first_counts is None else torch.as_tensor(first_counts))
    return prior


def tiny_vqvae(K=16, seed=0):
    torch.manual_seed(seed)
    return build_model("vq_vae", model_config("vq_vae", "smoke", codebook_size=K)).eval()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Smoke-profile VQ-VAE + prior (and a CNN-VAE) trained on 48 synthetic loops: about two seconds."""
    from loopkit.train import synthetic_dataset, train, train_prior

    root = tmp_path_factory.mktemp("runs")
    data = synthetic_dataset(48, seed=3)
    train("vq_vae", data, "smoke", root / "vq_vae", progress=False)
    train_prior(root / "vq_vae" / "best.pt", data, "smoke", root / "prior", progress=False)
    train("cnn_vae", data, "smoke", root / "cnn_vae", progress=False)
    return root


# ---------------------------------------------------------------------------------------------------------
# temperature


def test_parse_temperature():
    assert G.parse_temperature("argmax") == 0.0
    assert G.parse_temperature(" Argmax ") == 0.0
    assert G.parse_temperature(0) == 0.0
    assert G.parse_temperature("1.5") == 1.5
    assert G.parse_temperature(2) == 2.0
    for bad in ("hot", -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            G.parse_temperature(bad)
    assert [G.temperature_label(t) for t in ("argmax", 1, 1.5, 2.0)] == ["argmax", "temp 1", "temp 1.5", "temp 2"]


# ---------------------------------------------------------------------------------------------------------
# latent manipulation plans


def test_paper_preset_is_latent_steps_0_1_onto_16_17():
    plan = G.LatentCopy.paper(32)
    assert plan.pairs == ((0, 16), (1, 17))
    assert plan.name == "paper"
    assert G.LatentCopy.parse("paper", 32) == plan
    # t = 64 (Table 2's other size): bars are 8 latent steps, half a bar is 4
    assert G.LatentCopy.paper(64).pairs == ((0, 32), (1, 33), (2, 34), (3, 35))
    assert plan.describe() == "paper: latent steps 0->16, 1->17"


def test_bar_forms_copy_the_first_bar_of_each_letter():
    # ABAB ABCD at t = 32 (4 latent steps a bar): bar 3 <- bar 1, bar 4 <- bar 2, bar 5 <- bar 1, bar 6 <- bar 2
    plan = G.LatentCopy.from_form("ABAB ABCD", 32)
    expected = []
    for src_bar, dst_bar in [(0, 2), (1, 3), (0, 4), (1, 5)]:
        expected += [(4 * src_bar + j, 4 * dst_bar + j) for j in range(4)]
    assert plan.pairs == tuple(sorted(expected, key=lambda p: p[1]))
    # the paper's notation with dashes, lower case: the same plan
    assert G.LatentCopy.from_form("a-b-a-b-a-b-c-d", 32).pairs == plan.pairs
    # AABA AABA with span 1: the first latent step of bars 2, 4, 5, 6, 8 from bar 1, of bar 7 from bar 3
    plan = G.LatentCopy.from_form("AABA AABA", 32, span=1)
    assert plan.pairs == ((0, 4), (0, 12), (0, 16), (0, 20), (8, 24), (0, 28))
    # free bars are left alone; the paper's case written as a form
    assert G.LatentCopy.from_form("A???A???", 32, span=2).pairs == ((0, 16), (1, 17))
    assert G.LatentCopy.from_form("ABCD EFGH", 32).pairs == ()
    assert G.LatentCopy.parse("none", 32) is None and G.LatentCopy.parse(None, 32) is None


@pytest.mark.parametrize(
    "form, span, message",
    [("ABAB ABC", None, "names 7 bars"), ("ABAB ABC1", None, "only letters"), ("AAAA AAAA", 5, "span must lie"),
     ("AAAA AAAA", 0, "span must lie")],  # fmt: skip
)
def test_bad_forms_are_refused(form, span, message):
    with pytest.raises(ValueError, match=message):
        G.LatentCopy.from_form(form, 32, span=span)


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="multiple of 8"):
        G.LatentCopy.paper(12)
    with pytest.raises(ValueError, match="earlier step onto a later"):
        G.LatentCopy(((5, 3),))
    with pytest.raises(ValueError, match="target of two"):
        G.LatentCopy(((0, 5), (1, 5)))
    with pytest.raises(ValueError, match="past t = 16"):
        G.LatentCopy.paper(32).apply(np.zeros((2, 16), dtype=int))
    with pytest.raises(ValueError, match="fixes its span"):
        G.LatentCopy.parse("paper", 32, span=1)


def test_apply_copies_in_target_order_numpy_and_torch():
    codes = np.arange(2 * 32).reshape(2, 32)
    out = G.LatentCopy.paper(32).apply(codes)
    assert out[0, 16] == 0 and out[0, 17] == 1 and out[1, 16] == 32 and out[1, 17] == 33
    changed = np.flatnonzero((out != codes).any(axis=0))
    assert changed.tolist() == [16, 17]
    assert codes[0, 16] == 16  # the input is not modified
    # a chain: 0 -> 4 and 4 -> 8 leaves step 8 with step 0's code
    chain = G.LatentCopy(((4, 8), (0, 4))).apply(torch.arange(32)[None])
    assert chain[0, 8].item() == 0 and chain[0, 4].item() == 0


# ---------------------------------------------------------------------------------------------------------
# sampling from the prior


def test_sample_categorical_matches_the_probabilities():
    gen = torch.Generator().manual_seed(0)
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2])
    draws = G.sample_categorical(probs.expand(40_000, -1), gen)
    freq = np.bincount(draws.numpy(), minlength=4) / 40_000
    assert freq[1] == 0  # a zero-probability index is never drawn
    assert freq == pytest.approx([0.5, 0.0, 0.3, 0.2], abs=0.01)
    # unnormalised rows are normalised
    draws = G.sample_categorical(torch.tensor([[0.0, 3.0, 1.0]]).expand(20_000, -1), gen)
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
    assert (G.decode_codes(vq, a.codes) == a.loops).all()
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
# Figure 5's code sequences


def test_frequent_code_sequences_hand_computed():
    # 5 sequences of t = 2 codes, K = 4
    idx = np.array([[1, 3], [1, 3], [1, 2], [2, 0], [0, 0]])
    # step 0: counts (code 0: 1, 1: 3, 2: 1) -> most 1, second 0 (tie 0/2 -> smaller), least 0, second least 2
    # step 1: counts (0: 2, 2: 1, 3: 2)     -> most 0 (tie 0/3), second 3, least 2, second least 0
    seqs = G.frequent_code_sequences(idx, K=4)
    assert [list(v) for v in seqs.values()] == [[1, 0], [0, 3], [0, 2], [2, 0]]
    # a step with a single used code falls back to rank 0 for the second rank
    seqs = G.frequent_code_sequences(np.array([[1, 2], [1, 3]]), K=4)
    assert list(seqs["(b) second most frequent"]) == [1, 3]


def test_decode_frequent_codes_decodes_each_panel():
    vq = tiny_vqvae(K=16)
    idx = np.random.default_rng(0).integers(0, 16, size=(40, 32))
    out = G.decode_frequent_codes(vq, idx)
    assert list(out) == [p[0] for p in G.FREQUENT_PANELS]
    for codes, roll in out.values():
        assert codes.shape == (32,) and roll.shape == (128, 93)
        assert (G.decode_codes(vq, codes[None])[0] == roll).all()


# ---------------------------------------------------------------------------------------------------------
# checkpoints


def test_load_generator_finds_the_prior_s_vqvae(runs, tmp_path):
    vq, prior = G.load_generator(runs / "prior" / "best.pt")
    assert G.model_name(vq) == "vq_vae" and G.model_name(prior) == "prior"
    vq2, prior2 = G.load_generator(runs / "vq_vae" / "best.pt", prior=runs / "prior" / "best.pt")
    assert G.model_name(vq2) == "vq_vae"
    model, none = G.load_generator(runs / "cnn_vae" / "best.pt")
    assert G.model_name(model) == "cnn_vae" and none is None
    with pytest.raises(ValueError, match="pass the prior's checkpoint"):
        G.load_generator(runs / "vq_vae" / "best.pt")
    with pytest.raises(ValueError, match="takes no --prior"):
        G.load_generator(runs / "cnn_vae" / "best.pt", prior=runs / "prior" / "best.pt")
    # the runs folder moved: the VQ-VAE is found beside the prior as ../vq_vae/best.pt
    moved = tmp_path / "moved"
    shutil.copytree(runs, moved)
    recorded = runs / "vq_vae" / "best.pt"
    hidden = recorded.with_name("hidden.pt")
    recorded.rename(hidden)
    try:
        vq3, _ = G.load_generator(moved / "prior" / "best.pt")
        assert Path(vq3.checkpoint["path"]) == moved / "vq_vae" / "best.pt"
        # other VQ-VAE weights are refused
        other = tmp_path / "other.pt"
        shutil.copy(runs / "cnn_vae" / "best.pt", other)
        with pytest.raises(ValueError, match="other VQ-VAE weights"):
            G.load_generator(moved / "prior" / "best.pt", vqvae=other)
        (moved / "vq_vae" / "best.pt").unlink()
        with pytest.raises(FileNotFoundError, match="--vqvae"):
            G.load_generator(moved / "prior" / "best.pt")
    finally:
        hidden.rename(recorded)


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
    vq, prior = G.load_generator(runs / "prior" / "best.pt")
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
    assert "other settings" in capsys.readouterr().err


def test_cli_generate_continuous_with_audio(runs, tmp_path):
    from loopkit.audio import decode_ogg

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


# --- editing code sequences (notebook 3's tweakable cells) ------------------------------------------------


def test_bar_steps_and_swap_bars():
    assert G.bar_steps(0) == [0, 1, 2, 3] and G.bar_steps(4) == [16, 17, 18, 19]
    codes = np.arange(64).reshape(2, 32)
    swapped = G.swap_bars(codes, 1, 2)
    assert swapped[0, 4:8].tolist() == [8, 9, 10, 11] and swapped[0, 8:12].tolist() == [4, 5, 6, 7]
    assert np.array_equal(np.delete(swapped, range(4, 12), axis=1), np.delete(codes, range(4, 12), axis=1))
    assert codes[0, 4] == 4  # the input is not changed
    with pytest.raises(ValueError, match="bar must lie"):
        G.swap_bars(codes, 0, 8)


def test_single_code_sequence():
    assert G.single_code_sequence(7, 32).tolist() == [[7] * 32]
    with pytest.raises(ValueError, match="code must lie"):
        G.single_code_sequence(16, 32, codebook_size=16)


def test_resample_steps_keeps_the_other_codes_and_follows_the_prior():
    # a prior whose logits strongly prefer code 3 at every step: resampled steps become 3 (argmax), the rest stay
    bias = torch.full((16,), -10.0)
    bias[3] = 10.0
    prior = constant_prior(bias)
    codes = np.full((2, 32), 5)
    out = G.resample_steps(prior, codes, G.bar_steps(2), temperature="argmax")
    assert out[:, 8:12].tolist() == [[3] * 4] * 2
    assert (np.delete(out, range(8, 12), axis=1) == 5).all()
    # the same seed gives the same draw; sampling at temperature 1 still respects the kept codes
    a = G.resample_steps(prior, codes, [0, 31], temperature=1.0, seed=4)
    b = G.resample_steps(prior, codes, [0, 31], temperature=1.0, seed=4)
    assert np.array_equal(a, b) and (a[:, 1:31] == 5).all()
    with pytest.raises(ValueError, match="steps must lie"):
        G.resample_steps(prior, codes, [32])
