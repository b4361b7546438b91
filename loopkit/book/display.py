"""Display widgets for the book: grids of labelled audio players with the OGG and the MIDI file embedded in the page
(a built book carries its sound and its loops; ``loopkit.outputs.audio`` renders them), tables formatted for reading,
and the claims table of the introduction.

* ``audio_grid``: one player per loop, each with its caption and a MIDI download link (a ``data:`` URI, reachable
  from the built HTML with no file beside it); a loop identical to one already shown says "same as ..." instead of
  playing again (within a grid, and across grids that share a ``Clips`` log); a nearly silent loop says so.
* ``readable``: a table as a reader wants it on a page (units, significant figures, "-" for a missing value, no
  0..n index, headers in words, split into parts that fit the page's width); ``Table`` is what it returns.
* ``claims_html``: ``loopkit.evaluation.claims``' verdicts as one table of claim and rule, numbers and verdict.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from loopkit.outputs.audio import AudioSettings, Rendering, encode_ogg, read_midi_loop, roll_to_ogg
from loopkit.errors import LoopkitError
from loopkit.data.pianoroll import DEFAULT_BPM, roll_to_midi

#: The width of the book's text column at a 1280-pixel window (pydata-sphinx-theme's article, less its padding).
PAGE_WIDTH_PX = 680
#: Average width of a table character at the book's font size, and a cell's horizontal padding, in pixels.
CHAR_PX, CELL_PAD_PX = 7.6, 18
#: A text cell wraps at about this many characters; numbers never wrap.
WRAP_CHARS = 28
#: A loop with at least this share of its steps silent is called "mostly silent" in its caption.
MOSTLY_SILENT = 0.8


def ogg_data_uri(ogg: bytes) -> str:
    """A ``data:audio/ogg;base64,...`` URI that an ``<audio>`` element plays without any file beside the page."""
    return "data:audio/ogg;base64," + base64.b64encode(bytes(ogg)).decode("ascii")


def midi_data_uri(midi: bytes) -> str:
    """A ``data:audio/midi;base64,...`` URI that a download link serves without any file beside the page."""
    return "data:audio/midi;base64," + base64.b64encode(bytes(midi)).decode("ascii")


def _as_ogg(item, bpm: float, repeats: int, settings: AudioSettings | None) -> bytes:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, Rendering):
        level = (settings or AudioSettings()).compression_level
        return encode_ogg(item.audio, item.sample_rate, level)
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if path.suffix.lower() == ".ogg":
            return path.read_bytes()
        if path.suffix.lower() in (".mid", ".midi"):
            return roll_to_ogg(read_midi_loop(path), bpm=bpm, repeats=repeats, settings=settings)
        raise LoopkitError(f"{path}: a player takes .ogg or .mid files, OGG bytes or rolls")
    return roll_to_ogg(item, bpm=bpm, repeats=repeats, settings=settings)


def _roll_of(item) -> np.ndarray | None:
    """The roll behind an item, when it has one: the array itself, or a .mid file (or the .mid beside an .ogg)."""
    if isinstance(item, (bytes, bytearray, memoryview, Rendering)):
        return None
    if isinstance(item, (str, os.PathLike)):
        midi = _midi_path(Path(item))
        return read_midi_loop(midi) if midi is not None else None
    return np.asarray(item, dtype=bool)


def _midi_path(path: Path) -> Path | None:
    if path.suffix.lower() in (".mid", ".midi"):
        return path
    beside = path.with_suffix(".mid")
    return beside if beside.is_file() else None


def _midi_of(item, bpm: float) -> bytes | None:
    """The MIDI file of an item: a roll written at ``bpm``, a .mid file's bytes, the .mid beside an .ogg; else None."""
    if isinstance(item, (bytes, bytearray, memoryview, Rendering)):
        return None
    if isinstance(item, (str, os.PathLike)):
        midi = _midi_path(Path(item))
        return midi.read_bytes() if midi is not None else None
    return roll_to_midi(np.asarray(item, dtype=bool), bpm=bpm)


