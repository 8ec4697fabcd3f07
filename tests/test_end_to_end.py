"""train → evaluate → predict through the real command line, on generated audio."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsort.examples import make_example_dataset, synth_music, synth_noise, synth_speech
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, example_data: Path) -> dict:
    work = tmp_path_factory.mktemp("e2e")
    model = work / "model"
    res = run_cli("train", str(example_data), "--task", "music", "--model", "logreg", "--output", str(model),
                  "--runs", str(work / "runs"), "--folds", "4", "--jobs", "2")
    assert res.returncode == 0, res.stderr
    return {"work": work, "model": model, "stdout": res.stdout, "stderr": res.stderr}


def test_train_writes_model_and_report(trained: dict) -> None:
    model = trained["model"]
    card = json.loads((model / "model.json").read_text())
    assert card["task"] == "music" and card["labels"] == ["music", "non-music"]
    assert card["featurizer"] == "handcrafted" and card["featurizer_params"]["segment_seconds"] == 3.0
    assert "scikit-learn" in card["versions"]
    # cross-validated file-level accuracy on clearly separable generated audio
    assert card["metrics"]["cv"]["accuracy"]["mean"] >= 0.9
    assert card["metrics"]["cv"]["f1"]["mean"] >= 0.85
    run = next((trained["work"] / "runs").iterdir())
    for name in ("report.md", "metrics.json", "config.json", "confusion_matrix.png", "confusion_matrix.json",
                 "pr_curve.png", "learning_curve.png", "predictions.csv"):
        assert (run / name).is_file(), name
    assert (run / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["cv_folds"]) == 4
    cm = np.array(json.loads((run / "confusion_matrix.json").read_text())["matrix"])
    assert cm.sum() == 24 and np.trace(cm) >= 22


def test_predict_new_clips(trained: dict, tmp_path: Path) -> None:
    sr = 22050
    sf.write(tmp_path / "song.wav", synth_music(7.0, sr, seed=4242), sr)
    sf.write(tmp_path / "talk.flac", synth_speech(7.0, sr, seed=4243), sr)
    sf.write(tmp_path / "street.ogg", synth_noise(7.0, sr, seed=4244), sr)
    res = run_cli("predict", str(tmp_path), "--model", str(trained["model"]), "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(res.stdout))}
    assert rows["song.wav"]["label"] == "music" and float(rows["song.wav"]["p_music"]) > 0.5
    assert rows["talk.flac"]["label"] == "non-music"
    assert rows["street.ogg"]["label"] == "non-music"


def test_evaluate_on_fresh_data(trained: dict, tmp_path: Path) -> None:
    fresh = make_example_dataset(tmp_path / "fresh", n_per_class=4, seconds=4.0, seed=77)
    res = run_cli("evaluate", str(trained["model"]), str(fresh), "--runs", str(tmp_path / "runs"))
    assert res.returncode == 0, res.stderr
    run = next((tmp_path / "runs").iterdir())
    overall = json.loads((run / "metrics.json").read_text())["overall"]
    assert overall["n"] == 12
    assert overall["accuracy"] >= 0.9


def test_predict_bad_file_is_one_line_and_batch_goes_on(trained: dict, tmp_path: Path) -> None:
    sf.write(tmp_path / "good.wav", synth_music(5.0, 22050, seed=5), 22050)
    (tmp_path / "broken.mp3").write_bytes(b"\x00garbage" * 100)
    res = run_cli("predict", str(tmp_path), "--model", str(trained["model"]), "--format", "json")
    assert res.returncode == 1
    docs = json.loads(res.stdout)
    assert [Path(d["path"]).name for d in docs] == ["good.wav"]
    err_lines = [line for line in res.stderr.splitlines() if "broken.mp3" in line]
    assert len(err_lines) == 1 and "Traceback" not in res.stderr


def test_model_with_other_feature_config_is_refused(trained: dict, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(trained["model"], other)
    card = json.loads((other / "model.json").read_text())
    card["featurizer_params"]["version"] = 999
    (other / "model.json").write_text(json.dumps(card))
    sf.write(tmp_path / "clip.wav", synth_music(3.0, 22050, seed=5), 22050)
    res = run_cli("predict", str(tmp_path / "clip.wav"), "--model", str(other))
    assert res.returncode == 3  # nothing could be done: the model is refused
    assert "version" in res.stderr and "Traceback" not in res.stderr


def test_train_refuses_to_overwrite_model(trained: dict, example_data: Path) -> None:
    res = run_cli("train", str(example_data), "--output", str(trained["model"]), "--folds", "2",
                  "--no-learning-curve", "--runs", str(trained["work"] / "runs2"))
    assert res.returncode == 3
    assert "already exists" in res.stderr


def test_genre_task_multiclass(tmp_path: Path) -> None:
    # three "genres" of generated audio: three classes the model must tell apart
    root = make_example_dataset(tmp_path / "g", n_per_class=6, seconds=4.0, seed=3)
    res = run_cli("train", str(root), "--task", "genre", "--model", "svm", "--folds", "3", "--no-learning-curve",
                  "--output", str(tmp_path / "m"), "--runs", str(tmp_path / "runs"))
    assert res.returncode == 0, res.stderr
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert card["labels"] == ["music", "noise", "speech"]
    assert card["metrics"]["cv"]["accuracy"]["mean"] >= 0.85


def test_ensemble_train_predict_evaluate(example_data: Path, tmp_path: Path) -> None:
    model = tmp_path / "ens"
    res = run_cli("train", str(example_data), "--model", "ensemble-vote", "--member", "handcrafted:logreg",
                  "--member", "mfcc:svm", "--member", "handcrafted:random-forest", "--folds", "3",
                  "--output", str(model), "--runs", str(tmp_path / "runs"))
    assert res.returncode == 0, res.stderr
    card = json.loads((model / "model.json").read_text())
    assert card["model"] == "ensemble-vote" and card["model_params"]["members"] == ["member-0", "member-1", "member-2"]
    assert card["metrics"]["cv"]["accuracy"]["mean"] >= 0.85
    assert json.loads((model / "member-1" / "model.json").read_text())["featurizer"] == "mfcc"
    report = next((tmp_path / "runs").iterdir()) / "report.md"
    assert "Ensemble members" in report.read_text()
    sf.write(tmp_path / "song.wav", synth_music(7.0, 22050, seed=99), 22050)
    pred = run_cli("predict", str(tmp_path / "song.wav"), "--model", str(model), "--format", "json")
    assert pred.returncode == 0, pred.stderr
    assert json.loads(pred.stdout)[0]["label"] == "music"
    fresh = make_example_dataset(tmp_path / "fresh", n_per_class=3, seconds=4.0, seed=55)
    ev = run_cli("evaluate", str(model), str(fresh), "--runs", str(tmp_path / "runs-eval"))
    assert ev.returncode == 0, ev.stderr
    run = next((tmp_path / "runs-eval").iterdir())
    assert json.loads((run / "metrics.json").read_text())["overall"]["accuracy"] >= 0.85
