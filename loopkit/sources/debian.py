"""Debian packages as data sources: fetched with ``apt-get download`` (no installation, no root), checked by their
control data, unpacked with ``dpkg-deb -x`` (or, where dpkg-deb is missing, with this module's reader of the .deb
format); the common ground of the demo corpus's sources (``loopkit.sources.games``, ``loopkit.sources.grooves``).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from loopkit.errors import LoopkitError

#: Seconds ``apt-get download`` may take before the run gives up.
APT_TIMEOUT_S = 900


class DebianSourceError(RuntimeError):
    """A Debian package could not be obtained (no apt, no mirror, a missing or wrong .deb); the text says what to do.

    ``manual`` is True when the remedy is to download the .deb files by hand and pass their folder as ``debs``.
    """

    def __init__(self, message: str, manual: bool = False):
        super().__init__(message)
        self.manual = manual


# ---------------------------------------------------------------------------------------------------------
# .deb files


def download_page(package: str) -> str:
    """Where a person gets a package's .deb by hand."""
    return f"https://packages.debian.org/stable/all/{package}/download"


def manual_instructions(packages: list[str] | tuple[str, ...]) -> str:
    """What to do where apt-get cannot fetch ``packages``: the pages to download them from, and the ``debs`` folder."""
    pages = ", ".join(download_page(p) for p in packages)
    return f"download the .deb files by hand ({pages}) into one folder and give that folder as debs"


def _ar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Members of a Unix ``ar`` archive (the container of a .deb): 8-byte magic, then 60-byte headers + data."""
    if not data.startswith(b"!<arch>\n"):
        raise LoopkitError("not a .deb file (no ar archive magic)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        if header[58:60] != b"`\n":
            raise LoopkitError(f"corrupt .deb: bad ar member header at byte {pos}")
        name = header[0:16].decode("ascii", errors="replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = pos + 60
        if start + size > len(data):
            raise LoopkitError(f"corrupt .deb: member {name!r} is truncated")
        yield name, data[start : start + size]
        pos = start + size + (size % 2)  # members are padded to an even offset


def _deb_tar(deb: Path, prefix: str) -> tarfile.TarFile:
    """Open the ``control.tar.*`` or ``data.tar.*`` member of a .deb with Python's tarfile."""
    for name, payload in _ar_members(deb.read_bytes()):
        if name.startswith(prefix + ".tar"):
            if name.endswith(".zst"):
                raise DebianSourceError(
                    f"{deb.name} compresses its {name} with zstd, which Python's tarfile cannot read here; "
                    f"install dpkg (it provides dpkg-deb) and run again"
                )
            return tarfile.open(fileobj=io.BytesIO(payload), mode="r:*")
    raise DebianSourceError(f"{deb.name} has no {prefix}.tar member: not a Debian package")


def _has_dpkg(use_dpkg: bool | None) -> bool:
    found = shutil.which("dpkg-deb") is not None
    if use_dpkg and not found:
        raise DebianSourceError("dpkg-deb was not found; leave use_dpkg unset to read the .deb with Python instead")
    return found if use_dpkg is None else use_dpkg


def deb_fields(deb: str | os.PathLike, use_dpkg: bool | None = None) -> dict[str, str]:
    """The ``Package`` and ``Version`` fields of a .deb's control file."""
    deb = Path(deb)
    if _has_dpkg(use_dpkg):
        proc = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Package", "Version"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise DebianSourceError(f"{deb.name} is not a readable Debian package: {proc.stderr.strip()}")
        text = proc.stdout
    else:
        try:
            with _deb_tar(deb, "control") as tar:
                member = next(m for m in tar.getmembers() if PurePosixPath(m.name).name == "control")
                text = tar.extractfile(member).read().decode("utf-8", errors="replace")
        except (ValueError, tarfile.TarError, StopIteration) as exc:
            raise DebianSourceError(f"{deb.name} is not a readable Debian package: {exc}") from None
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("Package", "Version"):
            fields[key] = value.strip()
    if set(fields) != {"Package", "Version"}:
        raise DebianSourceError(f"{deb.name} has no Package/Version in its control file")
    return fields


