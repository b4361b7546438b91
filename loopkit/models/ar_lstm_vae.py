"""The AR LSTM-VAE (Music Continuous VAE section, appendix table (a)): a flat MusicVAE with an autoregressive decoder.

See ``loopkit.config.ARLSTMVAEConfig`` for the layer sizes and the choices where the table is open.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ARLSTMVAEConfig
from .blocks import ContinuousVAE, LSTMEncoder, he_init, threshold


class ARLSTMVAE(ContinuousVAE):
    """Bi-LSTM encoder -> z (d = 128) -> LSTM decoder initialised from z, reading ``concat(x[t-1], z)``.

    ``forward(x, teacher_forcing=1.0)`` decodes with the ground truth as the previous step with probability
    ``teacher_forcing`` (per loop and step), else with the model's own thresholded previous output (scheduled
    sampling); ``decode(z)`` is full sampling: every step reads the model's own thresholded output.
    """

    name = "ar_lstm_vae"
    amp_safe = False

    def __init__(self, config: ARLSTMVAEConfig = ARLSTMVAEConfig()):
        super().__init__()
        self.config = config
        c = config
        self.latent_dim = c.latent_dim
        self.encoder = LSTMEncoder(c.columns, c.encoder_hidden, c.latent_dim)
        self.init_state = nn.Linear(c.latent_dim, 2 * c.decoder_layers * c.decoder_hidden)
        self.decoder = nn.LSTM(c.columns + c.latent_dim, c.decoder_hidden, num_layers=c.decoder_layers, batch_first=True)
        self.output = nn.Linear(c.decoder_hidden, c.columns)
        he_init(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, p) float -> mu, logvar, each (b, d)."""
        return self.encoder(x)

    def _state(self, z: torch.Tensor):
        c = self.config
        s = torch.tanh(self.init_state(z)).view(z.shape[0], 2, c.decoder_layers, c.decoder_hidden)
        h, cell = s[:, 0].transpose(0, 1).contiguous(), s[:, 1].transpose(0, 1).contiguous()
        return h, cell

    def _decode(self, z: torch.Tensor, target: torch.Tensor | None, teacher_forcing: float) -> torch.Tensor:
        b, c = z.shape[0], self.config
        state = self._state(z)
        if target is not None and teacher_forcing >= 1.0:  # teacher forcing: one call over all steps
            prev = torch.cat([target.new_zeros(b, 1, c.columns), target[:, :-1]], dim=1)
            inp = torch.cat([prev, z[:, None, :].expand(b, c.steps, c.latent_dim)], dim=-1)
            out, _ = self.decoder(inp, state)
            return self.output(out)
        prev = z.new_zeros(b, c.columns)
        logits = []
        for t in range(c.steps):
            out, state = self.decoder(torch.cat([prev, z], dim=-1)[:, None, :], state)
            step_logits = self.output(out[:, 0])
            logits.append(step_logits)
            own = threshold(step_logits).to(z.dtype)
            if target is not None and teacher_forcing > 0.0:
                use_truth = torch.rand(b, 1, device=z.device) < teacher_forcing
                prev = torch.where(use_truth, target[:, t], own)
            else:
                prev = own
        return torch.stack(logits, dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Full sampling: z (b, d) -> logits (b, t, p), each step reading the previous thresholded output."""
        return self._decode(z, None, 0.0)

    def decode_train(self, z: torch.Tensor, x: torch.Tensor, teacher_forcing: float = 1.0) -> torch.Tensor:
        """Training-time decoding: scheduled sampling with the ground truth ``x`` (see the class docstring)."""
        return self._decode(z, x, teacher_forcing)
