"""The chapters live (the book's other use: change a cell and hear the result): copies of the executed chapters that
run where the book ran them, and a JupyterLab server on 127.0.0.1 with a token to open them (``make lab``).

``prepare_lab`` copies each executed chapter of ``book/_generated`` (outputs kept, so every result is there
before anything runs) into a lab folder beside the build's output (``OUT/lab``) and makes it point at that
output: a cell after the title moves the kernel into the project folder, where papermill ran the chapter, and the
``parameters`` cell's paths (``out``, and any other that names an existing file or folder) become absolute.
Papermill's ``injected-parameters`` cell is dropped: the ``parameters`` cell already holds the run's values
(``loopkit.book.build.show_run_parameters``). ``lab_command`` is the server's command line and environment;
``start_lab`` starts it. The token travels in the environment (``JUPYTER_TOKEN``, which jupyter_server reads), never on
the command line: any local user reads a process's command line in /proc/PID/cmdline, only its owner its environment.

The lab folder is the reader's: a chapter they changed is never overwritten. ``prepare_lab`` records the digest
of every copy it writes (``LAB_RECORD``) and, on the next start, refreshes only the copies that still have it; a
changed one is kept, and said so. The same cell tells the kernel where the lab folder is (``LAB_ENV``), so that a
path the reader types (``my_loop = "my_groove.mid"``) is read from the folder the file browser shows
(``reader_path``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from loopkit.atomic import write_text
from loopkit.book.build import ASSIGNMENT, NOTEBOOKS, project_root
from loopkit.errors import LoopkitError

#: The tag of the cell ``prepare_lab`` puts first in every copy.
LAB_TAG = "lab-setup"
#: The environment variable the lab's set-up cell sets to the lab folder (``reader_path`` reads it).
LAB_ENV = "LOOPKIT_LAB"
#: The file in the lab folder that records the digest of every copy ``prepare_lab`` wrote.
LAB_RECORD = ".loopkit-lab.json"


def _run_out(nb) -> str | None:
    """The ``out`` parameter an executed chapter ran with (its ``parameters`` cell), or None."""
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            for line in cell.source.splitlines():
                m = ASSIGNMENT.match(line)
                if m and m["name"] == "out":
                    try:
                        return str(ast.literal_eval(m["value"]))
                    except (ValueError, SyntaxError):
                        return None
    return None


def _absolute(value: str, root: Path) -> str:
    """A parameter's value (Python source) with a relative path that exists under ``root`` made absolute."""
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if not isinstance(literal, str) or not literal or os.path.isabs(literal) or not (root / literal).exists():
        return value
    return repr(str((root / literal).resolve()))


