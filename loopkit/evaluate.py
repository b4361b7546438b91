"""The paper's tables reproduced: Table 1 (reconstruction error of the four models) and Table 2 (VQ-VAE latent sizes).

Each table puts the paper's published value (``loopkit.paper``) beside ours, and names the profile and the data
set that ours come from, so that a number from the small ``cpu`` profile on the demo corpus is never mistaken
for one from the paper's setting on LMD.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from . import paper
from .dataset import Loops


def _data_label(loops: Loops) -> str:
    name = Path(loops.path).name if loops.path else "in-memory"
    return f"{name} ({loops.fingerprint})"


def table1(checkpoints: Mapping[str, str | os.PathLike], data: Loops | str | os.PathLike,
           batch_size: int = 2048, device=None) -> pd.DataFrame:
    """Table 1: each model's reconstruction error on the validation split, beside the paper's.

    Reconstruction error = mean per-cell Hamming distance between a validation loop and its thresholded
    reconstruction (``loopkit.train.reconstruction_error``; the paper's Table 1 definition).

    Parameters
    ----------
    checkpoints : model name ("ar_lstm_vae", ...) -> checkpoint path (e.g. a run's ``best.pt``)
    data : the loop data set (its "valid" split is evaluated)

    Returns
    -------
    DataFrame, one row per model in the paper's order: ``model`` (the paper's name), ``reconstruction_error``
    (ours), ``paper`` (Table 1), ``profile``, ``epochs`` (trained), ``data`` (data set name and fingerprint),
    ``trained_on_same_data`` (the checkpoint's data fingerprint equals this data set's).
    """
    from .config import MODEL_NAMES
    from .models import PAPER_NAMES
    from .train import _as_loops, load_model, reconstruction_error, resolve_device

    loops = _as_loops(data)
    valid = loops.split("valid")
    if len(valid) == 0:
        raise ValueError("the data set has no validation loops to evaluate")
    device = resolve_device(device)
    unknown = sorted(set(checkpoints) - set(MODEL_NAMES))
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; Table 1 has {', '.join(MODEL_NAMES)}")
    rows = []
    for name in [n for n in MODEL_NAMES if n in checkpoints]:
        model = load_model(checkpoints[name], device)
        if model.checkpoint["model"] != name:
            raise ValueError(f"{checkpoints[name]} holds a {model.checkpoint['model']}, not a {name}")
        label = PAPER_NAMES[name]
        rows.append(
            {
                "model": label,
                "reconstruction_error": reconstruction_error(model, valid, batch_size, device),
                "paper": paper.TABLE1_RECONSTRUCTION[label],
                "profile": model.checkpoint["profile"],
                "epochs": model.checkpoint["epoch"],
                "data": _data_label(loops),
                "trained_on_same_data": model.checkpoint["data_fingerprint"] == loops.fingerprint,
            }
        )
    return pd.DataFrame(rows)


def table2_run_name(t: int, L: int, K: int) -> str:
    """The run directory of one Table 2 cell under ``out``."""
    return f"vq_vae_t{t}_L{L}_K{K}"


def table2(data: Loops | str | os.PathLike, profile: str, out: str | os.PathLike,
           grid: Iterable[tuple[int, int, int]] | None = None, device=None, seed: int = 0, progress: bool = True,
           epochs: int | None = None, batch_size: int = 2048) -> pd.DataFrame:
    """Table 2: train the VQ-VAE for each latent size (t, L, K) under ``profile`` and report reconstruction error.

    Each cell trains (or resumes, or reuses a finished run) in ``out/vq_vae_t{t}_L{L}_K{K}`` with the profile's
    VQ-VAE settings and t, L, K overridden; for t = 64 the encoder downsamples once less. The error is that of
    the best checkpoint on the validation split.

    Parameters
    ----------
    grid : (t, L, K) triples; default the paper's six rows (``loopkit.paper.TABLE2_LATENT_SIZE``)

    Returns
    -------
    DataFrame with ``t``, ``L``, ``K``, ``reconstruction_error`` (ours), ``paper`` (NaN where the paper has no
    such row), ``profile``, ``epochs``, ``data``.
    """
    from .train import _as_loops, load_model, reconstruction_error, resolve_device, train

    loops = _as_loops(data)
    device = resolve_device(device)
    grid = list(grid) if grid is not None else list(paper.TABLE2_LATENT_SIZE)
    rows = []
    for t, L, K in grid:
        best = train("vq_vae", loops, profile, Path(out) / table2_run_name(t, L, K), device=device, seed=seed,
                     progress=progress, epochs=epochs,
                     overrides={"latent_steps": t, "latent_dim": L, "codebook_size": K})
        model = load_model(best, device)
        rows.append(
            {
                "t": t,
                "L": L,
                "K": K,
                "reconstruction_error": reconstruction_error(model, loops.split("valid"), batch_size, device),
                "paper": paper.TABLE2_LATENT_SIZE.get((t, L, K), float("nan")),
                "profile": profile,
                "epochs": model.checkpoint["epoch"],
                "data": _data_label(loops),
            }
        )
    return pd.DataFrame(rows)
