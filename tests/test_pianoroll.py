"""The bass+drum pianoroll: every reading rule on small MIDI files built with mido, expected rolls by hand."""

import io

import mido
import numpy as np
import pytest

from loopkit.data import pianoroll as pr
from loopkit.data.pianoroll import (
    BASS_COLUMNS,
    DRUM_COLUMNS,
    DRUM_COMPONENTS,
    LOOP_STEPS,
    N_COLUMNS,
    STEPS_PER_BAR,
    bass_column,
    bass_pitch,
    column_names,
    drum_column,
    lowest_bass,
    midi_to_roll,
    roll_to_midi,
    ticks_to_steps,
    write_midi,
)
from midi_builder import DRUM_CHANNEL, bar, build, drum, note, off, on, program, step, tempo, time_signature, track

BASS = 1  # the channel the tests play bass on


def bass_track(*notes, prog=33, channel=BASS):
    return track(program(prog, channel=channel), *notes)


def expected(n_steps=STEPS_PER_BAR, bass=(), drums=()):
    """A hand-written roll: ``bass`` = (pitch, first step, last step inclusive); ``drums`` = (component, step)."""
    roll = np.zeros((n_steps, N_COLUMNS), dtype=bool)
    for pitch, first, last in bass:
        roll[first : last + 1, bass_column(pitch)] = True
    for component, s in drums:
        roll[s, drum_column(component)] = True
    return roll


def cells(roll):
    """The active cells as readable (step, column name) pairs, for assertion messages."""
    names = column_names()
    return [(int(t), names[p]) for t, p in zip(*np.nonzero(roll))]


def assert_roll(actual, want):
    assert actual.shape == want.shape
    assert cells(actual) == cells(want)


# ---------------------------------------------------------------------------------------------------------
# layout and drum maps


def test_column_layout():
    assert N_COLUMNS == 93 and LOOP_STEPS == 128 and STEPS_PER_BAR == 16
    assert bass_column(24) == 0 and bass_column(107) == 83
    assert bass_pitch(0) == 24 and bass_pitch(83) == 107
    assert [drum_column(c) for c in DRUM_COMPONENTS] == list(range(84, 93))
    assert BASS_COLUMNS == slice(0, 84) and DRUM_COLUMNS == slice(84, 93)
    names = column_names()
    assert names[0] == "C1" and names[16] == "E2" and names[83] == "B7" and names[84] == "kick" and names[92] == "ride"
    with pytest.raises(ValueError, match="outside C1..B7"):
        bass_column(23)
    with pytest.raises(ValueError, match="not a bass column"):
        bass_pitch(84)
    with pytest.raises(ValueError, match="unknown drum component"):
        drum_column("cowbell")


def test_drum_maps():
    full, strict = pr.DRUM_MAPS["full"], pr.DRUM_MAPS["strict"]
    assert sorted(full) == list(range(35, 82))  # all 47 GM Level 1 percussion notes
    assert sorted(strict) == [35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 55, 57, 59]
    assert len(strict) == 20 and len(full) - len(strict) == 27
    assert full[52] == "crash" and full[53] == "ride" and full[54] == "closed_hihat"
    assert 52 not in strict and 54 not in strict
    assert set(full.values()) == set(strict.values()) == set(DRUM_COMPONENTS)
    table = pr.drum_map_lookup("strict")
    assert table[36] == drum_column("kick") and table[52] == -1 and table[34] == -1 and table[82] == -1
    with pytest.raises(ValueError, match="unknown drum map"):
        pr.drum_map_lookup("magenta")


# ---------------------------------------------------------------------------------------------------------
# quantisation


def test_ticks_to_steps_rounds_to_nearest_step_half_up():
    # tpq 480: a step is 120 ticks; 60 is half-way and goes up
    assert ticks_to_steps([0, 59, 60, 119, 120, 179, 180, 1920], 480).tolist() == [0, 0, 1, 1, 1, 1, 2, 16]
    # tpq 1: a tick is a quarter note, 4 steps
    assert ticks_to_steps([0, 1, 2, 4], 1).tolist() == [0, 4, 8, 16]
    # tpq 96: a step is 24 ticks
    assert ticks_to_steps([11, 12, 36, 383, 384], 96).tolist() == [0, 1, 2, 16, 16]


