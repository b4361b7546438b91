"""The input files of an extraction (Data Preprocess, "176,581 MIDI files in LMD-full"): folders, single files and
archives, enumerated in one fixed order without unpacking anything to disk.

``iter_inputs(sources)`` yields one ``InputFile`` per file it finds, in this order: the sources in the order
given; inside a folder, entries sorted by name (code-point order) with sub-folders walked where they sort;
inside an archive, the archive's own member order. Nothing is left out silently:

* a file with a MIDI name (``MIDI_SUFFIXES``, any case) is an input to read;
* an archive (``ARCHIVE_SUFFIXES``) given as a source or met inside a folder is opened and its members are
  enumerated (``folder/x.tar.gz!member/path.mid``); a ``.tar*`` archive is read as a stream, so LMD-full's
  .tar.gz is never unpacked; an archive inside an archive is listed as skipped;
* any other file, a link inside an archive, a symbolic link to a folder and a symbolic link (in a source
  folder) to a file outside that folder are listed as skipped, each with its reason: a corpus cannot make
  extraction read, or quote, files elsewhere on the machine;
* a folder that cannot be listed, an archive that cannot be opened or ends early, and an archive member that
  cannot be read are listed as failed, with the error; an archive that holds no file is listed as skipped.

Archives are read by this process (the per-file time limit of ``loopkit.data.workers`` does not reach them), so
reading one is bounded by its bytes instead: an archive name that is not a regular file (a FIFO, a device) is
listed as skipped without a read that could block; a compressed tar is decompressed ``READ_CHUNK`` bytes at a
time, members skipped included (tarfile's own stream decompresses a bz2 or xz member whole and copies what is
left of it on every read: 11 min and 825 MB for a 497-byte .tar.bz2); a zip member compressed with bzip2 or
LZMA is decompressed the same way; and a compressed archive that expands more than ``MAX_EXPANSION`` times its
own bytes read so far, past the first ``MAX_FILE_MIB`` MiB, is listed as failed there (a decompression bomb).
These bounds depend only on the bytes, never on time, so a resumed run enumerates exactly what the first saw.

The source string of a file is the path as the user gave it (normalised), joined with the path inside the
folder; an archive member is ``ARCHIVE!MEMBER``, and a member name met again in the same archive (tar allows it)
gets ``#2``, ``#3``, ... so that every source string is unique. The order and the strings depend only on the inputs, so
every run over the same inputs enumerates the same sequence (what a resumed extraction relies on). A name that
is not valid UTF-8 (Latin-1 names from old systems, in folders and as tar members) is read like any other and
keeps its bytes as surrogate escapes: ``source_bytes`` gives them back exactly, ``readable_source`` writes them
as ``\\xNN`` in the data set's CSV files.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from loopkit.errors import LoopkitError

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ZIP_SUFFIXES = (".zip",)
ARCHIVE_SUFFIXES = TAR_SUFFIXES + ZIP_SUFFIXES
#: separates an archive's path from a member's path in a source string
MEMBER_SEPARATOR = "!"
#: the largest input file extraction reads, in MiB (the default of ``ExtractionSettings.max_file_mib``, and the
#: largest archive member ``loopkit data lmd`` hashes); far above any real MIDI file
MAX_FILE_MIB = 64.0
#: bytes read from an archive member or a file at a time, so a member that lies about its size costs this much
READ_CHUNK = 1 << 20
#: a compressed archive may give at most this many bytes per byte of it read so far (past the first
#: ``MAX_FILE_MIB`` MiB): gzip cannot exceed 1,032, MIDI corpora give 3 to 20; a .tar.bz2 of zeros gives millions
MAX_EXPANSION = 1000

SKIP_NOT_MIDI = "not a MIDI file name (.mid .midi .kar .rmi)"
SKIP_FOLDER_LINK = "symbolic link to a folder (not followed)"
SKIP_OUTSIDE_LINK = "symbolic link to a file outside the source folder (not followed)"
SKIP_NESTED_ARCHIVE = "archive inside an archive (not opened)"
SKIP_ARCHIVE_LINK = "link inside an archive (not followed)"
SKIP_SPECIAL = "not a regular file"
SKIP_EMPTY_ARCHIVE = "an archive that holds no file"


def is_midi_name(name: str) -> bool:
    """Whether a file name has a MIDI suffix (case-insensitive)."""
    return name.lower().endswith(MIDI_SUFFIXES)


def is_archive_name(name: str) -> bool:
    """Whether a file name has an archive suffix this module opens (case-insensitive)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class InputFile:
    """One entry of the enumeration.

    Exactly one of these describes it: ``path`` (a MIDI file on disk, read by whoever processes it), ``read``
    (a MIDI archive member: call it before advancing the iterator, it returns the bytes), ``skip`` (listed,
    not read, with the reason) or ``error`` (could not be enumerated or read, with the reason).
    ``source`` is the file's name in the data set (see the module docstring).
    """

    source: str
    path: str | None = None
    read: Callable[[], bytes] | None = None
    skip: str | None = None
    error: str | None = None


