"""The rehearsal's wall time: `loopkit book --profile paper --rehearsal` end to end on a corpus of about 1,000 loops,
timed, with the chapters' measured and projected times it prints (``loopkit.book.rehearsal``).

The corpus is the demo corpus's game music (real MIDI from three Debian packages, 271 loops) plus synthetic loops
written as 8-bar MIDI files (one loop per file: ``loopkit.data.synthetic``, not music; they make the data set the size
the rehearsal is meant for), or any folder of MIDI with ``--corpus``.

    python benchmarks/rehearsal.py                          # game music + 750 synthetic loops, 2 threads, the whole book
    python benchmarks/rehearsal.py --corpus DIR --no-build  # a corpus of yours; the notebooks only
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_midi_corpus(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` synthetic loops as 8-bar MIDI files in ``folder`` (120 bpm; bass on a GM bass program, drums on the GM
    drum channel), one loop per file."""
    from loopkit.data.pianoroll import write_midi
    from loopkit.data.synthetic import synthetic_loops

    folder.mkdir(parents=True, exist_ok=True)
    rolls = synthetic_loops(n, seed=seed)
    for i, roll in enumerate(rolls):
        bpm = float(np.random.default_rng(seed + i).integers(80, 160))
        write_midi(roll, folder / f"synthetic_{i:05d}.mid", bpm=bpm)
    return folder


def _children_cpu() -> float:
    """User + system seconds of every finished child process (and theirs) of this one."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=None, help="MIDI files or folders, comma-separated (default: game music + synthetic)")
    p.add_argument("--synthetic", type=int, default=750, help="synthetic loops added to the game music (default 750)")
    p.add_argument("--profile", default="paper")
    p.add_argument("--epochs", type=int, default=None, help="rehearsal epochs (default: loopkit's REHEARSAL.epochs)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    p.add_argument("--no-build", action="store_true", help="run the notebooks, not the HTML build")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if corpus is None:
            from loopkit.sources.games import fetch_games

            games = fetch_games(Path(tmp) / "games", progress=False, echo=lambda *a, **k: None)
            corpus = f"{games},{synthetic_midi_corpus(Path(tmp) / 'synthetic', args.synthetic)}"
        out = args.out or str(Path(tmp) / "runs" / args.profile)
        cmd = [sys.executable, "-m", "loopkit", "book", "--profile", args.profile, "--corpus", corpus, "--out", out,
               "--device", "cpu", "--rehearsal"] + ([str(args.epochs)] if args.epochs else [])
        cmd += ["--no-build"] if args.no_build else []
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        print(" ".join(cmd), flush=True)
        started, cpu_before = time.perf_counter(), _children_cpu()
        result = subprocess.run(cmd, env=env, text=True, capture_output=True)
        seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
        shown = [line for line in result.stdout.splitlines() if line.startswith("[book]")]
        print("\n".join(shown))
        if result.returncode != 0:
            print(result.stderr[-4000:], file=sys.stderr)
            return result.returncode
        print(f"rehearsal wall time: {seconds:.0f} s ({seconds / 60:.1f} min), {args.threads} threads, "
              f"profile {args.profile}, corpus {corpus}; CPU time of the whole run (every process, user + system): "
              f"{cpu:.0f} s, so at least {cpu / os.cpu_count() / 60:.1f} min of wall time on this machine's "
              f"{os.cpu_count()} cores when nothing else runs on them (load average now: {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
