"""Hardening of runs and of the command line (issue 28): one writer per output folder, metrics.csv rows written
whole and repaired on resume, a full disk and absurd requests in one line, bounded before any work."""

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopkit.cli import main
from midi_builder import loop_song, write

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from loopkit.data.dataset import FILE_COLUMNS, write_dataset
    from loopkit.data.synthetic import synthetic_dataset

    root = tmp_path_factory.mktemp("data") / "data"
    loops = synthetic_dataset(40, seed=5)
    write_dataset(root, loops.rolls.packed, loops.meta, pd.DataFrame(columns=FILE_COLUMNS), {}, {})
    return root


def train_argv(data: Path, out: Path, *more: str) -> list[str]:
    return ["train", "cnn_vae", "--data", str(data), "--profile", "smoke", "--out", str(out), "--device", "cpu",
            "--epochs", "2", "--quiet", *more]  # fmt: skip


def one_line(capsys, command: str) -> str:
    """The one error line a refused command printed (after a progress bar, when the work had begun)."""
    err = capsys.readouterr().err
    last = err.rstrip("\n").split("\n")[-1]
    assert err.endswith("\n") and last.startswith(f"loopkit {command}: error: "), err
    assert "Traceback" not in err and err.count("error:") == 1, err
    return last


# ---------------------------------------------------------------------------------------------------------
# 1. one writer per folder


def hold_in_another_process(folder: Path, what: str) -> subprocess.Popen:
    code = ("import sys, time\nfrom loopkit.runlock import hold_folder\n"
            "with hold_folder(sys.argv[1], sys.argv[2]):\n    print('held', flush=True)\n    time.sleep(120)\n")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    p = subprocess.Popen([sys.executable, "-c", code, str(folder), what], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "held"
    return p


@pytest.mark.parametrize("command", ["train", "generate", "extract", "encode", "vary", "interpolate"])
def test_a_second_writer_of_a_folder_is_refused_naming_the_first_and_a_killed_ones_lock_does_not_block(
        command, data, runs, tmp_path, capsys):  # fmt: skip
    out = tmp_path / "out"
    corpus = tmp_path / "corpus"
    song, other = write(corpus / "song.mid", loop_song(10, crash_bars=(0, 1))), tmp_path / "other.mid"
    write(other, loop_song(8, crash_bars=(0,)))
    vq = str(runs / "vq_vae" / "best.pt")
    argv = {"train": train_argv(data, out),
            "generate": ["generate", "--checkpoint", str(runs / "cnn_vae" / "best.pt"), "-n", "2", "--no-png",
                         "--out", str(out)],
            "extract": ["extract", str(corpus), "--out", str(out), "--workers", "0", "--quiet"],
            "encode": ["encode", str(song), "--checkpoint", vq, "--no-png", "--out", str(out)],
            "vary": ["vary", str(song), "--form", "AABA AABA", "--checkpoint", vq, "--no-png", "--out", str(out)],
            "interpolate": ["interpolate", str(song), str(other), "--checkpoint", vq, "--steps", "3", "--no-png",
                            "--out", str(out)]}[command]  # fmt: skip
    holder = hold_in_another_process(out, "training cnn_vae, seed 1")
    try:
        assert main(argv) == 2  # before: both ran, and the folder held one's last.pt beside the other's best.pt
        err = one_line(capsys, command)
        assert f"{out} is being written by another run (training cnn_vae, seed 1, pid {holder.pid} on " in err
        assert sorted(p.name for p in out.iterdir()) == [".loopkit-lock"]  # nothing of the refused run
    finally:
        holder.send_signal(signal.SIGKILL)  # its lock file stays; the kernel released the lock
        holder.wait()
    assert (out / ".loopkit-lock").exists()
    assert main(argv) == 0
    assert not (out / ".loopkit-lock").exists()  # a writer that ends removes it


def test_the_lock_is_released_when_a_run_fails(tmp_path):
    from loopkit.errors import LoopkitError
    from loopkit.runlock import LOCK_FILE, hold_folder

    with pytest.raises(LoopkitError, match="is being written by another run"):
        with hold_folder(tmp_path / "x", "first"):
            with hold_folder(tmp_path / "x", "second"):  # the same process: still refused
                pass
    assert not (tmp_path / "x" / LOCK_FILE).exists()
    with hold_folder(tmp_path / "x", "again"):
        pass


# ---------------------------------------------------------------------------------------------------------
# 2. metrics.csv: rows whole, repaired on resume


def test_a_cut_or_lost_last_metrics_row_is_repaired_from_the_checkpoint(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_argv(data, run)) == 0
    metrics = run / "metrics.csv"
    good = pd.read_csv(metrics)
    text = metrics.read_bytes()
    for damaged in (text[:-7], text[: text.rindex(b"\n", 0, len(text) - 1) + 1], text[:-1]):  # cut, lost, no LF
        metrics.write_bytes(damaged)
        assert main(train_argv(data, run)) == 0  # before: exit 0 and the damage kept (NaN columns)
        again = pd.read_csv(metrics)
        assert len(again) == 2 and not again[["epoch", "train_loss", "lr"]].isna().any().any()
        pd.testing.assert_frame_equal(again.drop(columns=["seconds", "val_seconds"]),
                                      good.drop(columns=["seconds", "val_seconds"]))  # fmt: skip


def test_a_row_the_disk_refuses_is_not_left_in_part(tmp_path, monkeypatch):
    from loopkit.training import rundir

    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n1,0.5\n")
    real = os.write
    monkeypatch.setattr(rundir.os, "write", lambda fd, data: real(fd, data[:5]))  # a disk full after 5 bytes
    with pytest.raises(OSError) as info:
        rundir.append_whole(path, b"2,0.25\n")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_text() == "epoch,loss\n1,0.5\n"


# ---------------------------------------------------------------------------------------------------------
# 9. a full disk: one line naming the file, the files written before it whole


def disk_full_after(monkeypatch, n: int) -> None:
    """The disk fills after ``n`` more atomic writes: ``loopkit.atomic``'s fsync raises ENOSPC."""
    from loopkit import atomic

    real, calls = os.fsync, [0]

    def fsync(fd):
        calls[0] += 1
        if calls[0] > n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)


