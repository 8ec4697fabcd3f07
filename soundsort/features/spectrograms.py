"""Spectrogram images for CNNs: log-mel, linear-frequency log-STFT, and a 3-channel multi-resolution STFT.

All use centred frames (``frames = 1 + n_samples // hop_length``) and a Hann window, accept a signal
``(n,)`` or a batch ``(..., n)`` (leading axes are kept), and return float32. Outputs are *not* normalized.

The log is a fixed floor, never relative to the loudest value (no ``top_db``): a segment's image then
depends only on that segment, not on what else was in the batch. Digital silence sits at -100 dB.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

import librosa
import numpy as np

from soundsort.errors import ConfigError

#: Floor of the log scale: 10·log10(1e-10) = 20·log10(1e-5) = -100 dB.
POWER_FLOOR = 1e-10
DB_FLOOR = -100.0


def _signal(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 0 or y.shape[-1] == 0:
        raise ConfigError(f"expected a signal (..., n>0), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ConfigError("signal contains NaN or Inf samples")
    return y


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or int(value) != value or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _power(y: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """``|STFT|²`` with centred frames (explicit ``n_fft // 2`` zero padding, as librosa's ``center=True``)."""
    if n_fft < 2 or n_fft % 2:
        raise ConfigError(f"n_fft must be even, got {n_fft}")
    half = n_fft // 2
    padded = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(half, half)])
    spec = librosa.stft(padded, n_fft=n_fft, hop_length=hop_length, center=False)
    return (spec.real**2 + spec.imag**2).astype(np.float32, copy=False)


def power_to_db(power: np.ndarray) -> np.ndarray:
    """``10·log10(max(power, 1e-10))`` as float32 (absolute reference 1.0, no ``top_db`` clipping)."""
    db = 10.0 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), POWER_FLOOR))
    return np.maximum(db, DB_FLOOR).astype(np.float32)


def n_frames(n_samples: int, hop_length: int) -> int:
    """Frames a centred spectrogram of ``n_samples`` has: ``1 + n_samples // hop_length``."""
    return 1 + int(n_samples) // int(hop_length)


def mel_spectrogram(
    y: np.ndarray,
    sr: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    log: bool = True,
) -> np.ndarray:
    """Mel power spectrogram ``(..., n_mels, 1 + n // hop_length)``; in dB (floor -100) when ``log``.

    Slaney-style mel filters (librosa's default), ``fmax`` defaults to ``sr / 2``.
    """
    _check_positive(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    top = sr / 2.0 if fmax is None else float(fmax)
    if not 0.0 <= fmin < top <= sr / 2.0 + 1e-9:
        raise ConfigError(f"need 0 <= fmin < fmax <= sr/2, got fmin={fmin}, fmax={fmax}, sr={sr}")
    power = _power(_signal(y), n_fft, hop_length)
    basis = _mel_basis(int(sr), int(n_fft), int(n_mels), float(fmin), float(top))
    mel = np.matmul(basis, power)
    return power_to_db(mel) if log else mel


@lru_cache(maxsize=32)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Empty filters detected.*")  # narrow bands at small n_fft
        basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    basis.setflags(write=False)
    return basis


def stft_spectrogram(
    y: np.ndarray,
    sr: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    log: bool = True,
) -> np.ndarray:
    """Linear-frequency STFT magnitude ``(..., 1 + n_fft // 2, 1 + n // hop_length)``; in dB (floor -100) when ``log``.

    ``sr`` is accepted for a uniform signature (bin ``k`` is at ``k * sr / n_fft`` Hz).
    """
    _check_positive(sr=sr, n_fft=n_fft, hop_length=hop_length)
    power = _power(_signal(y), n_fft, hop_length)
    return power_to_db(power) if log else np.sqrt(power)


@lru_cache(maxsize=32)
def frequency_resampler(n_fft: int, n_bins: int) -> np.ndarray:
    """A ``(n_bins, 1 + n_fft // 2)`` matrix mapping linear STFT bins onto ``n_bins`` evenly spaced bins over 0…Nyquist.

    Each output bin is a triangular-weighted average of the input bins within one bin spacing (the
    larger of the input's and the output's), with weights summing to 1: linear interpolation when
    upsampling, band averaging (no aliasing gaps) when downsampling.
    """
    _check_positive(n_fft=n_fft, n_bins=n_bins)
    n_in = 1 + n_fft // 2
    src = np.linspace(0.0, 1.0, n_in)
    if n_bins == 1:
        dst = np.array([0.5])
        width = 1.0
    else:
        dst = np.linspace(0.0, 1.0, n_bins)
        width = max(1.0 / (n_bins - 1), 1.0 / (n_in - 1))
    w = np.maximum(0.0, 1.0 - np.abs(dst[:, None] - src[None, :]) / width)
    w /= w.sum(axis=1, keepdims=True)
    w = w.astype(np.float32)
    w.setflags(write=False)
    return w


def multi_stft_spectrogram(
    y: np.ndarray,
    sr: int,
    n_ffts: Sequence[int] = (512, 1024, 2048),
    hop_length: int = 512,
    n_bins: int = 256,
    log: bool = True,
) -> np.ndarray:
    """Multi-resolution STFT stacked like RGB: ``(..., len(n_ffts), n_bins, 1 + n // hop_length)``.

    One channel per window size; each channel's power spectrum is mapped onto the same ``n_bins``
    linear-frequency grid (0…Nyquist, see :func:`frequency_resampler`) and shares the hop and the
    centred framing, so all channels have the same shape. In dB (floor -100) when ``log``, else magnitude.
    """
    n_ffts = tuple(int(n) for n in n_ffts)
    if not n_ffts:
        raise ConfigError("n_ffts must name at least one window size")
    _check_positive(sr=sr, hop_length=hop_length, n_bins=n_bins, **{f"n_fft[{i}]": n for i, n in enumerate(n_ffts)})
    y = _signal(y)
    channels = []
    for n_fft in n_ffts:
        power = _power(y, n_fft, hop_length)
        resampled = np.matmul(frequency_resampler(n_fft, int(n_bins)), power)
        channels.append(power_to_db(resampled) if log else np.sqrt(resampled).astype(np.float32))
    return np.stack(channels, axis=-3)


__all__ = [
    "DB_FLOOR", "frequency_resampler", "mel_spectrogram", "multi_stft_spectrogram", "n_frames", "power_to_db",
    "stft_spectrogram",
]
