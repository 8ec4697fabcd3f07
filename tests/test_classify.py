"""soundsort classify with the bundled models: timelines on generated recordings, batches, resume, schema."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsort.examples import make_mixed_recording, synth_music, synth_speech
from soundsort.inference.classify import ClassifyConfig, Classifier
from soundsort.inference.schema import CSV_COLUMNS, RECORD_SCHEMA
from soundsort.inference.timeline import boundary_errors, frame_f1, rasterize
from tests.conftest import run_cli

SR = 22050


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.fixture(scope="module")
def radio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    path = tmp_path_factory.mktemp("radio") / "radio.flac"
    truth = make_mixed_recording(path, [("speech", 12.0), ("music", 15.0), ("silence", 5.0), ("speech", 10.0),
                                        ("music", 12.0), ("noise", 6.0)], sr=SR, seed=11)
    return path, truth


def test_timeline_finds_the_music(classifier: Classifier, radio: tuple[Path, list[dict]]) -> None:
    path, truth = radio
    res = classifier.classify_file(path)
    assert res.status == "ok" and res.duration == pytest.approx(60.0, abs=0.05)
    music_truth = [{**t, "label": "music" if t["kind"] == "music" else "non-music"} for t in truth]
    f1 = frame_f1(rasterize(music_truth, res.duration), rasterize(res.timeline, res.duration))
    assert f1 >= 0.9
    labels = [s["label"] for s in res.timeline]
    assert labels == ["non-music", "music", "non-music", "music", "non-music"]
    true_bounds = [12.0, 27.0, 42.0, 54.0]
    pred_bounds = [s["start"] for s in res.timeline[1:]]
    assert max(boundary_errors(true_bounds, pred_bounds)) <= 1.5
    assert res.music_share == pytest.approx(27 / 60, abs=0.06)
    assert all(s["end"] - s["start"] >= 2.0 for s in res.timeline)
    assert res.genre is not None and len(res.genre) == 3 and res.genre_windows >= 5
    assert res.genre[0]["probability"] >= res.genre[1]["probability"]


def test_no_music_means_no_genre(classifier: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "talk.wav"
    sf.write(path, synth_speech(20.0, SR, seed=5), SR)
    res = classifier.classify_file(path)
    assert res.label == "non-music" and res.music_share < 0.15
    assert res.genre is None and res.genre_windows == 0


def test_short_and_long_files_and_block_edges(tmp_path: Path) -> None:
    # small blocks force many block edges: the frame probabilities must equal a one-block run
    y = np.concatenate([synth_music(50.0, 16000, seed=3), synth_speech(40.0, 16000, seed=3)])
    sf.write(tmp_path / "long.flac", y, 16000)
    small = Classifier(config=ClassifyConfig(block_seconds=7.0, genre=False))
    big = Classifier(config=ClassifyConfig(block_seconds=600.0, genre=False))
    a, b = small.classify_file(tmp_path / "long.flac"), big.classify_file(tmp_path / "long.flac")
    assert a.music_probability == pytest.approx(b.music_probability, abs=1e-4)
    assert [s["label"] for s in a.timeline] == [s["label"] for s in b.timeline] == ["music", "non-music"]
    assert a.timeline[1]["start"] == pytest.approx(50.0, abs=1.5)
    sf.write(tmp_path / "tiny.wav", synth_music(0.7, 16000, seed=1), 16000)
    tiny = big.classify_file(tmp_path / "tiny.wav")
    assert tiny.duration == pytest.approx(0.7, abs=0.01) and len(tiny.timeline) == 1


def _validate(record: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(record, RECORD_SCHEMA)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    sf.write(root / "song.flac", synth_music(8.0, SR, seed=21), SR)
    sf.write(root / "talk.wav", synth_speech(8.0, SR, seed=22), SR)
    (root / "sub").mkdir()
    sf.write(root / "sub" / "song2.ogg", synth_music(6.0, SR, seed=23), SR)
    (root / "broken.mp3").write_bytes(b"ID3" + b"\x00" * 50)
    return root


def test_cli_json_validates_and_bad_file_is_reported(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    res = run_cli("classify", str(folder), "--format", "json", "--output", str(out))
    assert res.returncode == 1  # one file failed
    assert sum("broken.mp3" in line for line in res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr
    records = json.loads(out.read_text())
    assert len(records) == 4
    for r in records:
        _validate(r)
    by_name = {Path(r["path"]).name: r for r in records}
    assert by_name["broken.mp3"]["status"] == "error" and "broken.mp3" in by_name["broken.mp3"]["error"]
    assert by_name["song.flac"]["label"] == "music" and by_name["talk.wav"]["label"] == "non-music"
    assert by_name["song2.ogg"]["genre"] is not None


def test_cli_csv_and_jsonl_to_stdout(folder: Path) -> None:
    res = run_cli("classify", str(folder / "song.flac"), str(folder / "talk.wav"), "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0].keys()) == CSV_COLUMNS and len(rows) == 2
    assert rows[0]["label"] == "music" and ":music" in rows[0]["timeline"]
    res = run_cli("classify", str(folder / "song.flac"), "--format", "jsonl", "--no-genre")
    rec = json.loads(res.stdout.strip())
    _validate(rec)
    assert rec["genre"] is None and "genre" not in rec["models"]


def test_cli_schema_and_existing_output_protected(folder: Path, tmp_path: Path) -> None:
    res = run_cli("classify", "--schema", str(folder))
    assert json.loads(res.stdout)["title"].startswith("soundsort classify")
    out = tmp_path / "mine.csv"
    out.write_text("precious user data\n")
    res = run_cli("classify", str(folder / "song.flac"), "--format", "csv", "--output", str(out))
    assert res.returncode == 2 and "exists" in res.stderr  # a usage error: --overwrite or --resume
    assert out.read_text() == "precious user data\n"


def test_resume_after_kill(folder: Path, tmp_path: Path) -> None:
    """Kill a batch mid-way; --resume keeps what was done, classifies only the rest, and the file stays valid."""
    many = tmp_path / "many"
    many.mkdir()
    for i in range(30):
        sf.write(many / f"clip{i:02d}.flac", synth_music(6.0, 16000, seed=100 + i), 16000)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "soundsort", "classify", str(many), "--format", "jsonl",
                             "--output", str(out), "--no-genre", "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if out.exists() and len(out.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert 3 <= len(done_before) < 30
    res = run_cli("classify", str(many), "--format", "jsonl", "--output", str(out), "--resume", "--no-genre")
    assert res.returncode == 0, res.stderr
    assert f"{len(done_before)} of 30 files already done" in res.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(Path(r["path"]).name for r in records) == [f"clip{i:02d}.flac" for i in range(30)]


def test_jsonl_records_are_written_at_once_and_synced_at_most_every_flush_seconds(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """Each record is in the file as soon as it is added (another reader sees it: a killed command loses
    none); the file is synced to the disk at most every ``flush_seconds`` and at the end."""
    import os

    from soundsort.inference.batch import ResultWriter

    real, synced = os.fsync, []
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    for every, want in ((3600.0, 0), (0.0, 5)):
        out = tmp_path / f"out-{every}.jsonl"
        writer = ResultWriter("jsonl", out, flush_seconds=every)
        synced.clear()
        for i in range(5):
            writer.add({"path": f"f{i}.wav", "status": "ok"})
            assert [json.loads(line)["path"] for line in out.read_text().splitlines()] == [f"f{j}.wav"
                                                                                          for j in range(i + 1)]
        assert len(synced) == want
        writer.close()
        assert len(synced) == want + 1  # and once at the end
