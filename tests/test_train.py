"""The trainer: smoke-profile training of every model and the prior, checkpoints, resume after SIGKILL, Tables 1/2."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from loopkit import paper
from loopkit.cli import main as cli_main
from loopkit.config import MODEL_NAMES, PROFILES, TrainConfig, length_text, model_config, shortened, train_config
from loopkit.data.dataset import FILE_COLUMNS, loops_from_arrays, pack_rolls, unpack_rolls, write_dataset
from loopkit.data.rules import bar_hamming
from loopkit.models import MODEL_CLASSES
from loopkit.data.pianoroll import BASS_COLUMNS, drum_column
from loopkit.models.checkpoints import BEST, LAST, load_checkpoint, load_model
from loopkit.training.rundir import METRICS
from loopkit.data.synthetic import synthetic_dataset, synthetic_loops
from loopkit.training.train import (
    beta_at,
    model_reconstruction_error,
    teacher_forcing_ratio,
    train,
    train_prior,
    unpack_batch,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(60, valid=0.1, seed=7)  # 54 train, 6 valid


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """Every model and the prior trained on the smoke profile (module-wide: seconds in all)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs")
    best = {name: train(name, data, "smoke", out / name, device="cpu", seed=1, progress=False) for name in MODEL_NAMES}
    best["prior"] = train_prior(best["vq_vae"], data, "smoke", out / "prior", device="cpu", seed=1, progress=False)
    return out, best


# ----------------------------------------------------------------------------------------- settings, helpers


def test_differences_ignores_dotted_keys():
    from loopkit.errors import differences

    old = {"a": 1, "cfg": {"x": 1, "y": 2}, "path": "p"}
    new = {"a": 1, "cfg": {"x": 1, "y": 3, "z": 0}, "path": "q"}
    assert differences(old, new) == ["cfg.y: 2 -> 3", "cfg.z: None -> 0", "path: 'p' -> 'q'"]
    assert differences(old, new, ignore=("path", "cfg.z")) == ["cfg.y: 2 -> 3"]


def test_paper_profile_is_the_papers_settings():
    cfg = train_config("vq_vae", "paper")
    t = paper.TRAINING
    assert (cfg.epochs, cfg.batch_size, cfg.lr_max, cfg.lr_min) == (t["epochs"], t["batch_size"], t["lr_max"], t["lr_min"])
    assert cfg == TrainConfig()  # the paper profile overrides nothing
    vq = model_config("vq_vae", "paper")
    assert (vq.latent_steps, vq.latent_dim, vq.codebook_size, vq.decay, vq.commitment) == (32, 16, 512, 0.99, 0.25)
    assert train_config("ar_lstm_vae", "paper").sampling_rate == 20
    assert model_config("prior", "paper").layers == 2
    assert set(PROFILES) == {"paper", "cpu", "long", "smoke"}


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown profile 'laptop'"):
        train_config("vq_vae", "laptop")
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        model_config("gan")
    with pytest.raises(ValueError, match="codebooksize"):
        model_config("vq_vae", codebooksize=3)
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")


def test_schedules_by_hand():
    # inverse sigmoid k / (k + exp(e / k)), k = 20
    assert teacher_forcing_ratio(0, 20) == pytest.approx(20 / 21)
    assert teacher_forcing_ratio(40, 20) == pytest.approx(20 / (20 + np.exp(2)))
    assert teacher_forcing_ratio(10_000, 20) == pytest.approx(0, abs=1e-12)
    # beta: 0 -> 1 over the first quarter of 100 steps, i.e. full at step 24 (the 25th)
    cfg = TrainConfig(beta_anneal_fraction=0.25)
    assert [beta_at(s, 100, cfg) for s in (0, 11, 24, 99)] == pytest.approx([0.04, 0.48, 1.0, 1.0])


def test_unpack_batch_is_np_unpackbits():
    rolls = synthetic_loops(5, seed=2)
    packed = pack_rolls(rolls)
    x = unpack_batch(torch.from_numpy(packed))
    assert x.dtype == torch.float32
    assert np.array_equal(x.numpy().astype(bool), unpack_rolls(packed))


