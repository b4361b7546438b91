"""Runs that stop inside their schedule and continue, validation every N epochs on a capped split, training
settings given as key=value (checked against TrainConfig, recorded in the checkpoint), and how a checkpoint's run
is labelled in the tables."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from loopkit.models.checkpoints import BEST, LAST, load_checkpoint, load_model, run_label
from loopkit.training.rundir import METRICS
from loopkit.cli import main as cli_main
from loopkit.config import TrainConfig, parse_settings, settings_for, train_config
from loopkit.data.dataset import FILE_COLUMNS, write_dataset
from loopkit.errors import LoopkitError
from loopkit.data.synthetic import synthetic_dataset
from loopkit.training.train import reconstruction_report, train, train_prior


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(60, valid=0.1, seed=7)  # 54 train (4 uneven batches of 16), 6 valid


def _weights(path):
    return load_checkpoint(path)["state_dict"]


@pytest.mark.parametrize("sizing", [{"epochs": 3}, {"steps": 9}])  # 9 steps at 4 a epoch: 3 epochs
def test_a_run_stopped_inside_its_schedule_continues_to_the_weights_of_an_uninterrupted_one(data, tmp_path, sizing):
    """until_epoch=1 trains the first epoch of the 3-epoch schedule (the learning rate and beta follow the whole
    schedule); the same run continued to the end ends with exactly the weights of one run straight through.
    beta reaches 1 only at the last step, so the stopped run keeps its epoch as a provisional best."""
    settings = dict(sizing, beta_anneal_fraction=1.0)
    train("cnn_vae", data, "smoke", tmp_path / "whole", device="cpu", seed=1, progress=False,
                  train_settings=settings)
    part = train("cnn_vae", data, "smoke", tmp_path / "part", device="cpu", seed=1, progress=False,
                 train_settings=dict(settings, until_epoch=1))
    first = load_checkpoint(part)
    assert first["epoch"] == 1 and first["best"]["provisional"] and first["epochs_scheduled"] == 3
    assert run_label(first) == "rehearsal: 1 of 3 epochs"
    lr = pd.read_csv(tmp_path / "part" / METRICS)["lr"].iloc[0]
    assert lr == pd.read_csv(tmp_path / "whole" / METRICS)["lr"].iloc[0]  # the same schedule, not a 1-epoch one
    again = train("cnn_vae", data, "smoke", tmp_path / "part", device="cpu", seed=1, progress=False,
                  train_settings=dict(settings, until_epoch=1))
    assert load_checkpoint(again)["epoch"] == 1  # asked for no more: nothing trained
    train("cnn_vae", data, "smoke", tmp_path / "part", device="cpu", seed=1, progress=False, train_settings=settings)
    a, b = _weights(tmp_path / "whole" / LAST), _weights(tmp_path / "part" / LAST)
    assert all(torch.equal(a[k], b[k]) for k in a)
    best = load_checkpoint(tmp_path / "part" / BEST)
    assert best["epoch"] == 3 and not best["best"].get("provisional") and run_label(best) == "complete"
    assert pd.read_csv(tmp_path / "part" / METRICS)["epoch"].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match=r"different training run.*train_config\.epochs"):  # the schedule counts
        train("cnn_vae", data, "smoke", tmp_path / "part", device="cpu", seed=1, progress=False,
              train_settings=dict(settings, epochs=4))


def test_a_best_epoch_kept_from_before_is_relabelled_when_its_run_continues(data, tmp_path):
    """select "valid": when the continued run's later epochs validate worse, best.pt keeps its weights but is
    relabelled with how far the run went."""
    settings = {"epochs": 2, "until_epoch": 1, "lr_max": 0.0, "lr_min": 0.0}  # nothing learnt: epoch 1 stays best
    train("vq_vae", data, "smoke", tmp_path / "v", device="cpu", seed=1, progress=False, train_settings=settings)
    assert run_label(load_checkpoint(tmp_path / "v" / BEST)) == "rehearsal: 1 of 2 epochs"
    train("vq_vae", data, "smoke", tmp_path / "v", device="cpu", seed=1, progress=False,
          train_settings=dict(settings, until_epoch=0))
    best = load_model(tmp_path / "v" / BEST)
    assert run_label(best.checkpoint) == "complete" and best.checkpoint["trained_to"] == 2


def test_validation_every_n_epochs_on_the_first_loops_of_the_split(data, tmp_path):
    path = train("cnn_vae", data, "smoke", tmp_path / "c", device="cpu", seed=1, progress=False,
                 train_settings={"epochs": 3, "validate_every": 2, "valid_loops": 4, "select": "last"})
    metrics = pd.read_csv(tmp_path / "c" / METRICS)
    assert metrics["val_error"].isna().tolist() == [True, False, False]  # epoch 2, and the run's last
    model = load_model(path)
    first = reconstruction_report(model, data.split("valid").rolls.packed[:4], 64, "cpu")
    assert metrics["val_error"].iloc[-1] == pytest.approx(first["error"])
    prior = train_prior(train("vq_vae", data, "smoke", tmp_path / "v", device="cpu", progress=False), data, "smoke",
                        tmp_path / "p", device="cpu", progress=False, train_settings={"validate_every": 5})
    assert pd.read_csv(tmp_path / "p" / METRICS)["val_ce"].isna().tolist() == [True, False]
    assert load_checkpoint(prior)["best"]["epoch"] == 2
    with pytest.raises(LoopkitError, match="validate_every must be at least 1"):
        TrainConfig(validate_every=0)


def test_settings_are_parsed_typed_and_checked_against_train_config():
    parsed = parse_settings(["amp=bf16", "batch_size=64", "lr_max=3e-3", "compile=true", "prior.epochs=10",
                             "vq_vae.deterministic=off"])
    assert parsed == {"amp": "bf16", "batch_size": 64, "lr_max": 3e-3, "compile": True, "prior.epochs": 10,
                      "vq_vae.deterministic": False}
    assert settings_for("prior", parsed)["epochs"] == 10 and "epochs" not in settings_for("vq_vae", parsed)
    assert train_config("prior", "cpu", **settings_for("prior", parsed)).batch_size == 64
    for bad, message in [("batch=2", "no field 'batch'"), ("amp", "key=value"), ("epochs=two", "not a int"),
                         ("epochs=1.5", "not a int"), ("amp=fp8", "amp must be"), ("gan.epochs=3", "unknown model"),
                         ("compile=maybe", "not a bool"), ("validate_every=0", "validate_every")]:
        with pytest.raises(LoopkitError, match=message):
            parse_settings([bad])
    assert parse_settings({"epochs": 2}) == {"epochs": 2}


def test_cli_train_set_amp_bf16_works_and_is_recorded(tmp_path, capsys):
    """On a CPU bf16 autocast does not apply (CUDA only): the run trains in float32, records amp="bf16" and says
    so; every setting given is in the checkpoint."""
    loops = synthetic_dataset(40, seed=5)
    write_dataset(tmp_path / "loops", loops.rolls.packed, loops.meta, pd.DataFrame(columns=FILE_COLUMNS), settings={},
                  funnel={})
    argv = ["train", "cnn_vae", "--data", str(tmp_path / "loops"), "--profile", "smoke", "--out", str(tmp_path / "c"),
            "--device", "cpu", "--quiet", "--set", "amp=bf16", "--set", "epochs=1", "--set", "validate_every=1"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "amp=bf16" in out and "autocast applies on CUDA only" in out
    ckpt = load_checkpoint(tmp_path / "c" / BEST)
    assert ckpt["train_config"]["amp"] == "bf16"
    assert ckpt["settings"] == {"amp": "bf16", "epochs": 1, "validate_every": 1}
    assert cli_main(argv[:-2] + ["--set", "batchsize=3"]) == 2
    assert "TrainConfig has no field 'batchsize'" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_a_compiled_run_reads_the_teacher_forcing_ratio_from_one_tensor_per_epoch(data):
    """Under compile the AR LSTM-VAE gets its scheduled-sampling ratio as a 0-d tensor (a new float would be a new
    graph), made once per epoch; the model computes the same function from it as from the float."""
    from loopkit.config import model_config
    from loopkit.models import build_model
    from loopkit.training.train import _RollTask, teacher_forcing_ratio

    model = build_model("ar_lstm_vae", model_config("ar_lstm_vae", "smoke"))
    task = _RollTask(model, data, train_config("ar_lstm_vae", "smoke", compile=True), torch.device("cpu"))
    ratio = task.teacher_forcing(3)
    assert isinstance(ratio, torch.Tensor) and ratio.ndim == 0 and task.teacher_forcing(3) is ratio
    assert float(ratio) == pytest.approx(teacher_forcing_ratio(3, 1.0)) and task.teacher_forcing(4) is not ratio
    x = torch.from_numpy(data.split("train").rolls[:6]).float()
    for value in (0.6, 1.0):
        torch.manual_seed(0)
        as_float = model(x, teacher_forcing=value)["logits"]
        torch.manual_seed(0)
        as_tensor = model(x, teacher_forcing=torch.tensor(value))["logits"]
        assert torch.allclose(as_float, as_tensor, atol=1e-5)
