"""Benchmark of loop extraction (Data Preprocess): loopkit against a plain pretty_midi reference, same corpus, same run.

The reference is the paper's kind of pipeline written plainly: pretty_midi parses each file, notes go back to
ticks through ``PrettyMIDI.time_to_tick``, a numpy grid is filled note by note, and the loop rules are checked
window by window, with the same settings as loopkit (``ExtractionSettings()``: 4/4 only, files without a time
signature kept, the "full" drum map, per-bar Hamming < 0.0015, kick + crash + bass on the first step, stride 1).
Both run with one worker process, each in a fresh process, so speed and peak memory are their own.

Prints files/s (wall clock and per CPU-second) for both and the ratio, where a file's time goes (read, header,
parse, meter, notes, roll, rules, tempo, and the rest: worker protocol, journal, writing) beside symusic's parse
alone, the limit, peak memory, whether both find the same
loops (and, for each file where they differ, why), the roll -> MIDI -> roll round trip of every loop, and the
peak memory of loopkit on the corpus and on many copies of it (memory should not grow with the corpus).

    python benchmarks/extract.py /tmp/x/corpus [--repeat 3] [--scale 20]

Speed targets are ratios measured here, in the same run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------------------------------------------------
# the reference pipeline (runs in its own process)


def reference_file(path: str, settings) -> tuple[str, str, list[int], np.ndarray, list[str]]:
    """(status, rule or reason, start bars, (n, 128, 93) loops, warnings) of one file, the plain way."""
    import pretty_midi

    from loopkit.data.pianoroll import DRUM_MAPS, N_BASS, N_COLUMNS, drum_column

    rules = settings.rules
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pm = pretty_midi.PrettyMIDI(path)
        except Exception as exc:  # pretty_midi/mido raise many kinds of errors on bad files
            return "failed", f"{type(exc).__name__}: {exc}"[:200], [], np.zeros((0, 128, 93), bool), []
    notes_warned = [str(w.message)[:120] for w in caught]
    for ts in pm.time_signature_changes:
        if (ts.numerator, ts.denominator) != (4, 4):
            return "rejected", "not_4_4", [], np.zeros((0, 128, 93), bool), notes_warned
    tpq = pm.resolution
    # bar lines every 4 quarter notes from the first time signature, counted back towards tick 0
    first_ts = min((pm.time_to_tick(ts.time) for ts in pm.time_signature_changes), default=0)
    origin = first_ts % (4 * tpq)

    def step_of(seconds):
        tick = pm.time_to_tick(seconds) - origin
        return (8 * tick + tpq) // (2 * tpq)

    if any(step_of(ts.time) % 16 for ts in pm.time_signature_changes):  # a 4/4 event off the bar lines
        return "rejected", "not_4_4", [], np.zeros((0, 128, 93), bool), notes_warned

    drum_map = {note: drum_column(component) for note, component in DRUM_MAPS[settings.drum_map].items()}
    bass, drums = [], []
    for inst in pm.instruments:
        if inst.is_drum:
            for n in inst.notes:
                if n.pitch in drum_map and step_of(n.start) >= 0:
                    drums.append((step_of(n.start), drum_map[n.pitch]))
        elif inst.program in settings.bass_programs:
            for n in inst.notes:
                if 24 <= n.pitch <= 107:
                    on = step_of(n.start)
                    off = max(step_of(n.end), on + 1)
                    if off > 0:
                        bass.append((max(on, 0), off, n.pitch - 24))
    if not bass:
        return "rejected", "no_bass", [], np.zeros((0, 128, 93), bool), notes_warned
    if not drums:
        return "rejected", "no_drums", [], np.zeros((0, 128, 93), bool), notes_warned
    end = max(max(off for _, off, _ in bass), max(on for on, _ in drums) + 1)
    if end > settings.max_bars * 16:
        return "failed", "absurd length", [], np.zeros((0, 128, 93), bool), notes_warned
    n_steps = -(-end // 16) * 16
    grid = np.zeros((n_steps, N_COLUMNS), dtype=bool)
    lowest = np.full(n_steps, N_BASS)
    for on, off, col in bass:
        for t in range(on, off):
            if col < lowest[t]:
                lowest[t] = col
    for t in range(n_steps):
        if lowest[t] < N_BASS:
            grid[t, lowest[t]] = True
    for on, col in drums:
        grid[on, col] = True
    kick, crash = drum_column("kick"), drum_column("crash")
    starts, loops = [], []
    a, b = rules.compared_bars
    for start in range(0, n_steps // 16 - 8 + 1, rules.stride_bars):
        w = grid[start * 16 : start * 16 + 128]
        hd = np.count_nonzero(w[a * 16 : a * 16 + 16] != w[b * 16 : b * 16 + 16]) / rules.hamming_denominator()
        if hd < rules.max_hamming and w[0, kick] and w[0, crash] and w[0, :N_BASS].any():
            starts.append(start)
            loops.append(w)
    if not starts:
        return "rejected", "no_loops", [], np.zeros((0, 128, 93), bool), notes_warned
    return "used", "", starts, np.stack(loops), notes_warned


def reference_main(list_file: str, out_file: str) -> None:
    """Entry of the reference process: every file of the list, timed, results pickled."""
    from loopkit.data.extract import ExtractionSettings
    from loopkit.data.workers import peak_rss

    settings = ExtractionSettings()
    paths = Path(list_file).read_text().splitlines()
    t0 = time.perf_counter()
    results = {p: reference_file(p, settings) for p in paths}
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(out_file, "wb") as fh:
        pickle.dump(
            {"results": results, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "peak_rss": peak_rss()}, fh
        )


# ---------------------------------------------------------------------------------------------------------
# where a file's time goes (runs in its own process)

STAGES = ("read", "header", "parse (symusic)", "meter", "notes", "roll", "rules", "tempo")


def stages_main(list_file: str, out_file: str, repeat: int) -> None:
    """Entry of the stage-timing process: ``process_midi``'s steps one by one on every file of the list, ``repeat``
    times (the fastest pass counts), so the profile names where a file's time goes; the parse stage alone is the
    limit any extraction built on symusic can reach."""
    import symusic

    from loopkit.data.dataset import pack_rolls
    from loopkit.data.extract import ExtractionSettings
    from loopkit.data.inputs import read_path
    from loopkit.data.midifile import standard_midi_bytes, tempo_at, time_signature_rule
    from loopkit.data.pianoroll import BEATS_PER_BAR, STEPS_PER_BAR, bar_origin, notes_to_roll, score_notes
    from loopkit.data.rules import cut_loops, find_loops

    settings = ExtractionSettings()
    paths = Path(list_file).read_text().splitlines()
    best = None
    for _ in range(repeat):
        spent = dict.fromkeys(STAGES, 0.0)

        def timed(stage, fn, *args, **kw):
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                spent[stage] += time.perf_counter() - t

        for path in paths:
            data = timed("read", read_path, path, settings.max_file_bytes)
            try:
                score = timed("parse (symusic)", symusic.Score.from_midi, timed("header", standard_midi_bytes, data))
            except (ValueError, RuntimeError):
                continue
            if timed("meter", time_signature_rule, score, settings.missing_time_signature):
                continue
            notes = timed("notes", score_notes, score, drum_map=settings.drum_map, bass_programs=settings.bass_programs)
            if len(notes.bass_on) == 0 or len(notes.drum_on) == 0 or notes.end_step > settings.max_bars * STEPS_PER_BAR:
                continue
            roll = timed("roll", notes_to_roll, notes, -(-notes.end_step // STEPS_PER_BAR) * STEPS_PER_BAR)
            starts = timed("rules", find_loops, roll, settings.rules)
            if len(starts):
                timed("rules", lambda: pack_rolls(cut_loops(roll, starts, settings.rules.bars)).tobytes())
                tpq = int(score.ticks_per_quarter)
                timed("tempo", tempo_at, score, bar_origin(score) + starts.astype(np.int64) * BEATS_PER_BAR * tpq)
        if best is None or sum(spent.values()) < sum(best.values()):
            best = spent
    with open(out_file, "w") as fh:
        json.dump({"files": len(paths), "seconds": best}, fh)


def run_stages(paths: list[str], tmp: str, repeat: int) -> dict:
    list_file, out_file = os.path.join(tmp, "stage-files.txt"), os.path.join(tmp, "stages.json")
    Path(list_file).write_text("\n".join(paths))
    subprocess.run([sys.executable, str(HERE), "--stages-process", list_file, out_file, str(repeat)], check=True)
    return json.loads(Path(out_file).read_text())


def print_stages(stages: dict, extract_seconds: float, extract_files: int) -> None:
    """The stage profile per file, beside the whole extraction's time per file (its rest: the worker protocol, the
    journal and the data set's files) and the parse alone (the limit)."""
    n = stages["files"]
    per_file = {k: v / n for k, v in stages["seconds"].items()}
    whole = extract_seconds / extract_files
    rest = max(whole - sum(per_file.values()), 0.0)
    print(f"where a file's time goes ({n} files, fastest of the passes; the whole extraction with 1 worker: "
          f"{whole * 1e3:.3f} ms a file):")
    for stage, seconds in [*per_file.items(), ("rest: worker protocol, journal, writing", rest)]:
        print(f"  {stage:42s} {seconds * 1e3:8.3f} ms  {seconds / whole:6.1%}")
    parse = per_file["parse (symusic)"]
    print(f"  the limit, symusic's parse alone: {1 / parse:,.0f} files/s; loopkit extract runs at "
          f"{parse / whole:.0%} of it")


