"""Reliability figures: loopkit attacked as a hostile corpus and a hostile network would, and counted.

Builds its own hostile inputs (the crafted files of ``tests/test_hardening.py`` and many more: MIDI files cut at
every few bytes and with random bytes changed, header lies, names that are not UTF-8 or hold control characters,
links out of the corpus, a file that never ends, FIFOs named like archives, archives that lie about their members
or expand a million times over), then:

* extracts them with worker processes and checks that the run finishes and accounts for every file;
* kills extraction (SIGKILL) at random moments and checks that the resumed run writes the bytes of an
  uninterrupted one, leaving no temporary behind; kills training the same way and compares the weights;
* flips one bit in each file of a data set and checks that ``load_loops`` names it;
* starts two trainings into one run folder at once and checks that one is refused in one line;
* loads crafted checkpoints (bad configurations; NaN, infinite, meta-device, complex weights) and checks that each
  is one line and no code ran; generates from finite weights whose outputs overflow;
* sends malformed requests to the rating server, rates through it beside 150 clients that trickle a byte a
  second, holds every connection of a 100-connection server with 110 clients that trickle a byte every 10 s, and
  kills it (SIGKILL) while listeners rate, checking that no rating is lost or stored twice; forges ratings as a
  page of another origin would (another port of 127.0.0.1, ``Origin: null``, no token or another session's) and
  states 1 GB bodies from 4 clients at once, measuring what the server spools to temporary files (issue 28);
* measures the parent's peak memory and time on a zip member that lies about its size, a huge LMD member, bzip2
  and xz tar bombs and a zip's bzip2 member that lies about its size (issue 21);
* guesses the group of a listening-test stimulus from its bytes, as OGG and as the WAV loopkit serves.

    python benchmarks/hostile.py [--kills 10] [--train-kills 3] [--server-kills 3] [--seed 0]

Prints one line per attack and a Markdown table for the README's reliability section; the exit status is 1 when
something did not hold. Takes a few minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' MIDI builder and crafted inputs, not copied here

from midi_builder import build, drum, loop_song, note, program, track, write  # noqa: E402
from test_hardening import (  # noqa: E402
    crafted_checkpoints,
    lmd_archive_with_a_huge_member,
    lying_compressed_zip,
    lying_zip,
    refused_by_the_parser,
    tar_bomb,
    two_group_stimuli,
    with_tempo,
)

DATASET_FILES = ("rolls.npy", "loops.csv", "files.csv", "failures.csv", "settings.json", "funnel.json",
                 "manifest.json")  # fmt: skip
ROWS: list[tuple[str, str, str, bool]] = []  # (attack, tried, result, held)


def report(attack: str, tried: str, result: str, held: bool) -> None:
    ROWS.append((attack, tried, result, held))
    print(f"{'held  ' if held else 'FAILED'}  {attack}: {tried} -> {result}", flush=True)


def kill_once_progressing(p: subprocess.Popen, progressed, delay: float) -> bool:
    """SIGKILL ``p`` at a random moment up to ``delay`` seconds after ``progressed()`` first holds (so the kill
    lands in the work, not in the start-up); False when it ended first."""
    while p.poll() is None and not progressed():
        time.sleep(0.01)
    time.sleep(random.uniform(0, delay))
    if p.poll() is not None:
        p.communicate()
        return False
    p.send_signal(signal.SIGKILL)
    p.communicate()
    return True


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "loopkit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT, **kw)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# a hostile corpus


def hostile_corpus(root: Path, rng: random.Random) -> int:
    """Write the hostile files and archives under ``root``; returns the number of entries they hold."""
    song = loop_song(10, crash_bars=(0, 1))
    n = 0

    def put(rel: str | bytes, data: bytes) -> None:
        nonlocal n
        path = os.path.join(os.fsencode(root), rel if isinstance(rel, bytes) else os.fsencode(rel))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        n += 1

    for cut in range(0, len(song), 7):  # cut everywhere: inside the header, at and inside every chunk
        put(f"cut/{cut:05d}.mid", song[:cut])
    for i in range(80):  # 1 to 8 random bytes changed
        data = bytearray(song)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        put(f"flipped/{i:03d}.mid", bytes(data))
    for i in range(10):
        put(f"noise/{i:02d}.mid", b"MThd" + rng.randbytes(rng.randint(0, 5000)))
        put(f"noise/raw{i:02d}.mid", rng.randbytes(rng.randint(0, 5000)))
    header = {
        "65535 tracks": song[:10] + (65535).to_bytes(2, "big") + song[12:],
        "header length 2^31": song[:4] + (2**31).to_bytes(4, "big") + song[8:],
        "division 0": song[:12] + b"\0\0" + song[14:],
        "SMPTE": song[:12] + bytes([0xE7, 0x28]) + song[14:],
        "RIFF WAVE": b"RIFF\x10\0\0\0WAVEfmt " + song,
        "RMID without data": b"RIFF\x04\0\0\0RMID",
        "empty": b"",
        "text": b"not music\n" * 50,
        "track length 2^32-1": song[:18] + b"\xff\xff\xff\xff" + song[22:],
    }
    for i, data in enumerate(header.values()):
        put(f"header/{i:02d}.mid", data)
    for i, data in enumerate(refused_by_the_parser().values()):
        put(f"parser/{i}.mid", data)
    for us in (0, 1, 59_999):
        put(f"tempo/{us}.mid", with_tempo(us))
    put("length/absurd.mid", build(track(program(33, channel=1), note(40, 0, 480, channel=1)),
                                   track(drum(36, 0), drum(49, 0), drum(36, 2**27))))  # fmt: skip
    put(b"names/caf\xe9/s\xe9.mid", song)  # Latin-1 names
    put(b"names/\xff\xfe.mid", song)
    big = root / "big" / "too_large.mid"  # over the 64 MiB limit (sparse: no disk space used)
    big.parent.mkdir()
    with open(big, "wb") as fh:
        fh.write(song)
        fh.truncate(65 << 20)
    n += 1
    (root / "links").mkdir()
    (root / "links" / "passwd.mid").symlink_to("/etc/passwd")
    (root / "links" / "dangling.mid").symlink_to(root / "nowhere.mid")
    (root / "links" / "up.mid").symlink_to(Path("..") / ".." / "elsewhere.mid")
    n += 3
    os.mkfifo(root / "links" / "never_ends.mid")  # a read that blocks forever: the per-file time limit
    n += 1
    # archives: a member lying about its size, Latin-1 member names, a link member, a nested archive, a cut tar.gz
    (root / "archives").mkdir()
    lying_zip(root / "archives" / "bomb.zip", 256 << 20)  # bomb.mid: 256 MiB stating 100 bytes; song.mid
    n += 2
    with tarfile.open(root / "archives" / "old.tar", "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        for name, data in (("caf\xe9/a.mid", song), ("caf\xe9/b.mid", song[:300])):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("caf\xe9/link.mid")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        inner = tarfile.TarInfo("inner.zip")
        inner.size = 4
        tar.addfile(inner, io.BytesIO(b"PK\x03\x04"))
    n += 4
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(20):
            info = tarfile.TarInfo(f"c/{i:02d}.mid")
            info.size = len(song)
            tar.addfile(info, io.BytesIO(song))
    put("archives/cut.tar.gz", buf.getvalue()[: len(buf.getvalue()) // 2])  # members before the cut, then a failure
    # second round (issue 21): archives that are FIFOs, bombs in bz2 and xz, names with control characters
    for name in ("fifo.tar.gz", "fifo.zip"):  # opening one for reading blocks for ever
        os.mkfifo(root / "archives" / name)
    n += 2
    for suffix in (".tar.bz2", ".tar.xz"):  # 256 MiB of zeros in a few hundred bytes: the member, then the bomb
        tar_bomb(root / "archives" / f"bomb{suffix}", 256 << 20, "zeros.mid")
        n += 2
    lying_compressed_zip(root / "archives" / "bomb-bz2.zip", 256 << 20, zipfile.ZIP_BZIP2)  # states 100 bytes
    n += 2
    put(b"names/carriage\rreturn.mid", song)
    with tarfile.open(root / "archives" / "names.tar", "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        for name in CONTROL_NAMES + ["twice.mid", "twice.mid"]:  # and a name met twice
            info = tarfile.TarInfo(name)
            info.size = len(song)
            tar.addfile(info, io.BytesIO(song))
    n += len(CONTROL_NAMES) + 2
    zipfile.ZipFile(root / "archives" / "empty.zip", "w").close()  # listed as an archive that holds no file
    n += 1
    return n


#: tar member names with a carriage return, a line feed, quotes and commas, and every byte but NUL and "/"
CONTROL_NAMES = ["a\rb.mid", "c\r\nd.mid", 'e",\r\nf.mid',
                 bytes(b for b in range(1, 256) if b != ord("/")).decode("latin-1") + ".mid"]


def clean_corpus(root: Path, copies: int) -> None:
    songs = [loop_song(8 + i % 5, bass_pitch=30 + i, bpm=100 + i, crash_bars=(0, 1)) for i in range(25)]
    for k in range(copies):
        for i, data in enumerate(songs):
            write(root / f"{k:03d}" / f"s{i:02d}.mid", data)


# ---------------------------------------------------------------------------------------------------------
# extraction


EXTRACT_FLAGS = ["--workers", "2", "--time-limit", "3", "--quiet"]


def extraction_attacks(work: Path, rng: random.Random, kills: int) -> Path:
    from loopkit.data.dataset import load_loops

    hostile = work / "hostile"
    entries = hostile_corpus(hostile, rng)
    out = work / "hostile-loops"
    p = cli("extract", str(hostile), "--out", str(out), *EXTRACT_FLAGS)
    _, err = p.communicate(timeout=600)
    ds = load_loops(out) if p.returncode == 0 else None
    if ds is None:
        report("hostile extraction inputs", f"{entries} files and archive members", f"the run ended: {err[-300:]}", False)
        return out
    counts = ds.files["status"].value_counts().to_dict()
    seen = len(ds.files)
    texts = b"".join((out / n).read_bytes() for n in ("files.csv", "failures.csv"))
    leaked = any(secret in texts for secret in (b"root:", b"/bin/"))
    held = seen >= entries and not leaked and (out / "files.csv").read_bytes().decode("utf-8") is not None
    report("hostile extraction inputs", f"{seen} entries ({entries} crafted files and members)",
           f"the run finished and listed every one: {counts.get('used', 0)} used, {counts.get('rejected', 0)} "
           f"rejected, {counts.get('failed', 0)} failed with a reason, {counts.get('skipped', 0)} skipped; nothing "
           "of /etc/passwd in the output", held)  # fmt: skip

    from loopkit.data.inputs import readable_source

    rows = dict(zip(ds.files["source"], zip(ds.files["status"], ds.files["reason"])))
    archives = hostile / "archives"
    names = [str(hostile / "names" / "carriage\rreturn.mid")]
    names += [readable_source(f"{archives}/names.tar!{os.fsdecode(m.encode('latin-1'))}") for m in CONTROL_NAMES]
    named = sum(rows.get(name, ("",))[0] == "used" for name in names)
    twice = [rows.get(f"{archives}/names.tar!twice.mid{k}", ("",))[0] for k in ("", "#2")]
    fifos = [rows.get(str(archives / f), ("", ""))[1] for f in ("fifo.tar.gz", "fifo.zip")]
    empty = rows.get(str(archives / "empty.zip"), ("", ""))[1]
    held = (named == len(names) and twice == ["used", "used"] and fifos == ["not a regular file"] * 2
            and empty == "an archive that holds no file")  # fmt: skip
    report("names and archives of the second round", f"{len(names)} names with a carriage return, a line feed, "
           "quotes, every byte but NUL and /; a member name twice; an empty zip; FIFOs named .tar.gz and .zip",
           f"{named} of {len(names)} names back from load_loops as written; the repeated name as twice.mid and "
           f"twice.mid#2; the empty zip and the FIFOs listed ({empty!r}, {fifos[0]!r}), not read", held)  # fmt: skip
    bombs = [rows.get(str(archives / f"bomb{x}"), ("", ""))[1] for x in (".tar.bz2", ".tar.xz")]
    sizes = [(archives / f"bomb{x}").stat().st_size for x in (".tar.bz2", ".tar.xz")]
    report("compressed bombs in the corpus", f"a .tar.bz2 ({sizes[0]:,} bytes) and a .tar.xz ({sizes[1]:,} bytes) "
           "each holding 256 MiB of zeros, a zip whose bzip2 member holds 256 MiB and states 100 bytes",
           f"each listed: {bombs[0]!r}",
           all(b.startswith("a decompression bomb: 64 MiB") for b in bombs)
           and rows.get(f"{archives}/bomb-bz2.zip!bomb.mid", ("",))[0] == "failed")  # fmt: skip

    tolerant = work / "tolerant-loops"
    p = cli("extract", str(hostile), "--out", str(tolerant), "--tolerant-reader", *EXTRACT_FLAGS)
    p.communicate(timeout=600)
    recovered = load_loops(tolerant).funnel.get("recovered", 0) if p.returncode == 0 else -1
    report("tolerant reader (off by default)", "the same inputs with --tolerant-reader",
           f"{recovered} files recovered that the parser refuses", recovered > 0)  # fmt: skip

    # kills: the hostile corpus and a clean one of 5,000 files, killed at random moments, then resumed
    big = work / "big"
    clean_corpus(big, 200)
    sources = [str(hostile), str(big)]
    ref = work / "ref-loops"
    t0 = time.monotonic()
    p = cli("extract", *sources, "--out", str(ref), *EXTRACT_FLAGS)
    p.communicate(timeout=600)
    duration = time.monotonic() - t0
    out = work / "killed-loops"
    done = 0
    for _ in range(kills):
        journal = out / ".extract-journal"
        size = journal.stat().st_size if journal.exists() else 0
        p = cli("extract", *sources, "--out", str(out), *EXTRACT_FLAGS)
        done += kill_once_progressing(p, lambda: journal.exists() and journal.stat().st_size > size,
                                      min(1.5, duration / 10))  # fmt: skip
    p = cli("extract", *sources, "--out", str(out), *EXTRACT_FLAGS)
    p.communicate(timeout=600)
    same = p.returncode == 0 and all((ref / n).read_bytes() == (out / n).read_bytes() for n in DATASET_FILES)
    leftovers = [x.name for x in out.iterdir() if x.name.startswith(".")]
    report("SIGKILL of extraction", f"{done} kills at random moments of a {duration:.0f}-s run "
           f"({len(load_loops(ref).files):,} inputs)", "the resumed run wrote the bytes of an uninterrupted one"
           if same and not leftovers else f"differs or left {leftovers}", same and not leftovers)  # fmt: skip

    # one bit flipped in each file of the data set
    caught = 0
    for name in DATASET_FILES[:-1]:
        copy = work / f"flip-{name}"
        shutil.copytree(ref, copy)
        data = bytearray((copy / name).read_bytes())
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        (copy / name).write_bytes(bytes(data))
        try:
            load_loops(copy)
        except ValueError as exc:
            caught += name in str(exc) and "loopkit extract" in str(exc)
    report("data set integrity", f"one random bit flipped in each of the {len(DATASET_FILES) - 1} files",
           f"{caught} named by load_loops with the command that rebuilds it", caught == len(DATASET_FILES) - 1)
    return ref


# ---------------------------------------------------------------------------------------------------------
# memory: archives that lie


_PEAK = """
import sys, time
from loopkit.data.workers import peak_rss
kind, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if kind == "archive":
    from loopkit.data.inputs import iter_inputs
    for item in iter_inputs([path], max_member_bytes=64 << 20):
        if item.read is not None:
            try:
                item.read()
            except Exception:
                pass
