"""The loop data set on disk: bit packing, splits, the streaming writer and load_loops."""

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from loopkit.data.dataset import (
    FILE_COLUMNS,
    MANIFEST,
    PACKED_BYTES,
    DatasetWriter,
    PackedRolls,
    assign_splits,
    load_loops,
    loops_from_arrays,
    pack_rolls,
    unpack_rolls,
    write_dataset,
)


def random_rolls(n, seed=0):
    return np.random.default_rng(seed).random((n, 128, 93)) < 0.05


def test_pack_layout_by_hand():
    roll = np.zeros((1, 128, 93), dtype=bool)
    roll[0, 0, 0] = True  # cell 0: first bit (most significant) of byte 0
    roll[0, 0, 8] = True  # cell 8: first bit of byte 1
    roll[0, 1, 0] = True  # cell 93 = byte 11, bit 5 -> value 2 ** (7 - 5) = 4
    roll[0, 127, 92] = True  # cell 11,903 = last bit of byte 1,487
    packed = pack_rolls(roll)
    assert packed.shape == (1, PACKED_BYTES) and packed.dtype == np.uint8
    nonzero = {int(i): int(packed[0, i]) for i in np.nonzero(packed[0])[0]}
    assert nonzero == {0: 128, 1: 128, 11: 4, 1487: 1}


def test_pack_unpack_round_trip_and_errors():
    rolls = random_rolls(5)
    assert np.array_equal(unpack_rolls(pack_rolls(rolls)), rolls)
    assert unpack_rolls(pack_rolls(rolls))[2].shape == (128, 93)
    with pytest.raises(ValueError, match="expected loops of shape"):
        pack_rolls(np.zeros((2, 64, 93), dtype=bool))


def test_packed_rolls_indexing():
    rolls = random_rolls(6, seed=1)
    pr = PackedRolls(pack_rolls(rolls))
    assert pr.shape == (6, 128, 93) and len(pr) == 6 and pr.nbytes == 6 * 1488
    assert np.array_equal(pr[3], rolls[3])
    assert np.array_equal(pr[1:4], rolls[1:4])
    mask = np.array([True, False, True, False, False, True])
    assert np.array_equal(pr[mask], rolls[mask])
    assert np.array_equal(pr[[5, 0]], rolls[[5, 0]])
    assert np.array_equal(pr[2, 10:20, 84], rolls[2, 10:20, 84])
    assert np.array_equal(pr[1:3, 0], rolls[1:3, 0])
    assert np.array_equal(np.asarray(pr), rolls)
    assert sum(1 for _ in pr) == 6
    with pytest.raises(ValueError, match="packed rolls must be"):
        PackedRolls(np.zeros((2, 100), dtype=np.uint8))


def order_of(keys):
    return sorted(keys, key=lambda g: hashlib.sha256(g.encode()).hexdigest())


def test_assign_splits_fills_train_then_valid_then_test_in_hash_order():
    keys = [f"{i:032x}" for i in range(10)]
    splits = dict(zip(keys, assign_splits(keys, [1] * 10)))
    ordered = order_of(keys)
    # ten files of one loop each: cumulative bounds 8, 9, 10 -> 8 train, 1 valid, 1 test, in hash order
    assert [splits[k] for k in ordered] == ["train"] * 8 + ["valid", "test"]
    # the answer does not depend on the input order
    rev = assign_splits(keys[::-1], [1] * 10)
    assert dict(zip(keys[::-1], rev)) == splits


def test_assign_splits_balances_loops_and_keeps_duplicates_together():
    keys = ["a" * 32, "b" * 32, "c" * 32, "d" * 32]
    ordered = order_of(keys)
    weights = {ordered[0]: 70, ordered[1]: 10, ordered[2]: 10, ordered[3]: 10}
    groups = keys + [ordered[1]]  # the second-ordered file twice (identical MD5)
    w = [weights[k] for k in keys] + [0]
    out = dict()
    for g, s in zip(groups, assign_splits(groups, w)):
        out.setdefault(g, set()).add(s)
    # cumulative loops 70, 80, 90, 100 of 100: the first loop of each file falls in train, train, valid, test
    assert out == {ordered[0]: {"train"}, ordered[1]: {"train"}, ordered[2]: {"valid"}, ordered[3]: {"test"}}


def test_assign_splits_keeps_every_split_non_empty():
    keys = ["a" * 32, "b" * 32, "c" * 32]
    ordered = order_of(keys)
    # one big file first: by loop counts (first loops at 0.5, 98.5, 99.5 of 100) they fall in train, test,
    # test, leaving valid empty; the smaller (then earlier) file of the fullest split moves there
    w = {ordered[0]: 98, ordered[1]: 1, ordered[2]: 1}
    splits = dict(zip(keys, assign_splits(keys, [w[k] for k in keys])))
    assert [splits[k] for k in ordered] == ["train", "valid", "test"]
    # two files cannot fill three splits: no moving
    two = assign_splits(ordered[:2], [98, 1])
    assert two == ["train", "test"]
    with pytest.raises(ValueError, match="split fractions"):
        assign_splits(keys, [1, 1, 1], (0.5, 0.5, 0.5))