def _is_empty_roll(item) -> bool:
    """True for a roll (array) without a single note; other items (audio, files) are never 'empty'."""
    if isinstance(item, (bytes, bytearray, memoryview, Rendering, str, os.PathLike)):
        return False
    return not np.asarray(item).any()


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")[:60] or "loop"


@dataclass
class Clips:
    """The loops already shown on a page, by content: pass one ``Clips`` to every ``audio_grid`` of a page so that a
    loop identical to one shown before says "same as ..." instead of playing again as if it were another sample."""

    first: dict[str, str] = field(default_factory=dict)

    def seen(self, key: str, label: str) -> str | None:
        """The label a loop with this content was first shown under, or None (and remember this one)."""
        before = self.first.get(key)
        if before is None or before == label:  # the same clip shown again under its own name (a re-run cell)
            self.first[key] = label
            return None
        return before


def _clip_key(item, roll: np.ndarray | None, bpm: float) -> str:
    h = hashlib.blake2b(digest_size=16)
    if roll is not None:
        h.update(np.packbits(roll).tobytes() + f"{bpm:.3f}".encode())
    elif isinstance(item, (str, os.PathLike)):
        h.update(Path(item).read_bytes())
    elif isinstance(item, Rendering):
        h.update(np.ascontiguousarray(item.audio).tobytes())
    else:
        h.update(bytes(item))
    return h.hexdigest()


def _figure(label: str, body: str, border: str = "1px solid #ddd") -> str:
    return (f'<figure class="loopkit-clip" style="margin:0;padding:4px;border:{border};border-radius:4px">'
            f'<figcaption style="font-size:0.85em;margin-bottom:2px;text-align:left">{html.escape(label)}</figcaption>{body}'
            "</figure>")


def _midi_link(midi: bytes | None, label: str) -> str:
    if midi is None:
        return ""
    return (f'<a class="loopkit-midi" download="{_slug(label)}.mid" href="{midi_data_uri(midi)}" '
            'style="font-size:0.8em">MIDI file</a>')


def audio_grid_html(
    items: Iterable,
    labels: Sequence[str] | None = None,
    columns: int = 4,
    bpm: float = DEFAULT_BPM,
    repeats: int = 1,
    settings: AudioSettings | None = None,
    loop: bool = False,
    bpms: Sequence[float] | None = None,
    clips: Clips | None = None,
) -> str:
    """HTML of a grid of labelled ``<audio>`` players whose sources are embedded OGG ``data:`` URIs, each with a link
    to download its loop as a MIDI file (also a ``data:`` URI).

    Parameters
    ----------
    items : each a ``(t, 93)`` roll, a ``Rendering``, OGG bytes, or the path of a .ogg or .mid file (an .ogg's
        MIDI file is the .mid of the same name beside it; a ``Rendering`` or bytes have none)
    labels : one caption per item (HTML-escaped); default "1", "2", ...
    columns : players per row
    bpm, repeats, settings : how rolls and MIDI files are rendered; ``bpms``: one tempo per item instead
    loop : whether each player repeats its audio
    clips : the loops shown earlier on the page (``Clips``); a loop equal to one of them, or to an earlier item of
        this grid, gets its caption and "same loop as ..." in place of a second player

    A roll without any note (a model can output one) gets its caption and "empty loop: no note to play" in place of
    a player; a loop whose steps are mostly silent (``MOSTLY_SILENT``) says so in its caption.
    """
    items = list(items)
    labels = [str(i + 1) for i in range(len(items))] if labels is None else [str(x) for x in labels]
    if len(labels) != len(items):
        raise LoopkitError(f"{len(items)} items but {len(labels)} labels")
    tempi = [float(bpm)] * len(items) if bpms is None else [float(b) for b in bpms]
    if len(tempi) != len(items):
        raise LoopkitError(f"{len(items)} items but {len(tempi)} tempi")
    if int(columns) < 1:
        raise LoopkitError(f"columns must be at least 1, got {columns}")
    clips = clips if clips is not None else Clips()
    cells = []
    for item, label, tempo in zip(items, labels, tempi):
        if _is_empty_roll(item):  # a model that outputs no note at all gets a caption saying so, not a silent player
            body = ('<p class="loopkit-empty-loop" style="margin:4px 0;font-size:0.85em;color:#666">'
                    "empty loop: no note to play</p>")  # fmt: skip
            cells.append(_figure(label, body, "1px dashed #bbb"))
            continue
        roll = _roll_of(item)
        midi = _midi_of(item, tempo)
        if roll is not None:
            silent = 1.0 - float(roll.any(axis=1).mean())
            if silent >= MOSTLY_SILENT:
                label = f"{label} (mostly silent: {silent:.0%} of its steps have no note)"
        before = clips.seen(_clip_key(item, roll, tempo), label)
        if before is not None:
            body = (f'<p class="loopkit-same-loop" style="margin:4px 0;font-size:0.85em;color:#666">same loop as '
                    f"&ldquo;{html.escape(before)}&rdquo;: not played again</p>{_midi_link(midi, label)}")
            cells.append(_figure(label, body, "1px dashed #bbb"))
            continue
        uri = ogg_data_uri(_as_ogg(item, tempo, repeats, settings))
        body = (f'<audio controls preload="none"{" loop" if loop else ""} style="width:100%" src="{uri}"></audio>'
                + _midi_link(midi, label))
        cells.append(_figure(label, body))
    return (
        f'<div class="loopkit-audio-grid" style="display:grid;grid-template-columns:repeat({int(columns)},'
        f'minmax(0,1fr));gap:6px">' + "".join(cells) + "</div>"
    )


