"""Recorded runs (loopkit.book.records): a book run's text results recorded with their provenance and read back, and the
records committed in the repository."""

import json

import numpy as np
import pandas as pd
import pytest

from loopkit.book import records
from loopkit.data.dataset import loops_from_arrays, pack_rolls, write_dataset
from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import N_COLUMNS


def _run_folder(tmp_path):
    """A book output folder as the chapters leave it: loops, tables, a model's metrics.csv, chapter timings."""
    out = tmp_path / "runs" / "long"
    rolls = np.zeros((6, 128, N_COLUMNS), dtype=bool)
    rolls[:, 0, 0] = True
    loops = loops_from_arrays(rolls, ["train"] * 4 + ["valid", "test"]).meta
    write_dataset(out / "loops", pack_rolls(rolls), loops, pd.DataFrame(), {}, {})
    (out / "tables").mkdir(parents=True)
    pd.DataFrame([{"model": "VQ-VAE", "reconstruction_error": 1e-2, "train_removed": 0.6}]).to_csv(out / "tables" / "table1.csv", index=False)
    pd.DataFrame([{"model": "VQ-VAE (temp 1)", "FNB": 0.8}]).to_csv(out / "tables" / "table3.csv", index=False)
    claims = pd.DataFrame([{"claim": "c", "rule": "r", "paper": "p", "this build": "n", "interval": "i",
                            "holds": "holds", "why": ""}], index=pd.Index(["a"], name="id"))
    claims.to_csv(out / "tables" / "claims.csv")
    (out / "models" / "vq_vae").mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 2], "step": [100, 200], "train_error": [0.02, 0.01], "seconds": [3.0, 4.0]}).to_csv(
        out / "models" / "vq_vae" / "metrics.csv", index=False)
    (out / "timings").mkdir()
    for chapter, s in (("01_extract_loops", 60.0), ("02_train_models", 3000.0)):
        (out / "timings" / f"{chapter}.json").write_text(json.dumps({"chapter": chapter, "profile": "long",
                                                                     "rehearsal": 0, "measured_s": s}))
    return out


def test_a_run_is_recorded_with_its_provenance_and_read_back(tmp_path):
    out = _run_folder(tmp_path)
    folder = records.record_run(out, "long", "make book PROFILE=long RECORD=1", root=tmp_path, note="a test")
    assert folder == tmp_path / "records" / "long"
    assert sorted(p.name for p in (folder / "tables").iterdir()) == ["claims.csv", "table1.csv", "table3.csv"]
    assert (folder / "curves" / "vq_vae.csv").read_text() == (out / "models" / "vq_vae" / "metrics.csv").read_text()
    rec = records.load_record("long", root=tmp_path)
    p = rec.provenance
    assert p["profile"] == "long" and p["wall_s"] == 3060.0 and p["note"] == "a test"
    assert p["corpus"]["loops"] == 6 and p["corpus"]["splits"] == {"train": 4, "valid": 1, "test": 1}
    assert len(p["corpus"]["fingerprint"]) >= 16 and p["machine"]["cpu_count"] >= 1
    assert p["models"]["vq_vae"] == {"label": "VQ-VAE", "epochs": 2, "steps": 200, "seconds": 7.0,
                                     "command": f"loopkit train vq_vae --data {out / 'loops'} --profile long "
                                                f"--out {out / 'models' / 'vq_vae'}"}
    assert rec.tables["claims"].loc[0, "holds"] == "holds" and list(rec.curves) == ["vq_vae"]
    assert records.recorded_runs(tmp_path) == ["long"]
    assert [r.name for r in records.load_records(tmp_path, exclude_profile="long")] == []
    assert list(records.claims_columns(records.load_records(tmp_path))) == ["recorded: long"]


def test_an_incomplete_run_or_record_is_refused_in_one_line(tmp_path):
    out = _run_folder(tmp_path)
    (out / "tables" / "claims.csv").unlink()
    with pytest.raises(LoopkitError, match="has no claims.csv"):
        records.record_run(out, "long", "cmd", root=tmp_path)
    with pytest.raises(LoopkitError, match="no recorded run 'nope'"):
        records.load_record("nope", root=tmp_path)
    folder = tmp_path / "records" / "bad"
    folder.mkdir(parents=True)
    (folder / "provenance.json").write_text(json.dumps({"name": "bad"}))
    with pytest.raises(LoopkitError, match="lacks the provenance field"):
        records.load_record("bad", root=tmp_path)


@pytest.mark.parametrize("name", records.recorded_runs())
def test_the_committed_records_load_and_carry_their_provenance(name):
    rec = records.load_record(name)
    p = rec.provenance
    assert p["commit"] and p["command"] and p["date"] and p["wall_s"] > 0
    assert set(p["models"]) >= {"ar_lstm_vae", "nonar_lstm_vae", "cnn_vae", "vq_vae", "prior"}
    assert set(rec.curves) == set(p["models"])
    assert list(rec.tables["claims"]["id"]) == list("abcdefghijklmno")
    t1 = rec.tables["table1"].set_index("model")
    for m in p["models"].values():  # Table 1's models are the recorded curves' models, at their recorded steps
        if m["label"] in t1.index:
            assert int(t1.loc[m["label"], "steps"]) <= m["steps"]


def test_still_falling_measures_the_last_fifth_of_a_run():
    h = pd.DataFrame({"train_error": [0.1, 0.08, 0.06, 0.05, 0.05, 0.05, 0.05, 0.05, 0.049, 0.045]})
    assert records.still_falling(h) == pytest.approx((0.049 - 0.045) / 0.049)  # the last 2 of 10 epochs
    assert records.still_falling(h, tail=0.5) == pytest.approx((0.05 - 0.045) / 0.05)
    assert np.isnan(records.still_falling(h.iloc[:1]))
    assert records.still_falling(pd.DataFrame({"train_error": [0.05, np.nan, 0.05]})) == 0.0  # unvalidated epochs skipped
