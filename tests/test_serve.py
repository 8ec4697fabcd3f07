"""``soundsort serve``'s API through the real app (FastAPI's TestClient, real worker processes, real models).

Every endpoint and every error the issue names: the record equals ``soundsort classify --format json``'s,
options change it as the CLI's do, 0-byte / non-audio / truncated / oversized uploads, bad options, unknown
jobs, the token, a full queue, ``..`` / absolute / symlinked paths outside ``--root``; jobs with their
events and JSON / JSONL / CSV results; metrics; uploads deleted afterwards. A real server on a socket (slow
clients, the browser) is in ``test_serve_live.py``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import jsonschema
import pytest
import soundfile as sf
from hypothesis import given, settings, strategies as st

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from soundsort.examples import make_mixed_recording, synth_music  # noqa: E402
from soundsort.inference.batch import ResultWriter, classify_one  # noqa: E402
from soundsort.inference.classify import ClassifyConfig, Classifier  # noqa: E402
from soundsort.inference.schema import RECORD_SCHEMA  # noqa: E402
from soundsort.serve import ServeConfig, create_app, parse_size  # noqa: E402
from soundsort.serve.errors import RequestError  # noqa: E402
from soundsort.serve.rootpaths import check_name  # noqa: E402
from soundsort.serve.uploads import sniff, upload_name  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

LIMIT = 3_000_000  # bytes: the mixed recording (20 s, 16-bit, 22.05 kHz) is 0.9 MB


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A speech + music recording, a music clip, a truncated copy, and bytes that are not audio."""
    root = tmp_path_factory.mktemp("serve-audio")
    mixed = root / "mixed.wav"
    make_mixed_recording(mixed, [("speech", 8.0), ("music", 12.0)])
    music = root / "music.flac"
    sf.write(music, synth_music(6.0, 22050, seed=3), 22050)
    cut = root / "cut.wav"
    data = mixed.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # the header still declares the whole length
    text = root / "notes.wav"
    text.write_text("these are not audio samples, whatever the name says\n" * 20)
    png = root / "picture.mp3"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    empty = root / "empty.wav"
    empty.write_bytes(b"")
    big = root / "big.wav"
    sf.write(big, synth_music(80.0, 22050, seed=4), 22050)  # 3.5 MB > LIMIT
    return {"mixed": mixed, "music": music, "cut": cut, "text": text, "png": png, "empty": empty, "big": big}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """The app with two worker processes, a --root holding files, symlinks out and a small upload limit."""
    root = tmp_path_factory.mktemp("serve-root")
    outside = tmp_path_factory.mktemp("serve-outside")
    make_mixed_recording(root / "show.wav", [("speech", 5.0), ("music", 6.0)], seed=2)
    (root / "sub").mkdir()
    sf.write(root / "sub" / "song.flac", synth_music(5.0, 22050, seed=5), 22050)
    sf.write(outside / "secret.wav", synth_music(3.0, 22050, seed=6), 22050)
    os.symlink(outside / "secret.wav", root / "sub" / "leak.wav")
    os.symlink(outside, root / "outdir")
    app = create_app(ServeConfig(workers=2, root=root, max_upload=LIMIT, max_queue=64))
    with TestClient(app) as client:
        yield client, app.state.server, root


def _wait(client: TestClient, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}").json()
        if body["state"] == "done":
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not done after {timeout} s")


def _record(path: Path, **cfg) -> dict:
    rec = classify_one(Classifier(None, None, ClassifyConfig(**cfg)), str(path))
    rec["path"] = path.name
    return rec


# ------------------------------------------------------------------------------------------ classify


def test_classify_record_equals_the_cli_json(served, audio) -> None:
    client, _, _ = served
    cli = run_cli("classify", str(audio["mixed"]), "--format", "json")
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)[0]
    expected["path"] = "mixed.wav"
    multipart = client.post("/v1/classify", files={"file": ("mixed.wav", audio["mixed"].read_bytes(), "audio/wav")})
    raw = client.post("/v1/classify", content=audio["mixed"].read_bytes(), headers={"X-Filename": "mixed.wav"})
    for resp in (multipart, raw):
        assert resp.status_code == 200, resp.text
        jsonschema.validate(resp.json(), RECORD_SCHEMA)
        assert resp.json() == expected
    labels = [s["label"] for s in expected["timeline"]]
    assert labels == ["non-music", "music"] and abs(expected["timeline"][1]["start"] - 8.0) < 1.0


@pytest.mark.parametrize("query,cfg", [({"top_k": 1}, {"top_k": 1}), ({"genre": "false"}, {"genre": False}),
                                       ({"min_segment": 9, "mixed": 0.2}, {"min_segment_seconds": 9.0, "mixed": 0.2})])
