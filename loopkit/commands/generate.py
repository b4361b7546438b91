"""``loopkit generate``: sample loops from a trained model into MIDI files, pianoroll PNGs and (optionally) OGG audio."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

SETTINGS_FILE = "generate.json"
LOOPS_FILE = "loops.npz"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="sample loops from a trained model (MIDI, PNG, OGG)",
        description=(
            "Sample loops from a trained model and write, for each, a standard MIDI file (a 'Bass' track with a "
            "GM bass program and a 'Drums' track on the GM drum channel, the tempo and 4/4 at the start), a "
            "pianoroll PNG and, with --audio, an OGG rendered with FluidSynth; plus loops.npz (the loops "
            "bit-packed and the VQ-VAE's code sequences) and generate.json (the settings). "
            "For the VQ-VAE pass the PRIOR's checkpoint (`loopkit train prior`): it records the VQ-VAE it was "
            "trained on, which is found as recorded or as ../vq_vae/best.pt beside the prior's folder (--vqvae "
            "names it when it has moved); or pass the VQ-VAE's checkpoint with --prior. A continuous VAE's "
            "checkpoint samples z ~ N(0, I). Re-running the same command into the same folder keeps the files "
            "already written (an interrupted run resumes); another request into it is refused."
        ),
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH",
                   help="the prior's checkpoint (VQ-VAE), or a VQ-VAE with --prior, or a continuous VAE's")  # fmt: skip
    p.add_argument("--prior", default=None, metavar="PATH", help="the prior's checkpoint when --checkpoint is a VQ-VAE")
    p.add_argument("--vqvae", default=None, metavar="PATH",
                   help="the VQ-VAE of a prior checkpoint, when it is not where the prior recorded it")  # fmt: skip
    p.add_argument("-n", type=int, default=16, help="number of loops (default 16)")
    p.add_argument("--temperature", default="1.0",
                   help="VQ-VAE: divides the prior's logits; 'argmax' (or 0) for argmax sampling (default 1)")  # fmt: skip
    p.add_argument("--form", default=None, metavar="FORM",
                   help="VQ-VAE latent manipulation: 'paper' (latent steps 0,1 copied onto 16,17, the paper's Table 4) "
                   "or a bar form of 8 letters such as 'ABAB ABCD' (each bar repeating a letter gets the latent steps "
                   "of the first bar with that letter; '?' leaves a bar free)")  # fmt: skip
    p.add_argument("--span", type=int, default=None,
                   help="with a bar form: copy only the first SPAN latent steps of each bar (default the whole bar)")  # fmt: skip
    p.add_argument("--mode", default="after",
                   help="'after' (sample, then copy: the paper's) or 'condition' (force the copied codes while "
                   "sampling, so later steps follow them); default after")  # fmt: skip
    p.add_argument("--bpm", type=float, default=120.0, help="tempo of the MIDI and audio files (default 120)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--audio", action="store_true", help="also render each loop to OGG with FluidSynth")
    p.add_argument("--no-png", action="store_true", help="do not draw pianoroll PNGs")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--batch-size", type=int, default=None, help="loops sampled at once (default 1024 on CPU)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.set_defaults(handler=run)


def _request(args, model, prior, copy, temperature, device) -> dict:
    """What makes two runs produce the same files: compared when a folder is reused."""
    from ..generate import file_digest

    def ckpt(m):
        path = Path(m.checkpoint["path"])
        return {"path": str(path.resolve()), "digest": file_digest(path), "model": m.checkpoint["model"],
                "profile": m.checkpoint["profile"], "epoch": m.checkpoint["epoch"]}  # fmt: skip

    return {
        "model": ckpt(model),
        "prior": ckpt(prior) if prior is not None else None,
        "n": args.n,
        "temperature": temperature,
        "copy": copy.to_dict() if copy is not None else None,
        "mode": args.mode if copy is not None else None,
        "seed": args.seed,
        "bpm": args.bpm,
        "batch_size": args.batch_size,
        "device": str(device),
    }


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm.auto import tqdm

    from .. import __version__
    from ..cli import UserError
    from ..generate import MODES, Generated, LatentCopy, generate, load_generator, model_name, parse_temperature
    from ..pianoroll import write_midi
    from ..train import resolve_device

    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    if not args.bpm > 0:
        raise ValueError(f"--bpm must be positive, got {args.bpm}")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {args.mode!r}")
    temperature = parse_temperature(args.temperature)
    if args.span is not None and args.form in (None, "none"):
        raise ValueError("--span chooses how much of each bar a --form copies: give a bar form with it")
    if args.audio:
        from .. import audio

        audio.resolve_soundfont(None)  # fail before any work when there is no sound font
    device = resolve_device(args.device)
    model, prior = load_generator(args.checkpoint, prior=args.prior, vqvae=args.vqvae, device=device)
    name = model_name(model)
    if name == "vq_vae":
        copy = LatentCopy.parse(args.form, model.latent_steps, args.span)
    else:
        if args.form not in (None, "none") or args.span is not None:
            raise ValueError(f"--form: latent manipulation needs the VQ-VAE's discrete latent steps; a {name} has none")
        if temperature != 1.0:
            raise ValueError(f"--temperature applies to the VQ-VAE's prior; a {name} samples z ~ N(0, I)")
        copy = None

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    request = _request(args, model, prior, copy, temperature, device)
    settings_path = out / SETTINGS_FILE
    if settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text()).get("request")
        except (json.JSONDecodeError, AttributeError):
            previous = None
        if previous != request:
            raise UserError(f"{out} holds loops generated with other settings ({SETTINGS_FILE}): use another --out")
    _write_json(settings_path, {"request": request, "complete": False, "loopkit_version": __version__})

    loops_path = out / LOOPS_FILE
    gen = None
    if loops_path.exists():
        gen = Generated.load(loops_path)
        if len(gen) != args.n:
            gen = None
    if gen is None:
        gen = generate(model, args.n, prior=prior, temperature=temperature, copy=copy, mode=args.mode, seed=args.seed,
                       batch_size=args.batch_size, device=device, progress=True)  # fmt: skip
        gen.save(loops_path)

    width = max(4, len(str(args.n - 1)))
    written = {"midi": 0, "png": 0, "ogg": 0}
    skipped_audio: list[str] = []
    started = time.perf_counter()
    if args.audio:
        from .. import audio
    if not args.no_png:
        from ..plots import write_pianoroll_png
    for i in tqdm(range(len(gen)), desc="write", unit="loop", disable=None):
        stem = f"loop_{i:0{width}d}"
        roll = gen.rolls[i]
        if not (out / f"{stem}.mid").exists():
            write_midi(roll, out / f"{stem}.mid", bpm=args.bpm)
            written["midi"] += 1
        if not args.no_png and not (out / f"{stem}.png").exists():
            title = f"{stem} ({name}" + (f", {gen.settings.get('label')}" if name == "vq_vae" else "") + ")"
            write_pianoroll_png(roll, out / f"{stem}.png", title=title)
            written["png"] += 1
        if args.audio and not (out / f"{stem}.ogg").exists():
            if not roll.any():
                skipped_audio.append(stem)
                continue
            try:
                audio.write_ogg(roll, out / f"{stem}.ogg", bpm=args.bpm)
                written["ogg"] += 1
            except audio.InaudibleAudioError as exc:
                skipped_audio.append(stem)
                tqdm.write(f"{stem}: no audio ({exc})")
    settings = {
        "request": request,
        "complete": True,
        "loopkit_version": __version__,
        "files": {"loops": LOOPS_FILE, "pattern": f"loop_{'#' * width}.mid|.png|.ogg"},
        "generation": {k: gen.settings[k] for k in ("label", "seconds", "loops_per_second") if k in gen.settings},
        "audio_skipped": skipped_audio,
        "empty_loops": int(np.count_nonzero(~gen.rolls.packed.any(axis=1))),
    }
    _write_json(settings_path, settings)
    lps = gen.settings.get("loops_per_second")
    rate = f" at {lps:,.0f} loops/s" if lps else ""
    print(
        f"generated {len(gen)} loop(s) with the {name}{rate} into {out}: {written['midi']} MIDI, {written['png']} PNG, "
        f"{written['ogg']} OGG written now ({time.perf_counter() - started:.1f} s)"
        + (f"; {len(skipped_audio)} silent loop(s) without audio" if skipped_audio else "")
    )
    return 0