def audio_grid(items: Iterable, labels: Sequence[str] | None = None, columns: int = 4, **kwargs):
    """An ``IPython.display.HTML`` grid of labelled players with MIDI links (see ``audio_grid_html`` for the
    arguments). The audio is embedded as base64 OGG, so a built book carries its sound (about 200 KB of page per
    16-second loop), and each loop's MIDI file (a few KB)."""
    from IPython.display import HTML

    return HTML(audio_grid_html(items, labels=labels, columns=columns, **kwargs))


# ---------------------------------------------------------------------------------------------------------
# Tables for reading

#: Column names as a reader reads them; any other snake_case name has its underscores read as spaces.
HEADERS = {
    "reconstruction_error": "error (validation)",
    "paper": "paper",
    "removed": "error removed (validation)",
    "train_error": "error (training)",
    "train_removed": "error removed (training)",
    "train_FND": "FND (training)",
    "train_FNB": "FNB (training)",
    "val_error": "error (validation)",
    "val_FNB": "FNB (validation)",
    "val_FND": "FND (validation)",
    "val_ce": "cross-entropy (validation)",
    "val_accuracy": "accuracy (validation)",
    "train_accuracy": "accuracy (training)",
    "epochs_scheduled": "epochs scheduled",
    "batch_size": "batch size",
    "lr_max": "learning rate, max",
    "lr_min": "learning rate, min",
    "grad_clip": "gradient clip",
    "group_a": "group A",
    "group_b": "group B",
    "n_a": "n (A)",
    "n_b": "n (B)",
    "mean_a": "mean (A)",
    "mean_b": "mean (B)",
    "p_holm": "p (Holm)",
    "cliffs_delta": "Cliff's delta",
    "ci_low": "95% CI, low",
    "ci_high": "95% CI, high",
    "paper_mean": "paper's mean",
}


def header(name) -> str:
    """A column or index name in words: ``HEADERS``, tuples joined with ", ", underscores as spaces."""
    if isinstance(name, tuple):
        return ", ".join(header(part) for part in name if str(part))
    text = str(name)
    if ", " in text and text not in HEADERS:  # "reconstruction_error, 95% interval": each part in words
        first, rest = text.split(", ", 1)
        return f"{header(first)}, {rest}"
    return HEADERS.get(text, text.replace("_", " "))


