"""Shared building blocks of the paper's models (appendix A): conv_block, residual_block, the LSTM encoder, He init.

``conv_block`` is conv1d-batchnorm-leakyrelu(0.2); ``residual_block`` is
``x + (conv1d-batchnorm-leakyrelu(0.2) -> conv1d-batchnorm)``. Convolutions run over steps ``t`` with the
columns ``p`` (or features) as channels, so tensors inside the CNN models are ``(b, channels, t)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import BASS_COLUMNS

#: How a decoder's bass probabilities become notes (``binarize``): the paper's rule, and a labelled variant.
BASS_RULES = {
    "paper": "every cell on where sigmoid(logit) >= 0.5, bass pitches independently (the paper's eq. 3 rule)",
    "sum": "bass sounds at a step when its 84 pitch probabilities sum to >= 0.5, at the most likely pitch "
    "(not the paper's; DB is 0 by construction); drums as the paper's rule",
}


def threshold(logits: torch.Tensor) -> torch.Tensor:
    """The paper's decision rule: a cell is on when ``sigmoid(logits) >= 0.5`` (bool, same shape)."""
    return torch.sigmoid(logits.float()) >= 0.5


def binarize(logits: torch.Tensor, bass_rule: str = "paper") -> torch.Tensor:
    """Logits (b, t, p) -> bool roll (b, t, p) under a bass rule (``BASS_RULES``).

    ``"paper"`` is ``threshold``. ``"sum"``: the drum columns as ``threshold``; in the bass columns, with
    q_tk = sigmoid(logit_tk) for the 84 pitches k, step t holds exactly one note, at ``argmax_k q_tk``, when
    ``sum_k q_tk >= 0.5``, else none. A decoder unsure *which* pitch starts a loop (q spread over neighbours,
    none above 0.5) plays nothing under the paper's rule and its most likely pitch under this one.
    """
    if bass_rule not in BASS_RULES:
        raise LoopkitError(f"bass_rule must be one of {', '.join(BASS_RULES)}, got {bass_rule!r}")
    on = threshold(logits)
    if bass_rule == "sum":
        q = torch.sigmoid(logits[..., BASS_COLUMNS].float())
        sounding = q.sum(-1, keepdim=True) >= 0.5
        top = F.one_hot(q.argmax(-1), q.shape[-1]).bool()
        on[..., BASS_COLUMNS] = top & sounding
    return on


def bce_per_loop(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits (paper eq. 3), summed over the cells of each loop, mean over the batch.

    logits, target : (b, t, p); returns a scalar (float32).
    """
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return bce.flatten(1).sum(1).mean()


def kl_per_loop(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) summed over the latent dims d, mean over the batch b."""
    mu, logvar = mu.float(), logvar.float()
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()


def conv_block(c_in: int, c_out: int, kernel: int, padding: int, stride: int, slope: float = 0.2) -> nn.Sequential:
    """conv1d-batchnorm-leakyrelu, the paper's ``conv(channel, kernel_size, padding, stride)``."""
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=padding),
        nn.BatchNorm1d(c_out),
        nn.LeakyReLU(slope),
    )


class ResidualBlock(nn.Module):
    """``x + (conv1d-batchnorm-leakyrelu -> conv1d-batchnorm)``, the paper's ``resblock(channel, k, 1, 1)``."""

    def __init__(self, channels: int, kernel: int = 3, slope: float = 0.2):
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(channels, channels, kernel, padding=pad),
            nn.BatchNorm1d(channels),
            nn.LeakyReLU(slope),
            nn.Conv1d(channels, channels, kernel, padding=pad),
            nn.BatchNorm1d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample(nn.Module):
    """Nearest-neighbour upsampling along t by an integer factor (the paper's ``upsample(2)``)."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="nearest")


class LSTMEncoder(nn.Module):
    """The LSTM-VAEs' encoder (appendix tables (a), (b)): Bi-LSTM, mu = LayerNorm(Linear(h)), logvar = Linear(h).

    ``h`` is the concatenation of the last forward and the last backward hidden state, ``(b, 2 * hidden)``.
    """

    def __init__(self, columns: int, hidden: int, latent_dim: int):
        super().__init__()
        self.lstm = nn.LSTM(columns, hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Sequential(nn.Linear(2 * hidden, latent_dim), nn.LayerNorm(latent_dim))
        self.to_logvar = nn.Linear(2 * hidden, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, p) -> mu, logvar, each (b, d)."""
        _, (h, _) = self.lstm(x)
        h = torch.cat([h[-2], h[-1]], dim=-1)  # last layer, forward and backward
        return self.to_mu(h), self.to_logvar(h)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, 1) (the paper's Reparam)."""
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def he_init(module: nn.Module, slope: float = 0.0) -> None:
    """He (Kaiming) normal initialisation (Experiment Details: "initialized with He initializer").

    Every weight matrix of a Linear, Conv1d, LSTM and Embedding gets ``N(0, 2 / fan_in)`` (fan_in = input width
    x kernel size; the LeakyReLU gain with ``slope``); biases are zero; normalisation layers keep weight 1,
    bias 0. LSTM forget-gate biases stay zero as well, as the paper says nothing more.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d)):
            nn.init.kaiming_normal_(m.weight, a=slope, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            for name, p in m.named_parameters():
                if name.startswith("weight"):
                    nn.init.kaiming_normal_(p, a=slope, nonlinearity="leaky_relu")
                else:
                    nn.init.zeros_(p)
        elif isinstance(m, nn.Embedding):
            nn.init.kaiming_normal_(m.weight, a=slope, nonlinearity="leaky_relu")
        elif isinstance(m, (nn.BatchNorm1d, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class ContinuousVAE(nn.Module):
    """What the three continuous VAEs share: the reparameterised forward pass, the negative ELBO of eq. (1) and
    the reconstruction from mu. A subclass defines ``encode(x) -> (mu, logvar)`` and ``decode(z) -> logits``,
    and may override ``decode_train(z, x, **kwargs)`` (the AR model's teacher forcing)."""

    def decode_train(self, z: torch.Tensor, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """The decoder during training; by default the same as ``decode``."""
        return self.decode(z)

    def forward(self, x: torch.Tensor, **kwargs) -> dict:
        """x (b, t, p) float -> dict(logits (b, t, p), recon, kl, mu, logvar); see ``loss``."""
        mu, logvar = self.encode(x)
        logits = self.decode_train(reparameterize(mu, logvar), x, **kwargs)
        return {"logits": logits, "recon": bce_per_loop(logits, x), "kl": kl_per_loop(mu, logvar), "mu": mu,
                "logvar": logvar}

    @staticmethod
    def loss(out: dict, beta: float = 1.0) -> torch.Tensor:
        """The negative ELBO of eq. (1): BCE + beta * KL (per loop, batch mean)."""
        return out["recon"] + beta * out["kl"]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, bass_rule: str = "paper") -> torch.Tensor:
        """x (b, t, p) -> bool (b, t, p): decode(mu), thresholded at 0.5 (``binarize``'s ``bass_rule``)."""
        mu, _ = self.encode(x.float())
        return binarize(self.decode(mu), bass_rule)
