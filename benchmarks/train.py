"""Training throughput of loopkit's trainer against a plain PyTorch loop, measured side by side in one run.

For each model: loops per second of ``loopkit.training.train.train`` (end to end: data set resident and unpacked per
batch, per-epoch validation, checkpoints and metrics.csv included) and of a plain reference loop (the same loops
unpacked to float32 once and resident on the device, shuffled and sliced there; the same model, batch size,
optimizer, loss and number of steps, nothing else). Prints both and their ratio (target on CPU:
ratio >= 1, the trainer at least as fast). Loops are synthetic (``loopkit.data.synthetic.synthetic_loops``: the loop
rules, ~5 % of cells on), or a real data set with ``--data``.

    python benchmarks/train.py                                   # CPU, cpu profile, 2 threads
    python benchmarks/train.py --device cuda --loops 120600 --profile paper
        # one LMD-sized epoch per model on a GPU against the plain loop
    python benchmarks/train.py --project --device cuda --loops 120600 --profile paper
        # the first epochs of every schedule (the four models, the prior, Table 2's five other cells) and the
        # projected time of each whole schedule, as a rehearsal's chapter 2 projects it (loopkit.book.rehearsal)
    python benchmarks/train.py --full --data DIR --profile cpu
        # wall time of training all four models and the prior under a profile (how the cpu profile was sized)
    python benchmarks/train.py --ar-decoder
        # the AR LSTM-VAE's training step with its step loop as explicit cell arithmetic against nn.LSTM
    TORCHINDUCTOR_COMPILE_THREADS=1 python benchmarks/train.py --compile --epochs 4 --threads 1 [--device cuda]
        # the trainer with its forward pass through torch.compile (TrainConfig.compile) against eager, in CPU
        # seconds: the compilation (graphs, recompiles, seconds) apart from the steady state; one thread and one
        # compile thread, so that the CPU seconds count the compilation in full and no spinning thread
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from loopkit import paper
from loopkit.training.batches import packed_tensor, unpack_batch
from loopkit.models.checkpoints import load_checkpoint, resolve_device
from loopkit.training.rundir import METRICS
from loopkit.config import MODEL_NAMES, model_config, train_config
from loopkit.data.dataset import Loops, PackedRolls, load_loops, pack_rolls
from loopkit.evaluation.tables import table2_run_name
from loopkit.models import build_model
from loopkit.book.rehearsal import training_projection, training_runs
from loopkit.data.synthetic import synthetic_loops
from loopkit.training.train import autocast_for, beta_at, teacher_forcing_ratio, train, train_prior

#: The plain loop keeps at most this many batches of loops unpacked to float32 (on the device), and draws its
#: batches from them: a bounded pool, never a float32 copy of the whole split (5.7 GB at LMD's 120,600 loops).
POOL_BATCHES = 4


def synthetic_corpus(n_train: int, n_valid: int, seed: int = 0, chunk: int = 8192) -> Loops:
    """Synthetic loops, generated and packed in chunks (LMD size unpacked would be 1.6 GB of bools)."""
    n = n_train + n_valid
    packed = np.concatenate([pack_rolls(synthetic_loops(min(chunk, n - s), seed=seed + s)) for s in range(0, n, chunk)])
    meta = pd.DataFrame({"index": np.arange(n), "source": [f"synthetic:{i}" for i in range(n)], "md5": "",
                         "start_bar": 0, "bpm": 120.0, "split": ["train"] * n_train + ["valid"] * n_valid})
    return Loops(rolls=PackedRolls(packed), meta=meta)


def reference_loop(name: str, profile: str, loops: Loops, steps: int, device: torch.device, seed: int) -> float:
    """The plain loop: a pool of up to ``POOL_BATCHES`` batches of training loops unpacked to float32 once, on
    ``device`` (from the packed split, batch by batch: no float32 copy of the split on the host or the device),
    shuffled with randperm and sliced into batches there; returns seconds for ``steps`` optimizer steps. No
    DataLoader: on a GPU a single-process loader would measure the host, not the model."""
    cfg = train_config(name, profile)
    packed = packed_tensor(loops.split("train").rolls, device)
    pool = min(len(packed), POOL_BATCHES * cfg.batch_size)
    x_all = torch.cat([unpack_batch(packed[s : s + cfg.batch_size].to(device)) for s in range(0, pool, cfg.batch_size)])
    n = len(x_all)
    torch.manual_seed(seed)
    model = build_model(name, model_config(name, profile)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr_max, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=cfg.lr_min)
    model.train()
    done, epoch = 0, 0
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    while done < steps:
        order = torch.randperm(n, device=device)
        for idx in torch.split(order, cfg.batch_size):
            x = x_all[idx]
            with autocast_for(model, device, cfg.amp):
                if name == "ar_lstm_vae":
                    out = model(x, teacher_forcing=teacher_forcing_ratio(epoch, cfg.sampling_rate))
                else:
                    out = model(x)
                loss = model.loss(out, beta_at(done, steps, cfg))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            done += 1
            if done == steps:
                break
        epoch += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def trainer_run(name: str, profile: str, loops: Loops, epochs: int, device: torch.device, seed: int, out: Path,
                settings: dict | None = None):
    """loopkit's trainer; returns (end-to-end seconds, seconds of its training steps, per-epoch seconds)."""
    started = time.perf_counter()
    train(name, loops, profile, out, device=device, seed=seed, progress=False, epochs=epochs, train_settings=settings)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    metrics = pd.read_csv(out / METRICS)
    return seconds, float((metrics["seconds"] - metrics["val_seconds"]).sum()), list(metrics["seconds"])


