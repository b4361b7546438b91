"""Sampling loops from the trained models, with temperature and latent manipulation (Experiment Details, Musical
Metric Results, Manipulating Latent Space of VQ-VAE, Investigation of Frequent Pattern).

VQ-VAE (the paper's generator)::

    z_0 ~ p(z_0)                       the empirical distribution of first codes in the training split
    z_i ~ softmax(logits_i / T)        i = 1 .. t-1, logits from the LSTM prior fed z_0 .. z_{i-1}
    x   = [sigmoid(decode(e_z)) >= 0.5]

``temperature`` T divides the logits; ``0`` (or ``"argmax"``) takes the most likely code at every step. z_0 is
drawn from p(z_0) whatever the temperature: with argmax the whole sequence is then a function of z_0, so argmax
sampling gives at most K distinct loops (the paper's US of 4.08e-3 = 492 distinct loops in 120,600 is that).

Continuous VAEs: ``z ~ N(0, I)``, ``x = [sigmoid(decode(z)) >= 0.5]``; the AR LSTM-VAE's ``decode`` samples step
by step, feeding back its own thresholded output.

Latent manipulation (VQ-VAE only). The paper copies latent steps 0, 1 onto 16, 17 before decoding, "so that
consistency between the first and fifth bar can be strengthened". With t = 32 latent steps over 128 data steps
one bar is t / 8 = 4 latent steps, so that copy is the *first half* of bar 1 onto the first half of bar 5. A
``LatentCopy`` is a plan of ``(source_step, target_step)`` pairs, built from

* the preset ``"paper"``: form ``A???A???`` with ``span = t / 16`` (half a bar): exactly (0, 16), (1, 17) at t = 32;
* a bar form such as ``"ABAB ABCD"`` or ``"AABA AABA"``: 8 bar letters (spaces and ``-`` ignored, ``?`` a free
  bar); every bar whose letter occurred before becomes a copy of the latent steps of the *first* bar with that
  letter. ``span`` copies only the first ``span`` latent steps of each such bar (default: the whole bar).

and applied in one of two ``mode``\\ s:

* ``"after"`` (the paper's): the prior samples the whole sequence freely, then the copy overwrites the targets.
  The codes right after a target were sampled given the *original* code there, so the seams may not fit.
* ``"condition"``: the copied codes are forced while sampling: at a target step the prior is fed the source's
  code instead of a sample, so every later step is conditioned on the copy (the prior's own continuation of it).

Everything is batched, seeded by a ``torch.Generator`` (the same seed, batch size and device give the same
loops), runs on the models' device, and shows a tqdm bar over loops. Generated loops are kept bit-packed
(``PackedRolls``: 1,488 bytes a loop, 180 MB for the paper's 120,600), which the metrics read directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

import numpy as np

from .atomic import write_json
from .dataset import PackedRolls, pack_rolls, unpack_rolls
from .pianoroll import BARS_PER_LOOP

if TYPE_CHECKING:  # torch is imported lazily: `import loopkit.generate` stays light
    import torch

#: The sampling modes of a latent copy (see the module docstring).
MODES = ("after", "condition")
#: Names a temperature of 0 may be given as.
ARGMAX_NAMES = ("argmax", "greedy")
#: The models ``generate`` samples from directly (z ~ N(0, I)).
CONTINUOUS_MODELS = ("ar_lstm_vae", "nonar_lstm_vae", "cnn_vae")
#: Loops sampled per batch when ``batch_size`` is not given: CPU, CUDA.
DEFAULT_BATCH_SIZE = {"cpu": 1024, "cuda": 16384}

Temperature = Union[float, int, str]


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
            raise ValueError(f"temperature must be a positive number or 'argmax', got {value!r}") from None
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"temperature must be a positive number or 'argmax' (0), got {value}")
    return value


def temperature_label(temperature: Temperature) -> str:
    """The paper's row label of a temperature: ``"argmax"``, ``"temp 1"``, ``"temp 1.5"``."""
    t = parse_temperature(temperature)
    return "argmax" if t == 0 else f"temp {t:g}"


# ---------------------------------------------------------------------------------------------------------
# latent manipulation

_FORM_IGNORED = re.compile(r"[\s\-]")
_FORM_FREE = "?"


def _bar_steps(latent_steps: int) -> int:
    if latent_steps < BARS_PER_LOOP or latent_steps % BARS_PER_LOOP:
        raise ValueError(f"latent_steps must be a multiple of {BARS_PER_LOOP} (one block per bar), got {latent_steps}")
    return latent_steps // BARS_PER_LOOP


