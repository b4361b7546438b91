"""The real demo corpus end to end: every file accounted for, every loop obeys the rules and survives
roll -> MIDI -> roll unchanged."""

import numpy as np

from loopkit.data.rules import LoopRules, find_loops
from loopkit.data.pianoroll import LOOP_STEPS, midi_to_roll, roll_to_midi


def test_every_input_file_is_accounted_for(demo_corpus, demo_loops):
    files = demo_loops.files
    on_disk = sorted(p for p in demo_corpus.rglob("*") if p.is_file())
    assert len(files) == len(on_disk)
    assert set(files["status"]) <= {"used", "rejected", "failed", "skipped"}
    midi = [p for p in on_disk if p.suffix == ".mid"]
    assert (files["status"] != "skipped").sum() == len(midi)
    assert demo_loops.funnel  # saved beside the data


def test_demo_loops_obey_the_paper_rules(demo_loops):
    assert len(demo_loops) > 100  # a few hundred strict loops (reproduction notes)
    rolls = np.asarray(demo_loops.rolls)
    assert rolls.shape[1:] == (128, 93)
    rules = LoopRules()
    for roll in rolls:
        assert list(find_loops(roll, rules)) == [0]
    assert set(demo_loops.meta["split"]) == {"train", "valid", "test"}
    # splits are by source file: no file contributes loops to two splits
    assert (demo_loops.meta.groupby("source")["split"].nunique() == 1).all()


def test_round_trip_is_the_identity_for_every_demo_loop(demo_loops):
    for i, roll in enumerate(demo_loops.rolls):
        back = midi_to_roll(roll_to_midi(roll, bpm=float(demo_loops.meta["bpm"][i])), steps=LOOP_STEPS)
        assert np.array_equal(back, roll), f"loop {i} ({demo_loops.meta['source'][i]}) changed in the round trip"
