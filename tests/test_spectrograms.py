"""Spectrogram images (mel, linear STFT, 3-channel multi-resolution STFT) on synthesized signals."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsort.errors import ConfigError
from soundsort.features import SpectrogramConfig, get_featurizer
from soundsort.features.spectrograms import (
    DB_FLOOR,
    frequency_resampler,
    mel_spectrogram,
    multi_stft_spectrogram,
    n_frames,
    stft_spectrogram,
)

SR = 22050


def tone(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=1, max_value=2 * 22050), sr=st.sampled_from([8000, 16000, 22050]),
       hop=st.sampled_from([256, 512]))
def test_shapes_are_deterministic(n: int, sr: int, hop: int) -> None:
    y = np.random.default_rng(n).uniform(-0.5, 0.5, n).astype(np.float32)
    frames = 1 + n // hop
    assert n_frames(n, hop) == frames
    mel = mel_spectrogram(y, sr, 1024, hop, 64)
    assert mel.shape == (64, frames) and mel.dtype == np.float32
    lin = stft_spectrogram(y, sr, 1024, hop)
    assert lin.shape == (513, frames) and lin.dtype == np.float32
    multi = multi_stft_spectrogram(y, sr, (256, 512, 1024), hop, 96)
    assert multi.shape == (3, 96, frames) and multi.dtype == np.float32
    for img in (mel, lin, multi):
        assert np.all(np.isfinite(img)) and img.min() >= DB_FLOOR
    np.testing.assert_array_equal(multi, multi_stft_spectrogram(y, sr, (256, 512, 1024), hop, 96))


@pytest.mark.parametrize("freq", [250.0, 1000.0, 4000.0])
def test_mel_of_a_tone_peaks_in_its_band(freq: float) -> None:
    n_mels = 128
    mel = mel_spectrogram(tone(freq, 1.0), SR, n_mels=n_mels)
    band = int(np.argmax(mel.mean(axis=1)))
    edges = librosa.mel_frequencies(n_mels + 2, fmin=0.0, fmax=SR / 2)
    # the tone lies under the peak band's triangle (its lower to upper edge)
    assert edges[band] <= freq <= edges[band + 2]


def test_mel_matches_librosa_in_db() -> None:
    y = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR), top_db=None)
    np.testing.assert_allclose(mel_spectrogram(y, SR), np.maximum(ref, DB_FLOOR), atol=1e-3)
    lin = mel_spectrogram(y, SR, log=False)
    np.testing.assert_allclose(10 * np.log10(np.maximum(lin, 1e-10)), mel_spectrogram(y, SR), atol=1e-3)
    with pytest.raises(ConfigError):
        mel_spectrogram(y, SR, fmin=5000, fmax=1000)


def test_stft_of_a_tone_peaks_at_its_bin_and_silence_is_the_floor() -> None:
    n_fft = 2048
    freq = 140 * SR / n_fft  # exactly on bin 140 (no scalloping loss)
    spec = stft_spectrogram(tone(freq, 1.0), SR, n_fft=n_fft)
    assert spec.shape[0] == 1 + n_fft // 2
    assert int(np.argmax(spec.mean(axis=1))) == 140
    silent = stft_spectrogram(np.zeros(4096, np.float32), SR)
    assert np.all(silent == DB_FLOOR)
    mag = stft_spectrogram(tone(freq, 1.0), SR, log=False)
    assert mag.min() >= 0 and mag.max() == pytest.approx(0.5 * n_fft / 4, rel=0.05)  # Hann: A·N/4


def test_multi_stft_has_three_equal_channels_peaking_at_the_tone() -> None:
    freq, n_bins = 3000.0, 256
    img = multi_stft_spectrogram(tone(freq, 2.0), SR, (512, 1024, 2048), 512, n_bins)
    assert img.shape == (3, n_bins, 1 + 2 * SR // 512)
    expected = freq / (SR / 2) * (n_bins - 1)
    for channel in img:
        assert abs(int(np.argmax(channel.mean(axis=1))) - expected) <= 1.5
    # longer windows resolve the tone more sharply: less energy far from the peak
    far = np.abs(np.arange(n_bins) - expected) > 20
    spread = [float(np.mean(ch.mean(axis=1)[far])) for ch in img]
    assert spread[0] > spread[2]


def test_batched_input_keeps_leading_axes() -> None:
    ys = np.stack([tone(440, 1.0), tone(2000, 1.0), np.zeros(SR, np.float32)])
    batch = multi_stft_spectrogram(ys, SR)
    assert batch.shape == (3, 3, 256, 1 + SR // 512)
    for i in range(3):
        np.testing.assert_allclose(batch[i], multi_stft_spectrogram(ys[i], SR), atol=1e-4)
    mel = mel_spectrogram(ys, SR)
    assert mel.shape == (3, 128, 1 + SR // 512)
    np.testing.assert_allclose(mel[1], mel_spectrogram(ys[1], SR), atol=1e-4)


def test_frequency_resampler_rows_are_averages() -> None:
    for n_fft, n_bins in [(512, 256), (2048, 256), (256, 256), (512, 257)]:
        W = frequency_resampler(n_fft, n_bins)
        assert W.shape == (n_bins, 1 + n_fft // 2)
        np.testing.assert_allclose(W.sum(axis=1), 1.0, rtol=1e-5)
        assert W.min() >= 0
    np.testing.assert_allclose(frequency_resampler(512, 257), np.eye(257), atol=1e-6)  # same grid: identity


def test_spectrogram_featurizers_give_one_image_per_segment() -> None:
    y = tone(440, 7.0)
    for name, channels, height in [("mel", 1, 128), ("stft", 1, 1025), ("multi_stft", 3, 256)]:
        f = get_featurizer(name)
        imgs = f.segment_vectors(y)
        assert imgs.shape == (3, channels, height, 1 + 3 * SR // 512) == (3, *f.output_shape())
        assert imgs.dtype == np.float32
        assert f.segment_times(len(y)).shape == (3, 2)
    short = get_featurizer("mel", tail="drop").segment_vectors(tone(440, 1.0))
    assert short.shape == (0, 1, 128, 130)
    assert get_featurizer("mel", n_mels=64).params() != get_featurizer("mel").params()
    # only what matters for the kind is in params: mel does not depend on n_bins
    assert "n_bins" not in get_featurizer("mel").params() and "n_mels" not in get_featurizer("stft").params()
    with pytest.raises(ConfigError):
        get_featurizer("mel", kind="stft")
    with pytest.raises(ConfigError):
        SpectrogramConfig(kind="cqt")