def one_line(exc: BaseException | str, limit: int = 240) -> str:
    """An exception (or text) as one line of at most ``limit`` characters."""
    if isinstance(exc, BaseException):
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:
            text = exc.strerror
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_bounded(fh, limit: int | None, chunk: int = READ_CHUNK) -> bytes:
    """All bytes of a binary stream, read ``chunk`` bytes at a time; more than ``limit`` bytes raise
    ``LoopkitError`` (``too_large``) after reading at most ``limit + chunk``, whatever the stream's header
    claimed. A zip member whose header understates its size would otherwise be decompressed whole (up to 1 GiB
    per call) before being cut to the stated size."""
    parts, total = [], 0
    while block := fh.read(chunk):
        parts.append(block)
        total += len(block)
        if limit is not None and total > limit:
            raise LoopkitError(too_large(None, limit))
    return b"".join(parts)


def too_large(size: int | None, limit: int) -> str:
    """The failure reason of a file over the size limit."""
    what = f"{size / 2**20:.1f} MiB" if size is not None else "more"
    return f"file too large ({what}; the limit is {limit / 2**20:g} MiB)"


def source_bytes(source: str) -> bytes:
    """The exact bytes of a source string. A file name that is not valid UTF-8 (a Latin-1 name from an old system,
    in a folder or inside an archive) reaches Python with its undecodable bytes as surrogate escapes
    (``os.fsdecode``); they come back here as the bytes they were, so the name is kept losslessly."""
    try:
        return source.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte: keep it as UTF-8 would spell it
        return source.encode("utf-8", "surrogatepass")


def readable_source(source: str) -> str:
    """A source string as valid UTF-8 text for the data set's CSV files: bytes of the name that are not UTF-8 are
    written as ``\\xNN`` escapes (``caf\\xe9.mid`` for a Latin-1 ``café.mid``); a valid name is returned as it is."""
    try:
        source.encode("utf-8")
        return source
    except UnicodeEncodeError:
        return source_bytes(source).decode("utf-8", "backslashreplace")


def normalise_source(source: str | os.PathLike) -> str:
    """The form a source path is recorded in: ``os.path.normpath`` of the path as given."""
    return os.path.normpath(os.fspath(source))


def check_sources(sources: Iterable[str | os.PathLike]) -> list[str]:
    """Validate the sources of an extraction and return them normalised.

    Raises ``FileNotFoundError`` for a path that does not exist and ``ValueError`` for an empty list, a source
    given twice, a source inside another folder source, or a single file that is neither MIDI nor an archive.
    """
    out = [normalise_source(s) for s in sources]
    if not out:
        raise LoopkitError("no sources given: name at least one folder, MIDI file or archive")
    seen: dict[str, str] = {}
    for src in out:
        if not os.path.exists(src):
            raise FileNotFoundError(f"no such file or folder: {src}")
        real = os.path.realpath(src)
        if real in seen:
            raise LoopkitError(f"{src} is given twice (also as {seen[real]})")
        seen[real] = src
        if not os.path.isdir(src) and not (is_midi_name(src) or is_archive_name(src)):
            raise LoopkitError(
                f"{src} is neither a MIDI file ({' '.join(MIDI_SUFFIXES)}) nor an archive "
                f"({' '.join(ARCHIVE_SUFFIXES)})"
            )
    for real, src in seen.items():
        for other_real, other in seen.items():
            if other != src and os.path.isdir(other_real) and real.startswith(other_real.rstrip(os.sep) + os.sep):
                raise LoopkitError(f"{src} lies inside {other}, which is also a source: give one of them")
    return out


