"""Files on disk: written so that an interrupted run never leaves a half-written one (temporary file, fsync,
os.replace), and hashed.

Every artefact loopkit writes (data sets, checkpoints, MIDI, audio, figures, manifests, settings, cached table
rows) goes through ``write_with`` or one of its front ends; a reader sees either the old file or the whole new
one. The temporary file sits beside the target and is named ``.<name>.tmp-*``, so a run killed mid-write leaves
at most such a file, which ``loopkit extract`` and the trainer recognise as their own. An ``OSError`` while
writing (a full disk) names the file meant, not the temporary, and leaves no temporary behind. ``file_hash`` is the one
digest of a file's bytes (checkpoints, downloads, the demo corpus).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


#: The errors of a write that the disk refused (``write_with`` names the file meant in them).
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def write_with(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file atomically by calling ``write(fh)`` on an open binary file: ``torch.save(obj, fh)``,
    ``np.savez(fh, ...)``, ``fig.savefig(fh, ...)``. The file is readable by everyone, like a normal file; returns
    the path."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    except OSError as exc:
        raise naming_file(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes the file private
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in _FULL:  # a full disk: the error names the file meant
            raise naming_file(exc, path) from None
        raise
    return path


def naming_file(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path``, the file meant, instead of a temporary or no file at all (the ``loopkit`` command
    line prints such an error of a full disk as one line, ``loopkit.cli.os_error_line``)."""
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    return write_with(path, lambda fh: fh.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``write_bytes`` for UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj, **dumps_kwargs) -> Path:
    """``write_bytes`` for ``json.dumps(obj, **dumps_kwargs)`` followed by a newline."""
    return write_text(path, json.dumps(obj, **dumps_kwargs) + "\n")


def remove_temporaries(folder: str | os.PathLike, suffixes: tuple[str, ...] = ()) -> list[str]:
    """Delete the temporaries that runs killed mid-write left in ``folder``: hidden files named ``.<name>.tmp-*``
    (``write_with``'s) or ending in one of ``suffixes`` (e.g. ``.partial``); returns their names. The files they
    were meant to become are whole (``os.replace`` is atomic); only these would otherwise stay forever. Call it
    when a run starts in a folder it owns, never while another run may be writing there."""
    removed = []
    for p in Path(folder).iterdir():
        name = p.name
        if name.startswith(".") and (".tmp-" in name or name.endswith(suffixes)) and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(name)
    return removed


def file_hash(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """The hex digest of a file's bytes (``hashlib`` algorithm name, SHA-256 by default), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
