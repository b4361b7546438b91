"""An edited codes.json never gives a traceback in `loopkit vary` (issue 21, item 8): codes outside the codebook,
not whole numbers, too many or too few, overflowing; a roll path outside the file's folder, absolute, or a pickled
.npy; a missing tempo. Each ends in one line that names the file."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from midi_builder import write
from test_ownloop import groove, run_error

from loopkit import cli
from loopkit.ownloop import encode as O


@pytest.fixture
def encoded(runs, tmp_path, capsys):
    """A codes.json written by `loopkit encode` with the smoke VQ-VAE (K = 16, t = 32), and its document."""
    out = tmp_path / "enc"
    assert cli.main(["encode", str(write(tmp_path / "groove.mid", groove())), "--checkpoint",
                     str(runs / "vq_vae" / "best.pt"), "--out", str(out)]) == 0  # fmt: skip
    capsys.readouterr()
    return out / "codes.json", json.loads((out / "codes.json").read_text())


def edited(path, doc, **changes):
    doc = {**doc, **changes}
    path.write_text(json.dumps(doc))
    return path


def vary_error(capsys, runs, path, tmp_path) -> str:
    return run_error(capsys, "vary", str(path), "--bars", "5-8", "-n", "1", "--checkpoint",
                     str(runs / "prior" / "best.pt"), "--out", str(tmp_path / "out"))  # fmt: skip


@pytest.mark.parametrize("codes, message", [
    ([99999] * 32, "code 99999 at latent step 0 lies outside this VQ-VAE's codebook (0..15)"),
    ([3] * 31 + [-1], "code -1 at latent step 31 lies outside any codebook"),
    (["abc"] * 32, "code 'abc' at latent step 0 is not a whole number"),
    ([2**63] * 32, "code 9223372036854775808 at latent step 0 lies outside any codebook"),
    ([0.5] * 32, "code 0.5 at latent step 0 is not a whole number"),
    ([1.0] * 32, "code 1.0 at latent step 0 is not a whole number"),
    ([True] * 32, "code True at latent step 0 is not a whole number"),
    ([1] * 31, "hold 31 codes; this VQ-VAE has 32 latent steps"),
    ([[1, 2]] * 32, "code [1, 2] at latent step 0 is not a whole number"),
    ("1 2 3", "its codes are not a list of code indices"),
])  # fmt: skip
def test_edited_codes_are_refused_in_one_line(runs, encoded, tmp_path, capsys, codes, message):
    path, doc = encoded
    err = vary_error(capsys, runs, edited(path, doc, codes=codes), tmp_path)
    assert message in err and str(path) in err


def test_the_roll_must_lie_beside_the_codes_and_hold_no_pickle(runs, encoded, tmp_path, capsys):
    path, doc = encoded
    for roll, message in [("/etc/passwd", "files.roll must be a file name relative to the codes file"),
                          ("../groove.mid", "points outside the codes file's folder"),
                          (7, "files.roll must be a file name relative to the codes file")]:  # fmt: skip
        err = vary_error(capsys, runs, edited(path, doc, files={**doc["files"], "roll": roll}), tmp_path)
        assert message in err and str(path) in err, roll
    # a pickled object array where the roll should be: refused, never unpickled
    evil = path.parent / "evil.npy"
    np.save(evil, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    err = vary_error(capsys, runs, edited(path, doc, files={**doc["files"], "roll": "evil.npy"}), tmp_path)
    assert f"{evil} (files.roll of {path}) is not a roll saved by loopkit" in err
    # not an .npy at all, and a roll of the wrong shape
    (path.parent / "text.npy").write_bytes(pickle.dumps("hello"))
    err = vary_error(capsys, runs, edited(path, doc, files={**doc["files"], "roll": "text.npy"}), tmp_path)
    assert "is not a roll saved by loopkit" in err
    np.save(path.parent / "short.npy", np.zeros((64, 93), dtype=bool))
    err = vary_error(capsys, runs, edited(path, doc, files={**doc["files"], "roll": "short.npy"}), tmp_path)
    assert "holds 64 steps; a loop has 128" in err


@pytest.mark.parametrize("field, value, message", [
    ("bpm", None, "bpm must be a tempo above 0"),
    ("bpm", "fast", "bpm must be a tempo above 0"),
    ("bpm", -5, "bpm must be a tempo above 0"),
    ("source", 3, "source must be the MIDI file's name"),
    ("first_bar", 0, "first_bar and last_bar must be the loop's bars"),
    ("tempo_changes", [{"bar": "x"}], "tempo_changes must be a list"),
    ("files", "roll.npy", "files must be a mapping"),
])  # fmt: skip
def test_other_edited_fields_are_refused_in_one_line(runs, encoded, tmp_path, capsys, field, value, message):
    path, doc = encoded
    err = vary_error(capsys, runs, edited(path, doc, **{field: value}), tmp_path)
    assert message in err and str(path) in err


def test_an_unedited_codes_file_reads_back(encoded):
    path, doc = encoded
    back = O.read_codes(path)
    assert back["codes"].tolist() == doc["codes"] and back["roll"].shape == (128, 93) and back["tempo_changes"] == ()
