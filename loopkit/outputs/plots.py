"""The paper's figures drawn from loopkit data: pianorolls (Figure 1), code maps over latent time (Figure 4, and
one loop's codes marked by whether the training set uses them),
the most and least frequent codes decoded (Figure 5) and training curves; Figure 6 is in
``loopkit.listening.stats``.

Every function builds a ``matplotlib.figure.Figure`` directly (no pyplot, no global state, nothing to close) and
returns it; it renders with the Agg canvas, whatever backend a notebook runs, and a notebook displays a
returned Figure as a PNG: drawn at ``PNG_DPI`` and shown no wider than the page (``PAGE_WIDTH_PX``), so the book
links the image to its full size (click to enlarge), with its axes described in the output's metadata
(``figure_axes``: titles, axis labels, whether a legend covers data) for the book's tests. Every axis that shows
tick labels has a label; legends sit outside the data. ``save_figure`` writes a figure atomically;
``write_pianoroll_png`` is the one-call pianoroll writer of ``loopkit generate``. Columns are found by name through
``loopkit.data.pianoroll``.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from loopkit.atomic import write_with
from loopkit.config import PAPER_NAMES
from loopkit.errors import LoopkitError
from loopkit.generation.latent import decode_frequent_codes
from loopkit.paper import PRIOR_ACCURACY
from loopkit.data.pianoroll import (
    BARS_PER_LOOP,
    BASS_COLUMNS,
    DRUM_COLUMNS,
    DRUM_COMPONENTS,
    LOOP_STEPS,
    N_BASS,
    STEPS_PER_BAR,
    check_roll,
    column_names,
)

BASS_COLOUR = "#1f5fa8"
DRUM_COLOUR = "#b8322a"
#: Pitch classes labelled on the bass pane's axis (every C).
_OCTAVE = 12
#: Narrowest bass pane shown, in semitones (an automatic range is widened to this).
MIN_BASS_SPAN = 2 * _OCTAVE
#: Step colour of a repeated loop, so the first play stands out from its repeats.
_REPEAT_ALPHA = 0.55
#: A notebook figure's resolution: the book shows it at most ``PAGE_WIDTH_PX`` wide and links the full image.
PNG_DPI = 150
#: The book's text column at a 1280-pixel window (``loopkit.book.display.PAGE_WIDTH_PX``), and the figure resolution a
#: page shows figures at.
PAGE_WIDTH_PX, SCREEN_DPI = 680, 100
#: One pianoroll panel (a bass pane over the 9 drum rows), inches: wide and tall enough to read the drum rows.
PANEL_SIZE = (8.0, 3.6)
#: Heights of the bass pane and the drum pane of a pianoroll: the 9 drum rows get room for a label each.
PANE_HEIGHTS = (1.5, 1.3)


def _figure(figsize):
    """A Figure on its own Agg canvas: no pyplot state, rendered by Agg whatever the session's backend.

    It shows itself as a PNG in a notebook (``_repr_png_``), so a cell that returns or displays it gives an image
    whether or not pyplot's inline backend was ever started.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = _notebook_figure_class()(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


@functools.cache
def _notebook_figure_class():
    from matplotlib.figure import Figure

    class NotebookFigure(Figure):
        """A matplotlib Figure that IPython displays as PNG, with its display width and its axes in the metadata."""

        def _repr_png_(self):
            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=PNG_DPI, bbox_inches="tight")
            width = min(PAGE_WIDTH_PX, int(round(self.get_figwidth() * SCREEN_DPI)))
            return buf.getvalue(), {"width": width, "loopkit": {"axes": figure_axes(self)}}

    return NotebookFigure


def _ticklabels_shown(labels) -> bool:
    return any(t.get_visible() and t.get_text().strip() for t in labels)


