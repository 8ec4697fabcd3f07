"""Decisions while a stream plays: the live timeline and genre that ``soundsort stream`` and the web page's live
view report, on the same engine as ``classify``.

* :class:`OnlineTimeline` — frame probabilities in, final segments out. The rules are ``classify``'s (a centred
  moving average over ``smooth_seconds``, hysteresis of ``margin`` around the threshold, runs shorter than
  ``min_segment_seconds`` absorbed into their longer neighbour, the shortest first), applied over the part of
  the stream not yet decided. A boundary is final once the run after it has lasted ``latency`` seconds: with
  ``latency >= min_segment_seconds`` (the default, 2 s each) that is exactly when classify's rule can no longer
  move it; a shorter latency decides sooner, and a run that has lasted ``latency`` counts as long enough (such
  a stream may report segments shorter than the minimum, never shorter than the latency).
* :class:`LiveClassifier` — feeds a :class:`~soundsort.inference.classify.ClassifyEngine` one segment hop at a
  time and turns what becomes final into events (dicts): ``segment_start``, ``segment_end`` (a music one with
  its genre, as classify's timeline has it), ``genre`` updates for the current music segment (the windows of
  classify's genre model, the first three as soon as they are decided, then ever sparser: at most
  ``max_genre_windows`` per segment) and ``heartbeat``. Memory is bounded: frames, runs and audio are kept only
  as far back as an undecided boundary needs.

The delay from a change in the audio to its event is ``latency`` plus the look-ahead of the smoothing (half its
window) and of the music model (YAMNet's 0.975 s patch after a 0.48 s frame), plus one step.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from soundsort.inference.classify import Classifier, evidence_centres


@dataclass
class _Run:
    """A run of equal hysteresis states: its first frame's left edge, and its smoothed probabilities' sum."""

    value: bool
    start: float
    psum: float
    n: int


def _r3(x: float) -> float:
    return round(float(x), 3)


class OnlineTimeline:
    """Music / non-music segments of a stream, each final as soon as ``latency`` seconds after it allow."""

    def __init__(self, *, hop_seconds: float, threshold: float, margin: float = 0.1,
                 min_segment_seconds: float = 2.0, smooth_seconds: float = 1.5, latency: float = 2.0,
                 labels: tuple[str, str] = ("music", "non-music")) -> None:
        self.hop, self.threshold, self.margin = hop_seconds, threshold, margin
        self.min_seg, self.latency, self.labels = min_segment_seconds, max(float(latency), hop_seconds), labels
        w = int(round(smooth_seconds / hop_seconds))
        self.half = 0 if w <= 1 else (w | 1) // 2
        self.credit = max(0.0, self.min_seg - self.latency)  # an open run of `latency` counts as the minimum
        self.horizon = 2 * self.min_seg + self.latency + 2 * self.half * hop_seconds
        self._q: deque[float] = deque()  # raw probabilities of frames i0 - half ... (not all smoothed yet)
        self._c: deque[float] = deque()  # their centres
        self._i0 = 0  # index (in the stream) of the next frame to smooth; _q[0] is frame _i0 - len(left)
        self._left = 0  # frames kept before _i0 for the smoothing window
        self._state: bool | None = None
        self._last_edge = 0.0  # right edge of the last smoothed frame (provisional)
        self._last_centre = 0.0
        self.runs: list[_Run] = []
        self.fixed = False  # runs[0] is the open segment already announced (its label can no longer change)
        self.current: tuple[str, float] | None = None  # (label, start) of the announced segment
        self.ended = False

    # ------------------------------------------------------------------------------------------ input

    def push(self, centres: np.ndarray, probs: np.ndarray) -> list[tuple[str, dict[str, Any]]]:
        """Add frames (evidence centres s, raw music probabilities); the decisions now final, in order:
        ``("start", {label, start, confidence})`` and ``("end", {label, start, end, confidence})``."""
        out: list[tuple[str, dict[str, Any]]] = []
        for c, q in zip(np.asarray(centres, float), np.asarray(probs, float)):
            self._q.append(float(q))
            self._c.append(float(c))
            while len(self._q) - self._left > self.half:  # frame _i0 has its look-ahead
                self._smooth_one(final=False)
                out += self._decide(final=False)
        return out

    def finish(self, duration: float) -> list[tuple[str, dict[str, Any]]]:
        """The end of the stream (``duration`` s): the remaining frames, every boundary, the last segment."""
        while len(self._q) > self._left:
            self._smooth_one(final=True)
        if not self.runs:
            return []
        self._last_edge = max(duration, self._last_centre)
        return self._decide(final=True)

    @property
    def settled(self) -> float:
        """Seconds of the stream whose label is final (up to the first undecided boundary)."""
        if not self.fixed:
            return 0.0
        return self.runs[1].start if len(self.runs) > 1 else self._last_edge

    # ------------------------------------------------------------------------------------------ smoothing

    def _smooth_one(self, final: bool) -> None:
        left, half = self._left, self.half
        lo, hi = max(0, left - half), min(len(self._q), left + half + 1)
        p = sum(list(self._q)[lo:hi]) / (hi - lo)
        c = self._c[left]
        self._last_centre = c
        prev = self._c[left - 1] if left else None
        edge = 0.0 if prev is None else (prev + c) / 2
        nxt = self._c[left + 1] if left + 1 < len(self._c) else c + self.hop  # the next frame, or where it will be
        self._last_edge = (c + nxt) / 2
        if self._state is None:
            self._state = p >= self.threshold
        elif self._state and p < self.threshold - self.margin:
            self._state = False
        elif not self._state and p > self.threshold + self.margin:
            self._state = True
        if self.runs and self.runs[-1].value == self._state:
            self.runs[-1].psum += p
            self.runs[-1].n += 1
        else:
            self.runs.append(_Run(self._state, edge, p, 1))
        self._i0 += 1
        self._left += 1
        while self._left > max(half, 1):  # keep `half` frames back (and one, for the next edge)
            self._q.popleft()
            self._c.popleft()
            self._left -= 1

    # ------------------------------------------------------------------------------------------ decisions

    def _end(self, k: int) -> float:
        return self.runs[k + 1].start if k + 1 < len(self.runs) else self._last_edge

    def _groups(self, final: bool) -> list[list[Any]]:
        """classify's merge of the undecided runs: ``[value, first run, last run]`` groups."""
        runs = self.runs
        groups = [[r.value, i, i] for i, r in enumerate(runs)]
        credit = 0.0 if final else self.credit

        def dur(g: list[Any], last: bool) -> float:
            return self._end(g[2]) - runs[g[1]].start + (credit if last else 0.0)

        while len(groups) > 1:
            first = 1 if self.fixed else 0
            i = min(range(first, len(groups)), key=lambda k: dur(groups[k], k == len(groups) - 1))
            if dur(groups[i], i == len(groups) - 1) >= self.min_seg:
                break
            if i == 0:
                j = 1
            elif i == len(groups) - 1:
                j = i - 1
            else:
                j = i - 1 if dur(groups[i - 1], False) >= dur(groups[i + 1], i + 1 == len(groups) - 1) else i + 1
            groups[i][0] = groups[j][0]
            merged: list[list[Any]] = []
            for g in groups:
                if merged and merged[-1][0] == g[0]:
                    merged[-1][2] = g[2]
                else:
                    merged.append(list(g))
            groups = merged
        return groups

    def _segment(self, g: list[Any], end: float) -> dict[str, Any]:
        psum = sum(r.psum for r in self.runs[g[1]: g[2] + 1])
        n = sum(r.n for r in self.runs[g[1]: g[2] + 1])
        mean = psum / max(n, 1)
        label = self.labels[0] if g[0] else self.labels[1]
        return {"label": label, "start": _r3(self.runs[g[1]].start), "end": _r3(end),
                "confidence": _r3(mean if g[0] else 1.0 - mean)}

    def _fix(self, g: list[Any]) -> None:
        """Runs before group ``g`` are decided; ``g``'s first run becomes the announced segment's head."""
        head = self.runs[g[1]]
        head.value = g[0]
        for r in self.runs[g[1] + 1: g[2] + 1]:
            head.psum += r.psum
            head.n += r.n
        del self.runs[g[1] + 1: g[2] + 1]
        del self.runs[: g[1]]
        self._join_head()
        self.fixed = True
        self.current = (self.labels[0] if g[0] else self.labels[1], head.start)

    def _decide(self, final: bool) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        if self.ended:
            return out
        if final:  # one merge of everything left, as classify does it over a whole file
            groups = self._groups(True)
            if not self.fixed:
                out.append(("start", self._opening(groups[0])))
            for g0, g1 in zip(groups, groups[1:]):
                out.append(("end", self._segment(g0, self.runs[g1[1]].start)))
                out.append(("start", self._opening(g1)))
            out.append(("end", self._segment(groups[-1], self._last_edge)))
            self.ended = True
            return out
        while True:
            groups = self._groups(False)
            if not self.fixed:
                g0 = groups[0]
                if self._end(g0[2]) - self.runs[0].start < self.latency:
                    return out
                out.append(("start", self._opening(g0)))
                self._fix(g0)
                continue
            if len(groups) < 2 or self._end(groups[1][2]) - self.runs[groups[1][1]].start < self.latency:
                break
            g1 = groups[1]
            out.append(("end", self._segment(groups[0], self.runs[g1[1]].start)))
            out.append(("start", self._opening(g1)))
            self._fix(g1)
        old = [k for k in range(1, groups[0][2] + 1) if self._end(k) < self._last_edge - self.horizon]
        if old:
            self._collapse(old[-1])
        return out

    def _opening(self, g: list[Any]) -> dict[str, Any]:
        seg = self._segment(g, self._end(g[2]))
        return {k: seg[k] for k in ("label", "start", "confidence")}

    def _join_head(self) -> None:
        """The announced segment's head absorbs a following run of its own label."""
        while len(self.runs) > 1 and self.runs[1].value == self.runs[0].value:
            self.runs[0].psum += self.runs[1].psum
            self.runs[0].n += self.runs[1].n
            del self.runs[1]

    def _collapse(self, last: int) -> None:
        """Runs absorbed into the announced segment long ago join its head (bounded memory)."""
        head = self.runs[0]
        for r in self.runs[1: last + 1]:
            head.psum += r.psum
            head.n += r.n
        del self.runs[1: last + 1]
        self._join_head()


