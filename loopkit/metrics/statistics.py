"""Corpus statistics for the extraction chapter (Data Preprocess): where the loops come from and what is in them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopkit.data.dataset import ROLL_CELLS, SPLITS, Loops, family_key
from loopkit.metrics.memorisation import memorisation
from loopkit.metrics.paper_metrics import iter_batches
from loopkit.data.pianoroll import BASS_COLUMNS, DRUM_COLUMNS, DRUM_COMPONENTS, STEPS_PER_BAR, column_names


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
    """Files read, files with loops and loops per part of the corpus (``corpus_part``, below the roots the data set
    was extracted from; without them, the ``depth`` folders above each file) and split.

    Returns a DataFrame indexed by part with the columns ``files`` (MIDI files read), ``with loops``,
    ``loops`` and one column per split.
    """
    roots = [str(r) for r in loops.settings.get("sources", [])]

    def group(source: str) -> str:
        return corpus_part(source, roots) if roots else source_group(source, depth)

    files = loops.files[loops.files["status"] != "skipped"].copy()
    files["group"] = files["source"].map(group)
    meta = loops.meta.copy()
    meta["group"] = meta["source"].map(group)
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


def corpus_part(source: str, roots: list[str]) -> str:
    """The part of a corpus a source file belongs to: the first folder below the corpus root it was read from
    (the demo corpus: a game package, or ``grooves``); an archive member: its archive; else its folder."""
    path = source.replace("\\", "/")
    if "!" in path:
        return path.split("!", 1)[0].rsplit("/", 1)[-1]
    for root in sorted((r.replace("\\", "/").rstrip("/") for r in roots), key=len, reverse=True):
        if path.startswith(root + "/"):
            rest = path[len(root) + 1 :].split("/")
            return rest[0] if len(rest) > 1 else root.rsplit("/", 1)[-1]
    return source_group(source)


def split_families(loops: Loops) -> pd.DataFrame:
    """Per split: the families (``loopkit.data.dataset.family_key``: a style file of the groove songs, or a file of its
    own), the files with loops, and the loops; a family sits in exactly one split."""
    pattern = loops.settings.get("settings", {}).get("family_pattern", "")
    meta = loops.meta
    family = [family_key(s, pattern, m) for s, m in zip(meta["source"], meta["md5"])]
    frame = pd.DataFrame({"split": meta["split"], "family": family, "source": meta["source"]})
    table = frame.groupby("split").agg(families=("family", "nunique"), files=("source", "nunique"),
                                       loops=("source", "size"))  # fmt: skip
    return table.reindex(list(SPLITS)).fillna(0).astype(int)


def split_memorisation(loops: Loops, nearest_loops: int = 1024) -> pd.DataFrame:
    """How far each split's loops are from the training split (``loopkit.metrics.memorisation``): the share that are a
    training loop cell for cell and the median per-cell Hamming distance to the nearest one, with the training
    split against itself (each loop left out) as the reference. A family split should leave the validation and
    test loops far from every training loop; duplicates inside the training split are its own songs' repeats."""
    train = loops.split("train")
    rows = {"train (each loop left out)": memorisation(train.rolls, train.rolls, nearest_loops, exclude_self=True)}
    for name in ("valid", "test"):
        part = loops.split(name)
        if len(part):
            rows[name] = memorisation(part.rolls, train.rolls, nearest_loops)
    table = pd.DataFrame(rows).T
    table["nearest, cells"] = table["nearest"] * ROLL_CELLS
    return table