else:
    from loopkit.sources.lmd import verify_tar_gz
    verify_tar_gz(path, progress=False)
print(peak_rss(), time.perf_counter() - started)
"""


def memory_attacks(work: Path) -> None:
    base = int(subprocess.run([sys.executable, "-c", "from loopkit.data.workers import peak_rss; import loopkit.data.inputs, "
                               "loopkit.sources.lmd; print(peak_rss())"], capture_output=True, text=True,
                              cwd=ROOT).stdout)  # fmt: skip
    zip_path = work / "archives-bomb.zip"
    lying_zip(zip_path, 512 << 20)
    lmd = lmd_archive_with_a_huge_member(work / "lmd_full.tar.gz", 256 << 20)
    bz2_tar = tar_bomb(work / "bomb.tar.bz2", 256 << 20, "zeros.bin")  # skipped: not a MIDI name, read through
    xz_tar = tar_bomb(work / "bomb.tar.xz", 256 << 20, "zeros.bin")
    bz2_zip = lying_compressed_zip(work / "bomb-bz2.zip", 256 << 20, zipfile.ZIP_BZIP2)
    cases = [("zip member stating 100 bytes", "archive", zip_path, "512 MiB", 64, None),
             ("LMD member named by its MD5", "tar", lmd, "256 MiB", 64, None),
             (f".tar.bz2 of {bz2_tar.stat().st_size:,} bytes, its member skipped", "archive", bz2_tar, "256 MiB",
              200, 10),
             (f".tar.xz of {xz_tar.stat().st_size:,} bytes, its member skipped", "archive", xz_tar, "256 MiB",
              200, 10),
             ("zip's bzip2 member stating 100 bytes", "archive", bz2_zip, "256 MiB", 64, 10)]  # fmt: skip
    for what, kind, path, size, mib, seconds in cases:
        peak, took = subprocess.run([sys.executable, "-c", _PEAK, kind, str(path)], capture_output=True, text=True,
                                    cwd=ROOT).stdout.split()  # fmt: skip
        peak, took = int(peak), float(took)
        extra = (peak - base) / 2**20
        report("archive memory and time", f"a {what}, {size} inside", f"peak memory {peak / 2**20:.0f} MiB "
               f"({extra:+.0f} MiB over importing the modules), {took:.2f} s",
               extra < 64 and peak < mib * 2**20 and (seconds is None or took < seconds))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# training and checkpoints


def training_attacks(work: Path, rng: random.Random, kills: int) -> Path:
    import pandas as pd
    import torch

    from loopkit.models.checkpoints import load_checkpoint
    from loopkit.data.dataset import FILE_COLUMNS, write_dataset
    from loopkit.data.synthetic import synthetic_dataset

    loops = synthetic_dataset(400, seed=5)
    write_dataset(work / "synthetic", loops.rolls.packed, loops.meta, pd.DataFrame(columns=FILE_COLUMNS), {}, {})
    args = ["train", "vq_vae", "--data", str(work / "synthetic"), "--profile", "smoke", "--device", "cpu",
            "--epochs", "30", "--quiet"]  # fmt: skip
    t0 = time.monotonic()
    p = cli(*args, "--out", str(work / "straight"))
    p.communicate(timeout=600)
    duration = time.monotonic() - t0
    done = 0
    last = work / "killed" / "last.pt"
    for _ in range(kills):
        before = mtime(last)
        p = cli(*args, "--out", str(work / "killed"))
        done += kill_once_progressing(p, lambda: mtime(last) != before, duration / 6)
    p = cli(*args, "--out", str(work / "killed"))
    p.communicate(timeout=600)
    a, b = load_checkpoint(work / "straight" / "last.pt"), load_checkpoint(work / "killed" / "last.pt")
    same = a["state_dict"].keys() == b["state_dict"].keys() and all(
        torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    report("SIGKILL of training", f"{done} kills of a {duration:.0f}-s smoke-profile VQ-VAE run",
           "the resumed run ended with the same weights, bit for bit" if same else "weights differ", same)

    bad = crafted_checkpoints(work / "straight" / "best.pt", work)
    one_line = 0
    for path, _ in bad.values():
        p = cli("generate", "--checkpoint", str(path), "-n", "1", "--out", str(work / "gen"))
        _, err = p.communicate(timeout=300)
        one_line += p.returncode == 2 and err.count("\n") == 1 and "weights_only" not in err
    ran = (work / "code-ran").exists()
    report("crafted checkpoints", f"{len(bad)} (K = 2^38, negative, string, NaN sizes, no weights, other shapes, "
           "pickled code, truncated, text; NaN, infinite, meta-device, complex, integer and sparse weights)",
           f"{one_line} refused in one line naming the file; code ran: {'yes' if ran else 'no'}",
           one_line == len(bad) and not ran)  # fmt: skip

    # finite weights whose outputs overflow: a CNN-VAE's decoder times 1e37
    p = cli("train", "cnn_vae", "--data", str(work / "synthetic"), "--profile", "smoke", "--device", "cpu",
            "--epochs", "2", "--quiet", "--out", str(work / "cnn"))  # fmt: skip
    p.communicate(timeout=600)
    ckpt = torch.load(work / "cnn" / "best.pt", weights_only=True)
    ckpt["state_dict"] = {k: v * 1e37 if k.startswith("decoder") and v.is_floating_point() else v
                          for k, v in ckpt["state_dict"].items()}  # fmt: skip
    torch.save(ckpt, work / "overflow.pt")
    p = cli("generate", "--checkpoint", str(work / "overflow.pt"), "-n", "2", "--out", str(work / "gen-overflow"))
    _, err = p.communicate(timeout=300)
    last = err.strip().splitlines()[-1] if err.strip() else ""  # after the progress bar the generation began
    held = (p.returncode == 2 and "Traceback" not in err and last.startswith("loopkit generate: error: ")
            and "output holds NaN or infinite values" in last)  # fmt: skip
    report("weights that overflow", "a CNN-VAE checkpoint whose decoder weights are finite but 1e37 times the "
           "trained ones", f"one line: {last.split('overflow.pt: ')[-1]}" if held else
           f"rc {p.returncode}: {err[-200:]}", held)  # fmt: skip
    writers_attack(work, args)
    return work / "straight"


def writers_attack(work: Path, args: list[str]) -> None:
    """Two trainings of different seeds started at once into one run folder (issue 28): one runs, the other is
    refused in one line; the folder ends as one run's (before: both exit 0, last.pt of one, best.pt of the other)."""
    import torch

    out = str(work / "two-writers")
    procs = [cli(*args, "--seed", str(seed), "--out", out) for seed in (0, 1)]
    ends = [(p.returncode, p.communicate(timeout=600)[1]) for p in procs]
    ends = [(p.returncode, err) for p, (_, err) in zip(procs, ends)]
    refused = [err for rc, err in ends if rc == 2 and "is being written by another run" in err
               and err.strip().count("\n") == 0]  # fmt: skip
    seeds = {torch.load(Path(out) / name, weights_only=True)["seed"] for name in ("last.pt", "best.pt")}
    held = sorted(rc for rc, _ in ends) == [0, 2] and len(refused) == 1 and len(seeds) == 1
    report("two writers of one folder", "two `loopkit train` runs of seeds 0 and 1 started at once into one folder",
           "one ran, the other was refused in one line naming it; last.pt and best.pt of one seed" if held else
           f"exit statuses {[rc for rc, _ in ends]}, seeds {sorted(seeds)}", held)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# the rating server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(stimuli: Path, db: Path, port: int, *flags: str) -> subprocess.Popen:
    p = cli("listen", "serve", "--stimuli", str(stimuli), "--db", str(db), "--port", str(port), *flags)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=2).read()
            return p
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError("the server did not start: " + (p.stderr.read() if p.poll() is not None else ""))
            time.sleep(0.2)


