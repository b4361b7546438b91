"""Tables 3 and 4 (loopkit.evaluation.tables.table3/table4, `loopkit evaluate`) on smoke-profile models: rows, columns, the
paper's values beside ours, values equal to the metrics recomputed independently, resumable rows."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from loopkit.models import checkpoints as C
from loopkit import cli, paper
from loopkit.evaluation import tables
from loopkit.generation import generate as G
from loopkit.models.checkpoints import load_model
from loopkit.data.dataset import FILE_COLUMNS, load_loops, write_dataset
from loopkit.evaluation.tables import run_checkpoints, table3, table4
from loopkit.evaluation.table_format import format_metric, metric_table_markdown
from loopkit.metrics.paper_metrics import METRIC_DEFINITIONS, musical_metrics, unique_sample
from loopkit.data.synthetic import synthetic_loops
from loopkit.training.train import codes_of, train, train_prior

torch.set_num_threads(1)

N = 24  # loops per generated row
VQ_ROWS = ["VQ-VAE (argmax)", "VQ-VAE (temp 1)", "VQ-VAE (temp 1.5)", "VQ-VAE (temp 2)"]
TABLE3_ROWS = ["Training set", "AR LSTM-VAE", "NonAR LSTM-VAE", "CNN-VAE"] + VQ_ROWS


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 60-loop synthetic data set on disk and the four models + prior trained on it with the smoke profile."""
    root = tmp_path_factory.mktemp("tables")
    rolls = synthetic_loops(60, seed=11)
    splits = ["train"] * 48 + ["valid"] * 12
    meta = pd.DataFrame({"source": [f"syn{i // 4}" for i in range(60)], "md5": [""] * 60, "start_bar": 0,
                         "bpm": 120.0, "split": splits})  # fmt: skip
    from loopkit.data.dataset import pack_rolls

    write_dataset(root / "data", pack_rolls(rolls), meta, pd.DataFrame(columns=FILE_COLUMNS), {"synthetic": True}, {})
    data = load_loops(root / "data")
    runs = root / "runs"
    for name in ("ar_lstm_vae", "nonar_lstm_vae", "cnn_vae", "vq_vae"):
        train(name, data, "smoke", runs / name, progress=False)
    train_prior(runs / "vq_vae" / "best.pt", data, "smoke", runs / "prior", progress=False)
    return {"root": root, "data": data, "runs": runs}


@pytest.fixture(scope="module")
def t3(setup):
    return table3(setup["runs"], setup["data"], n=N, progress=False)


def test_run_checkpoints_layout(setup, tmp_path):
    found = run_checkpoints(setup["runs"])
    assert sorted(found) == ["ar_lstm_vae", "cnn_vae", "nonar_lstm_vae", "prior", "vq_vae"]
    assert found["vq_vae"] == setup["runs"] / "vq_vae" / "best.pt"
    assert run_checkpoints(tmp_path) == {}
    with pytest.raises(FileNotFoundError, match="runs folder"):
        run_checkpoints(tmp_path / "nowhere")


def test_table3_rows_columns_and_the_paper_beside_ours(t3, setup):
    assert list(t3["model"]) == TABLE3_ROWS
    metric_cols = [c for m in paper.METRIC_COLUMNS for c in (m, f"{m} (paper)")]
    assert list(t3.columns[: 1 + len(metric_cols)]) == ["model"] + metric_cols
    for col in ("n", "profile", "epochs", "data", "trained_on_same_data"):
        assert col in t3.columns
    # the paper's values, from loopkit.paper, beside ours (NaN where the paper prints "-")
    for _, row in t3.iterrows():
        published = paper.TABLE3_MUSICAL_METRICS[row["model"]]
        for m in paper.METRIC_COLUMNS:
            assert row[f"{m} (paper)"] == pytest.approx(published[m], nan_ok=True)
    generated = t3[t3["model"] != "Training set"]
    assert (generated["n"] == N).all() and (generated["profile"] == "smoke").all()
    assert generated["trained_on_same_data"].all()
    assert t3.attrs["table"] == "Table 3" and t3.attrs["n"] == N and t3.attrs["missing"] == []
    assert setup["data"].fingerprint in t3.attrs["data"] and t3.attrs["definitions"] == METRIC_DEFINITIONS
    # continuous VAEs have no codes: OS and US are NaN, as the paper's "-"
    continuous = t3.set_index("model").loc[["AR LSTM-VAE", "NonAR LSTM-VAE", "CNN-VAE"]]
    assert continuous[["OS", "US"]].isna().all().all()
    assert continuous[["HD", "FND", "FNB", "DB", "UP", "ND"]].notna().all().all()


