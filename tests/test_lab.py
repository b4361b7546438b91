"""The lab is the reader's folder (issue 19): a second start keeps a chapter the reader changed and refreshes the
others, a relative path typed in a chapter is read from the lab folder (and an error names where it looked), and
a missing JupyterLab names the extra that installs it. Built on hand-made executed chapters. The token stays off
the server's command line (issue 28): one test starts a real JupyterLab to read its /proc entries."""

from __future__ import annotations

import importlib.util

import nbformat
import pytest

from loopkit.book import lab as L
from loopkit.ownloop.reader import read_loop


def executed(root, name: str, marker: str, out: str = "runs/x") -> None:
    """An executed chapter as `loopkit book` leaves it in book/_generated: a title, the parameters, one cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"),
                nbformat.v4.new_code_cell(f'out = "{out}"\nmy_loop = ""', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(f"print({marker!r})")]  # fmt: skip
    folder = root / "book" / "_generated"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


def test_a_second_start_keeps_the_chapter_the_reader_changed(tmp_path):
    root, lab = tmp_path / "project", tmp_path / "project" / "runs" / "x" / "lab"
    names = ["02_train_models", "03_investigate_latent_space"]
    for name in names:
        executed(root, name, "first build")
    copies = L.prepare_lab("runs/x", root=root)
    assert [c.name for c in copies] == [f"{n}.ipynb" for n in names] and copies[0].parent == lab
    mine = lab / "03_investigate_latent_space.ipynb"
    nb = nbformat.read(mine, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('my_loop = "my_groove.mid"  # the reader\'s cell'))
    nbformat.write(nb, mine)
    edited = mine.read_bytes()
    for name in names:  # the book is built again
        executed(root, name, "second build")
    kept: list = []
    copies = L.prepare_lab("runs/x", root=root, kept=kept)
    assert kept == [mine] and mine in copies and mine.read_bytes() == edited
    assert "second build" in (lab / "02_train_models.ipynb").read_text()  # the unchanged copy is refreshed
    assert "first build" in mine.read_text()
    # the reader deletes their copy: the next start brings the book's back
    mine.unlink()
    kept = []
    L.prepare_lab("runs/x", root=root, kept=kept)
    assert kept == [] and "second build" in mine.read_text()


def test_a_path_the_reader_types_is_read_from_the_lab_folder(tmp_path, monkeypatch):
    root = tmp_path / "project"
    executed(root, "03_investigate_latent_space", "x")
    copy = L.prepare_lab("runs/x", root=root)[0]
    setup = nbformat.read(copy, as_version=4).cells[1]
    assert L.LAB_TAG in setup.metadata["tags"]
    assert f"os.environ[{L.LAB_ENV!r}] = {str(copy.parent.resolve())!r}" in setup.source
    monkeypatch.chdir(root)  # the kernel runs where the book ran: the project folder
    monkeypatch.setenv(L.LAB_ENV, str(copy.parent))
    assert L.reader_path("my_groove.mid") == copy.parent / "my_groove.mid"
    assert L.reader_path("/abs/file.mid") == L.reader_path("/abs/file.mid").absolute()
    with pytest.raises(FileNotFoundError, match=f"no MIDI file at {copy.parent / 'my_groove.mid'}"):
        read_loop(L.reader_path("my_groove.mid"))
    monkeypatch.delenv(L.LAB_ENV)  # outside the lab: the working folder
    assert L.reader_path("my_groove.mid") == root / "my_groove.mid"
    with pytest.raises(FileNotFoundError, match=f"looked for {root / 'my_groove.mid'}"):
        read_loop("my_groove.mid")


def test_without_jupyterlab_the_hint_names_the_lab_extra(tmp_path, monkeypatch):
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else found(name, *a))
    with pytest.raises(FileNotFoundError, match=r"pip install -e '\.\[lab\]'"):
        L.start_lab(tmp_path)


def test_the_token_is_not_on_the_command_line(tmp_path):
    """Issue 28: the token stood on JupyterLab's command line, which any local user reads in /proc/PID/cmdline; it
    travels in the server's environment instead (JUPYTER_TOKEN; /proc/PID/environ is its owner's only)."""
    argv, env, token = L.lab_command(tmp_path, 8890, env={"PATH": "/usr/bin", "JUPYTER_TOKEN_FILE": "/x"})
    assert len(token) == 48 and not any(token in a for a in argv)
    assert not any("IdentityProvider" in a or "token=" in a.lower() for a in argv)
    assert env == {"PATH": "/usr/bin", L.TOKEN_ENV: token}  # and a token file given to this process is not used
    assert L.lab_command(tmp_path, token="abc")[1][L.TOKEN_ENV] == "abc"


@pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="JupyterLab is not installed")
@pytest.mark.timeout(180)
def test_a_started_lab_answers_its_token_which_its_command_line_does_not_hold(tmp_path):
    import json
    import socket
    import subprocess
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "home").mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    process, token = L.start_lab(tmp_path, port, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cmdline, deadline = "", time.monotonic() + 10
        while not cmdline and time.monotonic() < deadline:  # empty for a moment while the new program loads
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
            time.sleep(0 if cmdline else 0.05)
        assert "jupyterlab" in cmdline, (process.poll(), cmdline) and token not in cmdline
        environ = Path(f"/proc/{process.pid}/environ")
        assert f"{L.TOKEN_ENV}={token}".encode() in environ.read_bytes().split(b"\0")
        assert environ.stat().st_mode & 0o077 == 0  # other users cannot read it
        deadline = time.monotonic() + 150
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5) as r:
                    assert "started" in json.loads(r.read())
                break
            except (urllib.error.URLError, ConnectionError) as exc:
                assert process.poll() is None and time.monotonic() < deadline, f"the lab did not answer: {exc}"
                time.sleep(0.5)
        with pytest.raises(urllib.error.HTTPError) as refused:  # the token is the one it checks
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=wrong", timeout=5)
        assert refused.value.code == 403
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
