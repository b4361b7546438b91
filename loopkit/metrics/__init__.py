"""Quantitative Evaluation: every metric of the paper, and the checks beside them.

``paper_metrics`` (reconstruction error, HD, FND, FNB, DB, OS, US, UP, ND, codebook usage: pure numpy),
``memorisation`` (is a loop a copy of a training loop, and how far is the nearest one), ``statistics`` (the corpus
figures of the extraction chapter). No torch.
"""

from loopkit.lazy import lazy_exports

#: what other groups import from this one, by the module that defines it
_EXPORTS = {
    "DEFAULT_BATCH_SIZE": "paper_metrics", "LoopsLike": "paper_metrics", "METRIC_DEFINITIONS": "paper_metrics",
    "batch_ranges": "paper_metrics", "code_frequencies": "paper_metrics", "first_step_counts": "paper_metrics",
    "frequent_codes": "paper_metrics", "iter_batches": "paper_metrics", "musical_metrics": "paper_metrics",
    "unique_pitch": "paper_metrics",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
