"""Your loop's variations through the VQ-VAE's codebook (beyond the paper, built on its prior and its latent
copies; what ``loopkit vary`` and chapter 3's section 8 do).

``vary_codes`` redraws chosen bars with the LSTM prior, conditioned on the codes before them (the bars after them
keep their codes: the prior reads left to right and cannot look ahead), and/or imposes a bar form
(``loopkit.generation.latent.LatentCopy``; with bars redrawn the form is forced while sampling, so a copy of a redrawn
bar follows it).

Codes kept are not notes kept: the decoder's convolutions reach across bar lines, so new codes in bar 5 change
the notes it decodes at the end of bar 4, and a bar with bar 1's codes decodes close to, but not exactly as, bar
1. ``place_notes`` therefore builds each variation's roll at the bar line (at the latent-step boundary: a latent
step covers 128 / t steps of the roll): with ``keep="notes"`` (the default) every bar neither redrawn nor a copy
keeps the notes of the loop as read, exactly; with ``copy="notes"`` every copied bar is a note-for-note copy of
its source bar in the variation. ``keep="codes"``, ``copy="codes"`` give the decoded codes alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from loopkit.atomic import write_text
from loopkit.runlock import hold_folder
from loopkit.errors import LoopkitError
from loopkit.generation.latent import LatentCopy, SamplingRequest, bar_steps, normalise_form
from loopkit.ownloop.encode import VARIATIONS_FILE, csv_text, hamming_to, loop_properties, write_loop_files
from loopkit.data.pianoroll import BARS_PER_LOOP, check_roll
from loopkit.ownloop.resemblance import part_notes
from loopkit.generation.sampling import decode_codes

#: What a bar that is neither redrawn nor a copy keeps (``place_notes``): the input's notes, or only its codes.
KEEP = ("notes", "codes")
#: What a copied bar of a bar form copies: its source bar's codes (decoded), or its source bar's notes.
COPY = ("codes", "notes")


def parse_bars(text: str, first_bar: int = 1) -> list[int]:
    """Song bars as a DAW counts them -> 0-based bars of the loop, whose first bar is song bar ``first_bar`` (every
    own-loop command counts song bars, ``loopkit.ownloop.reader.BAR_NUMBERING``): with ``first_bar`` 1, ``"5-8"`` ->
    [4, 5, 6, 7] and ``"2,4"`` -> [1, 3]; with ``first_bar`` 9, ``"13-16"`` -> [4, 5, 6, 7]."""
    lo_bar, hi_bar = int(first_bar), int(first_bar) + BARS_PER_LOOP - 1
    bars: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise LoopkitError(f"bars are numbers {lo_bar}-{hi_bar} such as '{lo_bar + 4}-{hi_bar}' or "
                               f"'{lo_bar + 1},{lo_bar + 3}', got {text!r}") from None  # fmt: skip
        if a > b and lo_bar <= b and a <= hi_bar:
            raise LoopkitError(f"bars {part!r} run backwards: write the lower bar first ('{b}-{a}')")
        if not (lo_bar <= a <= b <= hi_bar):
            inside = ("" if lo_bar == 1 else f", counted as the song counts them, as its first bar is: its bars 5-8 are "
                      f"{lo_bar + 4}-{hi_bar}")  # fmt: skip
            raise LoopkitError(f"bars must lie in {lo_bar}-{hi_bar} (the loop's {BARS_PER_LOOP} bars{inside}), got "
                               f"{text!r}")  # fmt: skip
        bars.update(range(a - lo_bar, b - lo_bar + 1))
    if not bars:
        raise LoopkitError(f"no bar named in {text!r}")
    return sorted(bars)


def bars_label(bars: Sequence[int], first_bar: int = 1) -> str:
    """0-based bars of a loop whose first bar is song bar ``first_bar`` -> the song bars' label used in file names and
    messages: [4, 5, 6, 7] -> ``"5-8"``, [1, 3] -> ``"2,4"`` (with ``first_bar`` 9: ``"13-16"``, ``"10,12"``)."""
    bars = sorted(int(b) + int(first_bar) - 1 for b in bars)
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
    request: SamplingRequest | None = None,
) -> np.ndarray:
    """Variations of one code sequence (t,): (n, t).

    ``bars`` (0-based) are redrawn by the prior, conditioned on the codes before them; every other bar keeps its
    codes. ``form`` (a bar form such as ``"AABA AABA"``) makes every bar whose letter came before a copy of the first
    bar with that letter: alone it is applied to the given codes (one variation, ``n`` must be 1); with ``bars`` it
    is forced while the bars are redrawn, so a copy of a redrawn bar is the redrawn bar. The same seed gives the
    same variations. ``request`` (mode "condition") stands for ``temperature`` and ``form`` where a caller has
    validated them already.
    """
    from loopkit.generation.latent import resample_steps

    c = np.asarray(codes, dtype=np.int64)
    if c.ndim != 1:
        raise LoopkitError(f"vary one code sequence (t,), got shape {c.shape}")
    t = len(c)
    if request is None:  # a form is forced while bars are redrawn: mode "condition"
        request = SamplingRequest.of(temperature, form or None, "condition", latent_steps=t)
    else:
        request = SamplingRequest.given(request, temperature, form or None, latent_steps=t)
    plan = request.copy
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
    return resample_steps(prior, np.repeat(c[None], n, axis=0), steps, seed=seed, request=request)


def form_label(form: str) -> str:
    """A bar form as file names show it: ``"aaba aaba"`` -> ``"AABA-AABA"`` (``?`` becomes ``x``)."""
    text = normalise_form(form).replace("?", "x")
    return f"{text[:4]}-{text[4:]}"


def _plan(form: str | LatentCopy | None, t: int) -> LatentCopy | None:
    """A bar form's plan (a ``LatentCopy`` passes through, checked against ``t``), None for no form."""
    return LatentCopy.parse(form, t) if form else None


