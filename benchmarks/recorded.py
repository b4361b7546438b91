"""Re-run one model of a recorded run (``records/<name>``) from its recorded command and print its Table 1 numbers
beside the recorded ones, measured in this run: does the record reproduce?

The model is trained again with the record's profile, on a loops folder of the record's corpus (checked by the
corpus fingerprint in the record's provenance), with the command ``provenance.json`` names, into a fresh folder;
then Table 1's row (error removed on the training and the validation split, FND, FNB) is computed for it and shown
beside the recorded row, with both runs' optimizer steps and seconds. CPU runs are deterministic, so on the same
machine the numbers should agree to the last digit; on another machine or thread count, closely.

    python benchmarks/recorded.py --data runs/long/loops                     # the CNN-VAE of records/long
    python benchmarks/recorded.py --record long --model vq_vae --data runs/cpu/loops
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from loopkit import load_loops
from loopkit.config import PAPER_NAMES
from loopkit.evaluation.tables import table1
from loopkit.book.records import load_record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", default="long", help="the recorded run (records/NAME; default long)")
    ap.add_argument("--model", default="cnn_vae", help="the model to re-run (not the prior; default cnn_vae)")
    ap.add_argument("--data", required=True, help="a loops folder of the record's corpus (e.g. runs/long/loops)")
    ap.add_argument("--out", default=None, help="where to train (default: a temporary folder)")
    args = ap.parse_args(argv)

    rec = load_record(args.record)
    prov = rec.provenance
    if args.model not in prov["models"] or args.model == "prior":
        sys.exit(f"recorded.py: the record {args.record} has no model {args.model!r} to re-run")
    loops = load_loops(args.data)
    if loops.fingerprint != prov["corpus"]["fingerprint"]:
        sys.exit(f"recorded.py: {args.data} is not the record's corpus (fingerprint {loops.fingerprint[:12]}, "
                 f"recorded {prov['corpus']['fingerprint'][:12]})")
    out = Path(args.out or tempfile.mkdtemp(prefix="recorded-")) / args.model
    recorded_cmd = shlex.split(prov["models"][args.model]["command"])
    # the recorded command, with this machine's data folder and a fresh output folder
    cmd = [sys.executable, "-m", "loopkit"] + recorded_cmd[1:]
    cmd[cmd.index("--data") + 1] = str(args.data)
    cmd[cmd.index("--out") + 1] = str(out)
    print("recorded command:", prov["models"][args.model]["command"])
    print("re-run as:       ", " ".join(shlex.quote(c) for c in cmd))
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    seconds = time.perf_counter() - start
    ours = table1({args.model: out / "best.pt"}, loops, baseline=False).iloc[0]
    label = PAPER_NAMES[args.model]
    theirs = rec.tables["table1"].set_index("model").loc[label]
    columns = ["steps", "train_removed", "removed", "train_FNB", "FNB", "reconstruction_error"]
    frame = pd.DataFrame({f"recorded ({prov['date']}, commit {prov['commit'][:10]})": theirs[columns],
                          "re-run now": ours[columns]})  # fmt: skip
    frame.loc["seconds (training)"] = [prov["models"][args.model]["seconds"], seconds]
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 160):
        print(f"\n{label} of the recorded {args.record} run, re-run from its command on this machine:")
        print(frame.to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