# ---------------------------------------------------------------------------------------------------------
# running both


LOOPKIT_CODE = """
import json, resource, sys
from loopkit.data.extract import extract
def cpu(who):
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime
report = {}
before = cpu(resource.RUSAGE_SELF)
extract(json.loads(sys.argv[1]), sys.argv[2], workers=int(sys.argv[3]), progress=False, report=report)
# this process during extract(), plus its worker processes (their start-up included)
report["cpu"] = cpu(resource.RUSAGE_SELF) - before + cpu(resource.RUSAGE_CHILDREN)
report.pop("funnel")
print(json.dumps(report))
"""


def run_loopkit(sources: list[str], out: str, workers: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", LOOPKIT_CODE, json.dumps(sources), out, str(workers)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"loopkit extraction failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_reference(paths: list[str], tmp: str) -> dict:
    list_file, out_file = os.path.join(tmp, "files.txt"), os.path.join(tmp, "reference.pkl")
    Path(list_file).write_text("\n".join(paths))
    subprocess.run([sys.executable, str(HERE), "--reference-process", list_file, out_file], check=True)
    with open(out_file, "rb") as fh:
        return pickle.load(fh)


def midi_paths(sources: list[str]) -> list[str]:
    from loopkit.data.inputs import iter_inputs

    out = []
    for item in iter_inputs(sources):
        if item.path is None:
            sys.exit(f"benchmarks/extract.py takes folders and MIDI files only (not {item.source})")
        out.append(item.path)
    return out


def copies(sources: list[str], k: int, tmp: str) -> list[str]:
    """``k`` copies of the sources' MIDI files as hard links (symbolic links where that fails) under tmp."""
    root = Path(tmp) / f"copies{k}"
    for i in range(k):
        for j, path in enumerate(midi_paths(sources)):
            dest = root / f"{i:04d}" / f"{j:05d}_{Path(path).name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dest)
            except OSError:
                dest.symlink_to(os.path.abspath(path))
    return [str(root)]


# ---------------------------------------------------------------------------------------------------------
# comparing


def explain(path: str, lk_status: str, ref: tuple) -> str:
    """Why loopkit and the reference disagree on one file."""
    import symusic

    status, why, _, _, warned = ref
    if status == "failed" and lk_status != "failed":
        return f"pretty_midi/mido cannot read it ({why.split(':')[0]}); symusic can"
    try:
        score = symusic.Score(path)
    except Exception as exc:
        return f"symusic cannot read it ({exc})"[:120]
    import pretty_midi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its warning about meta events off track 0 is reported below
        pm = pretty_midi.PrettyMIDI(path)
    sym_ts = sorted((int(t.time), t.numerator, t.denominator) for t in score.time_signatures)
    pm_ts = sorted((pm.time_to_tick(t.time), t.numerator, t.denominator) for t in pm.time_signature_changes)
    if sym_ts != pm_ts or any("non-zero track" in w for w in warned):
        return (
            f"time signature/tempo events off track 0: pretty_midi reads track 0 only (its signatures {pm_ts[:2]}, "
            f"all tracks {sym_ts[:2]})"
        )
    sym_notes = sum(t.note_num() for t in score.tracks)
    pm_notes = sum(len(i.notes) for i in pm.instruments)
    if sym_notes != pm_notes:
        return (
            f"the parsers pair note-on/off differently ({sym_notes} notes in symusic, {pm_notes} in pretty_midi: "
            "overlapping notes of one pitch or notes never closed)"
        )
    return "same notes and signatures; the note times differ after pretty_midi's ticks -> seconds -> ticks"


def compare(paths: list[str], out: str, reference: dict) -> tuple[list, int, int]:
    import pandas as pd

    from loopkit.data.dataset import load_loops

    ds = load_loops(out)
    files = ds.files.set_index("source")
    by_source: dict[str, list[int]] = {}
    for i, src in enumerate(ds.meta["source"]):
        by_source.setdefault(src, []).append(i)
    diffs = []
    same = 0
    for path in paths:
        ref = reference["results"][path]
        idx = by_source.get(path, [])
        lk_starts = ds.meta["start_bar"].to_numpy()[idx].tolist()
        lk_loops = ds.rolls[np.array(idx, dtype=int)] if idx else np.zeros((0, 128, 93), bool)
        if lk_starts == ref[2] and np.array_equal(lk_loops, ref[3]):
            same += 1
            continue
        lk_status = files.loc[path, "status"] if path in files.index else "?"
        diffs.append((path, lk_status, lk_starts, ref[0], ref[2], explain(path, lk_status, ref)))
    del pd
    return diffs, same, len(ds)


def round_trip(out: str) -> tuple[int, int]:
    from loopkit.data.dataset import load_loops
    from loopkit.data.pianoroll import LOOP_STEPS, midi_to_roll, roll_to_midi

    ds = load_loops(out)
    ok = 0
    for i in range(len(ds)):
        loop = ds.rolls[i]
        ok += np.array_equal(
            midi_to_roll(roll_to_midi(loop, bpm=float(ds.meta["bpm"][i])), steps=LOOP_STEPS), loop
        )
    return ok, len(ds)


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", help="folders or MIDI files (e.g. the Debian demo corpus)")
    parser.add_argument(
        "--copies",
        type=int,
        default=20,
        help="time loopkit over this many copies of the corpus (hard links), so that its fixed start-up (about "
        "0.3 s to start a worker) is spread as on a real corpus; also the memory-growth check (default 20)",
    )
    parser.add_argument("--reference-copies", type=int, default=1, help="copies the reference is timed over")
    parser.add_argument("--stage-repeat", type=int, default=3, help="passes of the stage profile (default 3)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--reference-process"]:  # the reference's own process (see run_reference)
        reference_main(*argv[1:3])
        return 0
    if argv[:1] == ["--stages-process"]:  # the stage profile's own process (see run_stages)
        stages_main(argv[1], argv[2], int(argv[3]))
        return 0
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="loopkit-bench-") as tmp:
        sources = [os.path.normpath(s) for s in args.sources]
        paths = midi_paths(sources)
        size = sum(os.path.getsize(p) for p in paths)
        print(f"corpus: {len(paths)} MIDI files, {size / 1e6:.1f} MB, from {', '.join(sources)}")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (shared)")

        ref_sources = sources if args.reference_copies == 1 else copies(sources, args.reference_copies, tmp)
        ref_paths = midi_paths(ref_sources)
        reference = run_reference(ref_paths, tmp)
        ref_rate = len(ref_paths) / reference["seconds"]
        ref_cpu_rate = len(ref_paths) / reference["cpu"]
        print(
            f"reference (pretty_midi + numpy grid, 1 process), {len(ref_paths)} files: {reference['seconds']:.2f} s, "
            f"{ref_rate:.1f} files/s, {ref_cpu_rate:.1f} files per CPU-second, peak memory {mib(reference['peak_rss'])}"
        )
        one = run_loopkit(sources, os.path.join(tmp, "loopkit1"), 1)
        many_sources = copies(sources, args.copies, tmp) if args.copies > 1 else sources
        rows = []
        for workers in (1, 0):
            r = run_loopkit(many_sources, os.path.join(tmp, f"many{workers}"), workers)
            rate, cpu_rate = r["files"] / r["seconds"], r["files"] / r["cpu"]
            what = "1 worker process" if workers else "in-process, --workers 0"
            memory = f"parent {mib(r['peak_rss_parent'])}" + (
                f", worker {mib(r['peak_rss_worker'])}" if workers else ""
            )
            print(
                f"loopkit extract ({what}), {r['files']} files: {r['seconds']:.2f} s, {rate:.0f} files/s, "
                f"{cpu_rate:.0f} files per CPU-second, peak memory {memory}"
            )
            rows.append((what, rate / ref_rate, cpu_rate / ref_cpu_rate, r))
        for what, wall, cpu, _ in rows:
            print(f"  speed-up ({what}): {wall:.0f}x in files/s, {cpu:.0f}x per CPU-second (target: 30x per core)")
        many = rows[0][3]
        print_stages(run_stages(paths, tmp, args.stage_repeat), many["seconds"], many["files"])
        print(
            f"memory vs corpus size (1 worker): {one['files']} files -> parent {mib(one['peak_rss_parent'])}, worker "
            f"{mib(one['peak_rss_worker'])}; {many['files']} files -> parent {mib(many['peak_rss_parent'])}, "
            f"worker {mib(many['peak_rss_worker'])}"
        )

        diffs, same, n_loops = compare(
            paths, os.path.join(tmp, "loopkit1"), run_reference(paths, tmp) if args.reference_copies != 1 else reference
        )
        ref_loops = sum(len(r[2]) for p, r in reference["results"].items() if p in set(paths))
        print(f"loops: loopkit {n_loops}, reference {ref_loops}; identical loops in {same} of {len(paths)} files")
        for path, lk_status, lk_starts, ref_status, ref_starts, why in diffs:
            print(f"  {path}: loopkit {lk_status} {len(lk_starts)} loops, reference {ref_status} {len(ref_starts)}")
            print(f"    why: {why}")
        ok, total = round_trip(os.path.join(tmp, "loopkit1"))
        print(f"round trip roll -> MIDI -> roll: identical for {ok} of {total} loops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
