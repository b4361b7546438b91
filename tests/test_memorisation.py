"""The memorisation check (loopkit.metrics.memorisation) on hand-made loops: an exact copy, a one-cell change, an unrelated
loop, duplicates inside a set."""

import numpy as np
import pytest

from loopkit.data.dataset import ROLL_CELLS, PackedRolls, pack_rolls
from loopkit.metrics.memorisation import memorisation, nearest_training, training_copies
from loopkit.data.pianoroll import drum_column


def _loops():
    train = np.zeros((3, 128, 93), dtype=bool)
    train[0, ::16, drum_column("kick")] = True  # 8 kicks
    train[1, ::4, drum_column("closed_hihat")] = True  # 32 hats
    train[2, :, 10] = True  # a 128-step bass drone
    copy = train[1].copy()
    changed = train[0].copy()
    changed[5, 20] = True  # one cell more
    unrelated = np.zeros((128, 93), dtype=bool)
    unrelated[::2, drum_column("snare")] = True  # 64 snares
    return train, np.stack([copy, changed, unrelated])


def test_copies_and_nearest_distances_by_hand():
    train, rolls = _loops()
    assert training_copies(rolls, train).tolist() == [1, -1, -1]
    distance, where = nearest_training(rolls, train)
    # the copy: 0 cells; the changed loop: 1 cell from train[0]; the snares: 64 + 8 cells from train[0]
    # (64 + 32 from train[1], 64 + 128 from train[2])
    assert where.tolist() == [1, 0, 0]
    assert np.allclose(distance * ROLL_CELLS, [0, 1, 72])
    row = memorisation(rolls, train)
    assert row["copies"] == pytest.approx(1 / 3) and row["nearest"] == pytest.approx(1 / ROLL_CELLS)


def test_packed_and_chunked_inputs_agree(monkeypatch):
    train, rolls = _loops()
    import loopkit.metrics.memorisation as memo

    monkeypatch.setattr(memo, "_CHUNK", 2)  # several chunks of rows and of training loops
    packed = nearest_training(PackedRolls(pack_rolls(rolls)), pack_rolls(train))
    assert np.array_equal(packed[1], [1, 0, 0]) and np.allclose(packed[0] * ROLL_CELLS, [0, 1, 72])


def test_a_set_against_itself_leaves_each_loop_out():
    train, _ = _loops()
    doubled = np.concatenate([train, train[:1]])  # loop 3 duplicates loop 0
    distance, where = nearest_training(doubled, doubled, exclude_self=True)
    assert where[0] == 3 and where[3] == 0 and distance[0] == 0 and distance[1] > 0
    row = memorisation(doubled, doubled, exclude_self=True)
    assert row["copies"] == pytest.approx(2 / 4)  # loops 0 and 3 are duplicates of each other
    assert memorisation(train, train, exclude_self=True)["copies"] == 0


def test_nearest_measures_the_first_loops_of_a_row_only():
    train, rolls = _loops()
    row = memorisation(rolls, train, nearest_loops=1)  # only the copy's distance
    assert row["nearest"] == 0 and row["copies"] == pytest.approx(1 / 3)
