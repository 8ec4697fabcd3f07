"""Long signals are featurized in blocks (bounded memory) with the same result as one pass."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsort.examples import synth_music, synth_speech
from soundsort.features import handcrafted as hc
from soundsort.features import SpectrogramConfig, SpectrogramFeaturizer

SR = 22050


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), half=st.integers(0, 64), a=st.integers(0, 500), width=st.integers(0, 500),
       mode=st.sampled_from(["constant", "edge"]))
def test_padded_slice_is_a_slice_of_the_padded_signal(n: int, half: int, a: int, width: int, mode: str) -> None:
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    if n == 0 and mode == "edge":
        return  # numpy cannot edge-pad an empty array; signals are never empty here
    padded = np.pad(y, half, mode=mode)
    a = min(a, len(padded))
    b = min(a + width, len(padded))
    np.testing.assert_array_equal(hc._padded_slice(y, a, b, half, mode), padded[a:b])


def test_contrast_peak_valley_reproduces_librosa() -> None:
    y = synth_music(6.0, seed=4)
    S = hc.stft_magnitude(y)
    freq = librosa.fft_frequencies(sr=SR, n_fft=2048)
    n_bands = hc.contrast_bands(SR)
    peak, valley = hc.contrast_peak_valley(S, freq, SR, n_bands=n_bands)
    want = librosa.feature.spectral_contrast(S=S, sr=SR, n_fft=2048, n_bands=n_bands)
    np.testing.assert_allclose(hc.contrast_from_peak_valley(peak, valley), want, rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(block=st.integers(8, 400), seconds=st.floats(0.2, 12.0), seed=st.integers(0, 50),
       kind=st.sampled_from(["music", "speech", "quiet-then-loud"]))
def test_handcrafted_frames_in_blocks_equal_one_pass(block: int, seconds: float, seed: int, kind: str) -> None:
    if kind == "music":
        y = synth_music(seconds, seed=seed)
    elif kind == "speech":
        y = synth_speech(seconds, seed=seed)
    else:  # a very quiet start: the 80 dB floors are relative to the loud end, which a block cannot see
        y = synth_music(seconds, seed=seed)
        y[: len(y) // 2] *= 1e-5
    cfg = hc.HandcraftedConfig(tempo=True)
    F1, names, on1 = hc._frame_features_and_onset(y, SR, cfg, block_frames=10**9)
    F2, _, on2 = hc._frame_features_and_onset(y, SR, cfg, block_frames=block)
    assert F1.shape == F2.shape == (len(names), 1 + len(y) // cfg.hop_length)
    scale = np.maximum(1.0, np.abs(F1).max(axis=1, keepdims=True))
    assert np.max(np.abs(F1 - F2) / scale) < 1e-5
    np.testing.assert_allclose(on2, on1, rtol=1e-4, atol=1e-4)


def test_handcrafted_segments_of_a_long_signal_match_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    y = synth_music(95.0, seed=7)  # 4 000+ frames: several blocks of 1 000
    cfg = hc.HandcraftedConfig(tempo=True)
    whole, _ = hc.segment_features(y, SR, cfg)
    monkeypatch.setattr(hc, "BLOCK_FRAMES", 1000)
    blocked, _ = hc.segment_features(y, SR, cfg)
    assert blocked.shape == whole.shape == (32, len(hc.segment_feature_names(cfg, SR)))
    np.testing.assert_allclose(blocked, whole, rtol=1e-4, atol=1e-4)


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 7), seconds=st.floats(0.5, 20.0), kind=st.sampled_from(["mel", "stft", "multi_stft"]))
def test_spectrogram_images_in_batches_equal_one_batch(batch: int, seconds: float, kind: str) -> None:
    y = synth_music(seconds, seed=2)
    fz = SpectrogramFeaturizer(SpectrogramConfig(kind=kind, hop_seconds=1.5))
    one = fz.segment_vectors(y)
    small = SpectrogramFeaturizer(SpectrogramConfig(kind=kind, hop_seconds=1.5))
    small.batch_segments = batch
    np.testing.assert_array_equal(small.segment_vectors(y), one)
    assert len(one) == len(fz.bounds(len(y)))
