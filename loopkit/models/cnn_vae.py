"""The CNN-VAE (Music Continuous VAE section, appendix table (c)): conv_block / residual_block stacks, z of 512.

See ``loopkit.config.CNNVAEConfig`` for the layer sizes and the choices where the table is open.
"""

from __future__ import annotations

import torch
from torch import nn

from loopkit.config import CNNVAEConfig
from loopkit.errors import LoopkitError
from loopkit.models.blocks import ContinuousVAE, ResidualBlock, Upsample, conv_block, he_init


class CNNVAE(ContinuousVAE):
    """Convolutional VAE over steps t with the 93 columns as input channels; latent z (b, d = 512)."""

    name = "cnn_vae"
    amp_safe = True

    def __init__(self, config: CNNVAEConfig = CNNVAEConfig()):
        super().__init__()
        self.config = config
        c = config
        k, pad, s = c.kernel_size, c.kernel_size // 2, c.negative_slope
        layers = [conv_block(c.columns, c.channels, k, pad, 1, s)]
        for _ in range(c.encoder_downsamplings):
            layers += [conv_block(c.channels, c.channels, k, pad, 2, s), ResidualBlock(c.channels, k, s)]
        self.encoder = nn.Sequential(*layers)
        flat = c.channels * (c.steps >> c.encoder_downsamplings)
        self.to_mu = nn.Sequential(nn.Linear(flat, c.latent_dim), nn.LayerNorm(c.latent_dim))
        self.to_logvar = nn.Linear(flat, c.latent_dim)

        ups = c.steps // c.decoder_start_steps
        n_up = ups.bit_length() - 1
        if c.decoder_start_steps << n_up != c.steps:
            raise LoopkitError(f"steps {c.steps} must be decoder_start_steps {c.decoder_start_steps} times a power of 2")
        self.from_z = nn.Linear(c.latent_dim, c.channels * c.decoder_start_steps)
        dec = []
        for i in range(n_up):
            dec.append(Upsample(2))
            if i < n_up - 1:
                dec.append(ResidualBlock(c.channels, k, s))
        dec.append(nn.Conv1d(c.channels, c.columns, c.output_kernel_size, padding=c.output_kernel_size // 2))
        self.decoder = nn.Sequential(*dec)
        self.latent_dim = c.latent_dim
        he_init(self, slope=s)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, p) float -> mu, logvar, each (b, d)."""
        h = self.encoder(x.transpose(1, 2)).flatten(1)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (b, d) -> logits (b, t, p)."""
        h = self.from_z(z).view(z.shape[0], self.config.channels, self.config.decoder_start_steps)
        return self.decoder(h).transpose(1, 2)