def kept_steps(t: int, bars: Sequence[int] | None = None, form: str | LatentCopy | None = None) -> list[int]:
    """The latent steps (0-based, of t) that are neither in a redrawn bar nor the target of a copy of ``form``."""
    plan = _plan(form, t)
    changed = {s for b in (bars or ()) for s in bar_steps(b, t)} | set(plan.targets if plan else ())
    return [s for s in range(t) if s not in changed]


def place_notes(decoded, reference, t: int, *, bars: Sequence[int] | None = None,
                form: str | LatentCopy | None = None, keep: str = "notes", copy: str = "codes") -> np.ndarray:  # fmt: skip
    """One variation's roll (128, 93) from its decoded codes ``decoded`` (128, 93) (see the module docstring).

    ``keep="notes"``: the roll steps of every kept latent step (``kept_steps``) are ``reference``'s (the loop as
    read); ``copy="notes"``: the roll steps of every copy target of ``form`` are its source's, in the roll being
    built (so a copy of a redrawn bar copies the redrawn notes). ``"codes"`` leaves ``decoded`` as it is there.
    """
    if keep not in KEEP or copy not in COPY:
        raise LoopkitError(f"keep is one of {', '.join(KEEP)} and copy one of {', '.join(COPY)}, got {keep!r}, "
                           f"{copy!r}")  # fmt: skip
    out = check_roll(decoded).copy()
    span = out.shape[0] // t
    if keep == "notes":
        ref = check_roll(reference)
        for s in kept_steps(t, bars, form):
            out[s * span : (s + 1) * span] = ref[s * span : (s + 1) * span]
    plan = _plan(form, t)
    if copy == "notes" and plan is not None:
        for src, dst in plan.pairs:
            out[dst * span : (dst + 1) * span] = out[src * span : (src + 1) * span]
    return out


