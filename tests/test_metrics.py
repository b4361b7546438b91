"""The paper's metrics (loopkit.metrics.paper_metrics) against hand-computed answers on tiny constructed loops and codes."""

import math

import numpy as np
import pytest

from loopkit.metrics import paper_metrics as M
from loopkit.data.dataset import PackedRolls, loops_from_arrays, pack_rolls
from loopkit.data.rules import LoopRules, bar_hamming
from loopkit.paper import METRIC_COLUMNS
from loopkit.data.pianoroll import N_BASS, N_COLUMNS, bass_column, drum_column

KICK, SNARE, CRASH = drum_column("kick"), drum_column("snare"), drum_column("crash")
BAR = 16 * N_COLUMNS  # cells in one bar: 1,488
LOOP = 128 * N_COLUMNS  # cells in one loop: 11,904


def empty(n):
    return np.zeros((n, 128, N_COLUMNS), dtype=bool)


def packed(x):
    return PackedRolls(pack_rolls(x))


def random_loops(n, seed=0, density=0.05):
    return np.random.default_rng(seed).random((n, 128, N_COLUMNS)) < density


# ---------------------------------------------------------------------------------------------------------
# Reconstruction error


def test_reconstruction_error_counts_differing_cells():
    x = empty(2)
    x[0, 0, KICK] = x[1, 5, bass_column(40)] = True
    x_hat = x.copy()
    x_hat[0, 0, KICK] = False  # a missed note
    x_hat[0, 9, SNARE] = True  # a spurious note
    x_hat[1, 127, 0] = True  # a spurious note in the other loop
    # 3 differing cells out of 2 loops x 11,904 cells
    expected = 3 / (2 * LOOP)
    assert M.reconstruction_error(x, x_hat) == pytest.approx(expected)
    assert M.reconstruction_error(x, x) == 0.0
    # packed fast path, mixed inputs and tiny batches give the same count
    assert M.reconstruction_error(packed(x), packed(x_hat)) == pytest.approx(expected)
    assert M.reconstruction_error(packed(x), x_hat, batch_size=1) == pytest.approx(expected)
    assert M.reconstruction_error(packed(x), packed(x_hat), batch_size=1) == pytest.approx(expected)
    assert M.reconstruction_error(x, ~x) == 1.0


def test_reconstruction_error_rejects_mismatched_sets():
    with pytest.raises(ValueError, match="2 loops but x_hat has 3"):
        M.reconstruction_error(empty(2), empty(3))
    with pytest.raises(ValueError, match="threshold"):
        M.reconstruction_error(empty(2), empty(2).astype(np.float32))


# ---------------------------------------------------------------------------------------------------------
# Loop properties


def test_ham_dist_is_per_bar_hamming_between_bar_1_and_bar_5():
    x = empty(3)
    # loop 0: bar 5 repeats bar 1 exactly -> 0
    x[0, [0, 64], KICK] = True
    x[0, [3, 67], bass_column(36)] = True
    # loop 1: bar 1 and bar 5 differ in 3 cells -> 3 / 1,488
    x[1, 0, KICK] = True  # bar 1 only
    x[1, 64 + 2, SNARE] = True  # bar 5 only
    x[1, 64 + 15, bass_column(50)] = True  # bar 5 only (its last step)
    # loop 2: a difference in bar 2 and bar 6, which HD does not compare -> 0
    x[2, 16, KICK] = True
    # HD = (0 + 3/1488 + 0) / 3 = 1/1488
    assert M.ham_dist(x) == pytest.approx(1 / BAR)
    assert M.ham_dist(x, normalisation="loop") == pytest.approx(1 / LOOP)
    # bar 1 vs bar 2: loop 0 differs in 2 cells, loop 1 in 1, loop 2 in 1 -> 4 / (3 * 1488)
    assert M.ham_dist(x, bars=(0, 1)) == pytest.approx(4 / (3 * BAR))


def test_ham_dist_shares_the_extraction_rules_definition():
    x = random_loops(20, seed=1, density=0.02)
    rules = LoopRules()
    assert M.ham_dist(x) == pytest.approx(bar_hamming(x, rules.compared_bars, rules.hamming_normalisation).mean())
    # a loop two cells away from a perfect repeat passes the extraction threshold; its HD is 2/1488
    y = empty(1)
    y[0, 1, KICK] = y[0, 2, SNARE] = True
    assert M.ham_dist(y) == pytest.approx(2 / BAR) and M.ham_dist(y) < rules.max_hamming


