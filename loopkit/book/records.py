"""Recorded runs: a book run's small text results kept in the repository beside the reader's own build.

A long run (the ``long`` profile on two CPU cores, or the ``paper`` profile on a GPU) takes longer than a reader
waits for ``make book``; its results are recorded once, as text, under ``records/<name>/``, and every build shows
them beside its own: the introduction's claims table gets a column per recorded run, chapter 2 its learning curves
and Table 1 rows, chapter 4 its Table 3 and 4 rows. A record holds no checkpoint and no audio:

* ``tables/``: Table 1 (``table1.csv``), Table 2, the prior's accuracy, Tables 3 and 4, Figure 5's panels and the
  claims (``claims.csv``), as the run's chapters wrote them to ``OUT/tables``;
* ``curves/<model>.csv``: each model's ``metrics.csv`` (one row per epoch: the learning curves);
* ``provenance.json``: the commit, the command, the profile, the corpus (the loops' fingerprint and split sizes),
  the machine, each chapter's measured wall time, the date, and how each model was trained (its ``loopkit train``
  command, steps, seconds).

``record_run(out, name)`` writes one (``loopkit book --record``); ``load_record(name)`` and ``recorded_runs()`` read
them back. The files are checked on reading: a record missing a file or a provenance field is refused in one line.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from loopkit.atomic import write_text
from loopkit.config import ALL_NAMES, PAPER_NAMES
from loopkit.errors import LoopkitError

if TYPE_CHECKING:
    import pandas as pd

#: Where records live, in the repository.
RECORDS = "records"
#: The tables a record keeps (``OUT/tables/<file>``); the first ones must be there, the rest are kept when present.
REQUIRED_TABLES = ("table1.csv", "table3.csv", "claims.csv")
OPTIONAL_TABLES = ("table2.csv", "prior.csv", "table4_after.csv", "table4_condition.csv", "figure5.csv",
                   "ablation.csv")  # fmt: skip
#: The fields every ``provenance.json`` has.
PROVENANCE_FIELDS = ("name", "commit", "command", "profile", "corpus", "machine", "chapters", "wall_s", "date",
                     "models")  # fmt: skip


def records_root(root: str | os.PathLike | None = None) -> Path:
    """The repository's ``records/`` folder (``root``: the checkout; default the one loopkit runs from)."""
    if root is None:
        root = Path(__file__).resolve().parents[2]
    return Path(root) / RECORDS


def _git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    commit = out.stdout.strip() or "unknown (not a git checkout)"
    return commit + (" with uncommitted changes" if dirty.stdout.strip() else "")


def _machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}  # fmt: skip
    try:  # the version only: importing torch to record it is what training did anyway
        from importlib.metadata import version

        info["torch"] = version("torch")
    except Exception:  # noqa: BLE001 - a record without torch's version is still a record
        info["torch"] = "unknown"
    return info


def _models(out: Path) -> dict:
    """How each model of the run trained, from its ``metrics.csv``: the command that trains it again (``{profile}``
    left to fill in), its optimizer steps, epochs and seconds."""
    import pandas as pd

    models = {}
    for name in ALL_NAMES:
        folder = out / "models" / name
        if not (folder / "metrics.csv").is_file():
            continue
        history = pd.read_csv(folder / "metrics.csv")
        command = f"loopkit train {name} --data {out / 'loops'} --profile {{profile}} --out {folder}"
        if name == "prior":
            command += f" --vqvae {out / 'models' / 'vq_vae' / 'best.pt'}"
        models[name] = {"label": PAPER_NAMES[name], "command": command, "epochs": int(history["epoch"].max()),
                        "steps": int(history["step"].max()) if "step" in history else None,
                        "seconds": float(history["seconds"].sum()) if "seconds" in history else None}  # fmt: skip
    return models


