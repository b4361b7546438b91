"""What a profile's deviations from the paper do: a model retrained with one setting changed at a time.

The ``cpu`` profile departs from the paper's settings where a laptop forces it (``loopkit.config.PROFILES``).
``ablation`` trains a model (the VQ-VAE by default) once per named variant, each the profile with one setting
changed, for the same length (optimizer steps under the ``cpu`` profile), and measures what the paper's Table 1
measures (reconstruction error) and what its loop properties need (FND and FNB of the reconstructions), on the
training split (what the model learnt) and on the validation split (what it generalises to).
``checkpoint_selection`` reads, from a run's ``metrics.csv`` alone, what choosing the epoch by validation error
instead of keeping the last one would have given. The paper's batch of 2,048 loops is not a variant: at the same
optimizer steps it would cost 64 times a variant's budget, and at the same loops presented it would take 64 times
fewer steps than the profile; chapter 2 says so.

``LSTM_VAE_VARIANTS`` asks the same question of the two LSTM VAEs, which learn little at the ``cpu`` profile's
budget: is it the KL term (posterior collapse) that holds them back, or the decoder's rate of learning? A run
with beta fixed at 0 (a plain autoencoder, nothing pulls the posterior towards the prior) for the same epochs
answers it. ``TIMEKEEPING`` asks why the NonAR decoder learns slowly: the paper's decoder reads the same z at
all 128 steps and must learn to keep time itself; the run gives it the step's position within its bar as well
(not the paper's decoder, a diagnosis).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd
import torch

from loopkit.training.batches import unpack_batch
from loopkit.models.checkpoints import load_model, resolve_device
from loopkit.training.rundir import METRICS
from loopkit.data.dataset import ROLL_CELLS, Loops, as_loops
from loopkit.errors import LoopkitError
from loopkit.evaluation.tables import empty_output_error
from loopkit.models.blocks import threshold
from loopkit.training.train import reconstruction_report, train


@dataclass(frozen=True)
class Variant:
    """One setting changed from a profile: ``arch`` overrides the VQ-VAE's configuration, ``training`` its
    ``TrainConfig``; ``paper`` and ``profile`` say in words what the paper and the profile do."""

    name: str
    change: str
    arch: Mapping = field(default_factory=dict)
    training: Mapping = field(default_factory=dict)


#: The ``cpu`` profile's VQ-VAE deviations and open choices, each as the one setting a run changes.
CPU_VARIANTS = (
    Variant("cpu profile", "as the book trains it (batch 32, no transposition, the authors' dead-code share)"),
    Variant("transposition +-6", "bass moved by up to 6 semitones while training (the cpu profile's former "
            "augmentation; not in the paper)", training={"transpose": 6}),
    Variant("dead codes: count < 1 per batch", "a code is restarted when its EMA count falls below 1 vector of "
            "a batch of 32 loops (share 1/1,024; the former rule, which means something else at every batch "
            "size)", arch={"dead_code_share": 1 / 1024}),
    Variant("loss per element", "BCE and commitment averaged per element (the authors' follow-up code) "
            "instead of summed per loop", arch={"loss_reduction": "mean"}),
)

#: The LSTM VAEs' diagnosis: the profile as trained, and the same run without the KL term.
LSTM_VAE_VARIANTS = (
    Variant("cpu profile", "as the book trains it (beta annealed from 0 to 1, as the paper)"),
    Variant("no KL term (beta 0)", "beta fixed at 0: a plain autoencoder, nothing pulls the posterior towards "
            "the prior, so no posterior collapse", training={"beta_start": 0.0, "beta_end": 0.0}),
)

#: The NonAR LSTM-VAE's decoder told where it is in the bar (``NonARLSTMVAEConfig.position_input``).
TIMEKEEPING = Variant("step in bar as input", "the decoder reads the step's position within its bar (one-hot of "
                      "16) beside z: not the paper's decoder, a diagnosis", arch={"position_input": True})


@torch.no_grad()
def teacher_forced_error(model, loops: Loops, batch_size: int = 2048) -> float:
    """The AR LSTM-VAE's reconstruction error (per cell, the paper's 0.5 threshold) when every decoder input is
    the loop's true previous step instead of its own previous output, decoding from mu: one step ahead, as
    teacher forcing trains it. Against the free-running error of Table 1 it says how much of that error the
    decoder's own mistakes, fed back, add (exposure bias)."""
    model.eval()
    device = next(model.parameters()).device
    packed = torch.from_numpy(loops.rolls.packed)
    wrong = 0
    for start in range(0, len(packed), batch_size):
        x = unpack_batch(packed[start : start + batch_size].to(device))
        mu, _ = model.encode(x)
        wrong += int((threshold(model.decode_train(mu, x, teacher_forcing=1.0)) != x.bool()).sum())
    return wrong / (len(packed) * ROLL_CELLS)


