"""``loopkit lab``: open the executed chapters in JupyterLab, to change a cell and hear the result (``make lab``)."""

from __future__ import annotations

import argparse
import signal
import subprocess

from loopkit.commands import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "lab",
        help="open the executed chapters in JupyterLab (127.0.0.1, with a token) to change cells and re-run them",
        description=(
            "Copy the chapters that `loopkit book` executed into OUT/lab, pointed at the build's output folder OUT "
            "(models, loops, tables), and serve them with JupyterLab on 127.0.0.1 with a fresh token. Open the "
            "address it prints, run chapter 3's cells, change `code = ...` (or `my_loop = ...`) and run the cell "
            "again to hear the result. A chapter you changed is kept when you start the lab again (delete it for a "
            "fresh copy); a relative path you type in a chapter is read from OUT/lab, the folder the file browser "
            "shows. Ctrl-C stops the server."
        ),
    )
    p.add_argument("--out", default="runs/cpu", help="the book's output folder (default runs/cpu)")
    p.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (default 8888)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from loopkit.book.lab import lab_url, prepare_lab, start_lab

    if not 1 <= args.port <= 65535:
        raise UserError(f"--port must lie in 1..65535, got {args.port}")
    kept: list = []
    try:
        copies = prepare_lab(args.out, kept=kept)
    except FileNotFoundError as exc:
        raise UserError(f"{exc} (`make book`, or `loopkit book --out {args.out}`)") from None
    lab = copies[0].parent
    print(f"[lab] {len(copies) - len(kept)} chapter(s) copied to {lab}, reading {args.out}")
    if kept:
        print(f"[lab] kept {len(kept)} chapter(s) you changed: {', '.join(k.name for k in kept)} (delete one to get a "
              "fresh copy of the book's)")
    print(f"[lab] relative paths you type in a chapter are read from {lab}")
    # the server runs in its own session: Ctrl-C (or SIGTERM) reaches this process, which stops it without the
    # server's own "Shutdown this Jupyter server?" prompt
    process, token = start_lab(lab, args.port, start_new_session=True)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"[lab] open {lab_url(args.port, token)}\n[lab] Ctrl-C stops the server", flush=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        print("[lab] stopped")
        return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt
