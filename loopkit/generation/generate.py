"""Generating loops from the trained models (Experiment Details, Musical Metric Results): the VQ-VAE through its
LSTM prior, with temperature and latent copies, and the continuous VAEs from N(0, I).

VQ-VAE (the paper's generator; the step loop is ``loopkit.generation.sampling.step_prior``)::

    z_0 ~ p(z_0)                       the empirical distribution of first codes in the training split
    z_i ~ softmax(logits_i / T)        i = 1 .. t-1, logits from the LSTM prior fed z_0 .. z_{i-1}
    x   = [sigmoid(decode(e_z)) >= 0.5]

``temperature`` T divides the logits; ``0`` (or ``"argmax"``) takes the most likely code at every step. z_0 is
drawn from p(z_0) whatever the temperature: with argmax the whole sequence is then a function of z_0, so argmax
sampling gives at most K distinct loops (the paper's US of 4.08e-3 = 492 distinct loops in 120,600 is that).
``copy`` and ``mode`` manipulate the latent steps while sampling (``loopkit.generation.latent.LatentCopy``: the paper's
copy of latent steps 0, 1 onto 16, 17, or any bar form).

Continuous VAEs: ``z ~ N(0, I)``, ``x = [sigmoid(decode(z)) >= 0.5]``; the AR LSTM-VAE's ``decode`` samples step
by step, feeding back its own thresholded output.

Everything is batched, seeded by a ``torch.Generator`` (the same seed, batch size and device give the same
loops), runs on the models' device, and shows a tqdm bar over loops. Generated loops are kept bit-packed
(``PackedRolls``: 1,488 bytes a loop, 180 MB for the paper's 120,600), which the metrics read directly.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from loopkit.atomic import write_with
from loopkit.training.batches import HostCopies, pack_batch
from loopkit.models.checkpoints import check_pair, model_name
from loopkit.config import CONTINUOUS_MODELS
from loopkit.data.dataset import PACKED_BYTES, PackedRolls
from loopkit.errors import LoopkitError
from loopkit.generation.latent import LatentCopy, SamplingRequest
from loopkit.metrics.paper_metrics import batch_ranges
from loopkit.models.blocks import BASS_RULES, binarize
from loopkit.generation.sampling import (
    Temperature,
    check_output,
    decode_codes,
    default_batch_size,
    make_generator,
    model_device,
    step_prior,
)
from loopkit.version import __version__


#: The most loops one call generates: all of them are held in memory, bit-packed (1,488 bytes a loop: 1.5 GB),
#: beside their codes; the paper's evaluation draws 120,600. More: several calls with different seeds.
MAX_LOOPS = 1_000_000


def check_count(n) -> int:
    """``n`` as the number of loops to generate: a whole number in 1..``MAX_LOOPS``, else ``LoopkitError``."""
    if isinstance(n, float) and not n.is_integer() or not n >= 1:
        raise LoopkitError(f"the number of loops must be a whole number of at least 1, got {n}")
    if not n <= MAX_LOOPS:
        raise LoopkitError(f"the number of loops must lie in 1..{MAX_LOOPS:,} (one call holds them all in memory, "
                           f"{PACKED_BYTES:,} bytes a loop: generate more with several calls and seeds), got {n:,}")
    return int(n)


def sample_codes(
    prior,
    n: int,
    temperature: Temperature = 1.0,
    *,
    copy: LatentCopy | str | None = None,
    mode: str = "after",
    request: SamplingRequest | None = None,
    seed: int | None = 0,
    generator=None,
    batch_size: int | None = None,
    device=None,
    progress: bool = False,
) -> np.ndarray:
    """Sample ``n`` code sequences from the LSTM prior: (n, t) int64 (see the module docstring).

    Parameters
    ----------
    prior : a ``loopkit.models.LSTMPrior`` (its ``first_code_counts`` give p(z_0))
    temperature : divides the logits; 0 or ``"argmax"`` takes the most likely code at every step after z_0
    copy : a ``LatentCopy``, ``"paper"``, a bar form, or None
    mode : ``"after"`` (copy after sampling) or ``"condition"`` (force the copies while sampling); see
        ``loopkit.generation.latent``
    request : a ``SamplingRequest`` validated by the caller, in place of ``temperature``, ``copy`` and ``mode``
    seed, generator : a ``torch.Generator`` on the device, or a seed to make one
    """
    device = model_device(prior, device)
    t = prior.config.latent_steps
    request = SamplingRequest.given(request, temperature, copy, mode, latent_steps=t)
    generator = generator if generator is not None else make_generator(seed, device)
    batch_size = int(batch_size or default_batch_size(device))
    forced = request.forced
    every_step = range(t)
    out = np.empty((int(n), t), dtype=np.int64)
    prior.eval()
    with torch.no_grad():
        for start, b in batch_ranges(int(n), batch_size, "prior", progress):
            codes = torch.empty((b, t), dtype=torch.long, device=device)
            step_prior(prior, codes, every_step, request.temperature, generator, forced)
            out[start : start + b] = request.after(codes).cpu()
    return out


@dataclass
class Generated:
    """Generated loops, bit-packed, with their code sequences (VQ-VAE) and the settings that made them.

    Attributes
    ----------
    rolls : the loops as ``PackedRolls`` (``rolls[i]`` is a (128, 93) bool loop; metrics read it directly)
    codes : (b, t) int64 code sequences for the VQ-VAE, None for the continuous VAEs
    settings : model, checkpoint, temperature, latent copy, mode, seed, timing, loopkit version
    """

    rolls: PackedRolls
    codes: np.ndarray | None = None
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rolls)

    @property
    def loops(self) -> np.ndarray:
        """All loops unpacked: (b, 128, 93) bool (1 byte a cell: 1.4 GB for 120,600 loops)."""
        return np.asarray(self.rolls)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``rolls`` (packed, (b, 1488) uint8), ``codes`` and ``settings`` (JSON) to an .npz, atomically."""
        arrays = {"rolls": self.rolls.packed, "settings": np.array(json.dumps(self.settings, sort_keys=True))}
        if self.codes is not None:
            arrays["codes"] = np.asarray(self.codes)
        return write_with(path, lambda fh: np.savez(fh, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Generated":
        """Read an .npz written by ``save``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no generated loops at {path}")
        with np.load(path, allow_pickle=False) as data:
            if "rolls" not in data:
                raise LoopkitError(f"{path} holds no 'rolls' array: not written by loopkit generate")
            codes = data["codes"] if "codes" in data else None
            settings = json.loads(str(data["settings"])) if "settings" in data else {}
            return cls(PackedRolls(data["rolls"]), codes, settings)


def _checkpoint_info(model) -> dict:
    info = getattr(model, "checkpoint", None) or {}
    return {k: info.get(k) for k in ("path", "profile", "epoch", "data_fingerprint") if info.get(k) is not None}


def generate(
    model,
    n: int,
    *,
    prior=None,
    temperature: Temperature = 1.0,
    copy: LatentCopy | str | None = None,
    mode: str = "after",
    request: SamplingRequest | None = None,
    seed: int | None = 0,
    generator=None,
    batch_size: int | None = None,
    device=None,
    progress: bool = True,
    bass_rule: str = "paper",
) -> Generated:
    """Generate ``n`` loops from a trained model (see the module docstring for the sampling rules).

    Parameters
    ----------
    model : a VQ-VAE (then ``prior`` is required) or a continuous VAE (AR/NonAR LSTM-VAE, CNN-VAE)
    n : number of loops
    prior : the VQ-VAE's ``LSTMPrior``
    temperature : VQ-VAE only: divides the prior's logits; 0 or ``"argmax"`` for argmax sampling
    copy : VQ-VAE only: ``"paper"``, a bar form (``"ABAB ABCD"``), a ``LatentCopy`` or None
    mode : ``"after"`` or ``"condition"``; see ``loopkit.generation.latent`` (the paper does not say which it used)
    request : a ``SamplingRequest`` validated by the caller, in place of ``temperature``, ``copy`` and ``mode``
    seed : seeds a fresh ``torch.Generator`` on the device (ignored when ``generator`` is given)
    batch_size : loops per batch (default 1,024 on CPU, 16,384 on CUDA)
    device : where to sample (default: the model's device; the models must already be there)
    progress : show a tqdm bar over loops
    bass_rule : "paper" (every sigmoid >= 0.5) or the labelled variant "sum" (``loopkit.models.blocks.binarize``)

    Returns
    -------
    Generated: ``.rolls`` (PackedRolls, b = n), ``.loops`` (n, 128, 93) bool, ``.codes`` (n, t) for the VQ-VAE
    """
    n = check_count(n)
    name = model_name(model)
    device = model_device(model, device)
    batch_size = int(batch_size or default_batch_size(device))
    if batch_size < 1:
        raise LoopkitError(f"batch_size must be at least 1, got {batch_size}")
    if bass_rule not in BASS_RULES:
        raise LoopkitError(f"bass_rule must be one of {', '.join(BASS_RULES)}, got {bass_rule!r}")
    request = SamplingRequest.given(request, temperature, copy, mode, model=name,
                                    latent_steps=getattr(model, "latent_steps", 32))  # fmt: skip
    generator = generator if generator is not None else make_generator(seed, device)
    settings: dict = {"model": name, "n": n, "seed": seed, "batch_size": batch_size, "device": str(device),
                      "checkpoint": _checkpoint_info(model), "bass_rule": bass_rule,
                      "loopkit_version": __version__}  # fmt: skip
    started = time.perf_counter()
    if name == "vq_vae":
        if prior is None:
            raise LoopkitError("the VQ-VAE samples its codes from its LSTM prior: pass prior=")
        if model_name(prior) != "prior":
            raise LoopkitError(f"prior= must be the LSTM prior, got a {model_name(prior)}")
        check_pair(model, prior)
        settings.update(temperature=request.temperature, label=request.label, mode=request.mode,
                        copy=request.copy.to_dict() if request.copy else None,
                        prior_checkpoint=_checkpoint_info(prior))  # fmt: skip
        codes = sample_codes(prior, n, request=request, generator=generator, batch_size=batch_size, device=device,
                             progress=progress)  # fmt: skip
        rolls = decode_codes(model, codes, packed=True, batch_size=batch_size, device=device, progress=progress,
                             bass_rule=bass_rule)
    elif name in CONTINUOUS_MODELS:
        if prior is not None:
            raise LoopkitError(f"a {name} samples z ~ N(0, I): it takes no prior")
        model.eval()
        packed = np.empty((n, PACKED_BYTES), dtype=np.uint8)
        host = HostCopies(packed)
        finite = torch.ones((), dtype=torch.bool, device=device)  # checked once at the end: no sync per batch
        codes = None
        with torch.no_grad():
            for start, b in batch_ranges(n, batch_size, f"generate {name}", progress):
                z = torch.randn((b, model.latent_dim), generator=generator, device=device)
                logits = model.decode(z)
                finite &= torch.isfinite(logits).all()
                host.put(start, pack_batch(binarize(logits, bass_rule)))
        host.flush()
        check_output(model, finite)
        rolls = PackedRolls(packed)
    elif name == "prior":
        raise LoopkitError("that is the prior: generate from its VQ-VAE with prior=this model")
    else:
        raise LoopkitError(f"cannot generate from a {name}")
    seconds = time.perf_counter() - started
    settings.update(seconds=seconds, loops_per_second=n / seconds if seconds > 0 else float("inf"))
    return Generated(rolls, codes, settings)
