"""The prior's accuracy (the paper's Music VQ-VAE section: 82.91 % teacher-forced next-code accuracy on LMD),
beside two predictors that need no training, with bootstrap replicates over code sequences for the claims table.

Chapter 2 shows ``prior_table``; ``loopkit.evaluation.claims`` judges the paper's number against it.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from loopkit import paper
from loopkit.models.checkpoints import load_generator, load_train_codes, resolve_device, run_label
from loopkit.data.dataset import Loops, as_loops
from loopkit.errors import LoopkitError
from loopkit.evaluation.table_format import BOOTSTRAP
from loopkit.training.train import codes_of
from loopkit.evaluation.uncertainty import bootstrap_means

#: The rows of ``prior_table``: the LSTM prior, two predictors that need no training, the paper's prior.
PRIOR_ROWS = ("LSTM prior", "copy the code of 4 bars before", "copy the code of the bar before", "paper's LSTM prior")


def sequence_accuracy(prior, codes, batch_size: int = 2048) -> np.ndarray:
    """Each sequence's teacher-forced next-code accuracy under ``prior``: the share of positions 1..t-1 where the
    most likely next code is the true one, (b,) float; their mean is ``LSTMPrior.loss_and_accuracy``'s."""
    import torch

    c = torch.as_tensor(np.asarray(codes, dtype=np.int64))
    device = next(prior.parameters()).device
    out = []
    prior.eval()
    with torch.no_grad():
        for start in range(0, len(c), batch_size):
            x = c[start : start + batch_size].to(device)
            pred = prior(x)[:, :-1].argmax(-1)
            out.append((pred == x[:, 1:]).float().mean(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def copy_accuracies(codes, lag: int) -> np.ndarray:
    """Each sequence's accuracy as a predictor that copies the code ``lag`` steps before
    (``loopkit.models.prior.copy_accuracy`` per sequence: positions 1..t-1, a position before ``lag`` a miss)."""
    c = np.asarray(codes, dtype=np.int64)
    t = c.shape[1]
    if not 1 <= lag < t:
        raise LoopkitError(f"lag must lie in 1..{t - 1}, got {lag}")
    return (c[:, lag:] == c[:, :-lag]).sum(axis=1) / (t - 1)


def prior_table(prior_checkpoint: str | os.PathLike, data: Loops | str | os.PathLike, device=None,
                batch_size: int = 2048) -> pd.DataFrame:  # fmt: skip
    """The prior's teacher-forced next-code accuracy on the validation split's codes and the training split's,
    beside two predictors that need no training (copy the code of 4 bars before, of the bar before) and the
    paper's 82.91 % on LMD.

    Returns a DataFrame indexed by ``PRIOR_ROWS`` with the columns ``validation codes`` and ``training codes``
    (NaN where a row has no value), ``attrs["epoch"]`` (the prior's kept epoch), ``attrs["run"]`` (``run_label``:
    "complete" or how far a rehearsal went) and ``attrs[BOOTSTRAP]``
    (replicates over sequences of each row's accuracy, per column).
    """
    device = resolve_device(device)
    loops = as_loops(data)
    vq, prior = load_generator(prior_checkpoint, device=device)
    codes = {"training codes": load_train_codes(prior_checkpoint)}
    if codes["training codes"] is None or len(codes["training codes"]) != len(loops.split("train")):
        codes["training codes"] = codes_of(vq, loops.split("train").rolls, batch_size, device).cpu().numpy()
    codes["validation codes"] = codes_of(vq, loops.split("valid").rolls, batch_size, device).cpu().numpy()
    half = vq.latent_steps // 2
    per_row = {}
    for column in ("validation codes", "training codes"):
        c = codes[column]
        per_row[column] = {PRIOR_ROWS[0]: sequence_accuracy(prior, c, batch_size),
                           PRIOR_ROWS[1]: copy_accuracies(c, half), PRIOR_ROWS[2]: copy_accuracies(c, half // 4)}
    frame = pd.DataFrame({column: {row: float(v.mean()) for row, v in values.items()}
                          for column, values in per_row.items()}, index=list(PRIOR_ROWS))  # fmt: skip
    frame.loc[PRIOR_ROWS[3], "validation codes"] = paper.PRIOR_ACCURACY
    frame.attrs["epoch"] = int(prior.checkpoint["epoch"])
    frame.attrs["run"] = run_label(prior.checkpoint)
    frame.attrs[BOOTSTRAP] = {row: {column: bootstrap_means(per_row[column][row]) for column in per_row}
                              for row in PRIOR_ROWS[:3]}  # fmt: skip
    return frame
