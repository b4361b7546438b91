"""Lazy re-exports for the subpackages' ``__init__`` files: a group names its public surface without importing it,
so that ``import loopkit.data.workers`` (in an extraction's worker) or ``from loopkit.metrics import musical_metrics``
loads only the modules it needs, and a group that needs no torch never loads it.

A group's ``__init__`` maps each exported name to the submodule that defines it::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {"Loops": "dataset", "find_loops": "rules"})
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``: ``exports[name]`` names the submodule (relative to
    ``package``) that defines ``name``; it is imported on the first access to ``name``."""
    names = dict(exports)

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
