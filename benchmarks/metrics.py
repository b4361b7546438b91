"""Benchmark of the paper's metrics (loopkit.metrics.paper_metrics) at LMD scale: Table 3's row for 120,600 generated loops
against a 120,600-loop training set, on synthetic loops of realistic density, and the VQ-VAE + prior generation throughput.

    python benchmarks/metrics.py                 # 120,600 + 120,600 loops, codes 120,600 x 32, K = 512
    python benchmarks/metrics.py --n 20000       # smaller, quicker
    python benchmarks/metrics.py --checkpoint runs/cpu/models/prior/best.pt   # generation throughput of a trained VQ-VAE + prior (default: fresh paper-size models)

The loops are synthetic (no data set needed): bit-packed like a real data set, about 5 % of cells active, a
bass line of mostly one pitch per step held over beats, a drum pattern repeated over the bars with noise, bar 5
close to bar 1. Printed: seconds per metric, their total against the issue's 10 s target, and references
measured in the same run (unpacking every loop once; a plain Python set for OS/US), as ratios. Timings depend
on the machine and on what else runs on it; the figures are the ones this run measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from loopkit.metrics import paper_metrics as M
from loopkit.data.dataset import PackedRolls, pack_rolls, unpack_rolls
from loopkit.data.pianoroll import BARS_PER_LOOP, DRUM_COLUMNS, N_BASS, N_DRUMS, STEPS_PER_BAR, bass_column, drum_column

N_TRAIN = 120_600  # the paper's LMD training split (loopkit.paper.CORPUS["train"])
T_LATENT, K = 32, 512  # the paper's VQ-VAE latent steps and codebook size
TARGET_S = 10.0  # issue 4: all metrics over 120,600 loops in under 10 s on 2 CPU cores

#: per-step probability of each drum component in the synthetic one-bar pattern (DRUM_COMPONENTS order:
#: kick, snare, closed hi-hat, open hi-hat, low, mid, high tom, crash, ride); with the bass this gives ~5 % cells
DRUM_PROBS = np.array([0.50, 0.40, 0.90, 0.35, 0.25, 0.25, 0.25, 0.30, 0.85])
BASS_ACTIVE = 0.85  # share of steps with a bass note
REST_SHARE = 0.08  # share of a loop's pattern steps left silent (the paper's training-set ND is 0.92)
SCALE = np.array([0, 3, 5, 7, 10, 12])  # bass pitches above the loop's root (minor pentatonic + octave)


def synthetic_loops(n: int, seed: int, generated: bool, batch: int = 4096, progress: bool = True) -> PackedRolls:
    """``n`` synthetic loops, packed. ``generated`` adds a model's flaws: a few duplicate bass steps, a few
    loops without kick+crash or bass on the first step, and a noisier bar 5."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    out = np.empty((n, 1488), dtype=np.uint8)
    kick, crash = drum_column("kick"), drum_column("crash")
    for start in tqdm(range(0, n, batch), desc="synthesising" + (" generated" if generated else " training"),
                      unit="batch", disable=not progress):
        b = min(batch, n - start)
        roll = np.zeros((b, BARS_PER_LOOP, STEPS_PER_BAR, N_BASS + N_DRUMS), dtype=bool)
        # drums: one bar pattern per loop, repeated over 8 bars, a few cells flipped per bar
        pattern = rng.random((b, 1, STEPS_PER_BAR, N_DRUMS)) < DRUM_PROBS
        rests = rng.random((b, 1, STEPS_PER_BAR)) < REST_SHARE  # steps the pattern leaves silent
        rests[:, :, 0] = False
        pattern &= ~rests[..., None]
        flips = rng.random((b, BARS_PER_LOOP, STEPS_PER_BAR, N_DRUMS)) < (0.02 if generated else 0.01)
        drums = pattern ^ flips
        # bass: one pitch per beat, held over its 4 steps, some steps silent; bar 5 repeats bar 1
        root = rng.integers(bass_column(28), bass_column(45), size=b)
        beat_pitch = root[:, None, None] + SCALE[rng.integers(0, len(SCALE), (b, BARS_PER_LOOP, 4))]
        beat_pitch[:, 4] = beat_pitch[:, 0]
        pitch = np.repeat(beat_pitch, STEPS_PER_BAR // 4, axis=2)  # (b, 8, 16)
        active = rng.random((b, BARS_PER_LOOP, STEPS_PER_BAR)) < BASS_ACTIVE
        active[:, 4] = active[:, 0] ^ (rng.random((b, STEPS_PER_BAR)) < (0.02 if generated else 0.005))
        active &= ~rests
        active[:, 0, 0] = True
        ib, ibar, istep = np.nonzero(active)
        roll[ib, ibar, istep, pitch[ib, ibar, istep]] = True
        roll[..., DRUM_COLUMNS] = drums
        roll[:, 0, 0, [kick, crash]] = True
        if generated:
            # a model's flaws: ~0.2 % of steps with a second bass pitch, ~2 % of loops missing a first note
            dup = (rng.random((b, BARS_PER_LOOP, STEPS_PER_BAR)) < 0.002) & active
            ib, ibar, istep = np.nonzero(dup)
            roll[ib, ibar, istep, pitch[ib, ibar, istep] + 7] = True
            roll[rng.random(b) < 0.02, 0, 0, crash] = False
            roll[rng.random(b) < 0.02, 0, 0, :N_BASS] = False
        out[start : start + b] = pack_rolls(roll.reshape(b, BARS_PER_LOOP * STEPS_PER_BAR, -1))
    return PackedRolls(out)


def synthetic_codes(n: int, seed: int, train: np.ndarray | None = None) -> np.ndarray:
    """``(n, 32)`` codes in 0..511 with a skewed code distribution. Without ``train``: about half the rows
    distinct (the paper's training-set US 0.51). With ``train``: ~8 % copied from it, the rest new, with
    internal repeats (the paper's temp-1 row: OS 0.08, US 0.50)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, K + 1) ** 0.8
    p /= p.sum()

    def draw(m):
        return rng.choice(K, size=(m, T_LATENT), p=p).astype(np.int16)

    if train is None:
        distinct = draw(int(n * 0.51))
        repeats = distinct[rng.integers(0, len(distinct), n - len(distinct))]
        return np.concatenate([distinct, repeats])[rng.permutation(n)]
    copied = train[rng.integers(0, len(train), int(n * 0.08))]
    new = draw(int(n * 0.45))
    rest = new[rng.integers(0, len(new), n - len(copied) - len(new))]
    codes = np.concatenate([copied, new, rest])
    return codes[rng.permutation(n)]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def reference_unpack(rolls: PackedRolls, batch: int = M.DEFAULT_BATCH_SIZE) -> int:
    """Reference: unpack every loop once, batch by batch, and touch it (the floor of any loop metric)."""
    total = 0
    for start in range(0, len(rolls), batch):
        total += int(unpack_rolls(rolls.packed[start : start + batch])[:, 0, 0].sum())
    return total


def reference_os_us(codes: np.ndarray, train: np.ndarray) -> tuple[float, float]:
    """Reference OS/US: a Python set of each row's bytes (also linear time; checks the values)."""
    train_set = {row.tobytes() for row in train.astype(np.int64)}
    rows = [row.tobytes() for row in codes.astype(np.int64)]
    return sum(r in train_set for r in rows) / len(rows), len(set(rows)) / len(rows)


def bench_metrics(n: int, n_train: int, seed: int, batch_size: int) -> dict[str, float]:
    print(f"synthetic data: {n:,} generated + {n_train:,} training loops, codes ({n:,} x {T_LATENT}), K = {K}")
    gen = synthetic_loops(n, seed, generated=True)
    train = synthetic_loops(n_train, seed + 1, generated=False)
    train_codes = synthetic_codes(n_train, seed + 2)
    codes = synthetic_codes(n, seed + 3, train=train_codes)
    density = np.bitwise_count(gen.packed[:2000]).sum() / (min(n, 2000) * 128 * 93)
    print(f"packed: {gen.packed.nbytes / 1e6:.0f} MB + {train.packed.nbytes / 1e6:.0f} MB; "
          f"cells active in generated loops: {density:.1%}")

    times: dict[str, float] = {}
    values: dict[str, float] = {}
    _, times["reference: unpack all loops"] = timed(reference_unpack, gen, batch_size)
    ref_os_us, times["reference: OS+US with a Python set"] = timed(reference_os_us, codes, train_codes)

    m = min(n, n_train)  # reconstruction error pairs loop i of each set: a stand-in for (x, x_hat)
    single = {
        "reconstruction_error (vs training loops)": lambda: M.reconstruction_error(
            PackedRolls(gen.packed[:m]), PackedRolls(train.packed[:m]), batch_size
        ),
        "HD ham_dist": lambda: M.ham_dist(gen, batch_size=batch_size),
        "FND first_note_drum": lambda: M.first_note_drum(gen, batch_size=batch_size),
        "FNB first_note_bass": lambda: M.first_note_bass(gen, batch_size=batch_size),
        "DB dup_bass": lambda: M.dup_bass(gen, batch_size=batch_size),
        "OS overlap_sample": lambda: M.overlap_sample(codes, train_codes),
        "US unique_sample": lambda: M.unique_sample(codes),
        "UP unique_pitch": lambda: M.unique_pitch(gen, batch_size=batch_size),
        "ND note_density": lambda: M.note_density(gen, batch_size=batch_size),
        "codebook_usage": lambda: M.codebook_usage(codes, K).perplexity,
        "code_frequencies": lambda: int(M.code_frequencies(codes, K).max()),
    }
    metric_times = {}
    for name, fn in single.items():
        values[name], metric_times[name] = timed(fn)

    row, t_row = timed(M.musical_metrics, gen, codes=codes, train_codes=train_codes, batch_size=batch_size)
    train_row, t_train_row = timed(
        M.musical_metrics, train, codes=train_codes, train_codes=train_codes, batch_size=batch_size
    )

    print(f"\n{'metric (each its own pass)':45s} {'seconds':>8s}  value")
    for name, s in metric_times.items():
        print(f"{name:45s} {s:8.3f}  {values[name]:.4g}")
    total = sum(metric_times.values())
    print(f"{'total':45s} {total:8.3f}  = {total / TARGET_S:.2f} x the {TARGET_S:.0f} s target")
    print(f"\n{'musical_metrics (one pass, a Table 3 row)':45s} {t_row:8.3f}  = {t_row / TARGET_S:.2f} x the target")
    print(f"{'musical_metrics of the training set':45s} {t_train_row:8.3f}")
    print("\nreferences measured in this run")
    ref_unpack = times["reference: unpack all loops"]
    print(f"{'unpack every loop once':45s} {ref_unpack:8.3f}  musical_metrics = {t_row / ref_unpack:.1f} x this")
    ref_set = times["reference: OS+US with a Python set"]
    t_os_us = metric_times["OS overlap_sample"] + metric_times["US unique_sample"]
    agree = np.allclose(ref_os_us, (row["OS"], row["US"]))
    print(f"{'OS + US with a Python set of row bytes':45s} {ref_set:8.3f}  loopkit = {t_os_us / ref_set:.2f} x this; "
          f"values {'agree' if agree else 'DISAGREE'}")
    print(f"\n{'':20s}" + "".join(f"{c:>10s}" for c in row))
    print(f"{'generated':20s}" + "".join(f"{v:10.4g}" for v in row.values()))
    print(f"{'training set':20s}" + "".join(f"{v:10.4g}" for v in train_row.values()))
    if not agree:
        sys.exit("OS/US disagree with the reference")
    return {"total_s": total, "row_s": t_row}


def bench_generation(checkpoint: str | None, n: int = 2048, temperature: float = 1.0, threads: int = 2,
                     repeats: int = 3, device: str = "cpu") -> dict:
    """Generation throughput (loops/s) of the VQ-VAE + LSTM prior on CPU (issue 4, "Speed").

    ``checkpoint``: the prior's checkpoint (it names its VQ-VAE; see ``loopkit.models.checkpoints.load_generator``); without
    one, a freshly initialised paper-size VQ-VAE (t = 32, L = 16, K = 512) and prior (2-layer LSTM) stand in:
    the timing depends on the sizes, not on the weights. Timed separately: the prior's step-by-step sampling,
    the decoder, and ``loopkit.generation.generate.generate`` end to end. References measured in the same run: the same
    prior teacher-forced over the same sequences (one LSTM call a batch: the network's cost without the
    step-by-step loop) and the same step loop drawing with ``torch.multinomial`` instead of loopkit's inverse-CDF
    draw. Each timing is the best of ``repeats`` rounds (the rounds interleave the five, so a busy shared machine
    slows them alike). Printed as loops/s, ratios, and the projected time for the paper's 120,600 loops.
    ``device="cuda"`` times the same on a GPU (batch 16,384).
    """
    # ---- generation engineer, issue 4 "Speed" ----------------------------------------------------------
    import torch

    from loopkit.generation import generate as G
    from loopkit.generation import sampling as S
    from loopkit.models.checkpoints import load_generator
    from loopkit.models import build_model

    torch.set_num_threads(threads)
    dev = torch.device(device)
    if checkpoint is not None:
        vq, prior = load_generator(checkpoint, device=dev)
        what = f"checkpoint {checkpoint} (K = {vq.codebook_size}, t = {vq.latent_steps})"
    else:
        torch.manual_seed(0)
        vq, prior = build_model("vq_vae").to(dev).eval(), build_model("prior").to(dev).eval()
        prior.first_code_counts.fill_(1.0)
        what = "freshly initialised paper-size VQ-VAE + prior (no --checkpoint): sizes, not weights, set the speed"
    batch = S.DEFAULT_BATCH_SIZE[dev.type]
    label = S.temperature_label(temperature)
    where = f"{threads} CPU thread(s)" if dev.type == "cpu" else torch.cuda.get_device_name(dev)
    print(f"\ngeneration throughput, {where}, batch {batch}, {n:,} loops, {label}, best of {repeats}: {what}")

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def multinomial_codes(m: int) -> torch.Tensor:
        """Reference sampler: the same step loop, drawing with torch.multinomial."""
        gen = torch.Generator(device=dev).manual_seed(0)
        out = []
        with torch.no_grad():
            for start in range(0, m, batch):
                b = min(batch, m - start)
                codes = torch.empty((b, prior.config.latent_steps), dtype=torch.long, device=dev)
                codes[:, 0] = torch.multinomial(prior.first_code_probs(), b, replacement=True, generator=gen)
                state = prior.initial_state(b, dev)
                for i in range(1, prior.config.latent_steps):
                    logits, state = prior.step(codes[:, i - 1], state)
                    if temperature:
                        probs = torch.softmax(logits / temperature, dim=-1)
                        codes[:, i] = torch.multinomial(probs, 1, generator=gen)[:, 0]
                    else:
                        codes[:, i] = logits.argmax(-1)
                out.append(codes.cpu())
        return torch.cat(out)

    def teacher_forced(codes) -> None:
        with torch.no_grad():
            for start in range(0, len(codes), batch):
                prior(torch.as_tensor(codes[start : start + batch], device=dev))
        sync()

    def best(fn, *args, **kwargs):
        sync()
        value, seconds = timed(fn, *args, **kwargs)
        sync()
        return value, seconds

    G.generate(vq, min(n, 64), prior=prior, temperature=temperature, progress=False)  # warm-up
    names = ("prior: step-by-step sampling (loopkit)", "decoder: codes -> thresholded loops",
             "generate(): prior + decoder, end to end", "reference: prior teacher-forced, same codes",
             "reference: step loop with torch.multinomial")  # fmt: skip
    times = dict.fromkeys(names, float("inf"))
    for _ in range(repeats):
        codes, s = best(G.sample_codes, prior, n, temperature, seed=0)
        times[names[0]] = min(times[names[0]], s)
        _, s = best(S.decode_codes, vq, codes, packed=True)
        times[names[1]] = min(times[names[1]], s)
        gen, s = best(G.generate, vq, n, prior=prior, temperature=temperature, seed=0, progress=False)
        times[names[2]] = min(times[names[2]], s)
        _, s = best(teacher_forced, codes)
        times[names[3]] = min(times[names[3]], s)
        _, s = best(multinomial_codes, n)
        times[names[4]] = min(times[names[4]], s)
        assert (gen.codes == codes).all(), "generate() and sample_codes() disagree for the same seed"

    print(f"{'':45s} {'seconds':>8s} {'loops/s':>9s}")
    for name, s in times.items():
        print(f"{name:45s} {s:8.2f} {n / s:9.0f}")
    t_prior, t_total = times[names[0]], times[names[2]]
    print(f"sampling loop = {t_prior / times[names[3]]:.2f} x the teacher-forced forward of the same network; "
          f"with the inverse-CDF draw it takes {t_prior / times[names[4]]:.2f} x the multinomial loop's time")
    print(f"projected for {N_TRAIN:,} loops (one Table 3 row): {N_TRAIN / (n / t_total) / 60:.1f} min")
    return {"loops_per_s": n / t_total, "prior_s": t_prior, "decode_s": times[names[1]], "total_s": t_total}
    # ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=N_TRAIN, help="generated loops (default: 120,600)")
    parser.add_argument("--n-train", type=int, default=N_TRAIN, help="training loops (default: 120,600)")
    parser.add_argument("--batch-size", type=int, default=M.DEFAULT_BATCH_SIZE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for generation (at most 2 here)")
    parser.add_argument("--checkpoint", default=None, help="the prior's checkpoint (it names its VQ-VAE); default: fresh paper-size models")
    args = parser.parse_args(argv)
    if args.n < 1 or args.n_train < 1:
        parser.error("--n and --n-train must be positive")
    if args.checkpoint is not None and not Path(args.checkpoint).exists():
        parser.error(f"no checkpoint at {args.checkpoint}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, numpy {np.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}")
    bench_metrics(args.n, args.n_train, args.seed, args.batch_size)
    bench_generation(args.checkpoint, threads=args.threads)


if __name__ == "__main__":
    main()
