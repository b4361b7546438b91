"""Checkpoints (Experiment Details): the file format, writing and reading it, rebuilding a model from a checkpoint
alone, and pairing a VQ-VAE with the prior trained on its codes.

A checkpoint is a ``torch.save``'d dict, read back with ``weights_only=True`` (tensors and plain data only: a file
holding other Python objects is refused, never loaded the unsafe way) and checked before a model is built from it
(``check_checkpoint``: the configuration against its dataclass, the weights against the configuration, and every
weight for data, its number kind and finite values)::

    format            "loopkit-checkpoint-1"
    kind              "best" or "last"
    model             "ar_lstm_vae", "nonar_lstm_vae", "cnn_vae", "vq_vae" or "prior"
    config            the architecture (``dataclasses.asdict`` of ``loopkit.config``'s dataclass): rebuilds the model
    train_config      the training settings; profile, seed: the named profile and the seed of the run
    data_fingerprint  ``Loops.fingerprint`` of the data set it was trained on; data_path where that was
    extra             the prior's VQ-VAE: ``vqvae_checkpoint`` (its path) and ``vqvae_digest`` (``file_digest``)
    epoch, step       how far training got; history: one row per epoch (metrics.csv); best: the best epoch so far
    epochs_scheduled  the length of the run's schedule; trained_to: the epoch its run had reached when this file was
                      last written (``run_label``); settings: what the run set over its profile
    loopkit_version, device
    state_dict        the weights
    optimizer, scheduler, scaler, rng       (``last.pt`` only) what resuming needs

A run directory (``loopkit.training.train``) holds ``LAST``, ``BEST`` and ``loopkit.training.rundir.METRICS``. Every
checkpoint is written atomically (``loopkit.atomic``). Both the trainer and the generator depend on this module, not on
each other.

torch and the models are imported by the functions that read, write or build (``import loopkit.models.checkpoints`` does
not import torch), so what only names the format (``BEST``, ``run_label``) costs no torch: the command
line's parser, ``loopkit.book.rehearsal`` and ``loopkit.ownloop.interpolation`` read it.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from loopkit.atomic import file_hash, write_bytes
from loopkit.config import CONFIG_CLASSES, config_from_dict
from loopkit.errors import LoopkitError

if TYPE_CHECKING:
    import torch

CHECKPOINT_FORMAT = "loopkit-checkpoint-1"
#: The files of a run directory: everything needed to resume, the best epoch's weights, one row per epoch.
LAST = "last.pt"
BEST = "best.pt"
#: beside a prior's checkpoints: the code sequences of the training split it was trained on, (n, t) int16
TRAIN_CODES = "train_codes.npy"
#: What ``load_model`` keeps of a checkpoint as the model's ``checkpoint`` attribute (everything but tensors).
METADATA = ("model", "profile", "epoch", "step", "seed", "data_fingerprint", "data_path", "loopkit_version", "best",
            "train_config", "extra", "epochs_scheduled", "trained_to", "settings")  # fmt: skip


def run_label(meta: dict) -> str:
    """How far a checkpoint's run went, as the tables print it: "complete" when it reached the end of its schedule
    (or was written before checkpoints recorded that), else "rehearsal: 2 of 2,000 epochs" for a run stopped where
    it was asked to (``TrainConfig.until_epoch``) or "unfinished: 300 of 2,000 epochs" for one interrupted.
    ``meta`` is a checkpoint or a model's ``checkpoint`` attribute."""
    reached, scheduled = meta.get("trained_to"), meta.get("epochs_scheduled")
    if reached is None or scheduled is None or reached >= scheduled:
        return "complete"
    kind = "rehearsal" if (meta.get("train_config") or {}).get("until_epoch") else "unfinished"
    return f"{kind}: {reached:,} of {scheduled:,} epochs"


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" -> CUDA when present, else CPU. Asking for CUDA without one is a ``LoopkitError``."""
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    asked = device
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):  # torch knows "mps", "xla", ...: none is tested here
        raise LoopkitError(f"unknown device {str(asked)!r}: loopkit runs on 'cpu' or 'cuda' (or 'auto': CUDA when "
                           "present)")  # fmt: skip
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LoopkitError("device 'cuda' was asked for but torch sees no CUDA device (use the CPU)")
    return device


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write a checkpoint dict (see the module docstring) atomically; returns the path."""
    import torch

    buf = io.BytesIO()  # torch's writer turns a full disk into a RuntimeError; a plain write says ENOSPC
    torch.save(state, buf)
    return write_bytes(path, buf.getbuffer())


def _unreadable(path: Path, exc: Exception) -> LoopkitError:
    """One line for a file ``torch.load`` refused. Never torch's own message: it advises loading again with
    ``weights_only=False``, which would run whatever code an untrusted file carries."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and "GLOBAL" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" ({found.group(1)})" if found else ""
        return LoopkitError(f"{path} holds Python objects besides tensors and plain data{what}: refused, because "
                            "loading such a file can run code (a loopkit checkpoint holds none)")  # fmt: skip
    first = next((line.strip() for line in text.splitlines() if line.strip()), "").split(". ")[0]
    detail = f"{type(exc).__name__}: {first[:160]}" if first and "weights_only" not in first else type(exc).__name__
    return LoopkitError(f"{path} is not a readable loopkit checkpoint: truncated or another kind of file ({detail})")


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """The raw checkpoint dict, read with ``weights_only=True`` (tensors and plain data only); a
    ``FileNotFoundError``/``LoopkitError`` with one line if it is unusable."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles on stderr: the error says it in one line
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # a truncated, foreign or hostile file
        raise _unreadable(path, exc) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise LoopkitError(f"{path} is not a loopkit checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


#: A size in a checkpoint's configuration may be at most this many times the paper's (its dataclass default): far
#: above any model of the paper or its ablations, and far below what asks for terabytes (K = 2^38 did).
MAX_SIZE_FACTOR = 64


def config_problems(name: str, values: dict) -> list[str]:
    """What is wrong with a stored configuration of model ``name``, checked against its dataclass
    (``loopkit.config.CONFIG_CLASSES``) field by field: the type of the default (a whole number for an int, a
    finite number for a float), sizes of at least 1 (0 where the default is 0) and at most ``MAX_SIZE_FACTOR``
    times the default. Unknown settings are left to ``config_from_dict``; missing ones take their default."""
    problems = []
    for f in dataclasses.fields(CONFIG_CLASSES[name]):
        if f.name not in values or f.default is dataclasses.MISSING:
            continue
        value, default = values[f.name], f.default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{f.name} is {value!r:.40}, not a whole number")
            elif value < min(1, default):
                problems.append(f"{f.name} is {value}, not a positive size")
            elif value > max(default, 1) * MAX_SIZE_FACTOR:
                problems.append(f"{f.name} is {value:,}, more than {MAX_SIZE_FACTOR} times the paper's {default}")
            continue
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems.append(f"{f.name} is {value!r:.40}, not a finite number")
            continue
        else:
            ok = isinstance(value, type(default)) or (isinstance(default, tuple) and isinstance(value, list))
        if not ok:
            problems.append(f"{f.name} is {value!r:.40}, not a {type(default).__name__}")
    return problems


def check_checkpoint(ckpt: dict, path: str | os.PathLike):
    """``(model name, configuration)`` of a checkpoint read by ``load_checkpoint``, after checking, before anything
    real is built, that it names a model, that its configuration passes ``config_problems``, and that its weights
    (``state_dict``) have exactly the tensors and shapes that configuration builds (compared with the model built
    on PyTorch's ``meta`` device, which allocates nothing), and that every one of them can be used
    (``weight_problems``: data, not meta; dense; the model's number kind; finite). Anything else is a
    ``LoopkitError`` of one line that names the file."""
    import torch

    from loopkit.models.registry import build_model

    name = ckpt.get("model")
    if not isinstance(name, str) or name not in CONFIG_CLASSES:
        raise LoopkitError(f"{path} names no known model ({name!r:.40}; known: {', '.join(CONFIG_CLASSES)})")
    values = ckpt.get("config")
    if not isinstance(values, dict):
        raise LoopkitError(f"{path} holds no configuration of its {name} (config is {type(values).__name__})")
    problems = config_problems(name, values)
    if problems:
        raise LoopkitError(f"{path} holds a {name} configuration loopkit refuses to build: {'; '.join(problems[:3])}")
    try:
        config = config_from_dict(name, values)
    except LoopkitError as exc:
        raise LoopkitError(f"{path}: {exc}") from None
    state = ckpt.get("state_dict")
    if not isinstance(state, dict) or not state:
        raise LoopkitError(f"{path} holds no weights (no state_dict)")
    try:
        with torch.device("meta"):
            skeleton = build_model(name, config)
    except Exception as exc:  # a combination of settings the architecture cannot take
        first = (str(exc).splitlines() or [""])[0][:160]
        why = first if isinstance(exc, LoopkitError) else f"{type(exc).__name__}: {first}"
        raise LoopkitError(f"{path}: its configuration does not build a {name} ({why})") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    found = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in state.items()}
    wrong = [f"{k} is missing" for k in expected if k not in found]
    wrong += [f"{k} is not a tensor" for k in expected if k in found and found[k] is None]
    wrong += [f"{k} has shape {found[k]}, the configuration needs {expected[k]}" for k in expected
              if found.get(k) is not None and found[k] != expected[k]]  # fmt: skip
    wrong += [f"{k} is not part of a {name}" for k in found if k not in expected]
    if wrong:
        more = f" (and {len(wrong) - 2} more)" if len(wrong) > 2 else ""
        raise LoopkitError(f"{path}: its weights do not fit its configuration: {'; '.join(wrong[:2])}{more}")
    unusable = weight_problems(state, skeleton.state_dict())
    if unusable:
        more = f" (and {len(unusable) - 1} more)" if len(unusable) > 1 else ""
        raise LoopkitError(f"{path}: its weights cannot be used: {unusable[0]}{more}")
    return name, config


def _kind(dtype: torch.dtype) -> str:
    import torch

    if dtype == torch.bool:
        return "bool"
    return "complex" if dtype.is_complex else "floating point" if dtype.is_floating_point else "integer"


def weight_problems(state: dict, expected: dict) -> list[str]:
    """What makes the tensors of a ``state_dict`` (whose names and shapes fit ``expected``, the state_dict of the
    model built on the ``meta`` device) unusable, one phrase per tensor: a tensor without data (on the meta device:
    the shapes pass, then ``load_state_dict`` fails with a long traceback), one that is not dense, a number kind
    other than the model's (complex weights run with a warning, their imaginary parts dropped), and NaN or
    infinite values (a model with them generates empty loops or a constant code)."""
    import torch

    problems, finite = [], {}
    for key, want in expected.items():
        tensor = state[key]
        if tensor.is_meta:
            problems.append(f"{key} holds no data (a tensor on PyTorch's meta device)")
        elif tensor.layout != torch.strided or tensor.is_quantized:
            what = "quantized" if tensor.is_quantized else str(tensor.layout)
            problems.append(f"{key} is not a dense tensor ({what})")
        elif (found := _kind(tensor.dtype)) != _kind(want.dtype):
            problems.append(f"{key} holds {found} numbers ({tensor.dtype}), the model {_kind(want.dtype)} ones")
        elif tensor.is_floating_point():
            finite[key] = torch.isfinite(tensor).all()
    if finite:  # one host sync for all of them, where the weights lie on a GPU
        flags = torch.stack(list(finite.values())).cpu().tolist()
        problems += [f"{key} holds NaN or infinite values" for key, ok in zip(finite, flags) if not ok]
    return problems


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """Rebuild a trained model (or the prior) from a checkpoint alone, in eval mode on ``device``.

    The checkpoint is checked first (``check_checkpoint``): a bad configuration or weights that do not fit it are a
    one-line ``LoopkitError``, never an allocation of what a hostile configuration asks for. The model gets a
    ``checkpoint`` attribute: the checkpoint's metadata (``METADATA``: model, profile, epoch, step, data fingerprint,
    best validation score, loopkit version, ...) and its path, without the tensors.
    """
    from loopkit.models.registry import build_model

    ckpt = load_checkpoint(path, device)
    name, config = check_checkpoint(ckpt, path)
    model = build_model(name, config)
    model.load_state_dict(ckpt["state_dict"])
    model.to(device).eval()
    model.checkpoint = {k: ckpt.get(k) for k in METADATA} | {"path": str(path)}
    return model


def load_train_codes(prior_checkpoint: str | os.PathLike):
    """The training split's code sequences stored beside a prior's checkpoint ((n, t) int64 numpy), or None.

    ``loopkit.training.train.train_prior`` computes them once, from the VQ-VAE in float32, and every later consumer
    (OS in Tables 3 and 4, Figures 4 and 5) reads this array instead of recomputing it under other precision
    settings."""
    import numpy as np

    path = Path(prior_checkpoint).parent / TRAIN_CODES
    if not path.is_file():
        return None
    return np.load(path, allow_pickle=False).astype(np.int64)


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a checkpoint file, first 16 hex digits: how a prior records the VQ-VAE it was trained on."""
    return file_hash(path)[:16]


def model_name(model) -> str:
    """The registry name of a loaded model (``"vq_vae"``, ``"prior"``, ``"cnn_vae"``, ...)."""
    name = getattr(model, "name", None)
    if not isinstance(name, str):
        raise LoopkitError(f"{type(model).__name__} is not a loopkit model")
    return name


def check_pair(vqvae, prior) -> None:
    """Raise unless the prior models this VQ-VAE's codes (same K and t)."""
    if prior.codebook_size != vqvae.codebook_size or prior.config.latent_steps != vqvae.latent_steps:
        raise LoopkitError(
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
    out.append(prior_path.parent.parent / "vq_vae" / BEST)
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
    """Load what ``loopkit.generation.generate.generate`` needs from checkpoints: ``(model, prior)``, prior None for a
    continuous VAE.

    ``checkpoint`` may be

    * the prior's checkpoint (``loopkit train prior``): its VQ-VAE is the one it records (``extra.vqvae_checkpoint``,
      checked by the recorded SHA-256 digest), looked up as recorded, relative to the prior's folder, and as
      ``../vq_vae/best.pt``; ``vqvae=`` names it explicitly when it has moved;
    * a VQ-VAE checkpoint, with ``prior=`` naming its prior's checkpoint;
    * a continuous VAE's checkpoint (AR/NonAR LSTM-VAE, CNN-VAE).

    A prior recorded against other VQ-VAE weights (digest mismatch) is refused: its codes would mean nothing.
    """
    path = Path(checkpoint)
    first = load_model(path, device)
    name = model_name(first)
    if name == "prior":
        if prior is not None:
            raise LoopkitError(f"{path} is already a prior; name a prior only beside a VQ-VAE checkpoint")
        prior_model, prior_path = first, path
        vq_path = Path(vqvae) if vqvae is not None else None
    elif name == "vq_vae":
        if prior is None:
            raise LoopkitError(
                f"{path} is a VQ-VAE: its codes come from its LSTM prior; pass the prior's checkpoint "
                "(`loopkit train prior`) instead, or name the prior beside it"
            )
        if vqvae is not None:
            raise LoopkitError("a VQ-VAE is named only beside a prior's checkpoint; here the checkpoint is the VQ-VAE")
        prior_path = Path(prior)
        prior_model = load_model(prior_path, device)
        if model_name(prior_model) != "prior":
            raise LoopkitError(f"{prior_path} holds a {model_name(prior_model)}, not the LSTM prior")
        vq_path = path
    elif name in ("ar_lstm_vae", "nonar_lstm_vae", "cnn_vae"):
        if prior is not None or vqvae is not None:
            raise LoopkitError(f"{path} is a {name}: it samples z ~ N(0, I) and takes no prior and no VQ-VAE")
        return first, None
    else:
        raise LoopkitError(f"cannot generate from a {name} checkpoint")

    extra = (prior_model.checkpoint or {}).get("extra") or {}
    digest = extra.get("vqvae_digest")
    if vq_path is None:
        candidates = _recorded_vqvae(prior_path, extra.get("vqvae_checkpoint"))
        existing = [p for p in candidates if p.is_file()]
        matching = [p for p in existing if digest is None or file_digest(p) == digest]
        if not matching:
            where = extra.get("vqvae_checkpoint") or "(not recorded)"
            if existing:
                raise LoopkitError(
                    f"the prior {prior_path} was trained on the VQ-VAE {where} (digest {digest}); "
                    f"{existing[0]} holds other weights: name the right VQ-VAE checkpoint"
                )
            raise FileNotFoundError(f"the prior {prior_path} was trained on the VQ-VAE {where}, which is not "
                                    "there: name its checkpoint")  # fmt: skip
        vq_path = matching[0]
    elif digest is not None and file_digest(vq_path) != digest:
        raise LoopkitError(f"the prior {prior_path} was trained on other VQ-VAE weights than {vq_path} (digest "
                           f"{file_digest(vq_path)}, recorded {digest})")  # fmt: skip
    vq = first if name == "vq_vae" else load_model(vq_path, device)
    if model_name(vq) != "vq_vae":
        raise LoopkitError(f"{vq_path} holds a {model_name(vq)}, not a VQ-VAE")
    check_pair(vq, prior_model)
    return vq, prior_model
