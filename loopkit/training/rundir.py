"""The files of a training run directory (Experiment Details: one row per epoch, the best epoch kept): metrics.csv
written and appended, a recorded configuration read with the defaults of settings added since, and the best
checkpoint relabelled with how far its run went.

``loopkit.training.train`` writes these files; ``loopkit.models.checkpoints`` defines the checkpoint format they follow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
from pathlib import Path

from loopkit.atomic import write_text
from loopkit.models.checkpoints import load_checkpoint, save_checkpoint

#: The run folder's learning curve: one row per epoch (``write_metrics``, ``append_metrics``).
METRICS = "metrics.csv"


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
    append_whole(path, row.reindex(columns=header).to_csv(index=False, header=False, lineterminator="\n").encode())


def append_whole(path: Path, data: bytes) -> None:
    """Append ``data`` (whole lines) to ``path`` with one write, synced, or not at all: a write cut short (a full
    disk) is undone, so the file never ends in part of a row; the ``OSError`` names ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    size = os.fstat(fd).st_size
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    finally:
        os.close(fd)


def repair_metrics(history: list[dict], path: Path) -> bool:
    """Rewrite ``metrics.csv`` from a checkpoint's ``history`` when it does not hold exactly one whole row per
    epoch of it: a last row cut by a full disk, or lost to a kill between the checkpoint and the row. Returns
    whether it was rewritten."""
    try:
        lines = path.read_bytes().decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        lines = []
    whole = len(lines) >= 2 and lines[-1] == ""  # ends in a line feed
    rows = lines[1:-1] if whole else []
    fields = lines[0].count(",") if lines else -1
    keys = set(lines[0].split(",")) if lines else set()
    intact = (whole and len(rows) == len(history) and all(r.count(",") == fields for r in rows)
              and all(set(h) <= keys for h in history)
              and [r.split(",", 1)[0] for r in rows] == [str(h.get("epoch")) for h in history])  # fmt: skip
    if not intact and history:
        write_metrics(history, path)
    return not intact


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


__all__ = ["append_metrics", "append_whole", "relabel_best", "repair_metrics", "with_defaults", "write_metrics"]
