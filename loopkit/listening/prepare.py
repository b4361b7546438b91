"""Stimuli for the paper's listening test: loops picked per group, rendered to WAV under opaque ids, and a manifest.

A stimulus set is one folder::

    audio/<id>.wav   what listeners hear; ``id`` is 16 random hex digits (``secrets``), so neither the file
                     name nor the URL says anything about the group
    midi/<id>.mid    the same loop as MIDI, for the researcher (never served)
    plan.json        the picks and their ids, written first, so an interrupted run resumes with the same ids
    stimuli.json     the manifest, written last: per stimulus its id, role ("test" or "familiarisation"),
                     group, source, audio file, size and SHA-256. Group labels live here, server-side only.

The audio is 16-bit PCM WAV (``loopkit.outputs.audio.roll_to_wav``): a fixed-size container, 44 header bytes and the
samples, so every stimulus of a set has the same size and the same header, whatever it holds, and no byte of a
file but the samples themselves (what the listener hears) differs with the group. Compressed audio cannot do this:
an OGG's size follows what it holds (training loops took 135-161 KB, generated ones 150-156 KB), and padding OGGs
to one size only moved that size into the padding's length, which told the group 15 times in 40 against 8 by
chance. WAV costs about 1.4 MB per 16-second loop (44.1 kHz mono) where OGG took 160 KB.

Each group's loops come from a folder of .mid files (e.g. the output of ``loopkit generate``), a glob pattern,
or a loop data set's training split (``data:DIR``). ``per_group`` loops are drawn at random (seeded) from each
group for the test; the familiarisation loops are drawn from the loops left over, one group after another in a
seeded random group order (so listeners hear the range of the material before rating), unless
``familiarisation_group`` names the one group to take them from.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from loopkit.atomic import remove_temporaries, write_bytes
from loopkit.outputs.audio import AudioSettings, loop_seconds, roll_to_wav
from loopkit.data.dataset import load_loops
from loopkit.config import check_seed
from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import DEFAULT_BPM, LOOP_STEPS, N_COLUMNS, midi_to_roll, write_midi
from loopkit.version import __version__

MANIFEST = "stimuli.json"
PLAN = "plan.json"
AUDIO_DIR = "audio"
MIDI_DIR = "midi"
FORMAT = "loopkit-stimuli-2"  # 1: OGG padded to one size, whose padding's length told the group
AUDIO_SUFFIX = ".wav"
ROLES = ("test", "familiarisation")
ID_RE = re.compile(r"^[0-9a-f]{16}$")
MIDI_SUFFIXES = (".mid", ".midi")
DATA_PREFIX = "data:"


def new_stimulus_id() -> str:
    """16 random hex digits from the OS's secure generator: ids reveal nothing, not even to whoever knows the seed."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Candidate:
    """A loop that may be picked: where it comes from (``source``) and how to read its ``(128, 93)`` roll."""

    source: str
    load: Callable[[], np.ndarray] = field(compare=False, repr=False)


def _midi_loop(path: Path) -> np.ndarray:
    try:
        return midi_to_roll(path, steps=LOOP_STEPS)
    except Exception as exc:  # symusic raises RuntimeError/ValueError/IOError for broken files
        raise LoopkitError(f"{path}: not a readable 8-bar loop ({exc})") from None


def group_candidates(spec: str) -> list[Candidate]:
    """The loops a group can draw from, sorted by source.

    Parameters
    ----------
    spec : ``data:DIR`` (the training split of the loop data set at DIR), a folder (its .mid/.midi files), a
        glob pattern (the .mid/.midi files it matches) or a single .mid file
    """
    if spec.startswith(DATA_PREFIX):
        root = spec[len(DATA_PREFIX) :]
        train = load_loops(root).split("train")
        if len(train) == 0:
            raise LoopkitError(f"the data set at {root} has no loops in its training split")
        packed = train.rolls
        sources = train.meta["source"].astype(str).tolist()
        starts = train.meta["start_bar"].tolist()
        return [
            Candidate(f"{DATA_PREFIX}{root}#{i} ({src} bar {start})", (lambda i=i: packed[i]))
            for i, (src, start) in enumerate(zip(sources, starts))
        ]
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
        where = f"the folder {path}"
    elif path.is_file():
        if path.suffix.lower() not in MIDI_SUFFIXES:
            raise LoopkitError(f"{path} is not a .mid/.midi file")
        files, where = [path], str(path)
    elif globlib.has_magic(spec):
        files = sorted(Path(p) for p in globlib.glob(spec) if Path(p).suffix.lower() in MIDI_SUFFIXES)
        where = f"the pattern {spec}"
    else:
        raise FileNotFoundError(f"{spec} does not exist (give a folder of .mid files, a glob, or data:DIR)")
    if not files:
        raise FileNotFoundError(f"no .mid files in {where}")
    return [Candidate(str(p), (lambda p=p: _midi_loop(p))) for p in files]


