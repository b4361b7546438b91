"""Every metric of the paper (Quantitative Evaluation): reconstruction error (Tables 1-2), the musical metrics
HD, FND, FNB, DB, OS, US, UP, ND (Tables 3-4) and the codebook statistics behind Figures 4-5.

All functions are pure. Loop metrics take loops as a ``(b, 128, 93)`` bool array (one ``(128, 93)`` loop is a
batch of one), a ``loopkit.data.dataset.PackedRolls`` or a ``loopkit.data.dataset.Loops``; they work through the loops
in batches of ``batch_size`` (4,096 loops = 49 MB unpacked), so the 120,600 loops of the LMD training split never
need their 1.4 GB unpacked at once. OS and US take code arrays ``(b, t)`` of integers (the VQ-VAE's latent
code indices, ``t = 32``). Columns are found by name through ``loopkit.data.pianoroll``; the paper's numbers for
comparison live in ``loopkit.paper``.

Choices where the paper is open (see ``../shared/notes/reproduction.md``, "Metrics"):

* HD is normalised per bar (differing cells / (16 x 93)), the same definition as the extraction rule
  (``loopkit.data.rules.bar_hamming`` computes both).
* DB counts over all time steps of all loops, silent steps included.
* UP counts distinct columns of all 93 (bass pitches and drum components) per bar; ``columns="bass"`` and
  ``columns="drums"`` are named variants.
* ND defaults to ``"step_share"``: the share of a bar's 16 steps with at least one active cell. The paper's
  "average number of notes per bar" cannot be a count (its training-set value is 0.92); the share fits it and
  equals the authors' follow-up count of active steps per bar divided by 16. ``"active_steps"``, ``"cells"``
  and ``"notes"`` are the counting variants, for comparison.
* OS and US compare exact code sequences (all ``t`` codes equal), by sorting a byte view of each row: no
  pairwise matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Union

import numpy as np

from loopkit.data.dataset import ROLL_SHAPE, Loops, PackedRolls, unpack_rolls
from loopkit.errors import LoopkitError
from loopkit.data.rules import LoopRules, bar_hamming
from loopkit.paper import METRIC_COLUMNS
from loopkit.data.pianoroll import BARS_PER_LOOP, BASS_COLUMNS, DRUM_COLUMNS, LOOP_STEPS, STEPS_PER_BAR, drum_column

LoopsLike = Union[np.ndarray, PackedRolls, Loops]

#: Loops unpacked at a time: 4,096 x 128 x 93 bool = 49 MB.
DEFAULT_BATCH_SIZE = 4096

_RULES = LoopRules()  # the extraction rule's bars and normalisation are HD's defaults

#: Named definitions of ND (``note_density``); ``"step_share"`` is the default.
NOTE_DENSITY_DEFINITIONS = {
    "step_share": "share of the 16 steps of a bar with at least one active cell (0..1)",
    "active_steps": "number of steps of a bar with at least one active cell (0..16; the follow-up code's ND)",
    "cells": "number of active cells in a bar (a bass note held for 4 steps counts 4)",
    "notes": "number of note onsets in a bar (a held bass note counts once, in the bar it starts; a drum cell is "
    "a hit)",
}

#: Named column sets of UP (``unique_pitch``); ``"all"`` is the default.
UNIQUE_PITCH_COLUMNS = {
    "all": slice(None),
    "bass": BASS_COLUMNS,
    "drums": DRUM_COLUMNS,
}

#: Named spans over which UP counts distinct columns (``unique_pitch``); ``"loop"`` is the default.
UNIQUE_PITCH_SPANS = {
    "loop": "distinct columns used anywhere in the 8-bar loop",
    "bar": "distinct columns used per bar, averaged over the 8 bars (the paper's wording and the authors' "
    "follow-up code)",
}

#: One line per Table 3 column, as ``musical_metrics`` computes it with its defaults (for table captions).
METRIC_DEFINITIONS = {
    "HD": "mean over loops of the Hamming distance between bar 1 and bar 5, in differing cells / (16 x 93)",
    "FND": "share of loops with kick and crash on the first step",
    "FNB": "share of loops with a bass pitch on the first step",
    "DB": "share of all time steps (silent ones included) with more than one bass pitch",
    "OS": "share of generated code sequences that also occur in the training set's code sequences",
    "US": "number of distinct generated code sequences / number generated",
    "UP": "mean number of distinct columns (bass pitches and drum components) used in a loop",
    "ND": "mean share of a bar's 16 steps with at least one active cell",
}


# ---------------------------------------------------------------------------------------------------------
# Loops in batches


def _check_loops(loops: LoopsLike) -> PackedRolls | np.ndarray:
    """Validate ``loops``; return a PackedRolls or a (b, 128, 93) array (bool or integer 0/1)."""
    if isinstance(loops, Loops):
        loops = loops.rolls
    if isinstance(loops, PackedRolls):
        if len(loops) == 0:
            raise LoopkitError("no loops to measure")
        return loops
    x = np.asarray(loops)
    if x.shape == ROLL_SHAPE:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != ROLL_SHAPE:
        raise LoopkitError(f"expected loops of shape (b, {ROLL_SHAPE[0]}, {ROLL_SHAPE[1]}), got {x.shape}")
    if x.dtype != bool and not np.issubdtype(x.dtype, np.integer):
        raise LoopkitError(f"loops must be binary (bool or 0/1 integers), got {x.dtype}: threshold model outputs first")
    if len(x) == 0:
        raise LoopkitError("no loops to measure")
    return x


def _loop_slice(loops: PackedRolls | np.ndarray, start: int, stop: int) -> np.ndarray:
    """Loops ``start:stop`` as a (b, 128, 93) bool array (unpacked or converted only for that range)."""
    if isinstance(loops, PackedRolls):
        return unpack_rolls(loops.packed[start:stop])
    x = loops[start:stop]
    return x if x.dtype == bool else x != 0


def batch_ranges(n: int, batch_size: int, desc: str = "loops", progress: bool = False) -> Iterator[tuple[int, int]]:
    """``(start, size)`` of consecutive batches of at most ``batch_size`` out of ``n`` loops, with a tqdm bar
    counting loops when ``progress``: the one batching of the metrics, the sampler and the generator."""
    if batch_size < 1:
        raise LoopkitError(f"batch_size must be at least 1, got {batch_size}")
    if not progress:
        yield from ((start, min(batch_size, n - start)) for start in range(0, n, batch_size))
        return
    from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

    with tqdm(total=n, desc=desc, unit="loop", unit_scale=True) as bar:
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            yield start, size
            bar.update(size)


def iter_batches(
    loops: LoopsLike, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False, desc: str = "loops"
) -> Iterator[np.ndarray]:
    """Yield ``loops`` as consecutive ``(b, 128, 93)`` bool batches of at most ``batch_size`` loops
    (``batch_ranges``).

    Bool arrays are yielded as views; ``PackedRolls`` are unpacked one batch at a time. ``progress`` shows a
    tqdm bar counting loops.
    """
    if batch_size < 1:
        raise LoopkitError(f"batch_size must be at least 1, got {batch_size}")
    loops = _check_loops(loops)
    for start, size in batch_ranges(len(loops), batch_size, desc, progress):
        yield _loop_slice(loops, start, start + size)


def _accumulate(
    loops: LoopsLike, stats: dict[str, Callable[[np.ndarray], float]], batch_size: int, progress: bool
) -> tuple[dict[str, float], int]:
    """One pass over ``loops``: the sum over batches of each statistic, and the number of loops."""
    totals: dict[str, float] = dict.fromkeys(stats, 0)
    n = 0
    for x in iter_batches(loops, batch_size=batch_size, progress=progress, desc="metrics"):
        for name, fn in stats.items():
            totals[name] += fn(x)
        n += len(x)
    return totals, n


# ---------------------------------------------------------------------------------------------------------
# Per-batch sums (one definition each, shared by the single metrics and by musical_metrics)


def _hd_sum(bars: tuple[int, int], normalisation: str) -> Callable[[np.ndarray], float]:
    if normalisation not in ("bar", "loop"):
        raise LoopkitError(f"normalisation must be 'bar' or 'loop', got {normalisation!r}")
    a, b = bars
    if not (0 <= a < BARS_PER_LOOP and 0 <= b < BARS_PER_LOOP):
        raise LoopkitError(f"bars {bars} must lie inside a {BARS_PER_LOOP}-bar loop (0-based)")
    return lambda x: float(bar_hamming(x, bars=bars, normalisation=normalisation).sum())


def first_step_counts(first: np.ndarray) -> tuple[int, int]:
    """FND's and FNB's counts from the first steps of loops only: ``first`` (b, 93) bool, row b = ``x[b, 0]``.

    Returns (loops with kick and crash, loops with any bass pitch); ``first_note_drum`` and ``first_note_bass``
    divide them by b. The trainer uses it on each epoch's reconstructions without copying whole rolls."""
    first = np.asarray(first, dtype=bool)
    fnd = int(np.count_nonzero(first[:, drum_column("kick")] & first[:, drum_column("crash")]))
    return fnd, int(np.count_nonzero(first[:, BASS_COLUMNS].any(axis=1)))


