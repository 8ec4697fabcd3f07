"""Classical models, safe saving/loading, metrics with known answers, file-level aggregation and CV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from soundsort.errors import ConfigError, ModelError
from soundsort.evaluation.crossval import cross_validate
from soundsort.evaluation.metrics import classification_metrics, summarize_folds
from soundsort.models.registry import MODELS, make_model
from soundsort.models.io import ModelCard, check_featurizer, load_model, save_model
from soundsort.models.segments import aggregate


def blobs(n: int = 120, k: int = 3, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centers = rng.normal(0, 4, (k, d))
    return centers[y] + rng.normal(0, 1, (n, d)), y


@pytest.mark.parametrize("name", ["logreg", "linear-svm", "svm", "random-forest", "xgboost"])
def test_every_model_learns_and_round_trips(tmp_path: Path, name: str) -> None:
    X, y = blobs()
    est = make_model(name, random_state=0).fit(X[:90], y[:90])
    acc = (est.predict(X[90:]) == y[90:]).mean()
    assert acc >= 0.9
    card = ModelCard(task="genre", labels=["a", "b", "c"], featurizer="handcrafted",
                     featurizer_params={"name": "handcrafted", "version": 1}, model=name)
    save_model(tmp_path / "m", est, card)
    loaded, card2 = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(X[90:]), est.predict_proba(X[90:]), atol=1e-9)
    assert card2.labels == ["a", "b", "c"] and card2.model == name


def test_unknown_model_is_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        make_model("deep-magic")
    assert {"logreg", "linear-svm", "random-forest", "xgboost"} <= set(MODELS.names())


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    import os

    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    evil = make_pipeline(FunctionTransformer(os.system))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.skops").write_bytes(sio.dumps(evil))
    card = ModelCard(task="music", labels=["music", "non-music"], featurizer="mfcc", featurizer_params={}, model="x")
    (tmp_path / "m" / "model.json").write_text(json.dumps(card.__dict__))
    with pytest.raises(ModelError, match="does not trust"):
        load_model(tmp_path / "m")


def test_damaged_and_missing_models(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model.json missing"):
        load_model(tmp_path)
    X, y = blobs()
    card = ModelCard(task="genre", labels=["a", "b", "c"], featurizer="mfcc", featurizer_params={}, model="logreg")
    save_model(tmp_path / "m", make_model("logreg").fit(X, y), card)
    (tmp_path / "m" / "model.skops").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelError, match="damaged"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelError, match="already exists"):
        save_model(tmp_path / "m", make_model("logreg"), card)


def test_feature_config_mismatch_is_clear() -> None:
    card = ModelCard(task="music", labels=["music", "non-music"], featurizer="handcrafted",
                     featurizer_params={"name": "handcrafted", "n_mfcc": 20, "stats": ["mean", "std"]}, model="logreg")
    check_featurizer(card, "handcrafted", {"name": "handcrafted", "n_mfcc": 20, "stats": ("mean", "std")})
    with pytest.raises(ModelError, match="n_mfcc=20 vs 13"):
        check_featurizer(card, "handcrafted", {"name": "handcrafted", "n_mfcc": 13, "stats": ("mean", "std")})
    with pytest.raises(ModelError, match="trained on features 'handcrafted'"):
        check_featurizer(card, "mfcc", {})


def test_binary_metrics_known_answer() -> None:
    # 4 music (class 0) and 6 non-music; 3 music found, 1 false alarm
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    p_music = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.3, 0.2, 0.1])
    proba = np.stack([p_music, 1 - p_music], axis=1)
    m = classification_metrics(y, proba, ["music", "non-music"], positive=0)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(3 / 4)
    assert m["accuracy"] == pytest.approx(8 / 10)
    assert m["confusion_matrix"] == [[3, 1], [1, 5]]
    # average precision: 0.9 0.8 0.7 are hits (precision 1 at recall 1/4, 2/4, 3/4); the last music clip
    # (0.2) ties with a non-music one, so the threshold 0.2 admits 7 clips: precision 4/7 at recall 1
    assert m["pr_auc"] == pytest.approx((1 + 1 + 1 + 4 / 7) / 4)
    stricter = classification_metrics(y, proba, ["music", "non-music"], positive=0, threshold=0.75)
    assert stricter["precision"] == 1.0 and stricter["recall"] == pytest.approx(0.5)


def test_multiclass_metrics_and_summary() -> None:
    y = np.array([0, 1, 2, 2])
    proba = np.eye(3)[[0, 1, 1, 2]]
    m = classification_metrics(y, proba, ["a", "b", "c"])
    assert m["accuracy"] == 0.75
    assert m["per_class"]["c"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    s = summarize_folds([{"accuracy": 0.5}, {"accuracy": 1.0}])
    assert s["accuracy"]["mean"] == 0.75 and s["accuracy"]["std"] == 0.25


def test_aggregate_mean_and_vote() -> None:
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.4, 0.6], [0.2, 0.8]])
    idx = np.array([0, 0, 0, 2])
    mean = aggregate(proba, idx, 3)
    np.testing.assert_allclose(mean[0], [1.7 / 3, 1.3 / 3])
    assert np.isnan(mean[1]).all()
    np.testing.assert_allclose(aggregate(proba, idx, 3, "vote")[0], [1 / 3, 2 / 3])


def test_cross_validate_keeps_segments_of_a_file_together() -> None:
    # 30 files × 4 segments; each file's segments are near-duplicates, so a leak would make CV perfect
    rng = np.random.default_rng(0)
    n_files, seg = 30, 4
    y_file = rng.integers(0, 2, n_files)
    base = rng.normal(0, 1, (n_files, 5))  # features carry NO class information
    X = np.repeat(base, seg, axis=0) + rng.normal(0, 0.01, (n_files * seg, 5))
    file_index = np.repeat(np.arange(n_files), seg)
    est = make_model("random-forest", n_estimators=50)
    res = cross_validate(est, X, file_index, y_file, np.arange(n_files).astype(str), ["a", "b"], n_splits=5)
    # with grouping, accuracy is chance level; a segment leak would give ~1.0
    assert res.summary["accuracy"]["mean"] < 0.8
    assert len(res.folds) == 5 and not np.isnan(res.oof_proba).any()
