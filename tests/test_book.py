"""The book end to end on the smoke profile: papermill runs all five notebooks, Jupyter Book builds them strictly,
and headless Chromium (Debian's) opens every page at 1280 pixels: no errors, tables and figures present, every audio
element's source decodes to non-silent sound; the page reads as a companion to the paper (parameters and set-up
hidden, code folded, no raw repr, no NaN or cut cell in a table, no table wider than the page, every player with a
caption and a MIDI link, every figure's axes labelled), and the introduction's table judges every claim.

The book is built in a temporary copy of the sources, so a user's own `make book` output is never touched.
"""

from __future__ import annotations

import contextlib
import os
import functools
import http.server
import json
import shutil
import socketserver
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from loopkit.book.build import NOTEBOOKS, build_book, page_view, run_notebooks, show_run_parameters

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["book/intro", *[f"book/_generated/{n}" for n in NOTEBOOKS], "book/paper_scale", "book/references"]
#: pages that must show at least one table / one figure / one audio player
WITH_TABLES = {"book/intro", *[f"book/_generated/{n}" for n in NOTEBOOKS]}
WITH_FIGURES = {f"book/_generated/{n}" for n in NOTEBOOKS}
WITH_AUDIO = {f"book/_generated/{n}" for n in NOTEBOOKS[:4]}


def _copy_sources(dst: Path) -> None:
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, dst / name)
    shutil.copytree(ROOT / "notebooks", dst / "notebooks")
    shutil.copytree(ROOT / "book", dst / "book", ignore=shutil.ignore_patterns("_generated"))


