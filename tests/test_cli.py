"""The command line's boundary (loopkit.cli): bad input is one line and exit status 2 (a bad flag, a
``LoopkitError`` from the library, a missing file); anything else is a bug and keeps its traceback."""

from __future__ import annotations

import argparse

import pytest

from loopkit import cli
from loopkit.commands import UserError
from loopkit.errors import LoopkitError


@pytest.fixture
def raising(monkeypatch):
    """Replace the command line by one sub-command, ``boom``, whose handler raises the exception given."""

    def install(exc: BaseException):
        def build_parser():
            parser = argparse.ArgumentParser(prog="loopkit")
            sub = parser.add_subparsers(dest="command")
            boom = sub.add_parser("boom")

            def handler(args):
                raise exc

            boom.set_defaults(handler=handler)
            return parser

        monkeypatch.setattr(cli, "build_parser", build_parser)

    monkeypatch.delenv("LOOPKIT_DEBUG", raising=False)
    return install


@pytest.mark.parametrize(
    "exc",
    [LoopkitError("the bar form 'ABC' names 3 bars"), UserError("--bpm must be positive, got 0"),
     FileNotFoundError("no checkpoint at x.pt")],  # fmt: skip
)
def test_bad_input_is_one_line_and_exit_status_2(raising, capsys, exc):
    raising(exc)
    assert cli.main(["boom"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"loopkit boom: error: {exc}\n" and captured.out == ""


@pytest.mark.parametrize("exc", [ValueError("a plain ValueError is a bug"), RuntimeError("so is this"),
                                 KeyError("and this")])  # fmt: skip
def test_anything_else_keeps_its_traceback(raising, exc):
    raising(exc)
    with pytest.raises(type(exc)) as info:
        cli.main(["boom"])
    assert info.value is exc


def test_loopkit_debug_shows_the_traceback_of_a_one_line_error(raising, monkeypatch):
    raising(LoopkitError("bad"))
    monkeypatch.setenv("LOOPKIT_DEBUG", "1")
    with pytest.raises(LoopkitError):
        cli.main(["boom"])


def test_a_library_error_from_a_real_command(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not MIDI")
    assert cli.main(["render", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == f"loopkit render: error: {tmp_path / 'notes.txt'}: not a .mid, .midi or .npy file\n"


def test_loopkit_error_is_a_value_error():
    assert issubclass(LoopkitError, ValueError) and not issubclass(UserError, ValueError)
