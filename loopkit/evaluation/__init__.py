"""Model Metric Results and Musical Metric Results: Tables 1-4 and the paper's claims judged on them.

``tables`` (Tables 1-4 computed, the paper's numbers beside ours), ``table_format`` (how a table's numbers are
printed, read back and named: no torch), ``uncertainty`` (per-loop values and their bootstrap), ``prior_accuracy``,
``ablation`` (one setting at a time), ``claims`` (every claim's verdict), ``claims_samples`` (the claims about
generated loops), ``verdicts`` (how a verdict is decided: noise, memorisation and training-budget guards).
"""

from loopkit.lazy import lazy_exports

#: what other groups import from this one, by the module that defines it
_EXPORTS = {
    "BOOTSTRAP": "table_format", "COPIES": "table_format", "NEAREST": "table_format",
    "format_metric": "table_format", "metric_table_markdown": "table_format", "read_table": "table_format",
    "source_label": "table_format", "write_table": "table_format",
    "run_checkpoints": "tables", "table3": "tables", "table4": "tables",
    "LEVEL": "uncertainty", "estimate": "uncertainty",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
