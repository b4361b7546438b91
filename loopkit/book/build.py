"""The book (the whole paper, reproduced): run the five notebooks with papermill, then build the Jupyter Book.

``notebooks/NN_*.ipynb`` are stored without outputs. ``run_notebooks`` executes them in order with the
chosen parameters into ``book/_generated/`` (ignored by git); each notebook reads what the previous ones left
in the output folder, so any one can be re-run alone once its inputs exist. ``build_book`` renders the
executed notebooks and the pages in ``book/`` with Jupyter Book 1.x, execution off and warnings as errors.

A page reads as a companion to the paper: prose, a result, code folded under it. ``show_run_parameters`` puts
the values a run used into the notebook's own ``parameters`` cell (the executed notebook, and the lab's copy of
it, hold them) and ``page_view`` arranges the page: the parameters, papermill's ``injected-parameters`` cell and
the set-up cell (imports, paths) are removed from it (Jupyter Book's ``remove-cell``), one line under the title
states the run (profile and corpus), and every other code cell is folded (``hide-input``) unless it is tagged
``tweak``: a cell the reader is meant to change and re-run (chapter 3's), which stays open.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from loopkit.atomic import write_text
from loopkit.errors import LoopkitError

#: The chapters, in the paper's order; each notebook states which tables and figures it reproduces.
NOTEBOOKS = (
    "01_extract_loops",
    "02_train_models",
    "03_investigate_latent_space",
    "04_evaluate_samples",
    "05_analyse_listening_test",
)


def project_root() -> Path:
    """The checkout that holds ``_config.yml``, ``_toc.yml``, ``book/`` and ``notebooks/``."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "_toc.yml").exists() or not (root / "notebooks").is_dir():
        raise FileNotFoundError(
            f"no book sources next to the loopkit package ({root}): the book is built from a checkout of the "
            "loopkit repository"
        )
    return root


def run_notebooks(
    parameters: dict,
    root: Path | None = None,
    only: list[str] | None = None,
    kernel: str = "python3",
    echo=print,
) -> list[Path]:
    """Execute the notebooks with papermill into ``book/_generated``; returns the executed paths.

    Parameters
    ----------
    parameters : injected into each notebook's ``parameters`` cell (profile, corpus, out, device, ...)
    only : notebook names (or their number prefixes, e.g. ``["02"]``) to run; default all, in order
    """
    import papermill

    root = root or project_root()
    target = root / "book" / "_generated"
    target.mkdir(parents=True, exist_ok=True)
    chosen = [n for n in NOTEBOOKS if not only or any(n == o or n.startswith(f"{o}_") for o in only)]
    if only and not chosen:
        raise LoopkitError(f"no notebook matches {only}; known: {', '.join(NOTEBOOKS)}")
    done = []
    for name in chosen:
        source = root / "notebooks" / f"{name}.ipynb"
        if not source.exists():
            raise FileNotFoundError(f"missing notebook {source}")
        out = target / f"{name}.ipynb"
        tmp = target / f".{name}.running.ipynb"
        echo(f"[book] running {source.relative_to(root)} ...")
        start = time.perf_counter()
        papermill.execute_notebook(
            str(source),
            str(tmp),
            parameters=parameters,
            kernel_name=kernel,
            cwd=str(root),
            progress_bar=False,
            log_output=False,
        )
        import nbformat

        executed = page_view(show_run_parameters(nbformat.read(tmp, as_version=4)))
        write_text(out, nbformat.writes(executed))  # a failed or interrupted run never replaces the last good page
        tmp.unlink()
        echo(f"[book] {name} done in {time.perf_counter() - start:.0f} s")
        done.append(out)
    return done


