"""Acoustic fingerprints that tell the same recording apart from a merely similar one.

Embeddings put two songs of one genre close together; a near-duplicate (the same recording re-encoded,
resampled, made louder) needs evidence that lines up *in time*. A fingerprint here is the classic
band-energy-difference code: the signal at 8 kHz (what a telephone-band copy still has), frames of
0.256 s every 32 ms, the energies of 17 log-spaced bands between 300 and 3400 Hz, and one bit per pair of
neighbouring bands: does their energy difference grow or shrink from the previous frame? That is 16 bits
a frame (a ``uint16``), unchanged by gain (differences of log energies), by a codec's changes of the
spectrum's fine detail, and by the loss of the band above 4 kHz.

:func:`match` compares two fingerprints at every lag up to about 1 s and returns the best share of
agreeing bits: about 0.5 for unrelated audio, close to 1 for the same recording. Only the first
:data:`MAX_SECONDS` of a file are kept (a few KB per file).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from soundsort.audio.decode import load
from soundsort.cache import FeatureCache

#: Bumped when the fingerprint's bits change (it keys the cache and is recorded in a library).
VERSION = 1
SAMPLE_RATE = 8000
FRAME = 2048
HOP = 256
N_BANDS = 17  # 16 bits
FMIN, FMAX = 300.0, 3400.0
MAX_SECONDS = 120.0
#: lags tried by :func:`match`, in frames either way (31 × 32 ms ≈ 1 s)
MAX_LAG = 31

_POPCOUNT16 = np.array([bin(i).count("1") for i in range(1 << 16)], dtype=np.uint8)


def params() -> dict[str, Any]:
    """Everything that decides a fingerprint (cache key and library record)."""
    return {"fingerprint": "band-energy-difference", "version": VERSION, "sr": SAMPLE_RATE, "frame": FRAME,
            "hop": HOP, "bands": N_BANDS, "fmin": FMIN, "fmax": FMAX, "max_seconds": MAX_SECONDS}


def _band_matrix() -> np.ndarray:
    freqs = np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE)
    edges = np.geomspace(FMIN, FMAX, N_BANDS + 1)
    m = np.zeros((N_BANDS, len(freqs)), dtype=np.float32)
    for b in range(N_BANDS):
        m[b, (freqs >= edges[b]) & (freqs < edges[b + 1])] = 1.0
    return m


_BANDS = _band_matrix()


def fingerprint_signal(y: np.ndarray) -> np.ndarray:
    """The fingerprint of mono ``y`` at :data:`SAMPLE_RATE`: ``(n_frames,)`` uint16 (empty when too short)."""
    y = np.asarray(y, dtype=np.float32)[: int(MAX_SECONDS * SAMPLE_RATE)]
    if len(y) < FRAME + HOP:
        return np.zeros(0, dtype=np.uint16)
    n = 1 + (len(y) - FRAME) // HOP
    window = np.hanning(FRAME).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(y, FRAME)[::HOP][:n] * window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = np.log(power.astype(np.float32) @ _BANDS.T + 1e-10)  # (n, 17)
    diff = energy[:, :-1] - energy[:, 1:]  # (n, 16): neighbouring bands
    bits = (diff[1:] - diff[:-1]) > 0  # (n - 1, 16): change from the previous frame
    weights = (1 << np.arange(16)).astype(np.uint32)
    return (bits.astype(np.uint32) @ weights).astype(np.uint16)


def fingerprint_file(path: str | os.PathLike[str], cache: FeatureCache | None = None) -> np.ndarray:
    """The fingerprint of a file (decoded at 8 kHz, its first :data:`MAX_SECONDS`), from ``cache`` when there."""

    def compute() -> dict[str, np.ndarray]:
        y, _ = load(path, SAMPLE_RATE, max_seconds=MAX_SECONDS)
        return {"bits": fingerprint_signal(y)}

    arrays = compute() if cache is None else cache.get_or_compute(path, params(), compute)
    return np.asarray(arrays["bits"], dtype=np.uint16)


def match(a: np.ndarray, b: np.ndarray, *, max_lag: int = MAX_LAG, min_overlap: float = 0.5) -> float:
    """The best share of equal bits of ``a`` and ``b`` over lags up to ``max_lag`` frames (0.5: unrelated,
    1.0: identical). Lags where the two overlap by less than ``min_overlap`` of the shorter are not tried;
    0.0 when no lag qualifies (e.g. an empty fingerprint)."""
    a = np.asarray(a, dtype=np.uint16)
    b = np.asarray(b, dtype=np.uint16)
    short = min(len(a), len(b))
    if short == 0:
        return 0.0
    # b padded on both sides; row L + lag of the windows is b shifted against a by lag (a[i] vs b[i - lag])
    pad = np.zeros(max_lag, dtype=np.uint16)
    n = len(a)
    padded = np.concatenate([pad, b[:n + max_lag], np.zeros(max(0, n + max_lag - len(b)), np.uint16), pad])
    windows = np.lib.stride_tricks.sliding_window_view(padded, n)[: 2 * max_lag + 1]  # (lags, n)
    valid = np.lib.stride_tricks.sliding_window_view(
        np.concatenate([np.zeros(max_lag, bool), np.ones(min(len(b), n + max_lag), bool),
                        np.zeros(max(0, n + max_lag - len(b)), bool), np.zeros(max_lag, bool)]), n)[: 2 * max_lag + 1]
    errors = (_POPCOUNT16[np.bitwise_xor(windows, a[None, :])] * valid).sum(axis=1, dtype=np.int64)
    overlap = valid.sum(axis=1)
    ok = overlap >= max(1, min_overlap * short)
    if not ok.any():
        return 0.0
    return float(np.max(1.0 - errors[ok] / (16.0 * overlap[ok])))


__all__ = ["MAX_SECONDS", "SAMPLE_RATE", "VERSION", "fingerprint_file", "fingerprint_signal", "match", "params"]