def record_run(out: str | os.PathLike, name: str, command: str, root: str | os.PathLike | None = None,
               note: str = "") -> Path:  # fmt: skip
    """Record the book run in ``out`` as ``records/<name>/`` (the module docstring); returns that folder.

    ``command``: the command that made the run (for the provenance); ``note``: anything a reader of the record
    should know about how it was made (e.g. chapters run at different commits)."""
    from loopkit.data.dataset import load_loops

    out = Path(out)
    tables = out / "tables"
    missing = [t for t in REQUIRED_TABLES if not (tables / t).is_file()]
    if missing:
        raise LoopkitError(f"cannot record {out}: it has no {', '.join(missing)} in {tables} (run the book first)")
    loops = load_loops(out / "loops")
    timings, profiles = {}, set()
    for path in sorted((out / "timings").glob("*.json")):
        r = json.loads(path.read_text())
        timings[r["chapter"]] = {"measured_s": float(r["measured_s"]), "rehearsal": r.get("rehearsal", 0)}
        profiles.add(r.get("profile"))
    profile = next(iter(profiles)) if len(profiles) == 1 else ", ".join(sorted(map(str, profiles)))
    target = records_root(root) / name
    tmp = target.with_name(f".{name}.recording")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "tables").mkdir(parents=True)
    (tmp / "curves").mkdir()
    for table in REQUIRED_TABLES + OPTIONAL_TABLES:
        if (tables / table).is_file():
            shutil.copyfile(tables / table, tmp / "tables" / table)
    models = _models(out)
    for model in models:
        shutil.copyfile(out / "models" / model / "metrics.csv", tmp / "curves" / f"{model}.csv")
    for model in models.values():
        model["command"] = model["command"].format(profile=profile)
    splits = loops.meta["split"].value_counts().to_dict()
    provenance = {
        "name": name,
        "commit": _git_commit(Path(root) if root else Path(__file__).resolve().parents[2]),
        "command": command,
        "profile": profile,
        "corpus": {"path": str(loops.path), "fingerprint": loops.fingerprint, "loops": len(loops),
                   "splits": {k: int(v) for k, v in splits.items()}},  # fmt: skip
        "machine": _machine(),
        "chapters": timings,
        "wall_s": sum(t["measured_s"] for t in timings.values()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "models": models,
        "note": note,
    }
    write_text(tmp / "provenance.json", json.dumps(provenance, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


@dataclass
class Record:
    """A recorded run read back: its ``provenance`` and its tables (``read_table`` frames, by file stem)."""

    name: str
    path: Path
    provenance: dict
    tables: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the pages name it: "recorded long run (long profile, 2026-12-07)"."""
        return f"recorded {self.name} run ({self.provenance['profile']} profile, {self.provenance['date'][:10]})"

    @property
    def short(self) -> str:
        """A column header: "recorded: long"."""
        return f"recorded: {self.name}"


def load_record(name: str, root: str | os.PathLike | None = None) -> Record:
    """Read ``records/<name>/`` back, checked (every required table and provenance field present)."""
    from loopkit.evaluation.table_format import read_table

    path = records_root(root) / name
    if not (path / "provenance.json").is_file():
        raise LoopkitError(f"no recorded run {name!r} at {path} (known: {', '.join(recorded_runs(root)) or 'none'})")
    provenance = json.loads((path / "provenance.json").read_text())
    absent = [f for f in PROVENANCE_FIELDS if f not in provenance]
    if absent:
        raise LoopkitError(f"the record {path} lacks the provenance field(s) {', '.join(absent)}")
    missing = [t for t in REQUIRED_TABLES if not (path / "tables" / t).is_file()]
    if missing:
        raise LoopkitError(f"the record {path} lacks {', '.join(missing)}")
    import pandas as pd

    tables = {p.stem: read_table(p) for p in sorted((path / "tables").glob("*.csv"))}
    curves = {p.stem: pd.read_csv(p) for p in sorted((path / "curves").glob("*.csv"))}
    return Record(name, path, provenance, tables, curves)


def recorded_runs(root: str | os.PathLike | None = None) -> list[str]:
    """The names of the recorded runs in ``records/``, sorted."""
    base = records_root(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "provenance.json").is_file())


def load_records(root: str | os.PathLike | None = None, exclude_profile: str | None = None) -> list[Record]:
    """Every recorded run (``recorded_runs``), read back; ``exclude_profile``: leave out records made with that
    profile (a build of the ``long`` profile is its own recorded run's twin)."""
    records = [load_record(n, root) for n in recorded_runs(root)]
    return [r for r in records if r.provenance["profile"] != exclude_profile]


def still_falling(history, column: str = "train_error", tail: float = 0.2) -> float:
    """The relative fall of a run's ``column`` over the last ``tail`` of its validated epochs, from a
    ``metrics.csv`` frame: 0 flat (a plateau), 0.1 still 10 % lower at the end; NaN for a run of one epoch."""
    h = history[column].dropna() if column in history else []
    if len(h) < 2:
        return float("nan")
    k = min(len(h), max(2, int(len(h) * tail)))
    start, end = float(h.iloc[-k]), float(h.iloc[-1])
    return (start - end) / start if start > 0 else 0.0


def claims_columns(records: list[Record]) -> Mapping[str, pd.DataFrame]:
    """``{record.short: its claims frame}`` for ``loopkit.book.display.claims_html``'s recorded columns."""
    return {r.short: r.tables["claims"].set_index("id") if "id" in r.tables["claims"] else r.tables["claims"]
            for r in records}  # fmt: skip