def listener(url: str, latencies: list[float] | None = None, retry_s: float = 0.0, pause: float = 0.0
             ) -> tuple[int, int]:  # fmt: skip
    """One listener through a whole session (retrying while the server is down for up to ``retry_s``, pausing up
    to ``pause`` seconds before each rating, as people do); returns (ratings acknowledged, requests retried)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    retried = 0

    def call(path, payload=None):
        nonlocal retried
        deadline = time.monotonic() + retry_s
        while True:
            data = json.dumps(payload if payload is not None else {}).encode()
            req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
            t0 = time.monotonic()
            try:
                with opener.open(req, timeout=20) as resp:
                    body = json.loads(resp.read())
                if latencies is not None:
                    latencies.append(time.monotonic() - t0)
                return body
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                if time.monotonic() > deadline:
                    raise
                retried += 1
                time.sleep(0.2)

    state = call("/api/start")
    state = call("/familiarised")
    acknowledged = 0
    while state.get("next"):
        time.sleep(random.uniform(0, pause))
        sid = state["next"]["id"]
        state = call("/rate", {"stimulus": sid, "rating": 1 + sum(map(ord, sid)) % 5})
        acknowledged += 1
    return acknowledged, retried


def bad_requests(url: str) -> tuple[int, int]:
    """Malformed and hostile requests; returns (sent, answered 4xx)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    headers = {"Content-Type": "application/json"}
    with opener.open(urllib.request.Request(url + "/api/start", data=b"{}", headers=headers)) as resp:
        fam = json.loads(resp.read())["familiarisation"][0]["id"]
    opener.open(urllib.request.Request(url + "/familiarised", data=b"{}", headers=headers)).read()
    sid = json.loads(opener.open(url + "/api/state").read())["next"]["id"]
    json_bodies = [{"stimulus": "0123456789abcdef", "rating": 3}, {"stimulus": "../stimuli.json", "rating": 3},
                   {"stimulus": 12, "rating": 3}, {"stimulus": fam, "rating": 3}, {"stimulus": sid},
                   [sid, 3], {"stimulus": sid, "rating": 3, "pad": "x" * 20_000}, {"stimulus": None, "rating": 3}]
    json_bodies += [{"stimulus": sid, "rating": r} for r in (0, 6, -1, 2.5, "3", True, None, [3], 1e308, "NaN")]
    requests = [("POST", "/rate", json.dumps(b).encode(), "application/json", True) for b in json_bodies]
    requests += [("POST", "/rate", b'{"stimulus": "' + sid.encode() + b'", "rating": ', "application/json", True),
                 ("POST", "/rate", b"rating=3", "text/plain", True),
                 ("POST", "/rate", f"stimulus={sid}&rating=9".encode(), "application/x-www-form-urlencoded", True),
                 ("POST", "/rate", b"\xff\xfe\x00garbage", "application/json", True),
                 ("POST", "/rate", json.dumps({"stimulus": sid, "rating": 3}).encode(), "application/json", False),
                 ("POST", "/familiarised", b"{}", "application/json", False),
                 ("GET", "/rate", None, None, True), ("PUT", "/rate", b"{}", "application/json", True),
                 ("DELETE", "/api/state", None, None, True)]  # fmt: skip
    for path in ("/audio/../stimuli.json", "/audio/%2e%2e%2fstimuli.json", "/audio/" + sid + ".ogg",
                 "/audio/" + "0" * 16 + ".wav", "/audio/" + sid.upper() + ".wav", "/audio/.wav",
                 "/audio/" + sid + ".wav/../../plan.json", "/midi/" + sid + ".mid", "/stimuli.json", "/plan.json",
                 "/audio/" + "a" * 5000 + ".wav"):  # fmt: skip
        requests.append(("GET", path, None, None, True))
    answered = 0
    for method, path, body, ctype, with_cookie in requests:
        req = urllib.request.Request(url + path, data=body, method=method,
                                     headers={"Content-Type": ctype} if ctype else {})  # fmt: skip
        try:
            (opener if with_cookie else urllib.request.build_opener()).open(req, timeout=10)
            print(f"  answered 2xx/3xx: {method} {path[:60]} {body[:60] if body else ''}")
        except urllib.error.HTTPError as exc:
            answered += 400 <= exc.code < 500
            if not 400 <= exc.code < 500:
                print(f"  answered {exc.code}: {method} {path[:60]} {body[:60] if body else ''}")
    # raw bytes that are not HTTP at all, and a cookie the server never issued
    for raw in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
                b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /rate HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nCookie: loopkit_listener=" + b"A" * 24 + b"\r\n" + b"X: " +
                b"y" * 20_000 + b"\r\n\r\n"):  # fmt: skip
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(raw)
            try:
                answer = s.recv(64)
            except (ConnectionResetError, TimeoutError):
                answer = b""
        requests.append(("RAW", "", raw, None, False))
        good = answer == b"" or (answer.startswith(b"HTTP/1.") and answer[9:10] == b"4")
        answered += good
        if not good:
            print(f"  raw request answered {answer[:20]!r}: {raw[:40]!r}")
    return len(requests), answered


