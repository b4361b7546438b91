"""Experiment Details and Manipulating Latent Space of VQ-VAE: loops sampled from the trained models.

``sampling`` (the primitives: temperature, the categorical draw, the prior's step loop, decoding codes),
``generate`` (the pipeline: loops from every model, latent copies while sampling), ``latent`` (latent copies, bar
forms, bar swaps, resampling, Figure 5's frequent codes; ``SamplingRequest``, the temperature, copy and mode
validated once where a request enters and passed down whole).
"""

from loopkit.lazy import lazy_exports

#: what other groups import from this one, by the module that defines it
_EXPORTS = {
    "Generated": "generate", "check_count": "generate", "sample_codes": "generate",
    "LatentCopy": "latent", "MODES": "latent", "OVERLAP_KINDS": "latent", "REPEATS_AT_LEAST": "latent",
    "SamplingRequest": "latent", "bar_steps": "latent", "crossfade_codes": "latent", "decode_frequent_codes": "latent",
    "normalise_form": "latent", "resample_steps": "latent",
    "Temperature": "sampling", "decode_codes": "sampling", "parse_temperature": "sampling",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
