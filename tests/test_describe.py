"""Corpus statistics of the extraction chapter, on hand-made data sets."""

import numpy as np
import pandas as pd
import pytest

from loopkit.metrics import statistics
from loopkit.data.dataset import loops_from_arrays
from loopkit.data.pianoroll import bass_column, drum_column


def _loops():
    rolls = np.zeros((3, 128, 93), bool)
    rolls[0, 0, drum_column("kick")] = rolls[0, 4, drum_column("kick")] = True  # kick twice in loop 0
    rolls[1, 0, drum_column("kick")] = True
    rolls[0, :8, bass_column(28)] = True  # E1 for 8 steps in loop 0
    rolls[2, 0, bass_column(28)] = True  # and one step in loop 2
    loops = loops_from_arrays(rolls, splits=["train", "valid", "train"])
    loops.meta["source"] = ["c/pkg_a/x.mid", "c/pkg_a/y.mid", "c/pkg_b/z.mid"]
    loops.files = pd.DataFrame(
        {
            "source": ["c/pkg_a/x.mid", "c/pkg_a/y.mid", "c/pkg_b/z.mid", "c/pkg_b/w.mid", "c/pkg_b/copyright"],
            "status": ["used", "used", "used", "rejected", "skipped"],
        }
    )
    return loops


def test_source_group():
    assert statistics.source_group("data/demo/freedoom/a.mid") == "freedoom"
    assert statistics.source_group("x/lmd_full.tar.gz!lmd_full/0/abc.mid") == "lmd_full.tar.gz"


def test_loops_per_source_counts_files_and_loops_by_split():
    table = statistics.loops_per_source(_loops())
    assert table.loc["pkg_a"].tolist() == [2, 2, 2, 1, 1, 0]  # files, with loops, loops, train, valid, test
    assert table.loc["pkg_b"].tolist() == [2, 1, 1, 1, 0, 0]  # the skipped licence file is not a MIDI file
    assert table.loc["total"].tolist() == [4, 3, 3, 2, 1, 0]


def test_parts_of_a_corpus_below_its_roots():
    roots = ["data/demo", "more/x.mid"]
    assert statistics.corpus_part("data/demo/grooves/stdlib/rock/rock-1.mid", roots) == "grooves"
    assert statistics.corpus_part("data/demo/freedoom/a.mid", roots) == "freedoom"
    assert statistics.corpus_part("data/demo/top.mid", roots) == "demo"
    assert statistics.corpus_part("x/lmd_full.tar.gz!lmd_full/0/abc.mid", roots) == "lmd_full.tar.gz"
    loops = _loops()
    loops.settings = {"sources": ["c"]}
    assert list(statistics.loops_per_source(loops).index) == ["pkg_a", "pkg_b", "total"]


def test_split_families_and_how_far_each_split_is_from_training():
    loops = _loops()
    loops.settings = {"settings": {"family_pattern": r"c/(pkg_\w)/"}}
    table = statistics.split_families(loops)
    assert table.loc["train"].tolist() == [2, 2, 2] and table.loc["valid"].tolist() == [1, 1, 1]
    assert table.loc["test"].tolist() == [0, 0, 0]
    memo = statistics.split_memorisation(loops)
    # loop 0: 2 kicks + 8 bass steps (10 cells); loop 1 (valid): the kick at step 0; loop 2: the bass at step 0.
    # Loop 1 is 10 + 1 - 2 = 9 cells from loop 0 and 1 + 1 = 2 from loop 2; loops 0 and 2 are 9 apart.
    assert memo.loc["valid", "nearest, cells"] == 2 and memo.loc["valid", "copies"] == 0
    assert memo.loc["train (each loop left out)", "nearest, cells"] == 9


def test_column_usage_shares_and_steps():
    usage = statistics.column_usage(_loops()).set_index("column")
    assert usage.loc["kick", "share of loops"] == pytest.approx(2 / 3)
    assert usage.loc["kick", "steps per loop"] == pytest.approx(3 / 3)
    assert usage.loc["E1", "share of loops"] == pytest.approx(2 / 3)
    assert usage.loc["E1", "steps per loop"] == pytest.approx(9 / 3)
    assert usage.loc["snare", "share of loops"] == 0
    assert list(statistics.bass_register(_loops()).index) == ["E1"]
    assert list(statistics.drum_usage(_loops()).index)[0] == "kick"


def test_bars_per_second():
    assert statistics.bars_per_second(120) == pytest.approx(0.5)  # 2 s per 4/4 bar at 120 bpm
