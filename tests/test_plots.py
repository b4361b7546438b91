"""The paper's figures (loopkit.outputs.plots): they build, their axes are labelled, and PNGs are written non-empty."""

import numpy as np
import pandas as pd
import pytest
import torch

from loopkit.outputs import plots
from loopkit.config import model_config
from loopkit.models import build_model
from loopkit.data.pianoroll import DRUM_COMPONENTS, N_COLUMNS, bass_column, drum_column

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def a_loop():
    roll = np.zeros((128, N_COLUMNS), dtype=bool)
    roll[0:4, bass_column(40)] = True  # E2, held over a beat
    roll[8:10, bass_column(47)] = True  # B2
    roll[::16, drum_column("kick")] = True
    roll[0, drum_column("crash")] = True
    roll[4::8, drum_column("snare")] = True
    return roll


def image_of(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())


def test_bass_range_fits_the_notes_in_whole_octaves():
    roll = a_loop()  # E2 (column 16) .. B2 (column 23): widened to two octaves from a C
    lo, hi = plots.bass_range(roll)
    assert lo % 12 == 0 and (hi + 1) % 12 == 0 and hi - lo + 1 >= plots.MIN_BASS_SPAN
    assert lo <= bass_column(40) and hi >= bass_column(47)
    assert plots.bass_range(np.zeros((128, N_COLUMNS), dtype=bool)) == (12, 35)  # C2 .. B3 without bass


def test_plot_pianoroll_panes_and_labels(tmp_path):
    fig = plots.plot_pianoroll(a_loop(), title="a loop")
    ax_bass, ax_drum = fig.axes
    assert ax_bass.get_ylabel() == "bass pitch" and ax_drum.get_ylabel() == "drums"
    assert ax_drum.get_xlabel().startswith("bar")
    assert [t.get_text() for t in ax_drum.get_yticklabels()] == [c.replace("_", " ") for c in DRUM_COMPONENTS]
    assert all(t.get_text().startswith("C") for t in ax_bass.get_yticklabels())
    assert [t.get_text() for t in ax_drum.get_xticklabels()] == [str(b) for b in range(1, 9)]
    assert fig.get_suptitle() == "a loop"
    # the image shows the notes: the drum pane holds the drum colour, the bass pane the bass colour
    img = image_of(fig)[..., :3].astype(int)
    for colour in (plots.BASS_COLOUR, plots.DRUM_COLOUR):
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(img - rgb).sum(axis=2) < 10).sum() > 50  # notes drawn in the pane's colour
    path = plots.save_figure(fig, tmp_path / "roll.png")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000


def test_plot_pianoroll_repeats_and_song_length():
    fig = plots.plot_pianoroll(a_loop(), repeats=3)
    ax_bass, ax_drum = fig.axes
    assert ax_drum.get_xlim() == (0, 3 * 128)
    # loop boundaries: thick black lines at 128 and 256 on both panes
    thick = [ln.get_xdata()[0] for ln in ax_drum.get_lines() if ln.get_linewidth() > 1]
    assert thick == [128, 256]
    # repeats are drawn lighter than the first play
    data = ax_drum.images[0].get_array()
    kick = DRUM_COMPONENTS.index("kick")
    assert data[kick, 0] == 1.0 and 0 < data[kick, 128] < 1.0
    # song-length rolls: bar labels thin out (every 4 bars up to 64 bars, then every 8), width capped at 20 in
    for loops, expected in ((6, ["1", "5", "9"]), (12, ["1", "9", "17"])):
        fig = plots.plot_pianoroll(np.concatenate([a_loop()] * loops))
        labels = [t.get_text() for t in fig.axes[1].get_xticklabels()]
        assert labels[:3] == expected and fig.get_size_inches()[0] == 20
    with pytest.raises(ValueError, match="repeats"):
        plots.plot_pianoroll(a_loop(), repeats=0)
    with pytest.raises(ValueError, match="93"):
        plots.plot_pianoroll(np.zeros((128, 90), dtype=bool))
    with pytest.raises(ValueError, match="threshold"):
        plots.plot_pianoroll(np.full((128, N_COLUMNS), 0.7))


