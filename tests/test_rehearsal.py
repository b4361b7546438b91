"""The rehearsal (loopkit.book.rehearsal): its settings, its own folder, the projections by hand, and `loopkit book
--rehearsal` wired to the notebooks and the book's banner. The whole rehearsal book on the smoke profile is a slow
test in tests/test_book.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from loopkit import paper
from loopkit.models.checkpoints import BEST, CHECKPOINT_FORMAT, save_checkpoint
from loopkit.training.rundir import METRICS
from loopkit.cli import main as cli_main
from loopkit.errors import LoopkitError
from loopkit.book.display import metric_rows
from loopkit.evaluation.table_format import metric_table_markdown, source_label
from loopkit.book.rehearsal import (
    REHEARSAL,
    chapter_clock,
    describe,
    rehearsal_folder,
    rows_per_table,
    rows_projection,
    run_settings,
    summary,
    training_projection,
    training_runs,
)
from loopkit.data.synthetic import synthetic_dataset


@pytest.fixture(scope="module")
def loops():
    return synthetic_dataset(50, valid=0.2, seed=1)  # 40 train, 10 valid


def test_a_rehearsal_has_its_own_folder_and_its_settings():
    assert str(rehearsal_folder("runs/paper")) == "runs/paper-rehearsal"
    assert str(rehearsal_folder("runs/paper-rehearsal")) == "runs/paper-rehearsal"
    assert run_settings("vq_vae", {"amp": "bf16", "prior.epochs": 9}, epochs=0, rehearsal=2) == {"amp": "bf16",
                                                                                                 "until_epoch": 2}
    # epochs comes after settings, and sizes the run in epochs instead of a profile's steps
    assert run_settings("prior", {"prior.epochs": 9}, epochs=3) == {"epochs": 3, "steps": 0}
    assert run_settings("prior", {"prior.steps": 50}, epochs=3) == {"epochs": 3, "steps": 50}
    with pytest.raises(LoopkitError, match="no field"):
        run_settings("prior", {"epoch": 9})
    assert rows_per_table(0, 2, 218) == REHEARSAL.loops_per_row and rows_per_table(0, 0, 218) == 218
    assert rows_per_table(64, 2, 218) == 64
    assert "first 2 epochs" in describe(2, "paper") and describe(0, "paper") == "the full run of profile paper"


def _run(folder, seconds, val_seconds, val_error, **meta):
    folder.mkdir(parents=True)
    pd.DataFrame({"epoch": range(1, len(seconds) + 1), "seconds": seconds, "val_seconds": val_seconds,
                  "val_error": val_error}).to_csv(folder / METRICS, index=False)
    save_checkpoint({"format": CHECKPOINT_FORMAT, **meta}, folder / BEST)


def test_training_projection_by_hand(loops, tmp_path):
    """Epochs of 4 and 2.5 s of training (5 and 3 s with 1 and 0.5 s of validation): the steady epoch is 2.5 s,
    the steady validation 0.5 s. A 10-epoch schedule validating every 3rd epoch (3, 6, 9 and the last, 10):
    10 x 2.5 + 4 x 0.5 = 27 s. At LMD-full's size the training part scales by 120,600 / 40 and the validation
    part by (15,075 valid + 2,048 training loops) / (10 + 40)."""
    _run(tmp_path / "models" / "vq_vae", [5.0, 3.0], [1.0, 0.5], [0.1, 0.1], epochs_scheduled=10, trained_to=2,
         train_config={"validate_every": 3, "train_eval_loops": 2048, "valid_loops": 0, "until_epoch": 2})
    _run(tmp_path / "table2" / "vq_vae_t64_L16_K512", [2.0], [0.5], [0.2], epochs_scheduled=1, trained_to=1,
         train_config={"validate_every": 1, "train_eval_loops": 0, "valid_loops": 5})
    runs = training_runs(tmp_path)
    assert list(runs) == ["VQ-VAE", "Table 2: vq_vae_t64_L16_K512"]
    frame = training_projection(runs, loops).set_index("run")
    vq = frame.loc["VQ-VAE"]
    assert vq["trained"] == "2 of 10 epochs" and vq["label"] == "rehearsal: 2 of 10 epochs"
    assert vq["s per epoch"] == pytest.approx(2.5) and vq["s per validation"] == pytest.approx(0.5)
    assert vq["full run s"] == pytest.approx(27.0) and vq["measured s"] == pytest.approx(8.0)
    at_paper = 25.0 * paper.CORPUS["train"] / 40 + 2.0 * (paper.CORPUS["valid"] + 2048) / (10 + 40)
    assert vq["full run s at LMD-full size"] == pytest.approx(at_paper)
    cell = frame.loc["Table 2: vq_vae_t64_L16_K512"]  # one epoch: its own; 5 valid loops both here and on LMD
    assert cell["full run s"] == pytest.approx(2.0)
    assert cell["full run s at LMD-full size"] == pytest.approx(1.5 * paper.CORPUS["train"] / 40 + 0.5)


def test_rows_projection_by_hand(loops):
    t3 = pd.DataFrame({"model": ["Training set", "CNN-VAE"], "n": [40, 100], "seconds": [0.4, 2.0]})
    frame = rows_projection({"Table 3": t3}, loops).set_index("run")
    row = frame.loc["Table 3: CNN-VAE"]
    assert row["s per 1,000 loops"] == pytest.approx(20.0) and row["full run s"] == pytest.approx(0.8)
    assert row["full run s at LMD-full size"] == pytest.approx(2.0 * paper.CORPUS["train"] / 100)
    assert frame.loc["Table 3: Training set", "full run s"] == pytest.approx(0.4)


def test_a_chapter_reports_and_the_book_sums_the_chapters(loops, tmp_path):
    clock = chapter_clock("02_train_models", tmp_path, 2, "paper")
    assert "Rehearsal, not results" in clock.banner().data and chapter_clock("x", tmp_path, 0, "paper").banner() is None
    items = pd.DataFrame([{"run": "VQ-VAE", "measured s": 0.0, "full run s": 3600.0,
                           "full run s at LMD-full size": 7200.0}])
    text, shown = clock.report(items)
    assert "Projected full run" in text.data and shown.loc[0, "full run"] == "60.0 min"
    chapter_clock("04_evaluate_samples", tmp_path, 2, "paper").report()
    total = summary(tmp_path).set_index("chapter")
    assert list(total.index) == ["02_train_models", "04_evaluate_samples", "all chapters"]
    assert total.loc["all chapters", "full run s"] >= 3600.0
    assert json.loads((tmp_path / "timings" / "02_train_models.json").read_text())["rehearsal"] == 2


def test_a_rehearsal_s_models_are_never_ours_paper_in_the_tables():
    assert source_label("paper", "complete") == "ours (paper)"
    assert source_label("paper", "rehearsal: 2 of 2,000 epochs") == "rehearsal (paper, 2 of 2,000 epochs)"
    assert source_label(None, None) == "ours"
    frame = pd.DataFrame([{"model": "VQ-VAE (temp 1)", "profile": "paper", "run": "rehearsal: 1 of 2,000 epochs",
                           **{m: 0.5 for m in paper.METRIC_COLUMNS},
                           **{f"{m} (paper)": 0.5 for m in paper.METRIC_COLUMNS}}])
    text = metric_table_markdown(frame)
    assert "| rehearsal (paper, 1 of 2,000 epochs) |" in text and "ours (paper)" not in text
    shown = metric_rows(frame)  # the page's Table 3 and 4: ours above the paper's, per model
    assert list(shown.index) == [("VQ-VAE (temp 1)", "rehearsal (paper, 1 of 2,000 epochs)"), ("VQ-VAE (temp 1)", "paper")]


def test_loopkit_book_rehearsal_passes_the_rehearsal_and_the_settings(monkeypatch, tmp_path, capsys):
    import loopkit.book.build

    seen = {}
    monkeypatch.setattr(loopkit.book.build, "run_notebooks", lambda params, only=None: seen.update(params=params))
    monkeypatch.setattr(loopkit.book.build, "build_book", lambda announcement=None: seen.update(banner=announcement) or
                        tmp_path / "index.html")
    argv = ["book", "--profile", "paper", "--corpus", "midi", "--out", str(tmp_path / "runs" / "paper"), "--rehearsal",
            "--set", "amp=bf16", "--set", "validate_every=5"]
    assert cli_main(argv) == 0
    params = seen["params"]
    assert params["rehearsal"] == REHEARSAL.epochs and params["settings"] == {"amp": "bf16", "validate_every": 5}
    assert params["out"] == str(tmp_path / "runs" / "paper-rehearsal")
    assert seen["banner"].startswith("Rehearsal, not results")
    assert "the rehearsal's own folder" in capsys.readouterr().out
    assert cli_main(["book", "--no-build"]) == 0
    assert seen["params"]["rehearsal"] == 0 and "settings" not in seen["params"]
    assert cli_main(["book", "--set", "amp=fp8"]) == 2
    assert "--set: amp must be" in capsys.readouterr().err
