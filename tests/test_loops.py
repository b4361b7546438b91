"""The paper's loop rules, each at its threshold, on hand-built song rolls."""

import numpy as np
import pytest

from loopkit.data.rules import LoopRules, bar_hamming, cut_loops, find_loops, window_checks
from loopkit.data.pianoroll import BASS_COLUMNS, N_COLUMNS, STEPS_PER_BAR, bass_column, drum_column, midi_to_roll
from midi_builder import bar, build, drum, note, program, step, track

KICK, CRASH, SNARE = drum_column("kick"), drum_column("crash"), drum_column("snare")


def song(n_bars, starts=(0,)):
    """A song whose bars are all alike (bass E2 on every beat, kick on beats, snare on 2 and 4) with kick +
    crash + bass on the first step of each bar in ``starts``... the crash only there."""
    roll = np.zeros((n_bars * STEPS_PER_BAR, N_COLUMNS), dtype=bool)
    for b in range(n_bars):
        for beat in range(4):
            s = b * STEPS_PER_BAR + 4 * beat
            roll[s : s + 2, bass_column(40)] = True
            roll[s, KICK] = True
            if beat in (1, 3):
                roll[s, SNARE] = True
    for b in starts:
        roll[b * STEPS_PER_BAR, CRASH] = True
    return roll


