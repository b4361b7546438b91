"""Loops as sound: roll -> MIDI -> FluidSynth -> OGG Vorbis, checked audible (the players of the book are in
``loopkit.book.display``).

The paper's appendix ("How to Play Pianoroll Representation") plays a roll as MIDI (consecutive active steps of
one pitch are one note, bass velocity 80, drums 100: ``loopkit.data.pianoroll.roll_to_score``) through FluidSynth.
This module does the same with pyfluidsynth over the system's libfluidsynth, driving the synthesiser itself
(no MIDI player, no audio driver): every note-on and note-off is sent at its exact sample, and the samples in
between are pulled with ``fluid_synth_write_float``. The default sound font is the General MIDI one that
pretty_midi ships (``TimGM6mb.sf2``); any ``.sf2``/``.sf3`` is a setting (``AudioSettings.soundfont`` or the
``LOOPKIT_SOUNDFONT`` environment variable). ``synthesize_roll`` renders a roll, ``roll_to_ogg`` encodes it
(``roll_to_wav`` as 16-bit PCM WAV, whose size depends on the duration alone: the listening test's stimuli);
``expand_inputs`` and ``render_jobs`` turn files and folders into the loops ``loopkit render`` renders.

Bass and drums are rendered as two stems and mixed by summing them (FluidSynth is linear: the sum is the mix).
Each stem is checked where its part has notes: a part with notes whose stem stays below
``AudioSettings.min_part_rms_db`` there raises ``InaudibleAudioError``, as does a roll with no notes at all.

The OGG defaults (44.1 kHz mono Vorbis, soundfile ``compression_level`` 0.6) give about 150 KB per 16-second
loop (8 bars at 120 bpm), small enough to embed in a book page as a ``data:`` URI (``loopkit.book.display.audio_grid``).
Every OGG gets one fixed Ogg stream serial number (``fix_ogg_serial``), so the same loop renders to the same bytes.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import io
import os
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from loopkit.atomic import write_bytes
from loopkit.data.dataset import PACKED_BYTES, unpack_rolls
from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import (
    DEFAULT_BPM,
    LOOP_STEPS,
    N_COLUMNS,
    STEPS_PER_BEAT,
    check_roll,
    midi_to_roll,
    read_score,
    roll_to_score,
)

SOUNDFONT_ENV = "LOOPKIT_SOUNDFONT"
SOUNDFONT_SUFFIXES = (".sf2", ".sf3")
#: The two stems a loop is rendered as; ``Rendering.stems`` and the audibility check use these names.
PARTS = ("bass", "drums")
#: GM drum channel (0-based) and the sound font bank of drum kits.
_DRUM_CHANNEL = 9
_DRUM_BANK = 128


class InaudibleAudioError(LoopkitError):
    """A rendering is silent, or a part (bass or drums) that has notes cannot be heard in it."""


#: The longest audio one rendering makes (end + tail), and the longest tail or fade: every sample is held in
#: memory as float32 (20 minutes at 44.1 kHz: 212 MB a channel, and as much again per part's stem).
MAX_AUDIO_SECONDS = 1200.0
MAX_TAIL_SECONDS = 60.0


def check_duration(steps: int, bpm: float, repeats: int, tail: float = 0.0) -> float:
    """The seconds of ``repeats`` plays of a ``steps``-step roll at ``bpm`` plus ``tail``, checked before any
    work: ``repeats`` a whole number of at least 1, the whole at most ``MAX_AUDIO_SECONDS``; else ``LoopkitError``."""
    if isinstance(repeats, float) and not repeats.is_integer() or not repeats >= 1:
        raise LoopkitError(f"repeats must be a whole number of at least 1, got {repeats}")
    if not bpm > 0:
        raise LoopkitError(f"tempo must be positive, got {bpm} bpm")
    seconds = loop_seconds(steps, bpm, 1) * repeats + tail
    if not seconds <= MAX_AUDIO_SECONDS:
        raise LoopkitError(f"the audio would last {seconds:,.0f} s ({int(repeats):,} play(s) of "
                           f"{loop_seconds(steps, bpm):.1f} s and a tail of {tail:g} s): at most "
                           f"{MAX_AUDIO_SECONDS:,.0f} s is rendered")  # fmt: skip
    return seconds


@dataclass(frozen=True)
class AudioSettings:
    """How loops are rendered and encoded.

    Attributes
    ----------
    sample_rate : Hz of the synthesiser and of the OGG file
    channels : 1 (mono, the default: half the bytes of stereo) or 2 (the sound font's stereo panning)
    compression_level : soundfile's Vorbis setting, 0 (best quality, biggest) .. 1 (smallest); 0.6 gives about
        150 KB per 16-second loop at 44.1 kHz mono
    gain : FluidSynth's master gain
    tail : seconds rendered after the last step, so the last notes and the reverb ring out
    reverb : FluidSynth's reverb and chorus on (its defaults) or off
    soundfont : path of a .sf2/.sf3; None: ``$LOOPKIT_SOUNDFONT`` or pretty_midi's ``TimGM6mb.sf2``
    min_part_rms_db : a part is heard when its stem's RMS inside its notes reaches this level (dB full scale)
    fade : seconds of linear fade-out at the very end (avoids a click when the tail is cut)
    """

    sample_rate: int = 44_100
    channels: int = 1
    compression_level: float = 0.6
    gain: float = 0.8
    tail: float = 0.5
    reverb: bool = True
    soundfont: str | None = None
    min_part_rms_db: float = -60.0
    fade: float = 0.02

    def __post_init__(self):
        if not 8_000 <= int(self.sample_rate) <= 192_000:
            raise LoopkitError(f"sample rate must be 8000..192000 Hz, got {self.sample_rate}")
        if self.channels not in (1, 2):
            raise LoopkitError(f"channels must be 1 or 2, got {self.channels}")
        if not 0.0 <= self.compression_level <= 1.0:
            raise LoopkitError(f"compression level must be within 0..1, got {self.compression_level}")
        if not self.gain > 0:
            raise LoopkitError(f"gain must be positive, got {self.gain}")
        for name in ("tail", "fade"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_TAIL_SECONDS:  # NaN too
                raise LoopkitError(f"{name} must lie in 0..{MAX_TAIL_SECONDS:g} seconds, got {value}")


@dataclass
class Rendering:
    """The audio of one roll or score.

    Attributes
    ----------
    audio : (n,) float32 mono or (n, 2) stereo mix, full scale = 1.0
    sample_rate : Hz
    stems : part name ("bass", "drums") -> the part's audio, same shape as ``audio``
    part_rms_db : part name -> RMS of its stem inside its notes (dB full scale); absent for a part with no notes
    scaled : the factor applied to keep the mix's peak under full scale (1.0 when no scaling was needed)
    """

    audio: np.ndarray
    sample_rate: int
    stems: dict[str, np.ndarray] = field(default_factory=dict)
    part_rms_db: dict[str, float] = field(default_factory=dict)
    scaled: float = 1.0

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.audio) / self.sample_rate


# ---------------------------------------------------------------------------------------------------------
# the synthesiser


def default_soundfont() -> Path:
    """The sound font used when none is set: ``$LOOPKIT_SOUNDFONT``, else pretty_midi's ``TimGM6mb.sf2``."""
    env = os.environ.get(SOUNDFONT_ENV)
    if env:
        return Path(env)
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"no sound font: install pretty_midi (it ships TimGM6mb.sf2) or set {SOUNDFONT_ENV} to a .sf2/.sf3 file"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "TimGM6mb.sf2"


def resolve_soundfont(soundfont: str | os.PathLike | None = None) -> Path:
    """The sound font file to use, checked to exist and to be a .sf2 or .sf3."""
    path = Path(soundfont) if soundfont else default_soundfont()
    if path.suffix.lower() not in SOUNDFONT_SUFFIXES:
        raise LoopkitError(f"sound font {path} is not a .sf2 or .sf3 file")
    if not path.is_file():
        raise FileNotFoundError(f"sound font {path} does not exist")
    return path


def _fluidsynth():
    try:
        import fluidsynth
    except ImportError as exc:  # pyfluidsynth missing, or libfluidsynth not found by it
        raise RuntimeError(
            "FluidSynth is not available: install libfluidsynth3 (Debian) and pyfluidsynth (pip)"
        ) from exc
    return fluidsynth


def _float_writer(fluidsynth):
    """``fluid_synth_write_float`` from the loaded library, or None (then 16-bit output is used)."""
    lib = getattr(fluidsynth, "_fl", None)
    fn = getattr(lib, "fluid_synth_write_float", None) if lib is not None else None
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                   ctypes.c_void_p, ctypes.c_int, ctypes.c_int]  # fmt: skip
    fn.restype = ctypes.c_int
    return fn