def test_first_note_drum_needs_kick_and_crash_on_step_0():
    x = empty(4)
    x[0, 0, [KICK, CRASH]] = True  # yes
    x[1, 0, KICK] = x[1, 1, CRASH] = True  # crash one step late: no
    x[2, 16, [KICK, CRASH]] = True  # on the first step of bar 2: no
    x[3, 0, [KICK, CRASH, SNARE]] = True  # yes, other drums do not matter
    assert M.first_note_drum(x) == pytest.approx(2 / 4)


def test_first_note_bass_needs_any_bass_pitch_on_step_0():
    x = empty(3)
    x[0, 0, bass_column(28)] = True  # E1: yes
    x[1, 1, bass_column(28)] = True  # one step late: no
    x[1, 0, [KICK, CRASH]] = True  # drums on step 0 are not bass
    x[2, 0, N_BASS - 1] = True  # the highest bass column, B7: yes
    assert M.first_note_bass(x) == pytest.approx(2 / 3)


def test_dup_bass_counts_steps_with_two_or_more_bass_pitches():
    x = empty(2)
    x[0, 3, [bass_column(30), bass_column(42)]] = True  # 2 pitches: duplicate
    x[0, 4, [bass_column(30), bass_column(31)]] = True  # 2 pitches: duplicate
    x[0, 5, [bass_column(30), bass_column(31), bass_column(90)]] = True  # 3 pitches: duplicate
    x[0, 6, bass_column(30)] = True  # one pitch
    x[0, 6, [KICK, SNARE, CRASH]] = True  # plus drums: still not a duplicate
    x[1, 0, [bass_column(40), KICK, CRASH]] = True  # one pitch
    # 3 duplicate steps out of all 2 x 128 steps
    assert M.dup_bass(x) == pytest.approx(3 / 256)
    assert M.dup_bass(empty(1)) == 0.0


# ---------------------------------------------------------------------------------------------------------
# Musical style


def style_loops():
    """Two loops whose per-bar counts are worked out in the tests below."""
    x = empty(2)
    # loop 0, bar 1 (steps 0..15): C1 held over steps 0..3, kick on 0, 4, 8, 12
    x[0, 0:4, bass_column(24)] = True
    x[0, [0, 4, 8, 12], KICK] = True
    # loop 0, bar 2 (steps 16..31): kick on 16, snare on 20, D1 held 16..17, E1 on 24
    x[0, 16, KICK] = x[0, 20, SNARE] = True
    x[0, 16:18, bass_column(26)] = True
    x[0, 24, bass_column(28)] = True
    # loop 1, bar 8: every column on the last step
    x[1, 127, :] = True
    return x


def test_unique_pitch_counts_distinct_columns_per_bar():
    x = style_loops()
    # used columns per bar: loop 0 bar 1 {C1, kick} = 2; bar 2 {kick, snare, D1, E1} = 4; loop 1 bar 8: 93;
    # the other 13 bars: 0. UP = (2 + 4 + 93) / 16 bars
    assert M.unique_pitch(x, span="bar") == pytest.approx(99 / 16)
    assert M.unique_pitch(x, columns="bass", span="bar") == pytest.approx((1 + 2 + 84) / 16)
    assert M.unique_pitch(x, columns="drums", span="bar") == pytest.approx((1 + 2 + 9) / 16)


def test_unique_pitch_counts_distinct_columns_per_loop_by_default():
    x = style_loops()
    # loop 0 uses {C1, D1, E1, kick, snare} = 5 columns in all (kick in two bars counts once); loop 1: all 93
    assert M.unique_pitch(x) == pytest.approx((5 + 93) / 2)
    assert M.unique_pitch(x, columns="bass") == pytest.approx((3 + 84) / 2)
    assert M.unique_pitch(x, columns="drums") == pytest.approx((2 + 9) / 2)
    assert M.musical_metrics(x, up_span="bar")["UP"] == pytest.approx(99 / 16)
    with pytest.raises(ValueError, match="span"):
        M.unique_pitch(x, span="beat")


