"""Generated loops written into a folder, for listening and for the listening test (Listening Test): per loop a
standard MIDI file, a pianoroll PNG and (optionally) an OGG, beside ``loops.npz`` and ``generate.json``. What
``loopkit generate`` and chapter 4 of the book write."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from loopkit.outputs import audio as audio_mod
from loopkit.atomic import write_json
from loopkit.models.checkpoints import file_digest, load_generator, model_name, resolve_device
from loopkit.config import check_seed
from loopkit.errors import LoopkitError, differences
from loopkit.generation.generate import Generated, check_count, generate
from loopkit.generation.latent import SamplingRequest
from loopkit.data.pianoroll import DEFAULT_BPM, write_midi
from loopkit.outputs.plots import write_pianoroll_png
from loopkit.runlock import hold_folder
from loopkit.generation.sampling import Temperature
from loopkit.version import __version__

SETTINGS_FILE = "generate.json"
LOOPS_FILE = "loops.npz"


def _request(model, prior, n, sampling: SamplingRequest, seed, bpm, batch_size, device) -> dict:
    """What makes two runs produce the same files: compared when a folder is reused."""

    def ckpt(m):
        path = Path(m.checkpoint["path"])
        return {"path": str(path.resolve()), "digest": file_digest(path), "model": m.checkpoint["model"],
                "profile": m.checkpoint["profile"], "epoch": m.checkpoint["epoch"]}  # fmt: skip

    return {
        "model": ckpt(model),
        "prior": ckpt(prior) if prior is not None else None,
        "n": n,
        "temperature": sampling.temperature,
        "copy": sampling.copy.to_dict() if sampling.copy is not None else None,
        "mode": sampling.mode if sampling.copy is not None else None,
        "seed": seed,
        "bpm": bpm,
        "batch_size": batch_size,
        "device": str(device),
    }


def generate_to_folder(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    n: int = 16,
    *,
    temperature: Temperature = 1.0,
    form: str | None = None,
    span: int | None = None,
    mode: str = "after",
    bpm: float = DEFAULT_BPM,
    seed: int = 0,
    audio: bool = False,
    png: bool = True,
    device=None,
    batch_size: int | None = None,
    prior: str | os.PathLike | None = None,
    vqvae: str | os.PathLike | None = None,
    progress: bool = True,
    report: dict | None = None,
) -> dict:
    """Sample ``n`` loops from a checkpoint into ``out``: ``loop_NNNN.mid`` (+ ``.png``, + ``.ogg`` with ``audio``),
    ``loops.npz`` (``Generated``: packed loops and codes) and ``generate.json`` (the settings, written last with
    ``"complete": true``). Returns the settings.

    ``checkpoint`` is the prior's (its VQ-VAE is found as recorded; ``vqvae`` overrides), a VQ-VAE's with
    ``prior``, or a continuous VAE's (``loopkit.models.checkpoints.load_generator``). ``form`` ("paper" or a bar form,
    with ``span``) and ``mode`` manipulate the VQ-VAE's latent steps (``loopkit.generation.latent.LatentCopy``).
    Re-running with the same request into the same folder keeps the files already written (an interrupted run resumes);
    another request into it raises ``LoopkitError``. ``report``, if a dict, is filled with what this call did:
    the model, the files written now by kind, the seconds it took, and why a loop has no audio.
    """
    n = check_count(n)
    seed = check_seed(seed)
    if not bpm > 0:
        raise LoopkitError(f"the tempo must be positive, got {bpm} bpm")
    if batch_size is not None and batch_size < 1:
        raise LoopkitError(f"batch_size must be at least 1, got {batch_size}")
    if audio:
        audio_mod.resolve_soundfont(None)  # fail before any work when there is no sound font
    device = resolve_device(device)
    model, prior_model = load_generator(checkpoint, prior=prior, vqvae=vqvae, device=device)
    name = model_name(model)
    # the one place this request is validated: everything below reads its fields
    sampling = SamplingRequest.of(temperature, form, mode, model=name, latent_steps=getattr(model, "latent_steps", 32),
                                  span=span)  # fmt: skip

    out = Path(out)
    with hold_folder(out, f"generating {n:,} loop(s) from {checkpoint}"):  # one writer of a folder at a time
        return _generate_into(out, model, prior_model, name, n, sampling, seed, bpm, batch_size, device, audio, png,
                              progress, report)  # fmt: skip


def _generate_into(out: Path, model, prior_model, name: str, n: int, sampling: SamplingRequest, seed: int,
                   bpm: float, batch_size, device, audio: bool, png: bool, progress: bool, report) -> dict:  # fmt: skip
    from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

    request = _request(model, prior_model, n, sampling, seed, bpm, batch_size, device)
    settings_path = out / SETTINGS_FILE
    if settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text()).get("request")
        except (json.JSONDecodeError, AttributeError):
            previous = None
        # a checkpoint is its digest: the same weights moved to another path generate the same loops
        differs = differences(previous, request, ignore=("model.path", "prior.path")) \
            if isinstance(previous, dict) else ["(unreadable)"]
        if differs:
            raise LoopkitError(
                f"{out} holds loops generated with other settings ({SETTINGS_FILE}: {'; '.join(differs[:3])}): "
                "choose another folder"
            )
    started_settings = {"request": request, "complete": False, "loopkit_version": __version__}
    write_json(settings_path, started_settings, indent=2, sort_keys=True)

    loops_path = out / LOOPS_FILE
    gen = None
    if loops_path.exists():
        gen = Generated.load(loops_path)
        if len(gen) != n:
            gen = None
    if gen is None:
        gen = generate(model, n, prior=prior_model, request=sampling, seed=seed, batch_size=batch_size, device=device,
                       progress=progress)  # fmt: skip
        gen.save(loops_path)

    width = max(4, len(str(n - 1)))
    written = {"midi": 0, "png": 0, "ogg": 0}
    skipped_audio: list[str] = []
    no_audio: dict[str, str] = {}
    started = time.perf_counter()
    for i in tqdm(range(len(gen)), desc="write", unit="loop", disable=None if progress else True):
        stem = f"loop_{i:0{width}d}"
        roll = gen.rolls[i]
        if not (out / f"{stem}.mid").exists():
            write_midi(roll, out / f"{stem}.mid", bpm=bpm)
            written["midi"] += 1
        if png and not (out / f"{stem}.png").exists():
            title = f"{stem} ({name}" + (f", {gen.settings.get('label')}" if name == "vq_vae" else "") + ")"
            write_pianoroll_png(roll, out / f"{stem}.png", title=title)
            written["png"] += 1
        if audio and not (out / f"{stem}.ogg").exists():
            if not roll.any():
                skipped_audio.append(stem)
                continue
            try:
                audio_mod.write_ogg(roll, out / f"{stem}.ogg", bpm=bpm)
                written["ogg"] += 1
            except audio_mod.InaudibleAudioError as exc:
                skipped_audio.append(stem)
                no_audio[stem] = str(exc)
    settings = {
        "request": request,
        "complete": True,
        "loopkit_version": __version__,
        "files": {"loops": LOOPS_FILE, "pattern": f"loop_{'#' * width}.mid|.png|.ogg"},
        "generation": {k: gen.settings[k] for k in ("label", "seconds", "loops_per_second") if k in gen.settings},
        "audio_skipped": skipped_audio,
        "empty_loops": int(np.count_nonzero(~gen.rolls.packed.any(axis=1))),
    }
    write_json(settings_path, settings, indent=2, sort_keys=True)
    if report is not None:
        report.update(model=name, loops=len(gen), written=written, seconds=time.perf_counter() - started,
                      no_audio=no_audio, loops_per_second=gen.settings.get("loops_per_second"))  # fmt: skip
    return settings
