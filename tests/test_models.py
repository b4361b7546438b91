"""The four models and the prior: shapes, loss terms by hand, full sampling, one-batch memorisation, the step API."""

import math

import numpy as np
import pytest
import torch

from loopkit.config import MODEL_NAMES, model_config
from loopkit.models import LSTMPrior, build_model
from loopkit.models.blocks import bce_per_loop, kl_per_loop, threshold
from loopkit.data.pianoroll import LOOP_STEPS, N_COLUMNS, bass_column, drum_column

B = 3


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(old)


def _x(b=B, density=0.05):
    return (torch.rand(b, LOOP_STEPS, N_COLUMNS) < density).float()


@pytest.mark.parametrize("profile", ["smoke", "paper"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shapes(name, profile):
    model = build_model(name, model_config(name, profile))
    assert model.config == model_config(name, profile)
    x = _x()
    out = model(x)
    assert out["logits"].shape == (B, LOOP_STEPS, N_COLUMNS)
    assert out["recon"].shape == () and model.loss(out, 0.5).shape == ()
    rec = model.reconstruct(x)
    assert rec.shape == (B, LOOP_STEPS, N_COLUMNS) and rec.dtype == torch.bool
    if name == "vq_vae":
        c = model.config
        assert model.encode(x).shape == (B, c.latent_steps, c.latent_dim)
        z_q, idx, commit = model.quantizer(model.encode(x))
        assert z_q.shape == (B, c.latent_steps, c.latent_dim) and idx.shape == (B, c.latent_steps)
        assert model.codes(x).shape == (B, model.latent_steps) and model.codes(x).dtype == torch.long
        assert model.decode_codes(idx).shape == (B, LOOP_STEPS, N_COLUMNS)
        assert (model.codebook_size, model.latent_steps) == (c.codebook_size, c.latent_steps)
    else:
        mu, logvar = model.encode(x)
        assert mu.shape == logvar.shape == (B, model.latent_dim)
        assert model.decode(mu).shape == (B, LOOP_STEPS, N_COLUMNS)
        assert out["kl"].shape == ()


def test_paper_latent_sizes():
    assert build_model("ar_lstm_vae").latent_dim == 128  # "LSTM models have latent size 128"
    assert build_model("nonar_lstm_vae").latent_dim == 128
    assert build_model("cnn_vae").latent_dim == 512  # "CNN models have 512 dimensions"
    vq = build_model("vq_vae")
    assert (vq.latent_steps, vq.latent_dim, vq.codebook_size) == (32, 16, 512)  # t x L = 512 = CNN-VAE's z


@pytest.mark.parametrize("t", [32, 64])
def test_vqvae_latent_steps_of_table2(t):
    model = build_model("vq_vae", model_config("vq_vae", "smoke", latent_steps=t))
    strided = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv1d) and m.stride == (2,)]
    assert len(strided) == {32: 2, 64: 1}[t]  # for t = 64 the encoder downsamples once less
    assert model.codes(_x()).shape == (B, t)
    assert model.decode_codes(torch.zeros(B, t, dtype=torch.long)).shape == (B, LOOP_STEPS, N_COLUMNS)
    with pytest.raises(ValueError, match="latent_steps"):
        build_model("vq_vae", model_config("vq_vae", "smoke", latent_steps=48))


def test_loss_terms_by_hand():
    # zero logits: BCE = log 2 per cell, summed over 128 x 93 cells
    logits = torch.zeros(2, LOOP_STEPS, N_COLUMNS)
    assert bce_per_loop(logits, _x(2)).item() == pytest.approx(LOOP_STEPS * N_COLUMNS * math.log(2), rel=1e-6)
    # KL of N((1, 0), diag(1, 2)) from N(0, I): 0.5 * (1 + 1 - 1 - 0) + 0.5 * (2 - 1 - log 2)
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    assert kl_per_loop(mu, logvar).item() == pytest.approx(0.5 + 0.5 * (1 - math.log(2)), rel=1e-6)
    # the decision rule: sigmoid(logits) >= 0.5
    assert threshold(torch.tensor([-1e-3, 0.0, 1e-3])).tolist() == [False, True, True]


def test_continuous_vae_losses_combine_with_beta():
    model = build_model("cnn_vae", model_config("cnn_vae", "smoke"))
    out = model(_x())
    assert model.loss(out, 0.0).item() == pytest.approx(out["recon"].item())
    assert model.loss(out, 0.5).item() == pytest.approx(out["recon"].item() + 0.5 * out["kl"].item())