def test_plot_pianorolls_grid():
    fig = plots.plot_pianorolls([a_loop(), a_loop(), a_loop()], ["a", "b", "c"], columns=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["a", "b", "c"] and len(fig.axes) == 6
    with pytest.raises(ValueError, match="3 rolls but 2 titles"):
        plots.plot_pianorolls([a_loop()] * 3, ["a", "b"])


def test_plot_code_sequence_is_a_code_map():
    idx = np.array([[3, 3, 7, 1] * 8, [0, 5, 5, 2] * 8])
    fig = plots.plot_code_sequence(idx, K=16, labels=["loop 1", "loop 2"])
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("latent time step") and ax.get_ylabel() == "loop"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["loop 1", "loop 2"]
    # every cell names its code; nothing joins one code to the next
    assert [t.get_text() for t in ax.texts][:4] == ["3", "3", "7", "1"] and len(ax.texts) == 64
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() not in (":", "None")]
    (image,) = ax.get_images()
    cells = image.get_array()
    assert cells[0, 0] == cells[0, 1] != cells[0, 2]  # equal codes, equal colours
    dotted = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(dotted) == 7  # bar boundaries every 4 latent steps
    assert plots.unlabelled_axes(fig) == []
    plots.plot_code_sequence(idx[0])  # one sequence
    with pytest.raises(ValueError, match="integers"):
        plots.plot_code_sequence(np.zeros((2, 4)))


