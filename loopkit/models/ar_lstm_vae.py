"""The AR LSTM-VAE (Music Continuous VAE section, appendix table (a)): a flat MusicVAE with an autoregressive decoder.

See ``loopkit.config.ARLSTMVAEConfig`` for the layer sizes and the choices where the table is open.
"""

from __future__ import annotations

import torch
from torch import nn

from loopkit.config import ARLSTMVAEConfig
from loopkit.models.blocks import ContinuousVAE, LSTMEncoder, he_init, threshold


class ARLSTMVAE(ContinuousVAE):
    """Bi-LSTM encoder -> z (d = 128) -> LSTM decoder whose state starts at z, reading ``concat(x[t-1], z)``.

    ``forward(x, teacher_forcing=1.0)`` decodes with the ground truth as the previous step with probability
    ``teacher_forcing`` (per loop and step), else with the model's own thresholded previous output (scheduled
    sampling); ``decode(z)`` is full sampling: every step reads the model's own thresholded output.
    """

    name = "ar_lstm_vae"
    amp_safe = False
    #: how the step-by-step decoder runs: "cell" (explicit cell arithmetic, one-layer decoders) or "lstm" (nn.LSTM
    #: one step at a time); both compute the same function
    step_impl = "cell"

    def __init__(self, config: ARLSTMVAEConfig = ARLSTMVAEConfig()):
        super().__init__()
        self.config = config
        c = config
        self.latent_dim = c.latent_dim
        self.encoder = LSTMEncoder(c.columns, c.encoder_hidden, c.latent_dim)
        if c.decoder_init == "projection":
            self.init_state = nn.Linear(c.latent_dim, 2 * c.decoder_layers * c.decoder_hidden)
        self.decoder = nn.LSTM(c.columns + c.latent_dim, c.decoder_hidden, num_layers=c.decoder_layers, batch_first=True)
        self.output = nn.Linear(c.decoder_hidden, c.columns)
        he_init(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, p) float -> mu, logvar, each (b, d)."""
        return self.encoder(x)

    def initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's (h, c), each (layers, b, hidden), from z (b, d): see ``ARLSTMVAEConfig.decoder_init``."""
        c = self.config
        if c.decoder_init == "direct":  # appendix A (a): "at time = 0, h, c = z"
            h = z[None].expand(c.decoder_layers, -1, -1).contiguous()
            return h, h.clone()
        s = torch.tanh(self.init_state(z)).view(z.shape[0], 2, c.decoder_layers, c.decoder_hidden)
        return s[:, 0].transpose(0, 1).contiguous(), s[:, 1].transpose(0, 1).contiguous()

    def _decode(self, z: torch.Tensor, target: torch.Tensor | None, teacher_forcing: float | torch.Tensor,
                truth: torch.Tensor | None = None) -> torch.Tensor:
        """Decode z (b, d) to logits (b, t, p).

        With ``target`` (b, t, p) and a float ``teacher_forcing >= 1`` the input of step t is ``target[t - 1]``:
        one LSTM call over all steps. Otherwise the steps run one by one and the input of step t is
        ``target[t - 1]`` where ``truth[:, t - 1]`` is set, else the model's own thresholded output of step t - 1
        (zeros at t = 0). ``truth`` (b, t) bool defaults to a fresh draw, ``rand < teacher_forcing`` (all False
        without a target: full sampling). A 0-d tensor ``teacher_forcing`` (what a compiled training step gets,
        so that a new ratio is not a new graph) always runs the steps one by one.
        """
        b, c = z.shape[0], self.config
        state = self.initial_state(z)
        forced = not isinstance(teacher_forcing, torch.Tensor) and teacher_forcing >= 1.0
        if target is not None and forced:  # teacher forcing: one call over all steps
            prev = torch.cat([target.new_zeros(b, 1, c.columns), target[:, :-1]], dim=1)
            inp = torch.cat([prev, z[:, None, :].expand(b, c.steps, c.latent_dim)], dim=-1)
            out, _ = self.decoder(inp, state)
            return self.output(out)
        if target is not None and truth is None:
            truth = torch.rand(b, c.steps, device=z.device) < teacher_forcing
        if c.decoder_layers == 1 and self.step_impl == "cell":
            return self._step_cell(z, state, target, truth)
        return self._step_lstm(z, state, target, truth)

    def _step_cell(self, z, state, target, truth) -> torch.Tensor:
        """The step loop of a one-layer decoder as explicit LSTM cell arithmetic: the same function as
        ``nn.LSTM`` (PyTorch's gate order i, f, g, o; the same weights), with the input projections of z and of
        every ground-truth step computed once, so each step adds only its own output's projection and the
        recurrent one. On a CPU at small batches this avoids a per-step RNN primitive (``benchmarks/train.py
        --ar-decoder`` measures it against ``_step_lstm``)."""
        c, lstm = self.config, self.decoder
        hidden_size = c.decoder_hidden
        w_x, w_z = lstm.weight_ih_l0[:, : c.columns], lstm.weight_ih_l0[:, c.columns :]
        w_hh_t, w_out_t = lstm.weight_hh_l0.t(), self.output.weight.t()
        const = torch.addmm(lstm.bias_ih_l0 + lstm.bias_hh_l0, z, w_z.t())  # (b, 4h): z and both biases
        # each ground-truth step's projection, (b, 4h) each: unbound once, so that the backward pass stacks their
        # gradients once instead of filling a (b, t, 4h) zero tensor for every step that reads one
        truth_in = (target @ w_x.t()).unbind(1) if target is not None else None
        h, cell = state[0][0], state[1][0]
        own = torch.zeros_like(const)  # the previous own output's projection; the input at t = 0 is zero
        hidden = []
        for t in range(c.steps):
            x_in = own
            if truth is not None and t > 0:
                x_in = torch.where(truth[:, t - 1 : t], truth_in[t - 1], own)
            gates = torch.addmm(x_in + const, h, w_hh_t)
            sig = torch.sigmoid(gates)  # i, f and o (g's sigmoid is computed and unused: one op, not three)
            g = torch.tanh(gates[:, 2 * hidden_size : 3 * hidden_size])
            cell = torch.addcmul(sig[:, hidden_size : 2 * hidden_size] * cell, sig[:, :hidden_size], g)
            h = sig[:, 3 * hidden_size :] * torch.tanh(cell)
            hidden.append(h)
            if t + 1 < c.steps:  # sigmoid(logit) >= 0.5 <=> logit >= 0 (the paper's threshold)
                on = (torch.addmm(self.output.bias, h, w_out_t) >= 0).to(z.dtype)
                own = on @ w_x.t()
        return self.output(torch.stack(hidden, dim=1))

    def _step_lstm(self, z, state, target, truth) -> torch.Tensor:
        """The step loop through ``nn.LSTM`` one step at a time (any number of layers; the reference that
        ``_step_cell`` is tested and benchmarked against)."""
        b, c = z.shape[0], self.config
        prev = z.new_zeros(b, c.columns)
        logits = []
        for t in range(c.steps):
            out, state = self.decoder(torch.cat([prev, z], dim=-1)[:, None, :], state)
            step_logits = self.output(out[:, 0])
            logits.append(step_logits)
            own = threshold(step_logits).to(z.dtype)
            prev = torch.where(truth[:, t : t + 1], target[:, t], own) if truth is not None else own
        return torch.stack(logits, dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Full sampling: z (b, d) -> logits (b, t, p), each step reading the previous thresholded output."""
        return self._decode(z, None, 0.0)

    def decode_train(self, z: torch.Tensor, x: torch.Tensor, teacher_forcing: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Training-time decoding: scheduled sampling with the ground truth ``x`` (see the class docstring)."""
        return self._decode(z, x, teacher_forcing)
