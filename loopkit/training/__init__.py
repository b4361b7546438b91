"""Experiment Details (training): one trainer for every model and the prior.

``train`` (AdamW with a cosine schedule, beta annealing, scheduled sampling, the prior on the VQ-VAE's codes),
``batches`` (the training split on the device, packed), ``rundir`` (a run folder's files: metrics.csv).
"""

from loopkit.lazy import lazy_exports

#: what other groups import from this one, by the module that defines it
_EXPORTS = {
    "HostCopies": "batches", "pack_batch": "batches", "unpack_batch": "batches",
    "METRICS": "rundir",
    "codes_of": "train", "reconstruction_report": "train",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
