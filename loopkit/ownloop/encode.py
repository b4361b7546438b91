"""Your own loop (beyond the paper, built on its representation, its VQ-VAE and prior and its continuous VAEs): a
musician's MIDI file encoded to the VQ-VAE's codes, with every result written as MIDI a DAW opens (what ``loopkit
encode`` does and what ``vary``, ``interpolate`` and the last section of chapter 3 start from).

Reading the file into one loop is ``loopkit.ownloop.reader`` (``read_loop``), with the same code as extraction; varying
the codes is ``loopkit.ownloop.variations``, interpolating ``loopkit.ownloop.interpolation``. An encoding is measured
against the empty loop (``loopkit.ownloop.resemblance``): a sparse loop decoded to silence has a small Hamming distance
and keeps nothing. ``codes.json`` (``write_encoding``) is a file a musician may edit: ``read_codes`` and
``check_codes_model`` check every field they use and name the file in a one-line error.

Bars are 0-based in the functions' arguments (as everywhere in loopkit) and 1-based in file names, CSV columns
and messages (as a DAW counts them). Every file is written atomically; the same inputs and seed write the same
bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loopkit.outputs import audio as audio_mod
from loopkit.atomic import write_bytes, write_json
from loopkit.models.checkpoints import BEST, file_digest, load_generator, load_model, model_name
from loopkit.config import PAPER_NAMES, PRIOR_NAME
from loopkit.runlock import hold_folder
from loopkit.errors import LoopkitError
from loopkit.ownloop.reader import LoopReading, loop_stem
from loopkit.data.rules import bar_hamming
from loopkit.data.pianoroll import BARS_PER_LOOP, BASS_COLUMNS, LOOP_STEPS, MAX_BPM, check_roll, drum_column, write_midi
from loopkit.outputs.plots import write_pianoroll_png
from loopkit.ownloop.resemblance import MIN_SHARE_REMOVED, SPARSE_BARS, Resemblance, resemblance
from loopkit.generation.sampling import decode_codes
from loopkit.version import __version__

#: The format tag of ``codes.json``.
CODES_FORMAT = "loopkit-codes-1"
CODES_FILE = "codes.json"
VARIATIONS_FILE = "variations.csv"
INTERPOLATION_FILE = "interpolation.csv"
#: Larger than any codebook: a code index beyond it is refused before it reaches numpy (no overflow).
MAX_CODE_INDEX = 2**31


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
    ``loopkit.models.checkpoints.load_generator`` does). ``need_prior``: a VQ-VAE alone needs its prior, found as
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


# ---------------------------------------------------------------------------------------------------------
# encoding


@dataclass
class EncodedLoop:
    """A loop read from MIDI and encoded: ``codes`` (t,), ``decoded`` (128, 93) bool (the codes decoded) and how
    much of the loop read the decoding keeps, against the empty loop (``resemblance``)."""

    reading: LoopReading
    codes: np.ndarray
    decoded: np.ndarray
    resemblance: Resemblance
    checkpoint: dict = field(default_factory=dict)

    @property
    def cells(self) -> int:
        """Cells where the decoding differs from the loop read."""
        return self.resemblance.cells

    @property
    def hamming(self) -> float:
        """Differing cells / 11,904."""
        return self.resemblance.hamming

    def problem(self) -> str | None:
        """What makes this encoding untrustworthy, in one clause, or None: a (nearly) empty loop (a part sounding in
        fewer than ``SPARSE_BARS`` of its bars), or a decoding (nearly) no closer to the loop than the empty loop is
        (``Resemblance.near_silence``)."""
        res = self.resemblance
        sparse = res.sparse_parts()
        if sparse:
            counts = ", ".join(f"{p} {res.parts[p].bars}" for p in sparse)
            return f"the loop is nearly empty (bars with notes, of {BARS_PER_LOOP}: {counts}; fewer than {SPARSE_BARS})"
        if res.near_silence:
            how = "no" if res.cells >= res.empty_cells else "hardly"
            return (f"the decoded loop is {how} closer to the input than an empty loop ({res.cells:,} cells differ, the "
                    f"empty loop's {res.empty_cells:,}; under {MIN_SHARE_REMOVED:.0%} of its error removed): its codes "
                    "do not represent this loop")
        return None


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
    return EncodedLoop(reading, codes, decoded, resemblance(reading.roll, decoded), checkpoint_record(vqvae))


def write_loop_files(roll, out: Path, stem: str, bpm: float, *, png: bool = True, audio: bool = False,
                     title: str | None = None, seamless: bool = False) -> dict:  # fmt: skip
    """``STEM.mid`` (+ ``.png``, + ``.ogg``) for one loop at ``bpm``, each atomically; returns {kind: file name}.
    A silent loop gets no OGG (``"ogg": None``); ``seamless`` OGGs last exactly the loop (``loopkit.outputs.audio``)."""
    files = {"mid": f"{stem}.mid"}
    write_midi(roll, out / files["mid"], bpm=bpm)
    if png:
        files["png"] = f"{stem}.png"
        write_pianoroll_png(roll, out / files["png"], title=title or stem)
    if audio:
        files["ogg"] = None
        if np.asarray(roll).any():
            try:
                audio_mod.write_ogg(roll, out / f"{stem}.ogg", bpm=bpm, seamless=seamless)
                files["ogg"] = f"{stem}.ogg"
            except audio_mod.InaudibleAudioError:
                pass
    return files


def write_encoding(enc: EncodedLoop, out: str | os.PathLike, *, png: bool = True, audio: bool = False,
                   seamless: bool = False) -> dict:  # fmt: skip
    """Write an encoded loop into ``out``: the loop as read (``STEM_barsA-B.npy``, ``.mid``, ``.png``, ``.ogg``), the
    decoded codes (``STEM_barsA-B_decoded.*``) and ``codes.json``; returns what ``codes.json`` holds."""
    with hold_folder(out, f"encoding {enc.reading.stem}"):  # one writer of a folder at a time
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        r = enc.reading
        stem = r.stem
        buf = io.BytesIO()
        np.save(buf, r.roll)
        write_bytes(out / f"{stem}.npy", buf.getvalue())
        files = {"roll": f"{stem}.npy"}
        files["input"] = write_loop_files(r.roll, out, stem, r.bpm, png=png, audio=audio, title=f"{stem} (as read)",
                                          seamless=seamless)  # fmt: skip
        files["decoded"] = write_loop_files(enc.decoded, out, f"{stem}_decoded", r.bpm, png=png, audio=audio,
                                            title=f"{stem} (VQ-VAE codes decoded)", seamless=seamless)  # fmt: skip
        doc = {
            "format": CODES_FORMAT,
            "codes": [int(c) for c in enc.codes],
            **r.to_dict(),
            "reconstruction": enc.resemblance.to_dict(),
            "checkpoint": enc.checkpoint,
            "files": files,
            "loopkit_version": __version__,
        }
        write_json(out / CODES_FILE, doc, indent=2, sort_keys=True)
        return doc


# ---------------------------------------------------------------------------------------------------------
# codes.json, read back


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _codes_field(path: Path, codes) -> np.ndarray:
    """The ``codes`` of a codes file as (t,) int64: a list of whole numbers 0 .. ``MAX_CODE_INDEX`` - 1."""
    if not isinstance(codes, list) or not codes:
        raise LoopkitError(f"{path}: its codes are not a list of code indices")
    for i, c in enumerate(codes):
        if not _whole(c):
            raise LoopkitError(f"{path}: code {c!r} at latent step {i} is not a whole number (a code is an index "
                               "into the codebook)")  # fmt: skip
        if not 0 <= c < MAX_CODE_INDEX:
            raise LoopkitError(f"{path}: code {c} at latent step {i} lies outside any codebook")
    return np.asarray(codes, dtype=np.int64)


def _roll_field(path: Path, name) -> np.ndarray | None:
    """The loop as read (128, 93) from the ``.npy`` that ``files.roll`` names, relative to the codes file and inside
    its folder (read without pickles); None when the file is not there."""
    if name is None:
        return None
    if not isinstance(name, str) or not name or os.path.isabs(name):
        raise LoopkitError(f"{path}: files.roll must be a file name relative to the codes file, got {name!r}")
    folder = path.parent.resolve()
    target = (folder / name).resolve()
    if folder not in target.parents:
        raise LoopkitError(f"{path}: files.roll {name!r} points outside the codes file's folder {folder}")
    if not target.is_file():
        return None
    try:
        roll = np.load(target, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LoopkitError(f"{target} (files.roll of {path}) is not a roll saved by loopkit ({first})") from None
    try:
        roll = check_roll(roll)
    except LoopkitError as exc:
        raise LoopkitError(f"{target} (files.roll of {path}): {exc}") from None
    if roll.shape[0] != LOOP_STEPS:
        raise LoopkitError(f"{target} (files.roll of {path}) holds {roll.shape[0]} steps; a loop has {LOOP_STEPS}")
    return roll


def read_codes(path: str | os.PathLike) -> dict:
    """A ``codes.json`` written by ``write_encoding``, every field that ``loopkit vary`` and ``interpolate`` use
    checked (the file may have been edited by hand): ``codes`` (whole numbers, as an int64 array (t,)), ``bpm``,
    ``source``, ``first_bar`` and ``last_bar``, ``tempo_changes`` (returned as ((0-based bar, bpm), ...)), and
    ``"roll"`` added: the loop as read (128, 93) when the ``.npy`` that ``files.roll`` names is beside it, else
    None. The codebook and t are checked against a model by ``check_codes_model``. Raises ``LoopkitError`` with
    one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no codes file at {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise LoopkitError(f"{path} is not a codes.json written by loopkit encode ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CODES_FORMAT:
        raise LoopkitError(f"{path} is not a codes file (format {CODES_FORMAT})")
    doc["codes"] = _codes_field(path, doc.get("codes"))
    bpm = doc.get("bpm")
    if not _number(bpm) or not 0 < bpm <= MAX_BPM:
        raise LoopkitError(f"{path}: bpm must be a tempo above 0 and at most {MAX_BPM:g}, got {bpm!r}")
    doc["bpm"] = float(bpm)
    if not isinstance(doc.get("source"), str):
        raise LoopkitError(f"{path}: source must be the MIDI file's name, got {doc.get('source')!r}")
    first, last, repeated = doc.get("first_bar"), doc.get("last_bar"), doc.get("repeated", 1)
    if repeated not in (1, 2) or not (_whole(first) and _whole(last) and first >= 1 and
                                      last == first + BARS_PER_LOOP // repeated - 1):  # fmt: skip
        raise LoopkitError(f"{path}: first_bar and last_bar must be the loop's bars, {BARS_PER_LOOP} apart from bar 1 "
                           f"on (4 with repeated 2), got {first!r} and {last!r}")  # fmt: skip
    doc["repeated"] = repeated
    doc["stem"] = loop_stem(doc["source"], first, last, repeated)
    changes = doc.get("tempo_changes") or []
    if not isinstance(changes, list) or not all(
            isinstance(c, dict) and _whole(c.get("bar")) and _number(c.get("bpm")) for c in changes):  # fmt: skip
        raise LoopkitError(f"{path}: tempo_changes must be a list of {{\"bar\": N, \"bpm\": X}}")
    doc["tempo_changes"] = tuple((int(c["bar"]) - 1, float(c["bpm"])) for c in changes)
    files = doc.get("files")
    if files is not None and not isinstance(files, dict):
        raise LoopkitError(f"{path}: files must be a mapping of the files written beside it")
    doc["roll"] = _roll_field(path, (files or {}).get("roll"))
    return doc


def check_codes_model(doc: dict, vqvae, where: str = "the codes") -> None:
    """Raise unless codes read by ``read_codes`` fit this VQ-VAE: encoded by the same checkpoint (digest), exactly
    its t codes, each within its codebook."""
    recorded = (doc.get("checkpoint") or {}).get("digest") if isinstance(doc.get("checkpoint"), dict) else None
    own = (getattr(vqvae, "checkpoint", None) or {}).get("path")
    if recorded and own and file_digest(own) != recorded:
        raise LoopkitError(f"{where} come from another VQ-VAE (digest {recorded}) than {own} ({file_digest(own)}): "
                           "encode the MIDI file again with this one")  # fmt: skip
    codes = np.asarray(doc["codes"])
    if len(codes) != vqvae.latent_steps:
        raise LoopkitError(f"{where} hold {len(codes)} codes; this VQ-VAE has {vqvae.latent_steps} latent steps")
    outside = np.nonzero((codes < 0) | (codes >= vqvae.codebook_size))[0]
    if len(outside):
        i = int(outside[0])
        raise LoopkitError(f"{where}: code {int(codes[i])} at latent step {i} lies outside this VQ-VAE's codebook "
                           f"(0..{vqvae.codebook_size - 1})")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# what variations and interpolations share


def loop_properties(loops) -> dict[str, np.ndarray]:
    """The paper's loop properties of each loop (b, 128, 93): FND and FNB (0/1: kick and crash / a bass note on the
    first step) and HD (bar 1 vs bar 5, per-bar normalised, as ``loopkit.metrics.paper_metrics.ham_dist``)."""
    x = np.asarray(loops, dtype=bool)
    if x.ndim == 2:
        x = x[None]
    first = x[:, 0]
    return {
        "fnd": (first[:, drum_column("kick")] & first[:, drum_column("crash")]).astype(int),
        "fnb": first[:, BASS_COLUMNS].any(axis=1).astype(int),
        "hd": np.atleast_1d(bar_hamming(x)),
    }


def hamming_to(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-cell Hamming distance of each loop of ``a`` (b, 128, 93) to one loop ``b`` (128, 93)."""
    return np.count_nonzero(a != b[None], axis=(1, 2)) / b.size


def csv_text(rows: list[dict]) -> str:
    """Rows (dicts with the same keys) as CSV text with a header."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