def _fnd_count(x: np.ndarray) -> int:
    return first_step_counts(x[:, 0])[0]


def _fnb_count(x: np.ndarray) -> int:
    return first_step_counts(x[:, 0])[1]


def _bass_per_step(x: np.ndarray) -> np.ndarray:
    """(b, t) number of active bass columns per step (84 fits in uint8)."""
    return np.add.reduce(x[:, :, BASS_COLUMNS].view(np.uint8), axis=2, dtype=np.uint8)


def _db_count(x: np.ndarray) -> int:
    return int(np.count_nonzero(_bass_per_step(x) > 1))


def _up_sum(columns: str, span: str = "loop") -> Callable[[np.ndarray], int]:
    if columns not in UNIQUE_PITCH_COLUMNS:
        raise LoopkitError(f"unknown column set {columns!r}; known: {', '.join(UNIQUE_PITCH_COLUMNS)}")
    if span not in UNIQUE_PITCH_SPANS:
        raise LoopkitError(f"unknown UP span {span!r}; known: {', '.join(UNIQUE_PITCH_SPANS)}")
    cols = UNIQUE_PITCH_COLUMNS[columns]
    steps = STEPS_PER_BAR if span == "bar" else LOOP_STEPS

    def up(x: np.ndarray) -> int:
        spans = x.reshape(len(x), -1, steps, x.shape[2])
        if columns != "all":
            spans = spans[..., cols]
        return int(np.count_nonzero(spans.any(axis=2)))

    return up