def _missing(value) -> bool:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _cell(value, kind: str, decimals: int):
    if _missing(value):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return value
    if kind == "percent":
        return f"{value:.0%}".replace("-0%", "0%")  # a small negative share rounds to 0, not "-0"
    if kind == "scientific":
        return f"{value:.2e}"
    if kind == "integer":
        return f"{int(round(value)):,}"
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer() and abs(value) >= 1000:
            return f"{int(value):,}"
        return f"{float(value):,.{decimals}f}"
    return f"{int(value):,}" if abs(int(value)) >= 10_000 else value


@dataclass
class Table:
    """A table formatted for a page (``readable``): ``frame`` holds its cells as text or rounded numbers; in a
    notebook it shows itself as HTML that fits the page (``table_html``). Anything else is asked of ``frame``
    (``table.loc[...]``, ``table["column"]``)."""

    frame: object
    show_index: bool = True
    caption: str = ""

    def __getitem__(self, key):
        return self.frame[key]

    def __getattr__(self, name):
        if name in ("frame", "show_index", "caption"):  # not set yet (copy, pickling)
            raise AttributeError(name)
        return getattr(self.frame, name)

    def __len__(self) -> int:
        return len(self.frame)

    def _repr_html_(self) -> str:
        return table_html(self.frame, show_index=self.show_index, caption=self.caption)

    def __repr__(self) -> str:
        return self.frame.to_string(index=self.show_index)


def readable(frame, percent: Sequence[str] = (), scientific: Sequence[str] = (), integer: Sequence[str] = (),
             decimals: int = 3, caption: str = "", headers: dict | None = None) -> Table:  # fmt: skip
    """A table as a reader wants it on a page: the ``percent`` columns as whole percentages (0.657 -> "66%"), the
    ``scientific`` ones with three significant digits (0.02029 -> "2.03e-02"), the ``integer`` ones as whole
    numbers with thousands separators, other floats with ``decimals`` decimals, booleans as yes/no; a missing value
    (NaN, None, <NA>) prints as "-". Headers are read in words (``header``; ``headers`` renames first). A 0..n
    index is not shown; a wide table is split into parts that fit the page. The numbers themselves stay in the CSV
    files the notebooks write."""
    import pandas as pd

    headers = headers or {}
    index = frame.index
    plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None
    out = pd.DataFrame(index=index)
    for column in frame.columns:
        kind = ("percent" if column in percent else "scientific" if column in scientific
                else "integer" if column in integer else "")  # fmt: skip
        out[header(headers.get(column, column))] = [_cell(v, kind, decimals) for v in frame[column]]
    if not plain:
        out.index = out.index.set_names([header(n) if n is not None else None for n in out.index.names])
    return Table(out, show_index=not plain, caption=caption)


def _text_width(text: str, wraps: bool) -> int:
    """Characters a cell needs: a number the whole of it, a text its longest word up to ``WRAP_CHARS``."""
    if not wraps:
        return len(text)
    return min(max(len(text), 1), max([WRAP_CHARS] + [len(w) for w in text.split()]))


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d,.]+(e[-+]\d+)?%?|-", text.strip()))


