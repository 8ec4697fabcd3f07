"""Decoding every supported format, block reading, resampling, and every bad-input case."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsort.audio import (
    frame_segments,
    info,
    load,
    load_at_rates,
    resample,
    resampled_length,
    segment_bounds,
    stream,
    stream_at_rates,
)
from soundsort.errors import AudioError

SR = 22050


def tone(seconds: float = 2.0, sr: int = SR, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    if channels == 1:
        return y
    return np.stack([y * (c + 1) / channels for c in range(channels)], axis=1)


def encode_with_pyav(path: Path, y: np.ndarray, sr: int, codec: str, container: str | None = None) -> None:
    """Encode mono float audio with PyAV's bundled FFmpeg (no ffmpeg binary needed)."""
    import av

    with av.open(str(path), mode="w", format=container) as out:
        st_ = out.add_stream(codec, rate=sr)
        st_.layout = "mono"
        fmt = st_.codec_context.codec.audio_formats[0].name
        frame_len = 1024
        pcm = y.astype(np.float32)
        for start in range(0, len(pcm), frame_len):
            chunk = pcm[start:start + frame_len]
            if fmt.startswith("s16"):
                arr = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)
            else:
                arr = chunk
            arr = arr.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="mono")
            frame.sample_rate = sr
            for pkt in st_.encode(frame):
                out.mux(pkt)
        for pkt in st_.encode(None):
            out.mux(pkt)


def dominant_freq(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * sr / len(y))


# ------------------------------------------------------------------ formats

@pytest.mark.parametrize(
    "name,writer",
    [
        ("a.wav", lambda p, y: sf.write(p, y, SR, subtype="PCM_16")),
        ("a.flac", lambda p, y: sf.write(p, y, SR)),
        ("a.ogg", lambda p, y: sf.write(p, y, SR, format="OGG", subtype="VORBIS")),
        ("a.mp3", lambda p, y: sf.write(p, y, SR, format="MP3", subtype="MPEG_LAYER_III")),
        ("a.opus", lambda p, y: sf.write(p, y, 48000, format="OGG", subtype="OPUS")),
        ("a.m4a", lambda p, y: encode_with_pyav(p, y, SR, "aac", "mp4")),
    ],
)
def test_decodes_every_format(tmp_path: Path, name: str, writer) -> None:
    path = tmp_path / name
    y = tone(2.0, 48000 if name.endswith(".opus") else SR, 440.0)
    writer(str(path), y)
    meta = info(path)
    assert meta.channels == 1
    assert abs(meta.duration - 2.0) < 0.15
    out, sr = load(path, 16000)
    assert sr == 16000 and out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) / 16000 - 2.0) < 0.15
    # the content survived: a 440 Hz tone at the expected level
    mid = out[4000:-4000]
    assert abs(dominant_freq(mid, 16000) - 440.0) < 5.0
    assert 0.25 < np.sqrt(np.mean(mid ** 2)) < 0.45


def test_m4a_uses_pyav_fallback(tmp_path: Path) -> None:
    path = tmp_path / "x.m4a"
    encode_with_pyav(path, tone(1.0), SR, "aac", "mp4")
    assert info(path).backend == "pyav"


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "st.wav"
    y = tone(1.0, channels=2)  # right = 2 × left
    sf.write(path, y, SR, subtype="FLOAT")
    mono, _ = load(path)
    np.testing.assert_allclose(mono, y.mean(axis=1), atol=1e-6)
    both, _ = load(path, mono=False)
    assert both.shape == y.shape