def test_options_give_the_records_of_a_classifier_built_with_them(served, audio, query, cfg) -> None:
    client, _, _ = served
    resp = client.post("/v1/classify", params=query, files={"file": ("mixed.wav", audio["mixed"].read_bytes())})
    assert resp.status_code == 200, resp.text
    assert resp.json() == _record(audio["mixed"], **cfg)
    if query.get("top_k") == 1:
        assert len(resp.json()["genre"]) == 1
    if query.get("genre") == "false":
        assert resp.json()["genre"] is None and "genre" not in resp.json()["models"]


@pytest.mark.parametrize("query,word", [({"top_k": 0}, "top_k"), ({"min_segment": -1}, "min_segment"),
                                        ({"genre": "perhaps"}, "genre"), ({"mixed": 0.9}, "mixed")])
def test_bad_options_are_422_naming_the_option(served, audio, query, word) -> None:
    client, _, _ = served
    resp = client.post("/v1/classify", params=query, files={"file": ("m.flac", audio["music"].read_bytes())})
    assert resp.status_code == 422 and word in resp.json()["error"] and resp.json()["status"] == 422


@pytest.mark.parametrize("name,status,reason", [
    ("empty", 415, "empty upload (0 bytes)"), ("text", 415, "not audio: the content is text"),
    ("png", 415, "a PNG image"), ("cut", 422, "truncated")])
def test_bad_uploads_are_refused_with_the_reason(served, audio, name, status, reason) -> None:
    client, server, _ = served
    path = audio[name]
    resp = client.post("/v1/classify", files={"file": (path.name, path.read_bytes())})
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert reason in body["error"] and body["error"].startswith(path.name)
    if status == 422:  # analysed and failed: the error record comes along, naming the upload, not a temp file
        assert body["record"]["status"] == "error" and "soundsort-serve-" not in body["error"]
    assert list(server.tmp.iterdir()) == []  # nothing left behind


def test_upload_over_the_limit_is_413_with_or_without_a_length(served, audio) -> None:
    client, server, _ = served
    data = audio["big"].read_bytes()
    assert len(data) > LIMIT
    resp = client.post("/v1/classify", content=data)
    assert resp.status_code == 413 and "too large" in resp.json()["error"]

    def chunks():  # chunked transfer: no Content-Length, the count stops it
        for i in range(0, len(data), 65536):
            yield data[i: i + 65536]

    resp = client.post("/v1/classify", content=chunks())
    assert resp.status_code == 413 and f"{LIMIT:,}" in resp.json()["error"]
    assert list(server.tmp.iterdir()) == []


def test_classify_takes_one_file(served, audio) -> None:
    client, _, _ = served
    two = [("files", ("a.flac", audio["music"].read_bytes())), ("files", ("b.flac", audio["music"].read_bytes()))]
    resp = client.post("/v1/classify", files=two)
    assert resp.status_code == 422 and "exactly one file" in resp.json()["error"]


# ------------------------------------------------------------------------------------------ jobs


def _events(client: TestClient, job_id: str) -> list[tuple[str, dict]]:
    out, event = [], None
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((event, json.loads(line[6:])))
    return out


def test_job_of_uploads_progress_events_and_formats(served, audio) -> None:
    client, server, _ = served
    files = [("files", (audio[k].name, audio[k].read_bytes())) for k in ("mixed", "text", "cut", "music")]
    resp = client.post("/v1/jobs", files=files, params={"top_k": 2})
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["total"] == 4 and job["files"] == ["mixed.wav", "notes.wav", "cut.wav", "music.flac"]
    events = _events(client, job["id"])
    assert [e for e, _ in events] == ["result"] * 4 + ["done"]
    assert sorted(d["index"] for _, d in events[:4]) == [0, 1, 2, 3]
    assert events[-1][1]["done"] == 4 and events[-1][1]["failed"] == 2
    body = _wait(client, job["id"])
    records = body["results"]
    assert [r["path"] for r in records] == job["files"]
    assert [r["status"] for r in records] == ["ok", "error", "error", "ok"]
    assert "not audio" in records[1]["error"] and "truncated" in records[2]["error"]
    assert records[0] == _record(audio["mixed"], top_k=2)
    for fmt in ("json", "jsonl", "csv"):
        import io

        buf = io.StringIO()
        writer = ResultWriter(fmt, None, stream=buf)
        for r in records:
            writer.add(r)
        writer.close()
        got = client.get(f"/v1/jobs/{job['id']}/results", params={"format": fmt})
        assert got.status_code == 200 and got.text == buf.getvalue()
        assert client.get(f"/v1/jobs/{job['id']}", params={"format": fmt}).text == buf.getvalue()
    assert client.get(f"/v1/jobs/{job['id']}/results", params={"format": "xml"}).status_code == 422
    # late listeners get every event again
    assert [e for e, _ in _events(client, job["id"])] == ["result"] * 4 + ["done"]
    assert list(server.tmp.iterdir()) == []


