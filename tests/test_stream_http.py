"""``soundsort stream URL`` against a real loopback HTTP server that streams a WAV in chunks, stalls, drops the
connection and finally goes away: the stream reconnects, says so, goes on, and closes its last segment."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import numpy as np
import soundfile as sf

from soundsort.examples import synth_music, synth_noise
from soundsort.inference.classify import Classifier, ClassifyConfig
from soundsort.stream.schema import schema

SR = 16000
CHUNK = SR // 10 * 2  # 0.1 s of 16-bit mono a chunk


def live_wav_header() -> bytes:
    """A WAV header of unknown length, as a live WAV stream sends it (sizes 0xFFFFFFFF)."""
    fmt = struct.pack("<HHIIHH", 1, 1, SR, SR * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + \
        b"data" + struct.pack("<I", 0xFFFFFFFF)


class Station:
    """Connection 1: seconds [0, 14) then a 3 s stall; 2: [14, 26) then a dropped connection (a chunk announced,
    never sent); 3: [26, end) and a proper end; later connections: 404 (the station is gone)."""

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm
        self.connections = 0
        self.lock = threading.Lock()
        station = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with station.lock:
                    station.connections += 1
                    n = station.connections
                if n > 3:
                    self.send_error(404, "station off the air")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                a, b = {1: (0, 14), 2: (14, 26), 3: (26, None)}[n]
                body = station.pcm[a * SR * 2: None if b is None else b * SR * 2]
                try:
                    self.chunk(live_wav_header())
                    for i in range(0, len(body), CHUNK):
                        self.chunk(body[i:i + CHUNK])
                    if n == 1:
                        time.sleep(3.0)  # stall: the client's read timeout (1 s) fires first
                    elif n == 2:
                        self.wfile.write(b"1000\r\n")  # a chunk announced, then the connection drops
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    else:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/live.wav"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Station":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_reconnects_after_stall_and_drop_and_ends_with_the_source(tmp_path: Path) -> None:
    y = np.concatenate([synth_noise(12.0, SR, seed=11), synth_music(12.0, SR, seed=12), synth_noise(12.0, SR, seed=13)])
    pcm = np.round(np.clip(y, -1, 1) * 32767).astype("<i2")
    path = tmp_path / "whole.wav"
    sf.write(path, pcm, SR, subtype="PCM_16")
    want = Classifier(config=ClassifyConfig(genre=False)).classify_file(path).timeline
    with Station(pcm.tobytes()) as station:
        proc = subprocess.run([sys.executable, "-m", "soundsort", "stream", station.url, "--no-genre", "--timeout",
                               "1", "--retries", "2", "--backoff", "0.1", "--heartbeat", "0"],
                              capture_output=True, text=True, timeout=120, env={**os.environ})
        connections = station.connections
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    validator = jsonschema.Draft202012Validator(schema())
    for ev in events:
        validator.validate(ev)
    reconnects = [e for e in events if e["event"] == "reconnect"]
    # after the stall (at 14 s), the drop (at 26 s), the end (36 s), a 404; the second 404 ends it (--retries 2)
    assert connections == 3 + 2
    assert [(e["position"], e["attempt"], e["delay"]) for e in reconnects] == [
        (14.0, 1, 0.1), (26.0, 2, 0.1), (36.0, 3, 0.1), (36.0, 4, 0.2)]  # back-off doubles while nothing comes
    assert [e["reason"].split(" (")[0] for e in reconnects] == ["stalled", "the connection failed",
                                                                 "the stream ended", "cannot connect"]
    assert "404" in reconnects[-1]["reason"] and "404" in events[-1]["reason"]
    # nothing lost, nothing doubled: the final segment closes where the audio ends, classify's segments
    ends = [e for e in events if e["event"] == "segment_end"]
    assert events[-1]["event"] == "end" and "attempts without audio" in events[-1]["reason"]
    assert ends[-1]["end"] == events[-1]["position"] == len(y) / SR
    assert [e["label"] for e in ends] == [s["label"] for s in want]
    for got, ref in zip(ends, want):
        assert abs(got["start"] - ref["start"]) <= 2.0 and abs(got["end"] - ref["end"]) <= 2.0
