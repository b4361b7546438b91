"""The one trainer (Experiment Details, Training Details) for the four models and the VQ-VAE's prior.

``train(model_name, data, profile, out)`` trains one model on the ``train`` split of a loop data set and
validates it every epoch on the ``valid`` split with the paper's reconstruction error (Table 1: mean per-cell
Hamming distance between the input and the thresholded output, ``model_reconstruction_error``).
``train_prior(vqvae_checkpoint, ...)`` trains the LSTM prior on the codes a trained VQ-VAE assigns to the
training split. ``loopkit.checkpoints.load_model(path)`` rebuilds any of them from a checkpoint alone.

A run directory ``out`` holds::

    last.pt       everything needed to resume (weights, AdamW, cosine schedule, RNG, history); every epoch
    best.pt       the weights of the epoch with the best validation score so far
    metrics.csv   one row per epoch: training loss terms, validation score, learning rate, beta, seconds (of
                  the whole epoch, and of its validation)

All three are written atomically (``loopkit.atomic``; the checkpoint format: ``loopkit.checkpoints``). Calling ``train`` again with the same
arguments on a directory holding ``last.pt`` resumes from it (after Ctrl-C or SIGKILL, at most one epoch is
lost); on CPU with a fixed seed the resumed run ends with exactly the weights of an uninterrupted one. A
directory holding a different run (other model, settings, seed or data) is refused with one line.

Data never goes through a per-sample Python loader: the whole bit-packed training split (1,488 bytes a loop)
stays resident on the device (on the GPU when there is one and it fits) and each batch is unpacked there with
tensor ops.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .atomic import write_bytes, write_text
from .checkpoints import (
    BEST,
    CHECKPOINT_FORMAT,
    LAST,
    METRICS,
    TRAIN_CODES,
    file_digest,
    load_checkpoint,
    load_model,
    load_train_codes,
    resolve_device,
    save_checkpoint,
)
from .config import ALL_NAMES, MODEL_NAMES, PRIOR_NAME, TrainConfig, model_config, train_config
from .dataset import ROLL_CELLS, ROLL_SHAPE, Loops, PackedRolls, as_loops
from .errors import LoopkitError, differences
from .models import build_model
from .metrics import first_step_counts
from .pianoroll import BASS_COLUMNS
from .version import __version__

#: Stored with a run but free to change on resume: where the data lives and how the steps run, not what they
#: compute.
_NOT_COMPARED = ("data_path", "train_config.compile", "train_config.checkpoint_seconds")

_SHIFTS: dict[torch.device, torch.Tensor] = {}  # the bit shifts of unpack_batch, one copy per device


# --------------------------------------------------------------------------------------------------- data


def _packed_tensor(rolls: PackedRolls | np.ndarray, device: torch.device) -> torch.Tensor:
    """The (n, 1488) uint8 packed rolls as a tensor, on ``device`` when it fits (else pinned host memory)."""
    packed = np.ascontiguousarray(rolls.packed if isinstance(rolls, PackedRolls) else rolls, dtype=np.uint8)
    if not packed.flags.writeable:  # a memory-mapped set: read it into memory once
        packed = packed.copy()
    tensor = torch.from_numpy(packed)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.numel() < free // 4:  # leave most of the memory to the model
            return tensor.to(device)
        return tensor.pin_memory()
    return tensor


def unpack_batch(packed: torch.Tensor) -> torch.Tensor:
    """(b, 1488) uint8 -> (b, 128, 93) float32 on the same device (``np.unpackbits`` order), with tensor ops."""
    shifts = _SHIFTS.get(packed.device)
    if shifts is None:  # made once per device: a fresh host-to-device copy every batch would block the GPU
        shifts = _SHIFTS[packed.device] = torch.arange(7, -1, -1, dtype=torch.uint8, device=packed.device)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(packed.shape[0], *ROLL_SHAPE).float()


def _fetch(packed: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows ``idx`` of the resident packed set, unpacked to floats on ``device``."""
    if packed.device != device:
        return unpack_batch(packed[idx.cpu()].to(device, non_blocking=True))
    return unpack_batch(packed[idx])