def test_unknown_job_is_404(served) -> None:
    client, _, _ = served
    for url in ("/v1/jobs/nosuchjob", "/v1/jobs/nosuchjob/events", "/v1/jobs/nosuchjob/results"):
        resp = client.get(url)
        assert resp.status_code == 404 and "unknown job" in resp.json()["error"]


def test_job_of_paths_under_root(served) -> None:
    client, _, root = served
    resp = client.post("/v1/jobs", json={"paths": ["show.wav", "sub", "missing.wav"]})
    assert resp.status_code == 202, resp.text
    body = _wait(client, resp.json()["id"])
    by_name = {r["path"]: r for r in body["results"]}
    assert set(by_name) == {"show.wav", "sub/leak.wav", "sub/song.flac", "missing.wav"}
    assert by_name["show.wav"]["status"] == "ok" and by_name["sub/song.flac"]["status"] == "ok"
    assert by_name["sub/leak.wav"]["status"] == "error" and "outside --root" in by_name["sub/leak.wav"]["error"]
    assert "not found" in by_name["missing.wav"]["error"]
    assert str(root) not in json.dumps(body)  # the server's own folders are never shown


@pytest.mark.parametrize("path", ["../secret.wav", "sub/../../secret.wav", "/etc/passwd", "outdir/secret.wav",
                                  "outdir", "sub/leak.wav/..", "C:\\x.wav", "a\x00.wav"])
def test_paths_that_leave_root_are_refused(served, path) -> None:
    client, server, _ = served
    before = server.metrics.files.copy()
    resp = client.post("/v1/jobs", json={"paths": ["show.wav", path]})
    assert resp.status_code == 403, resp.text
    assert "refused" in resp.json()["error"]
    assert server.metrics.files == before  # nothing was classified (or read) for the request


def test_paths_need_a_root_and_json_of_the_right_shape(served, audio) -> None:
    client, _, _ = served
    assert client.post("/v1/jobs", json={"files": ["show.wav"]}).status_code == 422
    assert client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    app = create_app(ServeConfig(workers=1, token="s3cret", max_queue=1))
    with TestClient(app) as other:
        auth = {"Authorization": "Bearer s3cret"}
        resp = other.post("/v1/jobs", json={"paths": ["show.wav"]}, headers=auth)
        assert resp.status_code == 403 and "no --root" in resp.json()["error"]


# ------------------------------------------------------------------------------------------ token, queue


def test_token_and_full_queue(audio) -> None:
    app = create_app(ServeConfig(workers=1, token="s3cret", max_queue=1))
    with TestClient(app) as client:
        data = audio["mixed"].read_bytes()
        for url in ("/v1/models", "/metrics", "/v1/jobs/x"):
            resp = client.get(url)
            assert resp.status_code == 401 and "token" in resp.json()["error"]
            assert resp.headers["www-authenticate"] == "Bearer"
        assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.post("/v1/classify", content=data).status_code == 401
        assert client.get("/healthz").json()["token_required"] is True and client.get("/").status_code == 200
        auth = {"Authorization": "Bearer s3cret"}
        assert client.get("/v1/models", params={"token": "s3cret"}).status_code == 200  # EventSource's way
        two = [("files", ("a.wav", data)), ("files", ("b.wav", data))]
        resp = client.post("/v1/jobs", files=two, headers=auth)
        assert resp.status_code == 429 and "too many files" in resp.json()["error"]
        first = client.post("/v1/jobs", files=[("files", ("a.wav", data))], headers=auth)
        assert first.status_code == 202
        busy = client.post("/v1/classify", content=data, headers=auth)  # the one slot is taken
        assert busy.status_code == 429 and "queue full" in busy.json()["error"]
        assert busy.headers["retry-after"] == "5"
        _wait_auth(client, first.json()["id"], auth)
        assert client.post("/v1/classify", content=data, headers=auth).status_code == 200


def test_a_killed_worker_is_replaced(audio) -> None:
    import signal

    app = create_app(ServeConfig(workers=1))
    with TestClient(app) as client:
        data = audio["music"].read_bytes()
        assert client.post("/v1/classify", content=data).status_code == 200
        pool = app.state.server.pool._pool
        (pid,) = list(pool._processes)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        resp = client.post("/v1/classify", content=data, headers={"X-Filename": "after.flac"})
        assert resp.status_code == 200 and resp.json()["path"] == "after.flac"
        assert app.state.server.pool._pool is not pool and pid not in app.state.server.pool._pool._processes


