"""``soundsort stream`` on standard input: the same segments as ``classify``, bad input, raw PCM, the schema."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import soundfile as sf

from soundsort.audio.decode import load
from soundsort.examples import synth_music, synth_noise
from soundsort.inference.classify import Classifier, ClassifyConfig
from soundsort.inference.online import LiveClassifier
from soundsort.stream.run import follow
from soundsort.stream.schema import schema
from soundsort.stream.sources import PipeSource, RawSource

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VALIDATOR = jsonschema.Draft202012Validator(schema())


def stream_cli(*args: str, stdin: bytes) -> tuple[list[dict], subprocess.CompletedProcess]:
    """``python -m soundsort stream ARGS`` with ``stdin`` piped in; the events it printed."""
    proc = subprocess.run([sys.executable, "-m", "soundsort", "stream", *args], input=stdin,
                          capture_output=True, timeout=300, env={**os.environ, "SOUNDSORT_PROGRESS": "0"})
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    for ev in events:
        VALIDATOR.validate(ev)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return events, proc


@pytest.fixture(scope="module")
def music_only() -> Classifier:
    return Classifier(config=ClassifyConfig(genre=False))


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.shared_data
def test_stdin_gives_classify_segments(tmp_path: Path) -> None:
    """speech / music / noise / music through a pipe: classify's segments, each boundary within the latency,
    each decided within the bound the model's geometry gives."""
    parts = [SHARED_DATA / "gtzan_music_speech" / "speech", SHARED_DATA / "gtzan_mini" / "jazz",
             SHARED_DATA / "speech_commands_noise" / "running_tap", SHARED_DATA / "gtzan_mini" / "classical"]
    if not all(p.is_dir() for p in parts):
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    sr = 22050
    ys = [load(sorted(p.iterdir())[0], sr)[0][: int(secs * sr)] for p, secs in zip(parts, (14, 16, 10, 12))]
    y = np.concatenate(ys)
    path = tmp_path / "broadcast.wav"
    sf.write(path, y, sr, subtype="PCM_16")
    clf = Classifier()
    want = clf.classify_file(path).timeline
    latency = 2.0
    events, proc = stream_cli("-", "--latency", str(latency), "--heartbeat", "5", stdin=path.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    ends = [e for e in events if e["event"] == "segment_end"]
    starts = [e for e in events if e["event"] == "segment_start"]
    assert [e["label"] for e in ends] == [s["label"] for s in want]
    assert len(want) >= 4  # the four parts are told apart (music, non-music alternate)
    for got, ref in zip(ends, want):
        assert abs(got["start"] - ref["start"]) <= latency and abs(got["end"] - ref["end"]) <= latency
        if ref["label"] == "music":  # genre as classify has it for the segment (same model, windows thinned)
            assert got["genre"] and got["genre"][0]["label"] == ref["genre"][0]["label"]
    # decided in time: latency + the scorer's look-ahead + half the smoothing window + one step + one block
    live = LiveClassifier(clf, sr, latency=latency)
    hop = clf.music_feat.hop_seconds
    bound = latency + live.engine.scorer.lookahead_seconds + live.timeline.half * hop + hop + 0.1
    for s in starts:
        assert s["position"] - s["start"] <= bound + 1e-6, (s, bound)
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    assert events[-1]["position"] == pytest.approx(len(y) / sr, abs=1e-3)
    assert ends[-1]["end"] == pytest.approx(len(y) / sr, abs=1e-3)
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)


