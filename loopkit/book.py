"""The book (the whole paper, reproduced): run the five notebooks with papermill, then build the Jupyter Book.

``notebooks/NN_*.ipynb`` are stored without outputs. ``run_notebooks`` executes them in order with the
chosen parameters into ``book/_generated/`` (ignored by git); each notebook reads what the previous ones left
in the output folder, so any one can be re-run alone once its inputs exist. ``build_book`` renders the
executed notebooks and the pages in ``book/`` with Jupyter Book 1.x, execution off and warnings as errors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
    root = Path(__file__).resolve().parents[1]
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
        raise ValueError(f"no notebook matches {only}; known: {', '.join(NOTEBOOKS)}")
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
        os.replace(tmp, out)  # a failed or interrupted run never replaces the last good page
        echo(f"[book] {name} done in {time.perf_counter() - start:.0f} s")
        done.append(out)
    return done


def build_book(root: Path | None = None, strict: bool = True, echo=print) -> Path:
    """Render the book with Jupyter Book 1.x (execution off); returns ``_build/html/index.html``."""
    root = root or project_root()
    missing = [n for n in NOTEBOOKS if not (root / "book" / "_generated" / f"{n}.ipynb").exists()]
    if missing:
        raise FileNotFoundError(f"run the notebooks first (missing executed {', '.join(missing)})")
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if exe is None:
        raise FileNotFoundError("jupyter-book is not installed: pip install 'jupyter-book<2'")
    cmd = [exe, "build", str(root), "--path-output", str(root)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    echo(f"[book] building the HTML ({' '.join(cmd[1:])})")
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise RuntimeError(f"jupyter-book build failed:\n{tail}")
    index = root / "_build" / "html" / "index.html"
    return index
