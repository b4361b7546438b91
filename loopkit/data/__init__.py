"""Data Preprocess: from MIDI files to the loop data set.

``pianoroll`` (MIDI <-> the (t, 93) bass+drum roll), ``rules`` (the paper's loop rules over a song roll),
``inputs`` (the files of a corpus: folders, files, streamed archives), ``midifile`` (a file's bytes checked, its
time signatures and tempos), ``extract`` (the rules over whole corpora, resumable through ``journal``, in parallel
through ``workers``), ``dataset`` (the loop data set on disk: ``Loops``, splits by song family), ``funnel`` (files
-> 4/4 -> bass and drums -> loops, beside LMD-full's), ``synthetic`` (rule-abiding stand-in loops for tests and
benchmarks). No torch, and no pandas in extraction's workers.
"""

from loopkit.lazy import lazy_exports

#: what other groups import from this one, by the module that defines it
_EXPORTS = {
    "Loops": "dataset", "PACKED_BYTES": "dataset", "PackedRolls": "dataset", "ROLL_CELLS": "dataset",
    "ROLL_SHAPE": "dataset", "SPLITS": "dataset", "as_loops": "dataset", "family_key": "dataset",
    "load_loops": "dataset", "pack_rolls": "dataset", "unpack_rolls": "dataset",
    "ExtractionSettings": "extract", "MISSING_TIME_SIGNATURE": "extract",
    "format_funnel": "funnel",
    "MAX_FILE_MIB": "inputs", "MEMBER_SEPARATOR": "inputs", "iter_inputs": "inputs",
    "standard_midi_bytes": "midifile", "tempo_at": "midifile", "time_signature_rule": "midifile",
    "BARS_PER_LOOP": "pianoroll", "BASS_COLUMNS": "pianoroll", "BASS_HIGHEST_PITCH": "pianoroll",
    "BASS_LOWEST_PITCH": "pianoroll", "BASS_PROGRAMS": "pianoroll", "BEATS_PER_BAR": "pianoroll",
    "DEFAULT_BPM": "pianoroll", "DRUM_COLUMNS": "pianoroll", "DRUM_COMPONENTS": "pianoroll",
    "DRUM_MAPS": "pianoroll", "LOOP_STEPS": "pianoroll", "MAX_BPM": "pianoroll", "N_BASS": "pianoroll",
    "N_COLUMNS": "pianoroll", "STEPS_PER_BAR": "pianoroll", "STEPS_PER_BEAT": "pianoroll", "SongNotes": "pianoroll",
    "bar_origin": "pianoroll", "check_bpm": "pianoroll", "check_roll": "pianoroll", "column_names": "pianoroll",
    "drum_column": "pianoroll", "drum_map_lookup": "pianoroll", "midi_to_roll": "pianoroll",
    "mspq_to_bpm": "pianoroll", "notes_to_roll": "pianoroll", "read_score": "pianoroll", "roll_to_midi": "pianoroll",
    "roll_to_score": "pianoroll", "score_notes": "pianoroll", "ticks_to_steps": "pianoroll",
    "write_midi": "pianoroll",
    "LoopRules": "rules", "bar_hamming": "rules", "find_loops": "rules", "window_checks": "rules",
    "WorkerStartError": "workers",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