def extract_deb(deb: str | os.PathLike, dest: str | os.PathLike, use_dpkg: bool | None = None) -> Path:
    """Unpack a .deb's files into ``dest`` without installing it (``dpkg-deb -x``, or Python's tarfile).

    The Python reader writes regular files only (no links, no device files) and refuses paths that leave
    ``dest``.
    """
    deb, dest = Path(deb), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if _has_dpkg(use_dpkg):
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DebianSourceError(f"dpkg-deb could not unpack {deb.name}: {proc.stderr.strip()}")
        return dest
    try:
        with _deb_tar(deb, "data") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = PurePosixPath(member.name).parts
                parts = tuple(p for p in parts if p not in ("", "."))
                if not parts or ".." in parts or PurePosixPath(member.name).is_absolute():
                    raise DebianSourceError(f"{deb.name} holds an unsafe path {member.name!r}")
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (ValueError, tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, DebianSourceError):
            raise
        raise DebianSourceError(f"could not unpack {deb.name}: {exc}") from None
    return dest


def find_debs(folder: str | os.PathLike, packages: list[str], use_dpkg: bool | None = None) -> dict[str, Path]:
    """The .deb file of each package in ``folder`` (named ``<package>_<version>_<arch>.deb`` as Debian names them).

    Raises :class:`DebianSourceError` naming every package that is missing or present more than once, and when a
    file's control data names another package.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder of .deb files {folder} does not exist")
    found, problems = {}, []
    for package in packages:
        candidates = sorted(folder.glob(f"{package}_*.deb"))
        if not candidates:
            problems.append(f"no {package}_*.deb")
        elif len(candidates) > 1:
            problems.append(f"several {package} .deb files ({', '.join(c.name for c in candidates)}); keep one")
        else:
            found[package] = candidates[0]
    if problems:
        raise DebianSourceError(f"in {folder}: {'; '.join(problems)}. To get them, {manual_instructions(packages)}",
                                manual=True)  # fmt: skip
    for package, deb in found.items():
        actual = deb_fields(deb, use_dpkg)["Package"]
        if actual != package:
            raise DebianSourceError(f"{deb} is the package {actual!r}, not {package!r}")
    return found


def download_debs(packages: list[str], dest: str | os.PathLike) -> dict[str, Path]:
    """``apt-get download`` the packages into ``dest`` (no installation, no root needed).

    Raises :class:`DebianSourceError` with what to do instead when apt-get is missing or cannot reach a mirror.
    """
    dest = Path(dest)
    wanted = tuple(packages)
    apt = shutil.which("apt-get")
    if apt is None:
        raise DebianSourceError(f"apt-get was not found (not a Debian or Ubuntu system); {manual_instructions(wanted)}",
                              manual=True)  # fmt: skip
    try:
        proc = subprocess.run(
            [apt, "download", *packages], cwd=dest, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise DebianSourceError(
            f"apt-get download took longer than {APT_TIMEOUT_S} s; check the network, or {manual_instructions(wanted)}",
            manual=True,
        ) from None
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("E:")] or proc.stderr.splitlines()
        first = errors[0] if errors else f"exit status {proc.returncode}"
        hint = ""
        if "Unable to locate package" in proc.stderr or "has no installation candidate" in proc.stderr:
            hint = "run `sudo apt-get update` first (Ubuntu has these packages in universe), or "
        raise DebianSourceError(f"apt-get download failed ({first}); {hint}{manual_instructions(wanted)}", manual=True)
    return find_debs(dest, packages)


@contextlib.contextmanager
def folder_lock(out: Path, command: str):
    """Hold an exclusive lock on a corpus folder itself (no lock file that ``loopkit extract`` would list);
    ``command`` names what writes it, for the message a second writer gets."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock
        yield
        return
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DebianSourceError(f"another `{command}` is writing {out}; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


#: The prefix of a corpus folder's work in progress: a folder that only an interrupted run leaves behind.
PARTIAL_PREFIX = ".partial-"


@contextlib.contextmanager
def corpus_folder(out: str | os.PathLike, command: str = "loopkit data") -> Iterator[Path]:
    """A corpus folder made ready to write: created if needed (a file there is a ``LoopkitError``), held under
    ``folder_lock`` while the block runs, and cleared of the ``PARTIAL_PREFIX`` folders an interrupted run left."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LoopkitError(f"the corpus folder {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, command):
        for stale in out.glob(PARTIAL_PREFIX + "*"):  # left by an interrupted run
            shutil.rmtree(stale, ignore_errors=True)
        yield out
