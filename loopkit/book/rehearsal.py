"""A rehearsal of the paper's path (Experiment Details, Tables 1-4): the whole book run end to end at a profile's
batch and model sizes, with only the first epochs of every training schedule and a few thousand loops per row of
Tables 3 and 4, so that a problem on the way to an 8-hour run shows in minutes.

What a rehearsal is:

* every model, the prior, Table 2's cells (and, under other profiles, chapter 2's ablation runs) train the first
  ``REHEARSAL.epochs`` epochs of their own schedule (``TrainConfig.until_epoch``: the learning rate and beta follow
  the full schedule's curve), so the same runs continued without ``until_epoch`` are the full run's
  (``loopkit.training.train``);
* each row of Tables 3 and 4 generates ``REHEARSAL.loops_per_row`` loops (the full run: the training split's size);
* it writes to its own folder (``rehearsal_folder``: ``runs/paper-rehearsal`` beside ``runs/paper``), so it never
  mixes with a full run's output; every page shows a banner and every table of ours labels its models
  "rehearsal (paper, 2 of 2,000 epochs)" (``loopkit.models.checkpoints.run_label``), never "ours (paper)";
* each chapter times itself (``chapter_clock``) and ends with what it measured, per epoch of each run
  (``training_projection``) and per generated row (``rows_projection``), and the projected time of the full run:
  on this data set (the measured time per epoch times the schedule's epochs, the time per row times the loops a
  full row has) and at LMD-full's size (the same, scaled linearly in the number of loops: an estimate, so labelled).
  The chapter's other work is counted as measured. ``summary`` collects the chapters' projections.

pandas is imported by the functions that need it (and torch only by ``loopkit.models.checkpoints``'s functions that read
a checkpoint): the command line's parser reads ``REHEARSAL`` and pays for neither.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from loopkit import paper
from loopkit.atomic import write_text
from loopkit.models.checkpoints import BEST, load_checkpoint, run_label
from loopkit.training.rundir import METRICS
from loopkit.config import ALL_NAMES, PAPER_NAMES, parse_settings, settings_for
from loopkit.data.dataset import Loops

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RehearsalConfig:
    """The sizes of a rehearsal: ``epochs`` of every training schedule, ``loops_per_row`` of Tables 3 and 4, and
    the suffix of its own output folder."""

    epochs: int = 2
    loops_per_row: int = 2048
    folder_suffix: str = "-rehearsal"


REHEARSAL = RehearsalConfig()
#: Where each chapter's timing lands, under the run's output folder.
TIMINGS = "timings"


def rehearsal_folder(out: str | os.PathLike) -> Path:
    """A rehearsal's own output folder beside ``out``: ``runs/paper`` -> ``runs/paper-rehearsal``."""
    out = Path(out)
    return out if out.name.endswith(REHEARSAL.folder_suffix) else out.with_name(out.name + REHEARSAL.folder_suffix)


def describe(rehearsal: int, profile: str, loops_per_row: int = REHEARSAL.loops_per_row) -> str:
    """The run in words, for the pages: a rehearsal's sizes, or "the full run"."""
    if not rehearsal:
        return f"the full run of profile {profile}"
    epochs = "epoch" if rehearsal == 1 else f"{rehearsal:,} epochs"
    return (f"a rehearsal of profile {profile}: the first {epochs} of every training schedule and {loops_per_row:,} "
            "loops per row of Tables 3 and 4")


def run_settings(name: str, settings: Mapping | None = None, epochs: int = 0, rehearsal: int = 0) -> dict:
    """One model's ``TrainConfig`` settings in a book run: ``settings`` (``"key"`` or ``"<model>.key"`` ->
    value, checked by ``loopkit.config.parse_settings``), then ``epochs`` (every schedule's length in epochs, when
    positive), then a rehearsal's ``until_epoch``."""
    values = settings_for(name, parse_settings(dict(settings or {})))
    if epochs:  # sized in epochs: the profile's steps no longer apply (unless the settings name steps)
        values["epochs"] = int(epochs)
        values.setdefault("steps", 0)
    if rehearsal:
        values["until_epoch"] = int(rehearsal)
    return values


def rows_per_table(n: int, rehearsal: int, n_train: int) -> int:
    """Loops per row of Tables 3 and 4: ``n`` when given, a rehearsal's ``loops_per_row``, else the training split's
    size (the paper's choice)."""
    return int(n) or (REHEARSAL.loops_per_row if rehearsal else int(n_train))


# ---------------------------------------------------------------------------------------------------------
# measuring and projecting


def _steady(values: pd.Series) -> float:
    """A run's typical epoch: the median after the first (which pays for start-up and compilation)."""
    values = values.dropna()
    if len(values) == 0:
        return float("nan")
    return float(values.iloc[1:].median() if len(values) > 1 else values.iloc[0])