@contextlib.contextmanager
def _one_thread_beside_other_workers():
    """Under pytest-xdist, the notebooks' kernels compute on one thread (they inherit ``OMP_NUM_THREADS``): the
    other workers hold the other cores, and two threads fighting them for one core are slower than one."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or "OMP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        del os.environ["OMP_NUM_THREADS"]


@pytest.fixture(scope="session")
def smoke_book(demo_corpus, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("book")
    _copy_sources(root)
    params = {
        "profile": "smoke",
        "corpus": str(demo_corpus),
        "out": str(root / "runs" / "smoke"),
        "device": "cpu",
        "ratings": "",
        "examples": 2,
    }
    with _one_thread_beside_other_workers():
        run_notebooks(params, root=root, echo=lambda *a: None)
    index = build_book(root=root, echo=lambda *a: None)
    assert index.exists()
    return root / "_build" / "html"


@pytest.fixture(scope="session")
def rehearsal_book(demo_corpus, tmp_path_factory) -> Path:
    """The book as `loopkit book --profile smoke --rehearsal 1` runs it: the first epoch of every 2-epoch schedule,
    2,048 loops per table row, the banner on every page."""
    from loopkit.book.rehearsal import describe

    root = tmp_path_factory.mktemp("rehearsal-book")
    _copy_sources(root)
    params = {"profile": "smoke", "corpus": str(demo_corpus), "out": str(root / "runs" / "smoke-rehearsal"),
              "device": "cpu", "ratings": "", "examples": 2, "rehearsal": 1, "settings": {"validate_every": 1}}
    with _one_thread_beside_other_workers():
        run_notebooks(params, root=root, echo=lambda *a: None)
    build_book(root=root, echo=lambda *a: None, announcement=f"Rehearsal, not results: {describe(1, 'smoke')}.")
    return root


@pytest.mark.slow
def test_the_rehearsal_book_labels_every_page_and_projects_each_chapter(rehearsal_book):
    """Every page carries the rehearsal's banner; every chapter page its own warning and its time, measured and
    projected; the tables of generated loops label the models "rehearsal (smoke, 1 of 2 epochs)", never
    "ours (smoke)"; the intro says what ran; each chapter wrote its timing."""
    html = rehearsal_book / "_build" / "html"
    for page in PAGES:
        assert "Rehearsal, not results" in (html / f"{page}.html").read_text(), page
    for name in NOTEBOOKS:
        text = (html / "book" / "_generated" / f"{name}.html").read_text()
        assert "This page comes from a rehearsal of profile smoke" in text and "This chapter took" in text, name
    evaluated = (html / "book" / "_generated" / "04_evaluate_samples.html").read_text()
    assert "rehearsal (smoke, 1 of 2 epochs)" in evaluated and "ours (smoke)" not in evaluated
    assert "Projected full run" in (html / "book" / "_generated" / "02_train_models.html").read_text()
    assert "a rehearsal of profile smoke" in (html / "book" / "intro.html").read_text()
    timings = sorted(p.stem for p in (rehearsal_book / "runs" / "smoke-rehearsal" / "timings").glob("*.json"))
    assert timings == list(NOTEBOOKS)


def test_every_notebook_is_stored_without_outputs():
    for name in NOTEBOOKS:
        nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), name
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{name}: exactly one cell tagged 'parameters'"
        params = "".join(tagged[0]["source"])
        for p in ("profile", "out", "device"):
            assert f"{p} =" in params, f"{name}: parameter {p} missing"
        headings = [c for c in nb["cells"] if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("# ")]
        assert len(headings) == 1, f"{name}: one H1"
        # the set-up cell (imports, paths) right after the parameters folds on the page
        after = code[code.index(tagged[0]) + 1]
        assert "hide-input" in after.get("metadata", {}).get("tags", []), f"{name}: set-up cell not folded"
        assert "import " in "".join(after["source"]), f"{name}: the cell after the parameters is not the imports"


def test_the_page_shows_the_run_s_parameters_once():
    import nbformat

    nb = nbformat.v4.new_notebook()
    own = nbformat.v4.new_code_cell(
        'profile = "cpu"  # smoke, cpu or paper\nout = "runs/cpu"\nseed = 0  # a seed', metadata={"tags": ["parameters"]}
    )
    injected = nbformat.v4.new_code_cell(
        '# Parameters\nprofile = "smoke"\nout = "/tmp/x"\nexamples = 2\n', metadata={"tags": ["injected-parameters"]}
    )
    nb.cells = [own, injected, nbformat.v4.new_code_cell("print(profile)")]
    show_run_parameters(nb)
    assert own.source == (
        'profile = "smoke"  # smoke, cpu or paper\nout = "/tmp/x"\nseed = 0  # a seed\nexamples = 2  # given to this run'
    )
    assert injected.metadata["tags"] == ["injected-parameters", "remove-cell"]
    assert show_run_parameters(nb).cells[0].source == own.source  # idempotent


def test_the_page_hides_parameters_and_set_up_and_folds_code():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 3. A chapter"),
        nbformat.v4.new_code_cell('profile = "smoke"\ncorpus = "/tmp/x/demo"\nout = "/tmp/x"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import numpy as np", metadata={"tags": ["hide-input"]}),
        nbformat.v4.new_code_cell("table(x)"),
        nbformat.v4.new_code_cell("code = 3  # change me", metadata={"tags": ["tweak"]}),
    ]
    page_view(nb)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert nb.cells[1].cell_type == "markdown" and "profile **smoke**, corpus **demo**" in nb.cells[1].source
    assert "/tmp/x" not in nb.cells[1].source  # the corpus by its name, not where it lies
    assert "remove-cell" in tags[2] and "remove-cell" in tags[3]  # parameters, set-up
    assert tags[4] == ["hide-input"] and tags[5] == ["tweak"]  # other code folded; a cell to edit stays open
    page_view(nb)
    assert sum(c.cell_type == "markdown" for c in nb.cells) == 2  # idempotent


def test_the_smoke_book_builds_with_every_page(smoke_book):
    for page in PAGES:
        assert (smoke_book / f"{page}.html").exists(), page
    for name in NOTEBOOKS:  # papermill's cell and the parameters are not on the page; one line states the run
        html = (smoke_book / "book" / "_generated" / f"{name}.html").read_text()
        assert "# Parameters" not in html and "injected-parameters" not in html, name
        assert 'profile = "smoke"' not in html and "profile <strong>smoke</strong>" in html, name
        assert "toggle" in html, name
    size = sum(p.stat().st_size for p in smoke_book.rglob("*") if p.is_file())
    assert size < 100e6, f"built site is {size / 1e6:.0f} MB"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def served_book(smoke_book):
    handler = functools.partial(_Quiet, directory=str(smoke_book))
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


@pytest.fixture(scope="session")
def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian's chromium is not installed: run scripts/setup.sh --test")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="loopkit-chromium-")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
                f"--user-data-dir={profile}", "--window-size=1280,1600"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_script_timeout(120)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


# Decode every <audio> source with the Web Audio API and measure its RMS level in the page itself.
_DECODE_AUDIO = """
const done = arguments[arguments.length - 1];
(async () => {
  const out = [];
  for (const el of document.querySelectorAll('audio')) {
    const src = el.currentSrc || el.src || (el.querySelector('source') || {}).src;
    try {
      const buf = await (await fetch(src)).arrayBuffer();
      const ctx = new OfflineAudioContext(1, 44100, 44100);
      const audio = await ctx.decodeAudioData(buf);
      let sum = 0, n = 0;
      for (let c = 0; c < audio.numberOfChannels; c++) {
        const x = audio.getChannelData(c);
        for (let i = 0; i < x.length; i++) { sum += x[i] * x[i]; n++; }
      }
      out.push({ok: true, seconds: audio.duration, rms: Math.sqrt(sum / Math.max(n, 1))});
    } catch (e) {
      out.push({ok: false, error: String(e)});
    }
  }
  done(out);
})();
"""


@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_chromium(page, served_book, chromium):
    chromium.get(f"{served_book}/{page}.html")
    body = chromium.find_element("tag name", "body").text
    assert "Traceback" not in body and "Error" not in chromium.title
    main = chromium.find_element("css selector", "main, article, .bd-article")
    assert main.find_elements("tag name", "h1"), "no page title"
    severe = [e for e in chromium.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not severe, severe
    if page in WITH_TABLES:
        assert main.find_elements("tag name", "table"), "no table"
    if page in WITH_FIGURES:
        images = main.find_elements("tag name", "img")
        assert images, "no figure"
        broken = chromium.execute_script(
            "return [...document.querySelectorAll('main img')].filter(i => !(i.complete && i.naturalWidth > 0)).length"
        )
        assert broken == 0, f"{broken} image(s) did not load"
    players = main.find_elements("tag name", "audio")
    if page in WITH_AUDIO:
        assert players, "no audio player"
    decoded = chromium.execute_async_script(_DECODE_AUDIO)
    assert len(decoded) == len(players)
    for i, result in enumerate(decoded):
        assert result["ok"], f"audio {i} does not decode: {result.get('error')}"
        assert result["seconds"] > 1.0, f"audio {i} lasts {result['seconds']:.2f} s"
        assert result["rms"] > 1e-3, f"audio {i} is silent (RMS {result['rms']:.2e})"


# ---------------------------------------------------------------------------------------------------------
# the chapters live (`make lab`): JupyterLab over copies of the executed chapters, a tweaked cell run through it


def _free_port() -> int:
    with socketserver.TCPServer(("127.0.0.1", 0), None) as probe:
        return probe.server_address[1]


def _execute(ws, session: str, code: str, timeout: float = 120) -> tuple[dict, list[dict]]:
    """Run ``code`` on a kernel through the Jupyter server's websocket: (execute_reply content, iopub outputs)."""
    import time
    import uuid

    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": session, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))  # fmt: skip
    reply, outputs, idle = None, [], False
    deadline = time.monotonic() + timeout
    while (reply is None or not idle) and time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "execute_reply":
            reply = msg["content"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
        elif kind in ("stream", "display_data", "execute_result", "error"):
            outputs.append({"type": kind, **msg["content"]})
    assert reply is not None and idle, f"no reply to {code[:60]!r} within {timeout} s"
    return reply, outputs


def test_a_tweaked_cell_of_chapter_3_runs_in_the_lab(smoke_book, tmp_path):
    import time
    import urllib.error
    import urllib.request

    import nbformat
    import websocket

    from loopkit.book.lab import LAB_TAG, prepare_lab, start_lab

    root = smoke_book.parents[1]
    copies = prepare_lab(root / "runs" / "smoke", lab=tmp_path / "lab", root=root)
    assert [c.stem for c in copies] == list(NOTEBOOKS)
    nb = nbformat.read(tmp_path / "lab" / "03_investigate_latent_space.ipynb", as_version=4)
    assert nb.cells[0].source.startswith("# 3.") and LAB_TAG in nb.cells[1].metadata["tags"]
    assert str(root) in nb.cells[1].source
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "the copies keep the book's outputs"
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    out_line = next(line for line in code[params].source.splitlines() if line.startswith("out = "))
    assert out_line.split("#")[0].strip() in (f"out = {str(root / 'runs' / 'smoke')!r}",
                                               f'out = "{root / "runs" / "smoke"}"')  # fmt: skip
    tweak = next(c for c in code if c.source.startswith("code = int("))
    tweaked = "code = 3" + tweak.source[tweak.source.index("\n"):]

    port = _free_port()
    process, token = start_lab(tmp_path / "lab", port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    try:
        deadline = time.monotonic() + 90
        while True:  # the server answers with the token only
            try:
                with urllib.request.urlopen(urllib.request.Request(f"{base}/api/status", headers=headers)) as r:
                    assert r.status == 200
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "JupyterLab did not start"
                time.sleep(0.5)
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(f"{base}/api/sessions")  # no token, no access
        body = json.dumps({"path": "03_investigate_latent_space.ipynb", "type": "notebook",
                           "kernel": {"name": "python3"}}).encode()  # fmt: skip
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/sessions", body, headers, method="POST")) as r:
            session = json.loads(r.read())
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{session['kernel']['id']}/channels"
                                         f"?token={token}", timeout=120)  # fmt: skip
        try:
            for cell in [code[0], code[params], code[params + 1]]:  # the lab's set-up, the parameters, the imports
                reply, outputs = _execute(ws, session["id"], cell.source)
                assert reply["status"] == "ok", outputs
            reply, outputs = _execute(ws, session["id"], tweaked)
        finally:
            ws.close()
        assert reply["status"] == "ok", outputs
        shown = [o["data"] for o in outputs if o["type"] in ("display_data", "execute_result")]
        assert any("image/png" in d for d in shown), "no pianoroll"
        grids = [d["text/html"] for d in shown if "loopkit-audio-grid" in d.get("text/html", "")]
        assert grids and "code 3" in grids[0], "no player for the tweaked code"  # (or its "empty loop" caption)
        req = urllib.request.Request(f"{base}/api/sessions/{session['id']}", headers=headers, method="DELETE")
        urllib.request.urlopen(req).close()
    finally:
        process.terminate()
        process.wait(timeout=60)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/api/status", timeout=5)


# ---------------------------------------------------------------------------------------------------------
# the page as its reader reads it

#: Text that means a raw Python object, a path or a warning reached the page.
LEFTOVERS = ("object at 0x", "Loops(", "dtype:", "TqdmWarning", "IProgress", "Warning:", "/tmp/", "runs/smoke", "<NA>")

_READING = """
const main = document.querySelector('main');
const cells = [...main.querySelectorAll('table td, table th')].map(c => c.innerText.trim());
const tables = [...main.querySelectorAll('table')].map(t => {
  const box = (t.closest('.output, .cell_output, .table-wrapper, .pst-scrollable-table-container') || t.parentElement);
  return {table: t.scrollWidth, room: box.clientWidth};
});
const players = [...main.querySelectorAll('audio')].map(a => {
  const fig = a.closest('figure');
  const cap = fig && fig.querySelector('figcaption');
  const link = fig && fig.querySelector('a[download]');
  return {caption: cap ? cap.innerText.trim() : '', midi: link ? link.getAttribute('href').slice(0, 20) : ''};
});
const code = [...main.querySelectorAll('div.cell')].map(c => c.className);
const unlinked = [...main.querySelectorAll('.cell_output img')].filter(i => !(i.closest('a') || {}).href).length;
return {cells, tables, players, code, unlinked, page: document.documentElement.scrollWidth, window: window.innerWidth,
        text: main.innerText};
"""


@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_page_reads_as_a_companion(page, served_book, chromium):
    chromium.set_window_size(1280, 1600)
    chromium.get(f"{served_book}/{page}.html")
    seen = chromium.execute_script(_READING)
    assert seen["page"] <= seen["window"], "the page scrolls sideways"
    wide = [t for t in seen["tables"] if t["table"] > t["room"] + 1]
    assert not wide, f"{len(wide)} table(s) wider than the page: {wide}"
    bad = [c for c in seen["cells"] if c in ("NaN", "nan", "<NA>", "None") or c.endswith("...") or c.endswith("\u2026")]
    assert not bad, f"cells a reader cannot read: {bad[:5]}"
    found = [x for x in LEFTOVERS if x in seen["text"]]
    assert not found, f"leftovers on the page: {found}"
    for i, player in enumerate(seen["players"]):
        assert player["caption"], f"player {i} without a caption"
        assert player["midi"] == "data:audio/midi;base", f"player {i} without its MIDI file"
    assert seen["unlinked"] == 0, f"{seen['unlinked']} figure(s) without a link to their full size"
    open_code = [c for c in seen["code"] if "tag_hide-input" not in c and "tag_tweak" not in c]
    assert not open_code, f"{len(open_code)} code cell(s) neither folded nor meant to be edited"


def test_every_figure_has_labelled_axes_and_clear_legends(smoke_book):
    import nbformat

    from loopkit.outputs.plots import unlabelled_axes

    root = smoke_book.parents[1]
    figures = 0
    for name in NOTEBOOKS:
        nb = nbformat.read(root / "book" / "_generated" / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if "image/png" not in output.get("data", {}):
                    continue
                figures += 1
                meta = output.get("metadata", {}).get("image/png", {})
                assert "loopkit" in meta, f"{name}: a figure not drawn by loopkit.outputs.plots (its axes cannot be checked)"
                assert not unlabelled_axes(meta["loopkit"]["axes"]), (name, unlabelled_axes(meta["loopkit"]["axes"]))
                assert meta["width"] <= 680, f"{name}: a figure wider than the page"
    assert figures >= 10


@pytest.mark.browser
def test_the_introduction_judges_every_claim(served_book, chromium):
    from loopkit.evaluation.claims import CLAIM_IDS
    from loopkit.evaluation.verdicts import VERDICTS

    chromium.get(f"{served_book}/book/intro.html")
    rows = chromium.execute_script(
        "return [...document.querySelectorAll('table.loopkit-claims tbody tr')].map(r => [...r.cells].map(c => c.innerText))"
    )
    from loopkit.book.records import recorded_runs

    assert len(rows) == len(CLAIM_IDS) == 15
    for cid, (claim, numbers, verdict, *recorded) in zip(CLAIM_IDS, rows):
        assert claim.startswith(f"({cid})") and "Rule." in claim and len(claim) > 150, claim
        assert "Paper:" in numbers and "This build:" in numbers and "Intervals:" in numbers, numbers
        assert verdict.splitlines()[0] in VERDICTS, verdict
        assert len(recorded) == len(recorded_runs())  # a column per recorded run (records/), each with its verdict
        assert all(r.splitlines()[0] in VERDICTS and "Numbers:" in r for r in recorded), recorded
    intervals = sum("[" in row[1] for row in rows)
    assert intervals >= 10, "the claims about numbers give their intervals"
