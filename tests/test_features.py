"""Handcrafted features and the featurizer registry, on synthesized signals."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsort.audio.windows import segment_bounds
from soundsort.cache import FeatureCache
from soundsort.errors import ConfigError
from soundsort.features.handcrafted import (
    PITCH_CLASSES,
    STATS,
    HandcraftedConfig,
    centroid_bandwidth,
    frame_feature_names,
    frame_features,
    segment_feature_names,
    segment_features,
    stft_magnitude,
    summarize,
    tempo,
)
from soundsort.features import (
    Featurizer,
    SegmentFeatures,
    SegmentingFeaturizer,
    featurize_array,
    featurize_file,
    featurizer_from_params,
    featurizer_names,
    get_featurizer,
    register_featurizer,
)

SR = 22050


def tone(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def clicks(bpm: float, seconds: float, sr: int = SR) -> np.ndarray:
    return librosa.clicks(times=np.arange(0.0, seconds, 60.0 / bpm), sr=sr, length=int(seconds * sr)).astype(np.float32)


def rows(F: np.ndarray, names: list[str], prefix: str) -> np.ndarray:
    return F[[i for i, n in enumerate(names) if n.startswith(prefix)]]


# ---------------------------------------------------------------------------------------------- shapes


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=1, max_value=3 * 16000), sr=st.sampled_from([8000, 16000, 22050, 44100]))
def test_frame_feature_shapes_are_deterministic(n: int, sr: int) -> None:
    y = np.random.default_rng(n).uniform(-0.5, 0.5, n).astype(np.float32)
    cfg = HandcraftedConfig(sr=sr)
    F, names = frame_features(y, sr, cfg)
    assert F.dtype == np.float32
    assert F.shape == (len(names), 1 + n // cfg.hop_length)
    assert names == frame_feature_names(cfg, sr)
    assert np.all(np.isfinite(F))
    F2, _ = frame_features(y, sr, cfg)
    np.testing.assert_array_equal(F, F2)

    X, seg_names = segment_features(y, sr, cfg)
    bounds = segment_bounds(n, sr, cfg.segment_seconds, cfg.hop_seconds, tail=cfg.tail,
                            min_tail_seconds=cfg.min_tail_seconds)
    assert X.shape == (len(bounds), len(seg_names))
    assert X.dtype == np.float32 and np.all(np.isfinite(X))


def test_feature_counts_and_names() -> None:
    cfg = HandcraftedConfig()
    names = frame_feature_names(cfg)
    # 20 mfcc + 40 deltas + 12 chroma + 7 contrast + 6 spectral
    assert len(names) == 85 and len(set(names)) == 85
    seg = segment_feature_names(cfg)
    assert len(seg) == 2 * 85 + 1 and seg[-1] == "tempo"
    assert "mfcc_3_mean" in seg and "chroma_A_std" in seg and "centroid_mean" in seg
    bare = HandcraftedConfig(deltas=False, chroma=False, contrast=False, spectral=False, tempo=False)
    assert frame_feature_names(bare) == [f"mfcc_{i}" for i in range(20)]
    # fewer contrast bands fit below a low Nyquist; the names say so
    assert sum(n.startswith("contrast_") for n in frame_feature_names(cfg, 8000)) == 6


def test_mfcc_rows_match_librosa_default() -> None:
    y = np.random.default_rng(1).standard_normal(SR * 2).astype(np.float32) * 0.1 + tone(300, 2)
    F, names = frame_features(y, SR)
    ours = rows(F, names, "mfcc_")[:20]
    ref = librosa.feature.mfcc(y=y, sr=SR)
    np.testing.assert_allclose(ours, ref, atol=1e-3, rtol=1e-4)


def test_centroid_bandwidth_match_librosa() -> None:
    y = np.random.default_rng(2).standard_normal(SR).astype(np.float32) * 0.2 + tone(1500, 1)
    y[: SR // 4] = 0.0  # silent frames too
    S = stft_magnitude(y)
    freq = librosa.fft_frequencies(sr=SR)
    c, b = centroid_bandwidth(S, freq)
    np.testing.assert_allclose(c, librosa.feature.spectral_centroid(S=S, sr=SR), rtol=1e-3, atol=0.1)
    np.testing.assert_allclose(b, librosa.feature.spectral_bandwidth(S=S, sr=SR), rtol=1e-3, atol=0.1)


# ---------------------------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize(("freq", "pitch"), [(440.0, "A"), (261.63, "C"), (392.0, "G"), (329.63, "E")])
def test_pure_tone_chroma_peaks_at_its_pitch_class(freq: float, pitch: str) -> None:
    F, names = frame_features(tone(freq, 2.0), SR)
    chroma = rows(F, names, "chroma_")
    assert PITCH_CLASSES[int(np.argmax(chroma.mean(axis=1)))] == pitch


@pytest.mark.parametrize("freq", [500.0, 1000.0, 3000.0])
def test_tone_spectral_centroid_is_its_frequency(freq: float) -> None:
    F, names = frame_features(tone(freq, 2.0), SR)
    centroid = F[names.index("centroid")]
    assert np.median(centroid) == pytest.approx(freq, rel=0.03)
    assert np.median(F[names.index("bandwidth")]) < 0.1 * freq  # a pure tone is narrow


def test_white_noise_crosses_zero_more_than_a_low_tone() -> None:
    noise = np.random.default_rng(3).uniform(-0.5, 0.5, SR * 2).astype(np.float32)
    Fn, names = frame_features(noise, SR)
    Ft, _ = frame_features(tone(100.0, 2.0), SR)
    zcr_noise, zcr_tone = Fn[names.index("zcr")].mean(), Ft[names.index("zcr")].mean()
    assert zcr_noise > 0.4 and zcr_tone < 0.02 and zcr_noise > 10 * zcr_tone
    # and noise is spectrally flat, a tone is not
    assert Fn[names.index("flatness")].mean() > 10 * Ft[names.index("flatness")].mean()


def test_rms_follows_amplitude() -> None:
    F1, names = frame_features(tone(440, 1.0, amp=0.1), SR)
    F2, _ = frame_features(tone(440, 1.0, amp=0.4), SR)
    r1, r2 = np.median(F1[names.index("rms")]), np.median(F2[names.index("rms")])
    assert r2 / r1 == pytest.approx(4.0, rel=0.02)
    assert r1 == pytest.approx(0.1 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("bpm", [90.0, 120.0, 140.0])
def test_click_track_tempo(bpm: float) -> None:
    y = clicks(bpm, 12.0)
    assert tempo(y, SR) == pytest.approx(bpm, rel=0.04)
    X, names = segment_features(y, SR, HandcraftedConfig(segment_seconds=6.0, hop_seconds=6.0))
    assert names[-1] == "tempo" and X.shape[0] == 2
    assert np.all(np.abs(X[:, -1] - bpm) / bpm < 0.04)


def test_tempo_of_silence_is_zero() -> None:
    assert tempo(np.zeros(SR * 3, np.float32), SR) == 0.0
    X, _ = segment_features(np.zeros(SR * 3, np.float32), SR)
    assert X[0, -1] == 0.0 and np.all(np.isfinite(X))


def test_padded_tail_summarizes_only_real_audio() -> None:
    # 4.5 s of one tone: the 1.5 s tail must look like the first segment, not like 1.5 s of tone + silence
    y = tone(440, 4.5)
    X, names = segment_features(y, SR)
    assert X.shape[0] == 2
    rms = names.index("rms_mean")
    assert X[1, rms] == pytest.approx(X[0, rms], rel=0.02)


def test_segments_with_overlap_and_drop() -> None:
    y = tone(440, 10.0)
    X, _ = segment_features(y, SR, HandcraftedConfig(segment_seconds=3.0, hop_seconds=1.0, tail="drop"))
    assert X.shape[0] == len(segment_bounds(len(y), SR, 3.0, 1.0, tail="drop")) == 8
    short, names = segment_features(tone(440, 1.0), SR, HandcraftedConfig(tail="drop"))
    assert short.shape == (0, len(names))


# ---------------------------------------------------------------------------------------------- summarize


def test_summarize_values_and_names() -> None:
    F = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 8.0]], dtype=np.float32)
    vec, names = summarize(F, STATS, ["a", "b", "c"])
    got = dict(zip(names, vec.tolist(), strict=True))
    assert vec.dtype == np.float32 and len(vec) == 3 * len(STATS)
    assert names[:3] == ["a_mean", "b_mean", "c_mean"]  # stat-major
    assert got["a_mean"] == pytest.approx(2.5) and got["a_std"] == pytest.approx(np.sqrt(1.25))
    assert got["a_min"] == 1 and got["a_max"] == 4 and got["a_median"] == pytest.approx(2.5)
    assert got["a_skew"] == pytest.approx(0.0, abs=1e-6)
    assert got["b_std"] == 0 and got["b_skew"] == 0 and got["b_kurtosis"] == 0  # constant: no NaN
    assert got["c_skew"] == pytest.approx(1.1547, rel=1e-3)  # one outlier to the right
    with pytest.raises(ConfigError):
        summarize(F, ("mean", "mode"))
    with pytest.raises(ConfigError):
        summarize(F, ("mean",), ["a"])


# ---------------------------------------------------------------------------------------------- config


def test_config_roundtrip_and_validation() -> None:
    cfg = HandcraftedConfig(sr=16000, stats=["mean", "std", "skew"])  # a list (from JSON) is normalized
    assert cfg.stats == ("mean", "std", "skew")
    back = HandcraftedConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and hash(back) == hash(cfg)
    assert HandcraftedConfig.from_dict({}) == HandcraftedConfig()
    with pytest.raises(AttributeError):
        cfg.sr = 8000  # type: ignore[misc]
    for bad in ({"n_fft": 0}, {"stats": ("mean", "nope")}, {"tail": "wrap"}, {"n_mfcc": 200},
                {"segment_seconds": 0}, {"nonsense": 1}):
        with pytest.raises(ConfigError):
            HandcraftedConfig.from_dict(bad)
    with pytest.raises(ConfigError):
        frame_features(np.zeros(0, np.float32), SR)
    with pytest.raises(ConfigError):
        frame_features(np.array([0.0, np.nan], np.float32), SR)


# ---------------------------------------------------------------------------------------------- registry


def test_registered_featurizers() -> None:
    assert {"handcrafted", "mfcc", "mel", "stft", "multi_stft"} <= set(featurizer_names())
    y = tone(440, 7.5)
    for name in ("handcrafted", "mfcc"):
        f = get_featurizer(name)
        assert isinstance(f, Featurizer) and f.name == name and f.sr == SR
        V = f.segment_vectors(y)
        assert V.shape == (3, len(f.feature_names()))
    mfcc = get_featurizer("mfcc")
    assert mfcc.feature_names() == [f"mfcc_{i}_mean" for i in range(20)] + [f"mfcc_{i}_std" for i in range(20)]
    times = mfcc.segment_times(len(y))
    np.testing.assert_allclose(times, [[0, 3], [3, 6], [6, 7.5]])


def test_params_are_json_and_rebuild_the_featurizer() -> None:
    for name in featurizer_names():
        f = get_featurizer(name)
        p = json.loads(json.dumps(f.params()))
        assert p["name"] == name and isinstance(p["version"], int)
        assert featurizer_from_params(p).params() == f.params()
    g = get_featurizer("handcrafted", sr=16000, stats=("mean", "std", "max"))
    assert g.sr == 16000 and g.params()["stats"] == ["mean", "std", "max"]
    assert g.params() != get_featurizer("handcrafted").params()
    with pytest.raises(ConfigError):
        featurizer_from_params({**get_featurizer("mfcc").params(), "version": 999})
    with pytest.raises(ConfigError):
        get_featurizer("no-such-features")
    with pytest.raises(ConfigError):
        get_featurizer("mfcc", n_mfcc_typo=13)


class _PeakFeaturizer(SegmentingFeaturizer):
    """A third-party feature set: the peak amplitude per 1 s segment."""

    version = 1

    def __init__(self, sr: int = 8000) -> None:
        self.name, self.sr = "peak", sr
        self.segment_seconds = self.hop_seconds = 1.0
        self.tail, self.min_tail_seconds = "pad", 0.0

    def params(self) -> dict:
        return {"name": self.name, "version": self.version, "sr": self.sr}

    def feature_names(self) -> list[str]:
        return ["peak"]

    def segment_vectors(self, y: np.ndarray) -> np.ndarray:
        return np.array([[np.abs(y[a:b]).max()] for a, b in self.bounds(len(y))], dtype=np.float32)


def test_a_new_feature_set_plugs_in(tmp_path) -> None:
    register_featurizer("peak", _PeakFeaturizer)
    assert "peak" in featurizer_names()
    path = tmp_path / "x.wav"
    sf.write(path, np.concatenate([tone(440, 1, 16000, 0.2), tone(440, 1.5, 16000, 0.8)]), 16000)
    cache = FeatureCache(tmp_path / "cache")
    got = featurize_file(get_featurizer("peak"), path, cache)  # decoded at the featurizer's 8 kHz
    assert got.values.shape == (3, 1) and got.values[0, 0] == pytest.approx(0.2, rel=0.05)
    assert got.values[1, 0] == pytest.approx(0.8, rel=0.05)
    np.testing.assert_allclose(got.times, [[0, 1], [1, 2], [2, 2.5]])
    again = featurize_file(get_featurizer("peak"), path, cache)
    assert cache.hits == 1 and cache.misses == 1
    np.testing.assert_array_equal(again.values, got.values)


def test_featurize_file_resamples_and_caches(tmp_path) -> None:
    path = tmp_path / "tone.flac"
    sf.write(path, tone(1000, 4.0, sr=44100), 44100)
    f = get_featurizer("handcrafted")
    cache = FeatureCache(tmp_path / "cache")
    a = featurize_file(f, path, cache)
    assert isinstance(a, SegmentFeatures) and len(a) == 2
    np.testing.assert_allclose(a.times, [[0, 3], [3, 4]], atol=1e-3)
    assert a.values[0, f.feature_names().index("centroid_mean")] == pytest.approx(1000, rel=0.03)
    b = featurize_file(f, path, cache)
    assert (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(a.values, b.values)
    # no cache: the same numbers
    np.testing.assert_allclose(featurize_file(f, path).values, a.values, rtol=1e-6)
    # a different parameter is a different entry
    featurize_file(get_featurizer("handcrafted", stats=("mean",)), path, cache)
    assert cache.misses == 2
    y, _ = sf.read(path, dtype="float32")
    assert featurize_array(get_featurizer("mfcc", sr=44100), y).values.shape == (2, 40)
