"""Manipulating Latent Space of VQ-VAE, on a musician's own loop.

``reader`` (a MIDI file read into one 8-bar loop; ``songread``: read as a player reads it, the meter bar by bar),
``encode`` (the loop encoded to the VQ-VAE's codes and decoded back), ``resemblance`` (how much of the loop a
reconstruction keeps, against the empty loop), ``variations`` (bars redrawn by the prior, bar forms),
``interpolation`` (from one loop to another).
"""

from loopkit.lazy import lazy_exports

#: what other groups import from this one, by the module that defines it
_EXPORTS = {
    "check_codes_model": "encode", "encode_loop": "encode", "load_codebook": "encode", "read_codes": "encode",
    "write_encoding": "encode",
    "INTERPOLATORS": "interpolation", "MAX_STEPS": "interpolation", "choose_model": "interpolation",
    "find_models": "interpolation", "identical_neighbours": "interpolation", "interpolate": "interpolation",
    "interpolate_to_folder": "interpolation", "kept_share": "interpolation", "load_interpolator": "interpolation",
    "rank_models": "interpolation",
    "METERS": "reader", "METER_HINT": "reader", "TrackChoiceError": "reader", "read_loop": "reader",
    "tempo_change_line": "reader",
    "MIN_PART_RECALL": "resemblance", "MIN_SHARE_REMOVED": "resemblance", "percent": "resemblance",
    "report": "resemblance",
    "COPY": "variations", "KEEP": "variations", "bars_label": "variations", "parse_bars": "variations",
    "vary_to_folder": "variations",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
