"""The sampler (Experiment Details, Musical Metric Results): temperature, the categorical draw, stepping the LSTM
prior through a code sequence, and decoding code sequences with the VQ-VAE, in batches.

The VQ-VAE's generator, step by step::

    z_0 ~ p(z_0)                       the empirical distribution of first codes in the training split
    z_i ~ softmax(logits_i / T)        i = 1 .. t-1, logits from the LSTM prior fed z_0 .. z_{i-1}
    x   = [sigmoid(decode(e_z)) >= 0.5]

``step_prior`` is the one loop over latent steps: sampling (``loopkit.generation.generate.sample_codes``, every step
drawn, some perhaps forced to copies) and resampling (``loopkit.generation.latent.resample_steps``, a few steps redrawn
among given ones) both run it. ``decode_codes`` is the last line. Everything is seeded by a ``torch.Generator`` (the
same seed, batch size and device give the same codes) and runs on the models' device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection, Mapping, Union

import numpy as np

from loopkit.data.dataset import PACKED_BYTES, PackedRolls, unpack_rolls
from loopkit.errors import LoopkitError
from loopkit.metrics.paper_metrics import batch_ranges

if TYPE_CHECKING:  # torch is imported where it is used: `import loopkit.generation.sampling` stays light
    import torch

#: Names a temperature of 0 may be given as.
ARGMAX_NAMES = ("argmax", "greedy")
#: Loops sampled or decoded per batch when ``batch_size`` is not given: CPU, CUDA.
DEFAULT_BATCH_SIZE = {"cpu": 1024, "cuda": 16384}

Temperature = Union[float, int, str]


def _torch():
    import torch

    return torch


# ---------------------------------------------------------------------------------------------------------
# temperature


def parse_temperature(value: Temperature) -> float:
    """A sampling temperature as a float: ``"argmax"`` (or ``0``) is ``0.0``; otherwise a finite number > 0."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ARGMAX_NAMES:
            return 0.0
        try:
            value = float(text)
        except ValueError:
            raise LoopkitError(f"temperature must be a positive number or 'argmax', got {value!r}") from None
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise LoopkitError(f"temperature must be a positive number or 'argmax' (0), got {value}")
    return value


def temperature_label(temperature: Temperature) -> str:
    """The paper's row label of a temperature: ``"argmax"``, ``"temp 1"``, ``"temp 1.5"``."""
    return label_of(parse_temperature(temperature))


def label_of(temperature: float) -> str:
    """The row label of a temperature already parsed (``parse_temperature``)."""
    return "argmax" if temperature == 0 else f"temp {temperature:g}"


# ---------------------------------------------------------------------------------------------------------
# devices, seeds, batches


def model_device(module, device=None):
    """The device to sample on: ``device``, which must be where ``module`` is, or the module's own."""
    torch = _torch()
    own = next((p.device for p in module.parameters()), torch.device("cpu"))
    if device is None:
        return own
    device = torch.device(device)
    if device.type != own.type or (device.index is not None and own.index is not None and device.index != own.index):
        raise LoopkitError(f"the model is on {own}, not on {device}: move it first (model.to(device))")
    return own


def default_batch_size(device) -> int:
    """``DEFAULT_BATCH_SIZE`` of the device's type."""
    return DEFAULT_BATCH_SIZE["cuda" if _torch().device(device).type == "cuda" else "cpu"]


def make_generator(seed: int | None, device) -> "torch.Generator":
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (a random seed when ``None``)."""
    torch = _torch()
    gen = torch.Generator(device=torch.device(device))
    if seed is None:
        gen.seed()
    else:
        from loopkit.config import check_seed

        gen.manual_seed(check_seed(seed))
    return gen


# ---------------------------------------------------------------------------------------------------------
# drawing codes


#: The probabilities of a row are drawn as whole numbers of 2^-53 of the row's sum (float64's resolution).
CDF_SCALE = 2.0**53


def sample_categorical(probs: "torch.Tensor", generator=None) -> "torch.Tensor":
    """One index per row of ``probs`` (b, k) (non-negative, rows with a positive sum), by inverting the CDF.

    ``i`` is drawn with probability ``probs[i] / sum(probs)``: each row is scaled to whole-number weights
    ``w_i = floor(probs[i] / sum(probs) * 2^53)``, one uniform ``u`` per row gives ``m = floor(u * sum(w))``, and
    the draw is the first ``i`` whose cumulative weight exceeds ``m``. Exact up to float64's resolution, never
    picks a zero-probability index, and about 20 times faster than ``torch.multinomial`` on CPU for the prior's
    512 codes. The cumulative sum is over integers: the same on every device and allowed under PyTorch's
    deterministic algorithms (a floating-point ``cumsum`` on CUDA is refused there).
    """
    torch = _torch()
    p = probs.double()
    weights = torch.floor(p / p.sum(-1, keepdim=True) * CDF_SCALE).long()
    cdf = weights.cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=torch.float64)
    target = (u * cdf[:, -1:].double()).long()
    idx = torch.searchsorted(cdf, target, right=True)[:, 0]
    return idx.clamp_(max=probs.shape[-1] - 1)


def _pick(logits, temperature: float, generator):
    """The next code from the prior's logits (b, k): argmax at temperature 0, else a draw from softmax(logits / T)."""
    torch = _torch()
    if temperature == 0:
        return logits.argmax(-1)
    return sample_categorical(torch.softmax(logits.double() / temperature, dim=-1), generator)


