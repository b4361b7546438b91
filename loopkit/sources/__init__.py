"""Corpora a user gets with one command: the Debian demo corpus (``demo``, ``wad``) and LMD-full (``lmd``), the
inputs of the paper's Data Preprocess section.

``loopkit data demo --out DIR`` and ``loopkit data lmd --out DIR`` call :func:`loopkit.sources.demo.fetch_demo`
and :func:`loopkit.sources.lmd.download_lmd`; ``loopkit extract`` then turns either into a loop data set.
"""