def table_html(frame, show_index: bool = True, caption: str = "", width_px: int = PAGE_WIDTH_PX) -> str:
    """A DataFrame as HTML for a page: text cells wrap, numbers never do; when the columns need more than
    ``width_px``, the table is split into consecutive parts that each fit, every part repeating the row labels."""
    if len(frame) == 0:
        return '<p class="loopkit-table-empty">(no rows)</p>'
    body = frame.copy()
    if show_index:
        body = body.reset_index()
        labels = [header(n) if n is not None else "" for n in frame.index.names]
        body.columns = labels + [str(c) for c in frame.columns]
        keep = len(labels)
    else:
        body.columns = [str(c) for c in frame.columns]
        keep = 0
    cells = body.astype(object).map(lambda v: "-" if _missing(v) else str(v))
    numeric = {c: all(_is_number(x) for x in cells[c]) for c in cells.columns}

    def need(c) -> float:
        words = max([len(w) for w in str(c).split()] or [0])
        widest = max([_text_width(x, not numeric[c]) for x in cells[c]] + [words])
        return widest * CHAR_PX + CELL_PAD_PX

    fixed = list(cells.columns[:keep]) or list(cells.columns[:1])
    rest = [c for c in cells.columns if c not in fixed]
    parts, current = [], []
    budget = width_px - sum(need(c) for c in fixed)
    used = 0.0
    for c in rest:
        if current and used + need(c) > budget:
            parts.append(current)
            current, used = [], 0.0
        current.append(c)
        used += need(c)
    parts.append(current)
    tables = []
    for i, part in enumerate(parts):
        cols = fixed + part
        head = "".join(f'<th style="text-align:{"right" if numeric[c] else "left"}">{html.escape(str(c))}</th>'
                       for c in cols)  # fmt: skip
        rows = []
        for _, row in cells[cols].iterrows():
            tds = []
            for c in cols:
                style = "text-align:right;white-space:nowrap" if numeric[c] else "text-align:left"
                tds.append(f'<td style="{style}">{html.escape(row[c])}</td>')
            rows.append("<tr>" + "".join(tds) + "</tr>")
        note = "" if len(parts) == 1 else f" (part {i + 1} of {len(parts)})"
        cap = f"<caption>{html.escape(caption)}{note}</caption>" if caption or note else ""
        tables.append(f'<table class="loopkit-table table">{cap}<thead><tr>{head}</tr></thead>'
                      f'<tbody>{"".join(rows)}</tbody></table>')  # fmt: skip
    return '<div class="loopkit-tables">' + "".join(tables) + "</div>"


# ---------------------------------------------------------------------------------------------------------
# The claims table

#: The colour a verdict is printed in (``loopkit.evaluation.verdicts.VERDICTS``).
VERDICT_COLOURS = {"holds": "#1b7837", "does not hold": "#b2182b", "within noise": "#b35806",
                   "not testable at this budget": "#2166ac", "not testable here": "#555555"}  # fmt: skip


def _verdict_html(r) -> str:
    colour = VERDICT_COLOURS.get(r["holds"], "#000")
    why = r["why"] if isinstance(r["why"], str) else ""
    why = f'<p style="margin:4px 0 0 0;font-size:0.9em">{html.escape(why)}</p>' if why else ""
    return f'<p style="margin:0;color:{colour};font-weight:bold">{html.escape(r["holds"])}</p>{why}'