def transpose_bass(x: torch.Tensor, semitones: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Move each loop's bass line by a random whole number of semitones (the ``transpose`` augmentation).

    x (b, t, p) float: for each loop a shift k is drawn uniformly from ``-semitones .. semitones`` and then clipped
    to the range that keeps its lowest and highest bass note inside the bass columns (a loop without bass is not
    moved). Drum columns are unchanged. Returns a new tensor.
    """
    b = x.shape[0]
    n_bass = BASS_COLUMNS.stop - BASS_COLUMNS.start
    bass = x[..., BASS_COLUMNS]
    used = bass.amax(dim=1) > 0  # (b, n_bass)
    cols = torch.arange(n_bass, device=x.device)
    low = torch.where(used, cols, n_bass).amin(dim=1)
    high = torch.where(used, cols, -1).amax(dim=1)
    k = torch.randint(-semitones, semitones + 1, (b,), device=x.device, generator=generator)
    k = torch.where(used.any(dim=1), torch.clamp(k, -low, n_bass - 1 - high), torch.zeros_like(k))
    src = cols[None, :] - k[:, None]  # output column c takes input column c - k
    valid = (src >= 0) & (src < n_bass)
    moved = torch.gather(bass, 2, src.clamp(0, n_bass - 1)[:, None, :].expand(-1, x.shape[1], -1))
    out = x.clone()
    out[..., BASS_COLUMNS] = moved * valid[:, None, :]
    return out


# ------------------------------------------------------------------------------------------------ metrics


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def amp_dtype(model, device: torch.device, amp: str) -> torch.dtype | None:
    """The autocast dtype of a model under ``TrainConfig.amp``, or None for float32: mixed precision only on
    CUDA, for a model marked ``amp_safe``, when ``amp`` is "bf16" or "fp16"; "off" (every profile's default)
    is float32 throughout."""
    if device.type == "cuda" and amp in AMP_DTYPES and getattr(model, "amp_safe", False):
        return AMP_DTYPES[amp]
    return None


def autocast_for(model, device: torch.device, amp: str):
    """The autocast context for ``amp_dtype(model, device, amp)`` (disabled when that is None)."""
    dtype = amp_dtype(model, device, amp)
    return torch.autocast(device_type=device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


@torch.no_grad()
def reconstruction_report(model, rolls: PackedRolls | Loops | torch.Tensor, batch_size: int = 2048,
                          device: str | torch.device | None = None, amp: str = "off",
                          bass_rule: str = "paper") -> dict:  # fmt: skip
    """The paper's reconstruction error (Table 1) of a model on loops, with FND and FNB of the reconstructions.

    ``error = sum_b sum_{t,p} [x_btp != reconstruct(x)_btp] / (b * 128 * 93)``, with ``reconstruct`` the
    thresholded (sigmoid >= 0.5) output: decode(mu) for the continuous VAEs (full sampling for the AR
    model), decode(quantise(encode(x))) for the VQ-VAE. ``FND`` and ``FNB`` are the shares of reconstructions
    with kick and crash, and with a bass note, on the first step (``loopkit.metrics.first_step_counts``): every
    training loop has both, so they say whether a model keeps the loops' starting point. ``rolls`` are the loops
    to evaluate (e.g. the valid split); the model is switched to eval mode. ``amp`` as ``TrainConfig.amp``
    ("off": float32); ``bass_rule`` as ``loopkit.models.blocks.binarize``.

    Returns ``{"error", "FND", "FNB", "n", "errors"}``; ``errors`` is each loop's own error, (n,) float (its
    bootstrap gives the error's sampling noise, ``loopkit.uncertainty``).
    """
    if isinstance(rolls, Loops):
        rolls = rolls.rolls
    device = torch.device(device) if device is not None else next(model.parameters()).device
    packed = rolls if isinstance(rolls, torch.Tensor) else _packed_tensor(rolls, device)
    n = len(packed)
    if n == 0:
        raise LoopkitError("no loops to evaluate")
    model.eval()
    wrong, firsts = [], []
    for start in range(0, n, batch_size):
        x = unpack_batch(packed[start : start + batch_size].to(device))
        with autocast_for(model, device, amp):
            rec = model.reconstruct(x, bass_rule)
        wrong.append((rec != x.bool()).flatten(1).sum(1))
        firsts.append(rec[:, 0])
    fnd, fnb = first_step_counts(torch.cat(firsts).cpu().numpy())
    counts = torch.cat(wrong).cpu()
    return {"error": float(counts.sum()) / (n * ROLL_CELLS), "FND": fnd / n, "FNB": fnb / n, "n": n,
            "errors": counts.numpy() / ROLL_CELLS}  # fmt: skip


def model_reconstruction_error(model, rolls: PackedRolls | Loops | torch.Tensor, batch_size: int = 2048,
                               device: str | torch.device | None = None, amp: str = "off") -> float:
    """The paper's reconstruction error (Table 1) of a model (``reconstruction_report``'s ``error``);
    ``loopkit.metrics.reconstruction_error`` compares two sets of loops instead."""
    return reconstruction_report(model, rolls, batch_size, device, amp)["error"]


def teacher_forcing_ratio(epoch: int, rate: float) -> float:
    """Scheduled sampling's inverse-sigmoid decay: ``k / (k + exp(epoch / k))``, k = rate, epoch 0-based."""
    return rate / (rate + math.exp(min(epoch / rate, 700.0)))


def beta_at(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """beta for optimizer step ``step`` (0-based): linear from beta_start, reaching beta_end at the last step
    of the first ``beta_anneal_fraction`` of all steps, then constant."""
    anneal = max(1, round(cfg.beta_anneal_fraction * total_steps))
    frac = min(1.0, (step + 1) / anneal)
    return cfg.beta_start + (cfg.beta_end - cfg.beta_start) * frac


# --------------------------------------------------------------------------------------------------- tasks


def _compiled(model):
    """``torch.compile(model)``, with random draws (the reparameterisation's noise, dead-code restarts) taken from
    PyTorch's own generator as in eager mode, so that a seed draws the same noise compiled or not."""
    import torch._inductor.config as inductor

    inductor.fallback_random = True
    return torch.compile(model)


class _RollTask:
    """Training one of the four models on loops."""

    def __init__(self, model, loops: Loops, cfg: TrainConfig, device: torch.device):
        self.model, self.cfg, self.device = model, cfg, device
        self.forward = _compiled(model) if cfg.compile else model  # shares the model's parameters
        self.train = _packed_tensor(loops.split("train").rolls, device)
        self.valid = _packed_tensor(loops.split("valid").rolls, device)
        self.fit_check = self.train[: cfg.train_eval_loops]  # the first loops of the split, in storage order
        self.n = len(self.train)
        self.continuous = model.name != "vq_vae"
        self.metric = "val_error"
        self._new_epoch()

    def _new_epoch(self) -> None:
        if not self.continuous:  # the codes taken in this epoch, accumulated on the device
            self.code_counts = torch.zeros(self.model.codebook_size, device=self.device)
            self.restarts = torch.zeros((), dtype=torch.long, device=self.device)

    def step(self, idx: torch.Tensor, epoch: int, beta: float) -> tuple[torch.Tensor, dict]:
        x = _fetch(self.train, idx, self.device)
        if self.cfg.transpose:
            x = transpose_bass(x, self.cfg.transpose)
        if self.model.name == "ar_lstm_vae":
            out = self.forward(x, teacher_forcing=teacher_forcing_ratio(epoch, self.cfg.sampling_rate))
        else:
            out = self.forward(x)
        loss = self.model.loss(out, beta)
        terms = {"loss": loss, "recon": out["recon"]}
        if self.continuous:
            terms["kl"] = out["kl"]
        else:
            q = self.model.quantizer
            terms["commit"] = out["commit"]
            terms["perplexity"] = q.last_perplexity
            terms["dead_codes"] = q.last_dead.float()
            self.code_counts += q.last_counts
            self.restarts += q.last_dead
        return loss, terms

    def epoch_columns(self, epoch: int, beta: float) -> dict:
        """Per-epoch columns: beta and the teacher-forcing ratio; for the VQ-VAE the codes used in the epoch,
        the perplexity of the epoch's code counts and the dead-code restarts of the epoch."""
        cols = {"beta": beta} if self.continuous else {}
        if self.model.name == "ar_lstm_vae":
            cols["teacher_forcing"] = teacher_forcing_ratio(epoch, self.cfg.sampling_rate)
        if not self.continuous:
            counts = self.code_counts
            probs = counts / counts.sum()
            cols["codes_used"] = int((counts > 0).sum())
            cols["code_perplexity"] = float(torch.exp(-(probs * torch.log(probs + 1e-10)).sum()))
            cols["restarts"] = int(self.restarts)
            self._new_epoch()
        return cols

    def validate(self) -> dict:
        """Reconstruction error, FND and FNB on the valid split (``val_*``) and on the first
        ``train_eval_loops`` training loops (``train_error``, ``train_FND``, ``train_FNB``): learning apart from
        generalisation."""
        row = {}
        for prefix, rolls in (("val", self.valid), ("train", self.fit_check)):
            if len(rolls):
                rep = reconstruction_report(self.model, rolls, self.cfg.eval_batch_size, self.device, self.cfg.amp)
                row.update({f"{prefix}_error": rep["error"], f"{prefix}_FND": rep["FND"], f"{prefix}_FNB": rep["FNB"]})
        return row

    def eligible(self, beta: float) -> bool:
        """Only epochs that end at the full beta may be the best (see TrainConfig)."""
        return not self.continuous or beta >= self.cfg.beta_end - 1e-12


class _PriorTask:
    """Training the LSTM prior on code sequences."""

    def __init__(self, model, train_codes: torch.Tensor, valid_codes: torch.Tensor, cfg: TrainConfig,
                 device: torch.device):
        self.model, self.cfg, self.device = model, cfg, device
        self.forward = _compiled(model) if cfg.compile else model
        self.train, self.valid = train_codes.to(device), valid_codes.to(device)
        self.n = len(self.train)
        self.metric = "val_ce"

    def step(self, idx: torch.Tensor, epoch: int, beta: float) -> tuple[torch.Tensor, dict]:
        codes = self.train[idx]
        ce, acc = self.model.loss_and_accuracy(self.forward(codes), codes)
        return ce, {"loss": ce, "accuracy": acc}

    def epoch_columns(self, epoch: int, beta: float) -> dict:
        return {}

    @torch.no_grad()
    def validate(self) -> dict:
        self.model.eval()
        ce_sum, acc_sum = 0.0, 0.0
        for start in range(0, len(self.valid), self.cfg.eval_batch_size):
            codes = self.valid[start : start + self.cfg.eval_batch_size]
            ce, acc = self.model.loss_and_accuracy(self.model(codes), codes)
            ce_sum += float(ce) * len(codes)
            acc_sum += float(acc) * len(codes)
        return {"val_ce": ce_sum / len(self.valid), "val_accuracy": acc_sum / len(self.valid)}

    def eligible(self, beta: float) -> bool:
        return True


# ------------------------------------------------------------------------------------------------ run files


def _write_metrics(history: list[dict], path: Path) -> None:
    """The whole history as ``metrics.csv`` (atomically): at the start of a run, and on resume, where it drops
    rows of epochs after the checkpoint."""
    import pandas as pd

    write_text(path, pd.DataFrame(history).to_csv(index=False, lineterminator="\n"))


def _append_metrics(history: list[dict], path: Path) -> None:
    """Append the newest row of ``history`` to ``metrics.csv`` (one short write per epoch, however long the run);
    the file is rewritten whole when it is missing or its columns differ."""
    import pandas as pd

    row = pd.DataFrame(history[-1:])
    header = None
    if path.is_file():
        with open(path) as fh:
            header = fh.readline().rstrip("\n")
    if len(history) == 1 or header != ",".join(row.columns):
        _write_metrics(history, path)
        return
    with open(path, "a") as fh:
        fh.write(row.to_csv(index=False, header=False, lineterminator="\n"))


# ------------------------------------------------------------------------------------------------- trainer


def _fit(name: str, model, task, cfg: TrainConfig, identity: dict, out: Path, device: torch.device, seed: int,
         progress: bool, callback: Callable[[dict], None] | None) -> Path:
    from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

    out.mkdir(parents=True, exist_ok=True)
    if task.n < 2:
        raise LoopkitError(f"the training split has {task.n} loop(s); at least 2 are needed")
    steps_per_epoch = cfg.batches_per_epoch(task.n)
    epochs = cfg.epochs_for(task.n)
    total_steps = epochs * steps_per_epoch
    fused = {"fused": True} if cfg.fused_adamw and device.type == "cuda" else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr_max, weight_decay=cfg.weight_decay, **fused)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps - 1, 1), eta_min=cfg.lr_min)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype(model, device, cfg.amp) == torch.float16)

    epoch, step, history, best = 0, 0, [], None
    last_path, best_path = out / LAST, out / BEST
    for stale in out.glob(".*.tmp-*"):  # left by a run killed while writing
        stale.unlink(missing_ok=True)
    if last_path.exists():
        try:
            ckpt = load_checkpoint(last_path, device)
        except LoopkitError as exc:  # e.g. truncated by a full disk or a copy cut short
            raise LoopkitError(f"{exc}; the run in {out} cannot resume from it: delete {last_path} to start the run "
                               "afresh there, or train into another output directory") from None  # fmt: skip
        recorded = dict(ckpt, config=_with_defaults(ckpt.get("config"), type(model.config)),
                        train_config=_with_defaults(ckpt.get("train_config"), TrainConfig))
        differs = differences(recorded, identity, keys=identity, ignore=_NOT_COMPARED)
        if differs:
            raise LoopkitError(
                f"{out} holds a different training run (it differs in {', '.join(differs)}): "
                "use another output directory or delete that one"
            )
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        if device.type == "cuda" and ckpt["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"].cpu(), device)
        epoch, step, history, best = ckpt["epoch"], ckpt["step"], list(ckpt["history"]), ckpt["best"]
        if epoch >= epochs:
            if not best_path.exists():
                raise FileNotFoundError(f"{out} holds a finished run without its {BEST}: delete {out} to retrain")
            return best_path
        _write_metrics(history, out / METRICS)  # drops rows of epochs after the checkpoint

    def checkpoint(kind: str) -> dict:
        state = dict(identity)
        state.update(format=CHECKPOINT_FORMAT, kind=kind, epoch=epoch, step=step, history=history, best=best,
                     loopkit_version=__version__, device=str(device), state_dict=model.state_dict())
        if kind == "last":
            state.update(
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict(),
                rng={"torch": torch.get_rng_state(),
                     "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None},
            )
        return state

    bar = tqdm(total=total_steps, initial=step, desc=f"train {name}", unit="step", disable=not progress,
               dynamic_ncols=True, file=sys.stderr)
    saved_at = time.monotonic()
    try:
        while epoch < epochs:
            started = time.perf_counter()
            model.train()
            order = torch.randperm(task.n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
            if isinstance(task.train, torch.Tensor) and task.train.device.type == "cuda":
                order = order.to(device)
            sums: dict[str, torch.Tensor] = {}
            beta = 0.0
            for idx in torch.tensor_split(order, steps_per_epoch):
                beta = beta_at(step, total_steps, cfg)
                with autocast_for(model, device, cfg.amp):
                    loss, terms = task.step(idx, epoch, beta)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                lr = optimizer.param_groups[0]["lr"]
                scheduler.step()
                step += 1
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach().float() * len(idx)
                bar.update(1)
                if callback is not None:
                    callback({"epoch": epoch, "step": step})
            row = {"epoch": epoch + 1, "step": step, "lr": lr}
            row.update(task.epoch_columns(epoch, beta))
            row.update({f"train_{k}": float(v) / task.n for k, v in sums.items()})
            validating = time.perf_counter()
            row.update(task.validate())
            epoch += 1
            row["seconds"] = time.perf_counter() - started
            row["val_seconds"] = time.perf_counter() - validating
            history.append(row)
            final = epoch == epochs
            if cfg.select == "last" or (task.eligible(beta) and (best is None or row[task.metric] < best["value"])):
                best = {"epoch": epoch, "metric": task.metric, "value": row[task.metric]}
                if cfg.select != "last" or final:  # "last": written once, when the run ends
                    save_checkpoint(checkpoint("best"), best_path)
            if final or time.monotonic() - saved_at >= cfg.checkpoint_seconds:
                save_checkpoint(checkpoint("last"), last_path)
                saved_at = time.monotonic()
            _append_metrics(history, out / METRICS)
            bar.set_postfix(epoch=f"{epoch}/{epochs}", loss=f"{row['train_loss']:.4g}",
                            **{task.metric: f"{row[task.metric]:.4g}"})
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {out} keeps epoch {epoch}; the same call resumes from there", file=sys.stderr)
        raise
    bar.close()
    return best_path


def _with_defaults(recorded, cls) -> dict | None:
    """A run's recorded settings with the fields added to ``cls`` since it was written set to their defaults
    (a setting is added with the default that keeps the old behaviour), so that such a run still resumes."""
    if not isinstance(recorded, dict):
        return recorded
    added = {f.name: f.default for f in dataclasses.fields(cls)
             if f.name not in recorded and f.default is not dataclasses.MISSING}  # fmt: skip
    return {**added, **recorded}


def _setup(device, seed: int, deterministic: bool = False) -> torch.device:
    """The device, seeded; on CUDA, TF32 matmuls and cuDNN autotuning, or with ``deterministic`` neither and
    PyTorch's deterministic algorithms (so that a resumed GPU run ends with the weights of an uninterrupted
    one, as a CPU run always does)."""
    device = resolve_device(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = not deterministic
        torch.backends.cudnn.allow_tf32 = not deterministic
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(deterministic, warn_only=False)
    torch.manual_seed(seed)
    return device


def train(model_name: str, data: Loops | str | os.PathLike, profile: str, out: str | os.PathLike,
          device: str | torch.device | None = None, seed: int = 0, progress: bool = True, *,
          epochs: int | None = None, overrides: dict | None = None, train_settings: dict | None = None,
          callback: Callable[[dict], None] | None = None) -> Path:
    """Train one of the four models; returns the path of the best checkpoint (``out/best.pt``).

    Parameters
    ----------
    model_name : "ar_lstm_vae", "nonar_lstm_vae", "cnn_vae" or "vq_vae" (the prior: ``train_prior``)
    data : a ``Loops`` or the directory of a loop data set; trains on "train", validates on "valid"
    profile : "paper", "cpu" or "smoke" (``loopkit.config.PROFILES``)
    out : the run directory (created; resumed when it holds this run's ``last.pt``)
    device : "cpu", "cuda" or None for CUDA when present
    seed : seeds the initialisation, the data order and the model's sampling
    progress : show a tqdm bar (loss and validation error)
    epochs : override the profile's number of epochs (and size the run in epochs, not in the profile's steps)
    overrides : architecture settings over the profile's (e.g. ``{"latent_steps": 64}`` for Table 2)
    train_settings : ``TrainConfig`` settings over the profile's (e.g. ``{"batch_size": 64}``)
    callback : called after every optimizer step with ``{"epoch", "step"}``
    """
    if model_name == PRIOR_NAME:
        raise LoopkitError("the prior is trained on a VQ-VAE's codes: use train_prior(vqvae_checkpoint, ...)")
    if model_name not in MODEL_NAMES:
        raise LoopkitError(f"unknown model {model_name!r}; known: {', '.join(ALL_NAMES)}")
    cfg = _train_config(model_name, profile, epochs, train_settings)
    device = _setup(device, seed, cfg.deterministic)
    loops = as_loops(data)
    _check_splits(loops)
    model = build_model(model_name, model_config(model_name, profile, **(overrides or {}))).to(device)
    identity = _identity(model_name, model, cfg, profile, seed, loops, {})
    task = _RollTask(model, loops, cfg, device)
    return _fit(model_name, model, task, cfg, identity, Path(out), device, seed, progress, callback)


@torch.no_grad()
def codes_of(vqvae, rolls: PackedRolls | Loops, batch_size: int = 2048, device=None) -> torch.Tensor:
    """The code indices a VQ-VAE assigns to loops: (n, t') long, on ``device``."""
    if isinstance(rolls, Loops):
        rolls = rolls.rolls
    device = torch.device(device) if device is not None else next(vqvae.parameters()).device
    packed = _packed_tensor(rolls, device)
    vqvae.eval()
    chunks = [vqvae.codes(unpack_batch(packed[s : s + batch_size].to(device))) for s in range(0, len(packed), batch_size)]
    return torch.cat(chunks) if chunks else torch.zeros((0, vqvae.latent_steps), dtype=torch.long, device=device)


def train_prior(vqvae_checkpoint: str | os.PathLike, data: Loops | str | os.PathLike, profile: str,
                out: str | os.PathLike, device: str | torch.device | None = None, seed: int = 0,
                progress: bool = True, *, epochs: int | None = None, overrides: dict | None = None,
                train_settings: dict | None = None, callback: Callable[[dict], None] | None = None) -> Path:
    """Train the LSTM prior on the codes the VQ-VAE of ``vqvae_checkpoint`` assigns to the training split.

    The prior's K and t come from the VQ-VAE; ``first_code_counts`` (p(z_0)) is counted on the training split.
    The training split's codes are computed once (float32, ``VQVAE.codes``) and stored as ``out/train_codes.npy``
    (``loopkit.checkpoints.load_train_codes``): a resumed run and every later consumer read the same array.
    Validation: teacher-forced cross-entropy (selects the best checkpoint, unless the profile's ``select`` is
    "last") and accuracy (the paper: 82.91 %) on the codes of the valid split; both are columns of
    ``metrics.csv``, beside the training accuracy. Other arguments as in ``train``.
    """
    cfg = _train_config(PRIOR_NAME, profile, epochs, train_settings)
    device = _setup(device, seed, cfg.deterministic)
    vq_path = Path(vqvae_checkpoint)
    vqvae = load_model(vq_path, device)
    if vqvae.checkpoint["model"] != "vq_vae":
        raise LoopkitError(f"{vq_path} holds a {vqvae.checkpoint['model']}, not a vq_vae")
    loops = as_loops(data)
    _check_splits(loops)
    batch = cfg.eval_batch_size
    out = Path(out)
    stored = load_train_codes(out / BEST)
    if stored is not None and len(stored) == len(loops.split("train")):  # a resumed run: the very same codes
        train_codes = torch.from_numpy(stored).to(device)
    else:
        train_codes = codes_of(vqvae, loops.split("train").rolls, batch, device)
        out.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, train_codes.cpu().numpy().astype(np.int16 if vqvae.codebook_size <= 32767 else np.int32))
        write_bytes(out / TRAIN_CODES, buf.getvalue())
    valid_codes = codes_of(vqvae, loops.split("valid").rolls, batch, device)
    settings = dict(overrides or {})
    settings.update(codebook_size=vqvae.codebook_size, latent_steps=vqvae.latent_steps)
    torch.manual_seed(seed)
    model = build_model(PRIOR_NAME, model_config(PRIOR_NAME, profile, **settings)).to(device)
    model.first_code_counts.copy_(torch.bincount(train_codes[:, 0], minlength=model.codebook_size).float())
    extra = {"vqvae_checkpoint": str(vq_path), "vqvae_digest": file_digest(vq_path),
             "train_codes_digest": file_digest(out / TRAIN_CODES)}
    identity = _identity(PRIOR_NAME, model, cfg, profile, seed, loops, extra)
    task = _PriorTask(model, train_codes, valid_codes, cfg, device)
    return _fit(PRIOR_NAME, model, task, cfg, identity, out, device, seed, progress, callback)


def _train_config(name: str, profile: str, epochs: int | None, settings: dict | None) -> TrainConfig:
    """The profile's training settings with ``settings`` over them; ``epochs`` sizes the run in epochs (a profile's
    ``steps`` no longer applies, unless ``settings`` names steps too)."""
    values = dict(settings or {})
    if epochs is not None:
        values["epochs"] = epochs
        values.setdefault("steps", 0)
    return train_config(name, profile, **values)


def _check_splits(loops: Loops) -> None:
    counts = loops.meta["split"].value_counts().to_dict() if len(loops.meta) else {}
    if counts.get("train", 0) < 2:
        raise LoopkitError(f"the data set has {counts.get('train', 0)} training loop(s); training needs at least 2")
    if counts.get("valid", 0) < 1:
        raise LoopkitError("the data set has no validation loops: the trainer picks the best epoch on the valid split")


def _identity(name: str, model, cfg: TrainConfig, profile: str, seed: int, loops: Loops, extra: dict) -> dict:
    """What makes a run this run: a resumed directory must agree on all of it."""
    return {
        "model": name,
        "config": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(cfg),
        "profile": profile,
        "seed": seed,
        "data_fingerprint": loops.fingerprint,
        "data_path": str(loops.path) if loops.path else None,
        "extra": extra,
    }


__all__ = [
    "beta_at",
    "codes_of",
    "model_reconstruction_error",
    "teacher_forcing_ratio",
    "train",
    "train_prior",
    "unpack_batch",
]
