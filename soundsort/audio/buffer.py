"""A rolling audio buffer: the recent part of a stream, addressed by absolute sample index.

Streaming jobs (``classify`` over a long file, ``stream`` over a live source) append decoded blocks and drop
what they no longer need, so memory stays bounded by how far back they look, never by the stream's length.
"""

from __future__ import annotations

import numpy as np


class RollingAudio:
    """Mono float32 samples ``[start, end)`` of a stream; older samples are dropped with :meth:`drop_before`."""

    def __init__(self) -> None:
        self.start = 0  # absolute index of data[0]
        self.data = np.zeros(0, np.float32)

    @property
    def end(self) -> int:
        """Absolute index one past the newest sample held."""
        return self.start + len(self.data)

    def append(self, block: np.ndarray) -> None:
        """Add the next samples of the stream."""
        self.data = np.concatenate([self.data, block]) if len(self.data) else np.asarray(block, np.float32)

    def get(self, a: int, b: int) -> np.ndarray:
        """Samples ``[a, b)`` that are still held (clipped to ``[start, end)``; a view, not a copy)."""
        a, b = max(a, self.start), min(b, self.end)
        return self.data[a - self.start: max(a, b) - self.start]

    def drop_before(self, index: int) -> None:
        """Forget every sample before absolute ``index``."""
        cut = min(max(0, index - self.start), len(self.data))
        if cut:
            self.data = self.data[cut:]
            self.start += cut
