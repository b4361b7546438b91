"""The NonAR LSTM-VAE (Music Continuous VAE section, appendix table (b)): z repeated over all steps into an LSTM.

See ``loopkit.config.NonARLSTMVAEConfig`` for the layer sizes.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import NonARLSTMVAEConfig
from .blocks import LSTMEncoder, bce_per_loop, he_init, kl_per_loop, reparameterize, threshold


class NonARLSTMVAE(nn.Module):
    """Bi-LSTM encoder -> z (d = 128) -> repeat over t -> LSTM -> Linear -> logits (b, t, p)."""

    name = "nonar_lstm_vae"
    amp_safe = False

    def __init__(self, config: NonARLSTMVAEConfig = NonARLSTMVAEConfig()):
        super().__init__()
        self.config = config
        c = config
        self.latent_dim = c.latent_dim
        self.encoder = LSTMEncoder(c.columns, c.encoder_hidden, c.latent_dim)
        self.decoder = nn.LSTM(c.latent_dim, c.decoder_hidden, num_layers=c.decoder_layers, batch_first=True)
        self.output = nn.Linear(c.decoder_hidden, c.columns)
        he_init(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, p) float -> mu, logvar, each (b, d)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (b, d) -> logits (b, t, p)."""
        out, _ = self.decoder(z[:, None, :].expand(z.shape[0], self.config.steps, z.shape[1]))
        return self.output(out)

    def forward(self, x: torch.Tensor) -> dict:
        """x (b, t, p) float -> dict(logits (b, t, p), recon, kl, mu, logvar); see ``loss``."""
        mu, logvar = self.encode(x)
        logits = self.decode(reparameterize(mu, logvar))
        return {"logits": logits, "recon": bce_per_loop(logits, x), "kl": kl_per_loop(mu, logvar), "mu": mu,
                "logvar": logvar}

    @staticmethod
    def loss(out: dict, beta: float = 1.0) -> torch.Tensor:
        """The negative ELBO of eq. (1): BCE + beta * KL (per loop, batch mean)."""
        return out["recon"] + beta * out["kl"]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x (b, t, p) -> bool (b, t, p): decode(mu), thresholded at 0.5."""
        mu, _ = self.encode(x.float())
        return threshold(self.decode(mu))