def tables(n_loops=3):
    rolls = random_rolls(n_loops, seed=2)
    loops = pd.DataFrame(
        {
            "source": ["x/a.mid"] * 2 + ['y/b, "odd".mid'] * (n_loops - 2),
            "md5": ["0" * 32] * 2 + ["1" * 32] * (n_loops - 2),
            "start_bar": list(range(n_loops)),
            "bpm": [120.0, 99.5] + [140.25] * (n_loops - 2),
            "split": ["train"] * 2 + ["test"] * (n_loops - 2),
        }
    )
    files = pd.DataFrame(
        [
            ["x/a.mid", "0" * 32, "used", "", "", 2, "train"],
            ['y/b, "odd".mid', "1" * 32, "used", "", "", n_loops - 2, "test"],
            ["z/c.mid", "2" * 32, "rejected", "not_4_4", "time signature 3/4 at tick 0", 0, "valid"],
            ["z/d.mid", "", "failed", "", "not a MIDI file (it starts with b'RIFF')", 0, ""],
            ["z/readme.txt", "", "skipped", "", "not a MIDI file name", 0, ""],
        ],
        columns=FILE_COLUMNS,
    )
    return rolls, loops, files


def test_write_and_load_dataset(tmp_path):
    rolls, loops, files = tables()
    settings = {"settings": {"drum_map": "full"}, "sources": ["x"], "loopkit_version": "0"}
    funnel = {"files_seen": 5, "loops": 3}
    write_dataset(tmp_path / "ds", pack_rolls(rolls), loops, files, settings, funnel)
    ds = load_loops(tmp_path / "ds")
    assert ds.rolls.shape == (3, 128, 93)
    assert np.array_equal(np.asarray(ds.rolls), rolls)
    assert ds.meta.columns.tolist() == ["index", "source", "md5", "start_bar", "bpm", "split"]
    assert ds.meta["source"].tolist() == ["x/a.mid", "x/a.mid", 'y/b, "odd".mid']
    assert ds.meta["bpm"].tolist() == [120.0, 99.5, 140.25]
    assert ds.meta["index"].tolist() == [0, 1, 2]
    assert ds.failures.to_dict("records") == [
        {"source": "z/d.mid", "reason": "not a MIDI file (it starts with b'RIFF')"}
    ]
    assert ds.files["status"].tolist() == ["used", "used", "rejected", "failed", "skipped"]
    assert ds.files["n_loops"].tolist() == [2, 1, 0, 0, 0]
    assert ds.settings == settings and ds.funnel == funnel
    assert len(ds.split("train")) == 2 and len(ds.split("test")) == 1 and len(ds.split("valid")) == 0
    with pytest.raises(ValueError, match="unknown split"):
        ds.split("dev")
    # the manifest lists every file with its size and hash
    manifest = json.loads((tmp_path / "ds" / MANIFEST).read_text())
    for name, entry in manifest["files"].items():
        data = (tmp_path / "ds" / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # the .npy file is what np.save writes for the same array
    buf = io.BytesIO()
    np.save(buf, pack_rolls(rolls))
    assert (tmp_path / "ds" / "rolls.npy").read_bytes() == buf.getvalue()
    assert not [p.name for p in (tmp_path / "ds").iterdir() if p.name.startswith(".")]
    mm = load_loops(tmp_path / "ds", mmap=True)
    assert np.array_equal(mm.rolls[1], rolls[1])


def test_streaming_writer_matches_write_dataset(tmp_path):
    rolls, loops, files = tables(n_loops=5)
    write_dataset(tmp_path / "a", pack_rolls(rolls), loops, files, {"s": 1}, {"f": 2})
    w = DatasetWriter(tmp_path / "b", 5)
    packed = pack_rolls(rolls)
    w.add_loops(packed[:2], "x/a.mid", "0" * 32, [0, 1], [120.0, 99.5], "train")
    w.add_loops(packed[2:], 'y/b, "odd".mid', "1" * 32, [2, 3, 4], [140.25] * 3, "test")
    for row in files.itertuples(index=False):
        w.add_file(*row)
    w.finish({"s": 1}, {"f": 2})
    for name in ("rolls.npy", "loops.csv", "files.csv", "failures.csv", "settings.json", "funnel.json", MANIFEST):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_writer_checks_counts_and_statuses(tmp_path):
    w = DatasetWriter(tmp_path / "c", 2)
    with pytest.raises(ValueError, match="unknown file status"):
        w.add_file("a.mid", "", "lost", "", "", 0, "")
    w.add_loops(pack_rolls(random_rolls(1)), "a.mid", "", [0], [120.0], "train")
    with pytest.raises(ValueError, match="1 loops written but 2 announced"):
        w.finish({}, {})
    w.discard()
    with pytest.raises(ValueError, match="2 rolls but 1 metadata rows"):
        _, loops, files = tables()
        write_dataset(tmp_path / "d", pack_rolls(random_rolls(2)), loops.iloc[:1], files, {}, {})


def test_load_loops_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="loopkit extract"):
        load_loops(tmp_path / "nothing")
    rolls, loops, files = tables()
    write_dataset(tmp_path / "ds", pack_rolls(rolls), loops, files, {}, {})
    (tmp_path / "ds" / MANIFEST).unlink()
    with pytest.raises(FileNotFoundError, match="incomplete"):
        load_loops(tmp_path / "ds")


def test_loops_from_arrays():
    rolls = random_rolls(4, seed=3)
    ds = loops_from_arrays(rolls, splits=["train", "train", "valid", "test"])
    assert np.array_equal(ds.rolls[0:4], rolls)
    assert ds.meta["split"].tolist() == ["train", "train", "valid", "test"]
    assert len(ds.split("valid")) == 1
    assert ds.fingerprint == loops_from_arrays(rolls, splits=["train", "train", "valid", "test"]).fingerprint
    assert ds.fingerprint != loops_from_arrays(rolls, splits=["train"] * 4).fingerprint