@pytest.mark.parametrize("tpq", [1, 96, 384, 480])
def test_tpq_values_give_the_same_roll(tpq):
    # quarter-note positions only (tpq 1 cannot express less): bass E1 on beats 1-2 of bar 0 (held two beats),
    # G1 on beat 4; kick on beats 1 and 3, snare on 2 and 4; a crash on bar 1's first beat.
    q = tpq
    data = build(
        track(time_signature(4, 4), tempo(100)),
        bass_track(note(28, 0, 2 * q, channel=BASS), note(31, 3 * q, q, channel=BASS)),
        track(drum(36, 0, q), drum(38, q, q), drum(36, 2 * q, q), drum(38, 3 * q, q), drum(49, 4 * q, q)),
        tpq=tpq,
    )
    want = expected(
        2 * STEPS_PER_BAR,
        bass=[(28, 0, 7), (31, 12, 15)],
        drums=[("kick", 0), ("snare", 4), ("kick", 8), ("snare", 12), ("crash", 16)],
    )
    assert_roll(midi_to_roll(data), want)


def test_nearest_step_and_short_notes():
    # tpq 480: bass note at tick 59 (step 0), lasting 10 ticks: still covers its onset step; a note from tick 60
    # (half-way: step 1) to tick 180 (half-way: step 2) covers step 1 only.
    data = build(
        bass_track(note(40, 59, 10, channel=BASS), note(45, 60 + 1920, 120, channel=BASS)),
        track(drum(36, 1919), drum(38, 1920 + 59), drum(42, 1920 + 60)),
    )
    # kick at tick 1919 rounds to step 16 (bar 1's first step); snare at 1979 -> step 16; hi-hat at 1980 -> 17
    want = expected(
        2 * STEPS_PER_BAR,
        bass=[(40, 0, 0), (45, 17, 17)],
        drums=[("kick", 16), ("snare", 16), ("closed_hihat", 17)],
    )
    assert_roll(midi_to_roll(data), want)


def test_tempo_changes_do_not_move_notes():
    hits = track(*(drum(36, bar(b)) for b in range(3)), *(drum(42, bar(b) + step(6)) for b in range(3)))
    bass = bass_track(note(33, 0, bar(3), channel=BASS))
    steady = build(track(tempo(120)), bass, hits)
    changing = build(track(tempo(120), tempo(60, at=bar(1)), tempo(200, at=bar(2) + step(3))), bass, hits)
    want = expected(
        3 * STEPS_PER_BAR,
        bass=[(33, 0, 47)],
        drums=[
            ("kick", 0),
            ("kick", 16),
            ("kick", 32),
            ("closed_hihat", 6),
            ("closed_hihat", 22),
            ("closed_hihat", 38),
        ],
    )
    assert_roll(midi_to_roll(steady), want)
    assert_roll(midi_to_roll(changing), want)


def test_a_pickup_before_the_first_bar():
    # 4/4 starts at beat 2 (tick 480): the first bar line is there, beat 1 is a pickup that belongs to no bar.
    # Pickup: a kick at tick 0 (dropped), a bass note 0..120 (dropped), a bass note 240..960 held into bar 1
    # (sounds on steps 0..3 of it); a snare at tick 420 rounds to bar 1's first step (half-way rounds up).
    data = build(
        track(time_signature(4, 4, at=480), tempo(120)),
        bass_track(note(33, 0, 120, channel=BASS), note(40, 240, 720, channel=BASS)),
        track(drum(36, 0), drum(38, 420), drum(36, 480), drum(49, 480), drum(42, 480 + bar(1))),
    )
    assert pr.bar_origin(pr.read_score(data)) == 480
    want = expected(
        2 * STEPS_PER_BAR,
        bass=[(40, 0, 3)],
        drums=[("kick", 0), ("snare", 0), ("crash", 0), ("closed_hihat", 16)],
    )
    assert_roll(midi_to_roll(data), want)


