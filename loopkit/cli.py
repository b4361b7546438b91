"""The ``loopkit`` command line: one sub-command per stage of the paper's pipeline.

Each module in ``loopkit.commands`` adds its sub-commands through ``register(subparsers)``; heavy imports
(torch, pandas, matplotlib, the models) happen inside the handlers, so building the parser, ``loopkit --version``
and every ``--help`` load none of them (``tests/test_imports.py`` checks each). Bad input ends in a one-line
error (``loopkit CMD: error: ...``, exit status 2): a bad flag (``UserError``), bad input to the library
(``loopkit.errors.LoopkitError``) or a missing file. Anything else is a bug and shows its traceback; set
``LOOPKIT_DEBUG=1`` for the traceback of a one-line error too.
"""

from __future__ import annotations

import argparse
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
    except KeyboardInterrupt:
        print(f"loopkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
