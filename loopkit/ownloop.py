"""Your own loop (beyond the paper, built on its representation, its VQ-VAE and prior and its continuous VAEs): a
musician's MIDI file read into one loop, encoded to the VQ-VAE's codes, varied through the codebook and
interpolated, with every result written as MIDI a DAW opens (what ``loopkit encode``, ``vary`` and
``interpolate`` and the last section of chapter 3 do).

Reading (``read_loop``) uses the same code as extraction (``loopkit.pianoroll``): bass = the tracks with a
General MIDI bass program, drums = the tracks on the drum channel, or one track of each chosen by number or
name; the file must be 4/4 (no time signature counts as 4/4); 8 bars are taken from a given bar, else from the
first window that passes the paper's loop rules, else from bar 1. What the representation cannot keep is counted:
bass notes outside C1..B7, chords reduced to their lowest note, drum notes the drum map drops.

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
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from . import audio as audio_mod
from .atomic import write_bytes, write_json, write_text
from .checkpoints import file_digest, load_generator, load_model, model_name
from .config import CONTINUOUS_MODELS, PAPER_NAMES
from .errors import LoopkitError
from .extract import standard_midi_bytes, tempo_at, time_signature_rule
from .latent import LatentCopy, bar_steps, crossfade_codes, normalise_form
from .loops import LoopRules, bar_hamming, find_loops, window_checks
from .pianoroll import (
    BARS_PER_LOOP,
    BASS_HIGHEST_PITCH,
    BASS_LOWEST_PITCH,
    BASS_PROGRAMS,
    BEATS_PER_BAR,
    BASS_COLUMNS,
    LOOP_STEPS,
    N_BASS,
    STEPS_PER_BAR,
    bar_origin,
    check_roll,
    drum_column,
    drum_map_lookup,
    notes_to_roll,
    score_notes,
    ticks_to_steps,
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
#: The part each chosen track plays.
ROLES = ("bass", "drums")


# ---------------------------------------------------------------------------------------------------------
# reading a musician's MIDI file


@dataclass(frozen=True)
class TrackInfo:
    """One track of a MIDI file as symusic reads it: number (0-based, the order ``describe`` lists), name,
    0-based GM program, whether it is on the drum channel, notes, and the part it plays in the loop (``"bass"``,
    ``"drums"`` or ``"ignored"``)."""

    index: int
    name: str
    program: int
    is_drum: bool
    notes: int
    role: str = "ignored"

    def describe(self) -> str:
        """``#1 "Fretless" (GM program 36, Fretless Bass; 212 notes)``; drum tracks say "drum channel"."""
        name = self.name.strip() or "(no name)"
        kind = "drum channel" if self.is_drum else f"GM program {self.program + 1}, {_program_name(self.program)}"
        return f'#{self.index} "{name}" ({kind}; {self.notes} notes)'


def _program_name(program: int) -> str:
    import pretty_midi

    return pretty_midi.program_to_instrument_name(int(program))


class TrackChoiceError(LoopkitError):
    """The file has no track for a part (or the one named does not exist): ``role`` is "bass" or "drums",
    ``tracks`` the file's tracks, so a caller can say how to choose one."""

    def __init__(self, message: str, role: str, tracks: Sequence[TrackInfo]):
        super().__init__(message)
        self.role = role
        self.tracks = tuple(tracks)


