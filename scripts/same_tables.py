"""Do two builds' tables hold the same numbers? For a change that should move no number (a regrouping, a rename):
build the book's chapters before and after it (e.g. ``loopkit book --profile smoke --no-build --out A``), then

    python scripts/same_tables.py A/tables B/tables

Compares every CSV (each column; ``seconds``, the wall time of a row, is left out), every Markdown table and every
bootstrap file (``.npz``, array by array) of the first folder with the second's; prints one line per file and exits
1 when any differs or is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns that measure the run, not its results.
TIMING_COLUMNS = ("seconds",)


def differences(a: Path, b: Path) -> str | None:
    """What differs between two table files of one name (None: the same)."""
    if not b.is_file():
        return "missing in the second folder"
    if a.suffix == ".csv":
        x, y = pd.read_csv(a), pd.read_csv(b)
        cols = [c for c in x.columns if c not in TIMING_COLUMNS]
        differ = [c for c in cols if c not in y.columns or not x[c].equals(y[c])]
        extra = sorted(set(y.columns) - set(x.columns))
        return "; ".join(filter(None, [differ and f"columns {differ}", extra and f"new columns {extra}"])) or None
    if a.suffix == ".npz":
        x, y = np.load(a), np.load(b)
        if set(x.files) != set(y.files):
            return f"arrays {sorted(set(x.files) ^ set(y.files))}"
        differ = [k for k in x.files if not np.array_equal(x[k], y[k], equal_nan=True)]
        return f"arrays {differ}" if differ else None
    return None if a.read_bytes() == b.read_bytes() else "the text differs"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    first, second = map(Path, argv)
    files = sorted(p for p in first.iterdir() if p.suffix in (".csv", ".md", ".npz"))
    if not files:
        print(f"no tables in {first}", file=sys.stderr)
        return 2
    bad = 0
    for path in files:
        what = differences(path, second / path.name)
        bad += what is not None
        print(f"{'same     ' if what is None else 'DIFFERENT'} {path.name}" + (f": {what}" if what else ""))
    print(f"{len(files) - bad} of {len(files)} tables hold the same numbers")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
