"""One writer per output folder: a training run folder, a generation folder, an extraction's data set folder.

``hold_folder(folder, what)`` takes an exclusive ``fcntl.flock`` on ``folder/.loopkit-lock`` for the length of a
``with`` block and records in it who holds it (what, pid, host, since when); a folder it created is removed again
when the block fails before writing anything. A second writer of the same folder is refused at once with one line
(``LoopkitError``) naming the holder, instead of both running and leaving a mixed folder (one run's ``last.pt``
beside the other's ``best.pt``, their rows interleaved in ``metrics.csv``). The
kernel releases the lock when its holder dies, SIGKILL included, so a lock left by a killed run never blocks:
its file stays (hidden, a few bytes) and the next writer takes it over. A writer that ends removes the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from loopkit.errors import LoopkitError

LOCK_FILE = ".loopkit-lock"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "a writer that has not said who it is yet"


@contextlib.contextmanager
def hold_folder(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold ``folder`` (created when missing) as its only writer while the block runs; yields the folder.

    ``what`` says what this writer is ("training cnn_vae, seed 0"): a writer refused while this one runs is told
    it, with this process's id, host and start time. Raises ``LoopkitError`` when another process holds it.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise LoopkitError(f"the output folder {folder} is a file, not a folder")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LoopkitError(f"{folder} is being written by another run ({holder}): wait for it to end, or choose "
                               "another folder") from None  # fmt: skip
        try:  # a holder that ended between our open and our lock removed the file we opened: open the new one
            st, now = os.fstat(fd), os.stat(path)
            if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        with contextlib.suppress(OSError):  # who holds it is for the message only: a full disk does not stop a run
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{what}, pid {os.getpid()} on {socket.gethostname()} since {stamp}".encode(), 0)
        yield folder
    except BaseException:
        if created:  # a run refused or failed before writing anything leaves no folder behind
            with contextlib.suppress(OSError):
                path.unlink()
                folder.rmdir()  # only when empty
        raise
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # before the unlock: a writer waiting on this file sees it gone and opens a new one
        os.close(fd)


__all__ = ["LOCK_FILE", "hold_folder"]