def differ(roll, bar_index, n_cells):
    """Flip ``n_cells`` distinct cells of one bar (in the snare-free upper bass range)."""
    out = roll.copy()
    for i in range(n_cells):
        out[bar_index * STEPS_PER_BAR + (i % 16), bass_column(90 + i // 16)] ^= True
    return out


def test_bar_hamming_normalisations():
    loop = differ(song(8, starts=()), 4, 2)
    assert bar_hamming(loop) == pytest.approx(2 / 1488)
    assert bar_hamming(loop, normalisation="loop") == pytest.approx(2 / (128 * 93))
    assert bar_hamming(loop, bars=(0, 1)) == 0.0
    batch = np.stack([song(8, starts=()), loop, differ(song(8, starts=()), 0, 5)])
    assert bar_hamming(batch) == pytest.approx([0, 2 / 1488, 5 / 1488])


def test_hamming_threshold_two_cells_pass_three_fail():
    # per bar: 2 / 1488 = 0.00134 < 0.0015, 3 / 1488 = 0.00202 is not
    base = song(8, starts=(0, 4))  # bars 1 and 5 alike, crash included
    assert bar_hamming(base) == 0
    assert find_loops(differ(base, 4, 2)).tolist() == [0]
    assert find_loops(differ(base, 4, 3)).tolist() == []
    assert find_loops(differ(base, 0, 3)).tolist() == []  # either bar
    # the threshold is a setting: 3 / 1488 passes below 0.0021
    assert find_loops(differ(base, 4, 3), LoopRules(max_hamming=0.0021)).tolist() == [0]


def test_hamming_threshold_counts_the_crash():
    base = song(8)  # crash only in bar 1: bars 1 and 5 differ in exactly that cell
    assert bar_hamming(base) == pytest.approx(1 / 1488)
    assert find_loops(differ(base, 4, 1)).tolist() == [0]  # 2 cells
    assert find_loops(differ(base, 4, 2)).tolist() == []  # 3 cells


def test_hamming_threshold_whole_loop_normalisation():
    # over 11,904 cells: 17 cells = 0.001428 pass, 18 = 0.001512 fail
    rules = LoopRules(hamming_normalisation="loop")
    base = song(8, starts=())
    base[0, CRASH] = True
    base[4 * STEPS_PER_BAR, CRASH] = True  # keep bars 1 and 5 equal so the flipped cells are all that differ
    assert find_loops(differ(base, 4, 17), rules).tolist() == [0]
    assert find_loops(differ(base, 4, 18), rules).tolist() == []
    assert find_loops(differ(base, 4, 17)).tolist() == []  # per bar that is far over


def test_kick_crash_and_bass_on_the_first_step():
    base = song(8)
    no_kick = base.copy()
    no_kick[0, KICK] = False
    no_crash = base.copy()
    no_crash[0, CRASH] = False
    no_bass = base.copy()
    no_bass[0, BASS_COLUMNS] = False
    for roll in (no_kick, no_crash, no_bass):
        assert find_loops(roll).tolist() == []
    assert find_loops(no_kick, LoopRules(require_kick=False)).tolist() == [0]
    assert find_loops(no_crash, LoopRules(require_crash=False)).tolist() == [0]
    # without bass on step 0 the bars also differ in that cell, which still passes the Hamming rule
    assert find_loops(no_bass, LoopRules(require_bass=False)).tolist() == [0]
    crash_late = base.copy()
    crash_late[0, CRASH] = False
    crash_late[1, CRASH] = True  # on the second step: not the first note
    assert find_loops(crash_late).tolist() == []


def test_windows_and_stride():
    # 12 bars, crash on bars 0, 1, 2, 3 and 4: windows start at bars 0..4; bar b vs b+4 differ in one cell (the
    # crash) for b = 0..3 when b + 4 has none, and in no cell for b = 0 (bar 4 has a crash too)
    roll = song(12, starts=(0, 1, 2, 3, 4))
    checks = window_checks(roll)
    assert checks["start_bar"].tolist() == [0, 1, 2, 3, 4]
    assert checks["crash"].tolist() == [True] * 5
    assert find_loops(roll).tolist() == [0, 1, 2, 3, 4]
    assert find_loops(roll, LoopRules(stride_bars=2)).tolist() == [0, 2, 4]
    assert find_loops(roll, LoopRules(stride_bars=3)).tolist() == [0, 3]
    assert window_checks(song(7))["start_bar"].tolist() == []  # shorter than a loop
    assert find_loops(song(7)).tolist() == []


def test_bass_held_into_a_window_counts_on_its_first_step():
    # built as MIDI: bass E2 from the middle of bar 0 held across the bar line into bar 1; a window at bar 1
    # finds bass sounding on its first step (frame-active), a window needs kick+crash there too
    bass = [program(33, channel=1), note(40, bar(0) + step(8), step(12), channel=1)]
    for b in range(1, 10):
        bass.append(note(40, bar(b) + step(4), step(2), channel=1))
    drums = [drum(36, bar(b)) for b in range(10)] + [drum(49, bar(1))]
    roll = midi_to_roll(build(track(*bass), track(*drums)))
    assert roll[STEPS_PER_BAR, bass_column(40)]  # held into bar 1
    checks = window_checks(roll)
    assert checks["bass"].tolist() == [False, True, False]  # bar 0 starts silent, bar 2's note is on step 4
    assert checks["kick"].tolist() == [True, True, True]
    assert checks["crash"].tolist() == [False, True, False]
    # bar 1 vs bar 5: bar 1 holds the tied note (4 steps) and the crash; bar 5 starts silent: 4 + 1 = 5 cells
    assert find_loops(roll).tolist() == []
    assert find_loops(roll, LoopRules(max_hamming=6 / 1488)).tolist() == [1]


def test_cut_loops():
    roll = song(10, starts=(0, 2))
    loops = cut_loops(roll, np.array([0, 2]))
    assert loops.shape == (2, 128, 93)
    assert np.array_equal(loops[1], roll[32:160])
    assert cut_loops(roll, np.array([], dtype=int)).shape == (0, 128, 93)


def test_rules_validation():
    with pytest.raises(ValueError, match="hamming_normalisation"):
        LoopRules(hamming_normalisation="song")
    with pytest.raises(ValueError, match="stride_bars"):
        LoopRules(stride_bars=0)
    with pytest.raises(ValueError, match="compared_bars"):
        LoopRules(compared_bars=(0, 8))
    assert LoopRules().hamming_denominator() == 1488
    assert LoopRules(hamming_normalisation="loop").hamming_denominator() == 11904
