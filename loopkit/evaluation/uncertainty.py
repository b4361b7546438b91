"""Sampling noise of the book's numbers (Tables 1-4, the prior's accuracy): per-loop values of the paper's metrics
and bootstrap replicates of their means, so that a claim can tell "holds" from "within noise"
(``loopkit.evaluation.claims``); and the per-loop measures the claims' rules read beyond the paper's columns (a
first-step bass cluster, whether a loop is music).

* ``per_loop_metrics``: HD, FND, FNB, DB, OS, US, UP, ND of each loop. Their means are the row that
  ``loopkit.metrics.paper_metrics.musical_metrics`` computes; US, a property of a set, is the mean of "this loop's code
  sequence occurs here for the first time" (distinct sequences / sequences).
* ``bootstrap_means``: ``BOOTSTRAP_DRAWS`` replicate means of per-loop values under Poisson(1) resampling weights
  (each loop counted w ~ Poisson(1) times; the mean is ``sum w v / sum w``). The weights come from one fixed seed
  and the number of loops alone, so two rows of the same length get the same weights: the difference of their
  replicates is a paired bootstrap where the rows are paired (Table 4 "after" copies codes within Table 3's very
  sequences; every model's reconstruction of the same validation loops), and for rows of independent loops it
  pairs loop i with loop i, an arbitrary pairing whose expected covariance is zero.
* ``Estimate``, ``estimate``, ``difference``: a value with its percentile interval (``LEVEL``); ``side`` says
  whether an interval lies wholly above a threshold, wholly below it, or astride it (within noise).
* ``save_replicates`` / ``load_replicates``: replicates beside a table's CSV (``<stem>.bootstrap.npz``).

The intervals cover the sampling of loops (the generated samples, the validation loops); a chapter trains each
model once, with one seed, so they do not cover the variation between training runs.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from loopkit.atomic import write_bytes
from loopkit.errors import LoopkitError
from loopkit.data.rules import LoopRules, bar_hamming
from loopkit.metrics.paper_metrics import DEFAULT_BATCH_SIZE, LoopsLike, iter_batches
from loopkit.paper import METRIC_COLUMNS
from loopkit.data.pianoroll import BASS_COLUMNS, drum_column

#: Replicates per bootstrap: enough for a 95 % percentile interval.
BOOTSTRAP_DRAWS = 1000
#: The seed of every bootstrap's weights (with the number of loops): equal lengths, equal weights.
BOOTSTRAP_SEED = 2021
#: Coverage of every interval the book prints.
LEVEL = 0.95
#: Replicates computed at a time (weights for ``_CHUNK`` x n loops in memory).
_CHUNK = 50
_RULES = LoopRules()


def _sequence_keys(codes: np.ndarray) -> list[bytes]:
    rows = np.ascontiguousarray(np.asarray(codes, dtype=np.int64))
    return [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows]


def per_loop_metrics(loops, codes=None, train_codes=None,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, np.ndarray]:  # fmt: skip
    """Each loop's value of every Table 3 metric, ``{metric: (b,) float}`` in ``METRIC_COLUMNS`` order.

    * HD: ``bar_hamming`` of bar 1 and bar 5 (per bar); FND, FNB: 1 where the first step has kick and crash / a
      bass pitch; DB: the share of the loop's 128 steps with more than one bass pitch; UP: distinct columns used in
      the loop; ND: the share of its steps with any active cell (the defaults of ``musical_metrics``).
    * OS: 1 where the loop's code sequence occurs in ``train_codes``; US: 1 where its code sequence occurs for the
      first time among ``codes`` (so the mean is distinct / all). Both NaN without codes (the continuous VAEs),
      OS NaN without ``train_codes``.

    Parameters
    ----------
    loops : (b, 128, 93) bool, PackedRolls or Loops
    codes : (b, t) int, the loops' code sequences; train_codes : (n, t) int, the training split's
    """
    parts: dict[str, list[np.ndarray]] = {m: [] for m in ("HD", "FND", "FNB", "DB", "UP", "ND")}
    kick, crash = drum_column("kick"), drum_column("crash")
    for x in iter_batches(loops, batch_size=batch_size):
        parts["HD"].append(bar_hamming(x, bars=_RULES.compared_bars, normalisation=_RULES.hamming_normalisation))
        parts["FND"].append((x[:, 0, kick] & x[:, 0, crash]).astype(float))
        parts["FNB"].append(x[:, 0, BASS_COLUMNS].any(axis=1).astype(float))
        parts["DB"].append((x[:, :, BASS_COLUMNS].sum(axis=2) > 1).mean(axis=1))
        parts["UP"].append(x.any(axis=1).sum(axis=1).astype(float))
        parts["ND"].append(x.any(axis=2).mean(axis=1))
    out = {m: np.concatenate(v).astype(float) for m, v in parts.items()}
    n = len(out["HD"])
    os_, us = np.full(n, np.nan), np.full(n, np.nan)
    if codes is not None:
        keys = _sequence_keys(codes)
        if len(keys) != n:
            raise LoopkitError(f"{n} loops but {len(keys)} code sequences")
        seen: set[bytes] = set()
        us = np.empty(n)
        for i, key in enumerate(keys):
            us[i] = key not in seen
            seen.add(key)
        if train_codes is not None:
            known = set(_sequence_keys(train_codes))
            os_ = np.array([key in known for key in keys], dtype=float)
    out.update(OS=os_, US=us)
    return {m: out[m] for m in METRIC_COLUMNS}


def bootstrap_means(values, draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """``draws`` bootstrap replicates of the mean of ``values``: (draws,) for (n,) values, (draws, m) for (n, m).

    Each replicate weighs loop i by ``w_i ~ Poisson(1)`` (the Poisson bootstrap: about as many loops as drawn with
    replacement) and takes ``sum w v / sum w``; the weights depend on ``seed`` and n only, so equally long rows
    share them (the module docstring). A replicate whose weights are all 0 (only likely for a handful of loops)
    is the plain mean.
    """
    v = np.asarray(values, dtype=float)
    single = v.ndim == 1
    if single:
        v = v[:, None]
    if v.ndim != 2 or len(v) == 0:
        raise LoopkitError(f"values must be (n,) or (n, m) with n >= 1, got shape {np.shape(values)}")
    if np.isnan(v).any():
        raise LoopkitError("values hold NaN: a metric the row does not have has no bootstrap")
    n = len(v)
    rng = np.random.default_rng([seed, n])
    out = np.empty((draws, v.shape[1]))
    for start in range(0, draws, _CHUNK):
        w = rng.poisson(1.0, size=(min(_CHUNK, draws - start), n)).astype(float)
        total = w.sum(axis=1, keepdims=True)
        empty = total[:, 0] == 0
        w[empty], total[empty] = 1.0, n
        out[start : start + len(w)] = (w @ v) / total
    return out[:, 0] if single else out


def metric_replicates(per_loop: Mapping[str, np.ndarray], draws: int = BOOTSTRAP_DRAWS) -> dict[str, np.ndarray]:
    """``bootstrap_means`` of each metric of ``per_loop_metrics`` that the row has (no NaN)."""
    return {m: bootstrap_means(v, draws) for m, v in per_loop.items() if len(v) and not np.isnan(v).any()}


@dataclass(frozen=True)
class Estimate:
    """A number and its ``LEVEL`` percentile bootstrap interval (NaN bounds: no interval known)."""

    value: float
    low: float = math.nan
    high: float = math.nan

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    def text(self, fmt=None, signed: bool = False) -> str:
        """E.g. "+1.20e-03 [+0.90e-03, +1.50e-03]" or "0.84 (no interval)"; ``fmt`` formats one number."""
        fmt = fmt or _number

        def one(x: float) -> str:
            s = fmt(x)
            return ("+" + s) if signed and x > 0 else s

        if not self.has_interval:
            return f"{one(self.value)} (no interval)"
        return f"{one(self.value)} [{one(self.low)}, {one(self.high)}]"


def _number(x: float) -> str:
    if x is None or math.isnan(x):
        return "-"
    return f"{x:.2e}" if x != 0 and abs(x) < 0.1 else f"{x:.2f}"


def _interval(replicates, level: float) -> tuple[float, float]:
    if replicates is None:
        return math.nan, math.nan
    r = np.asarray(replicates, dtype=float)
    if r.size == 0 or np.isnan(r).any():
        return math.nan, math.nan
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def estimate(value: float, replicates=None, level: float = LEVEL) -> Estimate:
    """``value`` with the percentile interval of its bootstrap ``replicates`` (none: no interval)."""
    return Estimate(float(value), *_interval(replicates, level))


def difference(a: float, a_replicates, b: float, b_replicates, level: float = LEVEL) -> Estimate:
    """``a - b`` with the interval of the replicates' differences; no interval unless both have replicates of
    the same number of draws."""
    if a_replicates is None or b_replicates is None or np.shape(a_replicates) != np.shape(b_replicates):
        return Estimate(float(a) - float(b))
    return estimate(float(a) - float(b), np.asarray(a_replicates) - np.asarray(b_replicates), level)


def side(est: Estimate, threshold: float = 0.0) -> str:
    """"above" when the interval lies wholly above ``threshold``, "below" wholly below, "within noise" when it
    holds the threshold. Without an interval, the value alone decides (equal: "within noise")."""
    lo, hi = (est.low, est.high) if est.has_interval else (est.value, est.value)
    if lo > threshold:
        return "above"
    if hi < threshold:
        return "below"
    return "within noise"


def _npz_key(label: str, metric: str) -> str:
    return f"{label}\x1f{metric}"


def save_replicates(replicates: Mapping[str, Mapping[str, np.ndarray]], path: str | os.PathLike) -> Path:
    """Write ``{row label: {metric: replicates}}`` to an .npz file, atomically."""
    arrays = {_npz_key(label, m): np.asarray(r, dtype=float)
              for label, row in replicates.items() for m, r in row.items()}  # fmt: skip
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return write_bytes(Path(path), buf.getvalue())


def load_replicates(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """The ``{row label: {metric: replicates}}`` that ``save_replicates`` wrote; {} when there is no such file."""
    if not os.path.isfile(path):
        return {}
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as data:
        for key in data.files:
            label, _, metric = key.partition("\x1f")
            out.setdefault(label, {})[metric] = data[key]
    return out


# ---------------------------------------------------------------------------------------------------------
# What the claims' rules read beyond the paper's columns (loopkit.evaluation.claims_samples)

#: A loop counts as music for HD's comparison (claim (l)) when its share of steps with a note and its share of cells
#: on both lie within the training loops' range from this quantile to one minus it (``music_bounds``): not near
#: silence (a loop of a few hits repeats bar 1 in bar 5 trivially) and not saturated.
MUSIC_QUANTILE = 0.01


def first_step_bass_pitches(loops: LoopsLike, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """The number of bass pitches sounding on each loop's first step, (b,) int.

    FNB counts a loop whose first step sounds any bass pitch; a decoder unsure of the first pitch can sound a
    cluster of them (several sigmoids over 0.5), which FNB counts as a first bass note. 1 is a bass note; more than
    1, a cluster (a training loop never has one: extraction keeps the lowest pitch only)."""
    parts = [np.count_nonzero(x[:, 0, BASS_COLUMNS], axis=1) for x in iter_batches(loops, batch_size=batch_size)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def loop_activity(loops: LoopsLike, batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Each loop's share of steps with at least one active cell and its share of cells on: two (b,) float arrays."""
    steps, cells = [], []
    for x in iter_batches(loops, batch_size=batch_size):
        steps.append(x.any(axis=2).mean(axis=1))
        cells.append(x.reshape(len(x), -1).mean(axis=1))
    if not steps:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(steps), np.concatenate(cells)