def test_synthetic_loops_follow_the_loop_rules():
    x = synthetic_loops(50, density=0.05, seed=0)
    assert x.shape == (50, 128, 93)
    assert np.all(bar_hamming(x) == 0)  # bar 1 == bar 5
    assert x[:, 0, drum_column("kick")].all() and x[:, 0, drum_column("crash")].all()
    assert x[:, 0, BASS_COLUMNS].any(axis=1).all()
    assert x[:, :, BASS_COLUMNS].sum(axis=2).max() == 1  # only one bass pitch per step
    assert 0.04 < x.mean() < 0.06


class _Constant(torch.nn.Module):
    """A stand-in model whose reconstruction is all zeros or the input itself (to check the metric's formula)."""

    def __init__(self, echo: bool):
        super().__init__()
        self.echo = echo
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def reconstruct(self, x, bass_rule="paper"):
        return x.bool() if self.echo else torch.zeros_like(x, dtype=torch.bool)


def test_reconstruction_error_by_hand():
    rolls = np.zeros((2, 128, 93), dtype=bool)
    rolls[0, 0, :3] = True  # 3 cells on
    rolls[1, 5, 10:15] = True  # 5 cells on
    loops = loops_from_arrays(rolls)
    assert model_reconstruction_error(_Constant(False), loops, batch_size=1) == pytest.approx(8 / (2 * 128 * 93))
    assert model_reconstruction_error(_Constant(True), loops) == 0.0


def test_reconstruction_report_first_step_shares_by_hand():
    from loopkit.data.pianoroll import bass_column, drum_column
    from loopkit.training.train import reconstruction_report

    rolls = np.zeros((4, 128, 93), dtype=bool)
    rolls[:3, 0, drum_column("kick")] = True
    rolls[:2, 0, drum_column("crash")] = True  # loops 0, 1: kick and crash on step 0
    rolls[[0, 2, 3], 0, bass_column(40)] = True  # loops 0, 2, 3: a bass note on step 0
    rolls[1, 1, bass_column(40)] = True  # loop 1: bass on step 1 only
    rep = reconstruction_report(_Constant(True), loops_from_arrays(rolls), batch_size=3)
    assert rep.pop("errors").tolist() == [0.0] * 4  # each loop's own error
    assert rep == {"error": 0.0, "FND": 2 / 4, "FNB": 3 / 4, "n": 4}
    empty = reconstruction_report(_Constant(False), loops_from_arrays(rolls))
    assert (empty["FND"], empty["FNB"]) == (0.0, 0.0) and empty["error"] == pytest.approx(9 / (4 * 128 * 93))


# ------------------------------------------------------------------------------------------------ training


def test_smoke_profile_trains_every_model_and_the_prior(runs):
    out, best = runs
    for name in (*MODEL_NAMES, "prior"):
        run = out / name
        assert best[name] == run / BEST and (run / LAST).exists()
        metrics = pd.read_csv(run / METRICS)
        assert list(metrics["epoch"]) == [1, 2]  # smoke: two epochs
        assert {"step", "lr", "train_loss", "seconds"} <= set(metrics.columns)
        assert metrics["lr"].iloc[-1] == pytest.approx(train_config(name, "smoke").lr_min)
        assert np.isfinite(metrics["train_loss"]).all()
    for name in MODEL_NAMES:
        metrics = pd.read_csv(out / name / METRICS)
        assert ((metrics["val_error"] > 0) & (metrics["val_error"] < 1)).all()
        assert ("train_kl" in metrics) == (name != "vq_vae") and ("train_commit" in metrics) == (name == "vq_vae")
    assert "teacher_forcing" in pd.read_csv(out / "ar_lstm_vae" / METRICS)
    prior = pd.read_csv(out / "prior" / METRICS)
    assert ((prior["val_accuracy"] >= 0) & (prior["val_accuracy"] <= 1)).all() and "val_ce" in prior