def ablation(data: Loops | str | os.PathLike, profile: str, out: str | os.PathLike, epochs: int | None = None,
             variants: Iterable[Variant] = CPU_VARIANTS, device=None, seed: int = 0, progress: bool = False,
             reuse: Mapping[str, str | os.PathLike] | None = None, batch_size: int = 2048,
             model: str = "vq_vae", steps: int | None = None,
             train_settings: Mapping | None = None) -> pd.DataFrame:  # fmt: skip
    """Train ``model`` (the VQ-VAE by default) under ``profile`` once per variant (``epochs`` epochs or ``steps``
    optimizer steps each; default the profile's length) and measure its reconstructions.

    Each variant trains (or resumes, or reuses a finished run) in ``out/<variant name as a folder>``; ``reuse``
    maps a variant name to a finished checkpoint trained with exactly its settings (e.g. Table 2's (32, 16, 512)
    cell for the profile itself). The checkpoint kept is the one the profile selects. ``train_settings`` apply to
    every run (e.g. a rehearsal's ``until_epoch``), under each variant's own.

    Returns
    -------
    DataFrame, one row per variant: ``variant``, ``change``, and for the training and the validation split
    ``<split> removed`` (share of the empty output's error removed), ``<split> error``, ``<split> FND``,
    ``<split> FNB``; for the VQ-VAE ``codes used`` (distinct codes in the last epoch), for a continuous VAE
    ``KL`` (nats a loop, the training split's mean over the last epoch), for the AR LSTM-VAE ``training removed,
    teacher-forced`` (``teacher_forced_error``); ``epoch`` and ``steps`` of the kept checkpoint.
    """
    loops = as_loops(data)
    device = resolve_device(device)
    reuse = {k: Path(v) for k, v in (reuse or {}).items()}
    empty = {split: empty_output_error(loops.split(split)) for split in ("train", "valid")}
    rows = []
    for v in variants:
        if v.name in reuse:
            best = reuse[v.name]
        else:
            folder = Path(out) / "".join(c if c.isalnum() else "_" for c in v.name.lower()).strip("_")
            best = train(model, loops, profile, folder, device=device, seed=seed, progress=progress,
                         epochs=epochs, overrides=dict(v.arch),
                         train_settings={**(train_settings or {}), **({"steps": steps} if steps else {}),
                                         **v.training})  # fmt: skip
        net = load_model(best, device)
        row = {"variant": v.name, "change": v.change}
        for split, label in (("train", "training"), ("valid", "validation")):
            rep = reconstruction_report(net, loops.split(split), batch_size, device)
            row.update({f"{label} removed": 1 - rep["error"] / empty[split], f"{label} error": rep["error"],
                        f"{label} FND": rep["FND"], f"{label} FNB": rep["FNB"]})  # fmt: skip
        history = pd.read_csv(Path(best).parent / METRICS)
        if "codes_used" in history:
            row["codes used"] = int(history["codes_used"].iloc[-1])
        if "train_kl" in history:
            row["KL"] = float(history["train_kl"].iloc[-1])
        if model == "ar_lstm_vae":
            row["training removed, teacher-forced"] = 1 - teacher_forced_error(net, loops.split("train"),
                                                                               batch_size) / empty["train"]  # fmt: skip
        row["epoch"], row["steps"] = net.checkpoint["epoch"], net.checkpoint["step"]
        rows.append(row)
    return pd.DataFrame(rows)


def checkpoint_selection(run: str | os.PathLike, metric: str = "val_error",
                         show: Iterable[str] = ("train_error", "train_FNB", "val_FNB")) -> pd.DataFrame:  # fmt: skip
    """From a run's ``metrics.csv``: the epoch the lowest ``metric`` would select beside the last epoch, with the
    columns ``show`` at each (what "select by validation" would have kept instead of "last")."""
    path = Path(run) / METRICS
    if not path.is_file():
        raise FileNotFoundError(f"no {METRICS} in {run}")
    history = pd.read_csv(path)
    if metric not in history:
        raise LoopkitError(f"{path} has no column {metric!r}")
    chosen = {"lowest " + metric: history.loc[history[metric].idxmin()], "last epoch": history.iloc[-1]}
    cols = ["epoch", metric, *[c for c in show if c in history]]
    return pd.DataFrame({k: r[cols] for k, r in chosen.items()}).T
