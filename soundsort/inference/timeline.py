"""From frame-level music probabilities to a timeline of music / non-music segments.

Small pure functions on arrays:

* :func:`smooth` — a centred moving average over ``window_seconds`` (frame probabilities are noisy);
* :func:`to_segments` — threshold with hysteresis, then merge runs shorter than ``min_segment_seconds``
  into their neighbours until none is left (the shortest run goes first), so no segment of the output is
  shorter than the minimum unless the whole file is;
* :func:`frame_f1` and :func:`boundary_errors` — how a timeline compares with the truth (benchmarks, tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    """A stretch of the file: ``start``/``end`` seconds, ``label`` (music / non-music), mean ``confidence``."""

    start: float
    end: float
    label: str
    confidence: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}


def smooth(p: np.ndarray, hop_seconds: float, window_seconds: float) -> np.ndarray:
    """Centred moving average of ``p`` over about ``window_seconds`` (edges use the frames there are)."""
    p = np.asarray(p, dtype=float)
    w = int(round(window_seconds / hop_seconds))
    if w <= 1 or len(p) == 0:
        return p.copy()
    w = min(w | 1, 2 * len(p) - 1) | 1  # odd, so the average is centred
    half = w // 2
    csum = np.concatenate([[0.0], np.cumsum(p)])
    idx = np.arange(len(p))
    lo = np.clip(idx - half, 0, len(p))
    hi = np.clip(idx + half + 1, 0, len(p))
    return (csum[hi] - csum[lo]) / (hi - lo)


def _runs(flags: np.ndarray) -> list[list[int]]:
    """``[[value, start, end), ...]`` runs of equal values."""
    if len(flags) == 0:
        return []
    change = np.flatnonzero(np.diff(flags.astype(int))) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(flags)]])
    return [[int(flags[s]), int(s), int(e)] for s, e in zip(starts, ends)]


def hysteresis(p: np.ndarray, threshold: float = 0.5, margin: float = 0.1) -> np.ndarray:
    """Music where ``p`` rises above ``threshold + margin`` and until it falls below ``threshold - margin``."""
    on, off = threshold + margin, threshold - margin
    out = np.zeros(len(p), dtype=bool)
    state = bool(len(p) and p[0] >= threshold)
    for i, v in enumerate(p):
        if state and v < off:
            state = False
        elif not state and v > on:
            state = True
        out[i] = state
    return out


def to_segments(
    p: np.ndarray,
    times: np.ndarray,
    *,
    hop_seconds: float,
    duration: float,
    threshold: float = 0.5,
    margin: float = 0.1,
    min_segment_seconds: float = 2.0,
    labels: tuple[str, str] = ("music", "non-music"),
) -> list[Segment]:
    """Timeline from smoothed frame probabilities ``p`` of music at frame centres ``times``.

    Frame ``i`` covers the time from halfway after frame ``i-1`` to halfway before frame ``i+1`` (the
    first starts at 0, the last ends at ``duration``). Runs shorter than ``min_segment_seconds`` are
    absorbed into a neighbour (the shortest first), so the output alternates labels and only a file
    shorter than the minimum has a shorter segment.
    """
    p = np.asarray(p, dtype=float)
    times = np.asarray(times, dtype=float)
    if len(p) == 0:
        return []
    edges = np.concatenate([[0.0], (times[1:] + times[:-1]) / 2, [max(duration, float(times[-1]))]])
    runs = _runs(hysteresis(p, threshold, margin))

    def dur(r: list[int]) -> float:
        return float(edges[r[2]] - edges[r[1]])

    while len(runs) > 1:
        i = min(range(len(runs)), key=lambda k: dur(runs[k]))
        if dur(runs[i]) >= min_segment_seconds:
            break
        # absorb the short run into its longer neighbour (they have the other label), then merge equal runs
        if i == 0:
            j = 1
        elif i == len(runs) - 1:
            j = i - 1
        else:
            j = i - 1 if dur(runs[i - 1]) >= dur(runs[i + 1]) else i + 1
        runs[i][0] = runs[j][0]
        merged: list[list[int]] = []
        for r in runs:
            if merged and merged[-1][0] == r[0]:
                merged[-1][2] = r[2]
            else:
                merged.append(list(r))
        runs = merged
    out = []
    for value, s, e in runs:
        conf = float(np.mean(p[s:e])) if value else float(1.0 - np.mean(p[s:e]))
        out.append(Segment(float(edges[s]), float(edges[e]), labels[0] if value else labels[1], conf))
    return out


def music_share(segments: Sequence[Segment], music_label: str = "music") -> float:
    """Share of the file's time that the timeline calls music."""
    total = sum(s.duration for s in segments)
    return 0.0 if total <= 0 else sum(s.duration for s in segments if s.label == music_label) / total


def rasterize(segments: Sequence[dict] | Sequence[Segment], duration: float, step: float = 0.01,
              positive: str = "music", key: str = "label") -> np.ndarray:
    """Boolean frames of ``step`` seconds: True where a segment with ``key == positive`` covers the frame centre."""
    n = int(np.ceil(duration / step))
    centres = (np.arange(n) + 0.5) * step
    out = np.zeros(n, dtype=bool)
    for s in segments:
        d = s.to_dict() if isinstance(s, Segment) else s
        if d[key] == positive:
            out[(centres >= d["start"]) & (centres < d["end"])] = True
    return out


def frame_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """F1 of the positive frames (10 ms frames in the benchmarks)."""
    tp = float(np.sum(truth & pred))
    fp = float(np.sum(~truth & pred))
    fn = float(np.sum(truth & ~pred))
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def boundary_errors(true_bounds: Sequence[float], pred_bounds: Sequence[float]) -> list[float]:
    """For each true boundary, the distance (s) to the nearest predicted one (inf when none is predicted)."""
    pred = np.asarray(list(pred_bounds), dtype=float)
    if len(pred) == 0:
        return [float("inf")] * len(true_bounds)
    return [float(np.min(np.abs(pred - t))) for t in true_bounds]
