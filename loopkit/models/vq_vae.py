"""The Music VQ-VAE (Music VQ-VAE section, appendix table (d)): loops as t = 32 discrete codes from K = 512.

See ``loopkit.config.VQVAEConfig`` for the layer sizes and ``loopkit.models.quantizer`` for the codebook.
"""

from __future__ import annotations

import torch
from torch import nn

from loopkit.config import VQVAEConfig
from loopkit.errors import LoopkitError
from loopkit.models.numerics import exact_float32
from loopkit.models.blocks import ResidualBlock, Upsample, bce_per_loop, binarize, conv_block, he_init
from loopkit.models.quantizer import EMAQuantizer


def _downsamplings(steps: int, latent_steps: int) -> int:
    n = (steps // latent_steps).bit_length() - 1 if latent_steps > 0 else -1
    if latent_steps < 1 or latent_steps << n != steps:
        raise LoopkitError(f"latent_steps must be {steps} divided by a power of 2, got {latent_steps}")
    return n


class VQVAE(nn.Module):
    """Encoder (b, t=128, p) -> z_e (b, t', L) -> quantiser -> z_q (b, t', L) -> decoder -> logits (b, 128, p).

    Attributes: ``codebook_size`` (K), ``latent_steps`` (t'), ``latent_dim`` (L), ``quantizer``.
    """

    name = "vq_vae"
    amp_safe = True

    def __init__(self, config: VQVAEConfig = VQVAEConfig()):
        super().__init__()
        self.config = config
        c = config
        k, pad, s = c.kernel_size, c.kernel_size // 2, c.negative_slope
        n_down = _downsamplings(c.steps, c.latent_steps)
        enc = [
            conv_block(c.columns, c.embedding_channels, 1, 0, 1, s),  # the 1x1 "embedding" layer over pitch
            conv_block(c.embedding_channels, c.channels, 1, 0, 1, s),
        ]
        for _ in range(n_down):
            enc += [conv_block(c.channels, c.channels, k, pad, 2, s), ResidualBlock(c.channels, k, s)]
        enc += [conv_block(c.channels, c.latent_dim, k, pad, 1, s), ResidualBlock(c.latent_dim, k, s)]
        self.encoder = nn.Sequential(*enc)
        self.quantizer = EMAQuantizer(
            c.codebook_size, c.latent_dim, c.decay, c.epsilon, c.commitment, c.dead_code_share
        )
        dec = [conv_block(c.latent_dim, c.channels, k, pad, 1, s)]
        for _ in range(n_down):
            dec += [Upsample(2), ResidualBlock(c.channels, k, s)]
        dec += [
            conv_block(c.channels, c.embedding_channels, 1, 0, 1, s),
            nn.Conv1d(c.embedding_channels, c.columns, k, padding=pad),
        ]
        self.decoder = nn.Sequential(*dec)
        self.codebook_size = c.codebook_size
        self.latent_steps = c.latent_steps
        self.latent_dim = c.latent_dim
        he_init(self, slope=s)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (b, t, p) float -> z_e (b, t', L), before quantisation."""
        return self.encoder(x.transpose(1, 2)).transpose(1, 2)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """z_q (b, t', L) -> logits (b, t, p)."""
        return self.decoder(z_q.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> dict:
        """x (b, t, p) float -> dict(logits (b, t, p), recon, commit, indices (b, t')); see ``loss``."""
        z_q, indices, commit = self.quantizer(self.encode(x))
        logits = self.decode(z_q)
        return {"logits": logits, "recon": bce_per_loop(logits, x), "commit": commit, "indices": indices}

    def loss(self, out: dict, beta: float = 1.0) -> torch.Tensor:
        """Eq. (2) with the EMA codebook: BCE + commitment loss (beta is the VAEs' and is ignored here).

        ``out["recon"]`` is the BCE summed over a loop's cells and ``out["commit"]`` the commitment term summed
        over its t x L latent values (batch means); ``config.loss_reduction`` "mean" divides each by its count
        (see ``VQVAEConfig``)."""
        if self.config.loss_reduction == "mean":
            cells = out["logits"].shape[1] * out["logits"].shape[2]
            return out["recon"] / cells + out["commit"] / (self.latent_steps * self.latent_dim)
        return out["recon"] + out["commit"]

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """x (b, t, p) -> code indices (b, t') long. Never moves the codebook.

        Encoder and search run in IEEE float32 whatever autocast or TF32 setting is in force around the call
        (``loopkit.models.numerics.exact_float32``: autocast off, TF32 off for matmuls and cuDNN convolutions): a loop's
        codes (the prior's training data, compared exactly by OS and US) are the same on every device."""
        with exact_float32(x.device):
            return self.quantizer.nearest(self.encode(x.float()))

    def decode_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """The exact inverse of quantisation: indices (b, t') -> logits (b, t, p)."""
        return self.decode(self.quantizer.lookup(indices))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, bass_rule: str = "paper") -> torch.Tensor:
        """x (b, t, p) -> bool (b, t, p): decode_codes(codes(x)) thresholded at 0.5 (``binarize``'s rule)."""
        return binarize(self.decode_codes(self.codes(x)), bass_rule)
