"""``loopkit generate``: sample loops from a trained model into MIDI files, pianoroll PNGs and (optionally) OGG
audio."""

from __future__ import annotations

import argparse
import sys

from loopkit.commands import UserError
from loopkit.data.pianoroll import DEFAULT_BPM, check_bpm  # light (numpy); the default lives there


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
                   help="'after' (sample, then copy) or 'condition' (force the copied codes while "
                   "sampling, so later steps follow them); default after")  # fmt: skip
    p.add_argument("--bpm", type=float, default=DEFAULT_BPM, help=f"tempo of the MIDI and audio files (default {DEFAULT_BPM:g})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--audio", action="store_true", help="also render each loop to OGG with FluidSynth")
    p.add_argument("--no-png", action="store_true", help="do not draw pianoroll PNGs")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--batch-size", type=int, default=None, help="loops sampled at once (default 1024 on CPU)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from loopkit.outputs.sample_folder import generate_to_folder

    if args.n < 1:
        raise UserError(f"-n must be at least 1, got {args.n}")
    check_bpm(args.bpm)  # before generating: a tempo a MIDI file cannot hold is refused in one line
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.span is not None and args.form in (None, "none"):
        raise UserError("--span chooses how much of each bar a --form copies: give a bar form with it")
    report: dict = {}
    settings = generate_to_folder(
        args.checkpoint, args.out, args.n, temperature=args.temperature, form=args.form, span=args.span,
        mode=args.mode, bpm=args.bpm, seed=args.seed, audio=args.audio, png=not args.no_png, device=args.device,
        batch_size=args.batch_size, prior=args.prior, vqvae=args.vqvae, report=report,
    )  # fmt: skip
    for stem, why in report["no_audio"].items():
        print(f"{stem}: no audio ({why})", file=sys.stderr)
    written, lps = report["written"], report["loops_per_second"]
    rate = f" at {lps:,.0f} loops/s" if lps else ""
    skipped = len(settings["audio_skipped"])
    print(
        f"generated {report['loops']} loop(s) with the {report['model']}{rate} into {args.out}: "
        f"{written['midi']} MIDI, {written['png']} PNG, {written['ogg']} OGG written now ({report['seconds']:.1f} s)"
        + (f"; {skipped} silent loop(s) without audio" if skipped else "")
    )
    return 0
