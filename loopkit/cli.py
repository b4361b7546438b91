"""The ``loopkit`` command line: one sub-command per stage of the paper's pipeline.

Each module in ``loopkit.commands`` adds its sub-commands through ``register(subparsers)``; heavy imports
(torch, pandas, matplotlib, the models) happen inside the handlers, so building the parser, ``loopkit --version``
and every ``--help`` load none of them (``tests/test_imports.py`` checks each). Bad input ends in a one-line
error (``loopkit CMD: error: ...``, exit status 2): a bad flag (``UserError``), bad input to the library
(``loopkit.errors.LoopkitError``), a missing file, or the disk or file system refusing a write (a full disk, a
read-only folder: ``os_error_line``). Anything else is a bug and shows its traceback; set
``LOOPKIT_DEBUG=1`` for the traceback of a one-line error too.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys

from loopkit import commands
from loopkit.commands import UserError
from loopkit.errors import LoopkitError
from loopkit.version import __version__

#: What the command line prints as one line instead of a traceback.
ONE_LINE_ERRORS = (UserError, LoopkitError, FileNotFoundError)


#: Errors of the disk or the file system, not of loopkit: one line that names the file (``os_error_line``).
_WHY = {errno.ENOSPC: "no space left on device writing {}", errno.EDQUOT: "disk quota exceeded writing {}",
        errno.EROFS: "read-only file system: cannot write {}", errno.EACCES: "permission denied: {}",
        errno.EPERM: "operation not permitted: {}", errno.EEXIST: "{} is a file, not a folder",
        errno.ENOTDIR: "{} lies under a file, not a folder", errno.EISDIR: "{} is a folder, not a file",
        errno.EFBIG: "file too large: {}", errno.ENAMETOOLONG: "file name too long: {}"}  # fmt: skip


def os_error_line(exc: OSError) -> str | None:
    """One line for an ``OSError`` of the disk or the file system that names its file (a full disk, a read-only
    or forbidden folder, an output folder that is a file); None for any other (a bug: its traceback is shown).
    Files are written atomically (``loopkit.atomic``), so the files written before it are whole."""
    if exc.errno not in _WHY or exc.filename is None:
        return None
    return _WHY[exc.errno].format(os.fsdecode(exc.filename))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loopkit",
        description="Symbolic music loop generation with VQ-VAE (Han, Ihm, Lim, 2021), reproduced.",
    )
    parser.add_argument("--version", action="version", version=f"loopkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except ONE_LINE_ERRORS as exc:
        if os.environ.get("LOOPKIT_DEBUG"):
            raise
        print(f"loopkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        line = os_error_line(exc)
        if line is None or os.environ.get("LOOPKIT_DEBUG"):
            raise
        print(f"loopkit {args.command}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"loopkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