@pytest.mark.parametrize("init", ["direct", "projection"])
def test_ar_decoder_feeds_back_its_own_thresholded_outputs(init):
    hidden = {"direct": 8, "projection": 12}[init]
    model = build_model("ar_lstm_vae", model_config("ar_lstm_vae", "smoke", decoder_init=init,
                                                    decoder_hidden=hidden)).eval()
    z = torch.randn(B, model.latent_dim)
    with torch.no_grad():
        free = model.decode(z)  # full sampling, step by step
        # teacher forcing on the model's own thresholded output reproduces full sampling exactly
        forced = model._decode(z, threshold(free).float(), teacher_forcing=1.0)
        assert torch.allclose(free, forced, atol=1e-5)
        # scheduled sampling with ratio 0 is full sampling too, whatever the target
        assert torch.allclose(model._decode(z, _x(), teacher_forcing=0.0), free, atol=1e-5)


def test_ar_decoder_state_is_z_as_appendix_a_says():
    """Appendix A (a): "At time = 0, h, c = z" (the paper profile); 'projection' is the named deviation."""
    model = build_model("ar_lstm_vae")
    assert model.config.decoder_init == "direct" and model.config.decoder_hidden == model.latent_dim == 128
    z = torch.randn(B, 128)
    h, c = model.initial_state(z)
    assert torch.equal(h[0], z) and torch.equal(c[0], z) and not hasattr(model, "init_state")
    with pytest.raises(ValueError, match="decoder_hidden"):
        model_config("ar_lstm_vae", decoder_hidden=256)
    proj = build_model("ar_lstm_vae", model_config("ar_lstm_vae", decoder_init="projection", decoder_hidden=256))
    assert proj.initial_state(z)[0].shape == (1, B, 256)


@pytest.mark.parametrize("init", ["direct", "projection"])
def test_ar_cell_step_loop_equals_nn_lstm_step_by_step(init):
    """The explicit cell arithmetic of the step loop computes what nn.LSTM computes, step by step: the same
    logits (to float rounding) and thresholded outputs in full sampling and in scheduled sampling with the same
    coin flips, and the same gradients."""
    hidden = {"direct": 8, "projection": 12}[init]
    model = build_model("ar_lstm_vae", model_config("ar_lstm_vae", "smoke", decoder_init=init, decoder_hidden=hidden))
    x = _x()
    truth = torch.rand(B, LOOP_STEPS) < 0.7
    for target, flips in ((None, None), (x, truth), (x, torch.zeros_like(truth))):
        z = torch.randn(B, model.latent_dim, requires_grad=True)
        fast = model._step_cell(z, model.initial_state(z), target, flips)
        ref = model._step_lstm(z, model.initial_state(z), target, flips)
        assert torch.allclose(fast, ref, atol=1e-5)
        assert torch.equal(threshold(fast), threshold(ref))
        params = [z, model.decoder.weight_hh_l0, model.decoder.weight_ih_l0, model.output.weight]
        g_fast = torch.autograd.grad(fast.square().sum(), params)
        g_ref = torch.autograd.grad(ref.square().sum(), params)
        for a, b in zip(g_fast, g_ref):  # the same up to float32 rounding of sums taken in another order
            assert (a - b).norm() <= 1e-5 * b.norm()
    # the model uses the cell path for one layer and gives the reference's decoding
    with torch.no_grad():
        z = torch.randn(B, model.latent_dim)
        model.step_impl = "lstm"
        slow = model.decode(z)
        model.step_impl = "cell"
        assert torch.allclose(model.decode(z), slow, atol=1e-5)


def test_ar_scheduled_sampling_takes_the_truth_where_the_coin_says():
    """With every coin on "truth" scheduled sampling is teacher forcing; with every coin on "own" it is full
    sampling; a mixed draw gives logits between the two decodings step by step (the first differing step is
    the first own-output input that differs from the truth)."""
    model = build_model("ar_lstm_vae", model_config("ar_lstm_vae", "smoke")).eval()
    z, x = torch.randn(B, model.latent_dim), _x()
    with torch.no_grad():
        forced = model._decode(z, x, teacher_forcing=1.0)
        all_truth = model._decode(z, x, 0.5, truth=torch.ones(B, LOOP_STEPS, dtype=torch.bool))
        all_own = model._decode(z, x, 0.5, truth=torch.zeros(B, LOOP_STEPS, dtype=torch.bool))
        assert torch.allclose(all_truth, forced, atol=1e-5)
        assert torch.allclose(all_own, model.decode(z), atol=1e-5)
        mixed = torch.zeros(B, LOOP_STEPS, dtype=torch.bool)
        mixed[:, :10] = True  # steps 1..10 read the truth, later steps their own output
        out = model._decode(z, x, 0.5, truth=mixed)
        assert torch.allclose(out[:, :11], forced[:, :11], atol=1e-5)