@dataclass(frozen=True)
class LoopReading:
    """One loop read from a MIDI file, and everything said about how.

    Attributes
    ----------
    source : the file as given
    md5 : of the file's bytes
    roll : (128, 93) bool, the 8 bars as the models see them
    start_bar : first bar of the loop, 0-based
    song_bars : bars of bass and drums in the file
    chosen_by : "given", "first loop" (the first window passing the loop rules) or "no loop" (none passes: bar 1)
    rules : which loop rules the window passes: {"hamming", "kick", "crash", "bass"} -> bool
    bpm : the tempo in effect at the loop's first bar (120, MIDI's default, when the file sets none)
    time_signature : "4/4", or "none (4/4 assumed)"
    tracks : every track, with its role
    dropped : what the representation could not keep inside the loop: ``bass_out_of_range`` (notes outside
        C1..B7), ``bass_chord_cells`` (notes of chords reduced to the lowest, counted per 16th step) and
        ``bass_chord_steps`` (steps with a chord), ``drums_unmapped`` (hits on GM notes the drum map drops),
        ``drums_merged`` (hits that fell on a component and step already struck)
    """

    source: str
    md5: str
    roll: np.ndarray
    start_bar: int
    song_bars: int
    chosen_by: str
    rules: dict
    bpm: float
    time_signature: str
    tracks: tuple[TrackInfo, ...]
    dropped: dict

    @property
    def bars_label(self) -> str:
        """The loop's bars as a DAW counts them: ``"bars 9-16"``."""
        return f"bars {self.start_bar + 1}-{self.start_bar + BARS_PER_LOOP}"

    @property
    def passes_rules(self) -> bool:
        return all(self.rules.values())

    def tracks_in(self, role: str) -> list[TrackInfo]:
        return [t for t in self.tracks if t.role == role]

    def summary(self) -> list[str]:
        """What was read, one fact a line (``loopkit encode`` prints these)."""
        lines = []
        for role in (*ROLES, "ignored"):
            chosen = self.tracks_in(role)
            if chosen:
                merged = f" ({len(chosen)} tracks merged)" if role in ROLES and len(chosen) > 1 else ""
                lines.append(f"{role}{merged}: " + "; ".join(t.describe() for t in chosen))
        lines.append(f"tempo {self.bpm:g} bpm at the loop's first bar; time signature {self.time_signature}")
        why = {
            "given": "as asked",
            "first loop": "the first window that passes the paper's loop rules",
            "no loop": "no window passes the paper's loop rules, so bar 1",
        }[self.chosen_by]
        failed = [k for k, ok in self.rules.items() if not ok]
        lines.append(
            f"loop: {self.bars_label} of {self.song_bars} ({why}); "
            + ("it passes every loop rule" if not failed else "it fails the loop rule(s): " + ", ".join(failed))
        )
        d = self.dropped
        lines.append(
            f"dropped by the representation: {d['bass_out_of_range']} bass note(s) outside C1..B7, "
            f"{d['bass_chord_cells']} chord note step(s) reduced to the lowest bass note (on {d['bass_chord_steps']} "
            f"step(s)), {d['drums_unmapped']} drum hit(s) the drum map drops, {d['drums_merged']} merged into a "
            "hit already there"
        )
        return lines

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "md5": self.md5,
            "first_bar": self.start_bar + 1,
            "last_bar": self.start_bar + BARS_PER_LOOP,
            "song_bars": self.song_bars,
            "chosen_by": self.chosen_by,
            "loop_rules": dict(self.rules),
            "bpm": self.bpm,
            "time_signature": self.time_signature,
            "tracks": {role: [t.describe() for t in self.tracks_in(role)] for role in (*ROLES, "ignored")},
            "dropped": dict(self.dropped),
        }


def _tracks(score) -> list[TrackInfo]:
    return [TrackInfo(i, str(t.name), int(t.program), bool(t.is_drum), int(t.note_num()))
            for i, t in enumerate(score.tracks)]  # fmt: skip


def _pick_track(choice: int | str, role: str, tracks: list[TrackInfo], where: str) -> TrackInfo:
    """The track named by number or name (case-insensitive; a name must name exactly one)."""
    listing = "; ".join(t.describe() for t in tracks) or "none"
    if isinstance(choice, (int, np.integer)) or (isinstance(choice, str) and choice.strip().isdigit()):
        i = int(choice)
        if not 0 <= i < len(tracks):
            raise TrackChoiceError(f"{where}: there is no track #{i}; its tracks: {listing}", role, tracks)
        return tracks[i]
    found = [t for t in tracks if t.name.strip().lower() == str(choice).strip().lower()]
    if len(found) != 1:
        what = "no track" if not found else f"{len(found)} tracks"
        raise TrackChoiceError(f"{where}: {what} named {choice!r}; its tracks: {listing}", role, tracks)
    return found[0]


