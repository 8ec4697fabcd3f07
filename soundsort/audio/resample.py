"""Resampling with soxr (high quality, fast, streaming-capable)."""

from __future__ import annotations

import numpy as np
import soxr


def resample(y: np.ndarray, orig_sr: int, target_sr: int, *, quality: str = "HQ") -> np.ndarray:
    """Resample ``y`` (``(n,)`` or ``(n, channels)``) from ``orig_sr`` to ``target_sr`` with soxr."""
    if int(orig_sr) == int(target_sr):
        return np.asarray(y, dtype=np.float32)
    out = soxr.resample(np.asarray(y, dtype=np.float32), int(orig_sr), int(target_sr), quality=quality)
    return np.asarray(out, dtype=np.float32)


def resampled_length(n: int, orig_sr: int, target_sr: int) -> int:
    """Samples soxr returns for ``n`` samples resampled from ``orig_sr`` to ``target_sr`` (round half up)."""
    n, orig_sr, target_sr = int(n), int(orig_sr), int(target_sr)
    if orig_sr == target_sr:
        return n
    return (2 * n * target_sr + orig_sr) // (2 * orig_sr)


class StreamResampler:
    """Block-by-block resampling with one continuous filter state (no clicks at block joins)."""

    def __init__(self, orig_sr: int, target_sr: int, channels: int = 1, *, quality: str = "HQ") -> None:
        self.orig_sr = int(orig_sr)
        self.target_sr = int(target_sr)
        self._stream = soxr.ResampleStream(self.orig_sr, self.target_sr, channels, dtype="float32",
                                           quality=quality)

    def process(self, block: np.ndarray, *, last: bool = False) -> np.ndarray:
        """Feed one block; returns what is ready. Call once with ``last=True`` to flush."""
        return self._stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=last)
