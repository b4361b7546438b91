"""The VQ-VAE's EMA quantiser: hand-computed EMA step, dead-code restarts, exact inverse, straight-through gradients."""

import pytest
import torch

from loopkit.config import model_config
from loopkit.models import VQVAE, EMAQuantizer


def _quantizer(embedding, cluster_size, **kw) -> EMAQuantizer:
    embedding = torch.tensor(embedding, dtype=torch.float32)
    q = EMAQuantizer(embedding.shape[0], embedding.shape[1], **kw)
    q.embedding.copy_(embedding)
    q.cluster_size.copy_(torch.tensor(cluster_size, dtype=torch.float32))
    q.embed_sum.copy_(embedding * q.cluster_size[:, None])
    return q


@pytest.mark.parametrize("eps", [1e-5, 0.5])  # the paper's smoothing, and a large one that shows the formula
def test_ema_update_matches_hand_computation(eps):
    # two codes e0 = (0, 0), e1 = (10, 10), each seen twice so far: N = (2, 2), m = (0 0; 20 20)
    q = _quantizer([[0.0, 0.0], [10.0, 10.0]], [2.0, 2.0], epsilon=eps)
    z = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [9.0, 9.0]]])  # (b=1, t=3, d=2)
    q.train()
    z_q, idx, commit = q(z)

    # nearest codes: (1,1) -> 0, (3,3) -> 0, (9,9) -> 1; z_q is the codebook *before* the update
    assert idx.tolist() == [[0, 0, 1]]
    assert torch.equal(z_q, torch.tensor([[[0.0, 0.0], [0.0, 0.0], [10.0, 10.0]]]))
    # commitment 0.25 * (1+1 + 9+9 + 1+1) = 5.5
    assert commit.item() == pytest.approx(5.5)

    # N = 0.99 * (2, 2) + 0.01 * (2, 1) = (2.0, 1.99); m0 = 0.01 * (4, 4); m1 = 0.99 * (20, 20) + 0.01 * (9, 9)
    assert q.cluster_size.tolist() == pytest.approx([2.0, 1.99])
    assert q.embed_sum.flatten().tolist() == pytest.approx([0.04, 0.04, 19.89, 19.89])
    # Laplace smoothing: N~_k = (N_k + eps) / (3.99 + 2 eps) * 3.99; e_k = m_k / N~_k
    n0 = (2.0 + eps) / (3.99 + 2 * eps) * 3.99
    n1 = (1.99 + eps) / (3.99 + 2 * eps) * 3.99
    assert q.embedding[0].tolist() == pytest.approx([0.04 / n0] * 2, rel=1e-6)
    assert q.embedding[1].tolist() == pytest.approx([19.89 / n1] * 2, rel=1e-6)
    assert q.last_dead.item() == 0


def test_eval_mode_never_moves_the_codebook():
    q = _quantizer([[0.0, 0.0], [10.0, 10.0]], [2.0, 2.0])
    before = {k: v.clone() for k, v in q.state_dict().items()}
    q.eval()
    q(torch.randn(4, 8, 2) * 5)
    for k, v in q.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_dead_codes_restart_from_encoder_outputs_with_reset_statistics():
    torch.manual_seed(0)
    # codes 2 and 3 sit far away with EMA counts 0.5 -> 0.495, below 0.2 x 5 vectors = 1: after one batch they are dead
    q = _quantizer([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0], [-100.0, -100.0]], [5.0, 5.0, 0.5, 0.5],
                   dead_share=0.2)
    z = torch.tensor([[[0.5, 0.0], [0.0, 0.5], [9.5, 10.0], [10.0, 9.5], [10.5, 10.0]]])
    q.train()
    q(z)
    rows = {tuple(r) for r in z[0].tolist()}
    assert q.last_dead.item() == 2
    for k in (2, 3):
        assert tuple(q.embedding[k].tolist()) in rows  # restarted from an encoder output of the batch
        assert q.cluster_size[k].item() == 1.0  # statistics reset to one observation of it
        assert torch.equal(q.embed_sum[k], q.embedding[k])
    # live codes follow the EMA: N = 0.99 * 5 + 0.01 * (2 or 3)
    assert q.cluster_size[:2].tolist() == pytest.approx([4.97, 4.98])
    assert q.embedding[0].abs().max().item() < 1 and 9 < q.embedding[1].min().item() < 11