def _wait_auth(client: TestClient, job_id: str, headers: dict) -> None:
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job_id}", headers=headers).json()["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------ the rest


def test_models_health_docs_page_and_metrics(served, audio) -> None:
    client, _, _ = served
    cards = client.get("/v1/models").json()
    assert cards["music"]["task"] == "music" and cards["music"]["positive_label"] == "music"
    assert len(cards["genre"]["labels"]) == 10 and cards["music"]["name"] == "default-music"
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["workers"] == 2
    docs = client.get("/docs").text
    assert "swagger-ui-bundle.js" in docs and "://" not in docs  # the API docs work offline too
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/classify", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/models",
            "/healthz", "/metrics"} <= set(spec["paths"])
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    import re

    refs = re.findall(r'(?:src|href)="([^"]*)"', page.text)  # every asset the page loads is the app's own
    assert refs and all(r.startswith(("/", "#")) and not r.startswith("//") for r in refs), refs
    for asset in ("app.js", "style.css"):
        text = client.get(f"/static/{asset}").text
        assert "://" not in text.replace("http://www.w3.org/2000/svg", "")  # offline: no CDN, no remote asset
    assert client.post("/v1/classify", content=audio["music"].read_bytes()).status_code == 200
    text = client.get("/metrics").text
    assert 'soundsort_requests_total{method="POST",route="/v1/classify",code="200"}' in text
    ok = float(text.split('soundsort_files_total{status="ok"} ')[1].split()[0])
    seconds = float(text.split("\nsoundsort_audio_seconds_total ")[1].split()[0])
    assert ok >= 1 and seconds >= 6.0
    assert "soundsort_queue_length 0" in text and "soundsort_request_errors_total" in text
    assert client.get("/nowhere").status_code == 404 and "error" in client.get("/nowhere").json()


def test_parse_size() -> None:
    assert parse_size("500MB") == 500_000_000 and parse_size("2GiB") == 2 << 30 and parse_size("1000") == 1000
    for bad in ("", "12 parsecs", "-5MB", "0"):
        with pytest.raises(Exception):
            parse_size(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_upload_names_never_hold_folders(raw: str) -> None:
    name = upload_name(raw)
    assert "/" not in name and "\\" not in name and name not in ("", ".", "..")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b.wav", "..", ".", ""]), min_size=1, max_size=6))
def test_names_with_dot_dot_are_refused(parts: list[str]) -> None:
    given_name = "/".join(parts)
    if not given_name.strip():
        return
    if ".." in [p for p in given_name.split("/")] or given_name.startswith("/"):
        with pytest.raises(RequestError) as err:
            check_name(given_name)
        assert err.value.status == 403
    else:
        assert ".." not in check_name(given_name).split("/")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_sniff_names_a_kind_or_a_reason(head: bytes) -> None:
    kind, reason = sniff(head)
    assert (kind is None) != (reason is None)
    if head[:4] == b"fLaC":
        assert kind == "flac"


def test_the_listening_socket_gives_connections_without_nagle() -> None:
    """asyncio sets TCP_NODELAY only on connections of a socket whose proto says TCP; with Nagle on, every
    keep-alive answer written as headers then body waited for the client's delayed ACK (~40 ms)."""
    import asyncio
    import socket

    from soundsort.errors import ConfigError
    from soundsort.serve import listen_socket

    async def accept_one() -> int:
        sock = listen_socket("127.0.0.1", 0)
        seen: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()
        return seen[0]

    assert asyncio.run(accept_one()) != 0
    taken = listen_socket("127.0.0.1", 0)  # listening: a second socket cannot bind there, SO_REUSEADDR or not
    port = taken.getsockname()[1]
    with pytest.raises(ConfigError, match=rf"cannot listen on 127\.0\.0\.1:{port} \("):
        listen_socket("127.0.0.1", port)
    taken.close()


def test_serve_config_checks_and_threads_per_worker(tmp_path: Path) -> None:
    from soundsort.errors import ConfigError

    for bad, match in [(dict(port=70000), "--port"), (dict(workers=-1), "--workers"),
                       (dict(worker_threads=-2), "--worker-threads"), (dict(max_queue=0), "--max-queue"),
                       (dict(read_timeout=0.0), "--read-timeout"), (dict(root=tmp_path / "nowhere"), "--root"),
                       (dict(token="  "), "--token")]:
        with pytest.raises(ConfigError, match=match):
            ServeConfig(**bad).check()
    assert ServeConfig(workers=2).threads_per_worker() == 1  # several workers: one thread each
    assert ServeConfig(workers=1).threads_per_worker() is None  # a lone worker: one per core
    assert ServeConfig(workers=2, worker_threads=3).threads_per_worker() == 3
    assert ServeConfig(root=tmp_path).check().root == tmp_path