def test_table3_training_row_is_the_training_split_measured(t3, setup):
    row = t3.set_index("model").loc["Training set"]
    train_split = setup["data"].split("train")
    vq = load_model(setup["runs"] / "vq_vae" / "best.pt")
    codes = codes_of(vq, train_split.rolls).numpy()
    expected = musical_metrics(train_split.rolls, codes, codes)
    for m in paper.METRIC_COLUMNS:
        assert row[m] == pytest.approx(expected[m])
    # the synthetic loops obey the loop rules: kick+crash and bass on the first step, one bass pitch a step
    assert row["FND"] == 1.0 and row["FNB"] == 1.0 and row["DB"] == 0.0
    assert row["OS"] == 1.0  # every training sequence is in the training set
    assert row["US"] == pytest.approx(unique_sample(codes)) and row["n"] == 48


def test_table3_vqvae_rows_equal_generate_then_measure(t3, setup):
    vq, prior = C.load_generator(setup["runs"] / "prior" / "best.pt")
    train_codes = codes_of(vq, setup["data"].split("train").rolls).numpy()
    rows = t3.set_index("model")
    for label, temperature in zip(VQ_ROWS, ("argmax", 1.0, 1.5, 2.0)):
        gen = G.generate(vq, N, prior=prior, temperature=temperature, seed=0, progress=False)
        expected = musical_metrics(gen.rolls, gen.codes, train_codes)
        for m in paper.METRIC_COLUMNS:
            assert rows.loc[label, m] == pytest.approx(expected[m]), (label, m)
    # argmax: a function of z_0, so at most K = 16 distinct sequences among the 24
    assert rows.loc["VQ-VAE (argmax)", "US"] <= 16 / N


def test_table4_manipulated_rows(setup, t3):
    t4 = table4(setup["runs"], setup["data"], n=N, progress=False)
    assert list(t4["model"]) == VQ_ROWS
    for _, row in t4.iterrows():
        published = paper.TABLE4_MANIPULATED[row["model"]]
        for m in paper.METRIC_COLUMNS:
            assert row[f"{m} (paper)"] == pytest.approx(published[m])
    assert t4.attrs["manipulation"] == "paper: latent steps 0->16, 1->17" and t4.attrs["mode"] == "after"
    assert (t4["manipulation"] == "paper").all()
    vq, prior = C.load_generator(setup["runs"] / "prior" / "best.pt")
    train_codes = codes_of(vq, setup["data"].split("train").rolls).numpy()
    gen = G.generate(vq, N, prior=prior, temperature=1.5, copy="paper", seed=0, progress=False)
    assert (gen.codes[:, 16:18] == gen.codes[:, :2]).all()
    expected = musical_metrics(gen.rolls, gen.codes, train_codes)
    row = t4.set_index("model").loc["VQ-VAE (temp 1.5)"]
    for m in paper.METRIC_COLUMNS:
        assert row[m] == pytest.approx(expected[m])
    # a bar form and the condition mode are offered too
    t4c = table4(setup["runs"], setup["data"], n=8, temperatures=[1.0], copy="ABAB ABAB", mode="condition",
                 progress=False)  # fmt: skip
    assert list(t4c["model"]) == ["VQ-VAE (temp 1)"] and t4c.attrs["mode"] == "condition"
    assert t4c.attrs["manipulation"].startswith("form ABABABAB")
    with pytest.raises(ValueError, match="mode must be"):
        table4(setup["runs"], setup["data"], n=4, mode="later", progress=False)
    with pytest.raises(ValueError, match="manipulates"):
        table4(setup["runs"], setup["data"], n=4, copy=None, progress=False)


def test_missing_models_are_left_out_and_named(setup):
    found = run_checkpoints(setup["runs"])
    del found["cnn_vae"], found["prior"]
    t = table3(found, setup["data"], n=4, progress=False)
    assert list(t["model"]) == ["Training set", "AR LSTM-VAE", "NonAR LSTM-VAE"]
    assert t.attrs["missing"] == ["cnn_vae", "prior"]
    assert t.set_index("model").loc["Training set", ["OS", "US"]].isna().all()  # no VQ-VAE pair: no codes
    with pytest.raises(FileNotFoundError, match="prior"):
        table4(found, setup["data"], n=4, progress=False)