def reader_path(path: str | os.PathLike) -> Path:
    """A path the reader typed into a chapter, absolute: a relative one is read from the lab folder (``LAB_ENV``,
    the folder JupyterLab's file browser shows) when the chapter runs in the lab, else from the working folder."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    return (Path(os.environ.get(LAB_ENV) or ".") / path).absolute()


def lab_copy(nb, root: Path, lab: Path | None = None):
    """The lab's copy of one executed chapter (an ``nbformat`` notebook; see the module docstring); ``lab`` is the
    lab folder the reader's relative paths are read from (``reader_path``)."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            lines = []
            for line in cell.source.splitlines():
                m = ASSIGNMENT.match(line)
                if m:
                    line = f"{m['name']} = {_absolute(m['value'], root)}{m['comment'] or ''}"
                lines.append(line)
            cell.source = "\n".join(lines)
    source = (f"import os\nos.chdir({str(root.resolve())!r})  # where `make book` ran this chapter: its paths are "
              "relative to the project")  # fmt: skip
    if lab is not None:
        source += (f"\nos.environ[{LAB_ENV!r}] = {str(Path(lab).resolve())!r}  # the file browser's folder: the paths "
                   "you type are read from it")  # fmt: skip
    setup = nbformat.v4.new_code_cell(source, metadata={"tags": [LAB_TAG, "hide-input"]})
    first = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0  # after the chapter's title
    nb.cells.insert(first, setup)
    return nb


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record(lab_path: Path) -> dict:
    try:
        record = json.loads((lab_path / LAB_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def prepare_lab(out: str | os.PathLike, lab: str | os.PathLike | None = None, root: Path | None = None,
                kept: list | None = None) -> list[Path]:  # fmt: skip
    """Copy the executed chapters that ran with output folder ``out`` into ``lab`` (default ``OUT/lab``); returns
    the chapters in the lab (written or kept). A copy the reader changed since ``prepare_lab`` wrote it (or one it
    did not write) is kept as it is, and added to ``kept`` when that is a list. Raises ``FileNotFoundError`` when
    the book has not been built and ``LoopkitError`` when the executed chapters ran with another output folder."""
    import nbformat

    root = Path(root) if root is not None else project_root()
    generated = root / "book" / "_generated"
    out_path = (root / out).resolve() if not os.path.isabs(out) else Path(out).resolve()
    lab_path = Path(lab) if lab is not None else out_path / "lab"
    found = [n for n in NOTEBOOKS if (generated / f"{n}.ipynb").is_file()]
    if not found:
        raise FileNotFoundError(f"no executed chapter in {generated}: build the book first")
    lab_path.mkdir(parents=True, exist_ok=True)
    record = _record(lab_path)
    copies = []
    for name in found:
        nb = nbformat.read(generated / f"{name}.ipynb", as_version=4)
        ran = _run_out(nb)
        ran_path = None if ran is None else ((root / ran).resolve() if not os.path.isabs(ran) else Path(ran).resolve())
        if ran_path != out_path:
            raise LoopkitError(f"{generated / name}.ipynb ran with the output folder {ran}, not {out}: build the book "
                               "with that output folder first")  # fmt: skip
        target = lab_path / f"{name}.ipynb"
        if target.exists() and (not target.is_file() or _digest(target.read_bytes()) != record.get(target.name)):
            if kept is not None:
                kept.append(target)
            copies.append(target)
            continue
        text = nbformat.writes(lab_copy(nb, root, lab_path))
        copies.append(write_text(target, text))
        record[target.name] = _digest(text.encode("utf-8"))
    write_text(lab_path / LAB_RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return copies


#: The environment variable jupyter_server takes its token from (``IdentityProvider.token``'s default).
TOKEN_ENV = "JUPYTER_TOKEN"


def lab_command(lab: str | os.PathLike, port: int = 8888, token: str | None = None,
                env: dict | None = None) -> tuple[list[str], dict[str, str], str]:  # fmt: skip
    """``(argv, env, token)``: JupyterLab serving ``lab`` on 127.0.0.1:``port`` with ``token`` (a fresh random one
    by default), no browser opened, from this Python's environment. The token is in ``env`` (``env`` given, else
    this process's environment, with ``TOKEN_ENV`` set), not in ``argv``, which other local users can read."""
    token = token or secrets.token_hex(24)
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={Path(lab).resolve()}"]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; the server says no otherwise
        argv.append("--ServerApp.allow_root=True")
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != "JUPYTER_TOKEN_FILE"}
    return argv, {**env, TOKEN_ENV: token}, token


def lab_url(port: int, token: str, notebook: str = "03_investigate_latent_space") -> str:
    """The address that opens ``notebook`` in the lab."""
    return f"http://127.0.0.1:{port}/lab/tree/{notebook}.ipynb?token={token}"


def start_lab(lab: str | os.PathLike, port: int = 8888, token: str | None = None,
              **popen) -> tuple[subprocess.Popen, str]:  # fmt: skip
    """Start the server of ``lab_command``; returns ``(process, token)``. The caller stops it (``terminate``).
    An ``env`` among ``popen`` is the server's environment, the token added to it."""
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        raise FileNotFoundError("JupyterLab is not installed: pip install -e '.[lab]' (the extra that holds it)")
    argv, env, token = lab_command(lab, port, token, env=popen.pop("env", None))
    return subprocess.Popen(argv, env=env, **popen), token