def test_a_time_signature_on_a_later_bar_line_keeps_the_grid():
    # 4/4 first set at bar 2 (tick 3840): by the MIDI default the bars before it are 4/4 too
    data = build(track(time_signature(4, 4, at=bar(2))), bass_track(note(40, 0, step(2), channel=BASS)))
    assert pr.bar_origin(pr.read_score(data)) == 0
    assert_roll(midi_to_roll(data), expected(bass=[(40, 0, 1)]))


# ---------------------------------------------------------------------------------------------------------
# bass


def test_bass_programs_32_to_39_only():
    # one track per program, each plays its own pitch on its own step
    tracks = []
    for i, prog in enumerate([31, 32, 35, 39, 40]):
        ch = i + 1
        tracks.append(track(program(prog, channel=ch), note(36 + i, step(i), step(1), channel=ch)))
    want = expected(bass=[(37, 1, 1), (38, 2, 2), (39, 3, 3)])
    assert_roll(midi_to_roll(build(*tracks)), want)


def test_bass_program_change_inside_a_track():
    # program 33 for the first note, then the channel switches to piano (0): the second note is not bass
    data = build(
        track(
            program(33, channel=BASS),
            note(40, 0, step(2), channel=BASS),
            program(0, channel=BASS, at=step(4)),
            note(41, step(8), step(2), channel=BASS),
        )
    )
    assert_roll(midi_to_roll(data), expected(bass=[(40, 0, 1)]))


def test_only_the_lowest_bass_pitch_survives_across_tracks():
    # E2 (40) held on steps 0-7 in one track; C2 (36) on steps 4-5 in another bass track; B1 (35) on step 7
    data = build(
        bass_track(note(40, 0, step(8), channel=1), channel=1),
        track(program(38, channel=2), note(36, step(4), step(2), channel=2), note(35, step(7), step(1), channel=2)),
    )
    want = expected(bass=[(40, 0, 3), (36, 4, 5), (40, 6, 6), (35, 7, 7)])
    assert_roll(midi_to_roll(data), want)
    assert midi_to_roll(data)[:, BASS_COLUMNS].sum(axis=1).max() == 1


def test_held_notes_are_active_on_every_step_they_cover():
    # a whole note from bar 0 step 8 held to bar 1 step 4 (exclusive): steps 8..19
    data = build(bass_track(note(45, step(8), step(12), channel=BASS)), track(drum(36, 0)))
    assert_roll(midi_to_roll(data), expected(2 * STEPS_PER_BAR, bass=[(45, 8, 19)], drums=[("kick", 0)]))


def test_overlapping_notes_of_one_pitch():
    # note-on E2 at step 0, again at step 2, note-off at step 4, note-off at step 8: each note-off ends the
    # earliest open note (0-4 and 2-8), so the pitch sounds on steps 0..7
    data = build(
        bass_track(
            on(40, 0, channel=BASS),
            on(40, step(2), channel=BASS),
            off(40, step(4), channel=BASS),
            off(40, step(8), channel=BASS),
        )
    )
    assert_roll(midi_to_roll(data), expected(bass=[(40, 0, 7)]))
    # two note-ons and a single note-off (written as note-on velocity 0): the note left open is never closed and
    # is dropped, as pretty_midi also does; the pitch sounds on steps 0..3
    data = build(
        bass_track(
            on(40, 0, channel=BASS),
            on(40, step(2), channel=BASS),
            off(40, step(4), channel=BASS, running_zero=True),
            note(47, step(12), step(1), channel=BASS),
        )
    )
    assert_roll(midi_to_roll(data), expected(bass=[(40, 0, 3), (47, 12, 12)]))


def test_bass_pitches_outside_c1_b7_are_dropped():
    data = build(
        bass_track(
            note(23, 0, step(1), channel=BASS),  # B0: dropped
            note(24, step(1), step(1), channel=BASS),  # C1: kept
            note(107, step(2), step(1), channel=BASS),  # B7: kept
            note(108, step(3), step(1), channel=BASS),  # C8: dropped
            note(108, step(5), step(2), channel=BASS),  # C8 over a kept lower note: does not hide it
            note(30, step(5), step(2), channel=BASS),
        )
    )
    assert_roll(midi_to_roll(data), expected(bass=[(24, 1, 1), (107, 2, 2), (30, 5, 6)]))