def _up_denominator(span: str, n: int) -> int:
    return n * (BARS_PER_LOOP if span == "bar" else 1)


def _nd_sum(definition: str) -> Callable[[np.ndarray], int]:
    if definition not in NOTE_DENSITY_DEFINITIONS:
        raise LoopkitError(f"unknown ND definition {definition!r}; known: {', '.join(NOTE_DENSITY_DEFINITIONS)}")
    if definition in ("step_share", "active_steps"):
        return lambda x: int(np.count_nonzero(x.any(axis=2)))
    if definition == "cells":
        return lambda x: int(np.count_nonzero(x))

    def onsets(x: np.ndarray) -> int:
        bass = x[:, :, BASS_COLUMNS]
        held = np.count_nonzero(bass[:, 1:] & ~bass[:, :-1]) + np.count_nonzero(bass[:, 0])
        return int(held + np.count_nonzero(x[:, :, DRUM_COLUMNS]))

    return onsets


def _nd_denominator(definition: str, n: int) -> int:
    return n * LOOP_STEPS if definition == "step_share" else n * BARS_PER_LOOP


# ---------------------------------------------------------------------------------------------------------
# Model metric


def reconstruction_error(x: LoopsLike, x_hat: LoopsLike, batch_size: int = DEFAULT_BATCH_SIZE) -> float:
    """Reconstruction error (Table 1, Table 2): the mean per-cell Hamming distance between loops and their
    thresholded reconstructions.

    ``error = sum_{b,t,p} [x_btp != x_hat_btp] / (B * 128 * 93)``

    Parameters
    ----------
    x, x_hat : (b, 128, 93) bool arrays or PackedRolls of the same length (threshold decoder outputs at 0.5
        first). Two PackedRolls are compared on their packed bits directly.

    Returns
    -------
    float in [0, 1]; the paper's VQ-VAE has 5.11e-3 on the LMD validation split.
    """
    x, x_hat = _check_loops(x), _check_loops(x_hat)
    if len(x) != len(x_hat):
        raise LoopkitError(f"x has {len(x)} loops but x_hat has {len(x_hat)}")
    n = len(x)
    cells = n * ROLL_SHAPE[0] * ROLL_SHAPE[1]
    wrong = 0
    if isinstance(x, PackedRolls) and isinstance(x_hat, PackedRolls):
        for start in range(0, n, batch_size):
            stop = start + batch_size
            wrong += int(np.bitwise_count(x.packed[start:stop] ^ x_hat.packed[start:stop]).sum(dtype=np.int64))
        return wrong / cells
    for start in range(0, n, batch_size):
        a = _loop_slice(x, start, start + batch_size)
        b = _loop_slice(x_hat, start, start + batch_size)
        wrong += int(np.count_nonzero(a != b))
    return wrong / cells