def test_live_classifier_equals_engine_frames(music_only: Classifier) -> None:
    """The live path scores exactly the segments classify's pass scores (one-hop steps, tight look-ahead)."""
    sr = 16000
    y = np.concatenate([synth_noise(6.0, sr, seed=1), synth_music(9.0, sr, seed=2), synth_noise(4.0, sr, seed=3)])
    ref = music_only.engine(sr)
    live = music_only.engine(sr, step_seconds=music_only.music_feat.hop_seconds, tight=True)
    rng = np.random.default_rng(0)
    i = 0
    while i < len(y):  # uneven blocks, as a pipe delivers them
        n = int(rng.integers(1, 4000))
        ref.feed(y[i:i + n])
        live.feed(y[i:i + n])
        i += n
    ref.finish()
    live.finish()
    np.testing.assert_allclose(np.concatenate(live.times_l), np.concatenate(ref.times_l), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(np.concatenate(live.probs_l), np.concatenate(ref.probs_l))


@pytest.mark.parametrize("case", ["garbage", "truncated-header", "empty"])
def test_bad_stdin_is_one_clear_error(case: str) -> None:
    good = wav_bytes(synth_noise(3.0, 16000, seed=0), 16000)
    data = {"garbage": np.random.default_rng(0).bytes(200_000), "truncated-header": good[:30], "empty": b""}[case]
    events, proc = stream_cli("-", "--no-genre", stdin=data)
    assert proc.returncode == 3
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1 and errors[0]["fatal"] and errors[0]["message"].startswith("<stdin>: ")
    assert events[-1]["event"] == "end" and events[-1]["segments"] == 0
    assert not [e for e in events if e["event"].startswith("segment")]


def test_silent_stdin_says_so(music_only: Classifier) -> None:
    events: list[dict] = []
    code = follow(PipeSource(io.BytesIO(wav_bytes(np.zeros(16000 * 8, np.float32), 16000))), music_only,
                  events.append, name="-")
    assert code == 0
    segs = [e for e in events if e["event"] == "segment_end"]
    assert [s["label"] for s in segs] == ["non-music"] and segs[0]["end"] == pytest.approx(8.0, abs=1e-3)
    (err,) = [e for e in events if e["event"] == "error"]
    assert not err["fatal"] and "silent throughout" in err["message"] and "-inf dBFS" in err["message"]


def test_cut_stream_and_no_frames(music_only: Classifier) -> None:
    """A WAV cut in the middle of its data is analysed as far as it goes; a WAV of no frames is no audio."""
    y = synth_music(6.0, 16000, seed=4)
    cut = wav_bytes(y, 16000)[: 44 + 2 * 16000 * 4 + 1]  # 4 s and one odd byte
    events: list[dict] = []
    assert follow(PipeSource(io.BytesIO(cut)), music_only, events.append) == 0
    assert events[-1]["position"] == pytest.approx(4.0, abs=0.01)
    assert [e["end"] for e in events if e["event"] == "segment_end"][-1] == pytest.approx(4.0, abs=0.01)
    short: list[dict] = []
    assert follow(PipeSource(io.BytesIO(wav_bytes(y[:0], 16000))), music_only, short.append) == 3
    assert [e["event"] for e in short] == ["error", "end"] and "no audio received" in short[0]["message"]
    for ev in events + short:
        VALIDATOR.validate(ev)


def test_raw_pcm_stereo_equals_wav(music_only: Classifier) -> None:
    """--raw s16le --rate --channels 2: the same events as the same audio in a WAV container."""
    sr = 16000
    y = np.concatenate([synth_noise(5.0, sr, seed=5), synth_music(7.0, sr, seed=6)])
    pcm = np.round(np.clip(y, -1, 1) * 32767).astype("<i2")
    stereo = np.repeat(pcm[:, None], 2, axis=1).tobytes()
    got: list[dict] = []
    want: list[dict] = []
    follow(RawSource(io.BytesIO(stereo + b"\x01"), "s16le", sr, 2), music_only, got.append, heartbeat_seconds=None)
    follow(PipeSource(io.BytesIO(wav_bytes(pcm.astype(np.float32) / 32768, sr))), music_only, want.append,
           heartbeat_seconds=None)
    def segments(events: list[dict]) -> list[dict]:  # positions differ by the blocks the sources hand on
        return [{k: v for k, v in e.items() if k != "position"} for e in events if e["event"].startswith("segment")]

    assert len(segments(got)) >= 2 and segments(got) == segments(want)
    assert any(e["event"] == "error" and not e["fatal"] and "1 bytes dropped" in e["message"] for e in got)


def test_cli_usage_errors_and_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "soundsort", "stream", "--schema"], capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["$defs"]["segment_end"]["required"][:2] == ["event",
                                                                                                         "position"]
    jsonschema.Draft202012Validator.check_schema(json.loads(out.stdout))
    for args, needle in ((["-", "--raw", "s16le"], "--raw needs --rate"),
                         (["-", "--raw", "s17le", "--rate", "8000"], "s17le"),
                         (["ftp://x/y"], "unsupported URL scheme"),
                         (["-", "--format", "tabel"], "tabel")):
        proc = subprocess.run([sys.executable, "-m", "soundsort", "stream", *args], capture_output=True, text=True,
                              input="")
        assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_device_without_the_extra_is_one_line() -> None:
    try:
        import sounddevice  # noqa: F401
        pytest.skip("sounddevice is installed here")
    except (ImportError, OSError):
        pass
    proc = subprocess.run([sys.executable, "-m", "soundsort", "stream", "--device", "default"], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "soundsort[device]" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_memory_stays_bounded(music_only: Classifier) -> None:
    """Four minutes of alternating audio: the buffers the live classifier keeps do not grow with the stream
    (benchmarks/bench_stream.py runs 24 hours)."""
    sr = 16000
    block = np.concatenate([synth_music(12.0, sr, seed=7), synth_noise(12.0, sr, seed=8)])
    live = LiveClassifier(Classifier(), sr)  # with genre: its audio buffer is trimmed too
    sizes = []
    n_end = 0
    for k in range(10):  # 10 x 24 s
        for i in range(0, len(block), sr):
            n_end += sum(e["event"] == "segment_end" for e in live.feed(block[i:i + sr]))
        sizes.append((len(live.engine.native.data), len(live.engine.scorer.buf.data), len(live.timeline.runs),
                      len(live._frames)))
    n_end += sum(e["event"] == "segment_end" for e in live.finish())
    assert n_end == 20  # every part reported, none lost
    first, last = np.max(sizes[2:5], axis=0), np.max(sizes[-3:], axis=0)
    assert np.all(last <= first + [sr // 100, 0, 0, 0]), (first, last)  # (audio: rounding of the cut)
    assert last[0] <= (live.keep_seconds + 2) * sr and last[2] <= 8
    assert math.isclose(live.position, 240.0)