#: One line of a parameters cell: ``name = value  # comment`` (the book and the lab both read them).
ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<value>.*?)(?P<comment>\s+#.*)?$")


def show_run_parameters(nb):
    """An executed notebook as the book shows it: the ``parameters`` cell holds the values the run used, each
    beside its explanatory comment, and papermill's ``injected-parameters`` cell (which set them) is tagged
    ``remove-cell``. A parameter injected that the cell does not name is added at its end. Returns ``nb``."""
    tagged = {tag: c for c in nb.cells for tag in c.get("metadata", {}).get("tags", [])}
    injected, own = tagged.get("injected-parameters"), tagged.get("parameters")
    if injected is None:
        return nb
    values = {}
    for line in injected.source.splitlines():
        m = ASSIGNMENT.match(line)
        if m:
            values[m["name"]] = m["value"]
    if own is not None:
        lines = []
        for line in own.source.splitlines():
            m = ASSIGNMENT.match(line)
            if m and m["name"] in values:
                line = f"{m['name']} = {values.pop(m['name'])}{m['comment'] or ''}"
            lines.append(line)
        lines += [f"{name} = {value}  # given to this run" for name, value in values.items()]
        own.source = "\n".join(lines)
    tags = injected.metadata.setdefault("tags", [])
    if "remove-cell" not in tags:
        tags.append("remove-cell")
    return nb


#: The tag of a code cell the reader is meant to edit and re-run: it stays open on the page.
TWEAK_TAG = "tweak"
#: The tag of the line ``page_view`` puts under a chapter's title.
RUN_NOTE_TAG = "run-note"
#: Tags that already say how a cell shows on the page.
_SHOWN_AS = {"remove-cell", "remove-input", "hide-input", "hide-cell", "hide-output", TWEAK_TAG}


def _tags(cell) -> list:
    return cell.setdefault("metadata", {}).setdefault("tags", [])


def _tag(cell, tag: str) -> None:
    if tag not in _tags(cell):
        _tags(cell).append(tag)


def _run_values(cell) -> dict:
    values = {}
    for line in cell.source.splitlines():
        m = ASSIGNMENT.match(line)
        if m:
            values[m["name"]] = m["value"].strip().strip("\"'")
    return values


def page_view(nb):
    """An executed notebook arranged as the book shows it (the module docstring): the ``parameters`` and
    ``injected-parameters`` cells and the set-up cell after them removed from the page, a line under the title
    stating the run's profile and corpus, every other untagged code cell folded, ``tweak`` cells open.
    Idempotent; returns ``nb``."""
    import nbformat

    code = [c for c in nb.cells if c.cell_type == "code"]
    params = next((c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if params is not None:
        _tag(params, "remove-cell")
        after = [c for c in code[code.index(params) + 1 :] if "injected-parameters" not in _tags(c)]
        if after and "import " in after[0].source:
            _tag(after[0], "remove-cell")
    for cell in code:
        if "injected-parameters" in _tags(cell):
            _tag(cell, "remove-cell")
        elif not _SHOWN_AS & set(_tags(cell)):
            _tag(cell, "hide-input")
    if params is not None and not any(RUN_NOTE_TAG in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        values = _run_values(params)
        if values.get("corpus"):  # a corpus given as paths is named by its files, not by where they lie
            values["corpus"] = ", ".join(Path(p).name or p for p in values["corpus"].split(","))
        note = ", ".join(f"{k} **{values[k]}**" for k in ("profile", "corpus") if values.get(k))
        if note:
            first = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
            nb.cells.insert(first, nbformat.v4.new_markdown_cell(f"*This page was computed with {note}.*",
                                                                 metadata={"tags": [RUN_NOTE_TAG]}))  # fmt: skip
    return nb


def _config_with(root: Path, announcement: str) -> Path:
    """A copy of ``_config.yml`` in ``_build`` with ``announcement`` as the banner of every page (the extension
    paths made absolute: Jupyter Book reads them relative to the configuration file)."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("html", {})["announcement"] = announcement
    local = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in local.items():
        local[name] = str((root / path).resolve())
    path = root / "_build" / "_config.announced.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path


def build_book(root: Path | None = None, strict: bool = True, echo=print, announcement: str | None = None) -> Path:
    """Render the book with Jupyter Book 1.x (execution off); returns ``_build/html/index.html``.
    ``announcement``: a banner on every page (a rehearsal's: ``loopkit.book.rehearsal``)."""
    root = root or project_root()
    missing = [n for n in NOTEBOOKS if not (root / "book" / "_generated" / f"{n}.ipynb").exists()]
    if missing:
        raise FileNotFoundError(f"run the notebooks first (missing executed {', '.join(missing)})")
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if exe is None:
        raise FileNotFoundError("jupyter-book is not installed: pip install 'jupyter-book<2'")
    cmd = [exe, "build", str(root), "--path-output", str(root)]
    if announcement:
        cmd += ["--config", str(_config_with(root, announcement))]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    echo(f"[book] building the HTML ({' '.join(cmd[1:])})")
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise RuntimeError(f"jupyter-book build failed:\n{tail}")
    index = root / "_build" / "html" / "index.html"
    return index
