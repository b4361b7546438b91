"""The book's display widgets: players that say what they are (caption, MIDI link, "same as", mostly silent),
tables formatted for reading (headers, no 0..n index, "-" for missing values, split to fit the page) and the claims
table."""

import base64
import re

import numpy as np
import pandas as pd

from loopkit.book import display
from loopkit.outputs.audio import AudioSettings
from loopkit.data.pianoroll import BASS_COLUMNS, LOOP_STEPS, N_COLUMNS, drum_column, midi_to_roll, write_midi

FAST = AudioSettings(sample_rate=16_000)


def loop(variant=0, silent_bars=0):
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    for bar in range(silent_bars, 8):
        roll[bar * 16 : bar * 16 + 16 : 4, BASS_COLUMNS.start + 12 + variant] = True
        roll[bar * 16, drum_column("kick")] = True
    return roll


def test_every_player_has_a_caption_and_its_midi_file():
    page = display.audio_grid_html([loop(0), loop(1)], labels=["a, seed 0", "b"], settings=FAST)
    figures = re.findall(r"<figure.*?</figure>", page)
    assert len(figures) == 2
    for fig, label in zip(figures, ["a, seed 0", "b"]):
        assert f">{label}</figcaption>" in fig and "<audio" in fig
        href = re.search(r'<a class="loopkit-midi" download="([^"]+)" href="data:audio/midi;base64,([^"]+)"', fig)
        assert href and href.group(1).endswith(".mid")
    midi = base64.b64decode(re.findall(r'href="data:audio/midi;base64,([^"]+)"', page)[1])
    assert midi[:4] == b"MThd" and np.array_equal(midi_to_roll(midi)[:LOOP_STEPS], loop(1))


def test_an_ogg_file_brings_the_midi_file_beside_it(tmp_path):
    from loopkit.outputs.audio import write_ogg

    write_ogg(loop(2), tmp_path / "loop_0000.ogg", settings=FAST)
    write_midi(loop(2), tmp_path / "loop_0000.mid")
    page = display.audio_grid_html([tmp_path / "loop_0000.ogg"], labels=["x"])
    assert base64.b64decode(re.search(r'midi;base64,([^"]+)"', page).group(1)) == (tmp_path / "loop_0000.mid").read_bytes()


def test_an_identical_loop_says_same_as_instead_of_playing_twice():
    clips = display.Clips()
    first = display.audio_grid_html([loop(0), loop(0)], labels=["argmax 1", "argmax 2"], settings=FAST, clips=clips)
    assert first.count("<audio") == 1 and "same loop as &ldquo;argmax 1&rdquo;" in first
    later = display.audio_grid_html([loop(0), loop(3)], labels=["temp 1, loop 1", "temp 1, loop 2"], settings=FAST,
                                    clips=clips)  # fmt: skip
    assert later.count("<audio") == 1 and "same loop as &ldquo;argmax 1&rdquo;" in later
    assert later.count("loopkit-midi") == 2  # a repeated loop keeps its MIDI link
    # a cell re-run (the same label, the same loop) plays again
    again = display.audio_grid_html([loop(3)], labels=["temp 1, loop 2"], settings=FAST, clips=clips)
    assert again.count("<audio") == 1


def test_a_mostly_silent_loop_says_so():
    page = display.audio_grid_html([loop(0, silent_bars=7)], labels=["CNN-VAE, loop 1"], settings=FAST)
    assert "CNN-VAE, loop 1 (mostly silent: 97% of its steps have no note)" in page


def test_readable_headers_index_and_missing_values():
    frame = pd.DataFrame({"reconstruction_error": [2.03e-2, np.nan], "train_FNB": [0.5, 1.0], "ok": [True, False],
                          "steps": [1400, 50000]})  # fmt: skip
    table = display.readable(frame, scientific=["reconstruction_error"], percent=["train_FNB"])
    assert list(table.columns) == ["error (validation)", "FNB (training)", "ok", "steps"]
    assert not table.show_index and list(table["error (validation)"]) == ["2.03e-02", "-"]
    assert list(table["ok"]) == ["yes", "no"] and list(table["steps"]) == [1400, "50,000"]
    html = table._repr_html_()
    assert "<th" in html and ">0<" not in html and "NaN" not in html and "&lt;NA&gt;" not in html
    named = display.readable(frame.set_index("steps"))
    assert named.show_index and "<th" in named._repr_html_()
    assert display.header(("after", "HD, Table 3")) == "after, HD, Table 3"


