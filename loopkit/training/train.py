"""The one trainer (Experiment Details, Training Details) for the four models and the VQ-VAE's prior.

``train(model_name, data, profile, out)`` trains one model on the ``train`` split of a loop data set and
validates it every epoch (or every ``validate_every``) on the ``valid`` split with the paper's reconstruction
error (Table 1: mean per-cell Hamming distance between the input and the thresholded output,
``model_reconstruction_error``).
``train_prior(vqvae_checkpoint, ...)`` trains the LSTM prior on the codes a trained VQ-VAE assigns to the
training split. ``loopkit.models.checkpoints.load_model(path)`` rebuilds any of them from a checkpoint alone.

A run directory ``out`` holds::

    last.pt       everything needed to resume (weights, AdamW, cosine schedule, RNG, history); every epoch
    best.pt       the weights of the epoch with the best validation score so far
    metrics.csv   one row per epoch: training loss terms, validation score (empty in an epoch not validated),
                  learning rate, beta, seconds (of the whole epoch, and of its validation)

All three are written atomically (``loopkit.atomic``, ``loopkit.training.rundir``; the checkpoint format:
``loopkit.models.checkpoints``). Calling ``train`` again with the same arguments on a directory holding ``last.pt``
resumes from it (after Ctrl-C or SIGKILL, at most one epoch is lost); on CPU with a fixed seed the resumed run ends
with exactly the weights of an uninterrupted one. A directory holding a different run (other model, settings, seed
or data) is refused with one line.

Data never goes through a per-sample Python loader: the whole bit-packed training split (1,488 bytes a loop)
stays resident on the device (``loopkit.training.batches``). The device's numerics (TF32, deterministic algorithms) are
set for the run and restored after it (``loopkit.models.numerics.run_numerics``). A run may stop before the end of its
schedule (``TrainConfig.until_epoch``) and be continued later under the same schedule.
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

from loopkit.atomic import write_bytes
from loopkit.training.batches import epoch_batches, fetch, packed_tensor, transpose_bass, unpack_batch
from loopkit.models.checkpoints import (
    BEST,
    CHECKPOINT_FORMAT,
    LAST,
    TRAIN_CODES,
    file_digest,
    load_checkpoint,
    load_model,
    load_train_codes,
    resolve_device,
    save_checkpoint,
)
from loopkit.config import ALL_NAMES, MODEL_NAMES, PRIOR_NAME, TrainConfig, check_seed, model_config, train_config
from loopkit.data.dataset import ROLL_CELLS, Loops, PackedRolls, as_loops
from loopkit.errors import LoopkitError, differences
from loopkit.metrics.paper_metrics import first_step_counts
from loopkit.models.registry import build_model
from loopkit.models.numerics import amp_dtype, autocast_for, run_numerics
from loopkit.training.rundir import METRICS, append_metrics, relabel_best, repair_metrics, with_defaults, write_metrics
from loopkit.runlock import hold_folder
from loopkit.version import __version__

#: Stored with a run but free to change on resume: where the data lives, how the steps run and how far this call
#: goes or how often it looks, not what the steps compute (the schedule itself, ``epochs`` or ``steps``, is
#: compared).
_NOT_COMPARED = ("data_path", "settings", "train_config.compile", "train_config.checkpoint_seconds",
                 "train_config.until_epoch", "train_config.validate_every")  # fmt: skip


# ------------------------------------------------------------------------------------------------ metrics


@torch.no_grad()
def reconstruction_report(model, rolls: PackedRolls | Loops | torch.Tensor, batch_size: int = 2048,
                          device: str | torch.device | None = None, amp: str = "off",
                          bass_rule: str = "paper") -> dict:  # fmt: skip
    """The paper's reconstruction error (Table 1) of a model on loops, with FND and FNB of the reconstructions.

    ``error = sum_b sum_{t,p} [x_btp != reconstruct(x)_btp] / (b * 128 * 93)``, with ``reconstruct`` the
    thresholded (sigmoid >= 0.5) output: decode(mu) for the continuous VAEs (full sampling for the AR
    model), decode(quantise(encode(x))) for the VQ-VAE. ``FND`` and ``FNB`` are the shares of reconstructions
    with kick and crash, and with a bass note, on the first step (``loopkit.metrics.paper_metrics.first_step_counts``):
    every training loop has both, so they say whether a model keeps the loops' starting point. ``rolls`` are the loops
    to evaluate (e.g. the valid split); the model is switched to eval mode. ``amp`` as ``TrainConfig.amp``
    ("off": float32); ``bass_rule`` as ``loopkit.models.blocks.binarize``.

    Returns ``{"error", "FND", "FNB", "n", "errors"}``; ``errors`` is each loop's own error, (n,) float (its
    bootstrap gives the error's sampling noise, ``loopkit.evaluation.uncertainty``).
    """
    if isinstance(rolls, Loops):
        rolls = rolls.rolls
    device = torch.device(device) if device is not None else next(model.parameters()).device
    packed = rolls if isinstance(rolls, torch.Tensor) else packed_tensor(rolls, device)
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
    ``loopkit.metrics.paper_metrics.reconstruction_error`` compares two sets of loops instead."""
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


