"""Hostile inputs (issue 12): file names that are not UTF-8, archives and checkpoints that lie, slow clients, data
sets that must prove their integrity, kills during the final write, absurd tempos, links out of a source folder.

One regression test (or a few) per defect, numbered as in the issue. Every crafted input is built here, by the
test itself: small MIDI files with ``midi_builder``, archives with ``tarfile``/``zipfile`` and patched headers,
checkpoints with ``torch.save``.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from loopkit.corpus import readable_source, source_bytes
from loopkit.dataset import load_loops
from loopkit.extract import extract
from loopkit.journal import Ledger, decode_record, encode_record
from loopkit.dataset import FileResult
from midi_builder import loop_song, write

LATIN1 = "café".encode("latin-1")  # b"caf\xe9": not valid UTF-8


# ---------------------------------------------------------------------------------------------------------
# 1. a file name that is not valid UTF-8


def test_names_that_are_not_utf8_are_extracted_and_kept_losslessly(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    song = loop_song(8)
    folder = os.path.join(os.fsencode(root), LATIN1)  # a Latin-1 folder name holding a Latin-1 file name
    os.mkdir(folder)
    with open(os.path.join(folder, b"s\xe9.mid"), "wb") as fh:
        fh.write(song)
    write(root / "plain.mid", song)
    tar_path = tmp_path / "old.tar"
    with tarfile.open(tar_path, "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:  # raw Latin-1 member
        info = tarfile.TarInfo("caf\xe9/t\xe9.mid")
        info.size = len(song)
        tar.addfile(info, io.BytesIO(song))
    zip_path = tmp_path / "old.zip"
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("zzzz/z.mid", song)
    raw = zip_path.read_bytes()  # the member name as an old DOS zip tool wrote it: Latin-1, no UTF-8 flag
    zip_path.write_bytes(raw.replace(b"zzzz/z.mid", LATIN1 + b"/z.mid"))

    ds = extract([root, tar_path, zip_path], tmp_path / "out", workers=2, progress=False)
    assert ds.files["status"].tolist() == ["used"] * 4
    names = ds.files["source"].tolist()
    assert names[0] == f"{root}/caf\\xe9/s\\xe9.mid" and names[1] == f"{root}/plain.mid"
    assert names[2] == f"{tar_path}!caf\\xe9/t\\xe9.mid"
    assert names[3] == f"{zip_path}!caf\u0398/z.mid"  # zip names without the UTF-8 flag are code page 437
    assert (tmp_path / "out" / "files.csv").read_bytes().decode("utf-8")  # valid UTF-8 throughout
    assert ds.funnel["loops"] == 4

    # the journal keeps the name's bytes exactly, and a resumed run recognises it
    source = os.fsdecode(os.path.join(folder, b"s\xe9.mid"))
    assert source_bytes(source) == os.path.join(folder, b"s\xe9.mid")
    index, back, result = decode_record(encode_record(7, source, FileResult("failed", reason=f"cannot read {source}")))
    assert (index, back, result.reason) == (7, source, f"cannot read {source}")
    ledger = Ledger()
    ledger.add(0, 0, source, result)
    ledger.check_source(0, source)
    with pytest.raises(ValueError, match="the inputs changed"):
        ledger.check_source(0, source.replace("\udce9", "\udce8"))
    assert readable_source(source).endswith("caf\\xe9/s\\xe9.mid") and readable_source("café") == "café"
