"""The files of a training run directory (Experiment Details: one row per epoch, the best epoch kept): metrics.csv
written and appended, a recorded configuration read with the defaults of settings added since, and the best
checkpoint relabelled with how far its run went.

``loopkit.training.train`` writes these files; ``loopkit.models.checkpoints`` defines the checkpoint format they follow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from loopkit.atomic import write_text
from loopkit.models.checkpoints import load_checkpoint, save_checkpoint


def write_metrics(history: list[dict], path: Path) -> None:
    """The whole history as ``metrics.csv`` (atomically): at the start of a run, and on resume, where it drops
    rows of epochs after the checkpoint. An epoch that was not validated has its validation columns empty."""
    import pandas as pd

    write_text(path, pd.DataFrame(history).to_csv(index=False, lineterminator="\n"))


def append_metrics(history: list[dict], path: Path) -> None:
    """Append the newest row of ``history`` to ``metrics.csv`` (one short write per epoch, however long the run);
    the file is rewritten whole when it is missing or the row has a column its header lacks (a row without the
    validation columns is appended with them empty)."""
    import pandas as pd

    row = pd.DataFrame(history[-1:])
    header = None
    if path.is_file():
        with open(path) as fh:
            header = fh.readline().rstrip("\n").split(",")
    if len(history) == 1 or header is None or not set(row.columns) <= set(header):
        write_metrics(history, path)
        return
    with open(path, "a") as fh:
        fh.write(row.reindex(columns=header).to_csv(index=False, header=False, lineterminator="\n"))


def with_defaults(recorded, cls) -> dict | None:
    """A run's recorded settings with the fields added to ``cls`` since it was written set to their defaults
    (a setting is added with the default that keeps the old behaviour), so that such a run still resumes."""
    if not isinstance(recorded, dict):
        return recorded
    added = {f.name: f.default for f in dataclasses.fields(cls)
             if f.name not in recorded and f.default is not dataclasses.MISSING}  # fmt: skip
    return {**added, **recorded}


def relabel_best(path: Path, identity: dict, *, epochs_scheduled: int, trained_to: int) -> None:
    """Rewrite a run's best checkpoint with this call's settings and how far the run has gone (``trained_to`` of
    ``epochs_scheduled`` epochs), its weights unchanged: a rehearsal's best epoch continued to the end of its
    schedule is then labelled as a whole run's (``loopkit.models.checkpoints.run_label``)."""
    ckpt = load_checkpoint(path)
    ckpt.update(train_config=identity["train_config"], settings=identity.get("settings", {}),
                epochs_scheduled=epochs_scheduled, trained_to=trained_to)  # fmt: skip
    save_checkpoint(ckpt, path)


__all__ = ["append_metrics", "relabel_best", "with_defaults", "write_metrics"]