def forged_requests(url: str) -> tuple[int, int, int]:
    """Ratings posted into a listener's session as another site's page would send them (issue 28); returns (sent,
    refused with 403, stored). The listener's own form, sent afterwards, must go through."""
    import re

    from loopkit.listening.app import CSRF_FIELD

    def session():
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(url + "/").read().decode()
        for path in ("/start", "/familiarised"):
            tok = re.search(rf'name="{CSRF_FIELD}" value="(\w+)"', page).group(1)
            page = opener.open(url + path, data=f"{CSRF_FIELD}={tok}".encode()).read().decode()
        tok = re.search(rf'name="{CSRF_FIELD}" value="(\w+)"', page).group(1)
        return opener, re.search(r'name="stimulus" value="(\w+)"', page).group(1), tok

    opener, sid, tok = session()
    _, _, other_tok = session()
    port = int(url.rsplit(":", 1)[1])
    other = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}"
    form = f"stimulus={sid}&rating=1"
    forms = "application/x-www-form-urlencoded"
    # the first four carry the session's token, as if it had leaked: the origin alone refuses them
    attempts = [(f"{form}&{CSRF_FIELD}={tok}", forms, {"Origin": other}),
                (f"{form}&{CSRF_FIELD}={tok}", forms, {"Origin": "null"}),
                (f"{form}&{CSRF_FIELD}={tok}", forms, {"Referer": other + "/attack.html"}),
                (f"{form}&{CSRF_FIELD}={tok}", forms, {"Origin": other, "Referer": url + "/"}),
                (form, forms, {}), (f"{form}&{CSRF_FIELD}=", forms, {}),
                (f"{form}&{CSRF_FIELD}={other_tok}", forms, {}),
                (f"{form}&{CSRF_FIELD}={tok[:-1]}", forms, {}), (form, "text/plain", {}),
                (json.dumps({"stimulus": sid, "rating": 1}), "application/json", {"Origin": other}),
                (json.dumps({"stimulus": sid, "rating": 1}), "application/json", {"Origin": "null"})]  # fmt: skip
    refused = 0
    for body, ctype, headers in attempts:
        req = urllib.request.Request(url + "/rate", data=body.encode(), headers={"Content-Type": ctype, **headers})
        try:
            opener.open(req, timeout=10)
            print(f"  forged rating accepted: {headers} {body[:60]}")
        except urllib.error.HTTPError as exc:
            refused += exc.code == 403
    state = json.loads(opener.open(url + "/api/state").read())
    stored = state["done"]
    req = urllib.request.Request(url + "/rate", data=f"stimulus={sid}&rating=4&{CSRF_FIELD}={tok}".encode(),
                                 headers={"Content-Type": forms, "Origin": url})  # fmt: skip
    opener.open(req, timeout=10).read()  # the listener's own rating
    own = json.loads(opener.open(url + "/api/state").read())["done"] == 1
    return len(attempts), refused, stored if own else -1