def compare(args, loops: Loops, device: torch.device) -> None:
    n_train = len(loops.split("train"))
    print(f"device {_device_name(device)}, profile {args.profile}, {n_train} training loops, "
          f"{len(loops.split('valid'))} valid, {torch.get_num_threads()} CPU threads, best of {args.repeats}")
    print(f"{'model':16s} {'batch':>5s} {'steps':>5s} | {'loops/s: trainer':>16s} {'plain':>7s} {'ratio':>6s} | "
          f"{'end to end':>10s} {'ratio':>6s} | {'s/epoch':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            cfg = train_config(name, args.profile)
            steps = args.epochs * -(-n_train // cfg.batch_size)
            processed = args.epochs * n_train
            t_ref, t_steps, t_all, per_epoch = [], [], [], []
            for r in range(args.repeats):  # alternate the two, keep the best of each (the CPU may be shared)
                t_ref.append(reference_loop(name, args.profile, loops, steps, device, args.seed))
                a, s, e = trainer_run(name, args.profile, loops, args.epochs, device, args.seed, Path(tmp) / f"{name}{r}")
                t_all.append(a), t_steps.append(s), per_epoch.append(e)
            ref, ours, whole = min(t_ref), min(t_steps), min(t_all)
            epochs = min(per_epoch, key=sum)
            steady = statistics.median(epochs[1:]) if len(epochs) > 1 else epochs[0]
            print(f"{name:16s} {cfg.batch_size:5d} {steps:5d} | {processed / ours:16.1f} {processed / ref:7.1f} "
                  f"{ref / ours:6.2f} | {processed / whole:10.1f} {ref / whole:6.2f} | {steady:7.2f}", flush=True)
    print("ratio = plain loop seconds / trainer seconds for the same optimizer steps (>= 1: the trainer is at least "
          "as fast). 'trainer' counts its training steps (batches unpacked from the resident packed set); 'end to "
          "end' the whole train() call: set-up, per-epoch validation, checkpoints and metrics.csv, which the plain "
          "loop does not do. s/epoch: the trainer's steady epoch (median after the first), validation included. "
          "The projected schedules: --project.")


def project(args, loops: Loops, device: torch.device) -> None:
    """The first ``--epochs`` epochs of every schedule under ``--profile`` (``until_epoch``): the four models, the
    prior and Table 2's cells other than the main VQ-VAE's, then each whole schedule's projected time
    (``loopkit.book.rehearsal.training_projection``) and the totals."""
    n_train = len(loops.split("train"))
    print(f"device {_device_name(device)}, profile {args.profile}, {n_train} training loops, "
          f"{len(loops.split('valid'))} valid, {torch.get_num_threads()} CPU threads, first {args.epochs} epochs")
    first = {"until_epoch": args.epochs}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name in MODEL_NAMES:
            train(name, loops, args.profile, out / "models" / name, device=device, seed=args.seed, progress=False,
                  train_settings=first)
        train_prior(out / "models" / "vq_vae" / "best.pt", loops, args.profile, out / "models" / "prior",
                    device=device, seed=args.seed, progress=False, train_settings=first)
        main = model_config("vq_vae", args.profile)
        for t, L, K in paper.TABLE2_LATENT_SIZE:
            if (t, L, K) != (main.latent_steps, main.latent_dim, main.codebook_size):
                train("vq_vae", loops, args.profile, out / "table2" / table2_run_name(t, L, K), device=device,
                      seed=args.seed, progress=False, train_settings=first,
                      overrides={"latent_steps": t, "latent_dim": L, "codebook_size": K})
        frame = training_projection(training_runs(out), loops)
    pd.set_option("display.width", 200)
    print(frame.drop(columns=["label", "updated"]).round(2).to_string(index=False))
    full, lmd = frame["full run s"], frame["full run s at LMD-full size"]
    models = ~frame["run"].str.startswith("Table 2")
    print(f"projected: the four models and the prior {full[models].sum() / 3600:.2f} h, Table 2's other cells "
          f"{full[~models].sum() / 3600:.2f} h, all {full.sum() / 3600:.2f} h on {n_train} training loops "
          f"({lmd.sum() / 3600:.1f} h at LMD-full's size, linear in loops) on {_device_name(device)}")


def full(args, loops: Loops, device: torch.device) -> None:
    """Train the four models and the prior under ``--profile``; print each wall time and the total."""
    print(f"device {device}, profile {args.profile}, {len(loops.split('train'))} training loops, "
          f"{len(loops.split('valid'))} valid, {torch.get_num_threads()} CPU threads")
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name in [*MODEL_NAMES, "prior"]:
            started = time.perf_counter()
            if name == "prior":
                best = train_prior(out / "vq_vae" / "best.pt", loops, args.profile, out / name, device=device,
                                   seed=args.seed, progress=False)
            else:
                best = train(name, loops, args.profile, out / name, device=device, seed=args.seed, progress=False)
            seconds = time.perf_counter() - started
            total += seconds
            info = load_checkpoint(best)["best"]
            epochs = train_config(name, args.profile).epochs
            print(f"{name:16s} {epochs:5d} epochs {seconds:8.1f} s   best {info['metric']} {info['value']:.4g} "
                  f"(epoch {info['epoch']})", flush=True)
    print(f"total {total:.1f} s ({total / 60:.1f} min)")


def ar_decoder(args, loops: Loops, device: torch.device) -> None:
    """Loops per second of whole AR LSTM-VAE training steps (encoder, scheduled-sampling decoder, loss, backward,
    AdamW) with the decoder's step loop as explicit cell arithmetic ("cell", what training uses) and through
    nn.LSTM one step at a time ("lstm", the reference), alternated, best of ``--repeats`` rounds of 10 steps."""
    cfg = train_config("ar_lstm_vae", args.profile)
    train_rolls = loops.split("train").rolls
    batch = min(cfg.batch_size, len(train_rolls))
    x_all = torch.from_numpy(np.asarray(train_rolls[: batch * 10], dtype=np.float32)).to(device)
    torch.manual_seed(args.seed)
    model = build_model("ar_lstm_vae", model_config("ar_lstm_vae", args.profile)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr_max)
    ratio = teacher_forcing_ratio(0, cfg.sampling_rate)
    best = {"cell": float("inf"), "lstm": float("inf")}
    for _ in range(max(args.repeats, 3)):
        for impl in best:
            model.step_impl = impl
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            for s in range(0, len(x_all) - batch + 1, batch):
                out = model(x_all[s : s + batch], teacher_forcing=ratio)
                loss = model.loss(out, 1.0)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best[impl] = min(best[impl], time.perf_counter() - started)
    n = (len(x_all) // batch) * batch
    print(f"AR LSTM-VAE training steps, profile {args.profile}, batch {batch}, {_device_name(device)}, "
          f"{torch.get_num_threads()} threads: cell {n / best['cell']:.1f} loops/s, nn.LSTM step by step "
          f"{n / best['lstm']:.1f} loops/s, ratio {best['lstm'] / best['cell']:.2f}")


def _epoch_cpu(name: str, profile: str, loops: Loops, epochs: int, device: torch.device, seed: int, out: Path,
               settings: dict) -> list[float]:
    """The CPU seconds (this process and its finished children) of each epoch of a trainer run, its first counted
    from the call (set-up and compilation included): what the run cost whatever else shares the machine."""
    marks, last = [_cpu_seconds()], {}

    def mark(info):  # after every step; an epoch's last step closes it (validation falls into the next)
        last[info["epoch"]] = _cpu_seconds()

    train(name, loops, profile, out, device=device, seed=seed, progress=False, epochs=epochs, train_settings=settings,
          callback=mark)
    marks += [last[e] for e in sorted(last)]
    return [b - a for a, b in zip(marks, marks[1:])]


def compiled(args, loops: Loops, device: torch.device) -> None:
    """Per model, the trainer eager and with ``compile=True``, alternated, best of ``--repeats``: the steady epoch
    (median of the epochs after the first) and the compilation apart: the first epoch's extra seconds under
    compile, the graphs compiled and the recompilations (``torch._dynamo``'s counters). Seconds are CPU seconds of
    this process and its compiler's subprocesses, so that a machine shared with other work does not blur them:
    run with ``--threads 1`` and ``TORCHINDUCTOR_COMPILE_THREADS=1`` (no thread spinning while it waits for a core;
    the compilation in this process) for figures that mean the same on a busy machine."""
    from torch._dynamo.utils import counters

    n_train = len(loops.split("train"))
    print(f"device {_device_name(device)}, profile {args.profile}, {n_train} training loops, {args.epochs} epochs, "
          f"{torch.get_num_threads()} CPU threads, best of {args.repeats}; CPU seconds")
    print(f"{'model':16s} | {'s/epoch: eager':>14s} {'compiled':>9s} {'speed-up':>8s} | {'compile s':>9s} "
          f"{'graphs':>6s} {'recompiles':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            steady, first, graphs, recompiles = {False: [], True: []}, {False: [], True: []}, 0, 0
            for r in range(args.repeats):
                for on in (False, True):
                    torch._dynamo.reset()
                    counters.clear()
                    per_epoch = _epoch_cpu(name, args.profile, loops, args.epochs, device, args.seed,
                                           Path(tmp) / f"{name}{r}{on}", {"compile": on})
                    steady[on].append(statistics.median(per_epoch[1:]) if len(per_epoch) > 1 else per_epoch[0])
                    first[on].append(per_epoch[0])
                    if on:
                        graphs = counters["stats"]["unique_graphs"]
                        recompiles = sum(counters["recompiles"].values())
            eager, comp = min(steady[False]), min(steady[True])
            cost = min(first[True]) - comp - (min(first[False]) - eager)
            print(f"{name:16s} | {eager:14.2f} {comp:9.2f} {eager / comp:8.2f} | {cost:9.1f} {graphs:6d} "
                  f"{recompiles:10d}", flush=True)
    print("CPU seconds per epoch (the epoch's steps and the previous epoch's validation, which runs eager). "
          "speed-up = eager / compiled at the steady state, the epochs after the first (> 1: compile pays once its "
          "compilation is spent). 'compile s' = the compiled run's first epoch over its steady epoch, less the same "
          "for eager: the one-off cost of compiling. graphs: graphs compiled (a graph break splits one; the LSTM "
          "encoders' nn.LSTM is one); recompiles: recompilations of a graph already compiled.")


def _cpu_seconds() -> float:
    """User + system seconds of this process and of its finished children (inductor's compiler workers)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--profile", default=None, help="default: cpu on CPU, paper on CUDA")
    p.add_argument("--loops", type=int, default=None, help="synthetic training loops (default 640; 120600 = LMD)")
    p.add_argument("--data", default=None, help="a loop data set directory instead of synthetic loops")
    p.add_argument("--epochs", type=int, default=None, help="epochs timed per model (default 3 on CUDA, 2 on CPU)")
    p.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=2, help="alternate runs of each, best kept (default 2)")
    p.add_argument("--full", action="store_true", help="train all four models and the prior under --profile")
    p.add_argument("--ar-decoder", action="store_true",
                   help="time the AR LSTM-VAE's training step with the cell step loop against nn.LSTM step by step")
    p.add_argument("--compile", action="store_true",
                   help="time the trainer with torch.compile (TrainConfig.compile) against eager")
    p.add_argument("--project", action="store_true",
                   help="train the first --epochs of every schedule (models, prior, Table 2) and project each")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    args.profile = args.profile or ("paper" if device.type == "cuda" else "cpu")
    args.epochs = args.epochs or (3 if device.type == "cuda" else 2)
    if args.data:
        loops = load_loops(args.data)
    else:
        n_train = args.loops or 640
        n_valid = max(1, n_train // 8) if n_train != 120_600 else 15_075  # LMD: 120,600 / 15,075
        loops = synthetic_corpus(n_train, n_valid, seed=args.seed)
    if args.ar_decoder:
        ar_decoder(args, loops, device)
    elif args.compile:
        compiled(args, loops, device)
    elif args.full:
        full(args, loops, device)
    elif args.project:
        project(args, loops, device)
    else:
        compare(args, loops, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
