"""How the book's tables are printed, named and kept on disk (Tables 1-4): a metric as the paper prints it, the
source label of a row, Table 3 or 4 as Markdown, and a table's CSV with its bootstrap replicates beside it.

Pure pandas and numpy: ``loopkit.evaluation.tables`` computes the tables (with the models, so with torch); the
claims, the book's widgets and the records read and print them through this module without loading torch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from loopkit import paper
from loopkit.atomic import write_text
from loopkit.evaluation.uncertainty import load_replicates, save_replicates

#: The ``attrs`` key of a table's bootstrap replicates (``loopkit.evaluation.uncertainty``): ``{row label: {column:
#: (draws,) replicates of the column's mean}}``, row labels as the table's ``model`` column (Table 2:
#: ``table2_run_name``). ``write_table`` keeps them beside the CSV.
BOOTSTRAP = "bootstrap"

#: The memorisation columns of Tables 3 and 4 (``loopkit.metrics.memorisation``; the paper has none): the share of a
#: row's loops that are a training loop cell for cell, and the median per-cell distance to the nearest training loop.
COPIES, NEAREST = "copies", "nearest"


def format_metric(value) -> str:
    """A metric as the paper's Tables 3 and 4 print it: 2 decimals, or 3 significant digits in scientific notation
    below 0.1 (0.28 but 7.97e-02); "-" for NaN (a metric the row does not have)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    if value != 0 and abs(value) < 0.1:
        return f"{value:.2e}"
    return f"{value:.2f}"


def source_label(profile, run) -> str:
    """Where a row of ours comes from, as the tables print it: "ours (paper)" for a complete run, "rehearsal (paper,
    2 of 2,000 epochs)" for a rehearsal's model (never "ours (paper)"), "ours" for the training set."""
    profile = profile if isinstance(profile, str) and profile else None
    if isinstance(run, str) and run and run != "complete":
        kind, _, how_far = run.partition(": ")
        return f"{kind} ({', '.join(p for p in (profile, how_far) if p)})"
    return "ours" + (f" ({profile})" if profile else "")


def metric_table_markdown(frame: pd.DataFrame, definitions: bool = True) -> str:
    """Table 3 or 4 as Markdown: for each model a row of ours and, below it, the paper's; then what ours come
    from (profile, data, loops per row) and, with ``definitions``, the metric definitions (a page that shows
    several tables lists them once)."""
    cols = list(paper.METRIC_COLUMNS)
    lines = ["| model | source | " + " | ".join(cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for _, row in frame.iterrows():
        ours = [format_metric(row[m]) for m in cols]
        theirs = [format_metric(row[f"{m} (paper)"]) for m in cols]
        source = source_label(row.get("profile"), row.get("run"))
        lines.append(f"| {row['model']} | {source} | " + " | ".join(ours) + " |")
        lines.append("| | paper | " + " | ".join(theirs) + " |")
    attrs = frame.attrs
    title = f"**{attrs.get('table', 'Table')}.** {attrs.get('title', '')}".rstrip()
    n = attrs.get("n")
    ours = f"Ours: data set {attrs.get('data', '?')}" + (f", {n:,} loops per row" if isinstance(n, int) else "")
    if attrs.get("manipulation"):
        ours += f", manipulation {attrs['manipulation']} (mode {attrs.get('mode')})"
    ours += f", seed {attrs.get('seed')}."
    text = [title, "", *lines, "", f"{ours} Paper: {attrs.get('paper_data', 'LMD-full')}."]
    if attrs.get("missing"):
        text.append(f"Not evaluated (no checkpoint): {', '.join(attrs['missing'])}.")
    glossary = (attrs.get("definitions") or {}) if definitions else {}
    if glossary:
        text += ["", *[f"- {k}: {v}" for k, v in glossary.items()]]
    return "\n".join(text) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Tables on disk, with their bootstrap replicates


def replicates_path(csv_path: str | os.PathLike) -> Path:
    """Where ``write_table`` keeps a table's bootstrap replicates: ``<stem>.bootstrap.npz`` beside its CSV."""
    path = Path(csv_path)
    return path.with_name(f"{path.stem}.bootstrap.npz")


def write_table(frame: pd.DataFrame, csv_path: str | os.PathLike) -> list[Path]:
    """A table as CSV (every column, no index) and its bootstrap replicates (``attrs[BOOTSTRAP]``, if any) beside
    it; returns the paths written."""
    path = Path(csv_path)
    written = [write_text(path, frame.to_csv(index=False, lineterminator="\n"))]
    if frame.attrs.get(BOOTSTRAP):
        written.append(save_replicates(frame.attrs[BOOTSTRAP], replicates_path(path)))
    return written


def read_table(csv_path: str | os.PathLike) -> pd.DataFrame:
    """A table ``write_table`` wrote, with its bootstrap replicates back in ``attrs[BOOTSTRAP]`` ({} if none)."""
    frame = pd.read_csv(csv_path)
    frame.attrs[BOOTSTRAP] = load_replicates(replicates_path(csv_path))
    return frame