def _synth_events(events: list[tuple[int, int, int, int, int]], programs: Mapping[int, tuple[int, int]],
                  n_samples: int, settings: AudioSettings, soundfont: Path) -> np.ndarray:  # fmt: skip
    """Run one FluidSynth instance over ``(sample, on, channel, key, velocity)`` events: ``(n, 2)`` float32."""
    fluidsynth = _fluidsynth()
    kwargs = {}
    if not settings.reverb:
        kwargs = {"synth.reverb.active": 0, "synth.chorus.active": 0}
    synth = fluidsynth.Synth(gain=float(settings.gain), samplerate=int(settings.sample_rate), **kwargs)
    try:
        sfid = synth.sfload(str(soundfont))
        if sfid == -1:
            raise LoopkitError(f"FluidSynth could not load the sound font {soundfont}")
        for channel, (bank, program) in programs.items():
            if synth.program_select(channel, sfid, bank, program) == -1 and synth.program_select(
                channel, sfid, bank, 0
            ) == -1:
                raise LoopkitError(f"the sound font {soundfont} has no preset for bank {bank}, program {program}")
        out = np.zeros((n_samples, 2), dtype=np.float32)
        write = _float_writer(fluidsynth)
        pos = 0

        def advance(to: int) -> None:
            nonlocal pos
            to = min(to, n_samples)
            if to <= pos:
                return
            if write is not None:
                view = out[pos:to]
                ptr = view.ctypes.data
                write(synth.synth, to - pos, ptr, 0, 2, ptr, 1, 2)
            else:
                out[pos:to] = synth.get_samples(to - pos).reshape(-1, 2) / 32768.0
            pos = to

        for sample, on, channel, key, velocity in sorted(events):
            advance(sample)
            if on:
                synth.noteon(channel, key, velocity)
            else:
                synth.noteoff(channel, key)
        advance(n_samples)
        return out
    finally:
        synth.delete()


