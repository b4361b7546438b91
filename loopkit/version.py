"""loopkit's version, in one place: every artefact loopkit writes (checkpoints, data sets, settings) records it."""

__version__ = "0.1.0"