def training_runs(out: str | os.PathLike) -> dict[str, Path]:
    """The training runs of a book's output folder, by label: the four models and the prior (``OUT/models``),
    Table 2's cells (``OUT/table2``) and the ablation runs (``OUT/ablation``), each a folder with ``metrics.csv``."""
    out = Path(out)
    runs = {PAPER_NAMES[n]: out / "models" / n for n in ALL_NAMES if (out / "models" / n / METRICS).is_file()}
    for kind, label in (("table2", "Table 2"), ("ablation", "ablation")):
        for path in sorted((out / kind).rglob(METRICS)) if (out / kind).is_dir() else []:
            runs[f"{label}: {path.parent.relative_to(out / kind).as_posix()}"] = path.parent
    return runs


def training_projection(runs: Mapping[str, str | os.PathLike], loops: Loops) -> pd.DataFrame:
    """Per training run: what it trained, its measured seconds per epoch (training steps) and per validation, and
    the projected seconds of its whole schedule, on ``loops`` and at LMD-full's size.

    ``projected = s_epoch * E + s_validation * V``, with E the schedule's epochs and V the validations it makes
    (every ``validate_every`` epochs and at the last); at LMD-full's size the training part is scaled by
    120,600 / n_train and the validation part by the loops it validates on (the valid split, capped by
    ``valid_loops``, and ``train_eval_loops`` of the training split; for the prior the valid split's codes).
    Seconds per epoch are medians over the epochs after the first.
    """
    import pandas as pd

    n_train, n_valid = (int((loops.meta["split"] == s).sum()) for s in ("train", "valid"))
    rows = []
    for label, folder in runs.items():
        folder = Path(folder)
        history = pd.read_csv(folder / METRICS)
        meta = load_checkpoint(folder / BEST) if (folder / BEST).is_file() else {}
        cfg = meta.get("train_config") or {}
        scheduled = int(meta.get("epochs_scheduled") or cfg.get("epochs") or len(history))
        every = int(cfg.get("validate_every", 1))
        validations = scheduled // every + (scheduled % every != 0)
        metric = "val_ce" if "val_ce" in history else "val_error"
        epoch_s = _steady(history["seconds"] - history["val_seconds"])
        val_s = _steady(history.loc[history[metric].notna(), "val_seconds"]) if metric in history else 0.0
        projected = epoch_s * scheduled + val_s * validations
        valid_used = min(int(cfg.get("valid_loops") or n_valid), n_valid)
        if metric == "val_ce":
            fit_used = fit_paper = 0
        else:
            fit = int(cfg.get("train_eval_loops", 0))
            fit_used, fit_paper = min(fit, n_train), min(fit, paper.CORPUS["train"])
        valid_paper = min(int(cfg.get("valid_loops") or paper.CORPUS["valid"]), paper.CORPUS["valid"])
        at_paper = (epoch_s * scheduled * paper.CORPUS["train"] / n_train
                    + val_s * validations * (valid_paper + fit_paper) / max(valid_used + fit_used, 1))  # fmt: skip
        rows.append({"run": label, "trained": f"{len(history):,} of {scheduled:,} epochs",
                     "label": run_label(meta) if meta else "-", "measured s": float(history["seconds"].sum()),
                     "updated": (folder / METRICS).stat().st_mtime,
                     "s per epoch": epoch_s, "s per validation": val_s, "full run s": projected,
                     "full run s at LMD-full size": at_paper})  # fmt: skip
    return pd.DataFrame(rows)