def _rms_db(x: np.ndarray) -> float:
    if x.size == 0:
        return -np.inf
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20 * np.log10(rms) if rms > 0 else -np.inf


def check_parts_heard(
    stems: Mapping[str, np.ndarray],
    windows: Mapping[str, Sequence[tuple[int, int]]],
    min_rms_db: float = AudioSettings.min_part_rms_db,
) -> dict[str, float]:
    """RMS (dB full scale) of each part's stem inside its note windows; raise if a part with notes is not heard.

    Parameters
    ----------
    stems : part name -> (n,) or (n, c) audio
    windows : part name -> ``[(first_sample, end_sample), ...]`` where the part has notes; an empty list means
        the part has no notes and is not checked
    min_rms_db : the level a part must reach inside its windows

    Raises
    ------
    InaudibleAudioError
        when no part has notes (nothing to hear), or a part with notes stays below ``min_rms_db``
    """
    levels: dict[str, float] = {}
    for part, spans in windows.items():
        if not len(spans):
            continue
        audio = np.asarray(stems[part])
        mask = np.zeros(len(audio), dtype=bool)
        for a, b in spans:
            mask[max(int(a), 0) : max(int(b), 0)] = True
        levels[part] = float(_rms_db(audio[mask]))
    if not levels:
        raise InaudibleAudioError("nothing to render: the roll has no bass or drum notes, the audio would be silent")
    quiet = [p for p, db in levels.items() if not db >= min_rms_db]
    if quiet:
        detail = ", ".join(f"{p} at {levels[p]:.1f} dBFS" for p in quiet)
        raise InaudibleAudioError(
            f"{' and '.join(quiet)} cannot be heard ({detail}, below {min_rms_db:.0f} dBFS where the notes are): "
            "check the sound font"
        )
    return levels