def test_note_density_definitions():
    x = style_loops()
    # steps with any active cell: loop 0 bar 1 {0, 1, 2, 3, 4, 8, 12} = 7; bar 2 {16, 17, 20, 24} = 4;
    # loop 1 {127} = 1 -> 12 active steps out of 256 steps (16 bars)
    assert M.note_density(x) == pytest.approx(12 / 256)
    assert M.note_density(x, "step_share") == pytest.approx(12 / 256)
    assert M.note_density(x, "active_steps") == pytest.approx(12 / 16)
    # active cells: bar 1: 4 bass + 4 kick = 8; bar 2: 1 + 1 + 2 + 1 = 5; loop 1: 93 -> 106 over 16 bars
    assert M.note_density(x, "cells") == pytest.approx(106 / 16)
    # onsets: bar 1: C1 once + 4 kicks = 5; bar 2: kick, snare, D1 once, E1 = 4; loop 1: 84 + 9 = 93
    assert M.note_density(x, "notes") == pytest.approx(102 / 16)


def test_note_density_notes_counts_a_held_note_once_across_a_bar_line():
    x = empty(1)
    x[0, 14:18, bass_column(33)] = True  # one A1 held from bar 1 into bar 2: 4 cells, 1 note
    x[0, 20, bass_column(33)] = True  # a new A1 after a gap: a second note
    assert M.note_density(x, "notes") == pytest.approx(2 / 8)
    assert M.note_density(x, "cells") == pytest.approx(5 / 8)


def test_named_variants_are_checked():
    with pytest.raises(ValueError, match="unknown ND definition 'per_beat'"):
        M.note_density(empty(1), "per_beat")
    with pytest.raises(ValueError, match="unknown column set"):
        M.unique_pitch(empty(1), columns="piano")
    with pytest.raises(ValueError, match="normalisation"):
        M.ham_dist(empty(1), normalisation="song")
    with pytest.raises(ValueError, match="bars"):
        M.ham_dist(empty(1), bars=(0, 8))


# ---------------------------------------------------------------------------------------------------------
# Creativeness: OS and US on code sequences

TRAIN = np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6], [7, 8, 9]])
GEN = np.array([[1, 2, 3], [3, 2, 1], [4, 5, 6], [4, 5, 6], [1, 2, 4]])


def test_overlap_sample_on_constructed_duplicates():
    # GEN rows in TRAIN: [1,2,3] yes; [3,2,1] no (same codes, other order); [4,5,6] yes, twice; [1,2,4] no
    assert M.overlap_sample(GEN, TRAIN) == pytest.approx(3 / 5)
    # the training set against itself: 1 by definition
    assert M.overlap_sample(TRAIN, TRAIN) == 1.0
    assert M.overlap_sample(np.array([[9, 9, 9]]), TRAIN) == 0.0


def test_unique_sample_on_constructed_duplicates():
    # GEN: distinct {123, 321, 456, 124} = 4 of 5
    assert M.unique_sample(GEN) == pytest.approx(4 / 5)
    # TRAIN: distinct {123, 456, 789} = 3 of 4
    assert M.unique_sample(TRAIN) == pytest.approx(3 / 4)
    assert M.unique_sample(np.zeros((10, 32), dtype=int)) == pytest.approx(1 / 10)


def test_sequences_compare_by_value_not_by_bytes():
    # 256 and 0 share their low byte; -1 and 255 share theirs; dtypes differ between the two sets
    gen = np.array([[256, 1], [0, 1], [-1, 3]], dtype=np.int64)
    train = np.array([[0, 1], [255, 3]], dtype=np.int16)
    assert M.overlap_sample(gen, train) == pytest.approx(1 / 3)
    assert M.unique_sample(np.array([[256, 0], [0, 0], [0, 256]])) == 1.0
    # lists work like arrays
    assert M.overlap_sample([[1, 2]], [[1, 2]]) == 1.0