def _data_points(ax, renderer) -> np.ndarray:
    """Display coordinates of an axes' data: line vertices, scatter points and the top centre of each bar."""
    points = []
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), dtype=float)
        if len(xy):
            points.append(line.get_transform().transform(xy))
    for coll in ax.collections:
        offsets = np.asarray(coll.get_offsets(), dtype=float)
        if len(offsets):
            points.append(coll.get_offset_transform().transform(offsets))
    for patch in ax.patches:
        box = patch.get_window_extent(renderer)
        points.append(np.array([[box.x0 + box.width / 2, box.y1]]))
    return np.concatenate(points) if points else np.zeros((0, 2))


def figure_axes(fig) -> list[dict]:
    """What a reader sees of each visible axes of a figure: ``title``, ``xlabel``, ``ylabel``, whether x and y
    tick labels are shown (``x_ticks``, ``y_ticks``: an axis with tick labels needs a label), and
    ``legend_covers``, the data points (line vertices, scatter points, bar tops) under a legend drawn inside it."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        covers = 0
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            box, inside = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
            pts = _data_points(ax, renderer)
            pts = pts[np.isfinite(pts).all(axis=1)]
            within = ((pts[:, 0] >= inside.x0) & (pts[:, 0] <= inside.x1) & (pts[:, 1] >= inside.y0)
                      & (pts[:, 1] <= inside.y1))  # fmt: skip
            under = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
            covers = int((within & under).sum())
        out.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                    "x_ticks": _ticklabels_shown(ax.get_xticklabels()),
                    "y_ticks": _ticklabels_shown(ax.get_yticklabels()), "legend_covers": covers})  # fmt: skip
    return out


def unlabelled_axes(fig_or_axes) -> list[str]:
    """The problems a reader would meet in a figure (from ``figure_axes``, or the list it returns): an axis that
    shows tick labels without a label, a legend over data. Empty: nothing to fix."""
    axes = fig_or_axes if isinstance(fig_or_axes, list) else figure_axes(fig_or_axes)
    problems = []
    for i, ax in enumerate(axes):
        name = ax.get("title") or f"axes {i + 1}"
        if ax["x_ticks"] and not ax["xlabel"].strip():
            problems.append(f"{name}: x axis without a label")
        if ax["y_ticks"] and not ax["ylabel"].strip():
            problems.append(f"{name}: y axis without a label")
        if ax["legend_covers"]:
            problems.append(f"{name}: the legend covers {ax['legend_covers']} data point(s)")
    return problems


def _legend_beside(ax) -> None:
    """The axes' legend to the right of it, outside the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def _legend_below(fig, handles=None, labels=None, ncols: int = 4) -> None:
    """One legend for the whole figure, below its axes (it never covers data)."""
    if handles is None:
        handles, labels = [], []
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels and not lab.startswith("_"):
                    handles.append(h)
                    labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small", frameon=False)


def new_figure(figsize: tuple[float, float]):
    """A Figure for loopkit's plots (own Agg canvas, shows itself in notebooks); for other modules' figures."""
    return _figure(figsize)


