"""Listening Test and Figures 1, 4, 5: what the book and the commands play and show.

``audio`` (roll -> MIDI -> FluidSynth -> OGG), ``plots`` (the paper's figures, matplotlib without pyplot),
``sample_folder`` (generated loops written into a folder as MIDI, PNG and OGG: ``loopkit generate``).
"""

from loopkit.lazy import lazy_exports

#: what other groups import from this one, by the module that defines it
_EXPORTS = {
    "AudioSettings": "audio", "Rendering": "audio", "check_duration": "audio", "encode_ogg": "audio",
    "loop_seconds": "audio", "read_midi_loop": "audio", "resolve_soundfont": "audio", "roll_to_ogg": "audio",
    "roll_to_wav": "audio", "with_settings": "audio",
    "new_figure": "plots", "write_pianoroll_png": "plots",
    "generate_to_folder": "sample_folder",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
