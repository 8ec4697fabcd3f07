"""PyTorch heads: they learn, they follow scikit-learn's conventions, they are reproducible and save safely."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from soundsort.errors import ConfigError  # noqa: E402
from soundsort.dataset.splits import validation_split  # noqa: E402
from soundsort.models.registry import MODELS, make_model  # noqa: E402
from soundsort.models.torch.heads import AttentionConv1DClassifier, MLPClassifier  # noqa: E402

MLP_NAME = "soundsort.models.torch.heads.MLPClassifier"
ATT_NAME = "soundsort.models.torch.heads.AttentionConv1DClassifier"


# ------------------------------------------------------------------------------------------ data


def gaussian(n: int, k: int = 2, d: int = 12, sep: float = 1.2, seed: int = 0,
             p: tuple[float, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=p)
    centers = np.random.default_rng(99).normal(0, sep, (k, d))
    return (centers[y] + rng.normal(0, 1, (n, d))).astype(np.float32), y


def ramps(n: int, k: int = 2, t: int = 10, d: int = 8, amp: float = 2.0,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class = (channel y // 2) rising (even y) or falling (odd y) over time, buried in noise.

    Each channel's time average is the same for every class, so only the order of the frames tells them apart.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(0, 1, (n, t, d)).astype(np.float32)
    trend = np.linspace(-1.0, 1.0, t, dtype=np.float32)
    sign = np.where(y % 2 == 0, 1.0, -1.0).astype(np.float32)
    X[np.arange(n), :, y // 2] += amp * sign[:, None] * trend[None, :]
    return X, y


def accuracy(est, X, y) -> float:
    return float((est.predict(X) == y).mean())


FAST_MLP = dict(hidden_layer_sizes=(64,), max_epochs=40, patience=8, batch_size=32)
FAST_ATT = dict(max_epochs=50, patience=10)


@pytest.fixture(scope="module")
def vectors() -> tuple[np.ndarray, np.ndarray]:
    return gaussian(400)


@pytest.fixture(scope="module")
def mlp(vectors) -> MLPClassifier:
    X, y = vectors
    return MLPClassifier(**FAST_MLP, random_state=0).fit(X[:300], y[:300])


@pytest.fixture(scope="module")
def sequences() -> tuple[np.ndarray, np.ndarray]:
    return ramps(500, amp=1.5)


@pytest.fixture(scope="module")
def attention(sequences) -> AttentionConv1DClassifier:
    X, y = sequences
    return AttentionConv1DClassifier(**FAST_ATT, random_state=0).fit(X[:400], y[:400])


# ------------------------------------------------------------------------------------------ learning


def test_mlp_learns_two_classes_and_loss_falls(mlp, vectors) -> None:
    X, y = vectors
    assert accuracy(mlp, X[300:], y[300:]) >= 0.9
    proba = mlp.predict_proba(X[300:])
    assert proba.shape == (100, 2) and np.allclose(proba.sum(axis=1), 1.0)
    train = [h["train_loss"] for h in mlp.history_]
    val = [h["val_loss"] for h in mlp.history_]
    assert min(train) < 0.7 * train[0] and min(val) < 0.8 * val[0]
    assert set(mlp.history_[0]) == {"epoch", "train_loss", "val_loss", "lr"}
    assert 1 <= mlp.best_epoch_ <= mlp.n_epochs_ == len(mlp.history_)


def test_mlp_beats_chance_on_four_classes_with_string_labels() -> None:
    X, y = gaussian(480, k=4, sep=0.8, seed=1)
    names = np.array(["blues", "jazz", "metal", "pop"])[y]
    est = MLPClassifier(**FAST_MLP, batch_norm=False, random_state=0).fit(X[:360], names[:360])
    assert list(est.classes_) == ["blues", "jazz", "metal", "pop"]
    assert accuracy(est, X[360:], names[360:]) >= 0.6  # chance is 0.25


def test_attention_learns_temporal_order_a_frame_mean_cannot_see(attention, sequences) -> None:
    X, y = sequences
    mean_only = LogisticRegression(max_iter=2000).fit(X[:400].mean(axis=1), y[:400])
    assert accuracy(mean_only, X[400:].mean(axis=1), y[400:]) < 0.7  # the time average carries nothing
    assert accuracy(attention, X[400:], y[400:]) >= 0.9
    # reversing time turns a rise into a fall: the predictions flip
    flipped = attention.predict(X[400:, ::-1])
    assert (flipped != attention.predict(X[400:])).mean() >= 0.85
    train = [h["train_loss"] for h in attention.history_]
    assert min(train) < 0.7 * train[0]
    assert attention.n_frames_in_ == 10 and attention.n_features_in_ == 8


def test_attention_beats_chance_on_four_classes() -> None:
    X, y = ramps(500, k=4, amp=2.0, seed=2)
    est = AttentionConv1DClassifier(max_epochs=50, patience=20, random_state=0).fit(X[:400], y[:400])
    assert accuracy(est, X[400:], y[400:]) >= 0.55  # chance is 0.25


def test_class_weights_favour_a_minority_class() -> None:
    X, y = gaussian(600, sep=0.35, seed=3, p=(0.9, 0.1))
    kw = dict(FAST_MLP, max_epochs=25)
    plain = MLPClassifier(**kw, class_weight=None, random_state=0).fit(X[:450], y[:450])
    balanced = MLPClassifier(**kw, class_weight="balanced", random_state=0).fit(X[:450], y[:450])
    assert balanced.class_weight_[1] > 4 * balanced.class_weight_[0]
    test = X[450:]
    assert balanced.predict_proba(test)[:, 1].mean() > plain.predict_proba(test)[:, 1].mean() + 0.1
    assert (balanced.predict(test) == 1).sum() > (plain.predict(test) == 1).sum()
    heavy = MLPClassifier(**kw, class_weight={1: 20.0}, random_state=0).fit(X[:450], y[:450])
    assert heavy.class_weight_.tolist() == [1.0, 20.0]


# ------------------------------------------------------------------------------------------ conventions


def test_same_seed_same_probabilities(vectors, sequences) -> None:
    X, y = vectors
    kw = dict(FAST_MLP, max_epochs=6)
    a = MLPClassifier(**kw, random_state=5).fit(X[:300], y[:300]).predict_proba(X[300:])
    b = MLPClassifier(**kw, random_state=5).fit(X[:300], y[:300]).predict_proba(X[300:])
    c = MLPClassifier(**kw, random_state=6).fit(X[:300], y[:300]).predict_proba(X[300:])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    Xs, ys = sequences
    p = [AttentionConv1DClassifier(max_epochs=3, random_state=1).fit(Xs[:200], ys[:200]).predict_proba(Xs[400:])
         for _ in range(2)]
    np.testing.assert_array_equal(p[0], p[1])


def test_fit_leaves_torch_global_state_alone(vectors) -> None:
    import torch

    X, y = vectors
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    before = torch.random.get_rng_state().clone()
    MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, n_jobs=1).fit(X[:100], y[:100])
    assert torch.get_num_threads() == threads and torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("cls", [MLPClassifier, AttentionConv1DClassifier])
def test_clone_and_get_params_round_trip(cls) -> None:
    est = cls(lr=0.01, patience=3, random_state=7, class_weight=None)
    params = est.get_params()
    assert params["lr"] == 0.01 and params["random_state"] == 7 and params["class_weight"] is None
    twin = clone(est)
    assert twin is not est and twin.get_params() == params
    assert cls(**params).get_params() == params
    twin.set_params(max_epochs=3)
    assert twin.max_epochs == 3 and est.max_epochs != 3
    if cls is AttentionConv1DClassifier:
        assert (params["num_heads"], params["key_dim"], params["conv1_filters"], params["conv2_filters"],
                params["dense_units"], params["l2"]) == (2, 64, 64, 128, 64, 0.01)


def test_clone_of_a_fitted_model_is_unfitted(mlp) -> None:
    from sklearn.exceptions import NotFittedError

    twin = clone(mlp)
    assert not hasattr(twin, "classes_")
    with pytest.raises(NotFittedError):
        twin.predict_proba(np.zeros((2, 12)))


def test_composes_in_pipeline_and_calibration(vectors) -> None:
    X, y = vectors
    pipe = Pipeline([("scale", StandardScaler()), ("clf", MLPClassifier(**FAST_MLP))])
    pipe.fit(X[:300], y[:300], clf__groups=np.arange(300) // 5)
    assert accuracy(pipe, X[300:], y[300:]) >= 0.85
    cal = CalibratedClassifierCV(MLPClassifier(hidden_layer_sizes=(16,), max_epochs=10), cv=2, method="sigmoid")
    cal.fit(X[:200], y[:200])
    assert cal.predict_proba(X[300:]).shape == (100, 2)


def test_registered_models() -> None:
    assert {"mlp", "attention"} <= set(MODELS.names())
    est = make_model("mlp", random_state=3, n_jobs=2, dropout=0.1)
    assert isinstance(est, MLPClassifier) and (est.random_state, est.n_jobs, est.dropout) == (3, 2, 0.1)
    att = make_model("attention", random_state=4)
    assert isinstance(att, AttentionConv1DClassifier) and att.random_state == 4
    old_spelling = make_model("mlp", n_jobs=1, n_threads=3)  # --param n_threads=3 from before the rename
    assert old_spelling.n_jobs == 3 and "n_threads" not in old_spelling.get_params()


def test_wrong_input_shapes_are_clear_errors(mlp) -> None:
    X2, y2 = gaussian(20, d=8)
    with pytest.raises(ValueError, match=r"\(n_samples, n_frames, n_features\).*\(20, 8\)"):
        AttentionConv1DClassifier(max_epochs=1).fit(X2, y2)
    with pytest.raises(ValueError, match=r"\(n_samples, n_features\)"):
        MLPClassifier(max_epochs=1).fit(X2[:, None, :], y2)
    with pytest.raises(ValueError, match="12"):
        mlp.predict_proba(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        mlp.predict_proba(np.full((3, 12), np.nan))
    with pytest.raises(ValueError, match="2 classes"):
        MLPClassifier(max_epochs=1).fit(X2, np.zeros(20))


def test_missing_torch_is_a_config_error(monkeypatch, vectors) -> None:
    X, y = vectors
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ConfigError, match=r"pip install torch==2\.13\.0"):
        MLPClassifier(max_epochs=1).fit(X[:50], y[:50])


def test_module_imports_and_registers_without_torch() -> None:
    code = ("import sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'torch' or name.startswith('torch.'):\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "import soundsort.models.torch.heads\n"
            "from soundsort.models.registry import MODELS, make_model\n"
            "assert {'mlp', 'attention'} <= set(MODELS.names())\n"
            "make_model('attention')\n"
            "assert 'torch' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------------------------------ validation split


@settings(max_examples=60, deadline=None)
@given(n=st.integers(4, 80), n_groups=st.integers(1, 20), k=st.integers(2, 4),
       fraction=st.sampled_from([0.1, 0.15, 0.3, 0.5]), seed=st.integers(0, 1000))
def test_grouped_validation_never_shares_a_group(n, n_groups, k, fraction, seed) -> None:
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n)
    y = rng.integers(0, k, n)
    tr, va = validation_split(y, groups, fraction, seed)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(n))
    assert not set(groups[tr]) & set(groups[va])
    assert set(y[tr]) == set(y)  # every class keeps training rows
    assert validation_split(y, groups, fraction, seed)[1].tolist() == va.tolist()  # reproducible


def test_validation_split_grouped_and_stratified() -> None:
    y = np.repeat([0, 1], 100)
    groups = np.arange(200) // 4  # 50 recordings of 4 segments
    tr, va = validation_split(y, groups, 0.2, random_state=0)
    assert 30 <= len(va) <= 50 and not set(groups[tr]) & set(groups[va])
    assert 0.3 <= y[va].mean() <= 0.7
    tr, va = validation_split(y, None, 0.15, random_state=0)
    assert len(va) == 30 and y[va].mean() == 0.5  # stratified
    assert len(validation_split(y, None, 0.0)[1]) == 0
    assert len(validation_split(y, np.zeros(200), 0.2)[1]) == 0  # one group: nothing to validate on
    with pytest.raises(ConfigError):
        validation_split(y, None, 1.0)


def test_fit_with_groups_and_without_validation(vectors) -> None:
    X, y = vectors
    est = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=5, val_fraction=0.0).fit(X[:100], y[:100])
    assert all(h["val_loss"] is None for h in est.history_)
    est = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=5).fit(X[:100], y[:100], groups=np.arange(100) // 10)
    assert all(h["val_loss"] is not None for h in est.history_)


# ------------------------------------------------------------------------------------------ persistence


def _skops_round_trip(est, X, expected: list[str]):
    import skops.io as sio

    data = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=data)
    assert sorted(untrusted) == sorted(expected)
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    return loaded


def test_skops_round_trip_without_torch_objects(mlp, attention, vectors, sequences) -> None:
    X, _ = vectors
    loaded = _skops_round_trip(mlp, X, [MLP_NAME])
    assert loaded.get_params() == mlp.get_params() and loaded.history_ == mlp.history_
    np.testing.assert_array_equal(loaded.classes_, mlp.classes_)
    Xs, _ = sequences
    _skops_round_trip(attention, Xs[400:], [ATT_NAME])
    # plain pickling (joblib, deepcopy) goes through the same torch-free state
    blob = pickle.dumps(mlp)
    modules: list[str] = []

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            modules.append(module)
            return super().find_class(module, name)

    again = Recorder(io.BytesIO(blob)).load()
    assert modules and not [m for m in modules if m.split(".")[0] == "torch"]
    np.testing.assert_array_equal(again.predict_proba(X), mlp.predict_proba(X))


def test_skops_round_trip_inside_a_pipeline(vectors) -> None:
    X, y = vectors
    pipe = Pipeline([("scale", StandardScaler()), ("clf", MLPClassifier(hidden_layer_sizes=(16,), max_epochs=5))])
    pipe.fit(X[:200], y[:200])
    loaded = _skops_round_trip(pipe, X[200:], [MLP_NAME])
    assert isinstance(loaded.named_steps["clf"], MLPClassifier)
    seq = Pipeline([("clf", AttentionConv1DClassifier(max_epochs=2))]).fit(*ramps(60))
    _skops_round_trip(seq, ramps(20, seed=5)[0], [ATT_NAME])


def test_soundsort_save_and_load(tmp_path, monkeypatch, mlp, vectors) -> None:
    from soundsort.models import io as model_io

    monkeypatch.setattr(model_io, "TRUSTED_TYPES", model_io.TRUSTED_TYPES | {MLP_NAME, ATT_NAME})
    card = model_io.ModelCard(task="music", labels=["music", "non-music"], featurizer="x", featurizer_params={},
                        model="mlp")
    model_io.save_model(tmp_path / "m", mlp, card)
    loaded, _ = model_io.load_model(tmp_path / "m")
    X, _ = vectors
    np.testing.assert_array_equal(loaded.predict_proba(X), mlp.predict_proba(X))


def test_model_saved_with_the_old_parameter_names_loads_under_the_new(vectors) -> None:
    """The MLP folder written by commit 39e03ba holds ``seed`` / ``n_threads`` under the old module path."""
    from pathlib import Path

    import skops.io as sio

    from soundsort.models import io as model_io

    folder = Path(__file__).parent / "fixtures" / "legacy_39e03ba" / "models" / "mfcc-mlp"
    raw = (folder / "model.skops").read_bytes()
    assert sio.get_untrusted_types(data=raw) == ["soundsort.models.torch_heads.MLPClassifier"]
    loaded, card = model_io.load_model(folder)
    assert type(loaded) is MLPClassifier
    assert "seed" not in vars(loaded) and "n_threads" not in vars(loaded)
    params = loaded.get_params()
    assert (params["random_state"], params["n_jobs"], params["max_epochs"]) == (0, 2, 3)  # trained with -j 2
    X = np.random.default_rng(0).normal(size=(6, loaded.n_features_in_))
    again = sio.loads(sio.dumps(loaded), trusted=[f"{MLPClassifier.__module__}.MLPClassifier"])
    np.testing.assert_array_equal(again.predict_proba(X), loaded.predict_proba(X))
    twin = clone(loaded).set_params(max_epochs=1)
    assert twin.random_state == 0 and not hasattr(twin, "classes_")
