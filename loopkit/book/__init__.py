"""The book: the paper walked through, chapter by chapter, with its sound.

``build`` (papermill runs the notebooks, Jupyter Book builds the pages), ``display`` (audio players, tables, the
claims table), ``rehearsal`` (the whole path in minutes, labelled), ``records`` (the recorded long run beside every
build), ``lab`` (the executed chapters live in JupyterLab).
"""

from loopkit.lazy import lazy_exports

#: what other groups import from this one, by the module that defines it
_EXPORTS = {
    "build_book": "build", "project_root": "build", "run_notebooks": "build",
    "lab_url": "lab", "prepare_lab": "lab", "start_lab": "lab",
    "record_run": "records",
    "REHEARSAL": "rehearsal", "describe": "rehearsal", "rehearsal_folder": "rehearsal", "summary_lines": "rehearsal",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
