"""The extraction funnel (Data Preprocess): files seen -> MIDI files -> parsed -> 4/4 -> with bass and drums -> with
loops -> loops, counted by ``loopkit.data.extract`` into a data set's funnel.json and shown beside the paper's LMD-full
figures (``loopkit.paper.CORPUS``) in chapter 1 of the book."""

from __future__ import annotations

from collections import Counter

from loopkit.data.dataset import FILE_STATUSES, REJECTION_RULES, SPLITS
from loopkit.paper import CORPUS


def funnel_from_counts(counts: Counter, n_loops: int, split_loops: dict[str, int]) -> dict:
    """The funnel from the number of files of each status and rule (``FILE_STATUSES``, ``REJECTION_RULES``), the
    number of loops and the loops per split: the dict funnel.json holds. ``recovered`` counts the files only the
    tolerant reader could read (``ExtractionSettings.tolerant_reader``; they are among the parsed files)."""
    seen = sum(counts[s] for s in FILE_STATUSES)
    midi = seen - counts["skipped"]
    parsed = midi - counts["failed"]
    four_four = parsed - counts["not_4_4"] - counts["no_time_signature"]
    bass_drums = four_four - counts["no_bass"] - counts["no_drums"]
    return {
        "files_seen": seen,
        "skipped": counts["skipped"],
        "midi_files": midi,
        "failed": counts["failed"],
        "parsed": parsed,
        "four_four": four_four,
        "bass_and_drums": bass_drums,
        "with_loops": counts["used"],
        "loops": int(n_loops),
        "recovered": counts["recovered"],
        "rejected": {rule: counts[rule] for rule in REJECTION_RULES},
        "split_loops": {s: int(split_loops.get(s, 0)) for s in SPLITS},
    }


def funnel_rows(funnel: dict) -> list[tuple[str, int, int | None]]:
    """(stage, this run, the paper's LMD-full figure or None) for each row of the funnel."""
    return [
        ("files seen", funnel["files_seen"], CORPUS["files"]),
        ("MIDI files", funnel["midi_files"], None),
        ("parsed", funnel["parsed"], None),
        ("4/4", funnel["four_four"], CORPUS["files_4_4"]),
        ("with bass and drums", funnel["bass_and_drums"], None),
        ("with loops", funnel["with_loops"], None),
        ("loops", funnel["loops"], CORPUS["loops"]),
    ] + [(f"  {s} loops", funnel["split_loops"][s], CORPUS[s]) for s in SPLITS]


def funnel_table(funnel: dict):
    """The funnel as a DataFrame with the paper's LMD-full figures beside ours (for the book)."""
    import pandas as pd  # imported where needed: extraction workers never load pandas

    rows = funnel_rows(funnel)
    return pd.DataFrame(
        {
            "stage": [r[0].strip() for r in rows],
            "this run": [r[1] for r in rows],
            "paper (LMD-full)": pd.array([r[2] for r in rows], dtype="Int64"),
        }
    )


def format_funnel(funnel: dict) -> str:
    """The funnel as a small text table, beside the paper's LMD-full figures where it gives them."""
    rows = funnel_rows(funnel)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':<{width}}  {'this run':>10}  {'paper (LMD-full)':>16}"]
    for name, value, paper in rows:
        lines.append(f"{name:<{width}}  {value:>10,}  {'' if paper is None else f'{paper:,}':>16}")
    notes = []
    if funnel["skipped"]:
        notes.append(f"{funnel['skipped']:,} skipped (not MIDI file names)")
    if funnel["failed"]:
        notes.append(f"{funnel['failed']:,} failed (see failures.csv)")
    if funnel.get("recovered"):
        notes.append(f"{funnel['recovered']:,} recovered by the tolerant reader (the parser refused them)")
    rejected = ", ".join(f"{k} {v:,}" for k, v in funnel["rejected"].items() if v)
    if rejected:
        notes.append(f"rejected: {rejected}")
    return "\n".join(lines + notes)