def normalise_form(form: str) -> str:
    """A bar form without spaces and dashes, upper case: ``"abab abcd"`` -> ``"ABABABCD"``; checked.

    A form has one symbol per bar (8): a letter names the bar's pattern, ``?`` leaves the bar free.
    """
    if not isinstance(form, str):
        raise ValueError(f"a bar form is a string such as 'ABAB ABCD', got {form!r}")
    text = _FORM_IGNORED.sub("", form).upper()
    bad = sorted({c for c in text if not ("A" <= c <= "Z" or c == _FORM_FREE)})
    if bad:
        raise ValueError(f"bar form {form!r}: only letters A-Z and '?' name bars (found {''.join(bad)!r})")
    if len(text) != BARS_PER_LOOP:
        raise ValueError(f"bar form {form!r} names {len(text)} bars; a loop has {BARS_PER_LOOP} (e.g. 'ABAB ABCD')")
    return text


@dataclass(frozen=True)
class LatentCopy:
    """A plan of latent copies: ``codes[:, target] = codes[:, source]`` for each ``(source, target)`` pair.

    Build one with ``LatentCopy.paper(t)``, ``LatentCopy.from_form(form, t, span)`` or ``LatentCopy.parse``.
    Every source comes before its target and no step is a target twice; pairs are applied in order of target,
    so a copy of a copy resolves to the first source in both modes.

    Attributes
    ----------
    pairs : ((source_step, target_step), ...) latent steps, 0-based, sorted by target
    name : how the plan was made, e.g. ``"paper"`` or ``"form ABABABCD, span 4"``
    """

    pairs: tuple[tuple[int, int], ...]
    name: str = "custom"

    def __post_init__(self):
        pairs = tuple(sorted(((int(s), int(t)) for s, t in self.pairs), key=lambda p: p[1]))
        targets = [t for _, t in pairs]
        if len(set(targets)) != len(targets):
            raise ValueError(f"latent copy {self.name!r}: a step is the target of two copies")
        for s, t in pairs:
            if s < 0 or not s < t:
                raise ValueError(f"latent copy {self.name!r}: pair ({s}, {t}) must copy an earlier step onto a later one")
        object.__setattr__(self, "pairs", pairs)

    # -- construction ------------------------------------------------------------------------------------
    @classmethod
    def paper(cls, latent_steps: int = 32) -> "LatentCopy":
        """The paper's manipulation: the first half of bar 1's latent steps onto bar 5's; (0,16), (1,17) at t = 32."""
        per_bar = _bar_steps(latent_steps)
        plan = cls.from_form("A???A???", latent_steps, span=max(per_bar // 2, 1))
        return cls(plan.pairs, name="paper")

    @classmethod
    def from_form(cls, form: str, latent_steps: int = 32, span: int | None = None) -> "LatentCopy":
        """The copies a bar form asks for.

        Every bar whose letter occurred in an earlier bar gets the latent steps of the first bar with that
        letter: ``"ABAB ABCD"`` copies bar 1 onto bars 3 and 5 and bar 2 onto bars 4 and 6. ``span`` (1 .. t/8)
        copies only the first ``span`` latent steps of each bar; ``None`` copies whole bars.
        """
        text = normalise_form(form)
        per_bar = _bar_steps(latent_steps)
        span = per_bar if span is None else int(span)
        if not 1 <= span <= per_bar:
            raise ValueError(f"span must lie in 1..{per_bar} (latent steps per bar at t = {latent_steps}), got {span}")
        first: dict[str, int] = {}
        pairs = []
        for bar, letter in enumerate(text):
            if letter == _FORM_FREE:
                continue
            if letter in first:
                src = first[letter] * per_bar
                pairs += [(src + j, bar * per_bar + j) for j in range(span)]
            else:
                first[letter] = bar
        name = f"form {text}" + ("" if span == per_bar else f", span {span}")
        return cls(tuple(pairs), name=name)

    @classmethod
    def parse(cls, spec: "LatentCopy | str | None", latent_steps: int = 32, span: int | None = None
              ) -> "LatentCopy | None":  # fmt: skip
        """``None``/``"none"`` -> no copy; ``"paper"`` -> the paper's; any other string -> a bar form."""
        if spec is None or isinstance(spec, LatentCopy):
            if isinstance(spec, LatentCopy):
                spec.check(latent_steps)
            return spec
        if not isinstance(spec, str):
            raise ValueError(f"a latent copy is 'paper', a bar form such as 'ABAB ABCD' or None, got {spec!r}")
        key = spec.strip().lower()
        if key in ("", "none"):
            return None
        if key == "paper":
            if span is not None:
                raise ValueError("the 'paper' preset fixes its span (half a bar); give a bar form to choose one")
            return cls.paper(latent_steps)
        return cls.from_form(spec, latent_steps, span)

    # -- use ---------------------------------------------------------------------------------------------
    @property
    def sources(self) -> tuple[int, ...]:
        return tuple(s for s, _ in self.pairs)

    @property
    def targets(self) -> tuple[int, ...]:
        return tuple(t for _, t in self.pairs)

    def check(self, latent_steps: int) -> None:
        """Raise when a step lies outside ``0 .. latent_steps - 1``."""
        if self.pairs and max(self.targets) >= latent_steps:
            raise ValueError(f"latent copy {self.name!r} reaches step {max(self.targets)}, past t = {latent_steps}")

    def apply(self, codes):
        """A copy of ``codes`` (b, t) (numpy or torch) with every pair applied, in order of target."""
        out = codes.clone() if hasattr(codes, "clone") else np.array(codes, copy=True)
        if out.ndim != 2:
            raise ValueError(f"codes must be (b, t), got shape {tuple(out.shape)}")
        self.check(out.shape[1])
        for s, t in self.pairs:
            out[:, t] = out[:, s]
        return out

    def describe(self) -> str:
        """One line: the name and the pairs, e.g. ``paper: latent steps 0->16, 1->17``."""
        if not self.pairs:
            return f"{self.name}: no copy"
        return f"{self.name}: latent steps " + ", ".join(f"{s}->{t}" for s, t in self.pairs)

    def to_dict(self) -> dict:
        return {"name": self.name, "pairs": [list(p) for p in self.pairs]}


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


# ---------------------------------------------------------------------------------------------------------
# the pieces: codes from the prior, decoding


def _torch():
    import torch

    return torch


def _device_of(module, device=None):
    """The device to sample on: ``device``, which must be where ``module`` is, or the module's own."""
    torch = _torch()
    own = next((p.device for p in module.parameters()), torch.device("cpu"))
    if device is None:
        return own
    device = torch.device(device)
    if device.type != own.type or (device.index is not None and own.index is not None and device.index != own.index):
        raise ValueError(f"the model is on {own}, not on {device}: move it first (model.to(device))")
    return own


def _default_batch(device) -> int:
    return DEFAULT_BATCH_SIZE["cuda" if _torch().device(device).type == "cuda" else "cpu"]


def make_generator(seed: int | None, device) -> "torch.Generator":
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (a random seed when ``None``)."""
    torch = _torch()
    gen = torch.Generator(device=torch.device(device))
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


def sample_categorical(probs: "torch.Tensor", generator=None) -> "torch.Tensor":
    """One index per row of ``probs`` (b, k) (non-negative, rows with a positive sum), by inverting the CDF.

    ``i`` is drawn with probability ``probs[i] / sum(probs)``: one uniform ``u`` per row, the first ``i`` whose
    cumulative sum exceeds ``u * sum``. Exact up to float64 rounding, never picks a zero-probability index, and
    about 20 times faster than ``torch.multinomial`` on CPU for the prior's 512 codes.
    """
    torch = _torch()
    cdf = probs.double().cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=torch.float64)
    idx = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)[:, 0]
    return idx.clamp_(max=probs.shape[-1] - 1)


def _pick(logits, temperature: float, generator):
    torch = _torch()
    if temperature == 0:
        return logits.argmax(-1)
    return sample_categorical(torch.softmax(logits.double() / temperature, dim=-1), generator)


def _sample_code_batch(prior, b: int, temperature: float, copy: LatentCopy | None, mode: str, generator, device):
    torch = _torch()
    t = prior.config.latent_steps
    p0 = prior.first_code_probs().to(device)
    codes = torch.empty((b, t), dtype=torch.long, device=device)
    codes[:, 0] = sample_categorical(p0.expand(b, -1), generator)
    forced = dict((tgt, src) for src, tgt in copy.pairs) if (copy is not None and mode == "condition") else {}
    state = prior.initial_state(b, device)
    for i in range(1, t):
        logits, state = prior.step(codes[:, i - 1], state)
        codes[:, i] = codes[:, forced[i]] if i in forced else _pick(logits, temperature, generator)
    if copy is not None and mode == "after":
        codes = copy.apply(codes)
    return codes


def sample_codes(
    prior,
    n: int,
    temperature: Temperature = 1.0,
    *,
    copy: LatentCopy | str | None = None,
    mode: str = "after",
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
    mode : ``"after"`` (copy after sampling, the paper's) or ``"condition"`` (force the copies while sampling)
    seed, generator : a ``torch.Generator`` on the device, or a seed to make one
    """
    torch = _torch()
    device = _device_of(prior, device)
    temperature = parse_temperature(temperature)
    copy = LatentCopy.parse(copy, prior.config.latent_steps)
    _check_mode(mode)
    generator = generator if generator is not None else make_generator(seed, device)
    batch_size = int(batch_size or _default_batch(device))
    out = np.empty((int(n), prior.config.latent_steps), dtype=np.int64)
    prior.eval()
    from tqdm.auto import tqdm

    with torch.no_grad(), tqdm(total=int(n), desc="prior", unit="loop", disable=not progress) as bar:
        for start in range(0, int(n), batch_size):
            b = min(batch_size, int(n) - start)
            out[start : start + b] = _sample_code_batch(prior, b, temperature, copy, mode, generator, device).cpu()
            bar.update(b)
    return out


def decode_codes(vqvae, codes, *, packed: bool = False, batch_size: int | None = None, device=None,
                 progress: bool = False):  # fmt: skip
    """Decode code sequences (b, t) with a VQ-VAE, thresholded at 0.5: (b, 128, 93) bool loops.

    With ``packed=True`` the loops come back as ``PackedRolls`` (1,488 bytes a loop instead of 11,904), decoded
    and packed batch by batch: use it for many loops. ``codes`` may be a numpy array or a tensor.
    """
    out = _decode_packed(vqvae, codes, batch_size, device, progress)
    return PackedRolls(out) if packed else unpack_rolls(out)


def _decode_packed(vqvae, codes, batch_size, device, progress) -> np.ndarray:
    torch = _torch()
    from tqdm.auto import tqdm

    from .models.blocks import threshold

    device = _device_of(vqvae, device)
    codes = codes.long() if isinstance(codes, torch.Tensor) else torch.as_tensor(np.asarray(codes), dtype=torch.long)
    if codes.ndim != 2 or codes.shape[1] != vqvae.latent_steps:
        raise ValueError(f"codes must be (b, {vqvae.latent_steps}), got shape {tuple(codes.shape)}")
    if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= vqvae.codebook_size):
        raise ValueError(f"code indices must lie in 0..{vqvae.codebook_size - 1}")
    batch_size = int(batch_size or _default_batch(device))
    vqvae.eval()
    out = np.empty((len(codes), 1488), dtype=np.uint8)
    with torch.no_grad(), tqdm(total=len(codes), desc="decode", unit="loop", disable=not progress) as bar:
        for start in range(0, len(codes), batch_size):
            chunk = codes[start : start + batch_size].to(device)
            rolls = threshold(vqvae.decode_codes(chunk)).cpu().numpy()
            out[start : start + len(chunk)] = pack_rolls(rolls)
            bar.update(len(chunk))
    return out


# ---------------------------------------------------------------------------------------------------------
# generation


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
        path = Path(path)
        arrays = {"rolls": self.rolls.packed, "settings": np.array(json.dumps(self.settings, sort_keys=True))}
        if self.codes is not None:
            arrays["codes"] = np.asarray(self.codes)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Generated":
        """Read an .npz written by ``save``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no generated loops at {path}")
        with np.load(path, allow_pickle=False) as data:
            if "rolls" not in data:
                raise ValueError(f"{path} holds no 'rolls' array: not written by loopkit generate")
            codes = data["codes"] if "codes" in data else None
            settings = json.loads(str(data["settings"])) if "settings" in data else {}
            return cls(PackedRolls(data["rolls"]), codes, settings)


def model_name(model) -> str:
    """The registry name of a loaded model (``"vq_vae"``, ``"prior"``, ``"cnn_vae"``, ...)."""
    name = getattr(model, "name", None)
    if not isinstance(name, str):
        raise ValueError(f"{type(model).__name__} is not a loopkit model")
    return name


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
    seed: int | None = 0,
    generator=None,
    batch_size: int | None = None,
    device=None,
    progress: bool = True,
) -> Generated:
    """Generate ``n`` loops from a trained model (see the module docstring for the sampling rules).

    Parameters
    ----------
    model : a VQ-VAE (then ``prior`` is required) or a continuous VAE (AR/NonAR LSTM-VAE, CNN-VAE)
    n : number of loops
    prior : the VQ-VAE's ``LSTMPrior``
    temperature : VQ-VAE only: divides the prior's logits; 0 or ``"argmax"`` for argmax sampling
    copy : VQ-VAE only: ``"paper"``, a bar form (``"ABAB ABCD"``), a ``LatentCopy`` or None
    mode : ``"after"`` (the paper's) or ``"condition"``; see the module docstring
    seed : seeds a fresh ``torch.Generator`` on the device (ignored when ``generator`` is given)
    batch_size : loops per batch (default 1,024 on CPU, 16,384 on CUDA)
    device : where to sample (default: the model's device; the models must already be there)
    progress : show a tqdm bar over loops

    Returns
    -------
    Generated: ``.rolls`` (PackedRolls, b = n), ``.loops`` (n, 128, 93) bool, ``.codes`` (n, t) for the VQ-VAE
    """
    torch = _torch()
    n = int(n)
    if n < 1:
        raise ValueError(f"the number of loops must be at least 1, got {n}")
    name = model_name(model)
    device = _device_of(model, device)
    batch_size = int(batch_size or _default_batch(device))
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    _check_mode(mode)
    temperature = parse_temperature(temperature)
    generator = generator if generator is not None else make_generator(seed, device)
    settings: dict = {"model": name, "n": n, "seed": seed, "batch_size": batch_size, "device": str(device),
                      "checkpoint": _checkpoint_info(model)}  # fmt: skip
    from . import __version__

    settings["loopkit_version"] = __version__
    started = time.perf_counter()
    from tqdm.auto import tqdm

    if name == "vq_vae":
        if prior is None:
            raise ValueError("the VQ-VAE samples its codes from its LSTM prior: pass prior=")
        if model_name(prior) != "prior":
            raise ValueError(f"prior= must be the LSTM prior, got a {model_name(prior)}")
        check_pair(model, prior)
        copy = LatentCopy.parse(copy, model.latent_steps)
        settings.update(temperature=temperature, label=temperature_label(temperature), mode=mode,
                        copy=copy.to_dict() if copy else None, prior_checkpoint=_checkpoint_info(prior))  # fmt: skip
        model.eval()
        prior.eval()
        packed = np.empty((n, 1488), dtype=np.uint8)
        codes = np.empty((n, model.latent_steps), dtype=np.int64)
        with torch.no_grad(), tqdm(total=n, desc=f"generate vq_vae ({temperature_label(temperature)})",
                                   unit="loop", disable=not progress) as bar:  # fmt: skip
            for start in range(0, n, batch_size):
                b = min(batch_size, n - start)
                c = _sample_code_batch(prior, b, temperature, copy, mode, generator, device)
                codes[start : start + b] = c.cpu().numpy()
                packed[start : start + b] = _decode_packed(model, c, b, device, False)
                bar.update(b)
    elif name in CONTINUOUS_MODELS:
        if prior is not None:
            raise ValueError(f"a {name} samples z ~ N(0, I): it takes no prior")
        if temperature != 1.0:
            raise ValueError(f"temperature applies to the VQ-VAE's prior; a {name} samples z ~ N(0, I)")
        if copy is not None and not (isinstance(copy, str) and copy.strip().lower() in ("", "none")):
            raise ValueError(f"latent manipulation needs the VQ-VAE's discrete time steps; a {name} has none")
        from .models.blocks import threshold

        model.eval()
        packed = np.empty((n, 1488), dtype=np.uint8)
        codes = None
        with torch.no_grad(), tqdm(total=n, desc=f"generate {name}", unit="loop", disable=not progress) as bar:
            for start in range(0, n, batch_size):
                b = min(batch_size, n - start)
                z = torch.randn((b, model.latent_dim), generator=generator, device=device)
                packed[start : start + b] = pack_rolls(threshold(model.decode(z)).cpu().numpy())
                bar.update(b)
    elif name == "prior":
        raise ValueError("that is the prior: generate from its VQ-VAE with prior=this model")
    else:
        raise ValueError(f"cannot generate from a {name}")
    seconds = time.perf_counter() - started
    settings.update(seconds=seconds, loops_per_second=n / seconds if seconds > 0 else float("inf"))
    return Generated(PackedRolls(packed), codes, settings)


# ---------------------------------------------------------------------------------------------------------
# checkpoints


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file, first 16 hex digits: how ``loopkit.train.train_prior`` records its VQ-VAE."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def check_pair(vqvae, prior) -> None:
    """Raise unless the prior models this VQ-VAE's codes (same K and t)."""
    if prior.codebook_size != vqvae.codebook_size or prior.config.latent_steps != vqvae.latent_steps:
        raise ValueError(
            f"the prior models K = {prior.codebook_size}, t = {prior.config.latent_steps} but the VQ-VAE has "
            f"K = {vqvae.codebook_size}, t = {vqvae.latent_steps}: they were not trained together"
        )


def _recorded_vqvae(prior_path: Path, recorded: str | None) -> list[Path]:
    """Where a prior's VQ-VAE may be: as recorded (absolute, or relative to the working directory, to the prior's
    folder or to its parent), then ``<runs>/vq_vae/best.pt`` beside a ``<runs>/prior/`` folder."""
    out: list[Path] = []
    if recorded:
        rec = Path(recorded)
        out.append(rec)
        if not rec.is_absolute():
            out += [prior_path.parent / rec, prior_path.parent.parent / rec]
        out.append(prior_path.parent.parent / rec.parent.name / rec.name)
    out.append(prior_path.parent.parent / "vq_vae" / "best.pt")
    seen, unique = set(), []
    for p in out:
        key = str(p.resolve()) if p.exists() else str(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def load_generator(
    checkpoint: str | os.PathLike,
    *,
    prior: str | os.PathLike | None = None,
    vqvae: str | os.PathLike | None = None,
    device="cpu",
):
    """Load what ``generate`` needs from checkpoints: ``(model, prior)``, prior None for a continuous VAE.

    ``checkpoint`` may be

    * the prior's checkpoint (``loopkit train prior``): its VQ-VAE is the one it records (``extra.vqvae_checkpoint``,
      checked by the recorded SHA-256 digest), looked up as recorded, relative to the prior's folder, and as
      ``../vq_vae/best.pt``; ``vqvae=`` names it explicitly when it has moved;
    * a VQ-VAE checkpoint, with ``prior=`` naming its prior's checkpoint;
    * a continuous VAE's checkpoint (AR/NonAR LSTM-VAE, CNN-VAE).

    A prior recorded against other VQ-VAE weights (digest mismatch) is refused: its codes would mean nothing.
    """
    from .train import load_model

    path = Path(checkpoint)
    first = load_model(path, device)
    name = model_name(first)
    if name == "prior":
        if prior is not None:
            raise ValueError("--checkpoint is already a prior; give --prior only with a VQ-VAE checkpoint")
        prior_model, prior_path = first, path
        vq_path = Path(vqvae) if vqvae is not None else None
    elif name == "vq_vae":
        if prior is None:
            raise ValueError(
                f"{path} is a VQ-VAE: its codes come from its LSTM prior; pass the prior's checkpoint "
                "(`loopkit train prior`) as the checkpoint, or name it with --prior"
            )
        if vqvae is not None:
            raise ValueError("--vqvae names the VQ-VAE of a prior checkpoint; here the checkpoint is the VQ-VAE")
        prior_path = Path(prior)
        prior_model = load_model(prior_path, device)
        if model_name(prior_model) != "prior":
            raise ValueError(f"{prior_path} holds a {model_name(prior_model)}, not the LSTM prior")
        vq_path = path
    elif name in CONTINUOUS_MODELS:
        if prior is not None or vqvae is not None:
            raise ValueError(f"{path} is a {name}: it samples z ~ N(0, I) and takes no --prior or --vqvae")
        return first, None
    else:
        raise ValueError(f"cannot generate from a {name} checkpoint")

    extra = (prior_model.checkpoint or {}).get("extra") or {}
    digest = extra.get("vqvae_digest")
    if vq_path is None:
        candidates = _recorded_vqvae(prior_path, extra.get("vqvae_checkpoint"))
        existing = [p for p in candidates if p.is_file()]
        matching = [p for p in existing if digest is None or file_digest(p) == digest]
        if not matching:
            where = extra.get("vqvae_checkpoint") or "(not recorded)"
            if existing:
                raise ValueError(
                    f"the prior {prior_path} was trained on the VQ-VAE {where} (digest {digest}); "
                    f"{existing[0]} holds other weights: pass the right one with --vqvae"
                )
            raise FileNotFoundError(f"the prior {prior_path} was trained on the VQ-VAE {where}, which is not "
                                    "there: pass its checkpoint with --vqvae")  # fmt: skip
        vq_path = matching[0]
    elif digest is not None and file_digest(vq_path) != digest:
        raise ValueError(f"the prior {prior_path} was trained on other VQ-VAE weights than {vq_path} (digest "
                         f"{file_digest(vq_path)}, recorded {digest})")  # fmt: skip
    vq = first if name == "vq_vae" else load_model(vq_path, device)
    if model_name(vq) != "vq_vae":
        raise ValueError(f"{vq_path} holds a {model_name(vq)}, not a VQ-VAE")
    check_pair(vq, prior_model)
    return vq, prior_model


# ---------------------------------------------------------------------------------------------------------
# Generating into a folder (``loopkit generate``): MIDI, pianoroll PNG and OGG per loop

SETTINGS_FILE = "generate.json"
LOOPS_FILE = "loops.npz"


def _request(model, prior, n, copy, temperature, mode, seed, bpm, batch_size, device) -> dict:
    """What makes two runs produce the same files: compared when a folder is reused."""

    def ckpt(m):
        path = Path(m.checkpoint["path"])
        return {"path": str(path.resolve()), "digest": file_digest(path), "model": m.checkpoint["model"],
                "profile": m.checkpoint["profile"], "epoch": m.checkpoint["epoch"]}  # fmt: skip

    return {
        "model": ckpt(model),
        "prior": ckpt(prior) if prior is not None else None,
        "n": n,
        "temperature": temperature,
        "copy": copy.to_dict() if copy is not None else None,
        "mode": mode if copy is not None else None,
        "seed": seed,
        "bpm": bpm,
        "batch_size": batch_size,
        "device": str(device),
    }


def generate_to_folder(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    n: int = 16,
    *,
    temperature: Temperature = 1.0,
    form: str | None = None,
    span: int | None = None,
    mode: str = "after",
    bpm: float = 120.0,
    seed: int = 0,
    audio: bool = False,
    png: bool = True,
    device=None,
    batch_size: int | None = None,
    prior: str | os.PathLike | None = None,
    vqvae: str | os.PathLike | None = None,
    progress: bool = True,
    echo=print,
) -> dict:
    """Sample ``n`` loops from a checkpoint into ``out``: ``loop_NNNN.mid`` (+ ``.png``, + ``.ogg`` with ``audio``),
    ``loops.npz`` (``Generated``: packed loops and codes) and ``generate.json`` (the settings, written last with
    ``"complete": true``). Returns the settings.

    ``checkpoint`` is the prior's (its VQ-VAE is found as recorded; ``vqvae`` overrides), a VQ-VAE's with
    ``prior``, or a continuous VAE's. ``form`` ("paper" or a bar form, with ``span``) and ``mode`` manipulate
    the VQ-VAE's latent steps (see ``LatentCopy``). Re-running with the same request into the same folder keeps
    the files already written (an interrupted run resumes); another request into it raises ``ValueError``.
    """
    from tqdm.auto import tqdm

    from . import __version__
    from .pianoroll import write_midi
    from .train import resolve_device

    n = int(n)
    if n < 1:
        raise ValueError(f"-n must be at least 1, got {n}")
    if not bpm > 0:
        raise ValueError(f"--bpm must be positive, got {bpm}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    _check_mode(mode)
    temperature = parse_temperature(temperature)
    if span is not None and form in (None, "none"):
        raise ValueError("--span chooses how much of each bar a --form copies: give a bar form with it")
    if audio:
        from . import audio as audio_mod

        audio_mod.resolve_soundfont(None)  # fail before any work when there is no sound font
    device = resolve_device(device)
    model, prior_model = load_generator(checkpoint, prior=prior, vqvae=vqvae, device=device)
    name = model_name(model)
    if name == "vq_vae":
        copy = LatentCopy.parse(form, model.latent_steps, span)
    else:
        if form not in (None, "none") or span is not None:
            raise ValueError(f"--form: latent manipulation needs the VQ-VAE's discrete latent steps; a {name} has none")
        if temperature != 1.0:
            raise ValueError(f"--temperature applies to the VQ-VAE's prior; a {name} samples z ~ N(0, I)")
        copy = None

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    request = _request(model, prior_model, n, copy, temperature, mode, seed, bpm, batch_size, device)
    settings_path = out / SETTINGS_FILE
    if settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text()).get("request")
        except (json.JSONDecodeError, AttributeError):
            previous = None
        if previous != request:
            raise ValueError(f"{out} holds loops generated with other settings ({SETTINGS_FILE}): use another --out")
    write_json(settings_path, {"request": request, "complete": False, "loopkit_version": __version__}, indent=2, sort_keys=True)

    loops_path = out / LOOPS_FILE
    gen = None
    if loops_path.exists():
        gen = Generated.load(loops_path)
        if len(gen) != n:
            gen = None
    if gen is None:
        gen = generate(model, n, prior=prior_model, temperature=temperature, copy=copy, mode=mode, seed=seed,
                       batch_size=batch_size, device=device, progress=progress)  # fmt: skip
        gen.save(loops_path)

    width = max(4, len(str(n - 1)))
    written = {"midi": 0, "png": 0, "ogg": 0}
    skipped_audio: list[str] = []
    started = time.perf_counter()
    if png:
        from .plots import write_pianoroll_png
    for i in tqdm(range(len(gen)), desc="write", unit="loop", disable=None if progress else True):
        stem = f"loop_{i:0{width}d}"
        roll = gen.rolls[i]
        if not (out / f"{stem}.mid").exists():
            write_midi(roll, out / f"{stem}.mid", bpm=bpm)
            written["midi"] += 1
        if png and not (out / f"{stem}.png").exists():
            title = f"{stem} ({name}" + (f", {gen.settings.get('label')}" if name == "vq_vae" else "") + ")"
            write_pianoroll_png(roll, out / f"{stem}.png", title=title)
            written["png"] += 1
        if audio and not (out / f"{stem}.ogg").exists():
            if not roll.any():
                skipped_audio.append(stem)
                continue
            try:
                audio_mod.write_ogg(roll, out / f"{stem}.ogg", bpm=bpm)
                written["ogg"] += 1
            except audio_mod.InaudibleAudioError as exc:
                skipped_audio.append(stem)
                tqdm.write(f"{stem}: no audio ({exc})")
    settings = {
        "request": request,
        "complete": True,
        "loopkit_version": __version__,
        "files": {"loops": LOOPS_FILE, "pattern": f"loop_{'#' * width}.mid|.png|.ogg"},
        "generation": {k: gen.settings[k] for k in ("label", "seconds", "loops_per_second") if k in gen.settings},
        "audio_skipped": skipped_audio,
        "empty_loops": int(np.count_nonzero(~gen.rolls.packed.any(axis=1))),
    }
    write_json(settings_path, settings, indent=2, sort_keys=True)
    lps = gen.settings.get("loops_per_second")
    rate = f" at {lps:,.0f} loops/s" if lps else ""
    echo(
        f"generated {len(gen)} loop(s) with the {name}{rate} into {out}: {written['midi']} MIDI, {written['png']} PNG, "
        f"{written['ogg']} OGG written now ({time.perf_counter() - started:.1f} s)"
        + (f"; {len(skipped_audio)} silent loop(s) without audio" if skipped_audio else "")
    )
    return settings


# ---------------------------------------------------------------------------------------------------------
# Editing code sequences (the latent investigation's tweakable cells)


def bar_steps(bar: int, latent_steps: int = 32) -> list[int]:
    """The latent steps of bar ``bar`` (0-based): 4 steps per bar at t = 32."""
    per_bar = _bar_steps(latent_steps)
    if not 0 <= int(bar) < BARS_PER_LOOP:
        raise ValueError(f"bar must lie in 0..{BARS_PER_LOOP - 1}, got {bar}")
    return list(range(int(bar) * per_bar, (int(bar) + 1) * per_bar))


def single_code_sequence(code: int, latent_steps: int = 32, codebook_size: int | None = None) -> np.ndarray:
    """One code at every latent step: (1, t), to hear what a single dictionary entry decodes to."""
    if codebook_size is not None and not 0 <= int(code) < codebook_size:
        raise ValueError(f"code must lie in 0..{codebook_size - 1}, got {code}")
    return np.full((1, int(latent_steps)), int(code), dtype=np.int64)


def swap_bars(codes, a: int, b: int) -> np.ndarray:
    """A copy of code sequences (n, t) with the latent steps of bars ``a`` and ``b`` exchanged."""
    out = np.array(codes, dtype=np.int64, copy=True)
    if out.ndim != 2:
        raise ValueError(f"codes must be (n, t), got shape {out.shape}")
    sa, sb = bar_steps(a, out.shape[1]), bar_steps(b, out.shape[1])
    out[:, sa], out[:, sb] = out[:, sb].copy(), out[:, sa].copy()
    return out


def resample_steps(
    prior, codes, steps, temperature: Temperature = 1.0, *, seed: int | None = 0, device=None
) -> np.ndarray:
    """Redraw the codes at ``steps`` from the prior, keeping every other code of ``codes`` (n, t).

    The prior reads the sequence left to right: at a step in ``steps`` it samples (step 0 from p(z_0)), at any
    other step it is fed the given code. A resampled bar is therefore conditioned on the bars before it; the
    bars after it keep their codes (the LSTM prior cannot look ahead).
    """
    torch = _torch()
    device = _device_of(prior, device)
    temperature = parse_temperature(temperature)
    given = torch.as_tensor(np.asarray(codes, dtype=np.int64), device=device)
    if given.ndim != 2 or given.shape[1] != prior.config.latent_steps:
        raise ValueError(f"codes must be (n, {prior.config.latent_steps}), got shape {tuple(given.shape)}")
    redraw = sorted({int(s) for s in steps})
    if redraw and not (0 <= redraw[0] and redraw[-1] < given.shape[1]):
        raise ValueError(f"steps must lie in 0..{given.shape[1] - 1}, got {redraw}")
    generator = make_generator(seed, device)
    out = given.clone()
    prior.eval()
    with torch.no_grad():
        if 0 in redraw:
            out[:, 0] = sample_categorical(prior.first_code_probs().to(device).expand(len(out), -1), generator)
        state = prior.initial_state(len(out), device)
        for i in range(1, out.shape[1]):
            logits, state = prior.step(out[:, i - 1], state)
            if i in redraw:
                out[:, i] = _pick(logits, temperature, generator)
    return out.cpu().numpy()


# ---------------------------------------------------------------------------------------------------------
# Figure 5: the most and least frequent code per latent step


#: Figure 5's four panels: (label, rank, least)
FREQUENT_PANELS = (
    ("(a) most frequent", 0, False),
    ("(b) second most frequent", 1, False),
    ("(c) least frequent", 0, True),
    ("(d) second least frequent", 1, True),
)


def frequent_code_sequences(indices, K: int, panels: Sequence[tuple[str, int, bool]] = FREQUENT_PANELS
                            ) -> dict[str, np.ndarray]:  # fmt: skip
    """Figure 5's code sequences: for each panel, the code of that frequency rank at each latent step, (t,).

    ``indices`` (b, t) are code sequences (the training split encoded). Ranks follow
    ``loopkit.metrics.frequent_codes`` (ties to the smaller index; least frequent among the codes used at that
    step). A step with fewer used codes than the rank asks for takes its last available rank instead.
    """
    from .metrics import code_frequencies, frequent_codes

    freq = code_frequencies(indices, K)
    out = {}
    for label, rank, least in panels:
        seq = frequent_codes(freq, rank=rank, least=least)
        for r in range(rank - 1, -1, -1):  # fall back to lower ranks where a step has too few codes
            missing = seq < 0
            if not missing.any():
                break
            seq[missing] = frequent_codes(freq, rank=r, least=least)[missing]
        out[label] = seq
    return out


def decode_frequent_codes(vqvae, indices, panels: Sequence[tuple[str, int, bool]] = FREQUENT_PANELS,
                          device=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Figure 5: each panel's code sequence (t,) and its decoded loop (128, 93) bool, keyed by panel label."""
    seqs = frequent_code_sequences(indices, vqvae.codebook_size, panels)
    labels = list(seqs)
    rolls = decode_codes(vqvae, np.stack([seqs[k] for k in labels]), device=device)
    return {k: (seqs[k], rolls[i]) for i, k in enumerate(labels)}


__all__ = [
    "CONTINUOUS_MODELS",
    "FREQUENT_PANELS",
    "Generated",
    "LatentCopy",
    "MODES",
    "bar_steps",
    "check_pair",
    "decode_codes",
    "decode_frequent_codes",
    "file_digest",
    "frequent_code_sequences",
    "generate",
    "generate_to_folder",
    "load_generator",
    "make_generator",
    "model_name",
    "normalise_form",
    "parse_temperature",
    "resample_steps",
    "sample_categorical",
    "sample_codes",
    "single_code_sequence",
    "swap_bars",
    "temperature_label",
]
