"""``loopkit train``: train one of the paper's models, or the VQ-VAE's prior, under a named profile."""

from __future__ import annotations

from loopkit.commands import UserError

SET_HELP = ("a training setting over the profile's, KEY=VALUE with KEY a field of loopkit.config.TrainConfig "
            "(e.g. amp=bf16, batch_size=64, validate_every=10, until_epoch=2) or MODEL.FIELD for one model; "
            "repeat for more; recorded in the checkpoint")


def register(subparsers) -> None:
    from loopkit.config import ALL_NAMES, PROFILES

    p = subparsers.add_parser(
        "train",
        help="train a model (AR/NonAR LSTM-VAE, CNN-VAE, VQ-VAE) or the VQ-VAE's LSTM prior",
        description="Train one model on the train split of a loop data set, validating on its valid split every "
        "epoch; writes OUT/best.pt, OUT/last.pt and OUT/metrics.csv. Run the same command again to resume; a run "
        "stopped with --set until_epoch=N continues when run again with a larger N or without it.",
    )
    p.add_argument("model", choices=ALL_NAMES, help="which model")
    p.add_argument("--data", required=True, help="loop data set directory (from `loopkit extract`)")
    p.add_argument("--profile", default="cpu", choices=tuple(PROFILES), help="named settings (default: cpu)")
    p.add_argument("--out", required=True, help="run directory (created; resumed when it holds this run)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: cuda when present")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None, help="override the profile's number of epochs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings", help=SET_HELP)
    p.add_argument("--vqvae", default=None, help="prior only: the VQ-VAE checkpoint whose codes it learns")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def settings_from(args) -> dict:
    """The ``--set`` flags, parsed and checked (``loopkit.config.parse_settings``), as a one-line UserError."""
    from loopkit.config import parse_settings
    from loopkit.errors import LoopkitError

    try:
        return parse_settings(args.settings)
    except LoopkitError as exc:
        raise UserError(f"--set: {exc}") from None


def precision_note(name: str, settings: dict, device) -> str | None:
    """A line for a run that asks for autocast where it does not apply (a CPU, or a model not safe under it)."""
    from loopkit.models.checkpoints import resolve_device
    from loopkit.models.registry import MODEL_CLASSES

    amp = settings.get("amp", "off")
    if amp == "off":
        return None
    if resolve_device(None if device == "auto" else device).type != "cuda":
        return (f"amp={amp}: {amp} autocast applies on CUDA only; this CPU run trains in float32 (the setting is "
                "recorded)")
    if not getattr(MODEL_CLASSES[name], "amp_safe", False):
        return f"amp={amp}: the {name} is not safe under autocast and trains in float32 (the setting is recorded)"
    return None


def run(args) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {args.epochs}")
    from loopkit.training import train as trainer
    from loopkit.models.checkpoints import load_checkpoint, run_label
    from loopkit.config import settings_for

    settings = settings_for(args.model, settings_from(args))
    if settings:
        print(f"{args.model}: settings over profile {args.profile}: "
              + ", ".join(f"{k}={v}" for k, v in settings.items()))
    note = precision_note(args.model, settings, args.device)
    if note:
        print(note)
    common = dict(device=args.device, seed=args.seed, progress=not args.quiet, epochs=args.epochs,
                  train_settings=settings)
    if args.model == "prior":
        if not args.vqvae:
            raise UserError("training the prior needs --vqvae PATH (a trained VQ-VAE's best.pt)")
        best = trainer.train_prior(args.vqvae, args.data, args.profile, args.out, **common)
    else:
        if args.vqvae:
            raise UserError("--vqvae is only for `loopkit train prior`")
        best = trainer.train(args.model, args.data, args.profile, args.out, **common)
    ckpt = load_checkpoint(best)
    info = ckpt["best"]
    line = f"{args.model}: best epoch {info['epoch']} ({info['metric']} {info['value']:.4g}"
    if args.model == "prior":
        from loopkit.paper import PRIOR_ACCURACY

        row = next(r for r in ckpt["history"] if r["epoch"] == info["epoch"])
        line += f", teacher-forced accuracy {row['val_accuracy']:.2%}; the paper: {PRIOR_ACCURACY:.2%} on LMD"
    label = run_label(ckpt)
    if label != "complete":
        line += f"; {label}: the same command with a larger until_epoch, or without it, continues the run"
    print(f"{line}) -> {best}")
    return 0