def test_plot_frequent_codes_from_a_vqvae(tmp_path):
    torch.manual_seed(0)
    vq = build_model("vq_vae", model_config("vq_vae", "smoke", codebook_size=16)).eval()
    idx = np.random.default_rng(0).integers(0, 16, size=(30, 32))
    fig = plots.plot_frequent_codes(vq, idx)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["(a) most frequent", "(b) second most frequent", "(c) least frequent",
                      "(d) second least frequent"]  # fmt: skip
    assert plots.save_figure(fig, tmp_path / "fig5.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="indices"):
        plots.plot_frequent_codes(vq)


def write_metrics(path, columns):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_plot_training_curves(tmp_path):
    vq = write_metrics(tmp_path / "vq_vae" / "metrics.csv",
                       {"epoch": [1, 2, 3], "train_loss": [900.0, 500.0, 300.0], "val_error": [0.02, 0.01, 0.008]})
    prior = write_metrics(tmp_path / "prior" / "metrics.csv",
                          {"epoch": [1, 2], "train_loss": [3.0, 2.5], "val_ce": [2.9, 2.6],
                           "val_accuracy": [0.3, 0.4]})  # fmt: skip
    fig = plots.plot_training_curves([vq, prior])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["models: training loss", "models: validation reconstruction error",
                      "prior: cross-entropy (solid: training, dashed: validation)",
                      "prior: validation accuracy (dashed grey: paper, 82.91% on LMD)"]  # fmt: skip
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes) and all(ax.get_ylabel() for ax in fig.axes)
    # one quantity per axis: the prior's cross-entropy is not on the models' loss axis
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["VQ-VAE"]
    assert [ln.get_label() for ln in fig.axes[2].get_lines()] == ["LSTM prior", "LSTM prior"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["VQ-VAE", "LSTM prior"]
    assert fig.axes[0].get_yscale() == "log"
    (line,) = [ln for ln in fig.axes[1].get_lines()]
    assert list(line.get_ydata()) == [0.02, 0.01, 0.008]
    assert plots.unlabelled_axes(fig) == []
    fig = plots.plot_training_curves({"mine": vq})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    with pytest.raises(FileNotFoundError, match="metrics.csv"):
        plots.plot_training_curves(tmp_path / "nowhere" / "metrics.csv")


def test_plot_learning_curves_splits_and_steps(tmp_path):
    vq = write_metrics(tmp_path / "vq_vae" / "metrics.csv",
                       {"epoch": [1, 2], "step": [7, 14], "train_error": [0.3, 0.01], "val_error": [0.3, 0.02],
                        "train_FNB": [0.1, 0.9], "val_FNB": [0.0, 0.5], "codes_used": [100, 400]})
    cnn = write_metrics(tmp_path / "cnn_vae" / "metrics.csv",
                        {"epoch": [1], "step": [7], "train_error": [0.015], "val_error": [0.019], "train_FNB": [0.2],
                         "val_FNB": [0.1]})  # fmt: skip
    fig = plots.plot_learning_curves({"VQ-VAE": vq, "CNN-VAE": cnn}, empty={"train": 0.019, "valid": 0.021})
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["reconstruction error", "first-step bass (FNB) of reconstructions",
                                               "VQ-VAE: codes used per epoch"]  # fmt: skip
    assert all(ax.get_xlabel() == "optimizer step" and ax.get_ylabel() for ax in shown)
    assert plots.unlabelled_axes(fig) == [] and [ax.get_legend() for ax in shown] == [None] * 3  # one legend, below
    assert "validation split" in [t.get_text() for t in fig.legends[0].get_texts()]
    err = fig.axes[0]
    lines = {ln.get_label(): ln for ln in err.get_lines()}
    assert list(lines["VQ-VAE, training"].get_xdata()) == [7, 14] and lines["VQ-VAE, validation"].get_linestyle() == "--"
    assert list(lines["empty output, train"].get_ydata()) == [0.019, 0.019]
    assert err.get_ylim() == pytest.approx((0, 1.5 * 0.021))  # the fresh model's 0.3 is off the top
    assert [ln.get_label() for ln in fig.axes[2].get_lines()] == ["VQ-VAE"]


def test_write_pianoroll_png_is_atomic_and_non_empty(tmp_path):
    path = plots.write_pianoroll_png(a_loop(), tmp_path / "x.png", title="x")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temporary file left behind
    with pytest.raises(ValueError, match="suffix"):
        plots.save_figure(plots.plot_pianoroll(a_loop()), tmp_path / "noext")


def test_plot_codebook_usage_draws_one_bar_per_latent_step():
    from loopkit.metrics.paper_metrics import codebook_usage
    from loopkit.outputs.plots import plot_codebook_usage

    codes = np.array([[0] * 32, [1] * 32, [0] * 31 + [2]])
    fig = plot_codebook_usage(codebook_usage(codes, 4))
    ax = fig.axes[0]
    assert len(ax.patches) == 32
    assert [p.get_height() for p in ax.patches][-1] == 3  # three codes used at the last step
    assert ax.get_xlabel() == "latent time step"


def test_figures_show_themselves_as_png_in_notebooks():
    # without pyplot's inline backend, IPython finds the image through _repr_png_, with its width on the page (the
    # book links the full image) and its axes in the metadata
    fig = plots.plot_code_sequence(np.array([[1, 2, 3, 4] * 8]))
    png, meta = fig._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert meta["width"] == plots.PAGE_WIDTH_PX and meta["loopkit"]["axes"][0]["ylabel"] == "loop"


def test_figure_axes_finds_missing_labels_and_legends_over_data():
    fig = plots.new_figure((6, 3))
    ax = fig.subplots()
    ax.plot(np.arange(10), np.full(10, 5.0), label="a flat line")
    ax.legend(loc="center")  # right over the line
    problems = plots.unlabelled_axes(fig)
    assert "axes 1: x axis without a label" in problems and "axes 1: y axis without a label" in problems
    assert any("the legend covers" in p for p in problems)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes: covers nothing
    assert plots.unlabelled_axes(fig) == []
    for fig in (plots.plot_pianorolls([a_loop(), a_loop()], ["a", "b"]), plots.plot_pianoroll(a_loop(), repeats=2)):
        assert plots.unlabelled_axes(fig) == []


def test_readable_tables_format_each_kind_of_column():
    import math

    import pandas as pd

    from loopkit.book.display import readable

    frame = pd.DataFrame({"model": ["a", "b"], "share": [0.657, math.nan], "error": [0.020287, 3.02e-3],
                          "steps": [1400.0, 840.0], "other": [0.123456, 2]})
    out = readable(frame, percent=["share"], scientific=["error"], integer=["steps"])
    assert list(out["share"]) == ["66%", "-"] and list(out["error"]) == ["2.03e-02", "3.02e-03"]
    assert list(out["steps"]) == ["1,400", "840"] and list(out["model"]) == ["a", "b"]
    assert list(out["other"]) == ["0.123", "2.000"]  # a float column keeps its decimals
    nullable = readable(pd.DataFrame({"paper": pd.array([176581, None], dtype="Int64")}), integer=["paper"])
    assert list(nullable["paper"]) == ["176,581", "-"]  # a missing value of a nullable column is "-", not "<NA>"
    shares = readable(pd.DataFrame({"share": [-0.004, -0.05]}), percent=["share"])["share"]
    assert list(shares) == ["0%", "-5%"]  # no "-0%"