def test_checkpoints_describe_themselves_and_load_model_rebuilds(runs, data):
    import loopkit

    out, best = runs
    for name in MODEL_NAMES:
        ckpt = load_checkpoint(best[name])
        assert ckpt["model"] == name and ckpt["profile"] == "smoke" and ckpt["seed"] == 1
        assert ckpt["data_fingerprint"] == data.fingerprint and ckpt["loopkit_version"] == loopkit.__version__
        assert "optimizer" in load_checkpoint(out / name / LAST) and "rng" in load_checkpoint(out / name / LAST)
        model = load_model(best[name])
        assert isinstance(model, MODEL_CLASSES[name]) and not model.training
        assert model.config == model_config(name, "smoke")
        # the rebuilt model scores exactly what the trainer recorded for that epoch
        assert model_reconstruction_error(model, data.split("valid")) == pytest.approx(ckpt["best"]["value"], abs=1e-12)
    prior = load_model(best["prior"])
    vq = load_model(best["vq_vae"])
    assert prior.codebook_size == vq.codebook_size and prior.config.latent_steps == vq.latent_steps
    assert prior.first_code_counts.sum().item() == len(data.split("train"))
    with pytest.raises(ValueError, match="not a loopkit checkpoint"):
        bogus = out / "bogus.pt"
        torch.save({"weights": torch.zeros(1)}, bogus)
        load_model(bogus)


def test_a_finished_run_is_not_trained_again_and_a_different_run_is_refused(runs, data):
    out, best = runs
    last = out / "cnn_vae" / LAST
    stamp = last.stat().st_mtime_ns
    assert train("cnn_vae", data, "smoke", out / "cnn_vae", device="cpu", seed=1, progress=False) == best["cnn_vae"]
    assert last.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="different training run.*seed"):
        train("cnn_vae", data, "smoke", out / "cnn_vae", device="cpu", seed=2, progress=False)
    with pytest.raises(ValueError, match="different training run.*model"):
        train("vq_vae", data, "smoke", out / "cnn_vae", device="cpu", seed=1, progress=False)
    with pytest.raises(ValueError, match=r"different training run.*train_config\.lr_max"):
        train("cnn_vae", data, "smoke", out / "cnn_vae", device="cpu", seed=1, progress=False,
              train_settings={"lr_max": 1e-2})


