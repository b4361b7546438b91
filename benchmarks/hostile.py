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
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of extraction (default 10)")
    parser.add_argument("--train-kills", type=int, default=3, help="SIGKILLs of training (default 3)")
    parser.add_argument("--server-kills", type=int, default=3, help="SIGKILLs of the rating server (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)
    sys.modules.setdefault("hostile", sys.modules[__name__])  # one ROWS, when run as a script
    from hostile_listening import listening_bytes_attack, server_attacks
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
