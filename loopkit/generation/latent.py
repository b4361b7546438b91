"""Manipulating the VQ-VAE's discrete latent space (Manipulating Latent Space of VQ-VAE, Investigation of Frequent
Pattern, Figure 5): latent copies and bar forms, bar swaps, single codes, resampling bars from the prior, and the
most and least frequent code of each latent step.

The paper copies latent steps 0, 1 onto 16, 17 before decoding, "so that consistency between the first and fifth
bar can be strengthened". With t = 32 latent steps over 128 data steps one bar is t / 8 = 4 latent steps, so that
copy is the *first half* of bar 1 onto the first half of bar 5. A ``LatentCopy`` is a plan of
``(source_step, target_step)`` pairs, built from

* the preset ``"paper"``: form ``A???A???`` with ``span = t / 16`` (half a bar): exactly (0, 16), (1, 17) at t = 32;
* a bar form such as ``"ABAB ABCD"`` or ``"AABA AABA"``: 8 bar letters (spaces and ``-`` ignored, ``?`` a free
  bar); every bar whose letter occurred before becomes a copy of the latent steps of the *first* bar with that
  letter. ``span`` copies only the first ``span`` latent steps of each such bar (default: the whole bar).

and applied while sampling (``loopkit.generation.generate.sample_codes``) in one of two ``MODES``:

* ``"after"``: the prior samples the whole sequence freely, then the copy overwrites the targets. The codes
  right after a target were sampled given the *original* code there, so the seams may not fit. Applied to
  Table 3's own sequences, it is paired with Table 3 loop by loop; it can merge sequences but never create new
  distinct ones, so its US can only stay or fall.
* ``"condition"``: the copied codes are forced while sampling: at a target step the prior is fed the source's
  code instead of a sample, so every later step is conditioned on the copy (the prior's own continuation of it).
  These are fresh samples, not Table 3's.

The paper ("We copied latent features at latent time step 0, 1 to 16, 17") does not say which one it did. Its
Table 4 US *rises* over Table 3 (0.50 -> 0.62 at temperature 1; 4.08e-3 -> 4.11e-3 at argmax), which "after"
cannot do and "condition" can; neither mode is called the paper's here, and the book computes Table 4 both
ways.

The editing functions below (``swap_bars``, ``single_code_sequence``, ``resample_steps``) are notebook 3's
tweakable cells; ``crossfade_codes`` (a bar-by-bar crossfade from one loop's codes to another's) and
``code_overlap`` (which codes of a loop the training set uses) serve its own-loop section (section 8;
``loopkit.ownloop.interpolation`` crossfades with it); ``frequent_code_sequences`` and ``decode_frequent_codes`` are
Figure 5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from loopkit.config import CONTINUOUS_MODELS
from loopkit.errors import LoopkitError
from loopkit.data.rules import LoopRules, bar_hamming, window_checks
from loopkit.metrics.paper_metrics import code_frequencies, frequent_codes
from loopkit.data.pianoroll import BARS_PER_LOOP, BASS_COLUMNS, DRUM_COLUMNS, STEPS_PER_BAR, drum_column
from loopkit.generation.sampling import (
    Temperature,
    decode_codes,
    label_of,
    make_generator,
    model_device,
    parse_temperature,
    step_prior,
)

#: The sampling modes of a latent copy (see the module docstring).
MODES = ("after", "condition")

_FORM_IGNORED = re.compile(r"[\s\-]")
_FORM_FREE = "?"


def check_mode(mode: str) -> str:
    """``mode`` when it is one of ``MODES``."""
    if mode not in MODES:
        raise LoopkitError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _steps_per_bar(latent_steps: int) -> int:
    if latent_steps < BARS_PER_LOOP or latent_steps % BARS_PER_LOOP:
        raise LoopkitError(
            f"latent_steps must be a multiple of {BARS_PER_LOOP} (one block per bar), got {latent_steps}"
        )
    return latent_steps // BARS_PER_LOOP


def normalise_form(form: str) -> str:
    """A bar form without spaces and dashes, upper case: ``"abab abcd"`` -> ``"ABABABCD"``; checked.

    A form has one symbol per bar (8): a letter names the bar's pattern, ``?`` leaves the bar free.
    """
    if not isinstance(form, str):
        raise LoopkitError(f"a bar form is a string such as 'ABAB ABCD', got {form!r}")
    text = _FORM_IGNORED.sub("", form).upper()
    bad = sorted({c for c in text if not ("A" <= c <= "Z" or c == _FORM_FREE)})
    if bad:
        raise LoopkitError(f"bar form {form!r}: only letters A-Z and '?' name bars (found {''.join(bad)!r})")
    if len(text) != BARS_PER_LOOP:
        raise LoopkitError(
            f"bar form {form!r} names {len(text)} bars; a loop has {BARS_PER_LOOP} (e.g. 'ABAB ABCD')"
        )
    return text


@dataclass(frozen=True)
class LatentCopy:
    """A plan of latent copies: ``codes[:, target] = codes[:, source]`` for each ``(source, target)`` pair.

    Build one with ``LatentCopy.paper(t)``, ``LatentCopy.from_form(form, t, span)`` or ``LatentCopy.parse``.
    Every source comes before its target and no step is a target twice; pairs are applied in order of target,
    so a copy of a copy resolves to the first source in both modes.

    Attributes
    ----------
    pairs : ((source_step, target_step), ...) latent steps, 0-based, sorted by target
    name : how the plan was made, e.g. ``"paper"`` or ``"form ABABABCD, span 4"``
    """

    pairs: tuple[tuple[int, int], ...]
    name: str = "custom"

    def __post_init__(self):
        pairs = tuple(sorted(((int(s), int(t)) for s, t in self.pairs), key=lambda p: p[1]))
        targets = [t for _, t in pairs]
        if len(set(targets)) != len(targets):
            raise LoopkitError(f"latent copy {self.name!r}: a step is the target of two copies")
        for s, t in pairs:
            if s < 0 or not s < t:
                raise LoopkitError(
                    f"latent copy {self.name!r}: pair ({s}, {t}) must copy an earlier step onto a later one"
                )
        object.__setattr__(self, "pairs", pairs)

    # -- construction ------------------------------------------------------------------------------------
    @classmethod
    def paper(cls, latent_steps: int = 32) -> "LatentCopy":
        """The paper's manipulation: the first half of bar 1's latent steps onto bar 5's; (0,16), (1,17) at t = 32."""
        per_bar = _steps_per_bar(latent_steps)
        plan = cls.from_form("A???A???", latent_steps, span=max(per_bar // 2, 1))
        return cls(plan.pairs, name="paper")

    @classmethod
    def from_form(cls, form: str, latent_steps: int = 32, span: int | None = None) -> "LatentCopy":
        """The copies a bar form asks for.

        Every bar whose letter occurred in an earlier bar gets the latent steps of the first bar with that
        letter: ``"ABAB ABCD"`` copies bar 1 onto bars 3 and 5 and bar 2 onto bars 4 and 6. ``span`` (1 .. t/8)
        copies only the first ``span`` latent steps of each bar; ``None`` copies whole bars.
        """
        text = normalise_form(form)
        per_bar = _steps_per_bar(latent_steps)
        span = per_bar if span is None else int(span)
        if not 1 <= span <= per_bar:
            raise LoopkitError(
                f"span must lie in 1..{per_bar} (latent steps per bar at t = {latent_steps}), got {span}"
            )
        first: dict[str, int] = {}
        pairs = []
        for bar, letter in enumerate(text):
            if letter == _FORM_FREE:
                continue
            if letter in first:
                src = first[letter] * per_bar
                pairs += [(src + j, bar * per_bar + j) for j in range(span)]
            else:
                first[letter] = bar
        name = f"form {text}" + ("" if span == per_bar else f", span {span}")
        return cls(tuple(pairs), name=name)

    @classmethod
    def parse(cls, spec: "LatentCopy | str | None", latent_steps: int = 32, span: int | None = None
              ) -> "LatentCopy | None":  # fmt: skip
        """``None``/``"none"`` -> no copy; ``"paper"`` -> the paper's; any other string -> a bar form."""
        if spec is None or isinstance(spec, LatentCopy):
            if isinstance(spec, LatentCopy):
                spec.check(latent_steps)
            return spec
        if not isinstance(spec, str):
            raise LoopkitError(f"a latent copy is 'paper', a bar form such as 'ABAB ABCD' or None, got {spec!r}")
        key = spec.strip().lower()
        if key in ("", "none"):
            return None
        if key == "paper":
            if span is not None:
                raise LoopkitError("the 'paper' preset fixes its span (half a bar); give a bar form to choose one")
            return cls.paper(latent_steps)
        return cls.from_form(spec, latent_steps, span)

    # -- use ---------------------------------------------------------------------------------------------
    @property
    def sources(self) -> tuple[int, ...]:
        return tuple(s for s, _ in self.pairs)

    @property
    def targets(self) -> tuple[int, ...]:
        return tuple(t for _, t in self.pairs)

    @property
    def forced(self) -> dict[int, int]:
        """target -> source: the steps ``loopkit.generation.sampling.step_prior`` forces in mode "condition"."""
        return {t: s for s, t in self.pairs}

    def check(self, latent_steps: int) -> None:
        """Raise when a step lies outside ``0 .. latent_steps - 1``."""
        if self.pairs and max(self.targets) >= latent_steps:
            raise LoopkitError(f"latent copy {self.name!r} reaches step {max(self.targets)}, past t = {latent_steps}")

    def apply(self, codes):
        """A copy of ``codes`` (b, t) (numpy or torch) with every pair applied, in order of target."""
        out = codes.clone() if hasattr(codes, "clone") else np.array(codes, copy=True)
        if out.ndim != 2:
            raise LoopkitError(f"codes must be (b, t), got shape {tuple(out.shape)}")
        self.check(out.shape[1])
        for s, t in self.pairs:
            out[:, t] = out[:, s]
        return out

    def describe(self) -> str:
        """One line: the name and the pairs, e.g. ``paper: latent steps 0->16, 1->17``."""
        if not self.pairs:
            return f"{self.name}: no copy"
        return f"{self.name}: latent steps " + ", ".join(f"{s}->{t}" for s, t in self.pairs)

    def to_dict(self) -> dict:
        return {"name": self.name, "pairs": [list(p) for p in self.pairs]}


def _no_copy(spec) -> bool:
    return spec is None or isinstance(spec, str) and spec.strip().lower() in ("", "none")


@dataclass(frozen=True)
class SamplingRequest:
    """What a sampler is asked for, validated once where the request enters (``SamplingRequest.of``) and passed
    down whole: the sampling paths below it (``loopkit.generation.generate``, ``loopkit.outputs.sample_folder``,
    the metric tables, variations) read its fields and never parse a temperature or a latent copy again.

    Attributes
    ----------
    temperature : the prior's temperature as a float, 0.0 for argmax
    copy : the latent copies (``LatentCopy``), None for none
    mode : how the copies are applied, one of ``MODES`` (see the module docstring)
    """

    temperature: float = 1.0
    copy: LatentCopy | None = None
    mode: str = "after"

    def __post_init__(self):
        check_mode(self.mode)
        if not isinstance(self.temperature, float) or not np.isfinite(self.temperature) or self.temperature < 0:
            raise LoopkitError(f"a request's temperature is a parsed float >= 0 (SamplingRequest.of parses one), "
                               f"got {self.temperature!r}")  # fmt: skip
        if self.copy is not None and not isinstance(self.copy, LatentCopy):
            raise LoopkitError(f"a request's copy is a LatentCopy or None (SamplingRequest.of parses one), "
                               f"got {self.copy!r}")  # fmt: skip

    @classmethod
    def of(cls, temperature: Temperature = 1.0, copy: "LatentCopy | str | None" = None, mode: str = "after", *,
           model: str = "vq_vae", latent_steps: int = 32, span: int | None = None) -> "SamplingRequest":  # fmt: skip
        """The request a user's values make for a ``model`` with ``latent_steps`` (``span`` for a bar form), or one
        ``LoopkitError`` line: a temperature as ``parse_temperature`` reads it, a copy as ``LatentCopy.parse``
        reads it, a mode of ``MODES``. A continuous VAE samples z ~ N(0, I): it takes neither a temperature other
        than 1 nor a latent copy."""
        temperature = parse_temperature(temperature)
        check_mode(mode)
        if span is not None and _no_copy(copy):
            raise LoopkitError("a span chooses how much of each bar a bar form copies: give a bar form with it")
        if model not in CONTINUOUS_MODELS:
            return cls(temperature, LatentCopy.parse(copy, latent_steps, span), mode)
        if not _no_copy(copy):
            raise LoopkitError(f"latent manipulation (a bar form or the paper's copy) needs the VQ-VAE's discrete "
                               f"latent steps; a {model} has none")  # fmt: skip
        if temperature != 1.0:
            raise LoopkitError(f"temperature applies to the VQ-VAE's prior; a {model} samples z ~ N(0, I)")
        return cls(temperature, None, mode)

    @classmethod
    def given(cls, request: "SamplingRequest | None", temperature: Temperature = 1.0,
              copy: "LatentCopy | str | None" = None, mode: str = "after", **how) -> "SamplingRequest":  # fmt: skip
        """``request`` as it came (checked against ``how``'s ``latent_steps`` only), or ``of(temperature, copy, mode,
        **how)`` when there is none: a function that takes either validates a request once, where it entered."""
        if request is None:
            return cls.of(temperature, copy, mode, **how)
        if not isinstance(request, SamplingRequest):
            raise LoopkitError(f"request= takes a SamplingRequest, got {type(request).__name__}")
        if temperature != 1.0 or not _no_copy(copy) or mode not in ("after", request.mode):
            raise LoopkitError("give request= or temperature/copy/mode, not both")
        if request.copy is not None and "latent_steps" in how:
            request.copy.check(how["latent_steps"])
        return request

    @property
    def label(self) -> str:
        """The paper's row label of the temperature: ``"argmax"``, ``"temp 1"``."""
        return label_of(self.temperature)

    @property
    def forced(self) -> dict[int, int]:
        """target -> source: the steps ``step_prior`` forces while sampling (mode "condition"), else none."""
        return self.copy.forced if self.copy is not None and self.mode == "condition" else {}

    def after(self, codes):
        """``codes`` with the copies applied when the mode is "after" (else as they are)."""
        return self.copy.apply(codes) if self.copy is not None and self.mode == "after" else codes


# ---------------------------------------------------------------------------------------------------------
# editing code sequences (the latent investigation's tweakable cells)


def bar_steps(bar: int, latent_steps: int = 32) -> list[int]:
    """The latent steps of bar ``bar`` (0-based): 4 steps per bar at t = 32."""
    per_bar = _steps_per_bar(latent_steps)
    if not 0 <= int(bar) < BARS_PER_LOOP:
        raise LoopkitError(f"bar must lie in 0..{BARS_PER_LOOP - 1}, got {bar}")
    return list(range(int(bar) * per_bar, (int(bar) + 1) * per_bar))


def single_code_sequence(code: int, latent_steps: int = 32, codebook_size: int | None = None) -> np.ndarray:
    """One code at every latent step: (1, t), to hear what a single dictionary entry decodes to."""
    if codebook_size is not None and not 0 <= int(code) < codebook_size:
        raise LoopkitError(f"code must lie in 0..{codebook_size - 1}, got {code}")
    return np.full((1, int(latent_steps)), int(code), dtype=np.int64)


def swap_bars(codes, a: int, b: int) -> np.ndarray:
    """A copy of code sequences (n, t) with the latent steps of bars ``a`` and ``b`` exchanged."""
    out = np.array(codes, dtype=np.int64, copy=True)
    if out.ndim != 2:
        raise LoopkitError(f"codes must be (n, t), got shape {out.shape}")
    sa, sb = bar_steps(a, out.shape[1]), bar_steps(b, out.shape[1])
    out[:, sa], out[:, sb] = out[:, sb].copy(), out[:, sa].copy()
    return out


def resample_steps(
    prior, codes, steps, temperature: Temperature = 1.0, *, seed: int | None = 0, device=None,
    copy: "LatentCopy | str | None" = None, request: SamplingRequest | None = None,
) -> np.ndarray:
    """Redraw the codes at ``steps`` from the prior, keeping every other code of ``codes`` (n, t).

    The prior reads the sequence left to right (``loopkit.generation.sampling.step_prior``): at a step in ``steps`` it
    samples (step 0 from p(z_0)), at any other step it is fed the given code. A resampled bar is therefore
    conditioned on the bars before it; the bars after it keep their codes (the LSTM prior cannot look ahead).
    ``copy`` (a ``LatentCopy`` or a bar form) is forced while stepping (mode "condition"): every target step gets
    its source's code, redrawn or kept, whether or not it is in ``steps``. ``request`` (a ``SamplingRequest`` in
    mode "condition") stands for ``temperature`` and ``copy`` where a caller has validated them already.
    """
    import torch

    device = model_device(prior, device)
    t = prior.config.latent_steps
    if request is None:  # the copies are forced while stepping: mode "condition"
        request = SamplingRequest.of(temperature, copy, "condition", latent_steps=t)
    else:
        request = SamplingRequest.given(request, temperature, copy, latent_steps=t)
        if request.copy is not None and request.mode != "condition":
            raise LoopkitError("a copy is forced while bars are resampled: its request's mode is 'condition'")
    given = torch.as_tensor(np.asarray(codes, dtype=np.int64), device=device)
    if given.ndim != 2 or given.shape[1] != t:
        raise LoopkitError(f"codes must be (n, {t}), got shape {tuple(given.shape)}")
    redraw = sorted({int(s) for s in steps})
    if redraw and not (0 <= redraw[0] and redraw[-1] < given.shape[1]):
        raise LoopkitError(f"steps must lie in 0..{given.shape[1] - 1}, got {redraw}")
    generator = make_generator(seed, device)
    prior.eval()
    with torch.no_grad():
        out = step_prior(prior, given.clone(), set(redraw), request.temperature, generator, request.forced or None)
    return out.cpu().numpy()


def crossfade_codes(codes_a, codes_b, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A bar-by-bar crossfade in code space from ``codes_a`` to ``codes_b`` (each (t,)): (k, t) sequences.

    Step ``i`` of ``k = steps`` takes its first ``round(8 i / (k - 1))`` bars from B and the rest from A, so step 0
    is A, step k-1 is B, and with k = 9 one more bar switches at each step, left to right (the order the prior
    reads). Returns the sequences and, for each step, how many bars come from B: (k,) int.
    """
    a = np.asarray(codes_a, dtype=np.int64)
    b = np.asarray(codes_b, dtype=np.int64)
    if a.ndim != 1 or a.shape != b.shape:
        raise LoopkitError(f"two code sequences of one length (t,) are crossfaded, got shapes {a.shape} and {b.shape}")
    per_bar = _steps_per_bar(len(a))
    k = int(steps)
    if k < 2:
        raise LoopkitError(f"an interpolation has at least 2 steps (its two ends), got {k}")
    from_b = np.rint(np.arange(k) * BARS_PER_LOOP / (k - 1)).astype(np.int64)
    out = np.repeat(a[None], k, axis=0)
    for i, m in enumerate(from_b):
        out[i, : m * per_bar] = b[: m * per_bar]
    return out, from_b


#: What ``code_overlap`` says of each latent step of a sequence.
OVERLAP_KINDS = ("at this step", "at another step", "new")


def code_overlap(codes, train_codes) -> np.ndarray:
    """Which codes of one sequence (t,) the training set also uses: (t,) index into ``OVERLAP_KINDS``.

    0: some training loop has this code at this latent step; 1: the training set uses the code, but only at other
    steps; 2: no training loop uses it (the encoder reached a code the prior never saw there).
    """
    c = np.asarray(codes, dtype=np.int64)
    train = np.asarray(train_codes, dtype=np.int64)
    if c.ndim != 1 or train.ndim != 2 or train.shape[1] != len(c):
        raise LoopkitError(f"codes (t,) and training codes (n, t) of the same t, got {c.shape} and {train.shape}")
    here = (train == c[None]).any(axis=0)
    anywhere = np.isin(c, train)
    return np.where(here, 0, np.where(anywhere, 1, 2))


# ---------------------------------------------------------------------------------------------------------
# Figure 5: the most and least frequent code per latent step

#: Figure 5's four panels: (label, rank, least)
FREQUENT_PANELS = (
    ("(a) most frequent", 0, False),
    ("(b) second most frequent", 1, False),
    ("(c) least frequent", 0, True),
    ("(d) second least frequent", 1, True),
)


def frequent_code_sequences(indices, K: int, panels: Sequence[tuple[str, int, bool]] = FREQUENT_PANELS
                            ) -> dict[str, np.ndarray]:  # fmt: skip
    """Figure 5's code sequences: for each panel, the code of that frequency rank at each latent step, (t,).

    ``indices`` (b, t) are code sequences (the training split encoded). Ranks follow
    ``loopkit.metrics.paper_metrics.frequent_codes`` (ties to the smaller index; least frequent among the codes used at
    that step). A step with fewer used codes than the rank asks for takes its last available rank instead.
    """
    freq = code_frequencies(indices, K)
    out = {}
    for label, rank, least in panels:
        seq = frequent_codes(freq, rank=rank, least=least)
        for r in range(rank - 1, -1, -1):  # fall back to lower ranks where a step has too few codes
            missing = seq < 0
            if not missing.any():
                break
            seq[missing] = frequent_codes(freq, rank=r, least=least)[missing]
        out[label] = seq
    return out


def decode_frequent_codes(vqvae, indices, panels: Sequence[tuple[str, int, bool]] = FREQUENT_PANELS,
                          device=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Figure 5: each panel's code sequence (t,) and its decoded loop (128, 93) bool, keyed by panel label."""
    seqs = frequent_code_sequences(indices, vqvae.codebook_size, panels)
    labels = list(seqs)
    rolls = decode_codes(vqvae, np.stack([seqs[k] for k in labels]), device=device)
    return {k: (seqs[k], rolls[i]) for i, k in enumerate(labels)}


#: The paper's reading of Figure 5's frequent panels, "typical repeating 4/4 patterns", made measurable (claim (m)):
#: a kick on the loop's first step (the downbeat of a 4/4 bar), bass and drums both sounding, and bars 5-8 repeating
#: bars 1-4: at least this share of the cells on in either half are on in both (their Jaccard index; a training
#: loop's is near 1, and the extraction rule asks bar 5 to repeat bar 1 within 2 cells of 1,488).
REPEATS_AT_LEAST = 0.5


def halves_overlap(roll) -> float:
    """The Jaccard index of a loop's bars 1-4 and bars 5-8 (cells on in both / cells on in either; 1 when both are
    empty), ``roll`` (128, 93) bool."""
    roll = np.asarray(roll, dtype=bool)
    half = BARS_PER_LOOP // 2 * STEPS_PER_BAR
    a, b = roll[:half], roll[half : 2 * half]
    either = np.count_nonzero(a | b)
    return 1.0 if either == 0 else float(np.count_nonzero(a & b) / either)


def repeating_pattern(roll) -> bool:
    """Whether a decoded loop is a typical repeating 4/4 pattern (``REPEATS_AT_LEAST``)."""
    roll = np.asarray(roll, dtype=bool)
    sounds = roll[:, BASS_COLUMNS].any() and roll[:, DRUM_COLUMNS].any()
    return bool(roll[0, drum_column("kick")] and sounds and halves_overlap(roll) >= REPEATS_AT_LEAST)


def frequent_code_properties(decoded, rules: LoopRules = LoopRules()):
    """Figure 5's panels measured by the paper's loop rules: for each decoded loop (``decode_frequent_codes``), its
    bar-1-to-bar-5 Hamming distance, whether the first step has kick, crash and a bass note, whether it passes
    every rule of extraction (a loop), and the share of its steps with a note.

    Returns a DataFrame with the columns ``panel``, ``HD``, ``kick``, ``crash``, ``bass``, ``a loop``,
    ``steps with a note``, ``halves overlap`` and ``repeating 4/4`` (the paper's reading, ``repeating_pattern``),
    one row per panel (``loopkit.evaluation.claims`` judges the paper's reading of Figure 5 on it).
    """
    import pandas as pd

    rows = []
    for label, (_, roll) in decoded.items():
        roll = np.asarray(roll, dtype=bool)
        checks = window_checks(roll, rules)
        hd = bar_hamming(roll, bars=rules.compared_bars, normalisation=rules.hamming_normalisation)
        row = {"panel": label, "HD": hd,
               **{k: bool(checks[k][0]) for k in ("kick", "crash", "bass")}}  # fmt: skip
        row["a loop"] = bool(checks["hamming"][0]) and row["kick"] and row["crash"] and row["bass"]
        row["steps with a note"] = float(roll.any(axis=1).mean())
        row["halves overlap"] = halves_overlap(roll)
        row["repeating 4/4"] = repeating_pattern(roll)
        rows.append(row)
    return pd.DataFrame(rows)