def pick_stimuli(
    candidates: Mapping[str, Sequence[Candidate]],
    per_group: int,
    familiarisation: int,
    seed: int,
    familiarisation_group: str | None = None,
) -> list[tuple[str, str, Candidate]]:
    """Choose ``(role, group, candidate)`` triples: ``per_group`` test loops per group, then the familiarisation loops.

    Draws are seeded (``numpy.random.default_rng(seed)``) and depend only on the groups' names, order and
    sorted candidate lists.
    """
    if per_group < 1:
        raise LoopkitError(f"per-group must be at least 1, got {per_group}")
    if familiarisation < 0:
        raise LoopkitError(f"familiarisation must not be negative, got {familiarisation}")
    if familiarisation_group is not None and familiarisation_group not in candidates:
        raise LoopkitError(f"familiarisation group {familiarisation_group!r} is not one of the groups")
    rng = np.random.default_rng(seed)
    picks: list[tuple[str, str, Candidate]] = []
    left: dict[str, list[Candidate]] = {}
    for group, cands in candidates.items():
        if len(cands) < per_group:
            raise LoopkitError(f"group {group!r} has {len(cands)} loop(s), fewer than the {per_group} asked for")
        order = rng.permutation(len(cands))
        picks.extend(("test", group, cands[i]) for i in sorted(order[:per_group]))
        left[group] = [cands[i] for i in order[per_group:]]
    pool_groups = [familiarisation_group] if familiarisation_group else [g for g in candidates]
    available = sum(len(left[g]) for g in pool_groups)
    if familiarisation > available:
        raise LoopkitError(
            f"{familiarisation} familiarisation loop(s) asked for but only {available} loop(s) are left after "
            "the test loops: add loops or ask for fewer familiarisation loops"
        )
    cycle = [pool_groups[i] for i in rng.permutation(len(pool_groups))]
    chosen = 0
    while chosen < familiarisation:
        for group in cycle:
            if chosen < familiarisation and left[group]:
                picks.append(("familiarisation", group, left[group].pop(0)))
                chosen += 1
    return picks


