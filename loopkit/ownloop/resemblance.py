"""How much of one loop a reconstruction keeps, measured against the empty loop (beyond the paper, which reports
reconstruction only as averages over a split): the baseline behind ``loopkit encode``'s report, the ends of an
interpolation and the choice of the model that reconstructs a musician's loops best.

An empty output already gets every silent cell of a loop right, so a Hamming distance means little alone: a
sparse loop decoded to silence scores a small distance. Measured against that baseline:

* ``share_removed = (E - D) / E`` with ``E = |x|`` the loop's active cells (the cells the empty loop gets wrong)
  and ``D = |x xor x_hat|`` the cells the reconstruction gets wrong: 1 is a perfect reconstruction, 0 no better
  than silence, below 0 worse than silence; undefined (None) for an empty loop.
* note recall and precision per part: bass notes are ``(first step, pitch)`` of each run of one pitch in the
  roll (a held note is one note), drum hits ``(step, component)``; recall ``|N(x) & N(x_hat)| / |N(x)|``,
  precision ``|N(x) & N(x_hat)| / |N(x_hat)|`` (None when the denominator is 0).

``loopkit.evaluation.tables``'s Table 1 reports the same share over a whole split (its ``removed`` column). Rolls are
(t, p) bool: t steps, p = 93 columns (``loopkit.data.pianoroll``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import BARS_PER_LOOP, BASS_COLUMNS, DRUM_COLUMNS, STEPS_PER_BAR, check_roll

#: The two parts, as reports name them.
PARTS = ("bass", "drums")
#: A reconstruction that removes less than this share of the empty loop's error is near silence: it keeps (nearly)
#: nothing of the loop, whatever its Hamming distance (a few right cells of a sparse loop remove a few percent).
MIN_SHARE_REMOVED = 0.1
#: A reconstruction that keeps fewer than this share of a part's notes (its recall) loses that part, whatever the
#: figure over the whole loop: a bass of 33 notes kept as 2 beside drums kept well still removes 28 % of the error.
MIN_PART_RECALL = 0.5
#: A part that sounds in fewer bars of a loop than this leaves the loop "nearly empty" (a held drone still counts
#: in every bar it sounds in).
SPARSE_BARS = BARS_PER_LOOP // 2


def bass_notes(roll) -> set[tuple[int, int]]:
    """``(first step, bass column)`` of every bass note of a (t, 93) roll: a run of active steps of one column."""
    b = check_roll(roll)[:, BASS_COLUMNS]
    starts = b.copy()
    starts[1:] &= ~b[:-1]
    return {(int(s), int(c)) for s, c in zip(*np.nonzero(starts))}


def drum_hits(roll) -> set[tuple[int, int]]:
    """``(step, drum column)`` of every drum hit of a (t, 93) roll (columns counted from the first drum column)."""
    d = check_roll(roll)[:, DRUM_COLUMNS]
    return {(int(s), int(c)) for s, c in zip(*np.nonzero(d))}


def part_notes(roll) -> dict[str, set[tuple[int, int]]]:
    """``{"bass": bass_notes, "drums": drum_hits}`` of one roll."""
    return {"bass": bass_notes(roll), "drums": drum_hits(roll)}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def bars_sounding(roll) -> dict[str, int]:
    """``{"bass": n, "drums": m}``: the bars of a (t, 93) roll in which each part has an active cell."""
    x = check_roll(roll)
    bars = x[: len(x) // STEPS_PER_BAR * STEPS_PER_BAR].reshape(-1, STEPS_PER_BAR, x.shape[1])
    return {"bass": int(bars[:, :, BASS_COLUMNS].any(axis=(1, 2)).sum()),
            "drums": int(bars[:, :, DRUM_COLUMNS].any(axis=(1, 2)).sum())}  # fmt: skip


@dataclass(frozen=True)
class PartMatch:
    """Notes of one part: ``reference`` in the loop, ``reconstructed`` in the reconstruction, ``both`` in each;
    ``bars``: the bars of the loop in which the part sounds."""

    reference: int
    reconstructed: int
    both: int
    bars: int = 0

    @property
    def recall(self) -> float | None:
        return _ratio(self.both, self.reference)

    @property
    def precision(self) -> float | None:
        return _ratio(self.both, self.reconstructed)


@dataclass(frozen=True)
class Resemblance:
    """A reconstruction against its loop and against the empty loop (see the module docstring).

    Attributes
    ----------
    cells : D, cells where the reconstruction differs from the loop
    empty_cells : E, cells where the empty loop differs from it (its active cells)
    size : cells of the roll (t x 93)
    parts : "bass" and "drums" -> ``PartMatch``
    """

    cells: int
    empty_cells: int
    size: int
    parts: dict

    @property
    def hamming(self) -> float:
        """D / size, the paper's per-cell Hamming distance."""
        return self.cells / self.size

    @property
    def share_removed(self) -> float | None:
        """(E - D) / E: the share of the empty loop's error the reconstruction removes; None for an empty loop."""
        return _ratio(self.empty_cells - self.cells, self.empty_cells)

    @property
    def near_silence(self) -> bool:
        """The reconstruction removes less than ``MIN_SHARE_REMOVED`` of the empty loop's error (or the loop is
        empty): it is (nearly) no better than an empty output."""
        return self.share_removed is None or self.share_removed < MIN_SHARE_REMOVED

    def sparse_parts(self) -> list[str]:
        """The parts that sound in fewer than ``SPARSE_BARS`` bars of the loop."""
        return [p for p in PARTS if self.parts[p].bars < SPARSE_BARS]

    def lost_parts(self) -> list[str]:
        """The parts with notes in the loop of which the reconstruction keeps fewer than ``MIN_PART_RECALL``."""
        return [p for p in PARTS if self.parts[p].reference and self.parts[p].recall < MIN_PART_RECALL]

    def keeps_both_parts(self) -> bool:
        """Not near silence, and no part lost (``lost_parts``): the reconstruction stands for the loop."""
        return not self.near_silence and not self.lost_parts()

    def lost_text(self) -> str:
        """``"bass: 2 of 33 notes kept (recall 6%)"`` for each lost part, joined by "; ", or ""."""
        return "; ".join(f"{p}: {self.parts[p].both} of {self.parts[p].reference} notes kept (recall "
                         f"{percent(self.parts[p].recall)})" for p in self.lost_parts())  # fmt: skip

    def to_dict(self) -> dict:
        out = {"hamming": self.hamming, "cells": self.cells, "empty_loop_cells": self.empty_cells,
               "share_of_empty_error_removed": self.share_removed}  # fmt: skip
        for p in PARTS:
            m = self.parts[p]
            out[p] = {"notes": m.reference, "bars": m.bars, "decoded_notes": m.reconstructed, "matched": m.both,
                      "recall": m.recall, "precision": m.precision}  # fmt: skip
        return out