def _first(rows: torch.Tensor, cap: int) -> torch.Tensor:
    """The first ``cap`` rows (all of them when ``cap`` is 0): the validation subset of ``TrainConfig.valid_loops``."""
    return rows[:cap] if cap else rows


class _RollTask:
    """Training one of the four models on loops."""

    def __init__(self, model, loops: Loops, cfg: TrainConfig, device: torch.device):
        self.model, self.cfg, self.device = model, cfg, device
        self.forward = _compiled(model) if cfg.compile else model  # shares the model's parameters
        self.train = packed_tensor(loops.split("train").rolls, device)
        self.valid = _first(packed_tensor(loops.split("valid").rolls, device), cfg.valid_loops)
        self.fit_check = self.train[: cfg.train_eval_loops]  # the first loops of the split, in storage order
        self.n = len(self.train)
        self.continuous = model.name != "vq_vae"
        self.metric = "val_error"
        self._ratio: tuple[int, torch.Tensor] | None = None
        self._new_epoch()

    def _new_epoch(self) -> None:
        if not self.continuous:  # the codes taken in this epoch, accumulated on the device
            self.code_counts = torch.zeros(self.model.codebook_size, device=self.device)
            self.restarts = torch.zeros((), dtype=torch.long, device=self.device)

    def step(self, idx: torch.Tensor, epoch: int, beta: float) -> tuple[torch.Tensor, dict]:
        x = fetch(self.train, idx, self.device)
        if self.cfg.transpose:
            x = transpose_bass(x, self.cfg.transpose)
        if self.model.name == "ar_lstm_vae":
            out = self.forward(x, teacher_forcing=self.teacher_forcing(epoch))
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

    def teacher_forcing(self, epoch: int) -> float | torch.Tensor:
        """The epoch's teacher-forcing ratio: a float, or under ``compile`` a 0-d tensor on the device, made once
        per epoch (a Python float is a constant of a compiled graph: each new value would recompile it)."""
        ratio = teacher_forcing_ratio(epoch, self.cfg.sampling_rate)
        if not self.cfg.compile:
            return ratio
        if self._ratio is None or self._ratio[0] != epoch:
            self._ratio = (epoch, torch.tensor(ratio, dtype=torch.float32, device=self.device))
        return self._ratio[1]

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
        """Reconstruction error, FND and FNB on the valid split (its first ``valid_loops``; ``val_*``) and on the
        first ``train_eval_loops`` training loops (``train_error``, ``train_FND``, ``train_FNB``): learning apart from
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
        self.train, self.valid = train_codes.to(device), _first(valid_codes.to(device), cfg.valid_loops)
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


# ------------------------------------------------------------------------------------------------- trainer


def _fit(name: str, model, task, cfg: TrainConfig, identity: dict, out: Path, device: torch.device, seed: int,
         progress: bool, callback: Callable[[dict], None] | None) -> Path:
    from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

    out.mkdir(parents=True, exist_ok=True)
    if task.n < 2:
        raise LoopkitError(f"the training split has {task.n} loop(s); at least 2 are needed")
    steps_per_epoch = cfg.batches_per_epoch(task.n)
    epochs = cfg.epochs_for(task.n)  # the schedule: the learning rate and beta follow it to its end
    stop = cfg.stop_for(task.n)  # where this call stops (until_epoch)
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
        recorded = dict(ckpt, config=with_defaults(ckpt.get("config"), type(model.config)),
                        train_config=with_defaults(ckpt.get("train_config"), TrainConfig))
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
        if epoch >= stop:
            if not best_path.exists():
                raise FileNotFoundError(f"{out} holds a finished run without its {BEST}: delete {out} to retrain")
            repair_metrics(history, out / METRICS)  # its last row cut by a full disk, or lost to a kill
            return best_path
        write_metrics(history, out / METRICS)  # drops rows of epochs after the checkpoint

    def checkpoint(kind: str) -> dict:
        state = dict(identity)
        state.update(format=CHECKPOINT_FORMAT, kind=kind, epoch=epoch, step=step, history=history, best=best,
                     epochs_scheduled=epochs, trained_to=epoch, loopkit_version=__version__, device=str(device),
                     state_dict=model.state_dict())  # fmt: skip
        if kind == "last":
            state.update(
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict(),
                rng={"torch": torch.get_rng_state(),
                     "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None},
            )
        return state

    bar = tqdm(total=stop * steps_per_epoch, initial=step, desc=f"train {name}", unit="step", disable=not progress,
               dynamic_ncols=True, file=sys.stderr)
    saved_at = time.monotonic()
    try:
        while epoch < stop:
            started = time.perf_counter()
            model.train()
            order = torch.randperm(task.n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
            if isinstance(task.train, torch.Tensor) and task.train.device.type == "cuda":
                order = order.to(device)
            sums: dict[str, torch.Tensor] = {}
            beta, presented = 0.0, 0
            for idx in epoch_batches(order, steps_per_epoch, equal=cfg.compile):
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
                presented += len(idx)
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach().float() * len(idx)
                bar.update(1)
                if callback is not None:
                    callback({"epoch": epoch, "step": step})
            row = {"epoch": epoch + 1, "step": step, "lr": lr}
            row.update(task.epoch_columns(epoch, beta))
            row.update({f"train_{k}": float(v) / presented for k, v in sums.items()})
            diverged = [k for k, v in row.items() if k.startswith("train_") and not math.isfinite(v)]
            if diverged:  # nothing of this epoch is kept: last.pt and metrics.csv stay at the epoch before
                raise LoopkitError(f"training {name} diverged in epoch {epoch + 1}: its {diverged[0]} is "
                                   f"{row[diverged[0]]} (lr_max {cfg.lr_max:g}, weight_decay {cfg.weight_decay:g}); "
                                   f"{out} keeps epoch {epoch}")  # fmt: skip
            validating = time.perf_counter()
            final = epoch + 1 == stop
            validated = cfg.validates(epoch + 1, final)
            if validated:
                row.update(task.validate())
            epoch += 1
            row["seconds"] = time.perf_counter() - started
            row["val_seconds"] = time.perf_counter() - validating
            history.append(row)
            wrote_best = False
            chosen = validated and (cfg.select == "last" or (task.eligible(beta) and (
                best is None or best.get("provisional") or row[task.metric] < best["value"])))
            if chosen:
                best = {"epoch": epoch, "metric": task.metric, "value": row[task.metric]}
                wrote_best = cfg.select != "last" or final  # "last": written once, when the run stops
            elif final and (best is None or best.get("provisional")):  # stopped before any epoch could be chosen
                best = {"epoch": epoch, "metric": task.metric, "value": row[task.metric], "provisional": True}
                wrote_best = True
            if wrote_best:
                save_checkpoint(checkpoint("best"), best_path)
            elif final and best_path.exists():  # the kept weights, labelled with how far this call went
                relabel_best(best_path, identity, epochs_scheduled=epochs, trained_to=epoch)
            if final or time.monotonic() - saved_at >= cfg.checkpoint_seconds:
                save_checkpoint(checkpoint("last"), last_path)
                saved_at = time.monotonic()
            append_metrics(history, out / METRICS)
            shown = {task.metric: f"{row[task.metric]:.4g}"} if validated else {}
            bar.set_postfix(epoch=f"{epoch}/{epochs}", loss=f"{row['train_loss']:.4g}", **shown)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {out} keeps epoch {epoch}; the same call resumes from there", file=sys.stderr)
        raise
    bar.close()
    return best_path


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
    seed = check_seed(seed)
    cfg, given = _train_config(model_name, profile, epochs, train_settings)
    device = resolve_device(device)
    loops = as_loops(data)
    _check_splits(loops)
    with run_numerics(device, cfg.tf32, cfg.deterministic):
        torch.manual_seed(seed)
        model = build_model(model_name, model_config(model_name, profile, **(overrides or {}))).to(device)
        identity = _identity(model_name, model, cfg, profile, seed, loops, {}, given)
        task = _RollTask(model, loops, cfg, device)
        with hold_folder(out, f"training {model_name}, seed {seed}"):  # one writer of a run folder at a time
            return _fit(model_name, model, task, cfg, identity, Path(out), device, seed, progress, callback)


@torch.no_grad()
def codes_of(vqvae, rolls: PackedRolls | Loops, batch_size: int = 2048, device=None) -> torch.Tensor:
    """The code indices a VQ-VAE assigns to loops: (n, t') long, on ``device``."""
    if isinstance(rolls, Loops):
        rolls = rolls.rolls
    device = torch.device(device) if device is not None else next(vqvae.parameters()).device
    packed = packed_tensor(rolls, device)
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
    (``loopkit.models.checkpoints.load_train_codes``): a resumed run and every later consumer read the same array.
    Validation: teacher-forced cross-entropy (selects the best checkpoint, unless the profile's ``select`` is
    "last") and accuracy (the paper: 82.91 %) on the codes of the valid split; both are columns of
    ``metrics.csv``, beside the training accuracy. Other arguments as in ``train``.
    """
    seed = check_seed(seed)
    cfg, given = _train_config(PRIOR_NAME, profile, epochs, train_settings)
    device = resolve_device(device)
    with run_numerics(device, cfg.tf32, cfg.deterministic), hold_folder(out, f"training prior, seed {seed}"):
        torch.manual_seed(seed)
        return _train_prior(Path(vqvae_checkpoint), data, profile, Path(out), device, seed, progress, overrides,
                            cfg, given, callback)  # fmt: skip


def _train_prior(vq_path: Path, data, profile: str, out: Path, device: torch.device, seed: int, progress: bool,
                 overrides: dict | None, cfg: TrainConfig, given: dict, callback) -> Path:  # fmt: skip
    vqvae = load_model(vq_path, device)
    if vqvae.checkpoint["model"] != "vq_vae":
        raise LoopkitError(f"{vq_path} holds a {vqvae.checkpoint['model']}, not a vq_vae")
    loops = as_loops(data)
    _check_splits(loops)
    batch = cfg.eval_batch_size
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
    identity = _identity(PRIOR_NAME, model, cfg, profile, seed, loops, extra, given)
    task = _PriorTask(model, train_codes, valid_codes, cfg, device)
    return _fit(PRIOR_NAME, model, task, cfg, identity, out, device, seed, progress, callback)


def _train_config(name: str, profile: str, epochs: int | None, settings: dict | None) -> tuple[TrainConfig, dict]:
    """The run's ``TrainConfig`` and the settings it was given over the profile's (recorded in its checkpoints);
    ``epochs`` sizes the run in epochs (a profile's ``steps`` no longer applies, unless ``settings`` names steps)."""
    values = dict(settings or {})
    if epochs is not None:
        values["epochs"] = epochs
        values.setdefault("steps", 0)
    return train_config(name, profile, **values), values


def _check_splits(loops: Loops) -> None:
    counts = loops.meta["split"].value_counts().to_dict() if len(loops.meta) else {}
    if counts.get("train", 0) < 2:
        raise LoopkitError(f"the data set has {counts.get('train', 0)} training loop(s); training needs at least 2")
    if counts.get("valid", 0) < 1:
        raise LoopkitError("the data set has no validation loops: the trainer picks the best epoch on the valid split")


def _identity(name: str, model, cfg: TrainConfig, profile: str, seed: int, loops: Loops, extra: dict,
              given: dict) -> dict:  # fmt: skip
    """What makes a run this run: a resumed directory must agree on all of it (but ``_NOT_COMPARED``).
    ``settings`` records what the call set over the profile (``train_config`` holds the result)."""
    return {
        "model": name,
        "config": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(cfg),
        "profile": profile,
        "seed": seed,
        "data_fingerprint": loops.fingerprint,
        "data_path": str(loops.path) if loops.path else None,
        "extra": extra,
        "settings": dict(given),
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