def test_lowest_bass_both_methods_agree_with_brute_force():
    rng = np.random.default_rng(7)
    for n_steps, n_notes, max_len in [(64, 20, 10), (300, 400, 300)]:  # the second forces the difference array
        on_ = rng.integers(0, n_steps, n_notes)
        off_ = np.minimum(on_ + rng.integers(1, max_len + 1, n_notes), n_steps)
        col = rng.integers(0, 84, n_notes)
        got = lowest_bass(on_, off_, col, n_steps)
        want = np.full(n_steps, -1)
        for a, b, c in zip(on_, off_, col):
            for t in range(a, b):
                want[t] = c if want[t] < 0 else min(want[t], c)
        assert got.tolist() == want.tolist()
    assert (off_ - on_).sum() > 8 * 300 + 4096  # the second case did take the other branch


# ---------------------------------------------------------------------------------------------------------
# drums


def test_drums_are_onsets_only_and_zero_length_hits_count():
    data = build(track(drum(36, 0, bar(1)), drum(38, step(4), 0), drum(42, step(4), step(3))))
    assert_roll(midi_to_roll(data), expected(drums=[("kick", 0), ("snare", 4), ("closed_hihat", 4)]))


def test_drum_map_merges_and_drops_notes():
    # 52 china -> crash (full) / dropped (strict); 54 tambourine -> closed hi-hat / dropped;
    # 82 (outside GM Level 1) dropped by both; 35 acoustic bass drum -> kick in both
    data = build(track(drum(52, 0), drum(54, step(1)), drum(82, step(2)), drum(35, step(3))))
    assert_roll(midi_to_roll(data), expected(drums=[("crash", 0), ("closed_hihat", 1), ("kick", 3)]))
    assert_roll(midi_to_roll(data, drum_map="strict"), expected(drums=[("kick", 3)]))


def test_drums_only_on_the_drum_channel_and_any_program():
    # a kick note number on a non-drum channel is not a drum; a drum track with a program change is
    data = build(track(note(36, 0, step(1), channel=3)), track(program(25, channel=DRUM_CHANNEL), drum(38, step(2))))
    assert_roll(midi_to_roll(data), expected(drums=[("snare", 2)]))


def test_type_0_file_with_bass_and_drums_on_one_track():
    data = build(track(program(34, channel=BASS), note(38, 0, step(4), channel=BASS), drum(36, 0), drum(49, 0)))
    assert_roll(midi_to_roll(data), expected(bass=[(38, 0, 3)], drums=[("kick", 0), ("crash", 0)]))


# ---------------------------------------------------------------------------------------------------------
# lengths


def test_roll_length_is_whole_bars_and_limits():
    data = build(bass_track(note(40, bar(2) + step(3), step(1), channel=BASS)))
    assert midi_to_roll(data).shape == (3 * STEPS_PER_BAR, N_COLUMNS)
    assert midi_to_roll(build(track(note(60, 0, 10)))).shape == (0, N_COLUMNS)  # no bass, no drums
    assert midi_to_roll(data, steps=LOOP_STEPS).shape == (LOOP_STEPS, N_COLUMNS)
    with pytest.raises(ValueError, match="more than the 32"):
        midi_to_roll(data, steps=32)
    with pytest.raises(ValueError, match="over the limit of 2 bars"):
        pr.score_to_roll(pr.read_score(data), max_steps=2 * STEPS_PER_BAR)


def test_read_from_path_and_bytes(tmp_path):
    data = build(bass_track(note(40, 0, step(2), channel=BASS)))
    path = tmp_path / "a.mid"
    path.write_bytes(data)
    assert np.array_equal(midi_to_roll(path), midi_to_roll(data))


# ---------------------------------------------------------------------------------------------------------
# roll -> MIDI


def random_loop(rng, density=0.1):
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    roll[:, DRUM_COLUMNS] = rng.random((LOOP_STEPS, 9)) < density
    pitch = rng.integers(0, 84, LOOP_STEPS)
    sounding = rng.random(LOOP_STEPS) < 0.6
    roll[np.nonzero(sounding)[0], pitch[sounding]] = True
    # runs of one pitch, so that notes longer than a step appear
    roll[40:48, :84] = False
    roll[40:48, bass_column(40)] = True
    return roll


