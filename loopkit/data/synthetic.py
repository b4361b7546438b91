"""Synthetic loops that obey the paper's loop rules (Data Preprocess): a stand-in of realistic size, density and
structure for the tests and the benchmarks, which must not wait for a real corpus. Not music."""

from __future__ import annotations

import numpy as np

from loopkit.data.dataset import ROLL_SHAPE, Loops, loops_from_arrays
from loopkit.data.pianoroll import BASS_COLUMNS, BASS_LOWEST_PITCH, DRUM_COMPONENTS, STEPS_PER_BAR, drum_column


def synthetic_loops(n: int, density: float = 0.05, seed: int = 0) -> np.ndarray:
    """``n`` synthetic loops (b, 128, 93) bool that obey the paper's loop rules, for tests and benchmarks.

    Each loop repeats a random 2-bar pattern four times (so bar 1 equals bar 5), with kick, crash and a bass
    note on the first step, at most one bass pitch per step (held notes around a root), and a few drum cells
    flipped in bars 7-8. Drum rates are scaled so that about ``density`` of all cells are on (real LMD loops:
    a few percent). Not music: a stand-in of realistic size, density and structure.
    """
    rng = np.random.default_rng(seed)
    steps, columns = ROLL_SHAPE
    period = 2 * STEPS_PER_BAR
    out = np.zeros((n, steps, columns), dtype=bool)
    # bass: held notes; on 60 % of the steps, a new pitch at 35 % of the steps
    active = rng.random((n, period)) < 0.6
    change = rng.random((n, period)) < 0.35
    active[:, 0] = change[:, 0] = True
    root = rng.integers(28, 52, size=(n, 1))
    intervals = np.array([0, 0, 0, 7, 12, 5, 3, 10])
    pitch = root + intervals[rng.integers(0, len(intervals), size=(n, period))]
    last_change = np.maximum.accumulate(np.where(change, np.arange(period), 0), axis=1)
    held = np.take_along_axis(pitch, last_change, axis=1) - BASS_LOWEST_PITCH
    held = np.clip(held, 0, BASS_COLUMNS.stop - BASS_COLUMNS.start - 1)
    bass = np.zeros((n, period, columns), dtype=bool)
    b_idx, t_idx = np.nonzero(active)
    bass[b_idx, t_idx, BASS_COLUMNS.start + held[b_idx, t_idx]] = True
    # drums: per-component rates, scaled to the target density
    weights = dict(kick=0.5, snare=0.35, closed_hihat=0.9, open_hihat=0.15, low_tom=0.1, mid_tom=0.1,
                   high_tom=0.1, crash=0.05, ride=0.4)
    bass_cells = 0.6 * steps
    scale = max(density * steps * columns - bass_cells, 0.0) / (steps * sum(weights.values()))
    pattern = bass
    for name in DRUM_COMPONENTS:
        rate = min(weights[name] * scale, 0.95)
        pattern[:, :, drum_column(name)] = rng.random((n, period)) < rate
    pattern[:, 0, drum_column("kick")] = pattern[:, 0, drum_column("crash")] = True
    out[:] = np.tile(pattern, (1, steps // period, 1))
    # variation in the last two bars (the paper's "C - D")
    tail = slice(6 * STEPS_PER_BAR, steps)
    drums = slice(drum_column(DRUM_COMPONENTS[0]), drum_column(DRUM_COMPONENTS[-1]) + 1)
    flips = rng.random((n, steps - 6 * STEPS_PER_BAR, drums.stop - drums.start)) < 0.05
    out[:, tail, drums] ^= flips
    return out


def synthetic_dataset(n: int, valid: float = 0.1, density: float = 0.05, seed: int = 0) -> Loops:
    """An in-memory ``Loops`` of ``synthetic_loops``: the last ``valid`` share in "valid", the rest "train"."""
    n_valid = max(1, int(round(n * valid)))
    splits = ["train"] * (n - n_valid) + ["valid"] * n_valid
    return loops_from_arrays(synthetic_loops(n, density, seed), splits, source="synthetic")