def test_overlap_sample_rejects_bad_codes():
    with pytest.raises(ValueError, match="differ in length"):
        M.overlap_sample(np.zeros((2, 3), int), np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="integer code indices"):
        M.unique_sample(np.zeros((2, 3), float))
    with pytest.raises(ValueError, match=r"\(b, t\)"):
        M.unique_sample(np.zeros(5, int))
    with pytest.raises(ValueError, match="no sequences"):
        M.unique_sample(np.zeros((0, 32), int))


def test_overlap_in_data_space_on_packed_rolls():
    train = random_loops(4, seed=2)
    gen = np.concatenate([train[[1, 1]], random_loops(2, seed=3)])
    # two generated loops copy training loop 1; two are new -> OS 2/4, US 3/4
    assert M.overlap_sample(packed(gen), packed(train)) == pytest.approx(2 / 4)
    assert M.unique_sample(packed(gen)) == pytest.approx(3 / 4)


# ---------------------------------------------------------------------------------------------------------
# One table row; batching and input kinds


def test_musical_metrics_row_by_hand():
    x = empty(2)
    # loop 0: kick + crash + E1 on step 0, repeated on step 64 (bar 5): HD 0, FND yes, FNB yes
    x[0, [0, 64], KICK] = x[0, [0, 64], CRASH] = x[0, [0, 64], bass_column(28)] = True
    # loop 1: kick only on step 0, two bass pitches on step 0: FND no, FNB yes, one duplicate step;
    # bar 5 is silent, so bar 1 vs bar 5 differ in 3 cells
    x[1, 0, [KICK, bass_column(28), bass_column(40)]] = True
    codes = np.array([[1, 2], [1, 2]])
    train_codes = np.array([[1, 2], [3, 4]])
    row = M.musical_metrics(x, codes=codes, train_codes=train_codes)
    assert tuple(row) == METRIC_COLUMNS
    expected = {
        "HD": (0 + 3 / BAR) / 2,
        "FND": 1 / 2,
        "FNB": 2 / 2,
        "DB": 1 / 256,
        "OS": 2 / 2,  # both generated sequences are [1, 2], which the training set holds
        "US": 1 / 2,
        # used columns per loop: loop 0 {kick, crash, E1} = 3 (in bars 1 and 5); loop 1 {kick, E1, E2} = 3
        "UP": 6 / 2,
        # active steps: loop 0 steps 0 and 64; loop 1 step 0 -> 3 of 256
        "ND": 3 / 256,
    }
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key
    # single metrics agree with the row
    assert row["HD"] == pytest.approx(M.ham_dist(x))
    assert row["UP"] == pytest.approx(M.unique_pitch(x))
    assert row["ND"] == pytest.approx(M.note_density(x))


def test_musical_metrics_without_codes_and_training_row():
    x = style_loops()
    row = M.musical_metrics(x)
    assert math.isnan(row["OS"]) and math.isnan(row["US"])
    assert row["ND"] == pytest.approx(12 / 256)
    codes = np.array([[5, 6], [5, 6]])
    row = M.musical_metrics(x, codes=codes)
    assert math.isnan(row["OS"]) and row["US"] == pytest.approx(1 / 2)
    own = M.musical_metrics(x, codes=codes, train_codes=codes)  # the training set's own row
    assert own["OS"] == 1.0
    assert M.musical_metrics(x, nd="active_steps")["ND"] == pytest.approx(12 / 16)
    with pytest.raises(ValueError, match="2 loops but 3 code sequences"):
        M.musical_metrics(x, codes=np.zeros((3, 32), int))
    with pytest.raises(ValueError, match="without codes"):
        M.musical_metrics(x, train_codes=codes)


def test_metrics_do_not_depend_on_batch_size_or_storage():
    x = random_loops(37, seed=4)
    x[:, 0, [KICK, CRASH]] = np.random.default_rng(5).random((37, 2)) < 0.7
    codes = np.random.default_rng(6).integers(0, 4, (37, 2))
    reference = M.musical_metrics(x, codes=codes, train_codes=codes[:10], batch_size=4096)
    for variant in [
        M.musical_metrics(x, codes=codes, train_codes=codes[:10], batch_size=1),
        M.musical_metrics(x, codes=codes, train_codes=codes[:10], batch_size=5),
        M.musical_metrics(packed(x), codes=codes, train_codes=codes[:10], batch_size=8),
        M.musical_metrics(loops_from_arrays(x), codes=codes, train_codes=codes[:10]),
        M.musical_metrics(x.astype(np.uint8), codes=codes, train_codes=codes[:10], batch_size=7),
    ]:
        assert variant.keys() == reference.keys()
        for key in reference:
            assert variant[key] == pytest.approx(reference[key], rel=1e-12), key
    for name in ("first_note_drum", "first_note_bass", "dup_bass", "unique_pitch", "note_density", "ham_dist"):
        fn = getattr(M, name)
        assert fn(packed(x), batch_size=3) == pytest.approx(fn(x), rel=1e-12), name
    # a single (128, 93) loop is a batch of one
    assert M.musical_metrics(x[0]) == pytest.approx(M.musical_metrics(x[:1]), nan_ok=True)


