"""Pooling a backbone's frames into one output per segment (by frame centre; see :mod:`.embeddings`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soundsort.errors import ConfigError

__all__ = ["POOLINGS", "SCORE_STATS", "pool_frames", "pool_stats", "segment_frame_ranges"]

POOLINGS = ("mean", "mean_std", "sequence")

#: Statistics over a segment's frames for the class / tag score outputs (``"scores"``, ``"tags"``).
SCORE_STATS = ("mean", "max")


def pool_frames(
    values: np.ndarray,
    centres: np.ndarray,
    bounds: Sequence[tuple[int, int]],
    n_samples: int,
    pooling: str,
    sequence_frames: int | None = None,
) -> np.ndarray:
    """Pool embedding frames ``values[T, D]`` (centres in samples, ascending) into one output per segment.

    ``bounds`` are the segments' sample ranges (``end`` may pass ``n_samples``); see the module
    docstring for the three poolings. Returns float32 ``(S, D)``, ``(S, 2 D)`` or ``(S, T, D)``.
    """
    values = np.asarray(values, dtype=np.float32)
    centres = np.asarray(centres, dtype=np.float64)
    n_frames, dim = values.shape
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if pooling == "sequence":
        if not sequence_frames or sequence_frames < 1:
            raise ConfigError("sequence pooling needs sequence_frames >= 1")
        out = np.zeros((len(bounds), sequence_frames, dim), dtype=np.float32)
    else:
        out = np.zeros((len(bounds), dim * (2 if pooling == "mean_std" else 1)), dtype=np.float32)
    if not len(bounds):
        return out
    if n_frames == 0:
        raise ValueError("no embedding frames to pool")

    def nearest(cand: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Index into ``cand`` (ascending) of the nearest centre to each target (ties: the earlier)."""
        pos = np.clip(np.searchsorted(cand, targets), 1, max(1, len(cand) - 1))
        if len(cand) == 1:
            return np.zeros(len(targets), dtype=np.int64)
        left = cand[pos - 1]
        right = cand[pos]
        return np.where(targets - left <= right - targets, pos - 1, pos)

    if pooling == "sequence":
        real = int(np.searchsorted(centres, n_samples, side="left"))  # frames centred on real audio
        cand_n = real if real > 0 else n_frames
        cand = centres[:cand_n]
        T = sequence_frames
        for i, (a, b) in enumerate(bounds):
            targets = a + (np.arange(T) + 0.5) * ((b - a) / T)
            out[i] = values[nearest(cand, targets)]
        return out

    for i, (lo, hi) in enumerate(segment_frame_ranges(centres, bounds, n_samples)):
        chunk = values[lo:hi]
        mean = chunk.mean(axis=0, dtype=np.float64)
        if pooling == "mean":
            out[i] = mean
        else:
            out[i, :dim] = mean
            out[i, dim:] = chunk.std(axis=0, dtype=np.float64)
    return out


def segment_frame_ranges(centres: np.ndarray, bounds: Sequence[tuple[int, int]], n_samples: int) -> np.ndarray:
    """``(S, 2)`` frame index ranges ``[lo, hi)`` that a vector pooling of each segment uses.

    The frames centred (``centres`` in samples, ascending, at least one) in ``[start, min(end, n_samples))``;
    where there is none, the one frame nearest the middle of the segment's real audio (ties: the earlier).
    """
    centres = np.asarray(centres, dtype=np.float64)
    out = np.zeros((len(bounds), 2), dtype=np.int64)
    if not len(bounds):
        return out
    if len(centres) == 0:
        raise ValueError("no embedding frames to pool")
    for i, (a, b) in enumerate(bounds):
        stop = min(b, n_samples)
        lo = int(np.searchsorted(centres, a, side="left"))
        hi = int(np.searchsorted(centres, stop, side="left"))
        if hi <= lo:
            mid = (a + stop) / 2.0
            pos = int(np.clip(np.searchsorted(centres, mid), 1, max(1, len(centres) - 1)))
            if len(centres) == 1:
                lo = 0
            else:
                lo = pos - 1 if mid - centres[pos - 1] <= centres[pos] - mid else pos
            hi = lo + 1
        out[i] = lo, hi
    return out


def pool_stats(
    values: np.ndarray,
    centres: np.ndarray,
    bounds: Sequence[tuple[int, int]],
    n_samples: int,
    stats: Sequence[str] = SCORE_STATS,
) -> np.ndarray:
    """Statistics of frames ``values[T, D]`` per segment (the frames of :func:`segment_frame_ranges`).

    ``stats`` from :data:`SCORE_STATS`, stat-major: ``(S, len(stats) * D)`` float32 (means in float64).
    """
    values = np.asarray(values, dtype=np.float32)
    unknown = [s for s in stats if s not in SCORE_STATS]
    if unknown or not len(stats):
        raise ConfigError(f"score statistics must be some of {', '.join(SCORE_STATS)}, got {list(stats)!r}")
    dim = values.shape[1]
    out = np.zeros((len(bounds), len(stats) * dim), dtype=np.float32)
    for i, (lo, hi) in enumerate(segment_frame_ranges(centres, bounds, n_samples)):
        chunk = values[lo:hi]
        for k, stat in enumerate(stats):
            out[i, k * dim:(k + 1) * dim] = chunk.mean(axis=0, dtype=np.float64) if stat == "mean" else chunk.max(0)
    return out

