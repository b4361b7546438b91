"""Memorisation: is a loop a copy of a training loop, and how far is it from the nearest one? The check that stands
beside every generated result of the book (the paper's OS compares code sequences only, in latent space: Table 3's
"Creativeness"; this module compares the loops themselves, in data space).

* ``training_copies``: for each loop, the index of a training loop with exactly the same 11,904 cells (-1 where
  none): hashing, O(n).
* ``nearest_training``: for each loop, the per-cell Hamming distance to its nearest training loop and that loop's
  index: ``d(a, b) = (|a| + |b| - 2 a.b) / 11,904`` with the dot products as a float32 matrix product over
  chunks (exact: the counts stay far below 2^24).
* ``memorisation``: a table row's summary: the share of exact copies and the median nearest distance.

The reference points a reader needs beside them: an unseen real loop (the validation split) is typically far from
every training loop, while a model that replays its training set gives copies (distance 0). ``exclude_self``
measures a set against itself (leave one out: the training split's own duplicates).
"""

from __future__ import annotations

import hashlib

import numpy as np

from loopkit.data.dataset import PACKED_BYTES, ROLL_CELLS, PackedRolls, pack_rolls, unpack_rolls

#: Loops of a row whose nearest distance is measured (a sample of the row: the median is stable long before,
#: and the matrix product grows with rows x training loops).
NEAREST_LOOPS = 1024
_CHUNK = 2048


def _packed(rolls) -> np.ndarray:
    """``(n, 1488)`` uint8 from a ``PackedRolls``, packed bytes, or ``(n, 128, 93)`` bool loops."""
    if isinstance(rolls, PackedRolls):
        return np.asarray(rolls.packed)
    rolls = np.asarray(rolls)
    if rolls.ndim == 2 and rolls.shape[1] == PACKED_BYTES and rolls.dtype == np.uint8:
        return rolls
    return pack_rolls(rolls.reshape(-1, *rolls.shape[-2:]))


def training_copies(rolls, train) -> np.ndarray:
    """For each loop of ``rolls``, the index of the first training loop identical to it cell for cell, else -1.

    Parameters
    ----------
    rolls, train : (b, 128, 93) bool loops, or ``PackedRolls``
    """
    first: dict[bytes, int] = {}
    for i, row in enumerate(_packed(train)):
        first.setdefault(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), i)
    return np.array([first.get(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), -1)
                     for row in _packed(rolls)], dtype=np.int64)  # fmt: skip


def nearest_training(rolls, train, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The per-cell Hamming distance from each loop to its nearest training loop, and that loop's index.

    Parameters
    ----------
    rolls, train : (b, 128, 93) bool loops, or ``PackedRolls``
    exclude_self : ``rolls`` is ``train`` itself (or its first loops): loop i is not compared with training loop
        i (leave one out), so an exact copy means a duplicate elsewhere in the set

    Returns
    -------
    (b,) float distances in [0, 1] (differing cells / 11,904) and (b,) int indices into ``train``
    """
    a, t = _packed(rolls), _packed(train)
    best = np.full(len(a), np.inf)
    where = np.full(len(a), -1, dtype=np.int64)
    if len(a) == 0 or len(t) == 0:
        return best, where
    for i in range(0, len(a), _CHUNK):
        x = unpack_rolls(a[i : i + _CHUNK]).reshape(-1, ROLL_CELLS).astype(np.float32)
        nx = x.sum(axis=1)
        for j in range(0, len(t), _CHUNK):
            y = unpack_rolls(t[j : j + _CHUNK]).reshape(-1, ROLL_CELLS).astype(np.float32)
            d = nx[:, None] + y.sum(axis=1)[None, :] - 2.0 * (x @ y.T)
            if exclude_self:
                rows = np.arange(i, i + len(x))
                inside = (rows >= j) & (rows < j + len(y))
                d[np.nonzero(inside)[0], rows[inside] - j] = np.inf
            k = d.argmin(axis=1)
            value = d[np.arange(len(x)), k]
            better = value < best[i : i + len(x)]
            best[i : i + len(x)][better] = value[better]
            where[i : i + len(x)][better] = k[better] + j
    return np.rint(best) / ROLL_CELLS, where


def memorisation(rolls, train, nearest_loops: int = NEAREST_LOOPS, exclude_self: bool = False) -> dict:
    """A row's memorisation check: ``copies``, the share of its loops that are a training loop cell for cell,
    and ``nearest``, the median per-cell Hamming distance to the nearest training loop over its first
    ``nearest_loops`` loops (``nearest_training``). With ``exclude_self`` (the training set against itself) a copy
    is a duplicate of another training loop."""
    packed = _packed(rolls)
    if exclude_self:  # a duplicate: a loop whose cells occur more than once in the set
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in _packed(train)]
        counts: dict[bytes, int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        copies = np.mean([counts[k] > 1 for k in keys[: len(packed)]]) if len(packed) else np.nan
        distance = nearest_training(packed[:nearest_loops], train, exclude_self=True)[0]
    else:
        copies = float(np.mean(training_copies(packed, train) >= 0)) if len(packed) else np.nan
        distance = nearest_training(packed[:nearest_loops], train)[0]
    return {"copies": float(copies), "nearest": float(np.median(distance)) if len(distance) else np.nan}