def synthesize(score, settings: AudioSettings | None = None, end: float | None = None) -> Rendering:
    """Render a ``symusic.Score`` (any time unit; tempo changes honoured) with FluidSynth, checked audible.

    Drum tracks play on the GM drum channel (bank 128, the track's program as drum kit); every other track on
    its own channel with its program. Drum tracks form the "drums" stem, all others the "bass" stem.

    Parameters
    ----------
    score : the music
    settings : rendering settings (``AudioSettings()`` by default)
    end : seconds at which the music ends (the tail is added after it); default: the score's last note-off

    Returns
    -------
    Rendering whose audio lasts ``end + settings.tail`` seconds
    """
    settings = settings or AudioSettings()
    soundfont = resolve_soundfont(settings.soundfont)
    sr = int(settings.sample_rate)
    seconds = score.to("second")
    if end is None:
        end = float(seconds.end()) if len(seconds.tracks) else 0.0
    if not end + settings.tail <= MAX_AUDIO_SECONDS:
        raise LoopkitError(f"the audio would last {end + settings.tail:,.0f} s: at most {MAX_AUDIO_SECONDS:,.0f} s is "
                           "rendered")  # fmt: skip
    n_samples = int(round((end + settings.tail) * sr))

    events: dict[str, list] = {p: [] for p in PARTS}
    programs: dict[str, dict[int, tuple[int, int]]] = {p: {} for p in PARTS}
    windows: dict[str, list[tuple[int, int]]] = {p: [] for p in PARTS}
    min_window = int(round(0.05 * sr))
    free_channels = [c for c in range(16) if c != _DRUM_CHANNEL]
    for track in seconds.tracks:
        if track.is_drum:
            part, channel, bank = "drums", _DRUM_CHANNEL, _DRUM_BANK
        else:
            if not free_channels:
                raise LoopkitError("more than 15 pitched tracks: too many to render on the 16 MIDI channels")
            part, channel, bank = "bass", free_channels.pop(0), 0
        programs[part][channel] = (bank, int(track.program))
        for note in track.notes:
            start = int(round(float(note.time) * sr))
            stop = max(int(round(float(note.time + note.duration) * sr)), start + 1)
            if start >= n_samples:
                continue
            events[part].append((start, 1, channel, int(note.pitch), int(note.velocity)))
            events[part].append((stop, 0, channel, int(note.pitch), 0))
            windows[part].append((start, max(stop, start + min_window)))

    stems: dict[str, np.ndarray] = {}
    for part in PARTS:
        if events[part]:
            stereo = _synth_events(events[part], programs[part], n_samples, settings, soundfont)
        else:
            stereo = np.zeros((n_samples, 2), dtype=np.float32)
        stems[part] = (stereo[:, 0] + stereo[:, 1]) * np.float32(0.5) if settings.channels == 1 else stereo
    levels = check_parts_heard(stems, windows, settings.min_part_rms_db)

    mix = sum(stems.values())
    peak = float(np.max(np.abs(mix), initial=0.0))
    scale = 0.99 / peak if peak > 0.99 else 1.0
    fade = min(int(round(settings.fade * sr)), n_samples)
    ramp = np.ones(n_samples, dtype=np.float32)
    if fade:
        ramp[n_samples - fade :] = np.linspace(1.0, 0.0, fade, dtype=np.float32)
    if settings.channels == 2:
        ramp = ramp[:, None]
    gain = (ramp * np.float32(scale)).astype(np.float32)
    mix = (mix * gain).astype(np.float32, copy=False)
    stems = {p: (s * gain).astype(np.float32, copy=False) for p, s in stems.items()}
    return Rendering(audio=mix, sample_rate=sr, stems=stems, part_rms_db=levels, scaled=scale)


