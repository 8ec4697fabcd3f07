"""OnlineTimeline (soundsort.inference.online): classify's timeline rules decided as frames arrive."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsort.inference.online import OnlineTimeline
from soundsort.inference.timeline import smooth, to_segments

HOP = 0.48


def run(q: np.ndarray, latency: float, chunks: list[int] | None = None) -> tuple[list[tuple[int, str, dict]], list]:
    """Feed ``q`` (raw probabilities) in chunks; ``([(frames fed, kind, segment)], classify's segments)``."""
    centres = np.arange(len(q)) * HOP + 0.2475
    tl = OnlineTimeline(hop_seconds=HOP, threshold=0.5, latency=latency)
    out, i, k = [], 0, 0
    while i < len(q):
        n = chunks[k % len(chunks)] if chunks else 1
        out += [(i + n, kind, seg) for kind, seg in tl.push(centres[i:i + n], q[i:i + n])]
        i, k = i + n, k + 1
    duration = len(q) * HOP
    out += [(len(q), kind, seg) for kind, seg in tl.finish(duration)]
    ref = to_segments(smooth(q, HOP, 1.5), centres, hop_seconds=HOP, duration=duration, threshold=0.5,
                      margin=0.1, min_segment_seconds=2.0)
    return out, [s.to_dict() for s in ref]


def ends(out: list) -> list[dict]:
    return [seg for _, kind, seg in out if kind == "end"]


probs = st.lists(st.floats(0, 1), min_size=1, max_size=300).map(np.array)


@settings(max_examples=60, deadline=None)
@given(q=probs, latency=st.sampled_from([0.5, 1.0, 2.0, 4.0]), chunks=st.lists(st.integers(1, 6), min_size=1,
                                                                                max_size=4))
def test_segments_tile_the_stream_and_alternate(q: np.ndarray, latency: float, chunks: list[int]) -> None:
    out, _ = run(q, latency, chunks)
    segs = ends(out)
    kinds = [kind for _, kind, _ in out]
    assert kinds == ["start", "end"] * len(segs)  # every start has its end, in order
    assert segs[0]["start"] == 0.0 and segs[-1]["end"] == round(len(q) * HOP, 3)
    for a, b in zip(segs, segs[1:]):
        assert a["end"] == b["start"] and a["label"] != b["label"]
    starts = [(n, seg) for n, kind, seg in out if kind == "start"]
    for n, seg in starts[1:]:  # a boundary is decided once `latency` seconds after it have been seen
        if n < len(q):
            assert n * HOP >= seg["start"] + latency - 1e-6


@settings(max_examples=60, deadline=None)
@given(q=st.lists(st.floats(0, 1), min_size=1, max_size=12).map(np.array))
def test_a_stream_shorter_than_the_latency_is_exactly_classify(q: np.ndarray) -> None:
    out, ref = run(q, latency=10.0)
    assert [{k: s[k] for k in ("start", "end", "label", "confidence")} for s in ends(out)] == \
        [{k: s[k] for k in ("start", "end", "label", "confidence")} for s in ref]


@settings(max_examples=60, deadline=None)
@given(runs=st.lists(st.tuples(st.booleans(), st.integers(10, 40)), min_size=1, max_size=12),
       noise=st.floats(0, 0.15), seed=st.integers(0, 1000), latency=st.sampled_from([2.0, 4.0]))
def test_clear_parts_give_classify_segments(runs: list, noise: float, seed: int, latency: float) -> None:
    """Parts of 10+ frames (4.8 s) with mild noise: the same segments as classify, at the same boundaries."""
    rng = np.random.default_rng(seed)
    q = np.concatenate([np.full(n, 0.9 if music else 0.1) for music, n in runs])
    q = np.clip(q + rng.normal(0, noise, len(q)), 0, 1)
    out, ref = run(q, latency)
    assert [(s["start"], s["end"], s["label"]) for s in ends(out)] == [(s["start"], s["end"], s["label"]) for s in ref]


def test_memory_is_bounded_on_flicker() -> None:
    """Hours of a probability that flickers around the threshold: the undecided runs stay few."""
    rng = np.random.default_rng(0)
    tl = OnlineTimeline(hop_seconds=HOP, threshold=0.5, latency=2.0)
    worst = 0
    for k in range(200):
        q = np.clip(rng.normal(0.5, 0.3, 100), 0, 1)
        tl.push(np.arange(k * 100, (k + 1) * 100) * HOP + 0.2475, q)
        worst = max(worst, len(tl.runs))
    assert worst <= 12 and len(tl._q) <= 3
