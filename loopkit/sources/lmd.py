"""Download LMD-full, the corpus of the paper's Data Preprocess section (Lakh MIDI Dataset, Raffel 2016, CC-BY 4.0),
with resume, a checksum check and a structural check of the archive; ``loopkit extract`` then reads the .tar.gz
directly.

Checksums: the Lakh MIDI Dataset's page (https://colinraffel.com/projects/lmd/) publishes no checksum for
``lmd_full.tar.gz``; ``OFFICIAL_MD5`` is therefore ``None``. Pass ``md5=``/``sha256=`` (``--md5``/``--sha256``)
when you have a digest you trust. Every download is verified structurally instead, which catches truncation and
corruption: the gzip stream is decompressed end to end (its CRC-32 and length trailer checked), the tar is read
to its end, the files are counted, and every member named like LMD's files (``<32 hex digits>.mid``, the MD5 of
the file's bytes) must have that MD5. The archive's MD5 and SHA-256 are printed and recorded in
``lmd_full.tar.gz.json`` so a user can compare them with another copy. The official address is plain http, so
these checks catch accidents, not a network that rewrites the download: a digest you trust is the only defence
against that. Members are hashed as streams (memory stays flat, whatever a member's size), and the file name a
download is saved under must be a plain .tar.gz name (``archive_name``).

Resume: bytes arrive in ``<name>.part``; a later run (or an automatic retry after a dropped connection) asks
for the rest with an HTTP ``Range: bytes=N-`` request. A server that answers ``200`` instead of ``206`` ignores
Range, so the part file is truncated and the download restarts cleanly from byte 0. Only a verified archive is
renamed (atomically) to its final name; a file that fails a check is deleted, never left under the final name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from http.client import HTTPException
from pathlib import Path
from typing import Callable

from loopkit.atomic import file_hash, write_json
from loopkit.data.inputs import MAX_FILE_MIB
from loopkit.errors import LoopkitError
from loopkit.version import __version__

LMD_FULL_URL = "http://hog.ee.columbia.edu/craffel/lmd/lmd_full.tar.gz"
LMD_FULL_NAME = "lmd_full.tar.gz"
#: No official checksum of lmd_full.tar.gz is published (see the module docstring).
OFFICIAL_MD5: str | None = None
#: How LMD names its files: the MD5 of the file's bytes.
LMD_MEMBER_NAME = re.compile(r"(?:^|/)([0-9a-f]{32})\.mid$")
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that could not finish (network, HTTP status) or an archive that failed its checks."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected digest."""


def check_hex(value: str | None, length: int, name: str) -> str | None:
    """A digest given as ``length`` hexadecimal digits, lower case (None stays None); ``name`` is what the error
    calls it."""
    if value is None:
        return None
    value = value.strip().lower()
    if not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
        raise LoopkitError(f"{name} must be {length} hexadecimal digits, not {value!r}")
    return value