def resemblance(reference, reconstruction) -> Resemblance:
    """How much of ``reference`` (t, 93) the ``reconstruction`` (t, 93) keeps (see the module docstring)."""
    x, y = check_roll(reference), check_roll(reconstruction)
    if x.shape != y.shape:
        raise LoopkitError(f"a reconstruction must have its loop's shape {x.shape}, got {y.shape}")
    nx, ny, bars = part_notes(x), part_notes(y), bars_sounding(x)
    parts = {p: PartMatch(len(nx[p]), len(ny[p]), len(nx[p] & ny[p]), bars[p]) for p in PARTS}
    return Resemblance(int(np.count_nonzero(x != y)), int(np.count_nonzero(x)), int(x.size), parts)


def percent(value: float | None) -> str:
    """A share as reports print it: ``0.4167`` -> ``"42%"``; None -> ``"n/a"``."""
    return "n/a" if value is None else f"{value:.0%}"


def report(r: Resemblance) -> list[str]:
    """What ``loopkit encode`` prints: the cells wrong against the empty loop's and the share removed, then recall
    and precision per part, one line each."""
    if r.share_removed is None:
        removed = "the loop is empty"
    elif r.share_removed < 0:
        removed = f"worse than the empty loop, {r.cells / r.empty_cells:.3g} times its error"
    else:
        removed = f"{percent(r.share_removed)} of the empty loop's error removed"
    lines = [f"{r.cells:,} cells differ from the input, an empty loop {r.empty_cells:,}: {removed} (Hamming "
             f"{r.hamming:.4g})"]  # fmt: skip
    for p in PARTS:
        m = r.parts[p]
        lines.append(f"{p}: {m.both} of {m.reference} notes kept (recall {percent(m.recall)}), {m.both} of "
                     f"{m.reconstructed} decoded notes in the input (precision {percent(m.precision)})")
    return lines
