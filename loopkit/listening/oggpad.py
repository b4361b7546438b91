"""Ogg Vorbis files padded to one size, for the paper's listening test: a stimulus's byte count must not tell a
listener which group it comes from (unpadded, training loops took 135-161 KB and generated ones 150-156 KB).

``pad_ogg(data, size)`` returns the same audio in exactly ``size`` bytes: the padding is a Vorbis comment
(``LOOPKIT_PADDING=`` and spaces) in the comment header, which every decoder reads past, never audio or bytes
after the stream. The header pages are laid out again (lacing, page sizes) and every later page is renumbered
and gets its CRC anew, so the file stays a valid Ogg stream. ``strip_padding`` gives back the unpadded file
byte for byte, so padding is idempotent and a resumed ``prepare_stimuli`` pads to the same size. Only what
``loopkit.audio.encode_ogg`` writes is supported: one Vorbis stream whose three header packets end a page.
"""

from __future__ import annotations

import struct
import zlib

from ..errors import LoopkitError

PADDING_FIELD = b"LOOPKIT_PADDING="
_HEAD = struct.Struct("<4sBBqIIIB")  # capture, version, header type, granule, serial, sequence, CRC, segments
_CONTINUED, _FIRST = 0x01, 0x02
_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial value 0, no final XOR), computed with
    ``zlib.crc32`` (the reflected CRC) on bit-reversed bytes."""
    raw = zlib.crc32(data.translate(_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF  # reflected, initial 0, no final XOR
    return int(f"{raw:032b}"[::-1], 2)


def _pages(data: bytes) -> list[dict]:
    pages, pos = [], 0
    while pos < len(data):
        if len(data) - pos < _HEAD.size or data[pos : pos + 4] != b"OggS":
            raise LoopkitError(f"not an Ogg stream: no page at byte {pos}")
        capture, version, kind, granule, serial, seq, _crc, n = _HEAD.unpack_from(data, pos)
        lacing = data[pos + _HEAD.size : pos + _HEAD.size + n]
        start = pos + _HEAD.size + n
        end = start + sum(lacing)
        if len(lacing) != n or end > len(data):
            raise LoopkitError(f"a truncated Ogg page at byte {pos}")
        pages.append({"kind": kind, "granule": granule, "serial": serial, "seq": seq, "lacing": bytes(lacing),
                      "body": data[start:end], "raw": data[pos:end]})  # fmt: skip
        pos = end
    return pages


def _page(kind: int, granule: int, serial: int, seq: int, lacing: bytes, body: bytes) -> bytes:
    head = _HEAD.pack(b"OggS", 0, kind, granule, serial, seq, 0, len(lacing)) + lacing
    page = bytearray(head + body)
    page[22:26] = ogg_crc(bytes(page)).to_bytes(4, "little")
    return bytes(page)


def _headers(pages: list[dict]) -> tuple[list[bytes], int]:
    """The three Vorbis header packets and the number of pages that hold them (they must end a page)."""
    packets, current = [], b""
    for i, page in enumerate(pages):
        pos = 0
        for lace in page["lacing"]:
            current += page["body"][pos : pos + lace]
            pos += lace
            if lace < 255:
                packets.append(current)
                current = b""
                if len(packets) == 3:
                    if pos != len(page["body"]) or current:
                        raise LoopkitError("the Vorbis headers do not end a page (not a file loopkit wrote)")
                    return packets, i + 1
    raise LoopkitError("an Ogg stream without the three Vorbis header packets")


def _comments(packet: bytes) -> tuple[bytes, list[bytes]]:
    if packet[:7] != b"\x03vorbis":
        raise LoopkitError("the second Ogg packet is not a Vorbis comment header")
    pos = 7
    (n,) = struct.unpack_from("<I", packet, pos)
    vendor = packet[pos + 4 : pos + 4 + n]
    pos += 4 + n
    (count,) = struct.unpack_from("<I", packet, pos)
    pos += 4
    comments = []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", packet, pos)
        comments.append(packet[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return vendor, comments


def _comment_packet(vendor: bytes, comments: list[bytes]) -> bytes:
    out = b"\x03vorbis" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(comments))
    for c in comments:
        out += struct.pack("<I", len(c)) + c
    return out + b"\x01"  # framing bit


def _paginate(packets: list[bytes], serial: int, first_seq: int) -> list[bytes]:
    """Pages holding ``packets`` one after another, at most 255 segments a page, the last packet ending the last
    page (libogg's flush): a page on which a packet ends has granule 0 (header pages), others -1."""
    segments = []  # (lacing value, bytes, whether it ends a packet)
    for packet in packets:
        laces = [255] * (len(packet) // 255) + [len(packet) % 255]
        pos = 0
        for j, lace in enumerate(laces):
            segments.append((lace, packet[pos : pos + lace], j == len(laces) - 1))
            pos += lace
    pages, continued = [], False
    for seq, i in enumerate(range(0, len(segments), 255), start=first_seq):
        chunk = segments[i : i + 255]
        granule = 0 if any(ends for _, _, ends in chunk) else -1
        lacing = bytes(lace for lace, _, _ in chunk)
        pages.append(_page(_CONTINUED if continued else 0, granule, serial, seq, lacing, b"".join(b for _, b, _ in chunk)))
        continued = not chunk[-1][2]
    return pages


def _assemble(pages: list[dict], n_header_pages: int, packets: list[bytes], comments: list[bytes],
              vendor: bytes) -> bytes:  # fmt: skip
    serial = pages[0]["serial"]
    header = _paginate([_comment_packet(vendor, comments), packets[2]], serial, pages[1]["seq"])
    out = [pages[0]["raw"], *header]
    shift = pages[1]["seq"] + len(header) - pages[n_header_pages]["seq"] if n_header_pages < len(pages) else 0
    for page in pages[n_header_pages:]:
        if shift == 0:
            out.append(page["raw"])
        else:
            out.append(_page(page["kind"], page["granule"], page["serial"], page["seq"] + shift, page["lacing"],
                             page["body"]))  # fmt: skip
    return b"".join(out)


def _parts(data: bytes):
    pages = _pages(data)
    if not pages or not pages[0]["kind"] & _FIRST or len({p["serial"] for p in pages}) != 1:
        raise LoopkitError("not a single Ogg Vorbis stream")
    packets, n_header_pages = _headers(pages)
    if n_header_pages < 2 or pages[0]["body"][:7] != b"\x01vorbis":
        raise LoopkitError("not an Ogg Vorbis stream loopkit wrote (identification header alone on its page)")
    vendor, comments = _comments(packets[1])
    return pages, n_header_pages, packets, vendor, [c for c in comments if not c.startswith(PADDING_FIELD)]


def strip_padding(data: bytes) -> bytes:
    """``data`` without the padding ``pad_ogg`` added (the file as the encoder wrote it; unpadded data unchanged
    in content)."""
    pages, n_header_pages, packets, vendor, comments = _parts(data)
    return _assemble(pages, n_header_pages, packets, comments, vendor)


def pad_ogg(data: bytes, size: int) -> bytes:
    """The Ogg Vorbis file ``data`` (padded or not) padded to exactly ``size`` bytes with a Vorbis comment.

    Raises ``LoopkitError`` when ``size`` cannot be reached: smaller than the unpadded file plus the padding
    comment's own bytes, or a size the page layout skips (a new lacing value or page adds more than one byte);
    ``common_size`` finds a size every file of a set can take.
    """
    pages, n_header_pages, packets, vendor, comments = _parts(data)

    def padded(k: int) -> bytes:
        return _assemble(pages, n_header_pages, packets, comments + [PADDING_FIELD + b" " * k], vendor)

    base = len(padded(0))
    if size < base:
        raise LoopkitError(f"cannot pad an Ogg file of {base} bytes (with its padding comment) down to {size}")
    guess, tried = size - base, set()
    while guess >= 0 and guess not in tried:  # lacing values and page headers cost bytes besides the padding's
        tried.add(guess)
        out = padded(guess)
        if len(out) == size:
            return out
        guess -= len(out) - size
    raise LoopkitError(f"no padding makes this Ogg file exactly {size} bytes long")


def common_size(files: list[bytes], margin: int = 64) -> int:
    """The smallest size from ``margin`` bytes above the largest unpadded file that every file can be padded to."""
    stripped = [strip_padding(d) for d in files]
    size = max(len(d) for d in stripped) + margin
    while True:
        try:
            for d in stripped:
                pad_ogg(d, size)
            return size
        except LoopkitError:
            size += 1