def test_bass_rules_on_a_hand_made_probability_roll():
    """"paper": each bass pitch independently at 0.5; "sum": one note at the argmax when the pitch probabilities
    sum to >= 0.5. Drums are the same under both."""
    from loopkit.models.blocks import binarize
    from loopkit.data.pianoroll import BASS_COLUMNS

    q = torch.full((1, 4, N_COLUMNS), 0.01)
    lo, hi = bass_column(40), bass_column(43)
    q[0, 0, lo], q[0, 0, hi] = 0.3, 0.35  # unsure which pitch: sum 0.65 (+ 82 x 0.01)
    q[0, 1, lo], q[0, 1, hi] = 0.6, 0.7  # two pitches above 0.5: a duplicate bass under the paper's rule
    q[0, 2, BASS_COLUMNS] = 0.001  # silence: sum 0.084
    q[0, 3, lo] = 0.9
    q[0, :, drum_column("kick")] = torch.tensor([0.7, 0.2, 0.5, 0.49])
    logits = torch.logit(q)
    paper, summed = binarize(logits), binarize(logits, "sum")
    bass = lambda r, t: sorted(int(c) for c in torch.nonzero(r[0, t, BASS_COLUMNS])[:, 0] + BASS_COLUMNS.start)
    assert [bass(paper, t) for t in range(4)] == [[], [lo, hi], [], [lo]]
    assert [bass(summed, t) for t in range(4)] == [[hi], [hi], [], [lo]]
    assert torch.equal(paper[..., drum_column("kick")], summed[..., drum_column("kick")])
    assert paper[0, :, drum_column("kick")].tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="bass_rule"):
        binarize(logits, "max")


def _accent_batch() -> torch.Tensor:
    """4 loops that differ in bass pitch and ride; accents (kick, crash) on the first step only."""
    x = np.zeros((4, LOOP_STEPS, N_COLUMNS), dtype=bool)
    for i in range(4):
        x[i, :, bass_column(36 + 5 * i)] = True
        x[i, :, drum_column("closed_hihat")] = True
        x[i, 0, drum_column("kick")] = x[i, 0, drum_column("crash")] = True
        if i % 2 == 0:
            x[i, :, drum_column("ride")] = True
    return torch.from_numpy(x).float()


def _groove_batch() -> torch.Tensor:
    """The accent batch plus periodic drums: kick every 4 steps, hi-hat every 2, snare in two phases."""
    x = _accent_batch().numpy().astype(bool)
    x[:, :, drum_column("closed_hihat")] = False
    x[:, ::4, drum_column("kick")] = True
    x[:, ::2, drum_column("closed_hihat")] = True
    x[0::2, 4::8, drum_column("snare")] = True
    x[1::2, 2::8, drum_column("snare")] = True
    return torch.from_numpy(x).float()