@pytest.mark.parametrize("command", ["generate", "train", "encode"])
def test_a_full_disk_is_one_line_naming_the_file_and_earlier_files_stay_whole(command, data, runs, tmp_path,
                                                                            capsys, monkeypatch):  # fmt: skip
    out = tmp_path / "out"
    if command == "train":
        argv = train_argv(data, out)
    elif command == "generate":
        argv = ["generate", "--checkpoint", str(runs / "cnn_vae" / "best.pt"), "-n", "3", "--no-png", "--out", str(out)]
    else:
        write(tmp_path / "song.mid", loop_song(10, crash_bars=(0, 1)))
        argv = ["encode", str(tmp_path / "song.mid"), "--checkpoint", str(runs / "vq_vae" / "best.pt"), "--out",
                str(out)]  # fmt: skip
    disk_full_after(monkeypatch, 2)
    assert main(argv) == 2  # before: a traceback (torch's "unexpected pos" for a checkpoint)
    err = one_line(capsys, command)
    assert f"no space left on device writing {out}{os.sep}" in err
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]  # no temporary left
    monkeypatch.undo()
    # the same command, with room, finishes (encode keeps what an earlier run wrote unless told to write over it)
    assert main(argv + (["--force"] if command == "encode" else [])) == 0


def test_a_full_disk_while_extracting_names_the_data_set_file(tmp_path, capsys, monkeypatch):
    from loopkit.data import dataset

    corpus = tmp_path / "corpus"
    write(corpus / "song.mid", loop_song(10, crash_bars=(0, 1)))
    real_init = dataset._HashedFile.__init__

    def init(self, path):  # every data set file on a full disk: its writes raise ENOSPC, naming no file
        real_init(self, path)
        fh = self.fh

        class Full:
            def write(self, data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def __getattr__(self, name):
                return getattr(fh, name)

        self.fh = Full()

    monkeypatch.setattr(dataset._HashedFile, "__init__", init)
    argv = ["extract", str(corpus), "--out", str(tmp_path / "loops"), "--workers", "0", "--quiet"]
    assert main(argv) == 2  # before: a traceback ("OSError: [Errno 28] No space left on device")
    assert f"no space left on device writing {tmp_path / 'loops'}{os.sep}" in one_line(capsys, "extract")
    monkeypatch.undo()
    assert main(argv) == 0


# ---------------------------------------------------------------------------------------------------------
# 8, 9, 10. absurd requests: one line before any work


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("song") / "loop.mid"
    write(path, loop_song(8, crash_bars=(0, 1)))
    return path


def absurd(runs: Path, song: Path, out: Path, data: Path) -> list[tuple[list[str], str]]:
    cnn, prior = str(runs / "cnn_vae" / "best.pt"), str(runs / "prior" / "best.pt")
    a_file = out.parent / "a-file"
    a_file.write_text("not a folder")
    gen = ["generate", "--checkpoint", cnn, "--no-png"]
    return [
        ([*gen, "-n", "10000000", "--out", str(out)], "the number of loops must lie in 1..1,000,000"),
        ([*gen, "-n", "1000000000000", "--out", str(out)], "the number of loops must lie in 1..1,000,000"),
        ([*gen, "--seed", str(10**23), "--out", str(out)], "a seed must be a whole number in 0..4,294,967,295"),
        ([*gen, "--device", "tpu", "--out", str(out)], "unknown device 'tpu'"),
        ([*gen, "--out", str(a_file)], f"the output folder {a_file} is a file, not a folder"),
        ([*gen, "--out", str(a_file / "sub")], f"{a_file / 'sub'} lies under a file, not a folder"),
        (train_argv(data, a_file), f"the output folder {a_file} is a file, not a folder"),
        (train_argv(data, out, "--seed", str(10**23)), "a seed must be a whole number"),
        (["render", str(song), "--out", str(out), "--repeats", "100000000"], "at most 1,200 s is rendered"),
        (["render", str(song), "--out", str(out), "--tail", "1e9"], "tail must lie in 0..60 seconds, got 1000000000"),
        (["render", str(song), "--out", str(out), "--tail", "nan"], "tail must lie in 0..60 seconds, got nan"),
        (["render", str(song), "--out", str(out), "--bpm", "0.01"], "tempo must lie between 3.58 bpm"),
        (["listen", "prepare", "--group", f"a={song.parent}", "--group", f"b={song.parent}", "--repeats",
          "100000000", "--out", str(out)], "at most 1,200 s is rendered"),  # fmt: skip
        (["listen", "prepare", "--group", f"a={song.parent}", "--group", f"b={song.parent}", "--seed", "-1",
          "--out", str(out)], "a seed must be a whole number in 0..4,294,967,295 (2**32 - 1), got -1"),  # fmt: skip
        (["interpolate", str(song), str(song), "--checkpoint", cnn, "--steps", "100000000", "--out", str(out)],
         "--steps counts both ends: 2..1,000, got 100000000"),  # fmt: skip
        (["vary", str(song), "--bars", "4-2", "--checkpoint", prior, "--out", str(out)],
         "bars '4-2' run backwards: write the lower bar first ('2-4')"),  # fmt: skip
        (["vary", str(song), "--bars", "2-4", "--seed", str(10**23), "--checkpoint", prior, "--out", str(out)],
         "a seed must be a whole number"),  # fmt: skip
    ]


def test_absurd_requests_are_one_line_before_any_work(runs, song, data, tmp_path, capsys):
    out = tmp_path / "out"
    for argv, message in absurd(runs, song, out, data):
        assert main(argv) == 2, argv
        err = one_line(capsys, argv[0])
        assert message in err, (argv, err)
        assert not out.exists() or not any(out.iterdir()), argv  # refused before writing anything


def test_long_audio_is_encoded_without_crashing_the_encoder():
    from loopkit.outputs.audio import OGG_BLOCK, decode_ogg, encode_ogg

    n = 2 * OGG_BLOCK + 1000  # before: one write of 2.1 million frames ended the process (segmentation fault)
    audio = (0.1 * np.sin(np.arange(n) / 10)).astype(np.float32)
    decoded, rate = decode_ogg(encode_ogg(audio, 44_100))
    assert rate == 44_100 and abs(len(decoded) - n) < 2048