def _choose_tracks(tracks: list[TrackInfo], bass_track, drum_track, where: str) -> list[TrackInfo]:
    """Give every track its role: the chosen ones, else every GM bass track and every drum-channel track."""
    roles: dict[int, str] = {}
    if bass_track is not None:
        chosen = _pick_track(bass_track, "bass", tracks, where)
        if chosen.is_drum:
            raise TrackChoiceError(f"{where}: track {chosen.describe()} is on the drum channel: it cannot be the bass",
                                   "bass", tracks)  # fmt: skip
        roles[chosen.index] = "bass"
    else:
        roles.update({t.index: "bass" for t in tracks if not t.is_drum and t.program in BASS_PROGRAMS and t.notes})
    if drum_track is not None:
        chosen = _pick_track(drum_track, "drums", tracks, where)
        if roles.get(chosen.index) == "bass":
            raise TrackChoiceError(f"{where}: track #{chosen.index} cannot be both the bass and the drums", "drums",
                                   tracks)  # fmt: skip
        roles[chosen.index] = "drums"
    else:
        roles.update({t.index: "drums" for t in tracks if t.is_drum and t.notes and t.index not in roles})
    listing = "; ".join(t.describe() for t in tracks if t.notes) or "no track with notes"
    for role, rule in (("bass", "a General MIDI bass program (33-40)"), ("drums", "the drum channel (10)")):
        if role not in roles.values():
            raise TrackChoiceError(
                f"{where}: no {role} track (none on {rule}); its tracks: {listing}. Choose one as the {role} track "
                "by its number or name", role, tracks)  # fmt: skip
    return [TrackInfo(t.index, t.name, t.program, t.is_drum, t.notes, roles.get(t.index, "ignored")) for t in tracks]


def _part_score(score, tracks: list[TrackInfo]):
    """A copy of ``score`` with only the chosen tracks, each made to read as its part: a chosen bass track keeps
    its program (passed as the bass programs), a chosen drum track goes on the drum channel."""
    import symusic

    part = score.copy()
    part.tracks = symusic.Score(int(score.ticks_per_quarter)).tracks  # an empty track list of the right type
    for info in tracks:
        if info.role == "ignored":
            continue
        track = score.tracks[info.index].copy()
        track.is_drum = info.role == "drums"
        part.tracks.append(track)
    return part


def _window_dropped(score, tracks: list[TrackInfo], origin: int, first_step: int, drum_map: str, notes) -> dict:
    """What the representation drops inside steps ``first_step .. first_step + 127`` (see ``LoopReading``)."""
    tpq = int(score.ticks_per_quarter)
    lo, hi = first_step, first_step + LOOP_STEPS
    out = dict(bass_out_of_range=0, bass_chord_cells=0, bass_chord_steps=0, drums_unmapped=0, drums_merged=0)
    lookup = drum_map_lookup(drum_map)
    for info in tracks:
        if info.role == "ignored" or not info.notes:
            continue
        n = score.tracks[info.index].notes.numpy()
        on = ticks_to_steps(n["time"].astype(np.int64) - origin, tpq)
        inside = (on >= lo) & (on < hi)
        pitch = n["pitch"].astype(np.int64)
        if info.role == "bass":
            out["bass_out_of_range"] += int(np.count_nonzero(inside & ((pitch < BASS_LOWEST_PITCH) |
                                                                        (pitch > BASS_HIGHEST_PITCH))))  # fmt: skip
        else:
            out["drums_unmapped"] += int(np.count_nonzero(inside & (lookup[pitch & 127] < 0)))
    # bass: every (step, pitch) cell that sounds in the window, against the one lowest note kept per step
    sounding = np.zeros((LOOP_STEPS, N_BASS), dtype=bool)
    for a, b, c in zip(notes.bass_on, notes.bass_off, notes.bass_col):
        a, b = max(int(a), lo), min(int(b), hi)
        if a < b:
            sounding[a - lo : b - lo, int(c)] = True
    per_step = sounding.sum(axis=1)
    out["bass_chord_cells"] = int(np.maximum(per_step - 1, 0).sum())
    out["bass_chord_steps"] = int(np.count_nonzero(per_step > 1))
    hits = (notes.drum_on >= lo) & (notes.drum_on < hi)
    cells = {(int(s), int(c)) for s, c in zip(notes.drum_on[hits], notes.drum_col[hits])}
    out["drums_merged"] = int(np.count_nonzero(hits)) - len(cells)
    return out