# Small but not tiny sizes: memorising needs some capacity. The LSTM decoders learn periodic patterns from a
# constant input slowly (hundreds of steps), so they memorise the accent batch; the CNNs the groove batch.
_OVERFIT = {
    "ar_lstm_vae": (dict(encoder_hidden=32, decoder_hidden=64, latent_dim=64), _accent_batch, 200),
    "nonar_lstm_vae": (dict(encoder_hidden=32, decoder_hidden=64, latent_dim=16), _accent_batch, 200),
    "cnn_vae": (dict(channels=16, latent_dim=32), _groove_batch, 500),
    "vq_vae": (dict(channels=16, embedding_channels=32, latent_dim=8, codebook_size=32), _groove_batch, 500),
}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_one_batch_overfits_to_near_zero_reconstruction_error(name):
    sizes, batch, steps = _OVERFIT[name]
    model = build_model(name, model_config(name, **sizes))
    if hasattr(model, "encoder") and hasattr(model.encoder, "to_logvar"):
        # start with little sampling noise (log-variance -8): this checks memorisation, not the prior fit
        torch.nn.init.constant_(model.encoder.to_logvar.bias, -8.0)
    x = batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    errors = []
    for step in range(steps):
        model.train()
        loss = model.loss(model(x), beta=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 24:
            model.eval()
            errors.append((model.reconstruct(x) != x.bool()).float().mean().item())
            if errors[-1] == 0:
                break
    assert errors[0] > 1e-3  # it started far away ...
    assert errors[-1] < 5e-4, errors  # ... and ends below 6 wrong cells per loop (the paper's best: 3.02e-3)


def test_prior_step_api_equals_forward():
    prior = LSTMPrior(16, embedding_dim=8, hidden=12)
    assert prior.config.layers == 2 and prior.codebook_size == 16
    codes = torch.randint(0, 16, (3, 10))
    with torch.no_grad():
        full = prior(codes)
        assert full.shape == (3, 10, 16)
        state = prior.initial_state(3)
        for i in range(10):
            logits, state = prior.step(codes[:, i], state)
            assert torch.allclose(logits, full[:, i], atol=1e-5)


def test_prior_accuracy_and_first_code_distribution():
    prior = LSTMPrior(4, embedding_dim=4, hidden=4)
    assert torch.allclose(prior.first_code_probs(), torch.full((4,), 0.25))  # no counts stored yet: uniform
    prior.first_code_counts.copy_(torch.tensor([3.0, 0.0, 1.0, 0.0]))
    assert prior.first_code_probs().tolist() == [0.75, 0.0, 0.25, 0.0]
    # positions 1..3 of [0, 1, 2, 3] are predicted from positions 0..2: argmaxes 1, 0, 3 -> 2 of 3 right
    logits = torch.full((1, 4, 4), -5.0)
    for pos, k in enumerate([1, 0, 3, 2]):
        logits[0, pos, k] = 5.0
    ce, acc = LSTMPrior.loss_and_accuracy(logits, torch.tensor([[0, 1, 2, 3]]))
    assert acc.item() == pytest.approx(2 / 3)
    p_right = math.exp(5) / (math.exp(5) + 3 * math.exp(-5))
    p_wrong = math.exp(-5) / (math.exp(5) + 3 * math.exp(-5))
    assert ce.item() == pytest.approx(-(2 * math.log(p_right) + math.log(p_wrong)) / 3, rel=1e-5)


def test_he_initialisation():
    model = build_model("cnn_vae")  # paper sizes
    w = model.to_mu[0].weight  # Linear(1024 -> 512): N(0, 2 / (1 + 0.2^2) / 1024)
    assert w.std().item() == pytest.approx(math.sqrt(2 / 1.04 / 1024), rel=0.02)
    assert model.to_mu[0].bias.abs().sum().item() == 0


def test_nonar_position_input_is_the_step_in_its_bar():
    """The diagnosis decoder (not the paper's) reads z and a one-hot of the step within its bar at every step;
    the paper's decoder reads z alone, the same vector at all 128 steps."""
    from loopkit.config import NonARLSTMVAEConfig
    from loopkit.models.nonar_lstm_vae import NonARLSTMVAE

    seen, z = {}, torch.randn(2, 8)
    for on in (False, True):
        model = NonARLSTMVAE(NonARLSTMVAEConfig(latent_dim=8, decoder_hidden=4, encoder_hidden=4, position_input=on))
        model.decoder.register_forward_hook(lambda mod, args, out, on=on: seen.__setitem__(on, args[0]))
        assert model.decode(z).shape == (2, 128, 93)
    assert seen[False].shape == (2, 128, 8) and (seen[False] == seen[False][:, :1]).all()
    where = seen[True][..., 8:]
    assert seen[True].shape == (2, 128, 8 + 16) and torch.equal(seen[True][..., :8], seen[False])
    assert (where.sum(-1) == 1).all() and (where[0].argmax(-1) == torch.arange(128) % 16).all()


def test_the_copy_baseline_of_the_priors_accuracy_by_hand():
    from loopkit.models.prior import copy_accuracy

    codes = torch.tensor([[1, 2, 3, 4, 1, 2, 3, 9], [5, 5, 5, 5, 5, 5, 5, 5]])
    # lag 4: positions 4..7 of the first sequence copy 3 of 4 (9 != 4); the second copies all 4; out of 2 x 7
    assert copy_accuracy(codes, 4) == pytest.approx((3 + 4) / 14)
    assert copy_accuracy(codes, 1) == pytest.approx((0 + 7) / 14)
    with pytest.raises(ValueError, match="lag must lie in 1..7"):
        copy_accuracy(codes, 8)
