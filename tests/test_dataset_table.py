"""Datasets from metadata tables (FMA style): --labels-csv / --path-column / --label-column / --group-column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundsort.dataset.splits import grouped_kfold
from soundsort.dataset.table import LabelsTable, read_labels_csv
from soundsort.errors import ConfigError, DatasetError
from soundsort.examples import synth_music, synth_noise
from soundsort.workflows import index_dataset
from tests.conftest import run_cli

SR = 16000


def _write(path: Path, y: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, SR)
    return path


@pytest.fixture(scope="module")
def fma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An FMA-like folder: 000/000002.wav ... with no label folders; 12 tracks, 6 artists, 2 genres."""
    root = tmp_path_factory.mktemp("fma")
    for i in range(12):
        tid = 2 + 5 * i
        y = synth_music(2.0, SR, seed=tid) if i % 2 == 0 else synth_noise(2.0, SR, seed=tid)
        _write(root / f"{tid // 1000:03d}" / f"{tid:06d}.wav", y)
    return root


def _fma_csv(path: Path, rows: list[tuple[object, str, str]]) -> Path:
    """FMA's tracks.csv layout: three header rows, the id in the first column."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "artist", "track", "track"])
        w.writerow(["", "name", "genre_top", "title"])
        w.writerow(["track_id", "", "", ""])
        for tid, artist, genre in rows:
            w.writerow([tid, artist, genre, f"title {tid}"])
    return path


def _fma_rows() -> list[tuple[int, str, str]]:
    return [(2 + 5 * i, f"artist {i // 2}", "Rock" if i % 2 == 0 else "Noise") for i in range(12)]


def test_fma_table_gives_labels_and_artist_groups(fma: Path, tmp_path: Path) -> None:
    table = LabelsTable(str(_fma_csv(tmp_path / "tracks.csv", _fma_rows())), path_column="track_id",
                        label_column="track.genre_top", group_column="artist.name", header_rows=3)
    idx = index_dataset([fma], labels_table=table)
    assert len(idx.items) == 12
    by_name = {Path(it.path).name: it for it in idx.items}
    assert by_name["000002.wav"].label == "Rock" and by_name["000002.wav"].group == "artist 0"
    assert by_name["000007.wav"].label == "Noise" and by_name["000007.wav"].group == "artist 0"
    assert idx.label_source.startswith("csv:") and "artist.name" in idx.group_source
    # every artist's tracks stay on one side of every split
    y = idx.labels()
    for train, test in grouped_kfold(y, idx.groups(), n_splits=3, random_state=0):
        assert not set(idx.groups()[train]) & set(idx.groups()[test])


def test_paths_relative_absolute_and_stems(fma: Path, tmp_path: Path) -> None:
    files = sorted(fma.rglob("*.wav"))
    p = tmp_path / "t.csv"
    p.write_text("path,label\n"
                 f"{files[0].relative_to(fma)},a\n"
                 f"{files[1]},b\n"
                 f"{files[2].stem},a\n"
                 f"{int(files[3].stem)},b\n")
    rows, notes = read_labels_csv(LabelsTable(str(p)), fma)
    assert [r.path for r in rows] == files[:4]
    assert [r.label for r in rows] == ["a", "b", "a", "b"]
    assert any("8 audio files" in n and "not in the table" in n for n in notes)


def test_missing_file_is_one_clear_error(fma: Path, tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("path,label\n000/000002.wav,a\n000/999999.wav,b\n")
    with pytest.raises(DatasetError) as e:
        read_labels_csv(LabelsTable(str(p)), fma)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and "line 3" in msg and "999999.wav" in msg
    rows, notes = read_labels_csv(LabelsTable(str(p), missing_files="skip"), fma)
    assert len(rows) == 1 and any("1 rows name files" in n for n in notes)


def test_missing_label_and_unknown_column(fma: Path, tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("path,genre\n000/000002.wav,rock\n000/000007.wav,\n")
    with pytest.raises(DatasetError) as e:
        read_labels_csv(LabelsTable(str(p), label_column="genre"), fma)
    assert "line 3" in str(e.value) and "no label in column 'genre'" in str(e.value)
    with pytest.raises(DatasetError) as e:
        read_labels_csv(LabelsTable(str(p), label_column="genre_top"), fma)
    assert "--label-column 'genre_top': no such column (columns: path, genre)" in str(e.value)
    with pytest.raises(DatasetError) as e:
        read_labels_csv(LabelsTable(str(p), label_column="genre", group_column="artist"), fma)
    assert "--group-column 'artist'" in str(e.value)


def test_conflicting_rows_and_bad_options(fma: Path, tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("path,label\n000/000002.wav,rock\n000002,pop\n")
    with pytest.raises(DatasetError, match=r"line 3: '000002' given two labels \('rock' on line 2 and 'pop'\)"):
        read_labels_csv(LabelsTable(str(p)), fma)
    with pytest.raises(ConfigError):
        LabelsTable(str(p), header_rows=0)
    with pytest.raises(ConfigError):
        LabelsTable(str(p), missing_files="ignore")
    with pytest.raises(DatasetError, match="labels CSV not found"):
        read_labels_csv(LabelsTable(str(tmp_path / "nope.csv")), fma)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(["path", "label", "artist", "extra"]),
       labels=st.lists(st.sampled_from(["rock", "jazz", "pop", "Hip-Hop", "ünïcode"]), min_size=12, max_size=12),
       spaces=st.booleans())
def test_any_column_order_reads_the_same_rows(fma: Path, tmp_path: Path, order: list[str], labels: list[str],
                                              spaces: bool) -> None:
    files = sorted(fma.rglob("*.wav"))
    p = tmp_path / "h.csv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([f" {c} " if spaces else c for c in order])
        for f, lab in zip(files, labels):
            row = {"path": str(f.relative_to(fma)), "label": lab, "artist": f"a-{lab}", "extra": "x,y"}
            w.writerow([row[c] for c in order])
    rows, _ = read_labels_csv(LabelsTable(str(p), group_column="artist"), fma)
    assert [(r.path, r.label, r.group) for r in rows] == [(f, lab, f"a-{lab}") for f, lab in zip(files, labels)]


def test_cli_index_and_train_from_table(fma: Path, tmp_path: Path) -> None:
    csv_path = _fma_csv(tmp_path / "tracks.csv", _fma_rows())
    common = ["--labels-csv", str(csv_path), "--header-rows", "3", "--path-column", "track_id",
              "--label-column", "track.genre_top", "--group-column", "artist.name"]
    out = tmp_path / "index.json"
    r = run_cli("index", str(fma), "-o", str(out), *common)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert {it["label"] for it in data["items"]} == {"Rock", "Noise"}
    assert len({it["group"] for it in data["items"]}) == 6
    r = run_cli("train", str(fma), "--task", "genre", "--features", "mfcc", "--folds", "3", "--no-learning-curve",
                "--no-embedding-map", "--no-profile", "--runs", str(tmp_path / "runs"), "-o", str(tmp_path / "m"),
                "-j", "1", *common)
    assert r.returncode == 0, r.stderr
    cfg = json.loads(next((tmp_path / "runs").glob("*/config.json")).read_text())
    assert cfg["labels_csv"]["group_column"] == "artist.name"
    # errors: one line, naming the table and the column / row
    r = run_cli("index", str(fma), "-o", str(tmp_path / "i2.json"), "--labels-csv", str(csv_path), "--header-rows",
                "3", "--path-column", "track_id", "--label-column", "genre")
    assert r.returncode == 3 and len(r.stderr.strip().splitlines()) == 1
    assert "--label-column 'genre': no such column" in r.stderr and "track.genre_top" in r.stderr
    r = run_cli("index", str(fma), "--label-column", "x")
    assert r.returncode == 2 and "need --labels-csv" in r.stderr
