"""Per-loop metrics and their bootstrap: the means are the tables' numbers, equal lengths share weights (paired),
and the interval and ``side`` say what a difference is, on hand-made values whose answers are known."""

import math

import numpy as np
import pytest

from loopkit.evaluation import uncertainty as U
from loopkit.data.dataset import PackedRolls, pack_rolls
from loopkit.metrics.paper_metrics import first_note_bass, musical_metrics
from loopkit.paper import METRIC_COLUMNS
from loopkit.data.pianoroll import BASS_COLUMNS, N_COLUMNS, bass_column, drum_column
from loopkit.evaluation.uncertainty import (
    Estimate,
    bootstrap_means,
    difference,
    estimate,
    load_replicates,
    metric_replicates,
    per_loop_metrics,
    save_replicates,
    side,
)


def _loops(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 128, 93)) < 0.03
    x[: n // 2, 0, drum_column("kick")] = True
    x[: n // 2, 0, drum_column("crash")] = True
    x[::3, 0, BASS_COLUMNS.start] = True
    return x


def test_per_loop_means_are_the_table_row():
    x = _loops()
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 3, size=(len(x), 2))  # few distinct sequences: US < 1
    train_codes = codes[:4]
    row = musical_metrics(x, codes, train_codes)
    per = per_loop_metrics(x, codes, train_codes, batch_size=5)
    assert list(per) == list(METRIC_COLUMNS)
    for m in METRIC_COLUMNS:
        assert len(per[m]) == len(x)
        assert per[m].mean() == pytest.approx(row[m]), m
    without = per_loop_metrics(x)
    assert np.isnan(without["OS"]).all() and np.isnan(without["US"]).all()


def test_us_counts_first_occurrences():
    x = np.zeros((4, 128, 93), dtype=bool)
    per = per_loop_metrics(x, np.array([[1, 2], [1, 2], [3, 4], [1, 2]]), np.array([[3, 4]]))
    assert list(per["US"]) == [1, 0, 1, 0] and list(per["OS"]) == [0, 0, 1, 0]


def test_bootstrap_weights_depend_on_the_length_only():
    a = np.arange(50, dtype=float)
    ra, rb = bootstrap_means(a), bootstrap_means(a + 3.0)
    assert ra.shape == (1000,)
    assert np.allclose(rb - ra, 3.0)  # the same weights: a paired difference has no noise at all
    assert abs(ra.mean() - a.mean()) < 1.0 and ra.std() == pytest.approx(a.std() / math.sqrt(50), rel=0.15)
    both = bootstrap_means(np.stack([a, 2 * a], axis=1))
    assert both.shape == (1000, 2) and np.allclose(both[:, 1], 2 * ra)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_means([1.0, math.nan])
    assert list(metric_replicates({"HD": np.ones(3), "OS": np.full(3, math.nan)})) == ["HD"]


def test_interval_and_side_of_a_difference():
    rng = np.random.default_rng(0)
    low, high = rng.normal(0.0, 1.0, 400), rng.normal(0.5, 1.0, 400)
    ra, rb = bootstrap_means(low), bootstrap_means(high)
    d = difference(high.mean(), rb, low.mean(), ra)
    assert d.low < d.value < d.high
    assert side(d) == "above" and side(difference(low.mean(), ra, high.mean(), rb)) == "below"
    close = rng.normal(0.02, 1.0, 400)
    assert side(difference(close.mean(), bootstrap_means(close), low.mean(), ra)) == "within noise"
    assert side(d, threshold=5.0) == "below"
    # no replicates: the value alone decides, and the text says there is no interval
    bare = difference(1.0, None, 0.5, None)
    assert not bare.has_interval and side(bare) == "above" and "(no interval)" in bare.text()
    assert side(Estimate(0.0)) == "within noise"
    e = estimate(0.5, np.linspace(0, 1, 1001))
    assert e.low == pytest.approx(0.025) and e.high == pytest.approx(0.975)
    assert e.text(lambda v: f"{v:.2f}") == "0.50 [0.03, 0.97]" or e.text(lambda v: f"{v:.2f}") == "0.50 [0.03, 0.98]"


def test_replicates_round_trip(tmp_path):
    reps = {"VQ-VAE (temp 1)": {"HD": np.arange(3.0), "US": np.ones(3)}, "CNN-VAE": {"HD": np.zeros(3)}}
    path = save_replicates(reps, tmp_path / "t.bootstrap.npz")
    back = load_replicates(path)
    assert set(back) == set(reps) and np.array_equal(back["VQ-VAE (temp 1)"]["HD"], np.arange(3.0))
    assert load_replicates(tmp_path / "absent.npz") == {}


KICK, CRASH = drum_column("kick"), drum_column("crash")


def _empty(n):
    return np.zeros((n, 128, N_COLUMNS), dtype=bool)


# ---------------------------------------------------------------------------------------------------------
# What the claims' rules read beyond the paper's columns


def test_first_step_bass_pitches_counts_a_cluster():
    x = _empty(4)
    x[0, 0, bass_column(28)] = True  # one pitch
    x[1, 0, [bass_column(p) for p in (28, 31, 40)]] = True  # a cluster of three
    x[2, 1, [bass_column(28), bass_column(29)]] = True  # a cluster one step late: nothing on step 0
    x[3, 0, [KICK, CRASH]] = True  # drums only
    assert U.first_step_bass_pitches(x).tolist() == [1, 3, 0, 0]
    assert U.first_step_bass_pitches(PackedRolls(pack_rolls(x)), batch_size=3).tolist() == [1, 3, 0, 0]
    assert first_note_bass(x) == pytest.approx(2 / 4)  # the paper's FNB counts the cluster as a bass note


def test_music_is_the_training_loops_range_of_activity():
    train = _empty(100)
    for i in range(100):  # loops with a note on 20..69 % of their steps, one cell per step
        train[i, : 26 + i // 2 * 1, KICK] = True
    bounds = U.music_bounds(train, quantile=0.0)
    steps, cells = U.loop_activity(train)
    assert bounds["steps"] == (pytest.approx(steps.min()), pytest.approx(steps.max()))
    assert bounds["cells"] == (pytest.approx(cells.min()), pytest.approx(cells.max()))
    x = _empty(4)
    x[0, :40, KICK] = True  # inside the range: music
    x[1, :2, KICK] = True  # two hits: near silence
    x[2] = True  # every cell on: saturated
    x[3, :40, :] = True  # steps inside the range but far too many cells on
    assert U.is_music(x, bounds).tolist() == [True, False, False, False]