def bass_range(roll: np.ndarray, min_span: int = MIN_BASS_SPAN) -> tuple[int, int]:
    """The bass columns to show, ``(low, high)`` inclusive: the used ones, widened to ``min_span`` semitones and
    to whole octaves (from a C); C2..B3 for a roll without bass."""
    used = np.flatnonzero(np.asarray(roll, dtype=bool)[:, BASS_COLUMNS].any(axis=0))
    if len(used) == 0:
        lo, hi = _OCTAVE, _OCTAVE + min_span - 1  # C2 .. B3 (column 0 is C1)
    else:
        lo, hi = int(used.min()), int(used.max())
        if hi - lo + 1 < min_span:
            mid = (lo + hi) // 2
            lo, hi = mid - min_span // 2, mid - min_span // 2 + min_span - 1
        lo = (lo // _OCTAVE) * _OCTAVE
        hi = (hi // _OCTAVE + 1) * _OCTAVE - 1
    lo, hi = max(lo, 0), min(hi, N_BASS - 1)
    return lo, hi


def _bar_ticks(steps: int) -> tuple[np.ndarray, list[str]]:
    bars = steps // STEPS_PER_BAR + (steps % STEPS_PER_BAR > 0)
    every = 1 if bars <= 16 else (4 if bars <= 64 else 8 * int(np.ceil(bars / 128)))
    idx = np.arange(0, bars, every)
    return idx * STEPS_PER_BAR, [str(i + 1) for i in idx]


def _draw_roll(ax_bass, ax_drum, roll: np.ndarray, *, loop_steps: int | None, first_loop_steps: int | None,
               bass_cols: tuple[int, int] | None, show_xlabel: bool = True) -> None:  # fmt: skip
    """Draw a (t, 93) roll onto a bass axes and a drum axes that share x."""
    from matplotlib.colors import LinearSegmentedColormap

    steps = len(roll)
    lo, hi = bass_cols if bass_cols is not None else bass_range(roll)
    names = column_names()
    bass = roll[:, BASS_COLUMNS][:, lo : hi + 1].T.astype(float)
    drums = roll[:, DRUM_COLUMNS].T.astype(float)
    if first_loop_steps is not None and first_loop_steps < steps:  # repeats drawn lighter than the first play
        bass[:, first_loop_steps:] *= _REPEAT_ALPHA
        drums[:, first_loop_steps:] *= _REPEAT_ALPHA
    for ax, data, colour in ((ax_bass, bass, BASS_COLOUR), (ax_drum, drums, DRUM_COLOUR)):
        cmap = LinearSegmentedColormap.from_list(f"roll_{colour}", ["white", colour])
        ax.imshow(data, aspect="auto", origin="lower", interpolation="nearest", cmap=cmap, vmin=0, vmax=1,
                  extent=(0, steps, -0.5, data.shape[0] - 0.5))  # fmt: skip
        for x in range(STEPS_PER_BAR, steps, STEPS_PER_BAR):
            ax.axvline(x, color="0.75", lw=0.6, zorder=0.5)
        if loop_steps:
            for x in range(loop_steps, steps, loop_steps):
                ax.axvline(x, color="black", lw=1.6)
        ax.set_xlim(0, steps)
    # bass axis: every C named, and the lowest and highest used pitch
    c_rows = [r for r in range(hi - lo + 1) if (lo + r) % _OCTAVE == 0]
    ax_bass.set_yticks(c_rows, [names[lo + r] for r in c_rows])
    ax_bass.set_ylabel("bass pitch")
    ax_drum.set_yticks(range(len(DRUM_COMPONENTS)), [c.replace("_", " ") for c in DRUM_COMPONENTS], fontsize=9)
    ax_drum.set_ylabel("drums")
    ticks, labels = _bar_ticks(steps)
    ax_drum.set_xticks(ticks, labels)
    ax_bass.tick_params(labelbottom=False)
    ax_drum.set_xlabel("bar (16 steps each)" if show_xlabel else "bar")


def plot_pianoroll(
    roll,
    *,
    title: str | None = None,
    repeats: int = 1,
    loop_steps: int | None = LOOP_STEPS,
    bass_cols: tuple[int, int] | None = None,
    figsize: tuple[float, float] | None = None,
):
    """A bass+drum pianoroll in the style of the paper's Figure 1.

    Two panes share the time axis: the bass (pitch names on every C, range fitted to the notes used) above the
    9 drum components (named). Thin lines mark bars, thick lines loop boundaries (every ``loop_steps``).

    Parameters
    ----------
    roll : (t, 93) bool, a loop (t = 128) or a whole song (any t)
    title : figure title
    repeats : play a loop this many times back to back: the repeats are drawn lighter, so the seam where the loop
        starts over is visible
    loop_steps : where thick loop lines go (None: none); for a song roll, e.g. mark candidate 8-bar windows
    bass_cols : (low, high) bass columns to show, inclusive (default ``bass_range(roll)``)
    figsize : inches (default: ``PANEL_SIZE``'s width for a loop, growing with length up to 20)

    Returns
    -------
    matplotlib.figure.Figure with two axes: bass, drums
    """
    x = check_roll(roll, allow_empty=False)
    if int(repeats) != repeats or repeats < 1:
        raise LoopkitError(f"repeats must be a whole number of at least 1, got {repeats}")
    first = len(x) if repeats > 1 else None
    x = np.tile(x, (int(repeats), 1))
    if figsize is None:
        figsize = (float(np.clip(PANEL_SIZE[0] * len(x) / LOOP_STEPS, PANEL_SIZE[0], 20)), 4.5)
    fig = _figure(figsize)
    ax_bass, ax_drum = fig.subplots(2, 1, sharex=True, height_ratios=PANE_HEIGHTS)
    _draw_roll(ax_bass, ax_drum, x, loop_steps=loop_steps, first_loop_steps=first, bass_cols=bass_cols)
    if title:
        fig.suptitle(title)
    return fig


def plot_pianorolls(rolls: Sequence, titles: Sequence[str] | None = None, *, columns: int = 1,
                    loop_steps: int | None = LOOP_STEPS, panel_size: tuple[float, float] = PANEL_SIZE):  # fmt: skip
    """A grid of pianorolls (each a bass pane over a drum pane), e.g. example loops per model; returns the Figure.

    By default one loop per row, ``PANEL_SIZE`` each, so the drum rows can be read on a page; more ``columns``
    give a smaller view (the book links every figure to its full size)."""
    rolls = [check_roll(r, allow_empty=False) for r in rolls]
    if not rolls:
        raise LoopkitError("no rolls to plot")
    titles = list(titles) if titles is not None else [str(i + 1) for i in range(len(rolls))]
    if len(titles) != len(rolls):
        raise LoopkitError(f"{len(rolls)} rolls but {len(titles)} titles")
    columns = max(1, min(int(columns), len(rolls)))
    rows = -(-len(rolls) // columns)
    fig = _figure((panel_size[0] * columns, panel_size[1] * rows))
    grid = fig.add_gridspec(rows, columns)
    for i, (roll, name) in enumerate(zip(rolls, titles)):
        sub = grid[i // columns, i % columns].subgridspec(2, 1, height_ratios=PANE_HEIGHTS, hspace=0.05)
        ax_bass = fig.add_subplot(sub[0])
        ax_drum = fig.add_subplot(sub[1], sharex=ax_bass)
        _draw_roll(ax_bass, ax_drum, roll, loop_steps=loop_steps, first_loop_steps=None, bass_cols=None,
                   show_xlabel=i // columns == rows - 1)  # fmt: skip
        ax_bass.set_title(name, fontsize="medium")
    return fig


def plot_code_sequence(
    indices,
    *,
    K: int | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = "Loop patterns in discrete latent space",
    figsize: tuple[float, float] | None = None,
):
    """Code sequences over latent time as a code map, the paper's Figure 4 read as a table: one row per sequence,
    one cell per latent step holding its code index k, coloured by code (equal codes, equal colours), so a bar that
    repeats shows as a repeated run of numbers and colours. Codes are categories: nothing joins them.

    Parameters
    ----------
    indices : (t,) one sequence or (b, t) several (e.g. the VQ-VAE's codes of a few training loops)
    K : codebook size (named in the colour note; the codes themselves are printed)
    labels : one row label per sequence (default "1", "2", ...)

    Dotted lines mark bar boundaries in latent time (every t / 8 steps), where the loop's repeats show.
    """
    from matplotlib.colors import ListedColormap

    idx = np.asarray(indices)
    if idx.ndim == 1:
        idx = idx[None]
    if idx.ndim != 2 or idx.shape[1] == 0 or len(idx) == 0:
        raise LoopkitError(f"indices must be (t,) or (b, t) code indices, got shape {np.shape(indices)}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise LoopkitError(f"indices must be integers, got {idx.dtype}")
    if labels is not None and len(labels) != len(idx):
        raise LoopkitError(f"{len(idx)} sequences but {len(labels)} labels")
    b, t = idx.shape
    codes, ranks = np.unique(idx, return_inverse=True)
    ranks = ranks.reshape(b, t)
    import matplotlib

    palette = np.asarray(matplotlib.colormaps["tab20"].colors)
    colours = ListedColormap([0.55 * palette[(7 * i) % 20] + 0.45 for i in range(len(codes))])  # light: text reads
    fig = _figure(figsize or (max(8.0, 0.25 * t), 1.0 + 0.5 * b))
    ax = fig.subplots()
    ax.imshow(ranks, aspect="auto", cmap=colours, vmin=-0.5, vmax=len(codes) - 0.5, interpolation="nearest")
    size = 7 if t <= 32 else 5
    for r in range(b):
        for c in range(t):
            ax.text(c, r, str(int(idx[r, c])), ha="center", va="center", fontsize=size)
    if t % BARS_PER_LOOP == 0:
        for x in range(t // BARS_PER_LOOP, t, t // BARS_PER_LOOP):
            ax.axvline(x - 0.5, color="black", ls=":", lw=1.0)
    ax.set_xticks(range(0, t, max(1, t // BARS_PER_LOOP)))
    ax.set_xlabel("latent time step (dotted lines: bar boundaries)")
    ax.set_yticks(range(b), list(labels) if labels is not None else [str(i + 1) for i in range(b)])
    ax.set_ylabel("loop")
    note = f"cell: code index k (of K = {K})" if K is not None else "cell: code index k"
    ax.set_title(f"{title}; {note}" if title else note, fontsize="medium")
    return fig


def _latent_time_axis(ax, t: int) -> None:
    """x axis over t latent steps, with dotted lines at the bar boundaries (every t / 8 steps)."""
    if t % BARS_PER_LOOP == 0:
        for x in range(t // BARS_PER_LOOP, t, t // BARS_PER_LOOP):
            ax.axvline(x - 0.5, color="0.7", ls=":", lw=0.8)
    ax.set_xlabel("latent time step")
    ax.set_xlim(-0.5, t - 0.5)


#: Marker colour of each kind of ``loopkit.generation.latent.OVERLAP_KINDS``: seen at this step, seen elsewhere, new.
OVERLAP_COLOURS = ("#228833", "#ccbb44", "#cc3311")


def plot_loop_codes(codes, overlap, *, K: int | None = None, title: str | None = "Your loop's codes",
                    figsize: tuple[float, float] = (10, 3.5)):  # fmt: skip
    """One loop's code sequence in the style of Figure 4, each code marked by whether the training set uses it.

    Parameters
    ----------
    codes : (t,) the loop's code indices
    overlap : (t,) index into ``loopkit.generation.latent.OVERLAP_KINDS`` per step (``latent.code_overlap``): a
        training loop has this code at this step / the training set uses it only at other steps / no training loop
        uses it
    K : codebook size: the y axis spans 0..K-1 when given
    """
    from loopkit.generation.latent import OVERLAP_KINDS

    c = np.asarray(codes)
    kind = np.asarray(overlap)
    if c.ndim != 1 or kind.shape != c.shape:
        raise LoopkitError(f"codes and overlap must be two (t,) arrays, got shapes {c.shape} and {kind.shape}")
    t = len(c)
    fig = _figure(figsize)
    ax = fig.subplots()
    steps = np.arange(t)
    for k, (label, colour) in enumerate(zip(OVERLAP_KINDS, OVERLAP_COLOURS)):
        at = kind == k
        ax.scatter(steps[at], c[at], s=36, color=colour, zorder=2,
                   label=f"{label} in the training set ({int(at.sum())})" if k < 2 else f"{label} ({int(at.sum())})")
    _latent_time_axis(ax, t)
    ax.set_ylabel("code index k")
    if K is not None:
        ax.set_ylim(-0.5, K - 0.5)
    if title:
        ax.set_title(title)
    _legend_beside(ax)
    return fig


def plot_codebook_usage(usage, *, title: str | None = "Codes per latent step", figsize: tuple[float, float] = (10, 3)):
    """Codes used and perplexity at each latent step (``loopkit.metrics.paper_metrics.codebook_usage``): the Figure."""
    used = np.asarray(usage.per_position_used)
    perplexity = np.asarray(usage.per_position_perplexity)
    t = len(used)
    fig = _figure(figsize)
    ax = fig.subplots()
    ax.bar(np.arange(t), used, color="#4477aa", label="codes used")
    ax.plot(np.arange(t), perplexity, color="#cc6677", marker="o", ms=3, label="perplexity\n(effective number\nof codes)")
    _latent_time_axis(ax, t)
    ax.set_ylabel("number of codes")
    if title:
        ax.set_title(title)
    _legend_beside(ax)
    return fig


def plot_bass_register(register, *, title: str | None = "Bass pitches: share of loops using each",
                       figsize: tuple[float, float] = (10, 3)):  # fmt: skip
    """The bass register of a data set (``loopkit.metrics.statistics.bass_register``: share of loops using each pitch,
    indexed by pitch name) as bars; returns the Figure."""
    shares = register["share of loops"]
    fig = _figure(figsize)
    ax = fig.subplots()
    ax.bar(np.arange(len(shares)), shares.to_numpy(dtype=float), color=BASS_COLOUR)
    step = max(1, len(shares) // 24)
    ax.set_xticks(np.arange(0, len(shares), step), [str(x) for x in shares.index[::step]], rotation=90,
                  fontsize="small")  # fmt: skip
    ax.set_xlim(-0.6, len(shares) - 0.4)
    ax.set_xlabel("bass pitch")
    ax.set_ylabel("share of loops")
    if title:
        ax.set_title(title)
    return fig


def plot_frequent_codes(source, indices=None, *, device=None, title: str | None = None,
                        panel_size: tuple[float, float] = PANEL_SIZE):  # fmt: skip
    """The paper's Figure 5: the most and least frequently used code at each latent step, decoded to loops.

    Parameters
    ----------
    source : either a VQ-VAE (then ``indices`` (b, t), the training split's codes, are required) or the mapping
        ``loopkit.generation.latent.decode_frequent_codes`` returns (panel label -> (codes (t,), roll (128, 93)))
    indices : (b, t) code sequences the frequencies are counted on
    """
    if isinstance(source, Mapping):
        decoded = source
    else:
        if indices is None:
            raise LoopkitError("give the code sequences (indices) whose frequencies Figure 5 shows")
        decoded = decode_frequent_codes(source, indices, device=device)
    labels = list(decoded)
    fig = plot_pianorolls([decoded[k][1] for k in labels], labels, columns=1, panel_size=panel_size)
    fig.suptitle(title or "Frequent and rare codes per latent step, decoded (Figure 5)")
    return fig


def _read_metrics(path: Path):
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"no training metrics at {path} (a run directory's metrics.csv)")
    frame = pd.read_csv(path)
    if len(frame) == 0 or "epoch" not in frame.columns:
        raise LoopkitError(f"{path} holds no epochs (expected the columns of loopkit.training.train's metrics.csv)")
    return frame


def _measured(frame, x: str, column: str):
    """The rows of a metrics frame where ``column`` was measured (validation runs every ``validate_every`` epochs)."""
    return frame[[x, column]].dropna()


def _run_label(path: Path) -> str:
    name = path.parent.name
    return PAPER_NAMES.get(name, name or path.stem)


def plot_training_curves(metrics_csv_paths, *, labels: Sequence[str] | None = None,
                         figsize: tuple[float, float] | None = None):  # fmt: skip
    """Training loss and validation score per epoch, from ``metrics.csv`` files of ``loopkit.training.train`` runs, one
    quantity per axis.

    Panels: the models' training loss (log scale), their validation reconstruction error (Table 1's metric:
    ``val_error``) and, when a prior's run is among them (a run with ``val_ce``), its cross-entropy on the training
    codes (solid) and the validation codes (dashed) and its teacher-forced validation accuracy (``val_accuracy``)
    beside the paper's 82.91 % on LMD (dashed grey). One legend, below the panels, names the runs.

    Parameters
    ----------
    metrics_csv_paths : one path, a list of paths, or a mapping label -> path
    labels : legend labels (default: the run folder's model name as the paper prints it, e.g. "VQ-VAE")
    """
    if isinstance(metrics_csv_paths, Mapping):
        labels = list(metrics_csv_paths)
        paths = [Path(p) for p in metrics_csv_paths.values()]
    else:
        if isinstance(metrics_csv_paths, (str, os.PathLike)):
            metrics_csv_paths = [metrics_csv_paths]
        paths = [Path(p) for p in metrics_csv_paths]
        labels = list(labels) if labels is not None else [_run_label(p) for p in paths]
    if not paths:
        raise LoopkitError("no metrics files to plot")
    if len(labels) != len(paths):
        raise LoopkitError(f"{len(paths)} metrics files but {len(labels)} labels")
    frames = [_read_metrics(p) for p in paths]
    colours = {label: f"C{i}" for i, label in enumerate(labels)}
    prior = [("val_ce" in f or "val_accuracy" in f) for f in frames]
    panels = []  # (title, ylabel, [(frame, label, column, style)], log)
    models = [(f, lab) for f, lab, p in zip(frames, labels, prior) if not p]
    priors = [(f, lab) for f, lab, p in zip(frames, labels, prior) if p]
    if models:
        panels.append(("models: training loss", "loss per loop", [(f, lab, "train_loss", "-") for f, lab in models],
                       True))  # fmt: skip
        if any("val_error" in f for f, _ in models):
            panels.append(("models: validation reconstruction error", "error per cell",
                           [(f, lab, "val_error", "-") for f, lab in models], True))  # fmt: skip
    if priors:
        panels.append(("prior: cross-entropy (solid: training, dashed: validation)", "nats per code",
                       [(f, lab, c, st) for f, lab in priors for c, st in (("train_loss", "-"), ("val_ce", "--"))],
                       False))  # fmt: skip
        if any("val_accuracy" in f for f, _ in priors):
            panels.append((f"prior: validation accuracy (dashed grey: paper, {PRIOR_ACCURACY:.2%} on LMD)",
                           "next-code accuracy", [(f, lab, "val_accuracy", "-") for f, lab in priors], False))
    cols = 2 if len(panels) > 1 else 1
    rows = -(-len(panels) // cols)
    fig = _figure(figsize or (10.0, 3.4 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, ylabel, series, log) in zip(axes, panels):
        drawn = []
        for frame, label, column, style in series:
            if column in frame:
                seen = _measured(frame, "epoch", column)
                ax.plot(seen["epoch"], seen[column], style, color=colours[label],
                        marker="o" if len(seen) < 30 else None, ms=3, label=label)  # fmt: skip
                drawn.append(seen[column])
        if "accuracy" in title:
            ax.axhline(PRIOR_ACCURACY, color="0.5", ls="--", lw=1)
        if log and drawn and all((d > 0).all() for d in drawn):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize="medium")
    _legend_below(fig, ncols=min(5, len(labels)))
    return fig


def plot_learning_curves(metrics_csv_paths: Mapping[str, str | os.PathLike], empty: Mapping[str, float] | None = None,
                         figsize: tuple[float, float] | None = None):  # fmt: skip
    """Learning apart from generalisation, per optimizer step, from the runs' ``metrics.csv``.

    Panels: the reconstruction error on the training split (``train_error``, solid) and on the validation split
    (``val_error``, dashed), with the empty output's error on each (``empty``: {"train": e, "valid": e}) as grey
    lines: a model under them has learnt something; then FNB of the reconstructions on both splits (every loop
    has a bass note on its first step, so 1 is the target); and, for the VQ-VAE, the codes it used in each epoch.
    One legend below the panels names the models (colours) and the splits (line styles).

    Parameters
    ----------
    metrics_csv_paths : label -> a run's ``metrics.csv``
    empty : the empty output's reconstruction error on the training and the validation split
    """
    from matplotlib.lines import Line2D

    labels = list(metrics_csv_paths)
    frames = [_read_metrics(Path(p)) for p in metrics_csv_paths.values()]
    if not frames:
        raise LoopkitError("no metrics files to plot")
    panels = [("error", "reconstruction error", "error per cell"),
              ("FNB", "first-step bass (FNB) of reconstructions", "share of loops")]  # fmt: skip
    if any("codes_used" in f for f in frames):
        panels.append(("codes_used", "VQ-VAE: codes used per epoch", "codes used"))
    fig = _figure(figsize or (10.0, 3.6 if len(panels) < 3 else 3.4 * 2 + 0.8))
    cols = 2
    axes = np.atleast_1d(fig.subplots(-(-len(panels) // cols), cols)).ravel()
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    colours = [f"C{i}" for i in range(len(frames))]
    for ax, (column, name, ylabel) in zip(axes, panels):
        for frame, label, colour in zip(frames, labels, colours):
            x = "step" if "step" in frame else "epoch"
            if column == "codes_used":
                if column in frame:
                    ax.plot(frame[x], frame[column], color=colour, label=label)
                continue
            for split, style in (("train", "-"), ("val", "--")):
                if f"{split}_{column}" in frame:
                    seen = _measured(frame, x, f"{split}_{column}")
                    few = len(seen) < 8  # a run of a few epochs: markers, so that one point is seen too
                    ax.plot(seen[x], seen[f"{split}_{column}"], style, color=colour, marker="o" if few else None,
                            markersize=4, label=f"{label}, {'training' if split == 'train' else 'validation'}")
        if column == "error" and empty:
            for split, style in (("train", "-"), ("valid", "--")):
                if split in empty:
                    ax.axhline(empty[split], color="0.5", ls=style, lw=1, label=f"empty output, {split}")
            ax.set_ylim(0, 1.5 * max(empty.values()))  # the first epochs of a fresh model lie far above
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize="medium")
    handles = [Line2D([], [], color=c, lw=2) for c in colours] + [
        Line2D([], [], color="black", ls="-"), Line2D([], [], color="black", ls="--")]
    names = labels + ["training split", "validation split"]
    if empty:
        handles.append(Line2D([], [], color="0.5", lw=1))
        names.append("empty output (grey)")
    _legend_below(fig, handles, names, ncols=4)
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write a figure (format from the suffix, e.g. .png, .svg) atomically; returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise LoopkitError(f"{path} has no suffix to choose an image format by (e.g. .png)")
    return write_with(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi))


def write_pianoroll_png(roll, path: str | os.PathLike, dpi: int = 80, **kwargs) -> Path:
    """Draw ``plot_pianoroll(roll, **kwargs)`` and write it as a PNG, atomically; returns the path."""
    return save_figure(plot_pianoroll(roll, **kwargs), path, dpi=dpi)


__all__ = [
    "bass_range",
    "figure_axes",
    "plot_bass_register",
    "unlabelled_axes",
    "plot_code_sequence",
    "plot_frequent_codes",
    "plot_pianoroll",
    "plot_pianorolls",
    "plot_training_curves",
    "save_figure",
    "write_pianoroll_png",
]
