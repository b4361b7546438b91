"""Your own loop (beyond the paper, built on its representation, its VQ-VAE and prior and its continuous VAEs): a
musician's MIDI file read into one loop, encoded to the VQ-VAE's codes, varied through the codebook and
interpolated, with every result written as MIDI a DAW opens (what ``loopkit encode``, ``vary`` and
``interpolate`` and the last section of chapter 3 do).

Reading the file into one loop is ``loopkit.loopfile`` (``read_loop``), with the same code as extraction.

Varying (``vary_codes``) redraws chosen bars with the LSTM prior, conditioned on the codes before them (the bars
after them keep their codes: the prior reads left to right and cannot look ahead), and/or imposes a bar form
(``loopkit.latent.LatentCopy``; with bars redrawn the form is forced while sampling, so a copy of a redrawn bar
follows it). Interpolating is MusicVAE's experiment on this paper's continuous VAEs (``slerp`` between the
posterior means of two loops) and, for the VQ-VAE, a bar-by-bar crossfade in code space
(``loopkit.latent.crossfade_codes``).

Bars are 0-based in the functions' arguments (as everywhere in loopkit) and 1-based in file names, CSV columns
and messages (as a DAW counts them). Every file is written atomically; the same inputs and seed write the same
bytes.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from . import audio as audio_mod
from .atomic import write_bytes, write_json, write_text
from .checkpoints import BEST, file_digest, load_generator, load_model, model_name
from .config import CONTINUOUS_MODELS, PAPER_NAMES, PRIOR_NAME
from .errors import LoopkitError
from .latent import LatentCopy, bar_steps, crossfade_codes, normalise_form
from .loopfile import LoopReading, safe_stem
from .loops import bar_hamming
from .pianoroll import (
    BARS_PER_LOOP,
    BASS_COLUMNS,
    LOOP_STEPS,
    check_roll,
    drum_column,
    write_midi,
)
from .plots import write_pianoroll_png
from .sampling import decode_codes, parse_temperature
from .version import __version__

#: The format tag of ``codes.json``.
CODES_FORMAT = "loopkit-codes-1"
CODES_FILE = "codes.json"
VARIATIONS_FILE = "variations.csv"
INTERPOLATION_FILE = "interpolation.csv"


# ---------------------------------------------------------------------------------------------------------
# models


def checkpoint_record(model) -> dict:
    """Where a loaded model came from: path, SHA-256 digest (16 hex), model, profile, epoch."""
    info = getattr(model, "checkpoint", None) or {}
    path = info.get("path")
    return {"path": path, "digest": file_digest(path) if path else None, "model": info.get("model"),
            "profile": info.get("profile"), "epoch": info.get("epoch")}  # fmt: skip


def load_codebook(checkpoint: str | os.PathLike, *, prior: str | os.PathLike | None = None, need_prior: bool = False,
                  device="cpu"):  # fmt: skip
    """``(vqvae, prior or None)`` from a VQ-VAE's or a prior's checkpoint (a prior finds its VQ-VAE as
    ``loopkit.checkpoints.load_generator`` does). ``need_prior``: a VQ-VAE alone needs its prior, found as
    ``<runs>/prior/best.pt`` beside its ``<runs>/vq_vae/`` folder (and checked against this VQ-VAE's digest),
    else refused. Any other model is "a checkpoint of the wrong kind"."""
    path = Path(checkpoint)
    first = load_model(path, device)
    name = model_name(first)
    if name == "vq_vae" and prior is None:
        if not need_prior:
            return first, None
        sibling = path.parent.parent / PRIOR_NAME / BEST
        if not sibling.is_file():
            raise LoopkitError(f"{path} is the VQ-VAE; redrawing bars needs its LSTM prior and there is none at "
                               f"{sibling}: give the prior's checkpoint instead (it names its VQ-VAE), or name the "
                               "prior as well")  # fmt: skip
        prior = sibling
    if name not in ("vq_vae", "prior"):
        raise LoopkitError(f"{path} holds a {PAPER_NAMES.get(name, name)}, not the VQ-VAE or its prior: codes come "
                           "from the VQ-VAE")  # fmt: skip
    return load_generator(path, prior=prior, device=device)


def load_interpolator(checkpoint: str | os.PathLike, model: str | None = None, device="cpu"):
    """The model an interpolation runs on: a continuous VAE, or the VQ-VAE (a prior's checkpoint gives its VQ-VAE).
    ``model``, when given, must be what the checkpoint holds."""
    path = Path(checkpoint)
    loaded = load_model(path, device)
    name = model_name(loaded)
    if name == "prior":
        loaded, _ = load_generator(path, device=device)
        name = "vq_vae"
    if model is not None and name != model:
        raise LoopkitError(f"{path} holds a {PAPER_NAMES.get(name, name)}, not a {PAPER_NAMES.get(model, model)}")
    if name not in (*CONTINUOUS_MODELS, "vq_vae"):
        raise LoopkitError(f"{path} holds a {name}: interpolation runs on a VAE")
    return loaded


def best_continuous_vae(models_dir: str | os.PathLike) -> tuple[str, Path]:
    """``(name, best.pt)`` of the continuous VAE that reconstructs its own training loops best in ``models_dir``
    (``MODEL/best.pt`` and ``metrics.csv`` as chapter 2 writes them): the lowest ``train_error`` of the kept epoch,
    else (an older run without it) the lowest score the run selected its epoch by. On a small corpus the
    validation split is reconstructed near silence by every model, so its score would pick the emptiest decoder."""
    import pandas as pd
    import torch

    found = []
    for name in CONTINUOUS_MODELS:
        path = Path(models_dir) / name / "best.pt"
        if not path.is_file():
            continue
        best = torch.load(path, map_location="cpu", weights_only=True).get("best") or {}
        metrics = path.parent / "metrics.csv"
        history = pd.read_csv(metrics) if metrics.is_file() else None
        if history is not None and "train_error" in history and best.get("epoch") in set(history["epoch"]):
            found.append((0, float(history.set_index("epoch").loc[best["epoch"], "train_error"]), name, path))
        elif "value" in best:
            found.append((1, float(best["value"]), name, path))
    if not found:
        raise FileNotFoundError(f"no trained continuous VAE (best.pt) under {models_dir}")
    *_, name, path = min(found)
    return name, path


# ---------------------------------------------------------------------------------------------------------
# encoding


@dataclass
class EncodedLoop:
    """A loop read from MIDI and encoded: ``codes`` (t,), ``decoded`` (128, 93) bool (the codes decoded) and the
    reconstruction's Hamming distance to the loop read: ``hamming`` (differing cells / 11,904) and ``cells``."""

    reading: LoopReading
    codes: np.ndarray
    decoded: np.ndarray
    hamming: float
    cells: int
    checkpoint: dict = field(default_factory=dict)


def encode_roll(vqvae, roll) -> tuple[np.ndarray, np.ndarray]:
    """The VQ-VAE's codes of one loop (128, 93) and their decoding: ``(codes (t,), decoded (128, 93) bool)``."""
    import torch

    x = torch.as_tensor(check_roll(roll)[None], dtype=torch.float32)
    if x.shape[1] != LOOP_STEPS:
        raise LoopkitError(f"a loop has {LOOP_STEPS} steps, got {x.shape[1]}")
    device = next(vqvae.parameters()).device
    vqvae.eval()
    codes = vqvae.codes(x.to(device)).cpu().numpy()[0].astype(np.int64)
    return codes, decode_codes(vqvae, codes[None])[0]


def encode_loop(vqvae, reading: LoopReading) -> EncodedLoop:
    """Encode a loop read by ``read_loop`` with the VQ-VAE (posterior codes: the nearest code at each step)."""
    codes, decoded = encode_roll(vqvae, reading.roll)
    cells = int(np.count_nonzero(decoded != reading.roll))
    return EncodedLoop(reading, codes, decoded, cells / reading.roll.size, cells, checkpoint_record(vqvae))


def write_loop_files(roll, out: Path, stem: str, bpm: float, *, png: bool = True, audio: bool = False,
                     title: str | None = None) -> dict:  # fmt: skip
    """``STEM.mid`` (+ ``.png``, + ``.ogg``) for one loop at ``bpm``, each atomically; returns {kind: file name}.
    A silent loop gets no OGG (``"ogg": None``)."""
    files = {"mid": f"{stem}.mid"}
    write_midi(roll, out / files["mid"], bpm=bpm)
    if png:
        files["png"] = f"{stem}.png"
        write_pianoroll_png(roll, out / files["png"], title=title or stem)
    if audio:
        files["ogg"] = None
        if np.asarray(roll).any():
            try:
                audio_mod.write_ogg(roll, out / f"{stem}.ogg", bpm=bpm)
                files["ogg"] = f"{stem}.ogg"
            except audio_mod.InaudibleAudioError:
                pass
    return files


def write_encoding(enc: EncodedLoop, out: str | os.PathLike, *, png: bool = True, audio: bool = False) -> dict:
    """Write an encoded loop into ``out``: the loop as read (``STEM_barsA-B.npy``, ``.mid``, ``.png``, ``.ogg``), the
    decoded codes (``STEM_barsA-B_decoded.*``) and ``codes.json``; returns what ``codes.json`` holds."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r = enc.reading
    stem = f"{safe_stem(r.source)}_bars{r.start_bar + 1}-{r.start_bar + BARS_PER_LOOP}"
    buf = io.BytesIO()
    np.save(buf, r.roll)
    write_bytes(out / f"{stem}.npy", buf.getvalue())
    files = {"roll": f"{stem}.npy"}
    files["input"] = write_loop_files(r.roll, out, stem, r.bpm, png=png, audio=audio, title=f"{stem} (as read)")
    files["decoded"] = write_loop_files(enc.decoded, out, f"{stem}_decoded", r.bpm, png=png, audio=audio,
                                        title=f"{stem} (VQ-VAE codes decoded)")  # fmt: skip
    doc = {
        "format": CODES_FORMAT,
        "codes": [int(c) for c in enc.codes],
        **r.to_dict(),
        "reconstruction": {"hamming": enc.hamming, "cells": enc.cells},
        "checkpoint": enc.checkpoint,
        "files": files,
        "loopkit_version": __version__,
    }
    write_json(out / CODES_FILE, doc, indent=2, sort_keys=True)
    return doc


def read_codes(path: str | os.PathLike) -> dict:
    """A ``codes.json`` written by ``write_encoding``, checked; ``"roll"`` is added: the loop as read (128, 93)
    when its .npy is still beside it, else None."""
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no codes file at {path}")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LoopkitError(f"{path} is not a codes.json written by loopkit encode ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CODES_FORMAT:
        raise LoopkitError(f"{path} is not a codes file (format {CODES_FORMAT})")
    codes = np.asarray(doc.get("codes"), dtype=np.int64)
    if codes.ndim != 1 or len(codes) == 0:
        raise LoopkitError(f"{path}: its codes are not a sequence of code indices")
    doc["codes"] = codes
    roll_file = (doc.get("files") or {}).get("roll")
    roll_path = path.parent / roll_file if roll_file else None
    doc["roll"] = check_roll(np.load(roll_path)) if roll_path is not None and roll_path.is_file() else None
    return doc


def check_codes_model(doc: dict, vqvae, where: str = "the codes") -> None:
    """Raise unless codes read by ``read_codes`` were encoded by this VQ-VAE (same checkpoint digest, same t)."""
    recorded = (doc.get("checkpoint") or {}).get("digest")
    own = (getattr(vqvae, "checkpoint", None) or {}).get("path")
    if recorded and own and file_digest(own) != recorded:
        raise LoopkitError(f"{where} come from another VQ-VAE (digest {recorded}) than {own} ({file_digest(own)}): "
                           "encode the MIDI file again with this one")  # fmt: skip
    if len(doc["codes"]) != vqvae.latent_steps:
        raise LoopkitError(f"{where} hold {len(doc['codes'])} codes; this VQ-VAE has {vqvae.latent_steps} latent steps")


# ---------------------------------------------------------------------------------------------------------
# varying


def parse_bars(text: str) -> list[int]:
    """Bars as a DAW counts them (1..8) -> 0-based bars: ``"5-8"`` -> [4, 5, 6, 7], ``"2,4"`` -> [1, 3]."""
    bars: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise LoopkitError(f"bars are numbers 1-{BARS_PER_LOOP} such as '5-8' or '2,4', got {text!r}") from None
        if not (1 <= a <= b <= BARS_PER_LOOP):
            raise LoopkitError(f"bars must lie in 1-{BARS_PER_LOOP} (a loop has {BARS_PER_LOOP} bars), got {text!r}")
        bars.update(range(a - 1, b))
    if not bars:
        raise LoopkitError(f"no bar named in {text!r}")
    return sorted(bars)


def bars_label(bars: Sequence[int]) -> str:
    """0-based bars -> the 1-based label used in file names: [4, 5, 6, 7] -> ``"5-8"``, [1, 3] -> ``"2,4"``."""
    bars = sorted(int(b) for b in bars)
    runs, start = [], bars[0]
    for prev, cur in zip(bars, bars[1:] + [None]):
        if cur != prev + 1:
            runs.append(f"{start + 1}" if start == prev else f"{start + 1}-{prev + 1}")
            start = cur
    return ",".join(runs)


def vary_codes(
    prior,
    codes,
    *,
    bars: Sequence[int] | None = None,
    form: str | None = None,
    n: int = 4,
    temperature=1.0,
    seed: int | None = 0,
) -> np.ndarray:
    """Variations of one code sequence (t,): (n, t).

    ``bars`` (0-based) are redrawn by the prior, conditioned on the codes before them; every other bar keeps its
    codes. ``form`` (a bar form such as ``"AABA AABA"``) makes every bar whose letter came before a copy of the first
    bar with that letter: alone it is applied to the given codes (one variation, ``n`` must be 1); with ``bars`` it
    is forced while the bars are redrawn, so a copy of a redrawn bar is the redrawn bar. The same seed gives the
    same variations.
    """
    from .latent import resample_steps

    c = np.asarray(codes, dtype=np.int64)
    if c.ndim != 1:
        raise LoopkitError(f"vary one code sequence (t,), got shape {c.shape}")
    t = len(c)
    plan = LatentCopy.parse(form, t) if form else None
    n = int(n)
    if n < 1:
        raise LoopkitError(f"the number of variations must be at least 1, got {n}")
    if not bars:
        if plan is None:
            raise LoopkitError("name the bars to redraw, a bar form, or both")
        if n != 1:
            raise LoopkitError("a bar form alone gives one variation (the form applied to the codes): name bars to "
                               "redraw under it for more")  # fmt: skip
        return plan.apply(c[None])
    steps = [s for b in bars for s in bar_steps(b, t)]
    return resample_steps(prior, np.repeat(c[None], n, axis=0), steps, parse_temperature(temperature), seed=seed,
                          copy=plan)  # fmt: skip


def form_label(form: str) -> str:
    """A bar form as file names show it: ``"aaba aaba"`` -> ``"AABA-AABA"`` (``?`` becomes ``x``)."""
    text = normalise_form(form).replace("?", "x")
    return f"{text[:4]}-{text[4:]}"


def loop_properties(loops) -> dict[str, np.ndarray]:
    """The paper's loop properties of each loop (b, 128, 93): FND and FNB (0/1: kick and crash / a bass note on the
    first step) and HD (bar 1 vs bar 5, per-bar normalised, as ``loopkit.metrics.ham_dist``)."""
    x = np.asarray(loops, dtype=bool)
    if x.ndim == 2:
        x = x[None]
    first = x[:, 0]
    return {
        "fnd": (first[:, drum_column("kick")] & first[:, drum_column("crash")]).astype(int),
        "fnb": first[:, BASS_COLUMNS].any(axis=1).astype(int),
        "hd": np.atleast_1d(bar_hamming(x)),
    }


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-cell Hamming distance of each loop of ``a`` (b, 128, 93) to one loop ``b`` (128, 93)."""
    return np.count_nonzero(a != b[None], axis=(1, 2)) / b.size


def vary_to_folder(
    vqvae,
    prior,
    codes,
    out: str | os.PathLike,
    *,
    bars: Sequence[int] | None = None,
    form: str | None = None,
    n: int = 4,
    temperature=1.0,
    seed: int = 0,
    bpm: float,
    name: str = "loop",
    input_roll=None,
    png: bool = True,
    audio: bool = False,
    progress: bool = True,
    silent: list | None = None,
) -> list[dict]:
    """Vary ``codes`` (``vary_codes``) and write every variation, and the input's codes decoded, into ``out``:
    ``NAME_decoded.mid`` and ``NAME_redraw5-8_01.mid`` ... (or ``NAME_form-AABA-AABA...``) with PNG and OGG beside them,
    and ``variations.csv``: one row a loop (the input's decoded codes first) with its codes, its Hamming distance to
    the loop as read (``input_roll``; empty without it) and to the input's decoded codes, the codes changed, and FND,
    FNB, HD. Returns the rows; ``silent``, if a list, gets the MIDI files of loops with nothing to hear (no note, or
    a part too quiet: no OGG)."""
    from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

    temperature = parse_temperature(temperature)
    base = np.asarray(codes, dtype=np.int64)
    varied = vary_codes(prior, base, bars=bars, form=form, n=n, temperature=temperature, seed=seed)
    rolls = decode_codes(vqvae, np.concatenate([base[None], varied]))
    decoded = rolls[0]
    what = []
    if bars:
        what.append(f"redraw{bars_label(bars).replace(',', '+')}")
    form_text = form_label(form) if form else ""
    if form:
        what.append(f"form-{form_text}")
    label = "_".join(what)
    width = max(2, len(str(len(varied))))
    stems = [f"{name}_decoded"] + [f"{name}_{label}_{i + 1:0{width}d}" for i in range(len(varied))]
    props = loop_properties(rolls)
    to_input = _hamming(rolls, check_roll(input_roll)) if input_roll is not None else None
    to_decoded = _hamming(rolls, decoded)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    all_codes = np.concatenate([base[None], varied])
    for i in tqdm(range(len(rolls)), desc="write", unit="loop", disable=None if progress else True):
        title = "the input's codes decoded" if i == 0 else f"variation {i}: {label.replace('_', ', ')}"
        files = write_loop_files(rolls[i], out, stems[i], bpm, png=png, audio=audio, title=f"{stems[i]} ({title})")
        if silent is not None and audio and files["ogg"] is None:
            silent.append(files["mid"])
        rows.append({
            "file": files["mid"],
            "variation": i,
            "bars_redrawn": "" if i == 0 or not bars else bars_label(bars),
            "form": "" if i == 0 else form_text,
            "temperature": "" if i == 0 or not bars else f"{temperature:g}",
            "seed": "" if i == 0 or not bars else seed,
            "codes": " ".join(str(int(c)) for c in all_codes[i]),
            "codes_changed": int(np.count_nonzero(all_codes[i] != base)),
            "hamming_to_input": "" if to_input is None else f"{to_input[i]:.6g}",
            "hamming_to_decoded": f"{to_decoded[i]:.6g}",
            "fnd": int(props["fnd"][i]),
            "fnb": int(props["fnb"][i]),
            "hd": f"{props['hd'][i]:.6g}",
        })  # fmt: skip
    write_text(out / VARIATIONS_FILE, _csv(rows))
    return rows


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------
# interpolating


def slerp(a, b, alphas) -> np.ndarray:
    """Spherical interpolation between two latent vectors (d,) at ``alphas`` in [0, 1]: (k, d).

    ``slerp(a, b, s) = sin((1 - s) w) / sin(w) a + sin(s w) / sin(w) b`` with ``w`` the angle between ``a`` and
    ``b`` (MusicVAE's interpolation); linear where the two are (nearly) parallel. ``s = 0`` gives ``a`` and
    ``s = 1`` gives ``b`` exactly.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = np.asarray(alphas, dtype=np.float64)[:, None]
    if a.ndim != 1 or a.shape != b.shape:
        raise LoopkitError(f"slerp joins two vectors (d,) of one size, got {a.shape} and {b.shape}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(a @ b / (na * nb), -1.0, 1.0) if na > 0 and nb > 0 else 1.0
    w = float(np.arccos(cos))
    if np.sin(w) < 1e-6:
        out = (1 - s) * a + s * b
    else:
        out = (np.sin((1 - s) * w) * a + np.sin(s * w) * b) / np.sin(w)
    out[s[:, 0] == 0] = a
    out[s[:, 0] == 1] = b
    return out


@dataclass
class Interpolation:
    """K loops from A to B: ``rolls`` (k, 128, 93) bool, ``alphas`` (k,) the share of B, ``model`` its name and, for
    the VQ-VAE, ``codes`` (k, t) and ``bars_from_b`` (k,); for a continuous VAE ``z`` (k, d)."""

    model: str
    rolls: np.ndarray
    alphas: np.ndarray
    z: np.ndarray | None = None
    codes: np.ndarray | None = None
    bars_from_b: np.ndarray | None = None


def posterior_mean(model, roll) -> np.ndarray:
    """The continuous VAE's posterior mean mu (d,) of one loop (128, 93)."""
    import torch

    x = torch.as_tensor(check_roll(roll)[None], dtype=torch.float32, device=next(model.parameters()).device)
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(x)
    return mu[0].double().cpu().numpy()


def decode_z(model, z) -> np.ndarray:
    """Loops (k, 128, 93) bool decoded from latent vectors z (k, d) by a continuous VAE, thresholded at 0.5."""
    import torch

    from .models.blocks import threshold

    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        return threshold(model.decode(torch.as_tensor(np.asarray(z), dtype=torch.float32, device=device))).cpu().numpy()


def interpolate(model, roll_a, roll_b, steps: int = 9) -> Interpolation:
    """Interpolate from loop A to loop B (each (128, 93)) in ``steps`` loops (see the module docstring): slerp
    between the posterior means for a continuous VAE, a bar-by-bar code crossfade for the VQ-VAE."""
    k = int(steps)
    if k < 2:
        raise LoopkitError(f"an interpolation has at least 2 steps (its two ends), got {k}")
    name = model_name(model)
    if name == "vq_vae":
        (ca, _), (cb, _) = encode_roll(model, roll_a), encode_roll(model, roll_b)
        codes, from_b = crossfade_codes(ca, cb, k)
        return Interpolation(name, decode_codes(model, codes), from_b / BARS_PER_LOOP, codes=codes, bars_from_b=from_b)
    if name not in CONTINUOUS_MODELS:
        raise LoopkitError(f"interpolation runs on a VAE, not on a {name}")
    alphas = np.linspace(0.0, 1.0, k)
    z = slerp(posterior_mean(model, roll_a), posterior_mean(model, roll_b), alphas)
    return Interpolation(name, decode_z(model, z), alphas, z=z)


def interpolate_to_folder(inter: Interpolation, out: str | os.PathLike, *, name_a: str, name_b: str, bpm: float,
                          roll_a=None, roll_b=None, png: bool = True, audio: bool = False,
                          progress: bool = True, silent: list | None = None) -> list[dict]:  # fmt: skip
    """Write an interpolation into ``out``: ``A_to_B_MODEL_01of09.mid`` ... (+ PNG, OGG) at ``bpm`` and
    ``interpolation.csv``: each step's share of B (for the VQ-VAE, bars from B), its Hamming distance to the loops
    as read (when given) and its FND, FNB, HD. Returns the rows; ``silent`` as in ``vary_to_folder``."""
    from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    k = len(inter.rolls)
    width = len(str(k))
    props = loop_properties(inter.rolls)
    to_a = _hamming(inter.rolls, check_roll(roll_a)) if roll_a is not None else None
    to_b = _hamming(inter.rolls, check_roll(roll_b)) if roll_b is not None else None
    rows = []
    for i in tqdm(range(k), desc="write", unit="loop", disable=None if progress else True):
        stem = f"{name_a}_to_{name_b}_{inter.model}_{i + 1:0{width}d}of{k}"
        what = (f"{inter.bars_from_b[i]} of {BARS_PER_LOOP} bars from B" if inter.bars_from_b is not None
                else f"{inter.alphas[i]:.2f} of the way to B")  # fmt: skip
        files = write_loop_files(inter.rolls[i], out, stem, bpm, png=png, audio=audio, title=f"{stem} ({what})")
        if silent is not None and audio and files["ogg"] is None:
            silent.append(files["mid"])
        row = {"file": files["mid"], "step": i + 1, "share_of_b": f"{inter.alphas[i]:.4g}"}
        if inter.bars_from_b is not None:
            row["bars_from_b"] = int(inter.bars_from_b[i])
            row["codes"] = " ".join(str(int(c)) for c in inter.codes[i])
        row.update({
            "hamming_to_a": "" if to_a is None else f"{to_a[i]:.6g}",
            "hamming_to_b": "" if to_b is None else f"{to_b[i]:.6g}",
            "fnd": int(props["fnd"][i]), "fnb": int(props["fnb"][i]), "hd": f"{props['hd'][i]:.6g}",
        })  # fmt: skip
        rows.append(row)
    write_text(out / INTERPOLATION_FILE, _csv(rows))
    return rows