def test_roll_to_midi_to_roll_is_the_identity():
    rng = np.random.default_rng(0)
    for _ in range(20):
        roll = random_loop(rng)
        for tpq in (4, 96, 480):
            assert np.array_equal(midi_to_roll(roll_to_midi(roll, tpq=tpq), steps=LOOP_STEPS), roll)
    silent_end = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    silent_end[0, drum_column("kick")] = True
    assert np.array_equal(midi_to_roll(roll_to_midi(silent_end), steps=LOOP_STEPS), silent_end)


def test_written_midi_follows_the_playback_convention(tmp_path):
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    roll[0:4, bass_column(40)] = True  # one note of 4 steps
    roll[4, bass_column(40)] = False
    roll[6, bass_column(43)] = True
    roll[0, drum_column("kick")] = roll[0, drum_column("crash")] = True
    path = write_midi(roll, tmp_path / "loop.mid", bpm=90, tpq=480)
    mid = mido.MidiFile(file=io.BytesIO(path.read_bytes()))
    assert mid.ticks_per_beat == 480
    events = []
    for tr in mid.tracks:
        now = 0
        for msg in tr:
            now += msg.time
            events.append((now, msg))
    tempos = [m.tempo for _, m in events if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(90)]
    sigs = [(m.numerator, m.denominator) for _, m in events if m.type == "time_signature"]
    assert sigs == [(4, 4)]
    ons = sorted((t, m.channel, m.note, m.velocity) for t, m in events if m.type == "note_on" and m.velocity > 0)
    bass_channel = next(c for _, c, n, _ in ons if n == 40)
    assert bass_channel != DRUM_CHANNEL
    programs = [(m.channel, m.program) for _, m in events if m.type == "program_change"]
    assert (bass_channel, 33) in programs
    assert ons == sorted(
        [(0, bass_channel, 40, 80), (720, bass_channel, 43, 80), (0, DRUM_CHANNEL, 36, 100), (0, DRUM_CHANNEL, 49, 100)]
    )
    offs = sorted((t, m.note) for t, m in events if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0))
    assert (480, 40) in offs and (840, 43) in offs  # 4 steps and 1 step of 120 ticks
    assert not list(tmp_path.glob("*.tmp"))


def test_roll_to_midi_rejects_bad_input():
    with pytest.raises(ValueError, match="expected a"):
        roll_to_midi(np.zeros((16, 90), dtype=bool))
    for bpm in (0, 3, 0.001, 1001, float("nan"), float("inf")):  # 3 bpm would wrap round in 24 bits to 18.6 bpm
        with pytest.raises(ValueError, match="tempo must lie between 3.58 bpm"):
            roll_to_midi(np.zeros((16, 93), dtype=bool), bpm=bpm)
    with pytest.raises(ValueError, match="multiple of 4"):
        roll_to_midi(np.zeros((16, 93), dtype=bool), tpq=90)


def test_the_slowest_tempo_a_midi_file_holds_is_written_exactly(tmp_path):
    import mido

    from loopkit.data.pianoroll import MIN_BPM

    path = write_midi(np.zeros((16, 93), dtype=bool), tmp_path / "slow.mid", bpm=MIN_BPM)
    tempos = [m.tempo for t in mido.MidiFile(path).tracks for m in t if m.type == "set_tempo"]
    assert tempos == [0xFFFFFF]  # 24 bits, the largest: no wrap


@pytest.mark.parametrize("argv", [["generate", "--checkpoint", "none.pt", "-n", "1", "--out", "x"],
                                  ["render", "none.mid", "--out", "x"],
                                  ["listen", "prepare", "--group", "a=none", "--group", "b=none", "--out", "x"]])
def test_commands_refuse_a_tempo_no_midi_file_holds_in_one_line(argv, capsys, tmp_path, monkeypatch):
    from loopkit import cli

    monkeypatch.chdir(tmp_path)  # nothing is written: the tempo is refused first
    assert cli.main(argv + ["--bpm", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tempo must lie between 3.58 bpm" in err and "got 3 bpm" in err, err
    assert not any(tmp_path.iterdir())