class LiveClassifier:
    """A :class:`Classifier` following a stream: :meth:`feed` blocks of mono float32 audio at ``native_sr``,
    get events (dicts with ``event`` and ``position``, the stream's seconds when it was decided)."""

    def __init__(self, clf: Classifier, native_sr: int, *, latency: float = 2.0,
                 heartbeat_seconds: float | None = 10.0, keep_seconds: float = 120.0,
                 step_seconds: float | None = None) -> None:
        cfg = clf.config
        fz = clf.music_feat
        self.clf, self.native_sr = clf, int(native_sr)
        # one segment hop a step by default (decisions as soon as the model allows); a longer step costs less
        self.engine = clf.engine(native_sr, step_seconds=step_seconds or fz.hop_seconds, collect=False,
                                 genre_windows=False, tight=True)
        self.timeline = OnlineTimeline(hop_seconds=fz.hop_seconds, threshold=clf.music_card.threshold,
                                       margin=cfg.margin, min_segment_seconds=cfg.min_segment_seconds,
                                       smooth_seconds=cfg.smooth_seconds, latency=latency)
        self.heartbeat_seconds = heartbeat_seconds
        self.keep_seconds = keep_seconds
        self._next_beat = heartbeat_seconds or math.inf
        self.peak = 0.0
        self._frames: deque[tuple[float, float]] = deque()  # (segment start s, raw probability), recent
        # genre of the current music segment
        self._genre_on = clf.genre_feat is not None
        self._seg: tuple[str, float] | None = None
        self._next_w = 0.0
        self._ordinal = 0
        self._analysed = 0
        self._rows_sum: np.ndarray | None = None
        self._rows_n = 0

    @property
    def position(self) -> float:
        return self.engine.position

    def feed(self, block: np.ndarray) -> list[dict[str, Any]]:
        """Add the next samples; the events now decided."""
        block = np.asarray(block, np.float32)
        if len(block):
            self.peak = max(self.peak, float(np.max(np.abs(block))))
        events = self._frames_in(self.engine.feed(block), math.inf)
        if self.position >= self._next_beat:
            self._next_beat = (math.floor(self.position / self.heartbeat_seconds) + 1) * self.heartbeat_seconds
            events.append(self._event("heartbeat", decided=_r3(self.timeline.settled),
                                      lag=_r3(self.position - self.timeline.settled)))
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The end of the stream: the last decisions and the closing segment."""
        duration = self.position
        events = self._frames_in(self.engine.finish(), duration)
        return events + self._decisions(self.timeline.finish(duration), final=True)

    # ------------------------------------------------------------------------------------------ internals

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"event": kind, "position": _r3(self.position), **fields}

    def _frames_in(self, blocks: list[tuple[np.ndarray, np.ndarray]], duration: float) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for times, probs in blocks:
            if self._genre_on:
                self._frames.extend(zip(times[:, 0].tolist(), probs.tolist()))
            centres = evidence_centres(self.clf.music_feat, times, duration)
            events += self._decisions(self.timeline.push(centres, probs), final=False)
        if self._genre_on:
            events += self._genre_windows(self.timeline.settled, None)
            self._trim()
        return events

    def _decisions(self, decided: list[tuple[str, dict[str, Any]]], final: bool) -> list[dict[str, Any]]:
        events = []
        for kind, seg in decided:
            if kind == "start":
                events.append(self._event("segment_start", **seg))
                self._seg = (seg["label"], seg["start"])
                if self._genre_on and seg["label"] == "music":
                    win = self.clf.config.genre_window_seconds
                    self._next_w = win * math.ceil((seg["start"] - win / 2) / win - 1e-9)
                    self._ordinal = self._analysed = self._rows_n = 0
                    self._rows_sum = None
            else:
                if self._genre_on and seg["label"] == "music":
                    events += self._genre_windows(seg["end"], seg["end"])
                    seg = {**seg, "genre": self._top(), "genre_windows": self._analysed}
                events.append(self._event("segment_end", **seg))
                self._seg = None
        return events

    def _genre_windows(self, settled: float, end: float | None) -> list[dict[str, Any]]:
        """Decide the current music segment's genre windows that are settled (centre before ``end``)."""
        if self._seg is None or self._seg[0] != "music":
            return []
        cfg = self.clf.config
        win, events = cfg.genre_window_seconds, []
        held = self.engine.native.start / self.native_sr
        self._next_w = max(self._next_w, win * math.ceil(held / win - 1e-9))
        while True:
            w0 = self._next_w
            if end is not None:  # the segment has ended: every window centred inside it
                if w0 + win / 2 >= end - 1e-9 or w0 >= self.position:
                    break
            elif w0 + win > min(settled, self.position) + 1e-9:
                break
            self._next_w += win
            inside = [q for t, q in self._frames if w0 - 1e-9 <= t < w0 + win - 1e-9]
            if not inside or float(np.mean(inside)) < self.clf.music_card.threshold:
                continue
            j = self._ordinal
            self._ordinal += 1
            if self._analysed >= cfg.max_genre_windows or not (j < 3 or (j & (j - 1)) == 0):
                continue  # windows 0, 1, 2, 4, 8, 16, ...: the genre settles, the work thins out
            a = int(round(w0 * self.native_sr))
            audio = self.engine.native.get(a, a + int(round(win * self.native_sr))).copy()
            p = self.clf._window_probas([audio], self.native_sr)[0]
            if p is None:
                continue
            self._rows_sum = p.sum(axis=0) if self._rows_sum is None else self._rows_sum + p.sum(axis=0)
            self._rows_n += len(p)
            self._analysed += 1
            events.append(self._event("genre", start=self._seg[1], genre=self._top(), windows=self._analysed))
        return events

    def _top(self) -> list[dict[str, Any]] | None:
        if self._rows_sum is None:
            return None
        mean = self._rows_sum / self._rows_n
        labels = self.clf.genre_card.labels
        return [{"label": labels[i], "probability": round(float(mean[i]), 4)}
                for i in np.argsort(-mean)[: self.clf.config.top_k]]

    def _trim(self) -> None:
        """Forget audio and frames that no undecided boundary or genre window can need."""
        keep_from = min(self.timeline.settled, self._next_w if self._seg and self._seg[0] == "music" else math.inf)
        keep_from = max(keep_from, self.position - self.keep_seconds) - 1.0
        self.engine.native.drop_before(int(max(0.0, keep_from) * self.native_sr))
        while self._frames and self._frames[0][0] < keep_from:
            self._frames.popleft()