def spooled_bytes(pid: int) -> int:
    """Bytes in the deleted files a process holds open (waitress's spooled request bodies are such files)."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).endswith("(deleted)"):
                total += os.stat(fd).st_size
        except OSError:
            pass
    return total


def large_bodies(port: int, pid: int, clients: int = 4, seconds: float = 10.0) -> tuple[list[float], int, int]:
    """``clients`` connections at once, each stating a 1 GB body and sending it as fast as it can for up to
    ``seconds``; returns (seconds to each answer, -1 where none came; the most bytes spooled to temporary files at
    any moment; bytes the clients got out before the server closed)."""
    head = (b"POST /rate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + str(10**9).encode() + b"\r\n\r\n")  # 1 GB: waitress refused 1 GiB and more  # fmt: skip
    answers: list[float] = []
    sent = [0]
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], spooled_bytes(pid))

    def client():
        t0 = time.monotonic()
        chunk = b"x" * 2**20
        with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
            s.sendall(head)
            s.setblocking(False)
            got = b""
            while time.monotonic() - t0 < seconds and not got:
                try:
                    sent[0] += s.send(chunk)
                except (BlockingIOError, InterruptedError):
                    time.sleep(0.001)
                except OSError:
                    pass
                try:
                    got = s.recv(64)
                except BlockingIOError:
                    pass
                except OSError:
                    break
        answers.append(time.monotonic() - t0 if got.startswith(b"HTTP/1.1 413") else -1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(lambda _: client(), range(clients)))
    stop.set()
    sampler.join()
    return answers, max(peak[0], spooled_bytes(pid)), sent[0]


def server_attacks(work: Path, rng: random.Random, kills: int) -> None:
    from loopkit.listening.app import count_ratings
    from loopkit.listening.db import read_ratings
    stimuli = two_group_stimuli(work, per_group=5, familiarisation=1)  # 10 test loops, 1 to get familiar with
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = work / "ratings.sqlite"
    server = start_server(stimuli, db, port)
    try:
        sent, answered = bad_requests(url)
        stored = count_ratings(db)
        alive = listener(url)[0] == 10
        report("malformed HTTP requests", f"{sent} (bad JSON, wrong types, unknown and traversal ids, 20 KB bodies, "
               "no cookie, other methods, raw non-HTTP bytes)", f"{answered} answered 4xx or closed, {stored} "
               "written; the server went on serving", answered == sent and stored == 0 and alive)  # fmt: skip

        before = count_ratings(db)
        sent, refused, stored = forged_requests(url)
        report("forged ratings (CSRF)", f"{sent} ratings posted into a listener's session as another origin's page "
               "would: Origin of another port of 127.0.0.1 or null, a foreign Referer, no token, a wrong or another "
               "session's token, text/plain, JSON from another origin", f"{refused} refused with 403, {stored} "
               "stored; the listener's own rating then went through", refused == sent and stored == 0
               and count_ratings(db) == before + 1)  # fmt: skip
        answers, spooled, pushed = large_bodies(port, server.pid)
        report("large request bodies", f"{len(answers)} clients at once, each stating a 1 GB body and sending it "
               "as fast as it can", f"each answered 413 in at most {max(answers) * 1000:.0f} ms; {spooled:,} bytes "
               f"spooled to temporary files ({pushed / 2**20:.1f} MiB left the clients before the server closed)",
               min(answers) >= 0 and spooled == 0 and listener(url)[0] == 10)  # fmt: skip

        stop = threading.Event()
        slow = slow_clients(port, 150, every=1.0, stop=stop)
        time.sleep(2)
        latencies: list[float] = []
        with ThreadPoolExecutor(max_workers=20) as pool:
            acks = [a for a, _ in pool.map(lambda _: listener(url, latencies), range(20))]
        stop.set()
        for s in slow:
            s.close()
        rows = read_ratings(db)
        ok = acks == [10] * 20 and len(rows) == 10 + 200 and not rows.duplicated(["listener", "stimulus"]).any()
        lat = np.array(latencies)
        report("slow clients", "150 connections sending a byte a second, 20 listeners rating at once",
               f"every listener served ({sum(acks)} ratings stored once each); request time median "
               f"{np.median(lat) * 1000:.0f} ms, max {lat.max() * 1000:.0f} ms", ok)  # fmt: skip
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)

    trickling_attack(stimuli, work / "trickled.sqlite", port)

    # kills of the server while 10 listeners rate; each listener retries until it is back
    db2 = work / "killed.sqlite"
    server = start_server(stimuli, db2, port)
    results: list[tuple[int, int]] = []
    runner = threading.Thread(target=lambda: results.extend(
        ThreadPoolExecutor(max_workers=10).map(lambda _: listener(url, retry_s=60, pause=1.0), range(10))))  # fmt: skip
    runner.start()
    done = 0
    for _ in range(kills):
        time.sleep(rng.uniform(0.5, 1.5))
        if server.poll() is None:
            server.send_signal(signal.SIGKILL)
            server.communicate()
            done += 1
        server = start_server(stimuli, db2, port)
    runner.join(timeout=300)
    server.send_signal(signal.SIGINT)
    server.communicate(timeout=30)
    rows = read_ratings(db2)
    ok = [a for a, _ in results] == [10] * 10 and len(rows) == 100 and not rows.duplicated(["listener", "stimulus"]).any()
    report("SIGKILL of the rating server", f"{done} kills while 10 listeners rated ({sum(r for _, r in results)} "
           "requests retried)", f"{len(rows)} ratings stored for {sum(a for a, _ in results)} acknowledged, "
           f"duplicates: {int(rows.duplicated(['listener', 'stimulus']).sum())}", ok)  # fmt: skip


def slow_clients(port: int, n: int, every: float, stop: threading.Event) -> list[socket.socket]:
    """``n`` connections to the server on ``port``, each sending one more byte of a request head that never ends
    every ``every`` seconds (from a daemon thread) until ``stop`` is set; the caller closes them."""
    slow = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)

    def trickle():
        while not stop.wait(every):
            for s in slow:
                try:
                    s.send(b"a")
                except OSError:
                    pass

    threading.Thread(target=trickle, daemon=True).start()
    return slow


def trickling_attack(stimuli: Path, db: Path, port: int) -> None:
    """110 connections sending a byte of their request head every 10 s to a server holding 100: before the request
    deadline, none was ever silent for the 30-s channel timeout, and every listener request timed out."""
    from loopkit.listening.server import REQUEST_DEADLINE_S

    server = start_server(stimuli, db, port, "--connection-limit", "100")
    url = f"http://127.0.0.1:{port}"
    slow: list[socket.socket] = []
    stop = threading.Event()
    try:
        slow += slow_clients(port, 110, every=10.0, stop=stop)
        started = time.monotonic()
        served = None
        while served is None and time.monotonic() - started < 180:
            try:
                urllib.request.urlopen(url + "/api/state", timeout=5).read()
                served = time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        session = listener(url)[0] == 10 if served is not None else False
        open_ = set(range(len(slow)))  # those queued beyond the limit are taken, then closed, a deadline later
        while open_ and time.monotonic() - started < 240:
            for i in list(open_):
                slow[i].setblocking(False)
                try:
                    if slow[i].recv(1) == b"":
                        open_.discard(i)
                except BlockingIOError:
                    pass
                except OSError:
                    open_.discard(i)
            time.sleep(0.5)
        all_closed = time.monotonic() - started
    finally:
        stop.set()
        for s in slow:
            s.close()
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    report("trickling clients", "110 connections sending a byte every 10 s against --connection-limit 100",
           f"listeners served again {served:.0f} s after they connected (request deadline {REQUEST_DEADLINE_S} s) "
           f"and a whole session went through; {110 - len(open_)} of 110 closed by the server, the last after "
           f"{all_closed:.0f} s" if served is not None else "no listener served within 180 s",
           served is not None and session and not open_)  # fmt: skip


def listening_bytes_attack(work: Path) -> None:
    """The guess-the-group-from-the-bytes attack: two groups whose OGGs differ in size (busy and sparse loops),
    the best threshold on a byte count, as OGG (the padding's length in a padded OGG is this count) and as the
    WAV stimuli loopkit serves."""
    from loopkit.outputs.audio import roll_to_ogg
    from loopkit.listening.prepare import AUDIO_DIR, prepare_stimuli
    from loopkit.data.pianoroll import drum_column, write_midi
    from test_listening_app import FAST, FAST_BPM, make_loop

    groups, per_group = {}, 20
    oggs: dict[str, list[int]] = {}
    for name in ("busy", "sparse"):
        (work / name).mkdir()
        oggs[name] = []
        for i in range(per_group):
            roll = make_loop(i)
            if name == "busy":
                roll[1::2, drum_column("closed_hihat")] = True
            write_midi(roll, work / name / f"{i}.mid", bpm=FAST_BPM)
            oggs[name].append(len(roll_to_ogg(roll, bpm=FAST_BPM, settings=FAST)))
        groups[name] = str(work / name)
    stimuli = prepare_stimuli(groups, work / "stimuli", per_group=per_group, familiarisation=0, bpm=FAST_BPM,
                              settings=FAST, progress=False)  # fmt: skip
    wav = {"busy": [], "sparse": []}
    headers = set()
    for s in stimuli.stimuli:
        data = (stimuli.root / AUDIO_DIR / f"{s['id']}.wav").read_bytes()
        wav[s["group"]].append(len(data))
        headers.add(data[:44])

    def best_guess(sizes: dict[str, list[int]]) -> int:
        """Right guesses of the best rule "size above t is one group", t and the group chosen after the fact."""
        values = sorted({v for vs in sizes.values() for v in vs})
        best = 0
        for t in [values[0] - 1, *values]:
            above = sum(v > t for v in sizes["busy"]) + sum(v <= t for v in sizes["sparse"])
            best = max(best, above, 2 * per_group - above)
        return best

    n = 2 * per_group
    sizes = {v for vs in wav.values() for v in vs}
    report("the group from the bytes", f"{n} stimuli of 2 groups whose OGGs differ in size; the best threshold on "
           "a byte count (a padded OGG's padding length is that count)", f"as OGG {best_guess(oggs)}/{n} right; as "
           f"the WAV loopkit serves {best_guess(wav)}/{n} (chance {n // 2}/{n}): {len(sizes)} size, {len(headers)} "
           "header, only the samples differ", best_guess(wav) == n // 2 and len(sizes) == len(headers) == 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of extraction (default 10)")
    parser.add_argument("--train-kills", type=int, default=3, help="SIGKILLs of training (default 3)")
    parser.add_argument("--server-kills", type=int, default=3, help="SIGKILLs of the rating server (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="loopkit-hostile-") as tmp:
        work = Path(tmp)
        for name, attack in (("extract", lambda w: extraction_attacks(w, rng, args.kills)),
                             ("memory", memory_attacks),
                             ("train", lambda w: training_attacks(w, rng, args.train_kills)),
                             ("server", lambda w: server_attacks(w, rng, args.server_kills)),
                             ("listening", listening_bytes_attack)):  # fmt: skip
            (work / name).mkdir()
            attack(work / name)
    print(f"\n{time.monotonic() - started:.0f} s in all\n")
    print("| attack | tried | result |\n|---|---|---|")
    for attack, tried, result, held in ROWS:
        print(f"| {attack} | {tried} | {result}{'' if held else ' (FAILED)'} |")
    return 0 if all(row[3] for row in ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