def notes_changed(a, b, steps: Sequence[int], t: int) -> int:
    """Notes (bass notes and drum hits, ``loopkit.ownloop.resemblance``) that differ between two loops (128, 93) inside
    the roll steps of the latent steps ``steps`` (of t): in one and not the other."""
    a, b = check_roll(a), check_roll(b)
    span = a.shape[0] // t
    mask = np.zeros(a.shape[0], dtype=bool)
    for s in steps:
        mask[s * span : (s + 1) * span] = True
    na, nb = part_notes(a & mask[:, None]), part_notes(b & mask[:, None])
    return sum(len(na[p] ^ nb[p]) for p in na)


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
    keep: str = "notes",
    copy: str = "codes",
    png: bool = True,
    audio: bool = False,
    seamless: bool = False,
    progress: bool = True,
    silent: list | None = None,
    first_bar: int = 1,
) -> list[dict]:
    """Vary ``codes`` (``vary_codes``), build each variation's roll (``place_notes``, keeping the notes of
    ``input_roll``, the loop as read, or of the input's codes decoded when it is not given) and write every
    variation, and the input's codes decoded, into ``out``: ``NAME_decoded.mid`` and ``NAME_redraw5-8_01.mid`` ...
    (or ``NAME_form-AABA-AABA...``) with PNG and OGG beside them, and ``variations.csv``: one row a loop (the input's
    decoded codes first) with its codes, the codes changed, what its kept bars keep and how many notes of theirs
    differ from the input, its Hamming distance to the loop as read (empty without it) and to the input's decoded
    codes, and FND, FNB, HD. Returns the rows; ``silent``, if a list, gets the MIDI files of loops with nothing to
    hear (no note, or a part too quiet: no OGG). ``first_bar``: the song bar the loop starts on, for the bars in
    file names and the CSV (song bars, as every own-loop command counts them)."""
    with hold_folder(out, f"varying {name}"):  # one writer of a folder at a time
        from tqdm import tqdm  # a plain bar: no widget, so no "IProgress not found" warning in a notebook

        base = np.asarray(codes, dtype=np.int64)
        t = len(base)
        # the one place this request is validated: the form is parsed once, its plan passed down
        request = SamplingRequest.of(temperature, form or None, "condition", latent_steps=t)
        plan = request.copy
        varied = vary_codes(prior, base, bars=bars, n=n, seed=seed, request=request)
        rolls = decode_codes(vqvae, np.concatenate([base[None], varied]))
        decoded = rolls[0].copy()
        reference = check_roll(input_roll) if input_roll is not None else decoded
        for i in range(1, len(rolls)):
            rolls[i] = place_notes(rolls[i], reference, t, bars=bars, form=plan, keep=keep, copy=copy)
        kept = kept_steps(t, bars, plan)
        what = []
        if bars:
            what.append(f"redraw{bars_label(bars, first_bar).replace(',', '+')}")
        form_text = form_label(form) if form else ""
        if form:
            what.append(f"form-{form_text}")
        label = "_".join(what)
        width = max(2, len(str(len(varied))))
        stems = [f"{name}_decoded"] + [f"{name}_{label}_{i + 1:0{width}d}" for i in range(len(varied))]
        props = loop_properties(rolls)
        to_input = hamming_to(rolls, check_roll(input_roll)) if input_roll is not None else None
        to_decoded = hamming_to(rolls, decoded)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        all_codes = np.concatenate([base[None], varied])
        kept_what = "codes" if keep == "codes" else "notes" if input_roll is not None else "notes of the decoded input"
        for i in tqdm(range(len(rolls)), desc="write", unit="loop", disable=None if progress else True):
            title = "the input's codes decoded" if i == 0 else f"variation {i}: {label.replace('_', ', ')}"
            files = write_loop_files(rolls[i], out, stems[i], bpm, png=png, audio=audio, title=f"{stems[i]} ({title})",
                                     seamless=seamless)  # fmt: skip
            if silent is not None and audio and files["ogg"] is None:
                silent.append(files["mid"])
            rows.append({
                "file": files["mid"],
                "variation": i,
                "bars_redrawn": "" if i == 0 or not bars else bars_label(bars, first_bar),
                "form": "" if i == 0 else form_text,
                "copies": "" if i == 0 or not form else copy,
                "kept": "" if i == 0 else kept_what,
                "kept_notes_changed": "" if i == 0 else notes_changed(rolls[i], reference, kept, t),
                "temperature": "" if i == 0 or not bars else f"{request.temperature:g}",
                "seed": "" if i == 0 or not bars else seed,
                "codes": " ".join(str(int(c)) for c in all_codes[i]),
                "codes_changed": int(np.count_nonzero(all_codes[i] != base)),
                "hamming_to_input": "" if to_input is None else f"{to_input[i]:.6g}",
                "hamming_to_decoded": f"{to_decoded[i]:.6g}",
                "fnd": int(props["fnd"][i]),
                "fnb": int(props["fnb"][i]),
                "hd": f"{props['hd'][i]:.6g}",
            })  # fmt: skip
        write_text(out / VARIATIONS_FILE, csv_text(rows))
        return rows