def test_blocks_equal_whole_file_and_resample_seamless(tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    y = tone(10.0, freq=1000.0)
    sf.write(path, y, SR)
    whole = resample(y, SR, 16000)
    blocks = list(stream(path, 16000, block_seconds=0.7))
    assert len(blocks) > 10
    joined = np.concatenate(blocks)
    assert abs(len(joined) - len(whole)) <= 2
    n = min(len(joined), len(whole))
    np.testing.assert_allclose(joined[:n], whole[:n], atol=2e-3)


@settings(max_examples=12, deadline=None)
@given(st.lists(st.sampled_from([8000, 16000, 22050, 44100, 48000]), min_size=1, max_size=4),
       st.floats(0.3, 4.0))
def test_load_at_rates_equals_load_at_each_rate(tmp_path_factory, srs: list[int], seconds: float) -> None:
    path = tmp_path_factory.mktemp("rates") / "chirp.flac"
    t = np.arange(int(seconds * 44100)) / 44100
    sf.write(path, (0.4 * np.sin(2 * np.pi * (200 + 900 * t) * t)).astype(np.float32), 44100)
    got = load_at_rates(path, srs)  # one decode, every rate
    assert sorted(got) == sorted(set(srs))
    for sr in set(srs):
        want, _ = load(path, sr)
        np.testing.assert_array_equal(got[sr], want)  # bit for bit, not merely close
        assert len(got[sr]) == resampled_length(len(t), 44100, sr)
    # the blocks of stream_at_rates concatenate to the same signals
    parts: dict[int, list[np.ndarray]] = {}
    for blocks in stream_at_rates(path, srs, block_seconds=0.25):
        for sr, b in blocks.items():
            parts.setdefault(sr, []).append(b)
    for sr in set(srs):
        np.testing.assert_array_equal(np.concatenate(parts[sr]), got[sr])


def test_load_at_rates_bad_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav"):
        load_at_rates(path, [16000, 22050])


def test_load_max_seconds(tmp_path: Path) -> None:
    path = tmp_path / "m.wav"
    sf.write(path, tone(5.0), SR)
    y, sr = load(path, max_seconds=1.5)
    assert len(y) == int(1.5 * sr)


# ------------------------------------------------------------------ bad input

def _wav_bytes_with_rate(rate: int, n: int = 1000) -> bytes:
    data = (np.zeros(n, np.int16)).tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        load(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not found"):
        load(tmp_path / "nope.wav")


def test_not_audio(tmp_path: Path) -> None:
    p = tmp_path / "notes.mp3"
    p.write_text("this is a shopping list, not a song\n" * 50)
    with pytest.raises(AudioError, match="not a readable audio file|no audio stream") as err:
        load(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_truncated_wav(tmp_path: Path) -> None:
    p = tmp_path / "cut.wav"
    sf.write(p, tone(2.0), SR, subtype="PCM_16")
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(AudioError, match="truncated"):
        load(p)


def test_truncated_flac(tmp_path: Path) -> None:
    p = tmp_path / "cut.flac"
    sf.write(p, np.random.default_rng(0).uniform(-0.5, 0.5, SR * 3).astype(np.float32), SR)
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(AudioError, match="truncated|corrupt"):
        load(p)


def test_zero_duration(tmp_path: Path) -> None:
    p = tmp_path / "zero.wav"
    sf.write(p, np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match="zero duration"):
        load(p)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_samples(tmp_path: Path, bad: float) -> None:
    p = tmp_path / "nan.wav"
    y = tone(1.0)
    y[1000] = bad
    sf.write(p, y, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or Inf"):
        load(p)


@pytest.mark.parametrize("rate", [1, 50_000_000])
def test_absurd_sample_rate(tmp_path: Path, rate: int) -> None:
    p = tmp_path / "rate.wav"
    p.write_bytes(_wav_bytes_with_rate(rate))
    with pytest.raises(AudioError, match="sample rate|not a readable"):
        load(p)


def test_unsupported_codec(tmp_path: Path) -> None:
    # an MP4 container holding only a video stream: decodable container, no audio to read
    import av

    p = tmp_path / "video.m4a"
    with av.open(str(p), mode="w", format="mp4") as out:
        vs = out.add_stream("mpeg4", rate=5)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 40, np.uint8), format="rgb24")
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
    with pytest.raises(AudioError, match="no audio stream"):
        load(p)


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="directory"):
        info(tmp_path)


# ------------------------------------------------------------------ segmenting

@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=200_000),
    seg=st.floats(min_value=0.1, max_value=5.0),
    hop_ratio=st.floats(min_value=0.25, max_value=1.5),
    tail=st.sampled_from(["pad", "drop"]),
)
def test_segment_bounds_properties(n: int, seg: float, hop_ratio: float, tail: str) -> None:
    sr = 8000
    bounds = segment_bounds(n, sr, seg, seg * hop_ratio, tail=tail)
    seg_len = int(round(seg * sr))
    assert all(b - a == seg_len for a, b in bounds)
    starts = [a for a, _ in bounds]
    assert starts == sorted(set(starts))
    if tail == "drop":
        assert all(b <= n for _, b in bounds)
        assert len(bounds) == (0 if n < seg_len else len(bounds))
    else:
        if n > 0:
            assert len(bounds) >= 1
        assert all(a < max(n, 1) for a, _ in bounds)


def test_frame_segments_pads_tail() -> None:
    y = np.ones(25, np.float32)
    out = frame_segments(y, 10, 1.0, tail="pad")
    assert out.shape == (3, 10)
    assert out[2, :5].sum() == 5 and out[2, 5:].sum() == 0
    assert frame_segments(y, 10, 1.0, tail="drop").shape == (2, 10)