def loop_seconds(steps: int = LOOP_STEPS, bpm: float = DEFAULT_BPM, repeats: int = 1) -> float:
    """Duration of ``repeats`` plays of a ``steps``-step roll at ``bpm`` (4 steps a beat): 16 s for 8 bars at 120."""
    return repeats * steps * 60.0 / (STEPS_PER_BEAT * bpm)


def synthesize_roll(roll: np.ndarray, bpm: float = DEFAULT_BPM, repeats: int = 1,
                    settings: AudioSettings | None = None, seamless: bool = False) -> Rendering:  # fmt: skip
    """Render a ``(t, 93)`` roll (a loop or a song), played ``repeats`` times back to back at ``bpm``.

    The roll becomes MIDI with ``loopkit.data.pianoroll.roll_to_score`` (the paper's playback rules) and is rendered
    by ``synthesize``; the audio lasts ``loop_seconds(t, bpm, repeats) + settings.tail`` seconds. ``seamless``: for a
    player or a DAW that repeats the file, it lasts exactly ``loop_seconds(t, bpm, repeats)``, with what rings on
    after the last step added onto the start (``fold_tail``) and no fade-out.
    """
    roll = check_roll(roll)
    settings = settings or AudioSettings()
    check_duration(len(roll), bpm, repeats, settings.tail)  # before tiling the roll: a bound on memory
    played = np.tile(roll, (int(repeats), 1))
    seconds = loop_seconds(len(roll), bpm, int(repeats))
    if not seamless:
        return synthesize(roll_to_score(played, bpm=bpm), settings, end=seconds)
    rendering = synthesize(roll_to_score(played, bpm=bpm), replace(settings, fade=0.0), end=seconds)
    return fold_tail(rendering, int(round(seconds * rendering.sample_rate)))


def fold_tail(rendering: Rendering, n: int) -> Rendering:
    """The first ``n`` samples of a rendering with every later sample added onto the start, ``n`` at a time: the
    sound of a loop of ``n`` samples played on repeat, so that its end runs into its start without a seam. The
    mix is scaled down again if the sum passes full scale."""

    def fold(x: np.ndarray) -> np.ndarray:
        out = x[:n].copy()
        for start in range(n, len(x), n):
            chunk = x[start : start + n]
            out[: len(chunk)] += chunk
        return out

    audio = fold(rendering.audio)
    stems = {p: fold(s) for p, s in rendering.stems.items()}
    peak = float(np.max(np.abs(audio), initial=0.0))
    scale = 0.99 / peak if peak > 0.99 else 1.0
    if scale != 1.0:
        audio = (audio * np.float32(scale)).astype(np.float32)
        stems = {p: (s * np.float32(scale)).astype(np.float32) for p, s in stems.items()}
    return Rendering(audio=audio, sample_rate=rendering.sample_rate, stems=stems, part_rms_db=rendering.part_rms_db,
                     scaled=rendering.scaled * scale)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# OGG


def encode_ogg(audio: np.ndarray, sample_rate: int, compression_level: float = AudioSettings.compression_level
               ) -> bytes:  # fmt: skip
    """OGG Vorbis bytes of ``(n,)`` or ``(n, c)`` float audio (full scale 1.0)."""
    import soundfile

    audio = np.asarray(audio, dtype=np.float32)
    buf = io.BytesIO()
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    with soundfile.SoundFile(buf, "w", int(sample_rate), channels, format="OGG", subtype="VORBIS",
                             compression_level=float(compression_level)) as fh:  # fmt: skip
        for start in range(0, len(audio), OGG_BLOCK):  # one write of 48 s of audio crashed libsndfile
            fh.write(audio[start : start + OGG_BLOCK])
    return fix_ogg_serial(buf.getvalue())