# ---------------------------------------------------------------------------------------------------------
# Musical metrics: loop properties


def ham_dist(
    loops: LoopsLike,
    bars: tuple[int, int] = _RULES.compared_bars,
    normalisation: str = _RULES.hamming_normalisation,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> float:
    """HD (Table 3, Table 4): mean over loops of the normalised Hamming distance between bar 1 and bar 5.

    ``HD = 1/B sum_b sum_{t<16,p} [x_{b,t,p} != x_{b,64+t,p}] / (16 * 93)``

    The paper does not state the denominator; per-bar normalisation (the default) is the one its extraction
    threshold 0.0015 and its training-set HD 4.43e-4 (0.66 differing cells a loop) fit, and it is the
    extraction rule's own definition: both call ``loopkit.data.rules.bar_hamming``. ``normalisation="loop"``
    divides by the whole loop's 128 x 93 cells instead (8 times smaller values).
    """
    total, n = _accumulate(loops, {"hd": _hd_sum(tuple(bars), normalisation)}, batch_size, progress)
    return total["hd"] / n


def first_note_drum(loops: LoopsLike, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False) -> float:
    """FND (Table 3, Table 4): share of loops with both kick and crash active on the first step.

    ``FND = 1/B sum_b [x_{b,0,kick} and x_{b,0,crash}]``; the training set has 1.00 by construction.
    """
    total, n = _accumulate(loops, {"fnd": _fnd_count}, batch_size, progress)
    return total["fnd"] / n


def first_note_bass(loops: LoopsLike, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False) -> float:
    """FNB (Table 3, Table 4): share of loops with any bass pitch active on the first step.

    ``FNB = 1/B sum_b [exists p in bass: x_{b,0,p}]``; the training set has 1.00 by construction.
    """
    total, n = _accumulate(loops, {"fnb": _fnb_count}, batch_size, progress)
    return total["fnb"] / n


def dup_bass(loops: LoopsLike, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False) -> float:
    """DB (Table 3, Table 4): share of time steps with more than one bass pitch active.

    ``DB = 1/(B * 128) sum_{b,t} [sum_{p in bass} x_{b,t,p} > 1]``

    The denominator is every step of every loop, silent steps included (the paper's "ratio of duplicate bass
    play for each time step" names no subset). The training set has 0 by construction: only the lowest bass
    pitch is kept when MIDI is read.
    """
    total, n = _accumulate(loops, {"db": _db_count}, batch_size, progress)
    return total["db"] / (n * LOOP_STEPS)


# ---------------------------------------------------------------------------------------------------------
# Musical metrics: musical style


def unique_pitch(
    loops: LoopsLike, columns: str = "all", span: str = "loop", batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> float:
    """UP (Table 3, Table 4): mean number of distinct columns used, per loop (default) or per bar.

    * ``span="loop"``: ``UP = 1/B sum_b |{p in C : exists t: x_{b,t,p}}|``, the columns used anywhere in a loop.
    * ``span="bar"``: ``UP = 1/(B * 8) sum_{b,bar} |{p in C : exists t in bar: x_{b,t,p}}|``, silent bars (0)
      included.

    The paper says "the average number of used pitches per bar" and the authors' follow-up code counts per
    bar, but the paper's training-set value, 10.50, is what a count over the whole loop gives on real loops
    (10.3 on the demo corpus, 11.3 on 941 real pop loops) and not what a count per bar gives (6.4, 6.6): the
    published numbers were computed per loop, so that is the default here, and the book shows both
    (``UNIQUE_PITCH_SPANS``). ``C`` is the column set named by ``columns``: ``"all"`` (default: the 84 bass
    pitches and the 9 drum components), ``"bass"`` or ``"drums"``.
    """
    total, n = _accumulate(loops, {"up": _up_sum(columns, span)}, batch_size, progress)
    return total["up"] / _up_denominator(span, n)


def note_density(
    loops: LoopsLike, definition: str = "step_share", batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False
) -> float:
    """ND (Table 3, Table 4): how full a bar is, by one of the named ``NOTE_DENSITY_DEFINITIONS``.

    * ``"step_share"`` (default): ``1/(B * 128) sum_{b,t} [exists p: x_{b,t,p}]``, the mean over bars of the
      share of the bar's 16 steps with at least one active cell. The paper calls ND "the average number of
      notes per bar" but reports 0.92 for the training set, which no count of notes per bar can be; this
      share fits it (the notes of ``../shared/notes/reproduction.md``).
    * ``"active_steps"``: ``1/(B * 8) sum_{b,t} [exists p: x_{b,t,p}]``, steps with any note per bar (0..16),
      the authors' follow-up code; 16 x the default.
    * ``"cells"``: ``1/(B * 8) sum_{b,t,p} x_{b,t,p}``, active cells per bar.
    * ``"notes"``: note onsets per bar as the roll is played back: a bass onset is an active cell whose step
      is the first or whose previous step is inactive in that column (a held note counts once, in the bar it
      starts); every active drum cell is a hit.
    """
    total, n = _accumulate(loops, {"nd": _nd_sum(definition)}, batch_size, progress)
    return total["nd"] / _nd_denominator(definition, n)


# ---------------------------------------------------------------------------------------------------------
# Musical metrics: creativeness (code sequences)


def _code_rows(codes, name: str) -> np.ndarray:
    if isinstance(codes, Loops):
        codes = codes.rolls
    if isinstance(codes, PackedRolls):  # data-space comparison: the packed bits of each loop are its row
        codes = codes.packed
    a = np.asarray(codes)
    if a.ndim != 2:
        raise LoopkitError(f"{name} must be a (b, t) array of code indices, got shape {a.shape}")
    if a.dtype != bool and not np.issubdtype(a.dtype, np.integer):
        raise LoopkitError(f"{name} must hold integer code indices, got {a.dtype}")
    if len(a) == 0:
        raise LoopkitError(f"{name} holds no sequences")
    return a


def _sequence_ids(*arrays: np.ndarray) -> list[np.ndarray]:
    """One id per row, equal ids exactly for equal rows, consistent across ``arrays`` (all ``(b_i, t)``).

    The rows are cast to the smallest integer type that holds every value (exact), viewed as one opaque
    byte string each and sorted by ``np.unique``: O(n log n) on n rows of t codes, no pairwise comparison.
    """
    widths = {a.shape[1] for a in arrays}
    if len(widths) != 1:
        raise LoopkitError(f"code sequences differ in length: {sorted(widths)}")
    lo = min(int(a.min()) for a in arrays)
    hi = max(int(a.max()) for a in arrays)
    dtype = np.result_type(np.min_scalar_type(lo), np.min_scalar_type(hi))
    if dtype.kind not in "biu":  # e.g. negative codes beside codes above 2**63: no exact common integer type
        raise LoopkitError(f"code values {lo}..{hi} do not fit one integer type")
    rows = np.ascontiguousarray(np.concatenate([a.astype(dtype, copy=False) for a in arrays]))
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.ravel()
    bounds = np.cumsum([0] + [len(a) for a in arrays])
    return [inverse[bounds[i] : bounds[i + 1]] for i in range(len(arrays))]


def overlap_sample(codes, train_codes) -> float:
    """OS (Table 3, Table 4): share of generated code sequences that also occur in the training set.

    ``OS = 1/B sum_b [c_b in {c'_1, ..., c'_N}]``, ``c_b`` the ``t`` code indices of generated loop ``b`` and
    ``c'`` those of the training loops; a sequence counts only if all ``t`` codes are equal. Each generated
    sequence counts, duplicates included. Lower is more creative. The training set against itself has 1
    by definition (every sequence occurs in it), which is the 1.00 of the paper's first row.

    Parameters
    ----------
    codes : (b, t) int, the generated sequences
    train_codes : (n, t) int, the training set's sequences (the VQ-VAE encoder's indices of the training split)

    Both may also be PackedRolls (or (b, 1488) uint8 rows), to compare loops in data space: useful for the
    continuous VAEs, whose latent codes cannot be compared, though not a number the paper reports.
    """
    gen = _code_rows(codes, "codes")
    train = _code_rows(train_codes, "train_codes")
    gen_ids, train_ids = _sequence_ids(gen, train)
    in_train = np.zeros(int(max(gen_ids.max(), train_ids.max())) + 1, dtype=bool)
    in_train[train_ids] = True
    return float(np.count_nonzero(in_train[gen_ids]) / len(gen_ids))


def unique_sample(codes) -> float:
    """US (Table 3, Table 4): number of distinct code sequences / number of sequences.

    ``US = |{c_1, ..., c_B}| / B``; 1 when no two generated loops share their code sequence. Higher is more
    diverse. Argmax sampling is deterministic given the first code, so it gives at most K = 512 distinct
    sequences: 492 of 120,600 is the paper's 4.08e-3. The training set's own 0.51 means its 120,600
    sequences hold about 61,500 distinct ones: a song contributes several loops (windows one bar apart over
    repetitive music) and near-identical loops encode to the same codes.
    """
    (ids,) = _sequence_ids(_code_rows(codes, "codes"))
    return float(len(np.unique(ids)) / len(ids))


# ---------------------------------------------------------------------------------------------------------
# One table row


def musical_metrics(
    loops: LoopsLike,
    codes=None,
    train_codes=None,
    *,
    nd: str = "step_share",
    up_columns: str = "all",
    up_span: str = "loop",
    hd_normalisation: str = _RULES.hamming_normalisation,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> dict[str, float]:
    """One row of Table 3 or Table 4: ``{"HD", "FND", "FNB", "DB", "OS", "US", "UP", "ND"}`` in the paper's
    column order (``loopkit.paper.METRIC_COLUMNS``), the loop metrics in one pass over the loops.

    Parameters
    ----------
    loops : (b, 128, 93) bool, PackedRolls or Loops: the generated loops (or the training set for its row)
    codes : (b, t) int, the code sequences of ``loops``; without it US and OS are NaN (the continuous VAEs)
    train_codes : (n, t) int, the training set's code sequences; without it OS is NaN. For the training set's
        own row pass its codes as both ``codes`` and ``train_codes`` (OS is then 1 by definition)
    nd, up_columns, up_span, hd_normalisation : the named definitions of ``note_density``, ``unique_pitch``,
        ``ham_dist``; the defaults are the ones ``METRIC_DEFINITIONS`` describes
    progress : show a tqdm bar over the loops

    Returns
    -------
    dict of floats, e.g. ``pd.DataFrame([musical_metrics(...)], index=["VQ-VAE (temp 1)"])``
    """
    stats = {
        "HD": _hd_sum(_RULES.compared_bars, hd_normalisation),
        "FND": _fnd_count,
        "FNB": _fnb_count,
        "DB": _db_count,
        "UP": _up_sum(up_columns, up_span),
        "ND": _nd_sum(nd),
    }
    n_loops = len(_check_loops(loops))
    if codes is not None:
        code_rows = _code_rows(codes, "codes")
        if len(code_rows) != n_loops:
            raise LoopkitError(f"{n_loops} loops but {len(code_rows)} code sequences")
    if train_codes is not None and codes is None:
        raise LoopkitError("train_codes given without codes: OS compares the loops' codes with the training set's")
    totals, n = _accumulate(loops, stats, batch_size, progress)
    row = {
        "HD": totals["HD"] / n,
        "FND": totals["FND"] / n,
        "FNB": totals["FNB"] / n,
        "DB": totals["DB"] / (n * LOOP_STEPS),
        "OS": overlap_sample(codes, train_codes) if train_codes is not None else math.nan,
        "US": unique_sample(codes) if codes is not None else math.nan,
        "UP": totals["UP"] / _up_denominator(up_span, n),
        "ND": totals["ND"] / _nd_denominator(nd, n),
    }
    return {k: float(row[k]) for k in METRIC_COLUMNS}


# ---------------------------------------------------------------------------------------------------------
# Codebook usage (the latent investigation: Figures 4 and 5)


def _indices(indices, K: int) -> np.ndarray:
    if K < 1:
        raise LoopkitError(f"K must be at least 1, got {K}")
    idx = _code_rows(indices, "indices")
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= K:
        raise LoopkitError(f"code indices must lie in 0..{K - 1}, found {lo}..{hi}")
    return idx.astype(np.int64, copy=False)


def code_frequencies(indices, K: int) -> np.ndarray:
    """How often each code occurs at each latent step (Figure 4, Figure 5).

    Parameters
    ----------
    indices : (b, t) int in 0..K-1, code sequences (e.g. the training split encoded)
    K : codebook size (512 in the paper)

    Returns
    -------
    (t, k) int64: ``freq[t, k] = sum_b [indices[b, t] == k]``; each row sums to b.
    """
    idx = _indices(indices, K)
    b, t = idx.shape
    flat = idx + K * np.arange(t)[None, :]
    return np.bincount(flat.ravel(), minlength=t * K).reshape(t, K)


def frequent_codes(frequencies: np.ndarray, rank: int = 0, least: bool = False) -> np.ndarray:
    """The code of a given frequency rank at each latent step, as Figure 5 shows them.

    ``rank=0`` is the most frequent code of each step, ``rank=1`` the second; with ``least=True`` the least
    frequent among the codes used at that step (a code never used at a step is not a sample of it). Ties go to
    the smaller code index. A step with fewer than ``rank + 1`` used codes gets -1.

    Parameters
    ----------
    frequencies : (t, k) counts from ``code_frequencies``

    Returns
    -------
    (t,) int64: one code per latent step; decoding it as a sequence shows the pattern of Figure 5.
    """
    freq = np.asarray(frequencies)
    if freq.ndim != 2:
        raise LoopkitError(f"frequencies must be a (t, k) array, got shape {freq.shape}")
    if rank < 0:
        raise LoopkitError(f"rank must be non-negative, got {rank}")
    t, k = freq.shape
    codes = np.broadcast_to(np.arange(k), (t, k))
    # lexsort: last key is primary. Most frequent: count descending; least frequent: unused codes last.
    primary = freq.astype(np.int64) if least else -freq.astype(np.int64)
    unused_last = (freq == 0).astype(np.int8)
    out = np.full(t, -1, dtype=np.int64)
    for step in range(t):
        order = np.lexsort((codes[step], primary[step], unused_last[step]))
        if rank < np.count_nonzero(freq[step]):
            out[step] = order[rank]
    return out


def _perplexity(counts: np.ndarray) -> float:
    """exp of the entropy (nats) of the distribution ``counts / counts.sum()``; 0 log 0 = 0."""
    total = counts.sum()
    p = counts[counts > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


@dataclass(frozen=True)
class CodebookUsage:
    """How a VQ-VAE's codebook is used by a set of code sequences; ``codebook_usage`` builds it."""

    K: int
    n_sequences: int
    #: (k,) occurrences of each code, over all sequences and latent steps
    counts: np.ndarray
    #: number of codes that occur at least once
    codes_used: int
    #: (k_dead,) the codes that never occur, ascending
    dead_codes: np.ndarray
    #: exp(entropy) of the pooled code distribution: K if all codes are equally used, 1 if one code is
    perplexity: float
    #: (t,) number of distinct codes at each latent step
    per_position_used: np.ndarray
    #: (t,) exp(entropy) of the code distribution at each latent step
    per_position_perplexity: np.ndarray

    @property
    def usage(self) -> float:
        """Share of the codebook in use: codes_used / K."""
        return self.codes_used / self.K

    def summary(self) -> dict[str, float]:
        """The scalar figures, for a table."""
        return {
            "K": self.K,
            "codes used": self.codes_used,
            "dead codes": len(self.dead_codes),
            "usage": self.usage,
            "perplexity": self.perplexity,
            "mean codes used per step": float(self.per_position_used.mean()),
        }


def codebook_usage(indices, K: int) -> CodebookUsage:
    """Codebook statistics of code sequences (the latent investigation, Figures 4-5).

    ``counts[k] = sum_{b,t} [indices[b, t] == k]``; ``perplexity = exp(-sum_k p_k log p_k)`` with
    ``p_k = counts[k] / (b * t)``; dead codes are those with ``counts[k] == 0``; per-position figures use the
    codes at one latent step only (``code_frequencies``).

    Parameters
    ----------
    indices : (b, t) int in 0..K-1
    K : codebook size (512 in the paper)
    """
    freq = code_frequencies(indices, K)
    counts = freq.sum(axis=0)
    return CodebookUsage(
        K=K,
        n_sequences=int(freq[0].sum()),
        counts=counts,
        codes_used=int(np.count_nonzero(counts)),
        dead_codes=np.flatnonzero(counts == 0),
        perplexity=_perplexity(counts),
        per_position_used=np.count_nonzero(freq, axis=1),
        per_position_perplexity=np.array([_perplexity(row) for row in freq]),
    )