def test_wide_tables_are_split_to_fit_the_page():
    frame = pd.DataFrame({f"column_{i}": [1.23456e-3 * i] for i in range(14)}, index=pd.Index(["VQ-VAE (temp 1)"], name="model"))
    html = display.readable(frame, scientific=list(frame.columns))._repr_html_()
    parts = html.count("<table")
    assert parts >= 2 and f"(part 1 of {parts})" in html
    assert html.count("VQ-VAE (temp 1)") == parts  # every part repeats the row labels
    narrow = display.table_html(frame.iloc[:, :3])
    assert narrow.count("<table") == 1 and "part 1" not in narrow
    # numbers never wrap; text does
    assert 'white-space:nowrap">1.23e-03' in html or "nowrap" in html


def test_claims_html_shows_rule_numbers_interval_and_verdict():
    verdicts = pd.DataFrame([{"claim": "A < B", "rule": "A minus B below 0. Holds when ...", "paper": "A 1; B 2",
                              "this build": "A 1.5; B 1.4", "interval": "A - B: +0.10 [-0.05, +0.20]",
                              "holds": "within noise", "why": "A - B: within noise."}], index=["c"])
    html = display.claims_html(verdicts)
    for text in ("(c)", "A &lt; B", "Rule.", "A minus B below 0", "Paper:", "This build:", "[-0.05, +0.20]",
                 "within noise", "#b35806"):
        assert text in html, text


def test_claims_html_renders_a_column_per_recorded_run():
    verdicts = pd.DataFrame([{"claim": "A < B", "rule": "r", "paper": "p", "this build": "A 1.5; B 1.4", "interval": "i",
                              "holds": "not testable at this budget", "why": "B 10% removed."}], index=["c"])
    long_run = pd.DataFrame([{"claim": "A < B", "rule": "r", "paper": "p", "this build": "A 1.0; B 2.0",
                              "interval": "i", "holds": "holds", "why": ""}], index=["c"])
    html = display.claims_html(verdicts, recorded={"recorded: long": long_run, "recorded: paper": long_run.iloc[:0]})
    assert html.count("<th>") == 5 and "Verdict: recorded: long" in html and "Verdict: recorded: paper" in html
    assert "A 1.0; B 2.0" in html and "#1b7837" in html  # the record's numbers and its "holds"
    assert "#2166ac" in html and "B 10% removed." in html  # this build's verdict, coloured, with its reason
    assert "<p>-</p>" in html  # a claim the record lacks
    assert display.claims_html(verdicts).count("<th>") == 3


def test_metric_tables_glossary_and_intervals():
    from loopkit.evaluation.table_format import BOOTSTRAP
    from loopkit.paper import METRIC_GROUPS, TABLE3_MUSICAL_METRICS

    row = {"model": "VQ-VAE (temp 1)", "profile": "cpu"}
    for m, v in TABLE3_MUSICAL_METRICS["VQ-VAE (temp 1)"].items():
        row[m], row[f"{m} (paper)"] = v * 1.1, v
    frame = pd.DataFrame([row])
    rows = display.metric_rows(frame, METRIC_GROUPS["loop properties"])
    assert list(rows.columns) == ["HD", "FND", "FNB", "DB"]
    assert list(rows.index) == [("VQ-VAE (temp 1)", "ours (cpu)"), ("VQ-VAE (temp 1)", "paper")]
    assert rows.loc[("VQ-VAE (temp 1)", "paper"), "HD"] == "4.25e-03"
    glossary = display.metric_glossary_markdown()
    assert glossary.count("\n- **") == 9 and "**copies**" in glossary
    frame.attrs[BOOTSTRAP] = {"VQ-VAE (temp 1)": {"HD": np.linspace(1e-3, 2e-3, 101)}}
    shown = display.with_intervals(frame, ["HD", "FND"])
    columns = list(shown.columns)
    assert columns.index("HD, 95% interval") == columns.index("HD") + 1
    assert columns.index("FND, 95% interval") == columns.index("FND") + 1
    assert shown["HD, 95% interval"].iloc[0] == "[1.03e-03, 1.98e-03]" and shown["FND, 95% interval"].iloc[0] == "-"
