"""Dataset discovery, file checking, groups and index save/load."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsort.dataset import (
    DatasetIndex,
    build_index,
    discover,
    discover_mapped,
    grouped_kfold,
    make_label_map,
)
from soundsort.errors import ConfigError, DatasetError

SR = 8000
LEGACY = Path(__file__).parent / "fixtures" / "legacy_39e03ba"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tone(path: Path, seconds: float = 0.25, sr: int = SR, freq: float = 440.0, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, **kw)
    return path


def wav_bytes(sr: int, n_frames: int = 100) -> bytes:
    """A minimal 16-bit mono PCM WAV with the given header sample rate."""
    data = b"\x00\x01" * n_frames
    fmt = struct.pack("<HHIIHH", 1, 1, sr, sr * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    tone(root / "speech" / "a.wav")
    tone(root / "speech" / "b.flac")
    tone(root / "music" / "x.wav", freq=220)
    tone(root / "music" / "deep" / "er" / "y.ogg", freq=330)  # nested: still "music"
    tone(root / "noise" / "n1.wav")
    # ignored: hidden files and folders, non-audio files, files directly under root
    tone(root / "music" / ".hidden.wav")
    tone(root / "music" / ".cache" / "z.wav")
    tone(root / ".trash" / "t.wav")
    (root / "music" / "notes.txt").write_text("not audio")
    (root / "music" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    tone(root / "stray.wav")
    (root / "empty_label").mkdir()
    return root


# --------------------------------------------------------------------------------------------------
# discovery


def test_discover_labels_and_order(dataset: Path) -> None:
    pairs = discover(dataset)
    rel = [(p.relative_to(dataset).as_posix(), lab) for p, lab in pairs]
    assert rel == [
        ("music/deep/er/y.ogg", "music"),
        ("music/x.wav", "music"),
        ("noise/n1.wav", "noise"),
        ("speech/a.wav", "speech"),
        ("speech/b.flac", "speech"),
    ]
    assert discover(dataset) == pairs  # deterministic


def test_label_map_is_sorted_and_deterministic() -> None:
    assert make_label_map(["speech", "music", "noise", "music"]) == {"music": 0, "noise": 1, "speech": 2}
    assert make_label_map(reversed(["b", "a"])) == make_label_map(["a", "b"])


def test_discover_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        discover(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no label folders"):
        discover(tmp_path)
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="no audio files"):
        discover(tmp_path)


def test_discover_mapped_and_label_paths(tmp_path: Path) -> None:
    tone(tmp_path / "gms" / "music" / "m1.wav")
    tone(tmp_path / "gms" / "speech" / "s1.wav")
    tone(tmp_path / "esc" / "dog" / "1-100-A.wav")
    tone(tmp_path / "esc" / "rain" / "2-200-A.wav")
    mapping = {"music": [tmp_path / "gms" / "music"],
               "non_music": [tmp_path / "gms" / "speech", tmp_path / "esc" / "dog", tmp_path / "esc" / "rain"]}
    pairs = discover_mapped(mapping)
    assert [lab for _, lab in pairs] == ["music", "non_music", "non_music", "non_music"]
    via_root = discover(tmp_path, label_paths={"music": ["gms/music"], "non_music": ["gms/speech", "esc"]})
    assert via_root == pairs

    index = build_index(mapping)
    assert index.root == tmp_path.absolute()
    assert index.label_map == {"music": 0, "non_music": 1}
    assert [it.path for it in index.items][:2] == ["gms/music/m1.wav", "esc/dog/1-100-A.wav"]

    with pytest.raises(DatasetError, match="two labels"):
        discover_mapped({"a": [tmp_path / "esc"], "b": [tmp_path / "esc" / "dog"]})
    with pytest.raises(DatasetError, match="not found"):
        discover_mapped({"a": [tmp_path / "nope"]})


# --------------------------------------------------------------------------------------------------
# checking files


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    root = tmp_path / "data"
    tone(root / "good" / "ok1.wav")
    tone(root / "good" / "ok2.flac")
    tone(root / "other" / "ok3.wav")
    bad = root / "bad"
    bad.mkdir(parents=True)
    (bad / "empty.wav").write_bytes(b"")
    (bad / "text.wav").write_text("this is a text file, not a RIFF header\n" * 20)
    full = tone(bad / "truncated.wav", seconds=0.5, subtype="PCM_16").read_bytes()
    (bad / "truncated.wav").write_bytes(full[: len(full) // 2])
    nan = (0.1 * np.ones(SR // 4)).astype(np.float32)
    nan[100:110] = np.nan
    sf.write(str(bad / "nan.wav"), nan, SR, subtype="FLOAT")
    (bad / "rate1hz.wav").write_bytes(wav_bytes(1))

    seen: list[tuple[int, int, str]] = []
    index = build_index(root, progress=lambda done, total, path: seen.append((done, total, Path(path).name)))

    assert sorted(it.path for it in index.items) == ["good/ok1.wav", "good/ok2.flac", "other/ok3.wav"]
    reasons = {s.path: s.reason for s in index.skipped}
    assert set(reasons) == {f"bad/{n}" for n in ("empty.wav", "text.wav", "truncated.wav", "nan.wav", "rate1hz.wav")}
    assert "empty" in reasons["bad/empty.wav"]
    assert "truncated" in reasons["bad/truncated.wav"]
    assert "NaN" in reasons["bad/nan.wav"]
    assert "sample rate" in reasons["bad/rate1hz.wav"]
    assert reasons["bad/text.wav"]
    assert all("\n" not in r for r in reasons.values())
    # "bad" had no valid file: it is not a label
    assert index.label_map == {"good": 0, "other": 1}
    assert [d for d, _, _ in seen] == list(range(1, 9)) and {t for _, t, _ in seen} == {8}
    assert index.items[0].duration == pytest.approx(0.25)
    assert index.items[0].sr == SR and index.items[0].channels == 1


def test_all_bad_raises(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "empty.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="no valid audio"):
        build_index(tmp_path)


def test_parallel_matches_serial(dataset: Path) -> None:
    a = build_index(dataset)
    b = build_index(dataset, jobs=2)
    assert a.items == b.items and a.skipped == b.skipped and a.label_map == b.label_map
    with pytest.raises(ConfigError):
        build_index(dataset, jobs=0)


def test_require_labels(tmp_path: Path) -> None:
    tone(tmp_path / "only" / "a.wav")
    index = build_index(tmp_path)
    index.require_labels(1)
    with pytest.raises(DatasetError, match="at least 2 labels"):
        index.require_labels(2)


# --------------------------------------------------------------------------------------------------
# index object


def test_index_arrays_and_summary(dataset: Path) -> None:
    index = build_index(dataset)
    assert index.label_map == {"music": 0, "noise": 1, "speech": 2}
    assert index.labels().tolist() == [0, 0, 1, 2, 2]
    assert index.groups().tolist() == [it.path for it in index.items]  # default: one group per file
    assert all(index.abs_path(it).is_file() for it in index.items)
    s = index.summary()
    assert s["files"] == 5 and s["skipped"] == 0
    assert {k: v["files"] for k, v in s["labels"].items()} == {"music": 2, "noise": 1, "speech": 2}
    assert s["duration"] == pytest.approx(5 * 0.25)


def test_save_load_round_trip(dataset: Path, tmp_path: Path) -> None:
    (dataset / "noise" / "broken.wav").write_bytes(b"")
    index = build_index(dataset, group_pattern=r"^(\w)")
    out = tmp_path / "out" / "index.json"
    index.save(out)
    back = DatasetIndex.load(out)
    assert back == index
    assert back.labels().tolist() == index.labels().tolist()
    assert back.groups().tolist() == index.groups().tolist()
    assert json.loads(out.read_text())["version"] == index.version


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        DatasetIndex.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{ not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        DatasetIndex.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(DatasetError, match="not a soundsort dataset index"):
        DatasetIndex.load(tmp_path / "other.json")
    (tmp_path / "cut.json").write_text('{"format": "soundsort-dataset-index", "version": 1}')
    with pytest.raises(DatasetError, match="damaged"):
        DatasetIndex.load(tmp_path / "cut.json")


# --------------------------------------------------------------------------------------------------
# groups


def test_group_pattern(tmp_path: Path) -> None:
    for lab in ("dog", "rain"):
        for fold in (1, 2, 3):
            tone(tmp_path / lab / f"{fold}-{fold * 100}-A.wav")
    tone(tmp_path / "dog" / "nofold.wav")
    index = build_index(tmp_path, group_pattern=r"^(\d+)-")
    groups = dict(zip((it.path for it in index.items), index.groups().tolist()))
    assert groups["dog/1-100-A.wav"] == "1" and groups["rain/1-100-A.wav"] == "1"  # global, not per label
    assert groups["rain/3-300-A.wav"] == "3"
    assert groups["dog/nofold.wav"] == "dog/nofold.wav"  # no match: its own group
    named = build_index(tmp_path, group_pattern=r"-(?P<group>\d+)-")
    assert named.groups().tolist().count("100") == 2
    whole = build_index(tmp_path, group_pattern=r"\d+")
    assert set(whole.groups().tolist()) == {"1", "2", "3", "dog/nofold.wav"}
    with pytest.raises(ConfigError, match="group_pattern"):
        build_index(tmp_path, group_pattern="(")


def test_groups_csv(tmp_path: Path) -> None:
    root = tmp_path / "genres"
    for lab, names in {"jazz": ["j1", "j2", "j3"], "rock": ["r1", "r2"]}.items():
        for n in names:
            tone(root / lab / f"{n}.wav")
    csv_path = tmp_path / "artists.csv"
    csv_path.write_text("path,group\njazz/j1.wav,miles\n./jazz/j2.wav,miles\nrock/r1.wav,miles\n"
                        "rock/r2.wav,\nmissing/file.wav,nobody\n")
    index = build_index(root, groups_csv=csv_path, group_pattern=r"^(\w)")
    groups = dict(zip((it.path for it in index.items), index.groups().tolist()))
    assert groups == {"jazz/j1.wav": "miles", "jazz/j2.wav": "miles", "rock/r1.wav": "miles",
                      "jazz/j3.wav": "j", "rock/r2.wav": "r"}  # CSV first, then pattern
    only_csv = build_index(root, groups_csv=csv_path)
    assert only_csv.groups().tolist()[-1] == "rock/r2.wav"

    bad = tmp_path / "bad.csv"
    bad.write_text("file,artist\na,b\n")
    with pytest.raises(DatasetError, match="columns"):
        build_index(root, groups_csv=bad)
    with pytest.raises(DatasetError, match="not found"):
        build_index(root, groups_csv=tmp_path / "nope.csv")
    clash = tmp_path / "clash.csv"
    clash.write_text("path,group\njazz/j1.wav,a\njazz/j1.wav,b\n")
    with pytest.raises(DatasetError, match="two groups"):
        build_index(root, groups_csv=clash)


# --------------------------------------------------------------------------------------------------
# sources, LABEL=PATH roots, music_* folders


@pytest.fixture
def collections(tmp_path: Path) -> dict[str, Path]:
    """Three collections: a labelled one, an all-music one (nested), and a second folder named ``a``."""
    tone(tmp_path / "one" / "a" / "music" / "m1.wav")
    tone(tmp_path / "one" / "a" / "speech" / "s1.wav")
    tone(tmp_path / "instruments" / "cello" / "c1.ogg", format="OGG")
    tone(tmp_path / "instruments" / "flute" / "deep" / "f1.wav")
    tone(tmp_path / "two" / "a" / "noise" / "n1.wav")
    tone(tmp_path / "two" / "a" / "music_piano" / "p1.wav")
    return {"one": tmp_path / "one" / "a", "inst": tmp_path / "instruments", "two": tmp_path / "two" / "a"}


def test_every_root_is_a_source_and_label_roots_label_everything(collections: dict[str, Path]) -> None:
    from soundsort.dataset.tasks import get_task
    from soundsort.workflows import index_dataset

    index = index_dataset([collections["one"], f"music={collections['inst']}", collections["two"]])
    got = {Path(it.path).name: (it.label, it.source) for it in index.items}
    assert got == {"m1.wav": ("music", "a"), "s1.wav": ("speech", "a"), "c1.ogg": ("music", "instruments"),
                   "f1.wav": ("music", "instruments"), "n1.wav": ("noise", "a-2"),
                   "p1.wav": ("music_piano", "a-2")}  # two roots named "a": two sources
    assert index.summary()["sources"] == {"a": 2, "a-2": 2, "instruments": 2}
    music = get_task("music")
    assert [music.class_of(it.label) for it in index.items if it.label == "music_piano"] == ["music"]
    single = index_dataset([collections["two"]])
    assert set(single.sources().tolist()) == {"a"} and single.root == collections["two"]
    assert set(build_index(collections["two"]).sources().tolist()) == {"a"}  # default: the root's folder name
    with pytest.raises(DatasetError, match="not a folder"):
        index_dataset([collections["one"], f"music={collections['inst'] / 'nope'}"])


@pytest.mark.parametrize("name, music", [("music", True), ("Music", True), ("music_piano", True),
                                         ("music-live", True), ("MUSIC_jazz_guitar", True), ("musical", False),
                                         ("music_", False), ("speech", False), ("non-music", False),
                                         ("musicians", False)])
def test_music_task_counts_music_prefixed_folders(name: str, music: bool) -> None:
    from soundsort.dataset.tasks import get_task

    assert (get_task("music").class_of(name) == "music") is music
    assert get_task("genre").class_of(name) == name


def test_sources_csv(collections: dict[str, Path], tmp_path: Path) -> None:
    from soundsort.workflows import index_dataset

    table = tmp_path / "sources.csv"
    table.write_text("path,source\ncello/c1.ogg,freesound\n" + f"{collections['two'] / 'noise' / 'n1.wav'},freesound\n"
                     "flute/deep/f1.wav,\nnot/there.wav,nowhere\n")
    index = index_dataset([collections["one"], f"music={collections['inst']}", collections["two"]],
                          sources_csv=table)
    got = {Path(it.path).name: it.source for it in index.items}
    assert got == {"m1.wav": "a", "s1.wav": "a", "c1.ogg": "freesound", "f1.wav": "instruments",
                   "n1.wav": "freesound", "p1.wav": "a-2"}  # relative to its root, absolute, or the default
    ambiguous = tmp_path / "ambiguous.csv"  # a relative path found under two roots
    tone(collections["two"] / "music" / "m1.wav")
    ambiguous.write_text("path,source\nmusic/m1.wav,x\n")
    with pytest.raises(DatasetError, match="several roots"):
        index_dataset([collections["one"], collections["two"]], sources_csv=ambiguous)
    none = tmp_path / "none.csv"
    none.write_text("path,source\nnot/there.wav,x\n")
    with pytest.raises(DatasetError, match="none of the dataset's files"):
        index_dataset([collections["one"]], sources_csv=none)
    clash = tmp_path / "clash.csv"
    clash.write_text("path,source\nmusic/m1.wav,x\n./music/m1.wav,y\n")
    with pytest.raises(DatasetError, match="two sources"):
        index_dataset([collections["one"]], sources_csv=clash)
    bad = tmp_path / "bad.csv"
    bad.write_text("file,origin\na,b\n")
    with pytest.raises(DatasetError, match="columns 'path' and 'source'"):
        index_dataset([collections["one"]], sources_csv=bad)


def test_index_written_by_the_previous_version_loads(tmp_path: Path) -> None:
    """``fixtures/legacy_39e03ba/dataset-index.json`` was written by commit 39e03ba, whose items said
    ``"sample_rate"`` where today's say ``"sr"``: it loads, holds what indexing the same files gives today, and
    is written back in today's form."""
    src = LEGACY / "dataset-index.json"
    doc = json.loads(src.read_text())
    assert all("sample_rate" in it and "sr" not in it for it in doc["items"])
    old = DatasetIndex.load(src)
    assert [it.sr for it in old.items] == [it["sample_rate"] for it in doc["items"]]
    data = tmp_path / "data"  # the same files, laid out as they were
    for it in doc["items"]:
        (data / it["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(LEGACY / "collection" / Path(it["path"]).name, data / it["path"])
    (data / "other" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    fresh = build_index(data, group_pattern=r"^(tune|noise|music|speech)")
    assert old.items == fresh.items
    assert (old.label_map, old.group_source, old.label_source) == \
           (fresh.label_map, fresh.group_source, fresh.label_source)
    assert [s.path for s in old.skipped] == [s.path for s in fresh.skipped] == ["other/broken.wav"]
    old.save(tmp_path / "again.json")
    assert all("sr" in it and "sample_rate" not in it for it in json.loads((tmp_path / "again.json").read_text())["items"])
    assert DatasetIndex.load(tmp_path / "again.json") == old


def test_index_without_sources_still_loads(dataset: Path, tmp_path: Path) -> None:
    index = build_index(dataset)
    doc = index.to_dict()
    assert {it["source"] for it in doc["items"]} == {"data"}
    for item in doc["items"]:  # an index saved before sources were recorded
        del item["source"]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    old = DatasetIndex.load(tmp_path / "old.json")
    assert [it.path for it in old.items] == [it.path for it in index.items]
    assert set(old.sources().tolist()) == {""}
    index.save(tmp_path / "new.json")
    assert DatasetIndex.load(tmp_path / "new.json") == index


# --------------------------------------------------------------------------------------------------
# real data (skipped when ../shared/data is absent)


@pytest.mark.shared_data
def test_esc10_real_data() -> None:
    esc = SHARED_DATA / "esc10"
    if not esc.is_dir():
        pytest.skip(f"shared data not present at {esc}")
    index = build_index(esc, group_pattern=r"^(\d+)-", jobs=2)
    assert len(index.label_map) == 10
    assert len(index.items) == 400 and not index.skipped
    assert all(v["groups"] == 5 for v in index.summary()["labels"].values())
    groups = index.groups()
    folds = grouped_kfold(index.labels(), groups, n_splits=5, random_state=0)
    test_groups = [set(groups[te].tolist()) for _, te in folds]
    for (train, test), tg in zip(folds, test_groups):
        assert not tg & set(groups[train].tolist())
        assert len(tg) == 1  # one fold prefix per test fold
    assert set().union(*test_groups) == {"1", "2", "3", "4", "5"}
