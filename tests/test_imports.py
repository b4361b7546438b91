"""No command pays for torch unless it needs it: building the parser, ``loopkit --version`` and the ``--help`` of
every sub-command load neither torch nor pandas nor matplotlib (each command imports what it uses inside its
handler), and ``loopkit extract`` runs with torch unimportable, in the parent and in its worker processes (which
load no pandas either). Each check runs in a fresh interpreter, so what this test process imported does not count.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopkit import cli
from midi_builder import loop_song, write

HEAVY = ("torch", "pandas", "matplotlib")

#: Runs the command line with the arguments given, then prints which of HEAVY the process has loaded.
PROBE = f"""
import sys
from loopkit.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("loaded:", ",".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def _command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every sub-command of ``parser``, nested ones too (``data demo``, ``listen serve``), as argument tuples."""
    out: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias of a command already listed
                    continue
                seen.add(id(sub))
                out.append((*path, name))
                out += _command_paths(sub, (*path, name))
    return out


COMMANDS = _command_paths(cli.build_parser())


def _loaded(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("loaded:")]
    assert lines, f"loopkit {' '.join(args)} did not finish:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return [m for m in lines[-1].removeprefix("loaded:").strip().split(",") if m]


def test_the_commands_are_found_nested_ones_too():
    assert {("extract",), ("book",), ("train",), ("vary",), ("interpolate",)} <= set(COMMANDS)
    assert ("listen", "serve") in COMMANDS and ("data", "demo") in COMMANDS


@pytest.mark.parametrize("args", [("--version",), ("--help",)], ids=lambda a: a[0])
def test_the_top_level_flags_load_nothing_heavy(args):
    loaded = _loaded(*args)
    assert loaded == [], f"loopkit {args[0]} loads {', '.join(loaded)}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_s_help_loads_nothing_heavy(command):
    loaded = _loaded(*command, "--help")
    assert loaded == [], f"loopkit {' '.join(command)} --help loads {', '.join(loaded)}"


def _blocker(folder: Path, name: str, message: str) -> Path:
    """A folder holding a package ``name`` whose import fails loudly (to put first on PYTHONPATH)."""
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(f"raise ImportError({message!r})\n")
    return folder


#: Runs ``loopkit extract`` with the arguments given. Its own sys.path was fixed at start-up (torch blocked); the
#: worker processes it starts inherit PYTHONPATH from its environment, where pandas is blocked too.
EXTRACT = """
import os, sys
os.environ["PYTHONPATH"] = os.pathsep.join([os.environ.pop("WORKER_BLOCKERS"), os.environ["PYTHONPATH"]])
from loopkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_extract_runs_without_torch_and_its_workers_without_pandas(tmp_path):
    corpus = tmp_path / "corpus"
    for i, pitch in enumerate((40, 43, 45)):
        write(corpus / f"song{i}.mid", loop_song(8, bass_pitch=pitch))
    no_torch = _blocker(tmp_path / "no_torch", "torch", "torch imported")
    no_pandas = _blocker(tmp_path / "no_pandas", "pandas", "pandas imported in an extraction worker")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(no_torch), os.environ.get("PYTHONPATH")) if p),
               WORKER_BLOCKERS=str(no_pandas))  # fmt: skip
    out = tmp_path / "loops"
    done = subprocess.run(
        [sys.executable, "-c", EXTRACT, "extract", str(corpus), "--out", str(out), "--workers", "2", "--quiet"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "imported" not in done.stderr, done.stderr[-3000:]
    files = (out / "files.csv").read_text().splitlines()
    assert len(files) == 4 and all(",used," in row for row in files[1:]), files
