"""Leave-source-out cross-validation: explicit splits in ``cross_validate``, per-source scores, and
``soundsort train --cv leave-source-out`` end to end on three generated collections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.base import BaseEstimator, ClassifierMixin

from soundsort.dataset import leave_source_out
from soundsort.errors import ConfigError, DatasetError
from soundsort.evaluation.crossval import CVResult, cross_validate, source_cv_summary
from soundsort.examples import formant_speech, synth_music, synth_noise
from soundsort.features.augmented import AugmentedTable
from soundsort.workflows import TrainConfig, train
from tests.conftest import run_cli

SR = 16000


class _Spy(ClassifierMixin, BaseEstimator):
    """Remembers, per fit, the last feature column of its training rows (an id planted by the test)."""

    seen: list[np.ndarray] = []

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Spy:
        _Spy.seen.append(X[:, -1].copy())
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_explicit_splits_never_train_on_the_test_source_as_copy_or_noise() -> None:
    n_files = 9
    file_index = np.repeat(np.arange(n_files), 2)
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0])
    sources = np.array(["a", "a", "a", "b", "b", "b", "c", "c", "c"])
    X = np.stack([np.zeros(len(file_index)), file_index.astype(float)], axis=1)  # id = file
    src = np.repeat(np.arange(n_files), 3)
    noise = np.tile([-1, 4, 7], n_files)  # copies carry no noise, file 4's (source b) or file 7's (source c)
    aug = AugmentedTable(np.stack([np.zeros(len(src)), 100.0 + np.arange(len(src))], axis=1), src, noise, 3)
    splits = leave_source_out(y, np.arange(n_files).astype(str), sources)
    _Spy.seen = []
    res = cross_validate(_Spy(), X, file_index, y, np.arange(n_files).astype(str), ["m", "n"],
                         splits=[(s.train, s.test) for s in splits], augmented=aug)
    assert [f["fold"] for f in res.folds] == [0, 1, 2] and {f["repeat"] for f in res.folds} == {0}
    for split, seen in zip(splits, _Spy.seen):
        test_files = set(split.test.tolist())
        plain = seen[seen < 100].astype(int)
        copies = seen[seen >= 100].astype(int) - 100
        assert set(plain.tolist()) == set(split.train.tolist())
        assert not {int(src[c]) for c in copies} & test_files  # no copy of a test file
        assert not {int(noise[c]) for c in copies} & test_files  # no test file mixed in as noise
        assert len(copies) > 0
    assert np.array_equal(np.sort(np.concatenate([te for _, _, te, _ in res.split_proba])), np.arange(n_files))
    with pytest.raises(ConfigError, match="no training or no test files"):
        cross_validate(_Spy(), X, file_index, y, np.arange(n_files).astype(str), ["m", "n"],
                       splits=[(np.array([0, 1]), np.array([2]))], files=np.array([0, 1]))


def test_on_fold_sees_every_split_as_it_ends_and_an_exception_stops_the_cv() -> None:
    """The per-fold callback (how a tuning study reports each fold and prunes): called once per split, in
    order, with that split's metrics; what it raises ends the CV before the next fit."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n_files = 24
    file_index = np.repeat(np.arange(n_files), 3)
    y = np.arange(n_files) % 2
    X = rng.normal(size=(len(file_index), 4)) + 0.8 * y[file_index][:, None]
    groups = (np.arange(n_files) // 2).astype(str)
    calls: list[tuple[int, dict]] = []
    res = cross_validate(LogisticRegression(), X, file_index, y, groups, ["m", "n"], n_splits=3, n_repeats=2,
                         positive=0, on_fold=lambda done, m: calls.append((done, dict(m))))
    assert [done for done, _ in calls] == list(range(1, 7))
    assert json.dumps([m for _, m in calls], sort_keys=True) == json.dumps(res.folds, sort_keys=True)
    assert [(m["repeat"], m["fold"]) for _, m in calls] == [(r, f) for r in range(2) for f in range(3)]

    class Stop(Exception):
        pass

    def stop_after_two(done: int, m: dict) -> None:
        if done == 2:
            raise Stop(m["f1"])

    _Spy.seen = []
    with pytest.raises(Stop):
        cross_validate(_Spy(), X, file_index, y, groups, ["m", "n"], n_splits=3, positive=0, on_fold=stop_after_two)
    assert len(_Spy.seen) == 2  # the third split was never fitted


def test_source_cv_summary_scores() -> None:
    # source "mix" = music 0, 1 and non-music 2, 3; "talk" = non-music 4, 5; "band" = music 6
    y = np.array([0, 0, 1, 1, 1, 1, 0])
    sources = np.array(["mix", "mix", "mix", "mix", "talk", "talk", "band"])
    splits = leave_source_out(y, np.arange(7), sources)
    assert [(s.source, s.testable) for s in splits] == [("band", True), ("mix", True), ("talk", True)]
    p_music = np.array([0.9, 0.4, 0.6, 0.1])  # at 0.5: music hit, music miss, false alarm, correct reject
    parts = [(0, 0, np.array([6]), np.array([[0.8, 0.2]])),
             (0, 1, np.arange(4), np.stack([p_music, 1 - p_music], axis=1)),
             (0, 2, np.array([4, 5]), np.array([[0.7, 0.3], [0.2, 0.8]]))]
    cv = CVResult([{"n_train_files": 6}, {"n_train_files": 3}, {"n_train_files": 5}], {},
                  np.full((7, 2), np.nan), 0.0, 0.0, parts)
    got = source_cv_summary(cv, splits, y, ["music", "non-music"], positive=0)
    assert got["per_source"]["mix"] == {"files": 4, "tested": True, "train_files": 3, "accuracy": 0.5,
                                        "unseen_labels": [], "music_files": 2, "non_music_files": 2,
                                        "music_recall": 0.5, "non_music_called_music": 0.5}
    assert got["per_source"]["talk"]["music_recall"] is None and got["per_source"]["talk"]["accuracy"] == 0.5
    assert got["per_source"]["talk"]["non_music_called_music"] == 0.5
    assert got["per_source"]["band"]["non_music_called_music"] is None and got["per_source"]["band"]["accuracy"] == 1
    assert got["sources"] == 3 and got["tested"] == 3
    pooled = got["pooled"]  # 3 music files, 2 called music; 4 non-music files, 2 called music
    assert pooled["n"] == 7 and pooled["recall"] == pytest.approx(2 / 3) and pooled["precision"] == 0.5
    assert pooled["accuracy"] == pytest.approx(4 / 7)
    stricter = source_cv_summary(cv, splits, y, ["music", "non-music"], positive=0, threshold=0.95)
    assert stricter["per_source"]["mix"]["music_recall"] == 0.0
    assert stricter["per_source"]["mix"]["non_music_called_music"] == 0.0 and stricter["threshold"] == 0.95
    # a source that cannot be tested keeps its reason; its files are in no split
    lone = leave_source_out(y[:6], np.arange(6), sources[:6])
    assert [s.testable for s in lone] == [False, True]  # without "mix" only non-music is left to train on
    one = CVResult([{}], {}, np.full((6, 2), np.nan), 0.0, 0.0, [parts[2]])
    got = source_cv_summary(one, lone, y[:6], ["music", "non-music"], positive=0)
    assert got["per_source"]["mix"] == {"files": 4, "tested": False, "reason": lone[0].reason}
    assert got["per_source"]["talk"]["train_files"] == 4  # the split's own size when the fold has no count
    assert got["pooled"]["n"] == 2 and got["tested"] == 1


# --------------------------------------------------------------------------------------------------
# end to end: three collections


def _write(path: Path, y: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, SR)


@pytest.fixture(scope="module")
def collections(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``songs`` (all music, given as music=songs), ``street/noise`` and ``radio/{speech,music_jingles}``."""
    root = tmp_path_factory.mktemp("sources")
    for i in range(6):
        _write(root / "songs" / ("piano" if i % 2 else "band") / f"song{i}.flac", synth_music(4.0, SR, seed=10 + i))
        _write(root / "street" / "noise" / f"street{i}.flac", synth_noise(4.0, SR, seed=20 + i))
        _write(root / "radio" / "speech" / f"talk{i}.flac", formant_speech(4.0, SR, seed=30 + i))
    for i in range(3):
        _write(root / "radio" / "music_jingles" / f"jingle{i}.flac", synth_music(4.0, SR, seed=40 + i))
    return {"songs": root / "songs", "street": root / "street", "radio": root / "radio"}


def test_cli_train_leave_source_out(collections: dict[str, Path], tmp_path: Path) -> None:
    model, runs = tmp_path / "model", tmp_path / "runs"
    res = run_cli("train", f"music={collections['songs']}", str(collections["street"]), str(collections["radio"]),
                  "--task", "music", "--features", "mfcc", "--model", "logreg", "--folds", "3",
                  "--cv", "leave-source-out", "-o", str(model), "--runs", str(runs),
                  "--no-learning-curve", "--no-embedding-map", "--no-profile", "-j", "1")
    assert res.returncode == 0, res.stderr
    assert "leave-source-out: 3 of 3 sources tested" in res.stderr
    assert "pooled out-of-source (21 files" in res.stdout and "street" in res.stdout
    card = json.loads((model / "model.json").read_text())
    assert "accuracy" in card["metrics"]["cv"]  # the grouped CV is still there
    lso = card["metrics"]["leave_source_out"]
    assert lso["sources"] == 3 and lso["tested"] == 3 and lso["threshold"] == 0.5
    per = lso["per_source"]
    assert set(per) == {"songs", "street", "radio"}
    assert per["songs"]["files"] == 6 and per["songs"]["music_files"] == 6 and per["songs"]["non_music_files"] == 0
    assert per["songs"]["non_music_called_music"] is None and per["songs"]["train_files"] == 15
    assert per["street"]["music_recall"] is None and per["street"]["music_files"] == 0
    assert per["radio"]["music_files"] == 3 and per["radio"]["non_music_files"] == 6
    for e in per.values():
        assert e["tested"] and 0.0 <= e["accuracy"] <= 1.0
    assert lso["pooled"]["n"] == 21 and {"accuracy", "f1", "precision", "recall"} <= set(lso["pooled"])
    # pooled accuracy is the per-source accuracies weighted by their files
    weighted = sum(e["accuracy"] * e["files"] for e in per.values()) / 21
    assert lso["pooled"]["accuracy"] == pytest.approx(weighted)
    run = next(runs.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["leave_source_out"] == lso and "cv_summary" in metrics
    report = (run / "report.md").read_text()
    assert "## Cross-validation (3 folds" in report
    assert "## Leave-source-out cross-validation (3 of 3 sources" in report
    for name in ("songs", "street", "radio"):
        assert f"| {name} | {per[name]['files']} | {per[name]['train_files']} |" in report
    assert json.loads((run / "config.json").read_text())["cv"] == "leave-source-out"


def test_leave_source_out_with_an_ensemble_and_calibration(collections: dict[str, Path], tmp_path: Path) -> None:
    cfg = TrainConfig(task="music", model="ensemble-mean", members=["mfcc:logreg", "handcrafted:logreg"], folds=3,
                      calibration="sigmoid", optimize="f1", cv="leave-source-out", learning_curve=False,
                      embedding_map=False, profile=False)
    res = train([f"music={collections['songs']}", collections["street"], collections["radio"]], cfg,
                model_dir=tmp_path / "ens", runs_dir=tmp_path / "runs")
    lso = res.leave_source_out
    top = json.loads((tmp_path / "ens" / "model.json").read_text())
    assert top["metrics"]["leave_source_out"] == lso
    assert lso["threshold"] == pytest.approx(top["threshold"])  # the saved operating point, not a new one
    assert set(lso["members"]) == {"mfcc:logreg", "handcrafted:logreg"}
    for i in range(2):  # each member's card has its own out-of-source scores, on the same sources
        member = json.loads((tmp_path / "ens" / f"member-{i}" / "model.json").read_text())
        assert set(member["metrics"]["leave_source_out"]["per_source"]) == set(lso["per_source"])
        assert member["metrics"]["leave_source_out"]["threshold"] == 0.5
    assert "Ensemble members, pooled out-of-source" in res.report.read_text()


def test_leave_source_out_refusals(collections: dict[str, Path], tmp_path: Path) -> None:
    base = ["--features", "mfcc", "--no-learning-curve", "--no-embedding-map", "--no-profile", "-j", "1",
            "--runs", str(tmp_path / "runs"), "-o", str(tmp_path / "m")]
    one = run_cli("train", str(collections["radio"]), "--cv", "leave-source-out", *base)
    assert one.returncode == 3 and "at least 2 data sources" in one.stderr
    assert len(one.stderr.strip().splitlines()) == 1
    bad = run_cli("train", str(collections["radio"]), "--cv", "by-source", *base)
    assert bad.returncode == 2 and "unknown --cv 'by-source'" in bad.stderr
    csv_only = run_cli("train", str(collections["radio"]), "--sources-csv", str(tmp_path / "s.csv"), *base)
    assert csv_only.returncode == 2 and "--sources-csv" in csv_only.stderr
    assert not (tmp_path / "m").exists()
    # only music once the music collection is held out, and only non-music otherwise: nothing testable
    cfg = TrainConfig(features="mfcc", cv="leave-source-out", learning_curve=False, embedding_map=False, profile=False)
    with pytest.raises(DatasetError, match="no source can be held out"):
        train([f"music={collections['songs']}", collections["street"]], cfg, model_dir=None,
              runs_dir=tmp_path / "runs")
