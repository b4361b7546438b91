"""From one loop to another (beyond the paper): MusicVAE's interpolation on this paper's continuous VAEs (slerp
between the posterior means of two loops) and, for the VQ-VAE, a bar-by-bar crossfade in code space
(``loopkit.generation.latent.crossfade_codes``); what ``loopkit interpolate`` and chapter 3's section 8.4 do.

An interpolation starts at the model's reconstruction of A and ends at its reconstruction of B, which need not
resemble them: a model that decodes a loop to near silence gives an interpolation between two near-silences.
``Interpolation.ends`` measures both ends against A and B as ``loopkit encode`` measures an encoding (against the
empty loop, ``loopkit.ownloop.resemblance``), and ``rank_models`` orders models by how much of A and B together their
reconstructions keep. ``choose_model`` takes the best that reconstructs both ends (each keeps at least half of
each part's notes, ``Resemblance.keeps_both_parts``): a model that decodes every loop without its bass is never
the default; when none does, the VQ-VAE's code crossfade is taken, and said. ``identical_neighbours`` finds
steps that repeat the loop before them (a model that cannot tell A from B gives one loop k times).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loopkit.atomic import write_text
from loopkit.models.checkpoints import BEST, load_generator, load_model, model_name
from loopkit.config import CONTINUOUS_MODELS, PAPER_NAMES
from loopkit.runlock import hold_folder
from loopkit.errors import LoopkitError
from loopkit.generation.latent import crossfade_codes
from loopkit.ownloop.encode import (
    INTERPOLATION_FILE,
    csv_text,
    encode_roll,
    hamming_to,
    loop_properties,
    write_loop_files,
)
from loopkit.data.pianoroll import BARS_PER_LOOP, check_roll
from loopkit.ownloop.resemblance import Resemblance, resemblance
from loopkit.generation.sampling import decode_codes

#: The models an interpolation runs on, in the order ``find_models`` lists them.
INTERPOLATORS = (*CONTINUOUS_MODELS, "vq_vae")


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
    if name not in INTERPOLATORS:
        raise LoopkitError(f"{path} holds a {name}: interpolation runs on a VAE")
    return loaded


def find_models(runs: str | os.PathLike) -> dict[str, Path]:
    """``{model name: best.pt}`` of every model an interpolation runs on (``INTERPOLATORS``) trained under ``runs``
    (``runs/MODEL/best.pt``, the layout of ``loopkit train MODEL --out runs/MODEL``)."""
    found = {name: Path(runs) / name / BEST for name in INTERPOLATORS}
    return {name: path for name, path in found.items() if path.is_file()}


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
    the VQ-VAE, ``codes`` (k, t) and ``bars_from_b`` (k,); for a continuous VAE ``z`` (k, d). ``ends``: how much of
    A the first loop keeps and of B the last (``resemblance``), when ``interpolate`` was given A and B as read."""

    model: str
    rolls: np.ndarray
    alphas: np.ndarray
    z: np.ndarray | None = None
    codes: np.ndarray | None = None
    bars_from_b: np.ndarray | None = None
    ends: tuple[Resemblance, Resemblance] | None = None

    def unanchored(self) -> list[str]:
        """The ends ("A", "B") that are (nearly) no closer to their loop than the empty loop is
        (``Resemblance.near_silence``)."""
        if self.ends is None:
            return []
        return [end for end, r in zip("AB", self.ends) if r.near_silence]


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

    from loopkit.models.blocks import threshold

    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        return threshold(model.decode(torch.as_tensor(np.asarray(z), dtype=torch.float32, device=device))).cpu().numpy()


#: The most loops one interpolation makes (each decoded at once and written as a MIDI file, a PNG, an OGG).
MAX_STEPS = 1000


def check_steps(steps) -> int:
    """``steps`` as an interpolation's number of loops, its two ends included: 2..``MAX_STEPS``."""
    if isinstance(steps, float) and not steps.is_integer() or not 2 <= steps <= MAX_STEPS:
        raise LoopkitError(f"an interpolation has 2..{MAX_STEPS:,} steps (its two ends included), got {steps}")
    return int(steps)


def interpolate(model, roll_a, roll_b, steps: int = 9) -> Interpolation:
    """Interpolate from loop A to loop B (each (128, 93)) in ``steps`` loops (see the module docstring): slerp
    between the posterior means for a continuous VAE, a bar-by-bar code crossfade for the VQ-VAE; ``ends`` measured
    against A and B."""
    k = check_steps(steps)
    name = model_name(model)
    if name == "vq_vae":
        (ca, _), (cb, _) = encode_roll(model, roll_a), encode_roll(model, roll_b)
        codes, from_b = crossfade_codes(ca, cb, k)
        inter = Interpolation(name, decode_codes(model, codes), from_b / BARS_PER_LOOP, codes=codes,
                              bars_from_b=from_b)  # fmt: skip
    elif name in CONTINUOUS_MODELS:
        alphas = np.linspace(0.0, 1.0, k)
        z = slerp(posterior_mean(model, roll_a), posterior_mean(model, roll_b), alphas)
        inter = Interpolation(name, decode_z(model, z), alphas, z=z)
    else:
        raise LoopkitError(f"interpolation runs on a VAE, not on a {name}")
    inter.ends = (resemblance(roll_a, inter.rolls[0]), resemblance(roll_b, inter.rolls[-1]))
    return inter