@pytest.mark.parametrize("loops, dead", [(2048, [False, False, True, True]), (32, [False, False, False, True])])
def test_dead_code_rule_is_a_share_of_the_batch(loops, dead):
    """The paper's "EMA count < 1" at 2,048 loops x 32 latent steps is the share 1 / 65,536 of a batch.

    Hand-made EMA counts (after this batch's update, where none of these codes is used): 130 (a code in common
    use at batch 2,048), 2.5 (common at batch 32), 0.9 (below 1) and 0.01. At 2,048 loops the bar is 1 vector
    (0.9 and 0.01 are dead, the authors' rule); at 32 loops it is 1,024 / 65,536 = 1/64 of a vector (0.01 is
    dead: a code taking 0.9 of a batch's 1,024 vectors is in use, not dead)."""
    K, d, t = 4, 2, 32
    counts = torch.tensor([130.0, 2.5, 0.9, 0.01]) / 0.99  # the EMA multiplies by 0.99 before the check
    q = _quantizer([[0.0, 0.0], [1.0, 1.0], [50.0, 50.0], [-50.0, -50.0]], counts.tolist())
    assert q.dead_share == pytest.approx(1 / 65536)
    z = torch.zeros(loops, t, d)  # every vector takes code 0: the others get no new count
    q.train()
    q(z)
    assert q.last_dead.item() == sum(dead)
    restarted = (q.cluster_size == 1.0).tolist()
    assert restarted[1:] == dead[1:]


def test_first_batch_initialises_the_codebook_from_encoder_outputs():
    """Counts start at 0: after the first batch every code that took no vector is dead and restarts from an
    encoder output; a code that took some holds their (smoothed) mean. Either way the codebook moves from its
    random start (around 0) onto the batch (around 50)."""
    torch.manual_seed(1)
    q = EMAQuantizer(8, 3)
    z = torch.randn(2, 5, 3) + 50
    q.train()
    q(z)
    flat = z.reshape(-1, 3)
    rows = {tuple(r) for r in flat.tolist()}
    used = q.last_counts > 0
    assert all(tuple(e) in rows for e in q.embedding[~used].tolist())
    assert q.last_dead.item() == int((~used).sum())
    low, high = flat.min(0).values - 1e-4, flat.max(0).values + 1e-4
    assert bool(((q.embedding >= low) & (q.embedding <= high)).all())


def test_quantised_value_is_exactly_the_codebook_and_gradients_pass_straight_through():
    q = _quantizer([[0.0, 0.0], [10.0, 10.0]], [2.0, 2.0])
    q.eval()
    z = torch.tensor([[[1.0, 2.0], [8.0, 9.0]]], requires_grad=True)
    z_q, idx, commit = q(z)
    assert torch.equal(z_q, q.lookup(idx))  # exact, not z + (z_q - z)
    (z_q * torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])).sum().backward()
    assert torch.equal(z.grad, torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]))  # identity gradient


def test_codes_are_exact_float32_under_bf16_autocast():
    """The nearest-code search ignores autocast: codes with and without bf16 autocast are identical (a bf16
    distance would flip close calls, and OS/US compare code sequences exactly)."""
    torch.manual_seed(0)
    model = VQVAE(model_config("vq_vae", "smoke", codebook_size=64))
    x = (torch.rand(16, 128, 93) < 0.05).float()
    model.train()
    for _ in range(3):
        model(x)  # spread the codebook over real encoder outputs
    model.eval()
    q = model.quantizer
    z_e = model.encode(x).detach()
    z_e = z_e + 1e-3 * torch.randn_like(z_e)  # close calls
    plain = q.nearest(z_e)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = q.nearest(z_e)
        codes = model.codes(x)
    assert torch.equal(plain, mixed)
    assert torch.equal(codes, model.codes(x))


def test_loss_reduction_mean_divides_each_term_by_its_count():
    torch.manual_seed(0)
    x = (torch.rand(2, 128, 93) < 0.05).float()
    summed = VQVAE(model_config("vq_vae", "smoke"))
    mean = VQVAE(model_config("vq_vae", "smoke", loss_reduction="mean"))
    out = summed(x)
    c = summed.config
    assert summed.loss(out).item() == pytest.approx(out["recon"].item() + out["commit"].item())
    want = out["recon"].item() / (128 * 93) + out["commit"].item() / (c.latent_steps * c.latent_dim)
    assert mean.loss(out).item() == pytest.approx(want)
    with pytest.raises(ValueError, match="loss_reduction"):
        model_config("vq_vae", loss_reduction="max")


def test_vqvae_eval_output_equals_decode_of_its_indices():
    torch.manual_seed(0)
    model = VQVAE(model_config("vq_vae", "smoke"))
    x = (torch.rand(3, 128, 93) < 0.05).float()
    model.train()
    model(x)  # one training batch initialises the codebook
    model.eval()
    with torch.no_grad():
        out = model(x)
        codes = model.codes(x)
        assert torch.equal(out["indices"], codes)
        assert torch.equal(out["logits"], model.decode_codes(codes))
    assert torch.equal(model.reconstruct(x), torch.sigmoid(model.decode_codes(codes)) >= 0.5)


def test_reconstruction_gradient_reaches_the_encoder_through_the_quantiser():
    torch.manual_seed(0)
    model = VQVAE(model_config("vq_vae", "smoke"))
    model.train()
    x = (torch.rand(4, 128, 93) < 0.05).float()
    out = model(x)
    out["recon"].backward()  # the reconstruction term alone: only the straight-through path reaches the encoder
    first = model.encoder[0][0].weight.grad
    assert first is not None and first.abs().sum().item() > 0
    # the codebook is a buffer: no gradient, no codebook loss
    assert not any(name.startswith("quantizer") for name, _ in model.named_parameters())
