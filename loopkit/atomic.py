"""Writing files so that an interrupted run never leaves a half-written one: temporary file, fsync, os.replace.

Every artefact loopkit writes (data sets, MIDI, audio, manifests, settings, cached table rows) goes through
``write_bytes``; a reader sees either the old file or the whole new one. The temporary file sits beside the
target and is named ``.<name>.tmp-*``, so a run killed mid-write leaves at most such a file, which
``loopkit extract`` recognises as its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (readable by everyone, like a normal file); returns the path."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes the file private
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``write_bytes`` for UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj, **dumps_kwargs) -> Path:
    """``write_bytes`` for ``json.dumps(obj, **dumps_kwargs)`` followed by a newline."""
    return write_text(path, json.dumps(obj, **dumps_kwargs) + "\n")