#: Frames handed to libsndfile's Vorbis encoder at a time: a single write of 3 plays of a 16-s loop (2.1 million
#: frames at 44.1 kHz) ends the process with a segmentation fault (libsndfile 1.2). Audio up to this length (23.8
#: s at 44.1 kHz: a 16-s loop played once) is one write, as before, so its bytes are unchanged.
OGG_BLOCK = 1 << 20


#: The Ogg stream serial number every OGG file gets (libsndfile picks a random one): "LOOP" in ASCII.
OGG_SERIAL = 0x4C4F4F50


@functools.lru_cache(maxsize=1)
def _ogg_crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return tuple(table)


def fix_ogg_serial(data: bytes, serial: int = OGG_SERIAL) -> bytes:
    """The same Ogg stream with every page's serial number set to ``serial`` and its CRC recomputed (the Ogg
    CRC-32: polynomial 0x04C11DB7, not reflected, over the page with its CRC field zeroed), so the same audio
    always gives the same bytes."""
    table = _ogg_crc_table()
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos : pos + 4] != b"OggS" or pos + 27 > len(out):
            raise LoopkitError(f"not an Ogg page at byte {pos}")
        segments = out[pos + 26]
        size = 27 + segments + sum(out[pos + 27 : pos + 27 + segments])
        out[pos + 14 : pos + 18] = struct.pack("<I", serial)
        out[pos + 22 : pos + 26] = bytes(4)
        crc = 0
        for byte in out[pos : pos + size]:
            crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) ^ byte) & 0xFF]
        out[pos + 22 : pos + 26] = struct.pack("<I", crc)
        pos += size
    return bytes(out)