def music_bounds(train: LoopsLike, quantile: float = MUSIC_QUANTILE) -> dict[str, tuple[float, float]]:
    """The ranges a loop's activity must lie in to count as music (``is_music``), measured on ``train`` (the
    training loops): ``{"steps": (low, high), "cells": (low, high)}`` at ``quantile`` and ``1 - quantile``."""
    steps, cells = loop_activity(train)
    if len(steps) == 0:
        raise LoopkitError("music bounds need training loops")
    return {name: (float(np.quantile(v, quantile)), float(np.quantile(v, 1 - quantile)))
            for name, v in (("steps", steps), ("cells", cells))}  # fmt: skip


def is_music(loops: LoopsLike, bounds: dict[str, tuple[float, float]]) -> np.ndarray:
    """(b,) bool: whether each loop's share of steps with a note and share of cells on lie within ``bounds``
    (``music_bounds``)."""
    steps, cells = loop_activity(loops)
    (s_lo, s_hi), (c_lo, c_hi) = bounds["steps"], bounds["cells"]
    return (steps >= s_lo) & (steps <= s_hi) & (cells >= c_lo) & (cells <= c_hi)


#: What the claims' rules read beyond the paper's columns (``loopkit.evaluation.claims_samples``; the paper has none):
#: the share of a row's loops whose first step sounds exactly one bass pitch (FNB without the clusters a decoder unsure
#: of the pitch sounds), the share sounding a cluster of more than one, the share that is music (``is_music``: not
#: near silence, not saturated) and HD over those loops only.
FNB_ONE, CLUSTER, MUSIC, HD_MUSIC = "FNB (one pitch)", "bass cluster (step 0)", "music", "HD (music)"
RULE_COLUMNS = (FNB_ONE, CLUSTER, MUSIC, HD_MUSIC)


def rule_columns(rolls, hd: np.ndarray, bounds) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """``RULE_COLUMNS`` of a row of loops (``hd``: each loop's HD, as ``per_loop_metrics`` gives it; ``bounds``:
    ``music_bounds`` of the training loops): the values, and each one's per-loop values to bootstrap
    (HD (music) over the music loops only; no values where the row has none)."""
    pitches = first_step_bass_pitches(rolls)
    music = is_music(rolls, bounds)
    per_loop = {FNB_ONE: (pitches == 1).astype(float), CLUSTER: (pitches > 1).astype(float),
                MUSIC: music.astype(float), HD_MUSIC: np.asarray(hd, dtype=float)[music]}  # fmt: skip
    values = {k: float(v.mean()) if len(v) else float("nan") for k, v in per_loop.items()}
    return values, {k: v for k, v in per_loop.items() if len(v)}
