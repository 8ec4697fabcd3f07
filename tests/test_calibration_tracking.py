"""Calibration and thresholds on synthetic scores with known answers; MLflow tracking; inference profiling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from sklearn.base import BaseEstimator, ClassifierMixin
from hypothesis import strategies as st

from soundsort.errors import ConfigError
from soundsort.models.calibration import CalibratedHead, brier_score, choose_threshold, reliability
from soundsort.models.registry import make_model
from tests.conftest import run_cli


def overconfident_data(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One feature x; the true P(y=1 | x) = sigmoid(x). Returns X, y, true probability."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, n)
    p = 1 / (1 + np.exp(-x))
    y = (rng.random(n) < p).astype(int)
    return x[:, None], y, p


class Overconfident(ClassifierMixin, BaseEstimator):
    """A 'model' whose probabilities are sigmoid(4x): right ranking, far too sure."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-4 * X[:, 0]))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_recovers_the_true_probability(method: str) -> None:
    X, y, p_true = overconfident_data()
    raw = Overconfident().fit(X, y).predict_proba(X)
    head = CalibratedHead(Overconfident(), method=method, calibration_fraction=0.5).fit(X, y)
    cal = head.predict_proba(X)
    err_raw = np.mean(np.abs(raw[:, 1] - p_true))
    err_cal = np.mean(np.abs(cal[:, 1] - p_true))
    assert err_cal < 0.05 < err_raw  # sigmoid(4x) vs sigmoid(x): raw error ≈ 0.13
    assert brier_score(y, cal) < brier_score(y, raw)
    assert reliability(y, cal)["ece"][0] < reliability(y, raw)["ece"][0]
    # Platt scaling maps a logistic of 4x back to (close to) a logistic of x
    if method == "sigmoid":
        mid = cal[np.argsort(np.abs(X[:, 0]))[:50], 1]
        assert np.allclose(mid, 0.5, atol=0.05)


def test_calibrated_head_uses_groups_and_round_trips(tmp_path: Path) -> None:
    from soundsort.models.io import ModelCard, load_model, save_model

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(int)
    groups = np.arange(300) // 3
    head = CalibratedHead(make_model("svm"), method="sigmoid").fit(X, y, groups=groups)
    card = ModelCard(task="music", labels=["music", "non-music"], featurizer="mfcc", featurizer_params={}, model="svm")
    save_model(tmp_path / "m", head, card)
    loaded, _ = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(X), head.predict_proba(X))


def test_calibrated_head_saved_with_seed_loads_as_random_state(tmp_path: Path) -> None:
    """Heads saved before the scikit-learn names held ``seed``: such a file loads with ``random_state``."""
    import zipfile

    from soundsort.models.io import ModelCard, load_model, save_model

    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    head = CalibratedHead(make_model("logreg"), random_state=7).fit(X, y, groups=np.arange(200) // 4)
    card = ModelCard(task="music", labels=["music", "non-music"], featurizer="mfcc", featurizer_params={},
                     model="logreg")
    save_model(tmp_path / "m", head, card)
    path = tmp_path / "m" / "model.skops"
    with zipfile.ZipFile(path) as z:  # rewrite the file the way the old CalibratedHead stored itself
        files = {name: z.read(name) for name in z.namelist()}
    schema = json.loads(files["schema.json"])
    attrs = schema["content"]["content"]
    assert "random_state" in attrs and "seed" not in attrs
    attrs["seed"] = attrs.pop("random_state")
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    (tmp_path / "m" / "model.head.json").unlink(missing_ok=True)
    loaded, _ = load_model(tmp_path / "m")
    assert loaded.get_params()["random_state"] == 7 and "seed" not in vars(loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), head.predict_proba(X))


def test_brier_and_reliability_known_values() -> None:
    y = np.array([0, 1])
    assert brier_score(y, np.array([[1.0, 0.0], [0.0, 1.0]])) == 0.0
    assert brier_score(y, np.array([[0.5, 0.5], [0.5, 0.5]])) == pytest.approx(0.5)
    rel = reliability(np.array([0, 0, 1, 1]), np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.1]]))
    assert rel["confidence"] == [pytest.approx(0.9)] and rel["accuracy"] == [0.75]
    assert rel["ece"][0] == pytest.approx(0.15)


def test_threshold_rules_known_answer() -> None:
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    s = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.1])
    strict = choose_threshold(y, s, min_precision=1.0)
    assert strict["threshold"] == 0.8 and strict["recall"] == 0.75
    f1 = choose_threshold(y, s, optimize="f1")  # 0.6: P 4/5, R 1 → F1 0.889 beats 0.8: P 1, R .75 → 0.857
    assert f1["threshold"] == 0.6
    prec = choose_threshold(y, s, optimize="precision")  # F0.5 prefers 0.8 (0.9375 vs 0.833)
    assert prec["threshold"] == 0.8
    rec = choose_threshold(y, s, optimize="recall")
    assert rec["recall"] == 1.0
    with pytest.raises(ConfigError, match="precision"):
        choose_threshold(np.array([1, 0, 1, 0]), np.array([0.1, 0.9, 0.2, 0.8]), min_precision=0.99)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.floats(0.3, 0.95))
def test_min_precision_is_honoured(seed: int, p: float) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    try:
        out = choose_threshold(y, s, min_precision=p)
    except ConfigError:
        return
    pred = s >= out["threshold"]
    assert (y[pred] == 1).mean() >= p - 1e-9
    assert out["recall"] == pytest.approx((pred & (y == 1)).sum() / (y == 1).sum())


def test_train_with_calibration_threshold_and_mlflow(example_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    model, runs = tmp_path / "m", tmp_path / "runs"
    res = run_cli("train", str(example_data), "--model", "logreg", "--folds", "3", "--calibration", "isotonic",
                  "--min-precision", "0.9", "--output", str(model), "--runs", str(runs), "--mlflow",
                  env={"MLFLOW_TRACKING_URI": ""})
    assert res.returncode == 0, res.stderr
    card = json.loads((model / "model.json").read_text())
    op = card["metrics"]["operating_point"]
    assert card["threshold"] == op["threshold"] and op["precision"] >= 0.9
    assert card["metrics"]["calibration"]["method"] == "isotonic"
    assert {"calibrated", "uncalibrated"} <= set(card["metrics"]["calibration"])
    run = next(p for p in runs.iterdir() if p.is_dir() and p.name.startswith("2"))
    for name in ("reliability.png", "embedding_map.png"):
        assert (run / name).read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((run / "metrics.json").read_text())
    inf = metrics["timing"]["inference"]
    assert inf["realtime_factor"] > 1 and inf["peak_rss_mib"] > 50
    # the run went to the local MLflow store, with its metrics and artifacts
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{runs.absolute() / 'mlflow.db'}")
    exp = client.get_experiment_by_name("soundsort")
    (mrun,) = client.search_runs([exp.experiment_id])
    assert mrun.data.metrics["cv_accuracy_mean"] == pytest.approx(card["metrics"]["cv"]["accuracy"]["mean"])
    assert "brier_calibrated" in mrun.data.metrics
    names = {a.path for a in client.list_artifacts(mrun.info.run_id)}
    assert {"report.md", "confusion_matrix.png", "reliability.png", "learning_curve.png"} <= names
    assert str(runs.absolute()) in mrun.info.artifact_uri


def test_threshold_only_for_the_binary_task(example_data: Path, tmp_path: Path) -> None:
    res = run_cli("train", str(example_data), "--task", "genre", "--optimize", "f1", "--runs", str(tmp_path))
    assert res.returncode == 2 and "binary music task" in res.stderr  # a usage error