def kept_share(ends: tuple[Resemblance, Resemblance]) -> float | None:
    """The share of the empty loops' error that both reconstructions remove together:
    ``(E_a + E_b - D_a - D_b) / (E_a + E_b)`` (``loopkit.ownloop.resemblance``); None when A and B are both empty."""
    e = sum(r.empty_cells for r in ends)
    return (e - sum(r.cells for r in ends)) / e if e else None


def rank_models(models: dict, roll_a, roll_b) -> list[tuple[str, tuple[Resemblance, Resemblance]]]:
    """``[(name, (A's end, B's end)), ...]`` of ``{name: loaded model}``, best first: by ``kept_share`` of the
    ends of a 2-step interpolation (each model's reconstructions of A and B), ties in the order given."""
    scored = []
    for i, (name, model) in enumerate(models.items()):
        ends = interpolate(model, roll_a, roll_b, 2).ends
        share = kept_share(ends)
        scored.append((-(share if share is not None else -np.inf), i, name, ends))
    return [(name, ends) for *_, name, ends in sorted(scored, key=lambda s: s[:2])]


def choose_model(ranking: list[tuple[str, tuple[Resemblance, Resemblance]]]) -> tuple[str, str]:
    """``(model name, why)`` from ``rank_models``'s ranking: the best that reconstructs both ends
    (``Resemblance.keeps_both_parts``), else the VQ-VAE (its code crossfade), else the best of the ranking."""
    for name, ends in ranking:
        if all(r.keeps_both_parts() for r in ends):
            return name, "the one whose reconstructions keep most of A and B, among those that keep both ends"
    names = [name for name, _ in ranking]
    what = "no model reconstructs both A and B (each must keep half of each part's notes)"
    if "vq_vae" in names:
        return "vq_vae", f"{what}: the VQ-VAE's bar-by-bar code crossfade, which at least plays A's and B's codes"
    return names[0], f"{what} and there is no VQ-VAE: the one whose reconstructions keep most of A and B"


def identical_neighbours(rolls) -> list[int]:
    """The 0-based steps whose loop equals the loop before it (rolls (k, 128, 93))."""
    x = np.asarray(rolls, dtype=bool)
    return [i for i in range(1, len(x)) if np.array_equal(x[i], x[i - 1])]


def interpolate_to_folder(inter: Interpolation, out: str | os.PathLike, *, name_a: str, name_b: str, bpm: float,
                          roll_a=None, roll_b=None, png: bool = True, audio: bool = False, seamless: bool = False,
                          progress: bool = True, silent: list | None = None) -> list[dict]:  # fmt: skip
    """Write an interpolation into ``out``: ``A_to_B_MODEL_01of09.mid`` ... (+ PNG, OGG) at ``bpm`` and
    ``interpolation.csv``: each step's share of B (for the VQ-VAE, bars from B), its Hamming distance to the loops
    as read (when given), whether it equals the loop before it (``same_as_previous``, 0/1) and its FND, FNB, HD.
    Returns the rows; ``silent`` as in ``vary_to_folder``."""
    with hold_folder(out, f"interpolating {name_a} to {name_b}"):  # one writer of a folder at a time
        from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        k = len(inter.rolls)
        width = len(str(k))
        props = loop_properties(inter.rolls)
        to_a = hamming_to(inter.rolls, check_roll(roll_a)) if roll_a is not None else None
        to_b = hamming_to(inter.rolls, check_roll(roll_b)) if roll_b is not None else None
        rows = []
        same = set(identical_neighbours(inter.rolls))
        for i in tqdm(range(k), desc="write", unit="loop", disable=None if progress else True):
            stem = f"{name_a}_to_{name_b}_{inter.model}_{i + 1:0{width}d}of{k}"
            what = (f"{inter.bars_from_b[i]} of {BARS_PER_LOOP} bars from B" if inter.bars_from_b is not None
                    else f"{inter.alphas[i]:.2f} of the way to B")  # fmt: skip
            files = write_loop_files(inter.rolls[i], out, stem, bpm, png=png, audio=audio, title=f"{stem} ({what})",
                                     seamless=seamless)  # fmt: skip
            if silent is not None and audio and files["ogg"] is None:
                silent.append(files["mid"])
            row = {"file": files["mid"], "step": i + 1, "share_of_b": f"{inter.alphas[i]:.4g}"}
            if inter.bars_from_b is not None:
                row["bars_from_b"] = int(inter.bars_from_b[i])
                row["codes"] = " ".join(str(int(c)) for c in inter.codes[i])
            row.update({
                "hamming_to_a": "" if to_a is None else f"{to_a[i]:.6g}",
                "hamming_to_b": "" if to_b is None else f"{to_b[i]:.6g}",
                "same_as_previous": int(i in same),
                "fnd": int(props["fnd"][i]), "fnb": int(props["fnb"][i]), "hd": f"{props['hd'][i]:.6g}",
            })  # fmt: skip
            rows.append(row)
        write_text(out / INTERPOLATION_FILE, csv_text(rows))
        return rows