def rows_projection(tables: Mapping[str, pd.DataFrame], loops: Loops) -> pd.DataFrame:
    """Per row of Tables 3 and 4 (``table3``/``table4`` frames with their ``seconds`` and ``n``): the measured
    seconds, per 1,000 loops, and the projected seconds of a full row (the training split's size, the paper's n),
    on ``loops`` and at LMD-full's size (120,600 loops), linear in the loops."""
    import pandas as pd

    n_train = int((loops.meta["split"] == "train").sum())
    rows = []
    for table, frame in tables.items():
        for _, r in frame.iterrows():
            if "seconds" not in r or pd.isna(r["seconds"]):
                continue
            n, seconds = int(r["n"]), float(r["seconds"])
            rows.append({"run": f"{table}: {r['model']}", "trained": f"{n:,} loops", "measured s": seconds,
                         "s per 1,000 loops": 1000 * seconds / n, "full run s": seconds * n_train / n,
                         "full run s at LMD-full size": seconds * paper.CORPUS["train"] / n})  # fmt: skip
    return pd.DataFrame(rows)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class ChapterClock:
    """Times one chapter of the book (``chapter_clock``); shows a rehearsal's banner and, at the end, what the
    chapter measured and projects (``report``)."""

    def __init__(self, chapter: str, out: str | os.PathLike, rehearsal: int, profile: str):
        self.chapter, self.out, self.rehearsal, self.profile = chapter, Path(out), int(rehearsal), profile
        self.description = describe(self.rehearsal, profile)
        self.started, self.wall = time.perf_counter(), time.time()

    def banner(self):
        """A warning box for the top of a rehearsal's page (an IPython ``Markdown``), or None for a full run."""
        if not self.rehearsal:
            return None
        from IPython.display import Markdown

        return Markdown(
            "```{warning}\n**Rehearsal, not results.** This page comes from " + self.description + ". Every model "
            f"of ours is labelled with how far it trained (\"rehearsal ({self.profile}, E of N epochs)\"); the last "
            f"section projects the full run's time from what was measured. Output folder: `{self.out}`, the "
            "rehearsal's own.\n```"
        )

    def report(self, items: pd.DataFrame | None = None):
        """What this chapter took and, for the runs and rows in ``items`` (``training_projection``,
        ``rows_projection``), what the full run would take; written to ``OUT/timings/<chapter>.json`` and returned
        as ``(Markdown, DataFrame)`` for the page, the durations in words. A run reused from before this chapter
        started was measured then, and is not subtracted from this chapter's own time."""
        import pandas as pd
        from IPython.display import Markdown

        measured = time.perf_counter() - self.started
        items = items if items is not None else pd.DataFrame()
        now = items["updated"] >= self.wall if "updated" in items else pd.Series(True, index=items.index)
        scaled = float(items.loc[now, "measured s"].sum()) if len(items) else 0.0  # a run reused was measured before
        rest = max(measured - scaled, 0.0)
        full = rest + (float(items["full run s"].sum()) if len(items) else 0.0)
        at_paper = rest + (float(items["full run s at LMD-full size"].sum()) if len(items) else 0.0)
        record = {"chapter": self.chapter, "rehearsal": self.rehearsal, "profile": self.profile,
                  "measured_s": measured, "full_run_s": full, "full_run_at_lmd_size_s": at_paper,
                  "items": items.to_dict(orient="records")}  # fmt: skip
        (self.out / TIMINGS).mkdir(parents=True, exist_ok=True)
        write_text(self.out / TIMINGS / f"{self.chapter}.json", json.dumps(record, indent=1, default=float))
        if not self.rehearsal:
            text = f"This chapter took {_duration(measured)} ({self.description})."
        elif not len(items):
            text = (f"This chapter took {_duration(measured)} in this rehearsal; nothing in it is shortened, so the "
                    f"full run's is the same (projected: {_duration(full)}).")  # fmt: skip
        else:
            text = (f"This chapter took {_duration(measured)} in this rehearsal. **Projected full run: "
                    f"{_duration(full)}** on this data set, {_duration(at_paper)} at LMD-full's size (the runs and "
                    f"rows below scaled linearly in loops: an estimate; the rest of the chapter, "
                    f"{_duration(rest)}, as measured).")  # fmt: skip
        shown = items.drop(columns=["updated"], errors="ignore")
        for column in ("measured s", "full run s", "full run s at LMD-full size"):
            if column in shown:
                # "full run s at LMD-full size" -> "full run at LMD-full size"
                shown[column.replace(" s", "", 1)] = shown.pop(column).map(_duration)
        return Markdown(text), shown


def chapter_clock(chapter: str, out: str | os.PathLike, rehearsal: int, profile: str) -> ChapterClock:
    """Start timing a chapter (see ``ChapterClock``)."""
    return ChapterClock(chapter, out, rehearsal, profile)


def summary(out: str | os.PathLike) -> pd.DataFrame:
    """The chapters' timings of a book run (``OUT/timings/*.json``), in order, with a total row."""
    import pandas as pd

    rows = []
    for path in sorted((Path(out) / TIMINGS).glob("*.json")):
        r = json.loads(path.read_text())
        rows.append({"chapter": r["chapter"], "measured s": r["measured_s"], "full run s": r["full_run_s"],
                     "full run s at LMD-full size": r["full_run_at_lmd_size_s"]})  # fmt: skip
    frame = pd.DataFrame(rows)
    if len(frame):
        total = {"chapter": "all chapters", **{c: frame[c].sum() for c in frame.columns if c != "chapter"}}
        frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    return frame


def summary_lines(out: str | os.PathLike) -> list[str]:
    """``summary`` as lines for the command line."""
    return [f"{r['chapter']:28s} measured {_duration(r['measured s']):>9s}   full run {_duration(r['full run s']):>9s}"
            f"   at LMD-full size {_duration(r['full run s at LMD-full size']):>9s}"
            for _, r in summary(out).iterrows()]  # fmt: skip


__all__ = [
    "REHEARSAL",
    "ChapterClock",
    "RehearsalConfig",
    "chapter_clock",
    "describe",
    "rehearsal_folder",
    "rows_per_table",
    "run_settings",
    "rows_projection",
    "summary",
    "summary_lines",
    "training_projection",
    "training_runs",
]
