"""The web page's live view (``/v1/live`` WebSocket, soundsort.serve.live): browser audio and a stream URL in,
``soundsort stream``'s events out, the same as the command gives."""

from __future__ import annotations

import functools
import io
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from soundsort.examples import synth_music, synth_noise  # noqa: E402
from soundsort.inference.classify import Classifier, ClassifyConfig  # noqa: E402
from soundsort.serve.config import ServeConfig  # noqa: E402
from soundsort.serve.live import create_router  # noqa: E402
from soundsort.stream.run import follow  # noqa: E402
from soundsort.stream.schema import schema  # noqa: E402
from soundsort.stream.sources import PipeSource  # noqa: E402

SR = 16000
VALIDATOR = jsonschema.Draft202012Validator(schema())


def client(config: ServeConfig = ServeConfig()) -> TestClient:
    app = FastAPI()
    app.include_router(create_router(config))
    return TestClient(app)


def received(ws) -> list[dict]:
    events = []
    while True:
        ev = json.loads(ws.receive_text())
        VALIDATOR.validate(ev)
        events.append(ev)
        if ev["event"] == "end":
            return events


def segments(events: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "position"} for e in events if e["event"].startswith("segment")]


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return np.concatenate([synth_noise(6.0, SR, seed=21), synth_music(8.0, SR, seed=22)]).astype(np.float32)


def reference(y: np.ndarray) -> list[dict]:
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV", subtype="FLOAT")
    events: list[dict] = []
    follow(PipeSource(io.BytesIO(buf.getvalue())), Classifier(config=ClassifyConfig(genre=False)), events.append)
    return events


def test_browser_audio_gives_the_stream_events(audio: np.ndarray) -> None:
    with client().websocket_connect("/v1/live?genre=false&latency=2") as ws:
        ws.send_text(json.dumps({"sr": SR}))
        for i in range(0, len(audio), 4096):  # what a browser's audio callback sends
            ws.send_bytes(audio[i:i + 4096].astype("<f4").tobytes())
        ws.send_text(json.dumps({"end": True}))
        events = received(ws)
    assert events[0]["event"] == "start" and events[0]["source"] == "microphone" and events[0]["sr"] == SR
    assert events[-1]["reason"] == "the source ended" and events[-1]["position"] == pytest.approx(len(audio) / SR)
    want = segments(reference(audio))
    assert len(want) >= 4 and segments(events) == want


def test_stream_url_is_followed(tmp_path: Path, audio: np.ndarray) -> None:
    sf.write(tmp_path / "show.wav", audio, SR, subtype="PCM_16")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/show.wav"
    try:
        with client().websocket_connect(f"/v1/live?genre=false&retries=0&url={url}") as ws:
            events = received(ws)
    finally:
        server.shutdown()
        server.server_close()
    assert events[0]["source"] == url
    ends = [e for e in events if e["event"] == "segment_end"]
    assert ends and ends[-1]["end"] == pytest.approx(len(audio) / SR, abs=1e-3)
    assert [e["label"] for e in ends] == ["non-music", "music"]


def test_bad_requests_get_one_clear_error() -> None:
    c = client()
    with c.websocket_connect("/v1/live") as ws:
        ws.send_text("hello")
        err, end = received(ws)
    assert err["fatal"] and '{"sr": RATE}' in err["message"] and end["reason"] == "error"
    with c.websocket_connect("/v1/live?url=file:///etc/passwd") as ws:
        err, _ = received(ws)
    assert "only http(s)://" in err["message"]
    with c.websocket_connect("/v1/live?latency=0") as ws:
        err, _ = received(ws)
    assert err["message"].startswith("bad options")
    locked = client(ServeConfig(token="s3cret"))
    with pytest.raises(WebSocketDisconnect) as info:
        with locked.websocket_connect("/v1/live") as ws:
            ws.receive_text()
    assert info.value.code == 1008
    with locked.websocket_connect("/v1/live?token=s3cret") as ws:
        ws.send_text("{}")
        err, _ = received(ws)  # in, and told what to send
    assert '{"sr": RATE}' in err["message"]


def test_the_app_serves_the_live_route() -> None:
    from soundsort.serve.app import create_app

    with TestClient(create_app(ServeConfig())).websocket_connect("/v1/live?latency=0") as ws:
        err, end = received(ws)
    assert err["message"].startswith("bad options") and end["event"] == "end"
