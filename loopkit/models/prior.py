"""The VQ-VAE's autoregressive prior (Music VQ-VAE section): a 2-layer LSTM over the code indices of a loop.

``p(z) = p(z_0) prod_{i >= 1} p(z_i | z_<i)``: ``p(z_0)`` is the empirical distribution of first codes in the
training split (``first_code_counts``), the rest a next-index softmax. The paper reports 82.91 % teacher-forced
accuracy on LMD (``loopkit.paper.PRIOR_ACCURACY``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from loopkit.config import PriorConfig
from loopkit.errors import LoopkitError
from loopkit.models.blocks import he_init


class LSTMPrior(nn.Module):
    """Embedding -> LSTM (``layers`` = 2) -> Linear -> next-code logits over K.

    ``forward(indices)`` is teacher-forced: position i of its output is the distribution of code i + 1 given
    codes 0..i. ``initial_state(b)`` / ``step(codes, state)`` run the same network one position at a time, so
    a sampler can force some positions to given codes and sample the others.
    """

    name = "prior"
    amp_safe = False

    def __init__(self, codebook_size: int | None = None, config: PriorConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = PriorConfig(**({"codebook_size": codebook_size} if codebook_size else {}), **kwargs)
        elif codebook_size is not None and codebook_size != config.codebook_size:
            raise LoopkitError(f"codebook_size {codebook_size} disagrees with config.codebook_size {config.codebook_size}")
        self.config = config
        c = config
        self.codebook_size = c.codebook_size
        self.embed = nn.Embedding(c.codebook_size, c.embedding_dim)
        self.lstm = nn.LSTM(c.embedding_dim, c.hidden, num_layers=c.layers, batch_first=True, dropout=c.dropout)
        self.output = nn.Linear(c.hidden, c.codebook_size)
        #: counts of each code at latent step 0 over the training split: p(z_0) up to normalisation
        self.register_buffer("first_code_counts", torch.zeros(c.codebook_size))
        he_init(self)

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (b, t) long -> logits (b, t, K); logits[:, i] predicts indices[:, i + 1]."""
        out, _ = self.lstm(self.embed(indices))
        return self.output(out)

    def initial_state(self, b: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM's zero state for a batch of b sequences."""
        device = device if device is not None else self.output.weight.device
        shape = (self.config.layers, b, self.config.hidden)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def step(self, codes: torch.Tensor, state) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One position: codes (b,) long at position i, state -> logits (b, K) for position i + 1, new state."""
        out, state = self.lstm(self.embed(codes)[:, None, :], state)
        return self.output(out[:, 0]), state

    def first_code_probs(self) -> torch.Tensor:
        """p(z_0) (K,): the normalised ``first_code_counts`` (uniform when no counts are stored)."""
        counts = self.first_code_counts.float()
        total = counts.sum()
        return counts / total if total > 0 else torch.full_like(counts, 1.0 / self.codebook_size)

    @staticmethod
    def loss_and_accuracy(logits: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced cross-entropy and accuracy of next-code prediction over positions 1..t-1.

        Accuracy = share of positions i >= 1 where ``argmax logits[:, i - 1] == indices[:, i]`` (the paper's
        82.91 % at teacher forcing).
        """
        pred, target = logits[:, :-1].float(), indices[:, 1:]
        ce = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1))
        acc = (pred.argmax(-1) == target).float().mean()
        return ce, acc


def copy_accuracy(indices: torch.Tensor, lag: int) -> float:
    """The teacher-forced accuracy of a prior that predicts code i to be code i - ``lag`` (a loop that repeats
    itself), measured as ``LSTMPrior.loss_and_accuracy`` measures the LSTM's: over positions 1..t-1, a position
    before ``lag`` counting as a miss. With ``lag`` = t / 2 it is the loop's second half repeating its first (the
    codes of bars 5-8 copying bars 1-4): a baseline that needs no training.

    indices (b, t) long -> a share in [0, 1].
    """
    indices = torch.as_tensor(indices)
    t = indices.shape[1]
    if not 1 <= lag < t:
        raise LoopkitError(f"lag must lie in 1..{t - 1}, got {lag}")
    hits = (indices[:, lag:] == indices[:, :-lag]).sum()
    return float(hits) / (indices.shape[0] * (t - 1))