def decode_ogg(source: bytes | str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode OGG (or WAV: any format soundfile reads; bytes or a path) to ``(float32 audio, sample_rate)``; audio
    is ``(n,)`` for mono."""
    import soundfile

    data = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
    audio, sr = soundfile.read(data, dtype="float32", always_2d=False)
    return audio, int(sr)


def roll_to_ogg(roll: np.ndarray, bpm: float = DEFAULT_BPM, repeats: int = 1, settings: AudioSettings | None = None,
                seamless: bool = False) -> bytes:  # fmt: skip
    """OGG Vorbis bytes of a rendered roll (``synthesize_roll``, ``seamless`` or not, then ``encode_ogg``)."""
    settings = settings or AudioSettings()
    rendering = synthesize_roll(roll, bpm=bpm, repeats=repeats, settings=settings, seamless=seamless)
    return encode_ogg(rendering.audio, rendering.sample_rate, settings.compression_level)



def encode_wav(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes of ``(n,)`` or ``(n, c)`` float audio (full scale 1.0): a 44-byte header, then the
    samples, so the file holds ``44 + 2 n c`` bytes whatever the audio is (what the listening test serves, where
    an OGG's size told groups apart: ``loopkit.listening.prepare``)."""
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.asarray(audio, dtype=np.float32), int(sample_rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()


def roll_to_wav(roll: np.ndarray, bpm: float = DEFAULT_BPM, repeats: int = 1, settings: AudioSettings | None = None
                ) -> bytes:  # fmt: skip
    """16-bit PCM WAV bytes of a rendered roll (``synthesize_roll`` then ``encode_wav``)."""
    settings = settings or AudioSettings()
    rendering = synthesize_roll(roll, bpm=bpm, repeats=repeats, settings=settings)
    return encode_wav(rendering.audio, rendering.sample_rate)


def write_ogg(roll: np.ndarray, path: str | os.PathLike, bpm: float = DEFAULT_BPM, repeats: int = 1,
              settings: AudioSettings | None = None, seamless: bool = False) -> Path:  # fmt: skip
    """Render a roll and write it as an OGG Vorbis file (atomically; ``seamless`` as in ``synthesize_roll``).
    Returns the path."""
    return write_bytes(path, roll_to_ogg(roll, bpm=bpm, repeats=repeats, settings=settings, seamless=seamless))


# ---------------------------------------------------------------------------------------------------------
# files: MIDI, .npy


def midi_tempo(source: str | os.PathLike | bytes, default: float = DEFAULT_BPM) -> float:
    """The first tempo of a MIDI file in beats per minute (``default`` when it has none)."""
    score = read_score(source)
    return float(score.tempos[0].qpm) if len(score.tempos) else default


def read_midi_loop(source: str | os.PathLike | bytes) -> np.ndarray:
    """The bass+drum roll of a MIDI file, at least one loop long: ``(t, 93)`` bool, ``t >= 128``.

    Read with ``loopkit.data.pianoroll.midi_to_roll`` (the paper's reading rules); a file shorter than 8 bars (e.g. a
    generated loop whose last bars are silent) is padded with silence to 8 bars.
    """
    roll = midi_to_roll(source)
    if len(roll) < LOOP_STEPS:
        roll = np.concatenate([roll, np.zeros((LOOP_STEPS - len(roll), N_COLUMNS), dtype=bool)])
    return roll


def read_npy_rolls(path: str | os.PathLike) -> np.ndarray:
    """Rolls stored in a ``.npy`` file: ``(t, 93)``, ``(b, t, 93)`` bool/0-1, or ``(b, 1488)`` uint8 packed loops.

    Returns ``(b, t, 93)`` bool.
    """
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise LoopkitError(f"{path} is not a readable .npy array: {exc}") from None
    if array.ndim == 2 and array.shape[1] == PACKED_BYTES and array.dtype == np.uint8:
        return unpack_rolls(array)
    if array.ndim == 2 and array.shape[1] == N_COLUMNS:
        array = array[None]
    if array.ndim != 3 or array.shape[2] != N_COLUMNS:
        raise LoopkitError(
            f"{path}: expected rolls of shape (steps, {N_COLUMNS}), (n, steps, {N_COLUMNS}) or packed "
            f"(n, {PACKED_BYTES}) uint8, got {array.shape} {array.dtype}"
        )
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise LoopkitError(f"{path}: a roll must hold only 0 and 1 (or booleans)")
    return array.astype(bool)


#: What ``expand_inputs`` picks up: MIDI files and .npy rolls.
INPUT_SUFFIXES = (".mid", ".midi", ".npy")


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files named, and the .mid/.midi/.npy files inside folders named (sorted); missing paths raise."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"no .mid, .midi or .npy files in the folder {path}")
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in INPUT_SUFFIXES:
                raise LoopkitError(f"{path}: not a .mid, .midi or .npy file")
            files.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return files


def render_jobs(files: Sequence[str | os.PathLike], bpm: float | None = None) -> list[tuple[str, np.ndarray, float]]:
    """``(output name, roll, bpm)`` for every loop in ``files``, all read and checked before anything is rendered.

    A MIDI file is one loop named after it (read by ``read_midi_loop``, at its own first tempo unless ``bpm`` is
    given); a .npy file holds one roll (named after the file) or several (``NAME_0000``, ...) at ``bpm`` or
    ``DEFAULT_BPM``. Two loops with the same name are refused.
    """
    jobs: list[tuple[str, np.ndarray, float]] = []
    for path in map(Path, files):
        if path.suffix.lower() == ".npy":
            rolls = read_npy_rolls(path)
            tempo = bpm or DEFAULT_BPM
            names = [path.stem] if len(rolls) == 1 else [f"{path.stem}_{i:04d}" for i in range(len(rolls))]
            jobs.extend((name, roll, tempo) for name, roll in zip(names, rolls))
        else:
            try:
                roll = read_midi_loop(path)
                tempo = bpm or midi_tempo(path)
            except (RuntimeError, ValueError, OSError) as exc:
                raise LoopkitError(f"{path}: cannot read MIDI: {exc}") from None
            jobs.append((path.stem, roll, tempo))
    names = [name for name, _, _ in jobs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise LoopkitError(f"two inputs would write the same file: {', '.join(c + '.ogg' for c in clashes[:5])}")
    return jobs


def with_settings(settings: AudioSettings | None = None, **changes) -> AudioSettings:
    """``settings`` (default ``AudioSettings()``) with the given fields changed; ``None`` values are ignored."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(settings or AudioSettings(), **changes)