def claims_html(verdicts, recorded=None) -> str:
    """``loopkit.evaluation.claims.claim_verdicts``' rows as one HTML table that fits the page: the claim with its rule
    in full; the paper's numbers, this build's and the decisive differences with their intervals; the verdict and,
    where a claim does not hold, its reason. ``recorded``: ``{header: claims frame}`` of recorded runs
    (``loopkit.book.records.claims_columns``), each shown as one more column: its numbers, verdict and reason."""
    recorded = dict(recorded or {})
    widths = (38, 37, 25) if not recorded else (26, 26, 18)
    extra = (100 - sum(widths)) // len(recorded) if recorded else 0
    rows = []
    for cid, r in verdicts.iterrows():
        claim = (f'<p style="margin:0"><b>({html.escape(str(cid))})</b> {html.escape(r["claim"])}</p>'
                 f'<p style="margin:4px 0 0 0;font-size:0.9em"><i>Rule.</i> {html.escape(r["rule"])}</p>')
        numbers = (f'<p style="margin:0;font-size:0.9em"><i>Paper:</i> {html.escape(r["paper"])}</p>'
                   f'<p style="margin:4px 0 0 0;font-size:0.9em"><i>This build:</i> {html.escape(r["this build"])}</p>'
                   f'<p style="margin:4px 0 0 0;font-size:0.9em"><i>Intervals:</i> {html.escape(r["interval"])}</p>')
        cells = [f'<td style="vertical-align:top;width:{widths[0]}%">{claim}</td>',
                 f'<td style="vertical-align:top;width:{widths[1]}%;overflow-wrap:anywhere">{numbers}</td>',
                 f'<td style="vertical-align:top;width:{widths[2]}%">{_verdict_html(r)}</td>']
        for frame in recorded.values():
            if cid in frame.index:
                other = frame.loc[cid]
                body = (_verdict_html(other) + '<p style="margin:4px 0 0 0;font-size:0.85em"><i>Numbers:</i> '
                        f'{html.escape(str(other["this build"]))}</p>')
            else:
                body = "<p>-</p>"
            cells.append(f'<td style="vertical-align:top;width:{extra}%;overflow-wrap:anywhere">{body}</td>')
        rows.append(f'<tr>{"".join(cells)}</tr>')
    heads = ["The paper's claim, and the rule that judges it", "Numbers", "Verdict: this build"]
    heads += [f"Verdict: {name}" for name in recorded]
    return ('<table class="loopkit-claims table" style="table-layout:fixed;width:100%">'
            f'<thead><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in heads)}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


# ---------------------------------------------------------------------------------------------------------
# Tables 3 and 4 on a page


def metric_rows(frame, metrics: Sequence[str] | None = None):
    """Table 3 or 4 for a page: for each model a row of ours (``loopkit.evaluation.table_format.source_label``: "ours
    (profile)", or how far a rehearsal's model trained) and below it the paper's (none for a row the paper does not
    have), the ``metrics`` columns (default all) printed as the paper prints them
    (``loopkit.evaluation.table_format.format_metric``), indexed by (model, source). Show a group of the paper's columns
    at a time (``loopkit.paper.METRIC_GROUPS``) so the
    table fits the page."""
    import pandas as pd

    from loopkit.evaluation.table_format import format_metric, source_label
    from loopkit.paper import METRIC_COLUMNS

    metrics = list(metrics or METRIC_COLUMNS)
    rows, index = [], []
    for _, row in frame.iterrows():
        source = source_label(row.get("profile"), row.get("run"))  # a rehearsal's model never reads "ours (paper)"
        for name, suffix in ((source, ""), ("paper", " (paper)")):
            values = [row[f"{m}{suffix}"] for m in metrics]
            if suffix and all(pd.isna(v) for v in values):  # a row the paper does not have (a labelled variant)
                continue
            rows.append({m: format_metric(v) for m, v in zip(metrics, values)})
            index.append((row["model"], name))
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["model", "source"]))


def metric_glossary_markdown() -> str:
    """The metrics of Tables 3 and 4 and the memorisation check, defined once (a Markdown list) for the page that
    shows the tables; the others link to it."""
    from loopkit.evaluation.table_format import COPIES, NEAREST
    from loopkit.metrics.paper_metrics import METRIC_DEFINITIONS

    extra = {
        COPIES: "share of a row's loops that equal a training loop in all 11,904 cells (loopkit's memorisation check; "
        "the paper has none)",
        NEAREST: "median per-cell Hamming distance from a row's loop to its nearest training loop (loopkit's)",
    }
    return "\n".join(f"- **{k}**: {v}" for k, v in {**METRIC_DEFINITIONS, **extra}.items())


def with_intervals(frame, columns: Sequence[str], key: str = "model", fmt=None):
    """A copy of a table with, after each of ``columns``, its 95 % bootstrap interval as text ("[low, high]";
    "-" where the row has no replicates), from ``attrs`` (``loopkit.evaluation.table_format.BOOTSTRAP``)."""
    from loopkit.evaluation.table_format import BOOTSTRAP
    from loopkit.evaluation.uncertainty import LEVEL, estimate

    fmt = fmt or (lambda x: f"{x:.2e}")
    out = frame.copy()
    reps = frame.attrs.get(BOOTSTRAP) or {}
    for column in columns:
        texts = []
        for label, value in zip(frame[key], frame[column]):
            est = estimate(value, (reps.get(str(label)) or {}).get(column))
            texts.append(f"[{fmt(est.low)}, {fmt(est.high)}]" if est.has_interval else "-")
        out.insert(out.columns.get_loc(column) + 1, f"{column}, {LEVEL:.0%} interval", texts)
    return out
