"""The FastAPI app of ``soundsort serve``: the REST API (``/v1``), the web page (``/``), health and metrics.

All classification runs in :class:`~soundsort.serve.worker.WorkerPool`'s processes; the event loop only
streams uploads to disk, hands files to the workers and sends answers. Every error is JSON
``{"error": "<one line>", "status": CODE}``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import shutil
import tempfile
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from soundsort.serve.config import ServeConfig
from soundsort.serve.errors import RequestError
from soundsort.serve.jobs import RESULT_FORMATS, Job, JobStore
from soundsort.serve.metrics import Metrics, MetricsMiddleware
from soundsort.serve.uploads import Received, Upload, receive
from soundsort.serve.worker import Options, WorkerPool

STATIC = Path(__file__).resolve().parent / "static"
#: A JSON body (``{"paths": [...]}``) may hold this many bytes.
MAX_JSON_BYTES = 1 << 20


class Server:
    """The state behind the app: the worker pool, the jobs, the queue count, the metrics."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config.check()
        self.pool = WorkerPool(config.worker_count(), config.music_model, config.genre_model,
                                threads=config.threads_per_worker())
        self.jobs = JobStore(config.max_jobs)
        self.metrics = Metrics()
        self.queued = 0  # files handed to the workers and not finished
        self.tmp: Path | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.metrics.gauge("soundsort_queue_length", "Files waiting for or being classified.", lambda: self.queued)
        self.metrics.gauge("soundsort_workers", "Classifier processes.", lambda: self.pool.workers)
        self.metrics.gauge("soundsort_jobs", "Jobs kept (running and finished).", lambda: len(self.jobs))

    # ---------------------------------------------------------------------------------------- queue

    def reserve(self, n: int) -> None:
        """Count ``n`` more files in the queue, or refuse with 429 when it would overflow."""
        limit = self.config.max_queue
        if n > limit:
            raise RequestError(429, f"too many files for one request ({n}; the queue holds {limit})")
        if self.queued + n > limit:
            raise RequestError(429, f"queue full ({self.queued} files waiting, limit {limit}); try again later",
                               headers={"Retry-After": "5"})
        self.queued += n

    async def classify(self, path: Path, name: str, opts: Options) -> dict[str, Any]:
        """Classify one reserved file in a worker; the reservation is released when it is done."""
        try:
            record = await self.pool.classify(path, name, opts)
        finally:
            self.queued -= 1
        self.metrics.record(record)
        return record

    async def run_job(self, job: Job, items: list[tuple[str, Path | None, str | None, Upload | None]],
                      opts: Options) -> None:
        async def one(i: int, name: str, path: Path | None, problem: str | None, upload: Upload | None) -> None:
            from soundsort.inference.classify import FileResult

            try:
                if problem is not None or path is None:
                    self.queued -= 1
                    record = FileResult(name, "error", error=problem if problem and problem.startswith(name)
                                        else f"{name}: {problem}").to_dict()
                    self.metrics.record(record)
                else:
                    record = await self.classify(path, name, opts)
            finally:
                if upload is not None:
                    upload.remove()
            job.add(i, record)

        await asyncio.gather(*(one(i, *item) for i, item in enumerate(items)))

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------------------------------------- auth

    def check_token(self, request: Request) -> None:
        token = self.config.token
        if token is None:
            return
        given = request.headers.get("authorization", "")
        given = given[7:].strip() if given[:7].lower() == "bearer " else request.query_params.get("token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise RequestError(401, "missing or wrong token (send 'Authorization: Bearer TOKEN')",
                               headers={"WWW-Authenticate": "Bearer"})


