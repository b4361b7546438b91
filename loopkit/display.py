"""Display widgets for the book: a grid of labelled audio players whose OGG sources are embedded in the page, so a
built book carries its sound (``loopkit.audio`` renders the loops)."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .audio import AudioSettings, Rendering, encode_ogg, read_midi_loop, roll_to_ogg
from .errors import LoopkitError
from .pianoroll import DEFAULT_BPM


def ogg_data_uri(ogg: bytes) -> str:
    """A ``data:audio/ogg;base64,...`` URI that an ``<audio>`` element plays without any file beside the page."""
    return "data:audio/ogg;base64," + base64.b64encode(bytes(ogg)).decode("ascii")


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


def _is_empty_roll(item) -> bool:
    """True for a roll (array) without a single note; other items (audio, files) are never 'empty'."""
    if isinstance(item, (bytes, bytearray, memoryview, Rendering, str, os.PathLike)):
        return False
    return not np.asarray(item).any()


def audio_grid_html(
    items: Iterable,
    labels: Sequence[str] | None = None,
    columns: int = 4,
    bpm: float = DEFAULT_BPM,
    repeats: int = 1,
    settings: AudioSettings | None = None,
    loop: bool = False,
) -> str:
    """HTML of a grid of labelled ``<audio>`` players whose sources are embedded OGG ``data:`` URIs.

    Parameters
    ----------
    items : each a ``(t, 93)`` roll, a ``Rendering``, OGG bytes, or the path of a .ogg or .mid file
    labels : one caption per item (HTML-escaped); default "1", "2", ...
    columns : players per row
    bpm, repeats, settings : how rolls and MIDI files are rendered
    loop : whether each player repeats its audio

    A roll without any note (a model can output one) gets its caption and "empty loop: no note to play" in place
    of a player.
    """
    items = list(items)
    labels = [str(i + 1) for i in range(len(items))] if labels is None else [str(x) for x in labels]
    if len(labels) != len(items):
        raise LoopkitError(f"{len(items)} items but {len(labels)} labels")
    if int(columns) < 1:
        raise LoopkitError(f"columns must be at least 1, got {columns}")
    cells = []
    for item, label in zip(items, labels):
        if _is_empty_roll(item):
            # a model that outputs no note at all gets a caption saying so, not a silent player
            cells.append(
                '<figure style="margin:0;padding:4px;border:1px dashed #bbb;border-radius:4px">'
                f'<figcaption style="font-size:0.85em;margin-bottom:2px">{html.escape(label)}</figcaption>'
                '<p class="loopkit-empty-loop" style="margin:4px 0;font-size:0.85em;color:#666">'
                "empty loop: no note to play</p></figure>"
            )
            continue
        uri = ogg_data_uri(_as_ogg(item, bpm, repeats, settings))
        cells.append(
            '<figure style="margin:0;padding:4px;border:1px solid #ddd;border-radius:4px">'
            f'<figcaption style="font-size:0.85em;margin-bottom:2px">{html.escape(label)}</figcaption>'
            f'<audio controls preload="none"{" loop" if loop else ""} style="width:100%" src="{uri}"></audio>'
            "</figure>"
        )
    return (
        f'<div class="loopkit-audio-grid" style="display:grid;grid-template-columns:repeat({int(columns)},'
        f'minmax(0,1fr));gap:6px">' + "".join(cells) + "</div>"
    )


def audio_grid(items: Iterable, labels: Sequence[str] | None = None, columns: int = 4, **kwargs):
    """An ``IPython.display.HTML`` grid of labelled players (see ``audio_grid_html`` for the arguments).

    The audio is embedded as base64 OGG, so a built book carries its sound (about 200 KB of page per 16-second
    loop).
    """
    from IPython.display import HTML

    return HTML(audio_grid_html(items, labels=labels, columns=columns, **kwargs))


def readable(frame, percent: Sequence[str] = (), scientific: Sequence[str] = (), integer: Sequence[str] = (),
             decimals: int = 3):  # fmt: skip
    """A copy of a DataFrame with its numbers as a reader wants them on a page: the ``percent`` columns as whole
    percentages (0.657 -> "66%"), the ``scientific`` ones with three significant digits (0.02029 -> "2.03e-02"),
    the ``integer`` ones as whole numbers with thousands separators, other floats rounded to ``decimals``. NaN
    prints as "-". The table's numbers themselves stay in the CSV files the notebooks write."""
    import math

    import pandas as pd

    def cell(value, kind: str):
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            return value
        if kind == "percent":
            return f"{value:.0%}".replace("-0%", "0%")  # a small negative share rounds to 0, not "-0"
        if kind == "scientific":
            return f"{value:.2e}"
        if kind == "integer":
            return f"{int(round(value)):,}"
        return round(float(value), decimals) if isinstance(value, (float, np.floating)) else value

    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        kind = ("percent" if column in percent else "scientific" if column in scientific
                else "integer" if column in integer else "")  # fmt: skip
        out[column] = [cell(v, kind) for v in frame[column]]
    return out