def test_iter_batches_yields_every_loop_once():
    x = random_loops(10, seed=7)
    batches = list(M.iter_batches(packed(x), batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(batches), x)
    with pytest.raises(ValueError, match="batch_size"):
        list(M.iter_batches(x, batch_size=0))


def test_loop_inputs_are_checked():
    with pytest.raises(ValueError, match=r"shape \(b, 128, 93\)"):
        M.first_note_drum(np.zeros((2, 64, N_COLUMNS), bool))
    with pytest.raises(ValueError, match="threshold"):
        M.dup_bass(np.zeros((2, 128, N_COLUMNS), np.float32))
    with pytest.raises(ValueError, match="no loops"):
        M.ham_dist(empty(0))


# ---------------------------------------------------------------------------------------------------------
# Codebook usage


INDICES = np.array([[0, 1], [0, 1], [0, 2]])  # 3 sequences of t = 2 latent steps, K = 4


def test_code_frequencies_per_latent_step():
    freq = M.code_frequencies(INDICES, K=4)
    np.testing.assert_array_equal(freq, [[3, 0, 0, 0], [0, 2, 1, 0]])
    with pytest.raises(ValueError, match="0..3"):
        M.code_frequencies(np.array([[0, 4]]), K=4)
    with pytest.raises(ValueError, match="0..3"):
        M.code_frequencies(np.array([[-1, 0]]), K=4)


def test_codebook_usage_by_hand():
    u = M.codebook_usage(INDICES, K=4)
    np.testing.assert_array_equal(u.counts, [3, 2, 1, 0])
    assert u.codes_used == 3 and u.usage == pytest.approx(3 / 4) and u.n_sequences == 3
    np.testing.assert_array_equal(u.dead_codes, [3])
    # pooled p = (3, 2, 1) / 6: exp(H) = 2^(1/2) 3^(1/3) 6^(1/6), about 2.75
    assert u.perplexity == pytest.approx(2 ** (1 / 2) * 3 ** (1 / 3) * 6 ** (1 / 6))
    np.testing.assert_array_equal(u.per_position_used, [1, 2])
    # step 0 uses one code (perplexity 1); step 1 p = (2/3, 1/3): exp(H) = (3/2)^(2/3) 3^(1/3), about 1.89
    np.testing.assert_allclose(u.per_position_perplexity, [1.0, (3 / 2) ** (2 / 3) * 3 ** (1 / 3)])
    assert u.summary()["dead codes"] == 1
    # a uniformly used codebook has perplexity K
    assert M.codebook_usage(np.arange(8).reshape(4, 2), K=8).perplexity == pytest.approx(8)


def test_frequent_codes_by_rank():
    freq = M.code_frequencies(INDICES, K=4)  # [[3, 0, 0, 0], [0, 2, 1, 0]]
    np.testing.assert_array_equal(M.frequent_codes(freq), [0, 1])
    np.testing.assert_array_equal(M.frequent_codes(freq, rank=1), [-1, 2])  # step 0 uses only one code
    np.testing.assert_array_equal(M.frequent_codes(freq, least=True), [0, 2])  # unused codes never count
    np.testing.assert_array_equal(M.frequent_codes(freq, rank=1, least=True), [-1, 1])
    # ties go to the smaller code
    np.testing.assert_array_equal(M.frequent_codes(np.array([[0, 1, 1, 0]])), [1])
    np.testing.assert_array_equal(M.frequent_codes(np.array([[0, 1, 1, 0]]), least=True), [1])