def total_bytes(sources: Iterable[str | os.PathLike]) -> int:
    """Bytes ``iter_inputs`` will report through ``on_bytes`` for these sources (sizes of files on disk,
    archives counted by their own size). Walks folders once, without reading files."""
    total = 0
    stack = [(p, os.path.realpath(p)) for p in map(normalise_source, sources)]  # sub-folders: never links
    while stack:
        path, root = stack.pop()
        try:
            if os.path.isdir(path):
                with os.scandir(path) as it:
                    for entry in it:
                        try:
                            if entry.is_dir(follow_symlinks=False):
                                stack.append((entry.path, root))
                            elif not entry.is_symlink() or (not entry.is_dir() and _inside(entry.path, root)):
                                st = entry.stat()
                                total += st.st_size if stat.S_ISREG(st.st_mode) else 0
                        except OSError:
                            continue
            elif os.path.isfile(path):
                total += os.path.getsize(path)
        except OSError:
            continue
    return total


def _inside(path: str, root: str) -> bool:
    """Whether ``path``, with every symbolic link resolved, lies inside the folder ``root`` (itself resolved)."""
    return os.path.realpath(path).startswith(root.rstrip(os.sep) + os.sep)


def iter_inputs(
    sources: Iterable[str | os.PathLike],
    max_member_bytes: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[InputFile]:
    """Every file of the sources, in the fixed order of the module docstring.

    Parameters
    ----------
    sources : folders, MIDI files and archives
    max_member_bytes : an archive member larger than this is listed as failed without being read (files on
        disk are checked by ``read_path``)
    on_bytes : called with the number of input bytes each step of the enumeration has got through (file
        sizes; for an archive, its own bytes as they are read), for a progress bar totalling ``total_bytes``
    """
    count = on_bytes or (lambda n: None)
    for src in sources:
        src = normalise_source(src)
        if os.path.isdir(src):
            yield from _walk(src, max_member_bytes, count, os.path.realpath(src))
        else:
            yield from _file(src, os.path.basename(src), max_member_bytes, count)


def _file(path: str, name: str, max_member_bytes, count, entry: os.DirEntry | None = None):
    if is_archive_name(name):
        yield from _archive(path, max_member_bytes, count)
        return
    try:
        st = entry.stat() if entry is not None else os.stat(path)
        count(st.st_size if stat.S_ISREG(st.st_mode) else 0)
    except OSError:
        pass  # the reader reports the error
    if is_midi_name(name):
        yield InputFile(source=path, path=path)
    else:
        yield InputFile(source=path, skip=SKIP_NOT_MIDI)


def _walk(folder: str, max_member_bytes, count, root: str):
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield InputFile(source=folder, error=f"cannot list folder: {one_line(exc)}")
        return
    for entry in entries:
        path = os.path.join(folder, entry.name)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            if not is_dir and entry.is_symlink():
                if entry.is_dir(follow_symlinks=True):
                    yield InputFile(source=path, skip=SKIP_FOLDER_LINK)
                    continue
                if not _inside(path, root):
                    yield InputFile(source=path, skip=SKIP_OUTSIDE_LINK)
                    continue
        except OSError as exc:
            yield InputFile(source=path, error=f"cannot stat: {one_line(exc)}")
            continue
        if is_dir:
            yield from _walk(path, max_member_bytes, count, root)
        else:
            yield from _file(path, entry.name, max_member_bytes, count, entry)


class _Counted:
    """A read-only binary stream that reports how many bytes have been read from it."""

    def __init__(self, fh, count):
        self._fh = fh
        self._count = count
        self.total = 0

    def read(self, n=-1):
        data = self._fh.read(n)
        self.total += len(data)
        self._count(len(data))
        return data

    def readinto(self, b):
        n = self._fh.readinto(b) or 0
        self.total += n
        self._count(n)
        return n

    def readable(self):
        return True

    def seekable(self):
        return False

    def close(self):
        self._fh.close()


def _archive(path: str, max_member_bytes, count):
    """The entries of one archive (see the module docstring): its members, each source string unique, or one
    entry for the archive itself when it cannot be opened, is not a regular file, or holds no file."""
    try:
        fh = _open_regular(path)
    except OSError as exc:
        yield InputFile(source=path, error=f"cannot open archive: {one_line(exc)}")
        return
    if fh is None:
        yield InputFile(source=path, skip=SKIP_SPECIAL)
        return
    with fh:
        size = os.fstat(fh.fileno()).st_size
        reader = _zip if path.lower().endswith(ZIP_SUFFIXES) else _tar
        seen: set[bytes] = set()  # 8-byte digests of the sources given so far, not the strings (LMD: 178,000)
        for entry in reader(path, fh, size, max_member_bytes, count):
            source, k = entry.source, 1
            while (key := hashlib.blake2b(source_bytes(source), digest_size=8).digest()) in seen:
                k += 1  # a member name met again (tar allows it): the k-th of that name
                source = f"{entry.source}#{k}"
            seen.add(key)
            entry.source = source
            yield entry
        if not seen:
            yield InputFile(source=path, skip=SKIP_EMPTY_ARCHIVE)


def _open_regular(path: str):
    """``path`` opened for reading when it is a regular file, else None. A FIFO or a device named like an archive
    is never opened in a way that can block: it is checked by ``stat``, then opened with ``O_NONBLOCK`` and checked
    again by ``fstat`` (it may have been replaced in between)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _classify_member(source: str, name: str) -> InputFile | None:
    """The entry for a member that is not read (skipped), or None for a MIDI member."""
    if is_archive_name(name):
        return InputFile(source=source, skip=SKIP_NESTED_ARCHIVE)
    if not is_midi_name(name):
        return InputFile(source=source, skip=SKIP_NOT_MIDI)
    return None


class _Expanding:
    """The decompressed bytes of a compressed archive, at most ``READ_CHUNK`` a read, refused past
    ``MAX_EXPANSION`` bytes per compressed byte read (once past ``MAX_FILE_MIB`` MiB): the read raises
    ``LoopkitError``, and so does every later one."""

    def __init__(self, inner, compressed: _Counted):
        self._inner = inner
        self._compressed = compressed
        self.total = 0
        self._refused: str | None = None

    def read(self, n=-1):
        if self._refused:
            raise LoopkitError(self._refused)
        data = self._inner.read(READ_CHUNK if n is None or n < 0 else min(n, READ_CHUNK))
        self.total += len(data)
        read = max(1, self._compressed.total)
        if self.total > MAX_FILE_MIB * 2**20 and self.total > MAX_EXPANSION * read:
            self._refused = (f"a decompression bomb: {self.total / 2**20:.0f} MiB from its first {read:,} bytes "
                             f"(more than {MAX_EXPANSION:,} times over); the rest is not read")  # fmt: skip
            raise LoopkitError(self._refused)
        return data


def _tar_stream(fh, counted: _Counted):
    """The tar bytes of an archive: decompressed (``_Expanding``) when its first bytes are those of gzip, bzip2
    or xz, else the file's own bytes. (tarfile's ``r|*`` decompresses a bz2 or xz member whole and copies what is
    left of it on every 10 KiB read, skipping included: quadratic time, memory the size of the member.)"""
    head = fh.peek(6)[:6]
    if head.startswith(b"\x1f\x8b"):
        import gzip

        return _Expanding(gzip.GzipFile(fileobj=counted, mode="rb"), counted)
    if head.startswith(b"BZh"):
        return _Expanding(bz2.BZ2File(counted), counted)
    if head.startswith(b"\xfd7zXZ\x00"):
        return _Expanding(lzma.LZMAFile(counted), counted)
    return counted


def _tar(path: str, fh, size: int, max_member_bytes, count):
    stream = _Counted(fh, count)
    try:
        yield from _tar_members(path, _tar_stream(fh, stream), max_member_bytes)
    finally:
        count(max(0, size - stream.total))  # end-of-archive blocks, padding, or what an error left


def _tar_members(path: str, stream, max_member_bytes):
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")
    except LoopkitError as exc:
        yield InputFile(source=path, error=str(exc))
        return
    except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        yield InputFile(source=path, error=f"cannot open archive: {one_line(exc)}")
        return
    members = 0
    while True:
        try:
            member = tar.next()
            tar.members.clear()  # a stream is read once: tarfile would keep every member's header (LMD: 178,000)
        except LoopkitError as exc:
            yield InputFile(source=path, error=f"{exc} (after {_members(members)})")
            return
        except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            yield InputFile(
                source=path, error=f"archive is corrupt or ends early after {_members(members)}: {one_line(exc)}"
            )
            return
        if member is None:
            return
        members += 1
        if member.isdir():
            continue
        source = f"{path}{MEMBER_SEPARATOR}{member.name}"
        if member.issym() or member.islnk():
            yield InputFile(source=source, skip=SKIP_ARCHIVE_LINK)
        elif not member.isreg():
            yield InputFile(source=source, skip=SKIP_SPECIAL)
        elif (entry := _classify_member(source, member.name)) is not None:
            yield entry
        elif max_member_bytes is not None and member.size > max_member_bytes:
            yield InputFile(source=source, error=too_large(member.size, max_member_bytes))
        else:

            def reader(member=member):
                fh = tar.extractfile(member)
                if fh is None:
                    raise OSError("archive member has no data")
                return read_bounded(fh, max_member_bytes)

            yield InputFile(source=source, read=reader)


def _members(n: int) -> str:
    return f"{n} member" if n == 1 else f"{n} members"


def _zip(path: str, fh, size: int, max_member_bytes, count):
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        count(size)
        yield InputFile(source=path, error=f"cannot open archive: {one_line(exc)}")
        return
    with archive:
        infos = archive.infolist()
        rest = size - sum(i.compress_size for i in infos)
        for info in infos:
            count(info.compress_size)
            if info.is_dir():
                continue
            name = info.filename
            source = f"{path}{MEMBER_SEPARATOR}{name}"
            mode = info.external_attr >> 16
            if mode and stat.S_ISLNK(mode):
                yield InputFile(source=source, skip=SKIP_ARCHIVE_LINK)
            elif (entry := _classify_member(source, name)) is not None:
                yield entry
            elif info.flag_bits & 0x1:
                yield InputFile(source=source, error="encrypted archive member")
            elif max_member_bytes is not None and info.file_size > max_member_bytes:
                yield InputFile(source=source, error=too_large(info.file_size, max_member_bytes))
            elif info.compress_type in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
                yield InputFile(source=source, read=lambda info=info: _zip_member(fh, info, max_member_bytes))
            else:

                def reader(info=info):
                    with archive.open(info) as member:
                        return read_bounded(member, max_member_bytes)

                yield InputFile(source=source, read=reader)
        count(max(0, rest))


def _zip_member(fh, info: zipfile.ZipInfo, limit: int | None) -> bytes:
    """A zip member compressed with bzip2 or LZMA, decompressed ``READ_CHUNK`` bytes at a time, never past
    ``limit`` or the size its header states, and checked against its CRC-32. (zipfile decompresses whatever one
    read of compressed bytes holds in one call: 550 MB for a 316-byte zip whose member states 100 bytes.)"""
    fh.seek(info.header_offset)
    head = fh.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local file header")
    fh.seek(info.header_offset + 30 + sum(struct.unpack("<HH", head[26:30])))
    left = info.compress_size
    if info.compress_type == zipfile.ZIP_BZIP2:
        decompressor, feed = bz2.BZ2Decompressor(), b""
    else:  # a 4-byte header and the LZMA properties, then a raw LZMA stream: read as .lzma with an unknown size
        n = struct.unpack("<2H", fh.read(4))[1]
        props = fh.read(n)
        left -= 4 + n
        decompressor, feed = lzma.LZMADecompressor(lzma.FORMAT_ALONE), props[:5] + b"\xff" * 8
    parts, total, crc = [], 0, 0
    while not decompressor.eof:
        if decompressor.needs_input:
            if left <= 0:
                break
            chunk = fh.read(min(left, READ_CHUNK))
            if not chunk:
                raise EOFError("the archive ends inside this member")
            left -= len(chunk)
            feed += chunk
        block = decompressor.decompress(feed, READ_CHUNK)
        feed = b""
        total += len(block)
        if limit is not None and total > limit:
            raise LoopkitError(too_large(None, limit))
        if total > info.file_size:
            raise zipfile.BadZipFile(f"the member holds more than the {info.file_size:,} bytes its header states")
        crc = zlib.crc32(block, crc)
        parts.append(block)
    if total != info.file_size or crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    return b"".join(parts)


def read_path(path: str | Path, max_bytes: int | None = None) -> bytes:
    """Read a file on disk; one larger than ``max_bytes`` raises ``ValueError`` (after reading at most
    ``max_bytes + 1`` bytes)."""
    with open(path, "rb") as fh:
        data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise LoopkitError(too_large(None, max_bytes))
    return data
