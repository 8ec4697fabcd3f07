"""Fixed-length segmenting: cut a signal into windows of ``segment_seconds`` every ``hop_seconds``."""

from __future__ import annotations

import numpy as np

from soundsort.errors import ConfigError


def segment_bounds(
    n_samples: int,
    sr: int,
    segment_seconds: float,
    hop_seconds: float | None = None,
    *,
    tail: str = "pad",
    min_tail_seconds: float = 0.0,
) -> list[tuple[int, int]]:
    """Sample ranges ``[(start, end), ...]`` of the windows over a signal of ``n_samples``.

    ``tail`` says what happens to a last window shorter than ``segment_seconds``:
    ``"pad"`` keeps it (zero-padded later; ``end`` may exceed ``n_samples``), ``"drop"`` discards it.
    A signal shorter than one window yields one padded window with ``tail="pad"`` and none with
    ``tail="drop"``. With ``"pad"``, a tail shorter than ``min_tail_seconds`` is dropped unless it
    is the only window.
    """
    if segment_seconds <= 0:
        raise ConfigError(f"segment length must be positive, got {segment_seconds}")
    hop = segment_seconds if hop_seconds is None else hop_seconds
    if hop <= 0:
        raise ConfigError(f"hop must be positive, got {hop}")
    if tail not in ("pad", "drop"):
        raise ConfigError(f"tail must be 'pad' or 'drop', got {tail!r}")
    seg = int(round(segment_seconds * sr))
    step = max(1, int(round(hop * sr)))
    min_tail = int(round(min_tail_seconds * sr))
    bounds: list[tuple[int, int]] = []
    start = 0
    while start + seg <= n_samples:
        bounds.append((start, start + seg))
        start += step
    if tail == "pad" and start < n_samples:
        rest = n_samples - start
        # a tail already covered by the previous full window adds nothing
        covered = bool(bounds) and bounds[-1][1] >= n_samples
        if not covered and (rest >= min_tail or not bounds):
            bounds.append((start, start + seg))
    return bounds


def frame_segments(
    y: np.ndarray,
    sr: int,
    segment_seconds: float,
    hop_seconds: float | None = None,
    *,
    tail: str = "pad",
    min_tail_seconds: float = 0.0,
) -> np.ndarray:
    """Cut ``y`` into a ``(n_segments, segment_samples)`` array (zero-padding a kept short tail)."""
    bounds = segment_bounds(len(y), sr, segment_seconds, hop_seconds, tail=tail,
                            min_tail_seconds=min_tail_seconds)
    return cut_segments(y, bounds, int(round(segment_seconds * sr)))


def cut_segments(y: np.ndarray, bounds: list[tuple[int, int]], seg: int) -> np.ndarray:
    """The ``(len(bounds), seg)`` float32 windows of ``y`` at ``bounds`` (zero-padding past its end)."""
    out = np.zeros((len(bounds), seg), dtype=np.float32)
    for i, (a, b) in enumerate(bounds):
        chunk = y[a:min(b, len(y))]
        out[i, : len(chunk)] = chunk
    return out