def test_how_the_steps_run_may_change_on_resume(runs, data, tmp_path):
    """compile and checkpoint_seconds change how a run executes, not what it computes: a run resumes under
    either changed; a checkpoint written before a setting existed resumes as if it had the setting's default."""
    out, best = runs
    run = tmp_path / "cnn"

    def stop(at):
        if at["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("cnn_vae", data, "smoke", run, device="cpu", seed=1, progress=False, epochs=2, callback=stop)
    ckpt = torch.load(run / LAST, weights_only=True)
    assert ckpt["epoch"] == 1
    del ckpt["train_config"]["compile"]  # as written by loopkit before these settings existed
    del ckpt["config"]["columns"]
    torch.save(ckpt, run / LAST)
    path = train("cnn_vae", data, "smoke", run, device="cpu", seed=1, progress=False, epochs=2,
                 train_settings={"checkpoint_seconds": 60.0})
    assert path == run / BEST and load_checkpoint(run / LAST)["epoch"] == 2
    ckpt = torch.load(run / LAST, weights_only=True)
    ckpt["epoch"], ckpt["config"]["columns"] = 1, 94  # a recorded value that is not the default still counts
    torch.save(ckpt, run / LAST)
    with pytest.raises(ValueError, match=r"config\.columns: 94 -> 93"):
        train("cnn_vae", data, "smoke", run, device="cpu", seed=1, progress=False, epochs=2)


def test_select_last_keeps_the_last_epoch(runs, data, tmp_path):
    out, best = runs
    path = train_prior(best["vq_vae"], data, "smoke", tmp_path / "p", device="cpu", progress=False,
                       train_settings={"epochs": 3, "select": "last"})
    ckpt = load_checkpoint(path)
    assert ckpt["best"]["epoch"] == 3 and ckpt["train_config"]["select"] == "last"
    assert ckpt["best"]["value"] == pd.read_csv(tmp_path / "p" / METRICS)["val_ce"].iloc[-1]
    assert train_config("prior", "cpu").select == "last" and train_config("vq_vae", "cpu").select == "valid"
    assert train_config("vq_vae", "paper").select == "valid"


def test_a_run_sized_in_steps_trains_the_fewest_whole_epochs_that_reach_them(data, tmp_path):
    cfg = TrainConfig(batch_size=16, steps=10)
    assert cfg.batches_per_epoch(54) == 4 and cfg.epochs_for(54) == 3  # 4 + 4 + 4 >= 10
    assert cfg.epochs_for(540) == 1 and TrainConfig(batch_size=16, epochs=5).epochs_for(54) == 5
    path = train("cnn_vae", data, "smoke", tmp_path / "c", device="cpu", progress=False, train_settings={"steps": 5})
    metrics = pd.read_csv(tmp_path / "c" / METRICS)
    assert metrics["epoch"].tolist() == [1, 2] and metrics["step"].iloc[-1] == 8  # 54 loops / 16 = 4 batches
    assert load_checkpoint(path)["train_config"]["steps"] == 5
    with pytest.raises(Exception, match="steps must be 0"):
        TrainConfig(steps=-1)
    assert shortened(TrainConfig(steps=4200), 6) == {"steps": 700} and shortened(TrainConfig(epochs=5), 6) == {"epochs": 1}
    assert length_text({"steps": 4200}) == "4,200 optimizer steps" and length_text({"epochs": 3}) == "3 epochs"


def test_data_without_a_validation_split_is_refused(tmp_path):
    loops = loops_from_arrays(synthetic_loops(4), ["train"] * 4)
    with pytest.raises(ValueError, match="no validation loops"):
        train("cnn_vae", loops, "smoke", tmp_path, device="cpu", progress=False)
    with pytest.raises(ValueError, match="train_prior"):
        train("prior", loops, "smoke", tmp_path, device="cpu", progress=False)


_RUN = textwrap.dedent(
    """
    import os, signal, sys, torch
    torch.set_num_threads(1)
    from loopkit.data.synthetic import synthetic_dataset
    from loopkit.training.train import train
    name, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    def hook(info):
        if info["step"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up of any kind
    train(name, synthetic_dataset(60, seed=7), "smoke", out, device="cpu", seed=3, progress=False, epochs=3,
          callback=hook if kill_at > 0 else None)
    """
)


def _run(name, out, kill_at=0):
    return subprocess.run([sys.executable, "-c", _RUN, name, str(out), str(kill_at)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("name", ["vq_vae", "ar_lstm_vae"])
def test_resume_after_sigkill_ends_with_the_same_weights(name, tmp_path):
    # 54 training loops, batch 16: 4 steps an epoch, 3 epochs. Killed at step 6, in the middle of epoch 2.
    train(name, synthetic_dataset(60, seed=7), "smoke", tmp_path / "straight", device="cpu", seed=3, progress=False,
          epochs=3)  # uninterrupted, in this process (one thread, as the subprocesses)
    killed = _run(name, tmp_path / "resumed", kill_at=6)
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(tmp_path / "resumed" / LAST)["epoch"] == 1  # epoch 2 was lost, epoch 1 was kept
    resumed = _run(name, tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.stderr

    a, b = load_checkpoint(tmp_path / "straight" / LAST), load_checkpoint(tmp_path / "resumed" / LAST)
    assert a["epoch"] == b["epoch"] == 3 and a["step"] == b["step"] == 12
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:  # weights, batch-norm statistics and the codebook buffers: bit for bit
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ma, mb = pd.read_csv(tmp_path / "straight" / METRICS), pd.read_csv(tmp_path / "resumed" / METRICS)
    timings = ["seconds", "val_seconds"]
    pd.testing.assert_frame_equal(ma.drop(columns=timings), mb.drop(columns=timings))


# ------------------------------------------------------------------------------------------------ tables


def test_table1_sets_ours_beside_the_papers(runs, data):
    from loopkit.evaluation.tables import EMPTY_OUTPUT, table1

    out, best = runs
    table = table1({name: best[name] for name in MODEL_NAMES}, data)
    assert list(table["model"]) == ["AR LSTM-VAE", "NonAR LSTM-VAE", "CNN-VAE", "VQ-VAE", EMPTY_OUTPUT]
    models = table.iloc[:4]
    assert list(models["paper"]) == [paper.TABLE1_RECONSTRUCTION[m] for m in models["model"]]
    for name, row in zip(MODEL_NAMES, models.itertuples()):
        ckpt = load_checkpoint(best[name])
        assert row.reconstruction_error == pytest.approx(ckpt["best"]["value"], abs=1e-12)
        assert row.epoch == ckpt["best"]["epoch"] and row.epochs_scheduled == 2
    assert set(models["profile"]) == {"smoke"} and models["trained_on_same_data"].all()
    assert table["data"].str.contains(data.fingerprint).all()
    # the empty-output row: the share of cells on in the valid split
    assert table.iloc[4]["reconstruction_error"] == pytest.approx(np.asarray(data.split("valid").rolls).mean())
    assert np.isnan(table.iloc[4]["paper"])
    with pytest.raises(ValueError, match="unknown model"):
        table1({"gan": best["cnn_vae"]}, data)


def test_table2_trains_the_latent_size_grid(data, tmp_path):
    from loopkit.evaluation.tables import table2

    table = table2(data, "smoke", tmp_path, grid=[(32, 16, 256), (64, 16, 256)], device="cpu", progress=False,
                   epochs=1)
    assert list(zip(table["t"], table["L"], table["K"])) == [(32, 16, 256), (64, 16, 256)]
    assert list(table["paper"]) == [paper.TABLE2_LATENT_SIZE[(32, 16, 256)], paper.TABLE2_LATENT_SIZE[(64, 16, 256)]]
    assert ((table["reconstruction_error"] > 0) & (table["reconstruction_error"] < 1)).all()
    assert load_model(tmp_path / "vq_vae_t64_L16_K256" / BEST).codes(torch.zeros(1, 128, 93)).shape == (1, 64)
    assert table["epoch"].tolist() == [1, 1] and table["steps"].tolist() == [4, 4]  # 54 loops in batches of 16
    by_steps = table2(data, "smoke", tmp_path / "s", grid=[(32, 16, 256)], device="cpu", progress=False, steps=6)
    history = pd.read_csv(tmp_path / "s" / "vq_vae_t32_L16_K256" / METRICS)
    assert history["step"].tolist() == [4, 8] and len(by_steps) == 1  # the whole epochs that reach 6 steps


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_train(tmp_path, capsys):
    loops = synthetic_dataset(40, seed=5)
    files = pd.DataFrame(columns=FILE_COLUMNS)
    write_dataset(tmp_path / "data", loops.rolls.packed, loops.meta, files, settings={}, funnel={})
    argv = ["train", "cnn_vae", "--data", str(tmp_path / "data"), "--profile", "smoke", "--out", str(tmp_path / "run"),
            "--device", "cpu", "--epochs", "1", "--quiet"]
    assert cli_main(argv) == 0
    assert "cnn_vae: best epoch 1" in capsys.readouterr().out
    assert (tmp_path / "run" / BEST).exists()

    assert cli_main(["train", "prior", "--data", str(tmp_path / "data"), "--profile", "smoke", "--out",
                     str(tmp_path / "p"), "--quiet"]) == 2
    assert "needs --vqvae" in capsys.readouterr().err
    vq = ["train", "vq_vae", *argv[2:]]
    vq[vq.index("--out") + 1] = str(tmp_path / "vq")
    assert cli_main(vq) == 0
    capsys.readouterr()
    assert cli_main(["train", "prior", "--data", str(tmp_path / "data"), "--profile", "smoke", "--out",
                     str(tmp_path / "p"), "--vqvae", str(tmp_path / "vq" / BEST), "--quiet"]) == 0
    assert "teacher-forced accuracy" in capsys.readouterr().out and (tmp_path / "p" / BEST).exists()
    vq[vq.index("--epochs") + 1] = "2"  # the same directory with other settings is refused, naming the setting
    assert cli_main(vq) == 2
    assert "train_config.epochs: 1 -> 2" in capsys.readouterr().err
    assert cli_main(["train", "vq_vae", "--data", str(tmp_path / "nowhere"), "--profile", "smoke", "--out",
                     str(tmp_path / "q"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loopkit train: error: no loop data set at") and err.count("\n") == 1
    if not torch.cuda.is_available():
        assert cli_main([*argv[:-5], "--device", "cuda", "--quiet"]) == 2
        assert "no CUDA device" in capsys.readouterr().err


def test_transpose_bass_moves_only_the_bass_and_keeps_it_in_range():
    from loopkit.data.pianoroll import BASS_HIGHEST_PITCH, bass_column, drum_column
    from loopkit.training.batches import transpose_bass

    x = torch.zeros(3, 128, 93)
    x[0, 0, bass_column(40)] = x[0, 5, bass_column(45)] = x[0, 0, drum_column("kick")] = 1
    x[1, 3, bass_column(BASS_HIGHEST_PITCH)] = 1  # can only move down
    x[2, 0, drum_column("snare")] = 1  # no bass: never moved
    gen = torch.Generator().manual_seed(0)
    shifts = set()
    for _ in range(300):
        y = transpose_bass(x, 6, gen)
        assert torch.equal(y[..., 84:], x[..., 84:])
        k = int(y[0, 0, :84].argmax()) - bass_column(40)
        assert y[0, 5, bass_column(45) + k] == 1 and y[0].sum() == 3  # the whole line moves by one interval
        shifts.add(k)
        assert int(y[1, 3, :84].argmax()) <= bass_column(BASS_HIGHEST_PITCH) and y[1].sum() == 1
        assert torch.equal(y[2], x[2])
    assert shifts == set(range(-6, 7))


def test_transposition_is_off_in_the_paper_and_cpu_profiles():
    for profile in ("paper", "cpu"):
        assert all(train_config(n, profile).transpose == 0 for n in MODEL_NAMES)


def test_paper_profile_is_float32_unless_asked():
    """No autocast unless a run asks for it: the paper profile's amp is "off", and autocast_for is disabled
    for it on any device (and on CPU whatever is asked)."""
    from loopkit.training.train import amp_dtype

    assert all(train_config(n, "paper").amp == "off" for n in (*MODEL_NAMES, "prior"))
    model = torch.nn.Linear(2, 2)
    model.amp_safe = True
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert amp_dtype(model, cuda, "off") is None
    assert amp_dtype(model, cuda, "bf16") == torch.bfloat16 and amp_dtype(model, cuda, "fp16") == torch.float16
    assert amp_dtype(model, cpu, "bf16") is None
    model.amp_safe = False
    assert amp_dtype(model, cuda, "bf16") is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none on this machine (CPU-only CI)")
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_trains_on_cuda_and_reloads(name, data, tmp_path):
    best = train(name, data, "smoke", tmp_path / name, device="cuda", seed=1, progress=False)
    model = load_model(best, "cuda")
    assert next(model.parameters()).is_cuda
    assert 0 <= model_reconstruction_error(model, data.split("valid"), 64, "cuda") <= 1


def test_the_priors_training_codes_are_stored_once_and_equal_a_fresh_float32_computation(runs, data):
    from loopkit.models.checkpoints import TRAIN_CODES, load_train_codes
    from loopkit.training.train import codes_of

    out, best = runs
    stored = load_train_codes(best["prior"])
    assert stored is not None and (out / "prior" / TRAIN_CODES).is_file()
    vq = load_model(best["vq_vae"])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # precision settings around the call change nothing
        fresh = codes_of(vq, data.split("train").rolls).numpy()
    assert np.array_equal(stored, fresh)
    prior = load_checkpoint(best["prior"])
    assert prior["extra"]["train_codes_digest"]


def test_checkpoints_by_time_and_metrics_rows_appended(data, tmp_path):
    """With checkpoint_seconds far above the run's length, last.pt is written once, at the end, while
    metrics.csv gains a row every epoch; a resume from an older last.pt drops the rows after it."""
    out = tmp_path / "vq"
    train("vq_vae", data, "smoke", out, device="cpu", seed=1, progress=False,
          train_settings={"epochs": 2, "checkpoint_seconds": 1e9})
    ckpt = load_checkpoint(out / LAST)
    assert ckpt["epoch"] == 2 and list(pd.read_csv(out / METRICS)["epoch"]) == [1, 2]
    # an older resume point (epoch 1) with a metrics.csv that ran on: the resumed run rewrites from epoch 1
    first = load_checkpoint(out / LAST)
    first.update(epoch=1, step=first["history"][0]["step"], history=first["history"][:1])
    torch.save(first, out / LAST)
    rows_before = pd.read_csv(out / METRICS)
    train("vq_vae", data, "smoke", out, device="cpu", seed=1, progress=False,
          train_settings={"epochs": 2, "checkpoint_seconds": 1e9})
    rows = pd.read_csv(out / METRICS)
    assert list(rows["epoch"]) == [1, 2] and list(rows.columns) == list(rows_before.columns)


def test_unpack_batch_keeps_one_copy_of_its_shifts_per_device():
    from loopkit.training.batches import _SHIFTS, unpack_batch

    rolls = synthetic_loops(3, seed=2)
    packed = torch.from_numpy(pack_rolls(rolls))
    assert torch.equal(unpack_batch(packed), torch.from_numpy(rolls).float())
    shifts = _SHIFTS[packed.device]
    unpack_batch(packed)
    assert _SHIFTS[packed.device] is shifts


_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none on this machine (CPU-only CI)")


@pytest.mark.gpu
@_CUDA
def test_a_cuda_training_step_never_waits_for_the_host(data, tmp_path):
    """Two epochs on CUDA with PyTorch's sync debug mode set to "error" for the steps inside each epoch: any host
    sync in a training step (a .item(), a blocking copy) raises. The end of an epoch (its bookkeeping and
    validation read values once, on purpose) runs with the check off."""
    per_epoch = -(-len(data.split("train")) // train_config("vq_vae", "smoke").batch_size)
    checked = []

    def callback(info):  # after every optimizer step: check the next one unless an epoch ends here
        last_of_epoch = info["step"] % per_epoch == 0
        torch.cuda.set_sync_debug_mode("default" if last_of_epoch else "error")
        checked.append(not last_of_epoch)

    try:
        train("vq_vae", data, "smoke", tmp_path / "vq", device="cuda", seed=1, progress=False, callback=callback,
              train_settings={"epochs": 2})
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert sum(checked) >= 2 * (per_epoch - 1)


@pytest.mark.gpu
@_CUDA
def test_cuda_prior_generation_and_tables_match_their_cpu_shapes(runs, data, tmp_path):
    """The prior trains on CUDA from the stored float32 codes; generation and Table 3 run on the GPU."""
    from loopkit.evaluation.tables import table3
    from loopkit.generation.generate import generate

    out, best = runs
    prior = train_prior(best["vq_vae"], data, "smoke", tmp_path / "prior", device="cuda", seed=1, progress=False)
    vq, pr = load_model(best["vq_vae"], "cuda"), load_model(prior, "cuda")
    gen = generate(vq, 16, prior=pr, temperature=1.0, seed=0, device="cuda", progress=False)
    assert gen.codes.shape == (16, vq.latent_steps) and len(gen.rolls) == 16
    t3 = table3({"vq_vae": best["vq_vae"], "prior": prior}, data, n=16, device="cuda", progress=False)
    assert set(t3["model"]) >= {"Training set", "VQ-VAE (temp 1)"}


@pytest.mark.gpu
@_CUDA
def test_deterministic_cuda_resume_ends_with_the_same_weights(data, tmp_path):
    """With deterministic=True a CUDA run stopped after epoch 1 and resumed ends with the weights of an
    uninterrupted one (without it, cuDNN autotuning and atomics may round differently)."""
    settings = {"epochs": 2, "deterministic": True}
    whole = train("cnn_vae", data, "smoke", tmp_path / "whole", device="cuda", seed=1, progress=False,
                  train_settings=settings)

    def stop(info):  # a Ctrl-C in the middle of epoch 2: last.pt keeps epoch 1
        if info["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("cnn_vae", data, "smoke", tmp_path / "resume", device="cuda", seed=1, progress=False,
              train_settings=settings, callback=stop)
    assert load_checkpoint(tmp_path / "resume" / LAST)["epoch"] == 1
    resumed = train("cnn_vae", data, "smoke", tmp_path / "resume", device="cuda", seed=1, progress=False,
                    train_settings=settings)
    a, b = load_checkpoint(whole, "cpu")["state_dict"], load_checkpoint(resumed, "cpu")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compile_trains_the_same_model(data, tmp_path):
    """TrainConfig.compile runs the training forward pass through torch.compile (inductor, a C++ compiler on CPU):
    on a split whose batches are equal anyway (48 loops in 3 batches) the run's first epoch matches eager's up to
    rounding of fused kernels; on one that is not (54 loops in 4 batches: near-equal batches would be 14 and 13
    loops) every batch is filled to one shape, so two epochs compile one graph, once."""
    from torch._dynamo.utils import counters

    even = synthetic_dataset(53, valid=0.1, seed=7)  # 48 train
    losses = {}
    for on in (False, True):
        train("cnn_vae", even, "smoke", tmp_path / str(on), device="cpu", seed=1, progress=False, epochs=1,
              train_settings={"compile": on})
        losses[on] = pd.read_csv(tmp_path / str(on) / METRICS)["train_loss"].iloc[0]
    assert losses[True] == pytest.approx(losses[False], rel=1e-3)
    torch._dynamo.reset()
    counters.clear()
    train("cnn_vae", data, "smoke", tmp_path / "uneven", device="cpu", seed=1, progress=False, epochs=2,
          train_settings={"compile": True})
    assert counters["stats"]["unique_graphs"] == 1 and not counters["recompiles"]


@pytest.mark.parametrize("setting", ["lr_max=inf", "lr_max=nan", "lr_max=-1", "weight_decay=inf", "sampling_rate=0",
                                     "transpose=-5", "grad_clip=nan", "beta_end=inf", "lr_min=1"])
def test_training_settings_are_checked_for_finiteness_and_range_before_a_run(setting):
    from loopkit.config import parse_settings

    with pytest.raises(ValueError, match=setting.split("=")[0]):
        parse_settings([setting])


def test_a_run_whose_loss_turns_non_finite_fails_in_one_line_and_keeps_the_epoch_before(data, tmp_path, monkeypatch):
    import torch

    import loopkit.training.train as T

    built = []
    original = T.build_model
    monkeypatch.setattr(T, "build_model", lambda *a, **k: built.append(original(*a, **k)) or built[-1])

    def poison(state):  # at the second epoch's first step every weight turns NaN
        if state["step"] == 5:  # 54 loops in batches of 16: 4 steps an epoch
            with torch.no_grad():
                for p in built[-1].parameters():
                    p.fill_(float("nan"))

    with pytest.raises(ValueError, match=r"^training cnn_vae diverged in epoch 2: its train_loss is nan .* keeps epoch 1$"):
        train("cnn_vae", data, "smoke", tmp_path / "c", device="cpu", progress=False, callback=poison)
    assert pd.read_csv(tmp_path / "c" / METRICS)["epoch"].tolist() == [1]  # the diverged epoch is not written
