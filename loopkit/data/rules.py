"""The paper's loop rules (Data Preprocess): which 8-bar windows of a song roll are loops.

A window of 8 bars is a loop when

1. the Hamming distance between its bar 1 and bar 5 is below ``max_hamming`` (0.0015), normalised per bar:
   differing cells / (16 steps x 93 columns) = 1,488 cells, so 0.0015 allows at most 2 differing cells
   (the recommendation of the reproduction notes; ``hamming_normalisation="loop"`` divides by the whole
   loop's 11,904 cells instead);
2. kick and crash both sound on its first step;
3. a bass pitch sounds on its first step.

The fourth rule of the paper (only the lowest bass pitch) is a property of the roll itself, enforced when
MIDI is read (``loopkit.data.pianoroll``).

Windows start every ``stride_bars`` bars. The paper says only "While scanning a song with 8 bars striding
window, multiple loops can be detected", which reads as a window 8 bars wide moved by an unstated stride (or as
a stride of 8 bars). loopkit uses a stride of 1 bar by default: it finds every start point, so a loop that begins
on bar 3 of a song is not missed; ``stride_bars = 8`` is the other reading, as a named setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import BARS_PER_LOOP, BASS_COLUMNS, N_COLUMNS, STEPS_PER_BAR, drum_column


@dataclass(frozen=True)
class LoopRules:
    """Thresholds of the loop rules; the defaults are the paper's."""

    max_hamming: float = 0.0015
    hamming_normalisation: str = "bar"  # "bar": / (16 * 93) cells; "loop": / (128 * 93) cells
    require_kick: bool = True
    require_crash: bool = True
    require_bass: bool = True
    stride_bars: int = 1  # the paper's stride is not stated: 1 finds every start point (module docstring)
    bars: int = BARS_PER_LOOP
    #: the two bars compared (0-based): the paper's first and fifth bar
    compared_bars: tuple[int, int] = (0, 4)

    def __post_init__(self):
        if self.hamming_normalisation not in ("bar", "loop"):
            raise LoopkitError(f"hamming_normalisation must be 'bar' or 'loop', got {self.hamming_normalisation!r}")
        if self.stride_bars < 1:
            raise LoopkitError(f"stride_bars must be at least 1, got {self.stride_bars}")
        a, b = self.compared_bars
        if not (0 <= a < self.bars and 0 <= b < self.bars):
            raise LoopkitError(f"compared_bars {self.compared_bars} must lie inside a {self.bars}-bar loop")

    def hamming_denominator(self) -> int:
        """Number of cells the Hamming distance is divided by."""
        per_bar = STEPS_PER_BAR * N_COLUMNS
        return per_bar if self.hamming_normalisation == "bar" else per_bar * self.bars


def bar_hamming(
    loops: np.ndarray, bars: tuple[int, int] = (0, 4), normalisation: str = "bar"
) -> np.ndarray:
    """Normalised Hamming distance between two bars of each loop.

    Parameters
    ----------
    loops : (b, t, p) bool array, or one (t, p) loop
    bars : the two 0-based bars compared; (0, 4) is the paper's bar 1 vs bar 5
    normalisation : "bar" divides the count of differing cells by 16 x 93, "loop" by t x 93

    Returns
    -------
    (b,) float array (a float for one loop)
    """
    x = np.asarray(loops, dtype=bool)
    single = x.ndim == 2
    if single:
        x = x[None]
    a, b = bars
    first = x[:, a * STEPS_PER_BAR : (a + 1) * STEPS_PER_BAR]
    second = x[:, b * STEPS_PER_BAR : (b + 1) * STEPS_PER_BAR]
    diff = np.count_nonzero(first != second, axis=(1, 2))
    denom = STEPS_PER_BAR * x.shape[2] if normalisation == "bar" else x.shape[1] * x.shape[2]
    out = diff / denom
    return float(out[0]) if single else out


def window_checks(song: np.ndarray, rules: LoopRules = LoopRules()) -> dict[str, np.ndarray]:
    """Evaluate every rule on every candidate window of a song roll.

    Parameters
    ----------
    song : (t, 93) bool song-level roll, ``t`` a multiple of 16

    Returns
    -------
    dict with ``start_bar`` (w,) int and one (w,) bool array per rule: ``hamming``, ``kick``, ``crash``,
    ``bass``; a rule switched off in ``rules`` is all True.
    """
    song = np.asarray(song, dtype=bool)
    n_bars = song.shape[0] // STEPS_PER_BAR
    starts = np.arange(0, max(n_bars - rules.bars + 1, 0), rules.stride_bars)
    bars = song[: n_bars * STEPS_PER_BAR].reshape(n_bars, STEPS_PER_BAR, song.shape[1])
    a, b = rules.compared_bars
    diff = np.count_nonzero(bars[starts + a] != bars[starts + b], axis=(1, 2))
    first = song[starts * STEPS_PER_BAR]
    everywhere = np.ones(len(starts), dtype=bool)
    return {
        "start_bar": starts,
        "hamming": diff / rules.hamming_denominator() < rules.max_hamming,
        "kick": first[:, drum_column("kick")] if rules.require_kick else everywhere,
        "crash": first[:, drum_column("crash")] if rules.require_crash else everywhere,
        "bass": first[:, BASS_COLUMNS].any(axis=1) if rules.require_bass else everywhere,
    }


def find_loops(song: np.ndarray, rules: LoopRules = LoopRules()) -> np.ndarray:
    """Start bars (0-based) of every window of ``song`` that passes all loop rules."""
    checks = window_checks(song, rules)
    ok = checks["hamming"] & checks["kick"] & checks["crash"] & checks["bass"]
    return checks["start_bar"][ok]


def cut_loops(song: np.ndarray, start_bars: np.ndarray, bars: int = BARS_PER_LOOP) -> np.ndarray:
    """The ``(n, bars * 16, 93)`` windows of ``song`` that start at ``start_bars``."""
    idx = np.asarray(start_bars, dtype=np.int64)[:, None] * STEPS_PER_BAR + np.arange(bars * STEPS_PER_BAR)
    return np.asarray(song, dtype=bool)[idx]
