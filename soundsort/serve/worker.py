"""The classifier processes behind the server: models loaded once per process, files classified there,
never on the event loop.

Each worker builds one :class:`~soundsort.inference.classify.Classifier` (bundled or given models, genre
on) when it starts. A request's options (``genre``, ``top_k``, ``min_segment``, ``mixed``) only change
knobs of the classify pass, not the models, so the worker answers them with a copy of its classifier that
shares the loaded models (:func:`_variant`; the API tests check its records equal those of a classifier
built with the same options). Records are made by :func:`soundsort.inference.batch.classify_one`, the
function ``soundsort classify`` uses, so a bad file is an error record with the one-line reason.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from soundsort.errors import display_path

_CLASSIFIER: Any = None
_VARIANTS: dict[Any, Any] = {}


@dataclass(frozen=True)
class Options:
    """The per-request knobs (the CLI's ``--genre/--no-genre``, ``--top-k``, ``--min-segment``, ``--mixed``)."""

    genre: bool = True
    top_k: int = 3
    min_segment: float = 2.0
    mixed: float | None = None


def _init(factory: Any, parent: int) -> None:
    global _CLASSIFIER
    from threadpoolctl import threadpool_limits

    from soundsort.inference.batch import die_with_parent

    die_with_parent(parent)
    threadpool_limits(1)
    _CLASSIFIER = factory()


def _variant(opts: Options) -> Any:
    """The worker's classifier with ``opts``' knobs, sharing its loaded models."""
    if opts == Options():
        return _CLASSIFIER
    clf = _VARIANTS.get(opts)
    if clf is None:
        clf = copy.copy(_CLASSIFIER)
        clf.config = replace(_CLASSIFIER.config, genre=opts.genre, top_k=opts.top_k,
                             min_segment_seconds=opts.min_segment, mixed=opts.mixed)
        if not opts.genre:
            clf.genre_est = clf.genre_card = clf.genre_feat = None
            clf.models = {"music": _CLASSIFIER.models["music"]}
        _VARIANTS[opts] = clf
    return clf


def _ping() -> int:
    return os.getpid()


def _rename(text: str | None, path: str, name: str) -> str | None:
    if not text:
        return text
    return text.replace(display_path(path), name).replace(path, name)


def classify_task(path: str, name: str, opts: Options) -> dict[str, Any]:
    """One file's record (in a worker), its ``path`` and messages naming the file as the client knows it."""
    from soundsort.inference.batch import classify_one

    record = classify_one(_variant(opts), path)
    record["path"] = name
    record["error"] = _rename(record.get("error"), path, name)
    record["warnings"] = [_rename(w, path, name) for w in record.get("warnings") or []]
    return record


def _context() -> Any:
    """A fork server that has imported the classify code (never a fork of the server, which runs threads)."""
    import multiprocessing

    from soundsort.inference.batch import PRELOAD

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([*PRELOAD, "soundsort.serve.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


class WorkerPool:
    """``workers`` classifier processes. When one dies (a crash in native code, the OOM killer), the pool is
    replaced and the files it held are tried once more; a file that kills its worker twice gets an error.

    ``threads`` is each worker's ONNX Runtime intra-op threads (``None``: one per core). With one per core a
    lone request uses every core, and when all workers are busy their threads, which sleep rather than spin
    when idle, share the cores."""

    def __init__(self, workers: int, music_model: Path | None = None, genre_model: Path | None = None, *,
                 threads: int | None = None) -> None:
        from soundsort.inference.classify import ClassifyConfig, Classifier

        self.workers = workers
        self._factory = functools.partial(Classifier, music_model, genre_model, ClassifyConfig(), threads=threads)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_init,
                                                 initargs=(self._factory, os.getpid()))
            return self._pool

    async def start(self) -> None:
        """Start every worker and wait until each has loaded its models (a broken model fails here)."""
        self._factory()  # in this process first: a bad model folder is one clear line, before any fork
        loop = asyncio.get_running_loop()
        pool = self._executor()
        await asyncio.gather(*(loop.run_in_executor(pool, _ping) for _ in range(self.workers)))

    async def classify(self, path: Path, name: str, opts: Options) -> dict[str, Any]:
        """The record of one file, classified in a worker process."""
        from soundsort.inference.classify import FileResult

        loop = asyncio.get_running_loop()
        for _ in range(2):  # a pool broken by another file's crash is replaced and the file tried once more
            pool = self._executor()
            try:
                return await loop.run_in_executor(pool, classify_task, str(path), name, opts)
            except BrokenProcessPool:
                with self._lock:
                    if self._pool is pool:  # the first to notice replaces it
                        self._pool = None
                        pool.shutdown(wait=False, cancel_futures=True)
        return FileResult(name, "error", error=f"{name}: the worker process classifying it failed").to_dict()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