def _total_from_content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/total`` or ``bytes */total`` header."""
    if not header:
        return None, None
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header)
    if not m:
        return None, None
    first = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return first, total


def download_file(
    url: str,
    part: str | os.PathLike,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    backoff_s: float = 2.0,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
) -> Path:
    """Download ``url`` into ``part``, continuing a partial file with HTTP Range requests; return ``part``.

    A dropped connection, a timeout or a server error (5xx) is retried, after a pause of ``backoff_s`` that
    doubles up to 30 s, up to ``retries`` times in a row; an attempt that brought new bytes starts the count
    afresh, so a long download over a flaky line keeps going while it makes progress. When the server announces
    a size the file must reach it; a server that ignores Range (status 200) restarts the file from byte 0.

    Raises
    ------
    DownloadError
        On an HTTP error status, or when the retries are spent; the part file is kept for the next run.
    """
    from tqdm import tqdm

    say = echo or (lambda _msg: None)
    part = Path(part)
    part.parent.mkdir(parents=True, exist_ok=True)
    if not part.exists():
        part.touch()
    failures, pause = 0, backoff_s
    while True:
        have = part.stat().st_size
        headers = {"User-Agent": f"loopkit/{__version__}"}
        if have:
            headers["Range"] = f"bytes={have}-"
        total = None
        error: Exception | None = None
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
                if resp.status == 206:
                    first, total = _total_from_content_range(resp.headers.get("Content-Range"))
                    if first != have:  # not the range we asked for: start again rather than splice wrong bytes
                        say(f"server answered a different range ({resp.headers.get('Content-Range')}); restarting")
                        part.write_bytes(b"")
                        continue
                else:
                    if have:
                        say(f"server ignored the Range request (status {resp.status}); restarting from byte 0")
                        have = 0
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                with open(part, "r+b") as f, tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=part.name.removesuffix(".part"),
                    disable=not progress,
                ) as bar:
                    f.seek(have)
                    f.truncate()
                    while block := resp.read(CHUNK):
                        f.write(block)
                        bar.update(len(block))
                    f.flush()
                    os.fsync(f.fileno())
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # we asked for bytes past the end: the part may be complete already
                _, total = _total_from_content_range(exc.headers.get("Content-Range"))
                if total == have:
                    return part
                say(f"server refused the range from byte {have} (size {total}); restarting from byte 0")
                part.write_bytes(b"")
                continue
            if exc.code >= 500 or exc.code == 429:
                error = exc
            else:
                raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, HTTPException, OSError) as exc:  # refused, reset, timeout, DNS
            error = exc
        got = part.stat().st_size
        if error is None and (total is None or got == total):
            return part
        if error is None:
            error = ConnectionError(f"connection closed after {got:,} of {total:,} bytes")
        failures = 1 if got > have else failures + 1  # progress starts the count afresh
        if failures > retries:
            reason = getattr(error, "reason", None) or error
            if got == 0:
                part.unlink(missing_ok=True)
                raise DownloadError(
                    f"network failure downloading {url}: {reason}; check the connection (a proxy is taken from "
                    f"http_proxy/https_proxy) and run the same command again"
                )
            raise DownloadError(
                f"network failure downloading {url}: {reason}; {got:,} bytes are kept in {part}: "
                f"run the same command again to resume"
            )
        say(f"download interrupted ({error}); " + (f"resuming from byte {got:,}" if got else "retrying"))
        time.sleep(min(pause, 30.0))
        pause = min(pause * 2, 30.0)


class _HashingReader:
    """A read-only file wrapper that feeds every byte read to MD5 and SHA-256 and to a progress bar."""

    def __init__(self, f, bar):
        self.f, self.bar = f, bar
        self.md5, self.sha256 = hashlib.md5(), hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.md5.update(data)
        self.sha256.update(data)
        self.bar.update(len(data))
        return data

    def readable(self) -> bool:
        return True


def verify_tar_gz(path: str | os.PathLike, progress: bool = True,
                  max_member_bytes: int | None = int(MAX_FILE_MIB * 2**20)) -> dict:  # fmt: skip
    """Read a .tar.gz end to end in one pass and return its digests and counts.

    Members are streamed, never read whole: memory stays flat whatever a member's size. A member named by an MD5
    but larger than ``max_member_bytes`` (extraction's limit, ``loopkit.data.inputs.MAX_FILE_MIB``) is not hashed:
    extraction fails such a file without reading it.

    Returns
    -------
    dict
        ``bytes`` (compressed size), ``md5``, ``sha256`` (of the compressed file), ``files`` (regular members),
        ``md5_named`` (members named ``<md5>.mid`` whose bytes have that MD5), ``too_large`` (members named by an
        MD5 over the size limit, not hashed), ``uncompressed_bytes``.

    Raises
    ------
    DownloadError
        When the gzip stream or the tar is truncated or corrupt, a member named by an MD5 has other bytes, or the
        archive holds no file.
    """
    from tqdm import tqdm

    path = Path(path)
    size = path.stat().st_size
    files = md5_named = too_large = content = 0
    with open(path, "rb") as raw, tqdm(
        total=size, unit="B", unit_scale=True, unit_divisor=1024, desc="verifying", disable=not progress
    ) as bar:
        reader = _HashingReader(raw, bar)
        try:
            with gzip.GzipFile(fileobj=reader, mode="rb") as gz:
                with tarfile.open(fileobj=gz, mode="r|") as tar:
                    for member in tar:
                        if not member.isfile():
                            continue
                        files += 1
                        content += member.size
                        m = LMD_MEMBER_NAME.search(member.name)
                        if m:
                            if max_member_bytes is not None and member.size > max_member_bytes:
                                too_large += 1  # extraction fails it unread; streamed past, never hashed
                                continue
                            digest, fh = hashlib.md5(), tar.extractfile(member)
                            while block := fh.read(CHUNK):  # streamed: a huge member costs one chunk of memory
                                digest.update(block)
                            if digest.hexdigest() != m.group(1):
                                raise DownloadError(
                                    f"{path.name} is corrupt: member {member.name} does not have the MD5 its name "
                                    f"states"
                                )
                            md5_named += 1
                while gz.read(CHUNK):  # past the tar's end: the rest of the gzip stream, to check its trailer
                    pass
        except (EOFError, OSError, zlib.error, tarfile.TarError) as exc:
            raise DownloadError(f"{path.name} is truncated or corrupt: {exc}") from None
        while reader.read(CHUNK):  # bytes gzip did not need (none in a well-formed file): hash them too
            pass
    if files == 0:
        raise DownloadError(f"{path.name} holds no files")
    return {
        "bytes": size,
        "md5": reader.md5.hexdigest(),
        "sha256": reader.sha256.hexdigest(),
        "files": files,
        "md5_named": md5_named,
        "too_large": too_large,
        "uncompressed_bytes": content,
    }




def archive_name(url_path: str) -> str:
    """The file name a download is saved under: the last segment of the address's path, percent-decoded
    (``LMD_FULL_NAME`` when the path ends in ``/``). It must be a plain ``.tar.gz``/``.tgz`` file name: an address
    ending in ``%2e%2e`` would otherwise name the download folder's parent, which "is already downloaded"."""
    last = url_path.rsplit("/", 1)[-1]
    if not last:
        return LMD_FULL_NAME
    name = urllib.parse.unquote(last)
    if (name.startswith(".") or re.search(r"[\x00-\x1f\x7f/\\]", name) or len(name.encode()) > 255
            or not name.lower().endswith((".tar.gz", ".tgz"))):  # fmt: skip
        raise LoopkitError(
            f"the download address must end in the archive's file name ({LMD_FULL_NAME} or another .tar.gz), "
            f"not {last!r}"
        )
    return name


def download_lmd(
    out: str | os.PathLike,
    url: str = LMD_FULL_URL,
    md5: str | None = None,
    sha256: str | None = None,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    backoff_s: float = 2.0,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
) -> Path:
    """Download LMD-full (or the archive at ``url``) into ``out``, verify it, and return the archive's path.

    The archive keeps the URL's file name (``lmd_full.tar.gz``). A run that finds it under its final name does
    nothing (only verified archives get that name), except to compare a digest given now. Verification: the
    given ``md5``/``sha256`` (none is published officially: ``OFFICIAL_MD5`` is ``None``) and
    :func:`verify_tar_gz`; the result is recorded in ``<name>.json`` beside the archive.

    Raises
    ------
    ValueError
        For a malformed digest, a URL that is not http(s) or one that does not end in a .tar.gz file name.
    ChecksumError
        When a given digest does not match; the downloaded file is deleted.
    DownloadError
        On network failure (the partial file is kept for resuming) or a corrupt archive (deleted).
    """
    say = echo or (lambda _msg: None)
    md5 = check_hex(md5 or OFFICIAL_MD5, 32, "md5")
    sha256 = check_hex(sha256, 64, "sha256")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise LoopkitError(f"the url must be an http:// or https:// address, not {url!r}")
    name = archive_name(parsed.path)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LoopkitError(f"the download folder {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    final, part, record = out / name, out / f"{name}.part", out / f"{name}.json"

    if final.exists():
        for algorithm, expected in (("md5", md5), ("sha256", sha256)):
            if expected and file_hash(final, algorithm) != expected:
                raise ChecksumError(
                    f"{final} is already here but its {algorithm.upper()} is not {expected}; delete it to download "
                    f"again"
                )
        say(f"{final} is already downloaded and verified; nothing to do")
        return final

    if not (md5 or sha256):
        say(
            "note: the Lakh MIDI Dataset publishes no checksum for its archive; the download is verified "
            "structurally (gzip and tar read end to end, files counted, MD5-named files checked)"
        )
    download_file(url, part, retries=retries, timeout=timeout, backoff_s=backoff_s, progress=progress, echo=echo)
    try:
        facts = verify_tar_gz(part, progress=progress)
    except DownloadError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{exc}; the download was deleted: run the same command again") from None
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected and facts[algorithm] != expected:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"the {algorithm.upper()} of the download is {facts[algorithm]}, expected {expected}; the file was "
                f"deleted: run the same command again to download it afresh"
            )
    checked = [a.upper() for a, e in (("md5", md5), ("sha256", sha256)) if e] + ["archive structure"]
    write_json(record, {"url": url, "file": name, "checked": checked, **facts}, indent=1)
    os.replace(part, final)
    oversized = f"; {facts['too_large']:,} over the {MAX_FILE_MIB:g} MiB limit, not hashed" if facts["too_large"] else ""
    say(
        f"{final}: {facts['bytes']:,} bytes, {facts['files']:,} files ({facts['md5_named']:,} named by MD5 and "
        f"matching{oversized}), MD5 {facts['md5']}, SHA-256 {facts['sha256']}; verified by {', '.join(checked)}"
    )
    return final
