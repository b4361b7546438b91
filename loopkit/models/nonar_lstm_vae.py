"""The NonAR LSTM-VAE (Music Continuous VAE section, appendix table (b)): z repeated over all steps into an LSTM.

See ``loopkit.config.NonARLSTMVAEConfig`` for the layer sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from loopkit.config import NonARLSTMVAEConfig
from loopkit.data.pianoroll import STEPS_PER_BAR
from loopkit.models.blocks import ContinuousVAE, LSTMEncoder, he_init


class NonARLSTMVAE(ContinuousVAE):
    """Bi-LSTM encoder -> z (d = 128) -> repeat over t -> LSTM -> Linear -> logits (b, t, p)."""

    name = "nonar_lstm_vae"
    amp_safe = False

    def __init__(self, config: NonARLSTMVAEConfig = NonARLSTMVAEConfig()):
        super().__init__()
        self.config = config
        c = config
        self.latent_dim = c.latent_dim
        self.encoder = LSTMEncoder(c.columns, c.encoder_hidden, c.latent_dim)
        position = STEPS_PER_BAR if c.position_input else 0
        self.decoder = nn.LSTM(c.latent_dim + position, c.decoder_hidden, num_layers=c.decoder_layers, batch_first=True)
        self.output = nn.Linear(c.decoder_hidden, c.columns)
        he_init(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, p) float -> mu, logvar, each (b, d)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (b, d) -> logits (b, t, p)."""
        inputs = z[:, None, :].expand(z.shape[0], self.config.steps, z.shape[1])
        if self.config.position_input:  # the diagnosis of NonARLSTMVAEConfig, not the paper's decoder
            steps = torch.arange(self.config.steps, device=z.device) % STEPS_PER_BAR
            where = F.one_hot(steps, STEPS_PER_BAR).to(z.dtype)
            inputs = torch.cat([inputs, where[None].expand(z.shape[0], -1, -1)], dim=-1)
        out, _ = self.decoder(inputs)
        return self.output(out)
