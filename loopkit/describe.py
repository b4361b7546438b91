"""Corpus statistics for the extraction chapter (Data Preprocess): where the loops come from and what is in them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .dataset import SPLITS, Loops
from .metrics import iter_batches
from .pianoroll import BASS_COLUMNS, DRUM_COLUMNS, DRUM_COMPONENTS, STEPS_PER_BAR, column_names


def source_group(source: str, depth: int = 1) -> str:
    """The first ``depth`` folders of a source path below the corpus root (e.g. the Debian package).

    ``data/demo/freedoom/x.mid`` with the corpus root ``data/demo`` -> ``freedoom``. Archive members
    (``ARCHIVE!member``) are grouped by their archive.
    """
    if "!" in source:
        return source.split("!", 1)[0].rsplit("/", 1)[-1]
    parts = source.replace("\\", "/").split("/")
    return "/".join(parts[-1 - depth : -1]) if len(parts) > depth else parts[0]


def loops_per_source(loops: Loops, depth: int = 1) -> pd.DataFrame:
    """Files read, files with loops and loops per source group and split.

    Returns a DataFrame indexed by group with the columns ``files`` (MIDI files read), ``with loops``,
    ``loops`` and one column per split.
    """
    files = loops.files[loops.files["status"] != "skipped"].copy()
    files["group"] = files["source"].map(lambda s: source_group(s, depth))
    meta = loops.meta.copy()
    meta["group"] = meta["source"].map(lambda s: source_group(s, depth))
    table = pd.DataFrame(
        {
            "files": files.groupby("group").size(),
            "with loops": files[files["status"] == "used"].groupby("group").size(),
            "loops": meta.groupby("group").size(),
        }
    )
    per_split = meta.groupby(["group", "split"]).size().unstack(fill_value=0).reindex(columns=list(SPLITS), fill_value=0)
    table = table.join(per_split).fillna(0).astype(int)
    table.loc["total"] = table.sum()
    return table


def column_usage(loops, batch_size: int = 4096) -> pd.DataFrame:
    """For every column: share of loops in which it sounds, and mean active steps per loop.

    Parameters
    ----------
    loops : (b, 128, 93) loops, PackedRolls or Loops

    Returns
    -------
    DataFrame with ``column`` (name), ``part`` ("bass" or "drums"), ``share of loops``, ``steps per loop``.
    """
    n = 0
    used = np.zeros(len(column_names()), dtype=np.int64)
    steps = np.zeros(len(column_names()), dtype=np.int64)
    for batch in iter_batches(loops, batch_size, False, "column usage"):
        b = np.asarray(batch, dtype=bool)
        n += len(b)
        used += b.any(axis=1).sum(axis=0)
        steps += b.sum(axis=(0, 1))
    part = np.array(["bass"] * (BASS_COLUMNS.stop - BASS_COLUMNS.start) + ["drums"] * (DRUM_COLUMNS.stop - DRUM_COLUMNS.start))
    return pd.DataFrame(
        {
            "column": column_names(),
            "part": part,
            "share of loops": used / max(n, 1),
            "steps per loop": steps / max(n, 1),
        }
    )


def drum_usage(loops) -> pd.DataFrame:
    """The drum rows of ``column_usage``, indexed by component name (in ``DRUM_COMPONENTS`` order)."""
    usage = column_usage(loops)
    return usage[usage["part"] == "drums"].set_index("column").loc[list(DRUM_COMPONENTS), ["share of loops", "steps per loop"]]


def bass_register(loops) -> pd.DataFrame:
    """Bass pitches that sound in at least one loop, with their usage (lowest first)."""
    usage = column_usage(loops)
    bass = usage[(usage["part"] == "bass") & (usage["share of loops"] > 0)]
    return bass.set_index("column")[["share of loops", "steps per loop"]]


def tempo_summary(loops: Loops) -> pd.Series:
    """Quartiles of the loops' tempi in bpm (the tempo at each loop's first bar)."""
    return loops.meta["bpm"].astype(float).describe(percentiles=[0.25, 0.5, 0.75])


def bars_per_second(bpm: float) -> float:
    """Bars of 4/4 per second at ``bpm`` quarter notes per minute (a loop of 8 bars lasts 8 / this)."""
    return bpm / 60.0 / (STEPS_PER_BAR / 4)
