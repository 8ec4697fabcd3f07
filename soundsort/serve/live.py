"""The web page's live view: a WebSocket that follows a stream URL or the browser's microphone and pushes
``soundsort stream``'s events as they are decided (the same engine: :func:`soundsort.stream.run.follow`).

``GET /v1/live`` (WebSocket), query options ``latency`` (s), ``genre`` (true/false), and ``token`` when the
server has one (browsers cannot set headers on a WebSocket):

* ``?url=http://...`` — the server follows that http(s) / Icecast stream (reconnecting as ``stream`` does;
  ``retries``, ``backoff``, ``timeout`` as its options) and sends one JSON text message per event;
* no ``url`` — the browser's audio: the client sends ``{"sr": 48000}`` (a text message) first, then binary
  messages of mono float32 little-endian samples, and ``{"end": true}`` when it stops; the server answers
  with the events (the last one ``end``) and closes.

The models load once, in this process, on the first live connection (the workers that classify uploads are
other processes). A client that sends audio faster than it can be analysed gets a non-fatal ``error`` event
for what was dropped. Events follow ``soundsort stream --schema``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

#: blocks (messages) of browser audio that may wait for the analysis before more are dropped (~60 s)
MAX_PENDING = 600


class _Pushed:
    """A source fed from the WebSocket (browser audio): iterating it gives the blocks as they come."""

    def __init__(self, sr: int) -> None:
        from soundsort.stream.sources import Audio

        self.sr, self._audio = sr, Audio
        self.q: queue.Queue[np.ndarray | None] = queue.Queue(MAX_PENDING)
        self.dropped = 0.0

    def put(self, y: np.ndarray | None) -> None:
        try:
            self.q.put_nowait(y)
        except queue.Full:
            if y is None:
                self.q.put(None)
            else:
                self.dropped += len(y) / self.sr

    def __iter__(self) -> Iterator[Any]:
        from soundsort.stream.sources import Status

        while True:
            y = self.q.get()
            if y is None:
                return
            if self.dropped:
                lost, self.dropped = self.dropped, 0.0
                yield Status({"event": "error", "fatal": False,
                              "message": f"the analysis fell behind: {lost:.1f} s of audio dropped"})
            yield self._audio(y, self.sr)


def create_router(config: Any) -> APIRouter:
    """The live view's routes for a :class:`~soundsort.serve.config.ServeConfig`."""
    router = APIRouter()
    lock = threading.Lock()
    loaded: dict[bool, Any] = {}

    def classifier(genre: bool) -> Any:
        with lock:
            if genre not in loaded:
                from soundsort.inference.classify import ClassifyConfig, Classifier

                loaded[genre] = Classifier(config.music_model, config.genre_model, ClassifyConfig(genre=genre),
                                           threads=1)
            return loaded[genre]

    def allowed(ws: WebSocket) -> bool:
        if config.token is None:
            return True
        given = ws.headers.get("authorization", "")
        given = given[7:].strip() if given[:7].lower() == "bearer " else ws.query_params.get("token", "")
        return hmac.compare_digest(given.encode(), config.token.encode())

    @router.websocket("/v1/live")
    async def live(ws: WebSocket, url: str | None = None, latency: float = 2.0, genre: bool = True,
                   retries: int = 10, backoff: float = 1.0, timeout: float = 10.0) -> None:
        if not allowed(ws):
            await ws.close(code=1008, reason="missing or wrong token")
            return
        await ws.accept()
        if not (0 < latency <= 60 and 0 <= retries <= 100 and 0 <= backoff <= 60 and 0 < timeout <= 300):
            await _fail(ws, "bad options: latency in (0, 60], retries in [0, 100], backoff in [0, 60], timeout "
                            "in (0, 300]")
            return
        from soundsort.errors import SoundsortError
        from soundsort.stream.run import follow
        from soundsort.stream.sources import UrlSource, open_source

        pushed: _Pushed | None = None
        if url is not None:
            if not url.lower().startswith(("http://", "https://")):
                await _fail(ws, f"{url}: only http(s):// stream URLs are followed")
                return
            try:
                source: Any = open_source(url, read_timeout=timeout, retries=retries, backoff=backoff)
            except SoundsortError as exc:
                await _fail(ws, str(exc))
                return
            assert isinstance(source, UrlSource)
        else:
            try:
                first = json.loads(await ws.receive_text())
                sr = int(first["sr"])
                if not 1000 <= sr <= 768_000:
                    raise ValueError(sr)
            except WebSocketDisconnect:
                return
            except (ValueError, KeyError, TypeError):
                await _fail(ws, 'the first message must be {"sr": RATE} (1000-768000 Hz), then float32 audio')
                return
            source = pushed = _Pushed(sr)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        stopped = threading.Event()

        def emit(ev: dict[str, Any] | None) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, ev)
            except RuntimeError:  # the event loop has closed: the client and the server are gone
                stopped.set()

        def run() -> None:
            try:
                # a URL is stopped when the client goes; browser audio ends with its last block
                follow(source, classifier(genre), emit, name=url or "microphone", latency=latency,
                       live=True, stop=stopped.is_set if pushed is None else None)
            except Exception as exc:  # a model that cannot load, say: one line to the client, not a dead socket
                emit({"event": "error", "position": 0.0, "fatal": True, "message": f"{type(exc).__name__}: {exc}"})
                emit({"event": "end", "position": 0.0, "reason": "error", "segments": 0})
            finally:
                emit(None)

        worker = threading.Thread(target=run, name="soundsort-live", daemon=True)
        worker.start()

        async def receive() -> None:
            try:
                while True:
                    msg = await ws.receive()
                    if msg["type"] == "websocket.disconnect":
                        break
                    if msg.get("bytes") is not None and pushed is not None:
                        data = msg["bytes"]
                        pushed.put(np.frombuffer(data[: len(data) - len(data) % 4], "<f4").astype(np.float32))
                    elif msg.get("text") is not None and json.loads(msg["text"] or "{}").get("end"):
                        break
            except (WebSocketDisconnect, ValueError, AttributeError):
                pass
            finally:
                stopped.set()
                if pushed is not None:
                    pushed.put(None)

        reader = asyncio.create_task(receive())
        try:
            while (ev := await events.get()) is not None:
                await ws.send_text(json.dumps(ev, separators=(",", ":")))
            await ws.close()
        except (WebSocketDisconnect, RuntimeError):  # the client went away
            pass
        finally:
            stopped.set()
            if pushed is not None:
                pushed.put(None)
            reader.cancel()

    return router


async def _fail(ws: WebSocket, message: str) -> None:
    await ws.send_text(json.dumps({"event": "error", "position": 0.0, "fatal": True, "message": message}))
    await ws.send_text(json.dumps({"event": "end", "position": 0.0, "reason": "error", "segments": 0}))
    await ws.close(code=1008)
