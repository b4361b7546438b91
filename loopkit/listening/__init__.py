"""The paper's listening test (Listening Test, Figure 6): stimuli, a web app that collects ratings, statistics.

``prepare`` picks and renders loops per group into a stimulus set, ``app`` and ``db`` serve it to listeners
and store their 1..5 ratings in SQLite, ``stats`` analyses a ratings table (and simulates a panel when no real
one exists). Import the submodules directly; this package imports nothing heavy.
"""