def test_cached_rows_resume_and_table4_reuses_the_codes(setup, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = table3(setup["runs"], setup["data"], n=8, temperatures=[1.0, 2.0], cache=cache, progress=False)
    assert len(list(cache.glob("row-*.json"))) == 6 and len(list(cache.glob("codes-*.npy"))) == 2

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled again although the cache holds the result")

    monkeypatch.setattr(tables, "sample_codes", no_sampling)  # where the tables call them
    monkeypatch.setattr(tables, "generate", no_sampling)
    again = table3(setup["runs"], setup["data"], n=8, temperatures=[1.0, 2.0], cache=cache, progress=False)
    pd.testing.assert_frame_equal(first, again)
    # Table 4 ("after") copies latent steps in the cached sequences: no sampling either
    t4 = table4(setup["runs"], setup["data"], n=8, temperatures=[1.0, 2.0], cache=cache, progress=False)
    assert list(t4["model"]) == ["VQ-VAE (temp 1)", "VQ-VAE (temp 2)"]
    # another n is another key: it must sample
    with pytest.raises(AssertionError, match="sampled again"):
        table3(setup["runs"], setup["data"], n=9, temperatures=[1.0], cache=cache, progress=False)


def test_format_metric_as_the_paper_prints():
    assert format_metric(4.43e-4) == "4.43e-04"
    assert format_metric(1.0) == "1.00" and format_metric(0.0) == "0.00" and format_metric(10.5) == "10.50"
    assert format_metric(0.1) == "0.10" and format_metric(0.0999) == "9.99e-02" and format_metric(0.28) == "0.28"
    assert format_metric(7.97e-2) == "7.97e-02" and format_metric(-0.5) == "-0.50"
    assert format_metric(math.nan) == "-" and format_metric(None) == "-"


def test_markdown_has_ours_and_the_paper_s_rows(t3):
    md = metric_table_markdown(t3)
    assert md.startswith("**Table 3.** Musical metric results")
    assert "| model | source | HD | FND | FNB | DB | OS | US | UP | ND |" in md
    assert "| | paper | 4.43e-04 | 1.00 | 1.00 | 0.00 | 1.00 | 0.51 | 10.50 | 0.92 |" in md
    assert "| | paper | 4.05e-03 | 0.99 | 0.44 | 1.51e-02 | - | - | 10.61 | 0.73 |" in md
    assert "| CNN-VAE | ours (smoke) |" in md and f"{N:,} loops per row" in md
    assert "Paper: LMD-full, 120,600 loops per row." in md
    assert all(f"- {k}: " in md for k in paper.METRIC_COLUMNS)


def test_cli_evaluate_writes_both_tables(setup, tmp_path, capsys):
    out = tmp_path / "tables"
    args = ["evaluate", "--runs", str(setup["runs"]), "--data", str(setup["root"] / "data"), "-n", "6",
            "--temperatures", "argmax,1", "--out", str(out)]  # fmt: skip
    assert cli.main(args) == 0
    for stem in ("table3", "table4"):
        for suffix in (".csv", ".md", ".json"):
            assert (out / f"{stem}{suffix}").stat().st_size > 0
    t3 = pd.read_csv(out / "table3.csv")
    assert list(t3["model"]) == TABLE3_ROWS[:4] + ["VQ-VAE (argmax)", "VQ-VAE (temp 1)"]
    assert t3.loc[0, "HD (paper)"] == pytest.approx(4.43e-4)
    attrs = json.loads((out / "table4.json").read_text())
    assert attrs["table"] == "Table 4" and attrs["n"] == 6
    printed = capsys.readouterr().out
    assert "**Table 3.**" in printed and "**Table 4.**" in printed
    # resumed from the cache: the same tables
    assert cli.main(args) == 0
    pd.testing.assert_frame_equal(t3, pd.read_csv(out / "table3.csv"))


@pytest.mark.parametrize(
    "extra, message",
    [(["--tables", "5"], "--tables"), (["--temperatures", "cold"], "temperature"), (["-n", "0"], "at least 1"),
     (["--mode", "later"], "mode must be"), (["--form", "AB"], "names 2 bars")],  # fmt: skip
)
def test_cli_evaluate_bad_input_is_one_line(setup, tmp_path, capsys, extra, message):
    args = ["evaluate", "--runs", str(setup["runs"]), "--data", str(setup["root"] / "data"), "-n", "2",
            "--temperatures", "1", "--out", str(tmp_path / "o")] + extra  # fmt: skip
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("loopkit evaluate: error:") and message in err and "\n" not in err


def test_cli_evaluate_without_runs(setup, tmp_path, capsys):
    empty = tmp_path / "runs"
    empty.mkdir()
    args = ["evaluate", "--runs", str(empty), "--data", str(setup["root"] / "data"), "--out", str(tmp_path / "o")]
    assert cli.main(args) == 2
    assert "no trained model" in capsys.readouterr().err
    assert np.isfinite(1.0)


def test_tables_carry_the_bootstrap_of_every_row(setup, t3, tmp_path):
    from loopkit.evaluation.tables import table1
    from loopkit.evaluation.table_format import BOOTSTRAP, read_table, replicates_path, write_table
    from loopkit.evaluation.uncertainty import BOOTSTRAP_DRAWS, bootstrap_means, per_loop_metrics

    reps = t3.attrs[BOOTSTRAP]
    assert set(reps) == set(t3["model"])
    assert "OS" not in reps["CNN-VAE"] and {"OS", "US"} <= set(reps["VQ-VAE (temp 1)"])
    for label, row in t3.set_index("model").iterrows():
        for m, r in reps[label].items():
            assert r.shape == (BOOTSTRAP_DRAWS,)
            assert row[m] == pytest.approx(np.median(r), abs=4 * np.std(r) + 1e-12), (label, m)
    # the replicates are those of the row's own per-loop values
    gen = G.generate(load_model(setup["runs"] / "cnn_vae" / "best.pt"), N, seed=0, progress=False)
    assert np.allclose(reps["CNN-VAE"]["HD"], bootstrap_means(per_loop_metrics(gen.rolls)["HD"]))
    # Table 1: every model and the empty output, over the same validation loops
    t1 = table1({k: v for k, v in run_checkpoints(setup["runs"]).items() if k != "prior"}, setup["data"])
    assert set(t1.attrs[BOOTSTRAP]) == set(t1["model"])
    empty = t1.set_index("model").loc[tables.EMPTY_OUTPUT, "reconstruction_error"]
    assert np.mean(t1.attrs[BOOTSTRAP][tables.EMPTY_OUTPUT]["reconstruction_error"]) == pytest.approx(empty, rel=0.05)
    # on disk: the CSV, and the replicates beside it
    written = write_table(t1, tmp_path / "table1.csv")
    assert written == [tmp_path / "table1.csv", replicates_path(tmp_path / "table1.csv")]
    back = read_table(tmp_path / "table1.csv")
    assert list(back["model"]) == list(t1["model"])
    assert np.array_equal(back.attrs[BOOTSTRAP]["VQ-VAE"]["reconstruction_error"],
                          t1.attrs[BOOTSTRAP]["VQ-VAE"]["reconstruction_error"])


def test_prior_table_sets_the_prior_beside_copying(setup):
    from loopkit.evaluation.table_format import BOOTSTRAP
    from loopkit.models.prior import copy_accuracy
    from loopkit.evaluation.prior_accuracy import PRIOR_ROWS, prior_table, sequence_accuracy

    table = prior_table(setup["runs"] / "prior" / "best.pt", setup["data"])
    assert list(table.index) == list(PRIOR_ROWS) and list(table.columns) == ["validation codes", "training codes"]
    assert table.loc[PRIOR_ROWS[3], "validation codes"] == pytest.approx(paper.PRIOR_ACCURACY)
    assert math.isnan(table.loc[PRIOR_ROWS[3], "training codes"])
    vq, prior = C.load_generator(setup["runs"] / "prior" / "best.pt")
    valid = codes_of(vq, setup["data"].split("valid").rolls)
    _, acc = prior.loss_and_accuracy(prior(valid), valid)
    assert table.loc[PRIOR_ROWS[0], "validation codes"] == pytest.approx(float(acc))
    assert sequence_accuracy(prior, valid.numpy()).shape == (len(valid),)
    assert table.loc[PRIOR_ROWS[1], "validation codes"] == pytest.approx(copy_accuracy(valid, vq.latent_steps // 2))
    assert set(table.attrs[BOOTSTRAP]) == set(PRIOR_ROWS[:3]) and table.attrs["epoch"] >= 1
