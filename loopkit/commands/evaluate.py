"""``loopkit evaluate``: Tables 3 and 4 (the musical metrics of generated loops, beside the paper's) as CSV and
Markdown."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loopkit.commands import UserError

TABLES = ("3", "4")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="Tables 3 and 4: musical metrics of generated loops, beside the paper's",
        description=(
            "Generate loops from every trained model in a runs folder (<runs>/<model>/best.pt for ar_lstm_vae, "
            "nonar_lstm_vae, cnn_vae, vq_vae and prior: the layout of `loopkit train MODEL --out <runs>/<model>`), "
            "measure the paper's musical metrics on them and on the training split, and write Table 3 (all "
            "models; VQ-VAE at argmax and temperatures 1, 1.5, 2) and Table 4 (the VQ-VAE rows with the paper's "
            "latent copy) as CSV and Markdown, with the paper's published values beside ours. Each row generates "
            "as many loops as the training split unless -n says otherwise. Finished rows are kept in OUT/cache: "
            "re-running the same command resumes where it stopped."
        ),
    )
    p.add_argument("--runs", required=True, metavar="DIR", help="folder of runs, one per model: DIR/<model>/best.pt")
    p.add_argument("--data", required=True, metavar="DIR", help="the loop data set the models were trained on")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for table3.csv/.md, table4.csv/.md")
    p.add_argument("-n", "--n", type=int, default=None, dest="n",
                   help="loops generated per row (default: as many as the training split)")  # fmt: skip
    p.add_argument("--temperatures", default="argmax,1,1.5,2",
                   help="the VQ-VAE rows, comma-separated (default argmax,1,1.5,2)")  # fmt: skip
    p.add_argument("--form", default="paper",
                   help="Table 4's manipulation: 'paper' (latent steps 0,1 onto 16,17) or a bar form ('ABAB ABCD')")  # fmt: skip
    p.add_argument("--mode", default="after", help="Table 4: 'after' (copy within Table 3's sequences) or 'condition' (fresh samples with the copy "
                   "forced); the paper does not say which it used")
    p.add_argument("--tables", default="3,4", help="which tables, comma-separated (default 3,4)")
    p.add_argument("--seed", type=int, default=0, help="random seed of every row (default 0)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--batch-size", type=int, default=None, help="loops generated at once (default 1024 on CPU)")
    p.set_defaults(handler=run)


def write_table(frame, out: Path, stem: str) -> list[Path]:
    """``stem.csv`` (every column) with ``stem.bootstrap.npz`` (its rows' bootstrap replicates) beside it, ``stem.md``
    (ours and the paper's, with the notes) and ``stem.json`` (attrs, less the replicates)."""
    from loopkit.atomic import write_text
    from loopkit.evaluation.table_format import BOOTSTRAP, metric_table_markdown
    from loopkit.evaluation.table_format import write_table as write_csv

    md_path, json_path = out / f"{stem}.md", out / f"{stem}.json"
    written = write_csv(frame, out / f"{stem}.csv")
    write_text(md_path, metric_table_markdown(frame))
    attrs = {k: v for k, v in frame.attrs.items() if k != BOOTSTRAP}
    write_text(json_path, json.dumps(attrs, indent=2, sort_keys=True, default=str) + "\n")
    return written + [md_path, json_path]


def run(args: argparse.Namespace) -> int:
    from loopkit.errors import LoopkitError
    from loopkit.evaluation.tables import run_checkpoints, table3, table4
    from loopkit.generation.latent import MODES, normalise_form
    from loopkit.generation.sampling import parse_temperature

    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = sorted(set(tables) - set(TABLES))
    if unknown or not tables:
        raise UserError(f"--tables takes {' and/or '.join(TABLES)}, got {args.tables!r}")
    try:
        temperatures = [parse_temperature(t) for t in args.temperatures.split(",") if t.strip()]
    except LoopkitError as exc:
        raise UserError(f"--temperatures: {exc}") from None
    if not temperatures:
        raise UserError("--temperatures names no temperature")
    if "4" in tables:  # checked before any model runs
        if args.mode not in MODES:
            raise UserError(f"--mode must be one of {', '.join(MODES)}, got {args.mode!r}")
        if args.form.strip().lower() != "paper":
            try:
                normalise_form(args.form)
            except LoopkitError as exc:
                raise UserError(f"--form: {exc}") from None
    if args.n is not None and args.n < 1:
        raise UserError(f"-n must be at least 1, got {args.n}")
    checkpoints = run_checkpoints(args.runs)
    if not checkpoints:
        raise FileNotFoundError(f"no trained model in {args.runs} (expected <model>/best.pt folders)")
    data = Path(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = dict(n=args.n, temperatures=temperatures, seed=args.seed, device=args.device,
                  batch_size=args.batch_size, cache=out / "cache", progress=True)  # fmt: skip
    written = []
    if "3" in tables:
        frame = table3(checkpoints, data, **common)
        written += write_table(frame, out, "table3")
        print((out / "table3.md").read_text())
        if frame.attrs.get("missing"):
            print(f"Table 3: no checkpoint for {', '.join(frame.attrs['missing'])}: those rows are left out")
    if "4" in tables:
        frame = table4(checkpoints, data, copy=args.form, mode=args.mode, **common)
        written += write_table(frame, out, "table4")
        print((out / "table4.md").read_text())
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
