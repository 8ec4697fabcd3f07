"""Timeline smoothing and segmentation: properties that must hold for any probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsort.inference.timeline import (
    Segment,
    boundary_errors,
    frame_f1,
    music_share,
    rasterize,
    smooth,
    to_segments,
)

HOP = 0.48


@settings(max_examples=80, deadline=None)
@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=300), min_seg=st.floats(0.0, 6.0))
def test_segments_tile_the_file_and_respect_the_minimum(p: list[float], min_seg: float) -> None:
    p = np.array(p)
    times = np.arange(len(p)) * HOP + HOP
    duration = float(times[-1] + HOP)
    segs = to_segments(p, times, hop_seconds=HOP, duration=duration, min_segment_seconds=min_seg)
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(duration)
    for a, b in zip(segs, segs[1:]):
        assert a.end == b.start and a.label != b.label
    if len(segs) > 1:
        assert min(s.duration for s in segs) >= min_seg - 1e-9
    assert all(0.0 <= s.confidence <= 1.0 for s in segs)


def test_clear_music_in_the_middle() -> None:
    times = np.arange(100) * 0.1 + 0.05
    p = np.where((times > 3.0) & (times < 7.0), 0.95, 0.05)
    segs = to_segments(smooth(p, 0.1, 0.5), times, hop_seconds=0.1, duration=10.0, min_segment_seconds=1.0)
    assert [s.label for s in segs] == ["non-music", "music", "non-music"]
    assert segs[1].start == pytest.approx(3.0, abs=0.15) and segs[1].end == pytest.approx(7.0, abs=0.15)
    assert music_share(segs) == pytest.approx(0.4, abs=0.03)


def test_short_blips_are_absorbed_and_hysteresis_holds() -> None:
    times = np.arange(200) * 0.1 + 0.05
    p = np.full(200, 0.9)
    p[50:53] = 0.1  # a 0.3 s dip inside music
    p[120:] = 0.5 + 0.08 * np.sin(np.arange(80))  # wobbling around the threshold, never past the margins
    segs = to_segments(p, times, hop_seconds=0.1, duration=20.0, min_segment_seconds=2.0)
    assert [s.label for s in segs] == ["music"]


def test_smooth_is_a_centred_average() -> None:
    p = np.zeros(11)
    p[5] = 1.0
    out = smooth(p, 1.0, 3.0)
    np.testing.assert_allclose(out[4:7], 1 / 3)
    assert out[:4].sum() == 0 and out[7:].sum() == 0
    assert smooth(np.array([0.2, 0.8]), 1.0, 5.0).tolist() == [0.5, 0.5]


def test_frame_metrics() -> None:
    truth = [{"start": 0.0, "end": 5.0, "label": "non-music"}, {"start": 5.0, "end": 10.0, "label": "music"}]
    pred = [Segment(0.0, 5.5, "non-music", 0.9), Segment(5.5, 10.0, "music", 0.9)]
    t, q = rasterize(truth, 10.0), rasterize(pred, 10.0)
    assert t.sum() == 500 and q.sum() == 450
    assert frame_f1(t, q) == pytest.approx(2 * 450 / (2 * 450 + 50))
    assert boundary_errors([5.0], [5.5]) == [pytest.approx(0.5)]
    assert boundary_errors([5.0], []) == [float("inf")]
