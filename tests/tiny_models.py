"""Tiny models for the generation tests: smoke-sized VQ-VAEs and LSTM priors, some with hand-set logits."""

import torch

from loopkit.config import model_config
from loopkit.models import LSTMPrior, build_model


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
