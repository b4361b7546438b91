"""The VQ-VAE's quantising layer (Music VQ-VAE section, eq. 2): an EMA codebook with dead-code restarts.

Each latent vector ``z_e[b, t]`` (width d = L) is replaced by its nearest codebook entry ``e_k``,
``k = argmin_j ||z_e - e_j||``. The codebook is not learned by gradients (no codebook loss): in training
mode every batch moves it, as K-means centroids, by exponential moving averages (van den Oord et al. 2017,
appendix)::

    N_k <- decay N_k + (1 - decay) n_k                    n_k: vectors of the batch assigned to k
    m_k <- decay m_k + (1 - decay) sum_{i -> k} z_i
    N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j   (Laplace smoothing)
    e_k  = m_k / N~_k

with decay 0.99 and eps 1e-5. ``N_k`` estimates how many of a batch's ``n = b * t`` latent vectors code k takes.

Dead codes. The paper's authors restart a code whose EMA count falls below 1 (follow-up code, batch 2,048). A
count per batch means something else at every batch size: at the paper's batch (2,048 loops x 32 steps = 65,536
vectors, 128 per code on average) "below 1" is "almost never used"; at a batch of 32 loops (1,024 vectors, 2 per
code) most codes fall below it on some step. The rule is therefore stated as a share of the batch: code k is
**dead when** ``N_k < dead_share * n``, i.e. when it takes less than ``dead_share`` of a batch's vectors on
average. ``dead_share = 1 / 65,536`` is exactly the paper's rule at the paper's batch. A dead code is restarted
from a random encoder output of the batch, and its statistics are reset to one observation of it (``N_k = 1``,
``m_k = e_k``). Before the first batch all counts are 0, so the first batch initialises the codebook from
encoder outputs.

Exactness. The nearest-code search and the EMA sums run in float32 with autocast and TF32 (matmuls and cuDNN
convolutions) off, wherever they run (``loopkit.models.numerics.exact_float32``): the codes of a loop never depend on
mixed-precision or TF32 settings (they are compared exactly by OS and US).

The encoder is trained by the commitment loss ``commitment * ||z_e - sg[e_k]||^2`` (summed over t and d,
mean over b; commitment 0.25) and by the reconstruction loss through the straight-through estimator: the
forward value is exactly ``e_k`` and the gradient flows to ``z_e`` unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from loopkit.models.numerics import exact_float32


class _StraightThrough(torch.autograd.Function):
    """Forward: the quantised value, exactly. Backward: the incoming gradient goes to z_e unchanged."""

    @staticmethod
    def forward(ctx, z_e, z_q):
        return z_q.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class EMAQuantizer(nn.Module):
    """Vector quantiser with an EMA codebook, Laplace smoothing and dead-code restarts.

    Parameters
    ----------
    codebook_size : K
    dim : d, the width of each latent vector (the paper's L)
    decay, epsilon, commitment, dead_share : see the module docstring

    Buffers: ``embedding`` (K, d), ``cluster_size`` (K,) the EMA counts N_k, ``embed_sum`` (K, d) the EMA sums m_k.
    Statistics of the last training batch (tensors on the codebook's device, so that reading them never syncs a
    GPU): ``last_counts`` (K,) the vectors each code took, ``last_dead`` the codes restarted, ``last_perplexity``.
    """

    def __init__(
        self,
        codebook_size: int,
        dim: int,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        commitment: float = 0.25,
        dead_share: float = 1.0 / 65536,
    ):
        super().__init__()
        self.codebook_size = codebook_size
        self.dim = dim
        self.decay = decay
        self.epsilon = epsilon
        self.commitment = commitment
        self.dead_share = dead_share
        self.register_buffer("embedding", torch.randn(codebook_size, dim))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed_sum", torch.zeros(codebook_size, dim))
        self.last_counts = torch.zeros(codebook_size)
        self.last_dead = torch.zeros((), dtype=torch.long)
        self.last_perplexity = torch.zeros(())

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Indices of the nearest codebook entries: z_e (b, t, d) -> (b, t) long. Never updates the codebook.

        ``argmin_k ||z - e_k||^2 = argmin_k (|e_k|^2 - 2 z.e_k)`` (|z|^2 is the same for every k), in exact
        float32 whatever the autocast and TF32 settings around it."""
        with exact_float32(z_e.device):
            flat = z_e.detach().float().reshape(-1, self.dim)
            emb = self.embedding.float()
            dist = torch.addmm(emb.pow(2).sum(1)[None, :], flat, emb.t(), alpha=-2.0)
            return dist.argmin(1).reshape(z_e.shape[:-1])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """The exact inverse: indices (b, t) -> codebook vectors (b, t, d)."""
        return self.embedding[indices]

    @torch.compiler.disable  # runs eager inside a compiled model: exact float32 codes, the EMA in place
    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise z_e (b, t, d).

        Returns
        -------
        z_q : (b, t, d) the codebook vectors (value exactly ``lookup(indices)``; gradient straight to z_e)
        indices : (b, t) long
        commit_loss : scalar, ``commitment * ||z_e - sg[z_q]||^2`` summed over t, d, mean over b
        """
        with exact_float32(z_e.device):
            z = z_e.float()
            indices = self.nearest(z)
            z_q = self.lookup(indices)
            commit = self.commitment * (z - z_q.detach()).pow(2).flatten(1).sum(1).mean()
            if self.training:
                self._update(z.detach(), indices)
            out = _StraightThrough.apply(z, z_q) if z.requires_grad else z_q
        return out, indices, commit

    @torch.no_grad()
    def _update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        """One EMA step of the codebook on a batch, then the dead-code restarts (see the module docstring)."""
        flat = z.reshape(-1, self.dim)
        idx = indices.reshape(-1)
        counts = torch.zeros(self.codebook_size, device=flat.device).index_add_(0, idx, flat.new_ones(len(idx)))
        sums = torch.zeros_like(self.embed_sum).index_add_(0, idx, flat)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.codebook_size * self.epsilon) * total
        self.embedding.copy_(self.embed_sum / smoothed[:, None])

        probs = counts / counts.sum()
        self.last_counts = counts
        self.last_perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        dead = self.cluster_size < self.dead_share * flat.shape[0]
        self.last_dead = dead.sum()
        # Restart dead codes from random encoder outputs of this batch. Done for every code with a mask, so
        # the random draw (and the RNG stream) does not depend on how many codes are dead.
        pick = torch.randint(0, flat.shape[0], (self.codebook_size,), device=flat.device)
        fresh = flat[pick]
        mask = dead[:, None]
        self.embedding.copy_(torch.where(mask, fresh, self.embedding))
        self.embed_sum.copy_(torch.where(mask, fresh, self.embed_sum))
        self.cluster_size.copy_(torch.where(dead, torch.ones_like(self.cluster_size), self.cluster_size))

    def extra_repr(self) -> str:
        return (
            f"codebook_size={self.codebook_size}, dim={self.dim}, decay={self.decay}, epsilon={self.epsilon}, "
            f"commitment={self.commitment}, dead_share={self.dead_share:.3g}"
        )