def read_loop(
    source: str | os.PathLike,
    start_bar: int | None = None,
    *,
    bass_track: int | str | None = None,
    drum_track: int | str | None = None,
    drum_map: str = "full",
    rules: LoopRules = LoopRules(),
) -> LoopReading:
    """Read one 8-bar loop of bass and drums from a MIDI file (see the module docstring).

    Parameters
    ----------
    source : a standard MIDI file
    start_bar : the loop's first bar, 0-based; default the first window that passes ``rules``, else bar 0
    bass_track, drum_track : a track's number (its place in ``LoopReading.tracks``) or name, to use instead of every
        GM bass track / every drum-channel track (needed when the file has none; a chosen drum track is read
        through the GM drum map whatever its channel)

    Raises ``LoopkitError`` with one line for a file that is not MIDI, is not 4/4, has no bass or no drums
    (``TrackChoiceError``, naming the tracks it has), or has fewer than 8 bars from ``start_bar``.
    """
    import symusic

    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no MIDI file at {path}")
    data = path.read_bytes()
    try:
        score = symusic.Score.from_midi(standard_midi_bytes(data))
    except LoopkitError as exc:
        raise LoopkitError(f"{path}: {exc}") from None
    except (ValueError, RuntimeError) as exc:
        raise LoopkitError(f"{path}: not a readable MIDI file ({str(exc).splitlines()[0] if str(exc) else exc})"
                           ) from None  # fmt: skip
    rejected = time_signature_rule(score)
    if rejected:
        raise LoopkitError(f"{path}: not 4/4 ({rejected[1]}); the models read 4/4 loops only")
    tracks = _choose_tracks(_tracks(score), bass_track, drum_track, str(path))
    part = _part_score(score, tracks)
    bass_programs = tuple(sorted({t.program for t in tracks if t.role == "bass"}))
    origin = bar_origin(score)
    notes = score_notes(part, drum_map=drum_map, bass_programs=bass_programs, origin=origin)
    if len(notes.bass_on) == 0:
        raise LoopkitError(f"{path}: the bass track(s) have no note in C1..B7 (MIDI {BASS_LOWEST_PITCH}.."
                           f"{BASS_HIGHEST_PITCH})")  # fmt: skip
    if len(notes.drum_on) == 0:
        raise LoopkitError(f"{path}: the drum track(s) have no note the '{drum_map}' drum map keeps")
    tpq = int(score.ticks_per_quarter)
    end = max(notes.end_step, int(ticks_to_steps(int(part.end()) - origin, tpq)))
    song_bars = -(-end // STEPS_PER_BAR)
    song = notes_to_roll(notes, song_bars * STEPS_PER_BAR)
    if start_bar is None:
        found = find_loops(song, rules)
        start, chosen_by = (int(found[0]), "first loop") if len(found) else (0, "no loop")
    else:
        start, chosen_by = int(start_bar), "given"
        if start < 0:
            raise LoopkitError(f"the first bar must be bar 1 or later, got bar {start + 1}")
    if start + BARS_PER_LOOP > song_bars:
        have = max(song_bars - start, 0)
        raise LoopkitError(f"{path}: {have} bar(s) of bass and drums from bar {start + 1} (the song has {song_bars}); "
                           f"a loop needs {BARS_PER_LOOP}")  # fmt: skip
    checks = window_checks(song[start * STEPS_PER_BAR : (start + BARS_PER_LOOP) * STEPS_PER_BAR], rules)
    passes = {k: bool(checks[k][0]) for k in ("hamming", "kick", "crash", "bass")}
    roll = song[start * STEPS_PER_BAR : (start + BARS_PER_LOOP) * STEPS_PER_BAR].copy()
    bpm = float(tempo_at(score, np.array([origin + start * BEATS_PER_BAR * tpq]))[0])
    signature = "4/4" if len(score.time_signatures) else "none (4/4 assumed)"
    dropped = _window_dropped(score, tracks, origin, start * STEPS_PER_BAR, drum_map, notes)
    return LoopReading(str(source), hashlib.md5(data).hexdigest(), roll, start, song_bars, chosen_by, passes,
                       round(bpm, 3), signature, tuple(tracks), dropped)  # fmt: skip


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
    ``loopkit.checkpoints.load_generator`` does). ``need_prior``: a VQ-VAE alone is refused. Any other model is
    "a checkpoint of the wrong kind"."""
    path = Path(checkpoint)
    first = load_model(path, device)
    name = model_name(first)
    if name == "vq_vae" and prior is None:
        if need_prior:
            raise LoopkitError(f"{path} is the VQ-VAE; redrawing bars needs its LSTM prior: give the prior's "
                               "checkpoint (it names its VQ-VAE), or the prior beside this one")  # fmt: skip
        return first, None
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
    """``(name, best.pt)`` of the continuous VAE with the lowest best validation score in ``models_dir``
    (``MODEL/best.pt`` as chapter 2 writes them); the score is the one each run selected its best epoch by."""
    found = []
    for name in CONTINUOUS_MODELS:
        path = Path(models_dir) / name / "best.pt"
        if path.is_file():
            import torch

            best = torch.load(path, map_location="cpu", weights_only=True).get("best") or {}
            if "value" in best:
                found.append((float(best["value"]), name, path))
    if not found:
        raise FileNotFoundError(f"no trained continuous VAE (best.pt) under {models_dir}")
    _, name, path = min(found)
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


def safe_stem(source: str) -> str:
    """A file-name-safe stem of a source path."""
    name = Path(source).stem or "loop"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


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
    from tqdm.auto import tqdm

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
    from tqdm.auto import tqdm

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


# ---------------------------------------------------------------------------------------------------------
# the book's default loop


def held_out_loop(loops, split: str = "test") -> tuple[Path, int]:
    """``(MIDI file, 0-based start bar)`` of the first loop of ``split`` in a data set (``loopkit.load_loops``): a
    loop the models were not trained on. The recorded source is found as ``find_source`` finds it."""
    meta = loops.meta
    rows = meta[meta["split"] == split]
    if rows.empty:
        raise LoopkitError(f"the data set has no {split} loop")
    row = rows.iloc[0]
    return find_source(row["source"], loops.path), int(row["start_bar"])


def find_source(source: str, near: str | os.PathLike) -> Path:
    """A source as extraction recorded it (``loopkit.corpus``): a path, found from the working directory or from a
    folder above ``near``; or an archive member (``ARCHIVE!MEMBER``), read out of its archive (streamed) into
    ``near``'s parent folder (the run's output folder), ``held_out/MEMBER-NAME``."""
    from .corpus import MEMBER_SEPARATOR, iter_inputs

    def located(rec: Path) -> Path | None:
        candidates = [rec] if rec.is_absolute() else [rec, *(p / rec for p in Path(near).resolve().parents)]
        return next((p for p in candidates if p.is_file()), None)

    archive, sep, member = str(source).partition(MEMBER_SEPARATOR)
    if not sep:
        found = located(Path(source))
        if found is None:
            raise FileNotFoundError(f"the data set's source {source} is not there any more")
        return found
    path = located(Path(archive))
    if path is None:
        raise FileNotFoundError(f"the archive {archive} of the data set's source {source} is not there any more")
    target = Path(near).resolve().parent / "held_out" / safe_stem(member)
    target = target.with_suffix(Path(member).suffix or ".mid")
    if not target.is_file():
        wanted = f"{path}{MEMBER_SEPARATOR}{member}"
        target.parent.mkdir(parents=True, exist_ok=True)
        for entry in iter_inputs([str(path)]):
            if entry.source == wanted and entry.read is not None:
                write_bytes(target, entry.read())
                break
        else:
            raise FileNotFoundError(f"{archive} holds no member {member}")
    return target
