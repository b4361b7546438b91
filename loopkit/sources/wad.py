"""A small reader for Doom WAD files, used to read Freedoom's MIDI music out of its .wad files for the demo corpus.

The paper's corpus (LMD-full) is plain MIDI; this module only serves the demo corpus's game music
(``loopkit.sources.games``), whose Freedoom music is stored as lumps inside ``freedoom1.wad`` and ``freedoom2.wad``.

The WAD format (all integers little-endian, signed 32 bit)::

    header      12 bytes   4-byte magic b"IWAD" or b"PWAD", number of lumps n, offset of the directory
    directory   16 n bytes n records (offset, size, 8-byte name padded with NUL bytes)

A lump is ``data[offset : offset + size]``. Music lumps are named ``D_*`` by convention; Freedoom stores them
as standard MIDI files, so a lump is music when its bytes start with ``MThd``. Classic Doom's own MUS format
(lumps starting with ``MUS\\x1a``) is recognised by :func:`mus_lumps` but not converted: Freedoom has none.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from loopkit.errors import LoopkitError

WAD_MAGICS = (b"IWAD", b"PWAD")
HEADER = struct.Struct("<4sii")  # magic, number of lumps, directory offset
RECORD = struct.Struct("<ii8s")  # lump offset, lump size, name
MIDI_MAGIC = b"MThd"
MUS_MAGIC = b"MUS\x1a"


@dataclass(frozen=True)
class Lump:
    """One directory record of a WAD: the lump's name, and where its bytes lie in the file."""

    name: str
    offset: int
    size: int


def _decode_name(raw: bytes) -> str:
    # Names are NUL-padded to 8 bytes; bytes after the first NUL are padding (some tools leave garbage there).
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace")


def read_directory(data: bytes) -> tuple[str, list[Lump]]:
    """Parse a WAD's header and directory.

    Parameters
    ----------
    data
        The whole WAD file.

    Returns
    -------
    (magic, lumps)
        ``"IWAD"`` or ``"PWAD"``, and the directory records in file order.

    Raises
    ------
    ValueError
        When the bytes are not a WAD (wrong magic, too short) or the directory or a lump lies outside the file.
    """
    if len(data) < HEADER.size:
        raise LoopkitError(f"not a WAD file: {len(data)} bytes, shorter than the {HEADER.size}-byte header")
    magic, count, dir_offset = HEADER.unpack_from(data, 0)
    if magic not in WAD_MAGICS:
        raise LoopkitError(f"not a WAD file: magic {magic!r}, expected b'IWAD' or b'PWAD'")
    if count < 0 or dir_offset < 0 or dir_offset + count * RECORD.size > len(data):
        raise LoopkitError(
            f"corrupt WAD: directory of {count} records at offset {dir_offset} does not fit in {len(data)} bytes"
        )
    lumps = []
    for i in range(count):
        offset, size, raw = RECORD.unpack_from(data, dir_offset + i * RECORD.size)
        name = _decode_name(raw)
        if offset < 0 or size < 0 or offset + size > len(data):
            raise LoopkitError(
                f"corrupt WAD: lump {i} ({name!r}) at offset {offset}, size {size} lies outside the "
                f"{len(data)}-byte file"
            )
        lumps.append(Lump(name, offset, size))
    return magic.decode("ascii"), lumps


def lump_bytes(data: bytes, lump: Lump) -> bytes:
    """The bytes of one lump."""
    return data[lump.offset : lump.offset + lump.size]


def midi_lumps(data: bytes) -> list[tuple[Lump, bytes]]:
    """Every lump that is a standard MIDI file (starts with ``MThd``), in directory order, with its bytes."""
    _, lumps = read_directory(data)
    out = []
    for lump in lumps:
        if lump.size >= len(MIDI_MAGIC) and data[lump.offset : lump.offset + len(MIDI_MAGIC)] == MIDI_MAGIC:
            out.append((lump, lump_bytes(data, lump)))
    return out


def mus_lumps(data: bytes) -> list[Lump]:
    """Lumps in Doom's MUS music format (not converted to MIDI by loopkit; Freedoom has none)."""
    _, lumps = read_directory(data)
    return [lump for lump in lumps if data[lump.offset : lump.offset + len(MUS_MAGIC)] == MUS_MAGIC]


def read_midi_lumps(path: str | os.PathLike) -> list[tuple[Lump, bytes]]:
    """:func:`midi_lumps` of a WAD file on disk."""
    return midi_lumps(Path(path).read_bytes())


def build_wad(lumps: list[tuple[str, bytes]], magic: bytes = b"PWAD") -> bytes:
    """Write a WAD: header, the lumps' bytes back to back from offset 12, then the directory.

    The inverse of :func:`read_directory` + :func:`lump_bytes` (names longer than 8 bytes are refused). Used by
    the tests and handy for packing loops for a Doom engine.
    """
    if magic not in WAD_MAGICS:
        raise LoopkitError(f"magic must be one of {WAD_MAGICS}, not {magic!r}")
    body = bytearray()
    records = bytearray()
    for name, payload in lumps:
        raw = name.encode("ascii")
        if len(raw) > 8:
            raise LoopkitError(f"lump name {name!r} is longer than 8 bytes")
        records += RECORD.pack(HEADER.size + len(body), len(payload), raw.ljust(8, b"\0"))
        body += payload
    return HEADER.pack(magic, len(lumps), HEADER.size + len(body)) + bytes(body) + bytes(records)