class TokenMiddleware:
    """Pure ASGI middleware: with a token set, ``/v1/*`` and ``/metrics`` answer 401 without it."""

    def __init__(self, app: Any, server: Server) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path.startswith("/v1/") or path == "/metrics"):
            try:
                self.server.check_token(Request(scope))
            except RequestError as exc:
                await _error(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _error(exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _options(genre: bool, top_k: int, min_segment: float, mixed: float | None) -> Options:
    return Options(genre=genre, top_k=top_k, min_segment=min_segment, mixed=mixed)


Genre = Annotated[bool, Query(description="Also say the genre of the music parts (the CLI's --genre/--no-genre).")]
TopK = Annotated[int, Query(ge=1, le=50, description="Genres reported per file and per music segment.")]
MinSegment = Annotated[float, Query(ge=0.0, le=3600.0, description="Shortest timeline segment, seconds.")]
Mixed = Annotated[float | None, Query(gt=0.0, le=0.5, description="Label a file 'mixed' when its music share "
                                                                   "is between F and 1-F.")]


def create_app(config: ServeConfig = ServeConfig(), *, on_ready: Callable[[], None] | None = None) -> FastAPI:
    """The app for ``config``; its worker processes start (and load the models) with the app's lifespan,
    after which ``on_ready`` is called."""
    server = Server(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        server.tmp = Path(tempfile.mkdtemp(prefix="soundsort-serve-"))
        try:
            await server.pool.start()
            if on_ready is not None:
                on_ready()
            yield
        finally:
            for task in list(server._tasks):
                task.cancel()
            await asyncio.to_thread(server.pool.close)
            shutil.rmtree(server.tmp, ignore_errors=True)

    from fastapi_offline import FastAPIOffline  # /docs and /redoc with their scripts served here (no CDN)

    app = FastAPIOffline(title="soundsort", version=_version(), lifespan=lifespan,
                  description="Music / non-music timelines and genres of audio files (the records of "
                              "`soundsort classify --format json`).")
    app.state.server = server
    app.add_middleware(TokenMiddleware, server=server)
    app.add_middleware(MetricsMiddleware, metrics=server.metrics)  # outermost: counts the 401s too

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_options(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
        return _error(RequestError(422, "bad options: " + "; ".join(parts)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(RequestError(exc.status_code, str(exc.detail)))

    # ---------------------------------------------------------------------------------------- page, health

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", summary="Liveness: the server answers and its workers are up")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "workers": server.pool.workers, "queue": server.queued,
                "max_queue": config.max_queue, "token_required": config.token is not None,
                "max_upload": config.max_upload, "root": config.root is not None, "version": _version()}

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(server.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", summary="The model cards of the music and genre models in use")
    async def models() -> dict[str, Any]:
        from soundsort.inference.classify import DEFAULT_GENRE_MODEL, DEFAULT_MUSIC_MODEL
        from soundsort.models.io import load_card

        out = {}
        for role, folder in (("music", config.music_model or DEFAULT_MUSIC_MODEL),
                             ("genre", config.genre_model or DEFAULT_GENRE_MODEL)):
            out[role] = {"name": Path(folder).name, **asdict(load_card(folder))}
        return out

    # ---------------------------------------------------------------------------------------- classify

    async def _receive(request: Request, filename: str | None) -> Received:
        assert server.tmp is not None
        return await receive(request, server.tmp, max_bytes=config.max_upload, timeout=config.read_timeout,
                             raw_name=filename)

    @app.post("/v1/classify", summary="Classify one uploaded file (multipart or raw body)",
              description="Answers the same JSON record as `soundsort classify --format json` writes for one "
                          "file; its `path` is the uploaded file's name. 422 (with the record) when the file "
                          "could not be analysed, 415 when it is not audio.")
    async def classify(request: Request, genre: Genre = True, top_k: TopK = 3, min_segment: MinSegment = 2.0,
                       mixed: Mixed = None, filename: str | None = None) -> JSONResponse:
        opts = _options(genre, top_k, min_segment, mixed)
        server.reserve(1)  # before the upload is read: a full queue costs the client nothing
        reserved = True
        got: Received | None = None
        try:
            got = await _receive(request, filename)
            if len(got.files) != 1:
                raise RequestError(422, f"send exactly one file (got {len(got.files)}); POST /v1/jobs takes several")
            up = got.files[0]
            if up.kind is None:
                raise RequestError(415, f"{up.name}: {up.problem}")
            reserved = False
            record = await server.classify(up.path, up.name, opts)
        finally:
            if reserved:
                server.queued -= 1
            if got is not None:
                got.remove()
        if record["status"] != "ok":
            return _error(RequestError(422, record["error"] or f"{record['path']}: failed", extra={"record": record}))
        return JSONResponse(record)

    # ---------------------------------------------------------------------------------------- jobs

    @app.post("/v1/jobs", status_code=202, summary="Start a job: several uploads, or paths under --root",
              description="A multipart body of files, a raw body of one file, or JSON `{\"paths\": [...]}` "
                          "naming files or folders relative to the server's --root. Answers the job's id and "
                          "where to follow it.")
    async def create_job(request: Request, genre: Genre = True, top_k: TopK = 3, min_segment: MinSegment = 2.0,
                         mixed: Mixed = None, filename: str | None = None) -> JSONResponse:
        from soundsort.serve.rootpaths import expand

        opts = _options(genre, top_k, min_segment, mixed)
        if server.queued >= config.max_queue:
            server.reserve(1)  # raises the 429
        items: list[tuple[str, Path | None, str | None, Upload | None]]
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            body = await _json_body(request)
            paths = body.get("paths") if isinstance(body, dict) else None
            if not isinstance(paths, list) or not paths:
                raise RequestError(422, "JSON body must be {\"paths\": [\"file or folder under --root\", ...]}")
            if config.root is None:
                raise RequestError(403, "this server has no --root: paths are not accepted (upload the files)")
            items = [(name, path, problem, None) for name, path, problem in expand(config.root, paths)]
            if not items:
                raise RequestError(422, "no audio files under the paths given")
        else:
            got = await _receive(request, filename)
            if not got.files:
                raise RequestError(422, "no files in the request")
            items = [(u.name, u.path if u.kind else None, u.problem, u) for u in got.files]
        try:
            server.reserve(len(items))
        except RequestError:
            for *_, up in items:
                if up is not None:
                    up.remove()
            raise
        job = server.jobs.create([name for name, *_ in items], asdict(opts))
        server.spawn(server.run_job(job, items, opts))
        return JSONResponse({**job.summary(), "status_url": f"/v1/jobs/{job.id}",
                             "events_url": f"/v1/jobs/{job.id}/events",
                             "results_url": f"/v1/jobs/{job.id}/results"}, status_code=202)

    @app.get("/v1/jobs/{job_id}", summary="A job's progress and the results so far",
             description="Without `format`: the progress and the finished records in file order. With "
                         "`format=json|jsonl|csv`: the results only, as `soundsort classify` writes them.")
    async def job_status(job_id: str, format: str | None = None) -> Response:
        job = server.jobs.get(job_id)
        if format is not None:
            return _results(job, format)
        return JSONResponse({**job.summary(), "results": [r for r in job.records if r is not None]})

    @app.get("/v1/jobs/{job_id}/results", summary="A job's results as JSON, JSONL or CSV")
    async def job_results(job_id: str, format: str = "json", download: bool = False) -> Response:
        return _results(server.jobs.get(job_id), format, download)

    @app.get("/v1/jobs/{job_id}/events", summary="Server-sent events: one per finished file, then done")
    async def job_events(job_id: str) -> StreamingResponse:
        job = server.jobs.get(job_id)
        return StreamingResponse(job.events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    from soundsort.serve.live import create_router as live_router  # the live view's WebSocket (/v1/live)

    app.include_router(live_router(config))
    return app


_MEDIA = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def _results(job: Job, fmt: str, download: bool = False) -> Response:
    if fmt not in RESULT_FORMATS:
        raise RequestError(422, f"bad options: format must be one of {', '.join(RESULT_FORMATS)}, got {fmt!r}")
    headers = {"Content-Disposition": f'attachment; filename="soundsort-{job.id}.{fmt}"'} if download else {}
    return Response(job.results(fmt), media_type=_MEDIA[fmt], headers=headers)


async def _json_body(request: Request) -> Any:
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > MAX_JSON_BYTES:
            raise RequestError(413, f"JSON body too large (at most {MAX_JSON_BYTES:,} bytes)")
    try:
        return json.loads(data or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(422, f"the body is not valid JSON ({exc})") from None


def _version() -> str:
    from soundsort.system import library_version

    return library_version("soundsort") or "?"