def check_output(model, finite) -> None:
    """Raise ``LoopkitError`` naming ``model``'s checkpoint unless ``finite`` (a bool tensor, or a tensor of the model's
    outputs) says its outputs are all finite. Weights that are finite can still overflow (values near 1e38); the
    output would then be NaN, read as silence (sigmoid) or as the last code (the categorical draw)."""
    torch = _torch()
    if finite.dtype != torch.bool:
        finite = torch.isfinite(finite).all()
    if not bool(finite):
        where = (getattr(model, "checkpoint", None) or {}).get("path") or f"this {getattr(model, 'name', 'model')}"
        raise LoopkitError(f"{where}: the model's output holds NaN or infinite values (its weights overflow): it "
                           "cannot generate")  # fmt: skip


def step_prior(prior, codes: "torch.Tensor", draw: Collection[int], temperature: float, generator,
               forced: Mapping[int, int] | None = None) -> "torch.Tensor":  # fmt: skip
    """Run the LSTM prior left to right through code sequences ``codes`` (b, t) long, filling them in place.

    At a step in ``draw`` the code is drawn: step 0 from p(z_0) (whatever the temperature), a later step i from
    ``softmax(logits_i / temperature)`` (argmax at 0) with ``logits_i`` the prior's output after being fed codes
    0 .. i-1. At a step in ``forced`` (target -> source, a latent copy in mode "condition") the code is
    ``codes[:, source]``. Every other step keeps its given code. Returns ``codes``; logits that are not finite are a
    ``LoopkitError`` (``check_output``, checked once, at the end: no host sync per step).
    """
    torch = _torch()
    b, t = codes.shape
    finite = torch.ones((), dtype=torch.bool, device=codes.device)
    forced = forced or {}
    if 0 in draw:
        codes[:, 0] = sample_categorical(prior.first_code_probs().to(codes.device).expand(b, -1), generator)
    state = prior.initial_state(b, codes.device)
    for i in range(1, t):
        logits, state = prior.step(codes[:, i - 1], state)
        if i in forced:
            codes[:, i] = codes[:, forced[i]]
        elif i in draw:
            finite &= torch.isfinite(logits).all()
            codes[:, i] = _pick(logits, temperature, generator)
    check_output(prior, finite)
    return codes


# ---------------------------------------------------------------------------------------------------------
# decoding


def decode_codes(vqvae, codes, *, packed: bool = False, batch_size: int | None = None, device=None,
                 progress: bool = False, bass_rule: str = "paper"):  # fmt: skip
    """Decode code sequences (b, t) with a VQ-VAE, thresholded at 0.5: (b, 128, 93) bool loops.

    ``bass_rule`` "paper" thresholds every cell; "sum" is the labelled variant of
    ``loopkit.models.blocks.binarize``.
    With ``packed=True`` the loops come back as ``PackedRolls`` (1,488 bytes a loop instead of 11,904), decoded
    and packed batch by batch: use it for many loops. ``codes`` may be a numpy array or a tensor. A decoder output
    that is not finite is a ``LoopkitError`` (``check_output``).
    """
    torch = _torch()
    from loopkit.training.batches import HostCopies, pack_batch
    from loopkit.models.blocks import binarize

    device = model_device(vqvae, device)
    codes = codes.long() if isinstance(codes, torch.Tensor) else torch.as_tensor(np.asarray(codes), dtype=torch.long)
    if codes.ndim != 2 or codes.shape[1] != vqvae.latent_steps:
        raise LoopkitError(f"codes must be (b, {vqvae.latent_steps}), got shape {tuple(codes.shape)}")
    if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= vqvae.codebook_size):
        raise LoopkitError(f"code indices must lie in 0..{vqvae.codebook_size - 1}")
    batch_size = int(batch_size or default_batch_size(device))
    vqvae.eval()
    out = np.empty((len(codes), PACKED_BYTES), dtype=np.uint8)
    host = HostCopies(out)
    finite = torch.ones((), dtype=torch.bool, device=device)  # checked once at the end: no sync per batch
    with torch.no_grad():
        for start, b in batch_ranges(len(codes), batch_size, "decode", progress):
            logits = vqvae.decode_codes(codes[start : start + b].to(device))
            finite &= torch.isfinite(logits).all()
            host.put(start, pack_batch(binarize(logits, bass_rule)))
    host.flush()
    check_output(vqvae, finite)
    return PackedRolls(out) if packed else unpack_rolls(out)