@dataclass
class StimulusSet:
    """A prepared stimulus set (``load_stimuli``): the manifest and where its audio lies."""

    root: Path
    manifest: dict

    @property
    def stimuli(self) -> list[dict]:
        return self.manifest["stimuli"]

    @property
    def test_ids(self) -> list[str]:
        return [s["id"] for s in self.stimuli if s["role"] == "test"]

    @property
    def familiarisation_ids(self) -> list[str]:
        return [s["id"] for s in self.stimuli if s["role"] == "familiarisation"]

    @property
    def groups(self) -> list[str]:
        return list(self.manifest["groups"])

    def by_id(self) -> dict[str, dict]:
        return {s["id"]: s for s in self.stimuli}

    def audio_path(self, stimulus_id: str) -> Path:
        """The audio file of a known stimulus id (``KeyError`` for any other string)."""
        entry = self.by_id()[stimulus_id]
        return self.root / AUDIO_DIR / f"{entry['id']}{AUDIO_SUFFIX}"

    @property
    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the ids, roles and groups: ties a ratings database to its stimulus set."""
        text = "\n".join(f"{s['id']}\t{s['role']}\t{s['group']}" for s in self.stimuli)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_stimuli(path: str | os.PathLike, verify: bool = True) -> StimulusSet:
    """Read a stimulus set folder; with ``verify``, check every audio file is present with its recorded size."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        hint = " (interrupted: run the same `loopkit listen prepare` again)" if (root / PLAN).exists() else ""
        raise FileNotFoundError(f"no stimulus set at {root}: {MANIFEST} is missing{hint}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise LoopkitError(f"{manifest_path} is not valid JSON: {exc}") from None
    if manifest.get("format") == "loopkit-stimuli-1":
        raise LoopkitError(f"{manifest_path} is a stimulus set of an older loopkit (OGG padded to one size, whose "
                           "padding told groups apart): prepare it again in a new folder")  # fmt: skip
    if manifest.get("format") != FORMAT:
        raise LoopkitError(f"{manifest_path} is not a loopkit stimulus set (format {manifest.get('format')!r})")
    stimuli = StimulusSet(root, manifest)
    for s in stimuli.stimuli:
        if not ID_RE.match(s["id"]) or s["role"] not in ROLES:
            raise LoopkitError(f"{manifest_path}: bad stimulus entry {s.get('id')!r}")
        if verify:
            audio = root / AUDIO_DIR / f"{s['id']}{AUDIO_SUFFIX}"
            if not audio.is_file() or audio.stat().st_size != s["bytes"]:
                raise FileNotFoundError(f"{audio} is missing or damaged: prepare the stimulus set again")
    if not stimuli.test_ids:
        raise LoopkitError(f"{manifest_path} holds no test stimuli")
    return stimuli


def _plan_key(groups, per_group, familiarisation, seed, familiarisation_group, bpm, repeats, settings) -> dict:
    return {
        "groups": dict(groups),
        "per_group": per_group,
        "familiarisation": familiarisation,
        "familiarisation_group": familiarisation_group,
        "seed": seed,
        "bpm": bpm,
        "repeats": repeats,
        "audio": asdict(settings),
    }


def prepare_stimuli(
    groups: Mapping[str, str],
    out: str | os.PathLike,
    per_group: int = 10,
    familiarisation: int = 3,
    seed: int = 0,
    bpm: float = DEFAULT_BPM,
    repeats: int = 1,
    settings: AudioSettings | None = None,
    familiarisation_group: str | None = None,
    progress: bool = True,
) -> StimulusSet:
    """Pick, render and describe a stimulus set (see the module docstring); returns it loaded.

    Parameters
    ----------
    groups : group name -> source (``data:DIR``, a folder of .mid files, a glob or a .mid file), in display order
    out : the stimulus set folder; re-running the same call after an interruption finishes it with the same ids;
        a folder holding a different set is refused
    per_group : test loops per group (the paper: 10)
    familiarisation : loops heard before the test, not rated (the paper: 3)
    seed : seeds the picks (not the ids, which are random)
    bpm, repeats, settings : how each loop is rendered (``loopkit.outputs.audio``)
    familiarisation_group : take the familiarisation loops from this group only
    progress : show a tqdm bar
    """
    from tqdm import tqdm

    settings = settings or AudioSettings()
    seed = check_seed(seed)
    out = Path(out)
    key = _plan_key(groups, per_group, familiarisation, seed, familiarisation_group, bpm, repeats, settings)
    plan_path = out / PLAN
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
        if plan.get("key") != key:
            raise LoopkitError(
                f"{out} already holds a stimulus set prepared with other settings: choose another folder or "
                "delete this one"
            )
        if (out / MANIFEST).exists():
            return load_stimuli(out)
        for folder in (out, out / AUDIO_DIR, out / MIDI_DIR):  # what a kill mid-write left
            if folder.is_dir():
                remove_temporaries(folder)
    else:
        if out.exists() and any(out.iterdir()):
            raise LoopkitError(f"{out} exists and is not empty: choose a new folder for the stimulus set")
        candidates = {name: group_candidates(spec) for name, spec in groups.items()}
        picks = pick_stimuli(candidates, per_group, familiarisation, seed, familiarisation_group)
        ids: set[str] = set()
        entries = []
        for role, group, cand in picks:
            sid = new_stimulus_id()
            while sid in ids:
                sid = new_stimulus_id()
            ids.add(sid)
            entries.append({"id": sid, "role": role, "group": group, "source": cand.source})
        plan = {"key": key, "stimuli": entries}
        out.mkdir(parents=True, exist_ok=True)
        write_bytes(plan_path, (json.dumps(plan, indent=2) + "\n").encode())

    (out / AUDIO_DIR).mkdir(exist_ok=True)
    (out / MIDI_DIR).mkdir(exist_ok=True)
    by_source: dict[str, dict[str, Candidate]] = {}
    stimuli = []
    for entry in tqdm(plan["stimuli"], desc="stimuli", unit="loop", disable=None if progress else True):
        audio_path = out / AUDIO_DIR / f"{entry['id']}{AUDIO_SUFFIX}"
        if not audio_path.exists():
            if entry["group"] not in by_source:
                by_source[entry["group"]] = {c.source: c for c in group_candidates(groups[entry["group"]])}
            cand = by_source[entry["group"]].get(entry["source"])
            if cand is None:
                raise FileNotFoundError(
                    f"{entry['source']} has gone since the stimulus set was planned: delete {out} to plan it again"
                )
            roll = np.asarray(cand.load(), dtype=bool)
            if roll.shape != (LOOP_STEPS, N_COLUMNS):
                raise LoopkitError(f"{entry['source']}: expected a ({LOOP_STEPS}, {N_COLUMNS}) loop, got {roll.shape}")
            try:
                data = roll_to_wav(roll, bpm=bpm, repeats=repeats, settings=settings)
            except ValueError as exc:  # e.g. an empty loop: nothing to hear
                raise LoopkitError(
                    f"{entry['source']} (group {entry['group']!r}): {exc}; replace or remove it and delete {out} "
                    "to plan the stimulus set again"
                ) from None
            write_midi(roll, out / MIDI_DIR / f"{entry['id']}.mid", bpm=bpm)
            write_bytes(audio_path, data)

    sizes = {e["id"]: (out / AUDIO_DIR / f"{e['id']}{AUDIO_SUFFIX}").stat().st_size for e in plan["stimuli"]}
    if len(set(sizes.values())) != 1:  # one duration, one format: a difference is a bug, and would tell groups apart
        raise RuntimeError(f"internal error: the stimuli's audio files differ in size ({sorted(set(sizes.values()))})")
    for entry in plan["stimuli"]:
        data = (out / AUDIO_DIR / f"{entry['id']}{AUDIO_SUFFIX}").read_bytes()
        stimuli.append(
            {
                **entry,
                "audio": f"{AUDIO_DIR}/{entry['id']}{AUDIO_SUFFIX}",
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "seconds": round(loop_seconds(LOOP_STEPS, bpm, repeats) + settings.tail, 6),
            }
        )

    manifest = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "loopkit_version": __version__,
        "groups": dict(groups),
        "settings": key,
        "stimuli": stimuli,
    }
    write_bytes(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return load_stimuli(out)
