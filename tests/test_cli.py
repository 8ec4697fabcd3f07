"""The command line as a user meets it: index with bad files, one-line errors, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from soundsort.examples import synth_music, synth_noise
from tests.conftest import run_cli


def test_index_lists_bad_files_and_goes_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "music").mkdir(parents=True)
    (data / "noise").mkdir()
    for i in range(3):
        sf.write(data / "music" / f"m{i}.flac", synth_music(2.0, 22050, seed=i), 22050)
        sf.write(data / "noise" / f"n{i}.wav", synth_noise(2.0, 22050, seed=i), 22050)
    (data / "noise" / "empty.wav").write_bytes(b"")
    (data / "music" / "fake.mp3").write_text("not audio at all " * 20)
    (data / "music" / "readme.txt").write_text("ignored: not an audio extension")
    out = tmp_path / "index.json"
    res = run_cli("index", str(data), "--output", str(out))
    assert res.returncode == 0, res.stderr
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2
    assert any("empty.wav" in s and "empty file" in s for s in skipped)
    assert any("fake.mp3" in s for s in skipped)
    doc = json.loads(out.read_text())
    assert len(doc["items"]) == 6 and doc["label_map"] == {"music": 0, "noise": 1}
    assert {Path(s["path"]).name for s in doc["skipped"]} == {"empty.wav", "fake.mp3"}
    again = run_cli("index", str(data), "--output", str(out))
    assert again.returncode == 3 and "already exists" in again.stderr  # 3: nothing could be done


def test_errors_are_one_line(tmp_path: Path) -> None:
    res = run_cli("index", str(tmp_path / "missing"))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    res = run_cli("predict", str(tmp_path), "--model", str(tmp_path / "no-model"))
    assert res.returncode == 3
    assert res.stderr.strip().count("\n") == 0 and "model folder not found" in res.stderr
    (tmp_path / "empty-model").mkdir()
    sf.write(tmp_path / "song.wav", synth_music(2.0, 16000, seed=1), 16000)
    res = run_cli("predict", str(tmp_path / "song.wav"), "--model", str(tmp_path / "empty-model"))
    assert res.returncode == 3
    assert res.stderr.strip().count("\n") == 0 and "model.json missing" in res.stderr
    res = run_cli("train", str(tmp_path), "--model", "nonsense")
    assert res.returncode == 2 and "unknown model" in res.stderr and "Traceback" not in res.stderr


def test_tags_command_on_real_signals(tmp_path: Path) -> None:
    import numpy as np
    import pytest

    from soundsort.examples import espeak_speech, have_espeak

    sf.write(tmp_path / "quiet.wav", np.zeros(16000 * 3, np.float32), 16000)
    if have_espeak():
        sf.write(tmp_path / "talk.wav", espeak_speech(6.0, 16000, seed=2), 16000)
    sf.write(tmp_path / "song.wav", synth_music(6.0, 16000, seed=2), 16000)
    res = run_cli("tags", str(tmp_path), "--format", "json", "--top", "3")
    assert res.returncode == 0, res.stderr
    docs = {Path(d["path"]).name: d["tags"] for d in json.loads(res.stdout)}
    assert docs["quiet.wav"]["yamnet"][0][0] == "Silence"
    assert set(docs["song.wav"]) == {"yamnet", "musicnn-msd", "musicnn-mtt"}
    assert len(docs["song.wav"]["musicnn-mtt"]) == 3
    assert "Music" in [t for t, _ in docs["song.wav"]["yamnet"]] or docs["song.wav"]["yamnet"][0][0] in (
        "Music", "Musical instrument", "Electronic music", "Synthesizer")
    if not have_espeak():
        pytest.skip("espeak-ng not installed: speech part not checked")
    assert docs["talk.wav"]["yamnet"][0][0] == "Speech"


def test_preset_recipe_on_other_data(example_data: Path, tmp_path: Path) -> None:
    """`train --preset default-music DATA` trains the bundled recipe on the given data, never over the asset."""
    from soundsort.presets import PRESETS, get_preset
    from soundsort.workflows import TrainConfig

    ps = get_preset("default-music")
    assert TrainConfig(**ps.train_fields()).features == ps.features  # every recipe field is a TrainConfig field
    for p in PRESETS.values():
        TrainConfig(**p.train_fields())
    out = tmp_path / "model"
    res = run_cli("train", "--preset", "default-music", str(example_data), "-o", str(out), "--runs",
                  str(tmp_path / "runs"), "--no-learning-curve", "--no-embedding-map", "--no-profile", "-j", "1")
    assert res.returncode == 0, res.stderr
    card = json.loads((out / "model.json").read_text())
    assert card["featurizer"] == ps.features == "yamnet-music"
    assert card["featurizer_params"]["segment_seconds"] == 0.48 == card["featurizer_params"]["hop_seconds"]
    assert card["model"] == "score-threshold" and card["model_params"]["column"] == 9
    assert card["model_params"]["threshold"] == 0.1 and card["model_params"]["mapping"] == "logistic"
    assert "leave_source_out" not in card["metrics"]  # one root of other data: the grouped CV it asked for
    assert card["training_data"]["files"] == 24
    bad = run_cli("train", "--preset", "no-such-preset", str(example_data), "-o", str(tmp_path / "m2"))
    assert bad.returncode != 0 and "unknown preset 'no-such-preset'" in bad.stderr


def test_classify_schema_without_paths_validates_real_records(tmp_path: Path) -> None:
    """`classify --schema` needs no path; the schema it prints accepts what classify really writes."""
    import pytest

    jsonschema = pytest.importorskip("jsonschema")
    res = run_cli("classify", "--schema")
    assert res.returncode == 0, res.stderr
    schema = json.loads(res.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    sf.write(tmp_path / "song.flac", synth_music(8.0, 22050, seed=31), 22050)
    (tmp_path / "broken.wav").write_bytes(b"RIFF" + b"\x00" * 40)
    run = run_cli("classify", str(tmp_path), "--format", "json", "--jobs", "1")
    assert run.returncode == 1  # the broken file
    records = {Path(r["path"]).name: r for r in json.loads(run.stdout)}
    assert records["song.flac"]["status"] == "ok" and records["song.flac"]["genre"]
    assert records["song.flac"]["warnings"] == []
    assert records["broken.wav"]["status"] == "error"
    for record in records.values():
        jsonschema.validate(record, schema)
    with pytest.raises(jsonschema.ValidationError):  # the schema is not vacuous
        jsonschema.validate({**records["song.flac"], "warnings": "not a list"}, schema)

    usage = run_cli("classify")  # no path and no --schema: a usage error, not a traceback
    assert usage.returncode == 2 and "Missing argument" in usage.stderr and "Traceback" not in usage.stderr
