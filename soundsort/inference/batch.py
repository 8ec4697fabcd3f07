"""Batch classification: many files, several processes, results written as they come, resumable.

* One bad file is reported (a record with ``status: "error"`` and the one-line reason) and the batch
  goes on.
* Results reach the output as they come: ``jsonl`` appends and syncs one line per file; ``json`` and
  ``csv`` are rewritten atomically (temporary file + rename) at most every ``flush_seconds``, and at the
  end. A crash leaves a valid file holding the results so far.
* ``resume``: files already in the output with ``status: "ok"`` are skipped; failed ones are tried again.
* A temporary file a killed run left beside the output (``.NAME.PID.*.tmp``) is removed by the next run,
  which says so.
* File names that are not UTF-8 are written as the bytes they are (``surrogateescape``), so a resumed run
  finds them again.
* Worker processes die with the process that started them, whatever kills it (see :func:`_init_worker`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from soundsort.atomic import atomic_open, pid_alive, remove_stale_temporaries
from soundsort.errors import display_path
from soundsort.errors import ConfigError, SoundsortError
from soundsort.inference.schema import CSV_COLUMNS, to_csv_row

FORMATS = ("json", "jsonl", "csv", "segments")


def _columns(fmt: str) -> list[str]:
    from soundsort.inference.exports import SEGMENT_COLUMNS

    return SEGMENT_COLUMNS if fmt == "segments" else CSV_COLUMNS


def _rows(fmt: str, record: dict[str, Any]) -> list[list[str]]:
    """The CSV rows of one record: one (``csv``) or one per timeline segment (``segments``)."""
    if fmt == "segments":
        from soundsort.inference.exports import segment_rows

        return segment_rows(record)
    return [to_csv_row(record)]


def read_records(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Records already in an output file (a torn last ``jsonl`` line from a crash is ignored)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    if fmt == "jsonl":
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out
    if fmt == "json":
        try:
            data = json.loads(text or "[]")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"cannot resume: the output is not valid JSON ({exc})", path) from None
        return data if isinstance(data, list) else []
    rows = list(csv.DictReader(io.StringIO(text)))
    if fmt == "segments":  # only files that were analysed have rows: each is one ok record
        by_path: dict[str, list[dict[str, str]]] = {}
        for r in rows:
            if r.get("path"):
                by_path.setdefault(r["path"], []).append(r)
        return [{"path": p, "status": "ok", "_rows": rs} for p, rs in by_path.items()]
    return [{"path": r.get("path"), "status": r.get("status"), "_csv": r} for r in rows]


class ResultWriter:
    """Writes records to a file (atomically / appending) or to stdout, in one of :data:`FORMATS`."""

    def __init__(self, fmt: str, output: Path | None, *, resume: bool = False, overwrite: bool = False,
                 flush_seconds: float = 1.0, stream: TextIO | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if output is not None:
            removed = remove_stale_temporaries(output)
            if removed and log is not None:
                log(f"soundsort: {display_path(output)}: removed {len(removed)} temporary file"
                    f"{'s' if len(removed) > 1 else ''} left by an interrupted run "
                    f"({', '.join(display_path(p.name) for p in removed)})")
        self.fmt, self.output, self.flush_seconds = fmt, output, flush_seconds
        self.stream = stream or sys.stdout
        self.records: list[dict[str, Any]] = []
        self._csv_rows: list[list[str]] = []
        self._last_flush = 0.0
        self._jsonl: TextIO | None = None
        self.done: set[str] = set()
        if output is not None and output.exists():
            if resume:
                old = read_records(output, fmt)
                kept = [r for r in old if r.get("status") == "ok"]
                self.done = {str(r["path"]) for r in kept}
                if fmt == "csv":
                    self._csv_rows = [[r["_csv"].get(c, "") for c in CSV_COLUMNS] for r in kept]
                elif fmt == "segments":
                    self._csv_rows = [[row.get(c, "") for c in _columns(fmt)] for r in kept for row in r["_rows"]]
                else:
                    self.records = kept
                self._rewrite()  # drop failed / torn records, keep the good ones
            elif not overwrite:
                raise ConfigError("output file exists (use --resume to continue it or --overwrite to replace it)",
                                  output)
        if output is None and fmt in ("csv", "segments"):
            csv.writer(self.stream).writerow(_columns(fmt))
        if output is not None and fmt == "jsonl":
            if not output.exists():
                self._rewrite()
            self._jsonl = open(output, "a", encoding="utf-8", errors="surrogateescape")

    def _rewrite(self) -> None:
        assert self.output is not None
        with atomic_open(self.output, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            self._dump(fh)
        self._last_flush = time.monotonic()

    def _dump(self, fh: TextIO) -> None:
        if self.fmt == "json":
            json.dump(self.records, fh, indent=2)
            fh.write("\n")
        elif self.fmt == "jsonl":
            for r in self.records:
                fh.write(json.dumps(r) + "\n")
        else:
            w = csv.writer(fh)
            w.writerow(_columns(self.fmt))
            w.writerows(self._csv_rows)

    def add(self, record: dict[str, Any]) -> None:
        """Record one file's result and write it out (now for jsonl / stdout, throttled otherwise; a jsonl file
        is synced to the disk at most every ``flush_seconds`` and on :meth:`close`)."""
        rows: list[list[str]] = []
        if self.fmt in ("csv", "segments"):
            rows = _rows(self.fmt, record)
            self._csv_rows.extend(rows)
        else:
            self.records.append(record)
        if self.output is None:
            if self.fmt == "jsonl":
                self.stream.write(json.dumps(record) + "\n")
            elif rows:
                csv.writer(self.stream).writerows(rows)
            self.stream.flush()
            return
        if self._jsonl is not None:
            # flushed at once (a killed command loses no record: the system has it); synced to the disk at
            # most every flush_seconds and at the end (an fsync a record cost ~4 ms each, 10 % of a fast
            # batch; a power cut loses at most that last second, which --resume classifies again)
            self._jsonl.write(json.dumps(record) + "\n")
            self._jsonl.flush()
            if time.monotonic() - self._last_flush >= self.flush_seconds:
                os.fsync(self._jsonl.fileno())
                self._last_flush = time.monotonic()
        elif time.monotonic() - self._last_flush >= self.flush_seconds:
            self._rewrite()

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.flush()
            os.fsync(self._jsonl.fileno())
            self._jsonl.close()
            self._jsonl = None
        elif self.output is not None:
            self._rewrite()
        elif self.fmt == "json":
            json.dump(self.records, self.stream, indent=2)
            self.stream.write("\n")
            self.stream.flush()


# -------------------------------------------------------------------------------------------------- workers

_WORKER: Any = None
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Make this (worker) process end when process ``parent`` (the soundsort command) ends, however it ends
    (kill -9 included).

    A worker is the child of the fork server, itself a child of ``parent`` that ends as soon as ``parent``
    is gone (the last write end of its "alive" pipe closes: the worker closes its inherited copy, see
    :func:`_release_fork_server`); with the spawn start method it is ``parent``'s own child. On Linux the
    kernel sends this process SIGKILL at its own parent's death (``prctl(PR_SET_PDEATHSIG)``), which covers
    both chains; a ``parent`` that died before that was set is caught by the check that follows. A daemon
    thread also watches ``parent`` (the only guard where there is no ``prctl``) and ends the process within
    a second of its death.
    """
    import signal
    import threading

    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    immediate = os.getppid()
    if not pid_alive(parent) or immediate == 1:  # already orphaned
        os._exit(1)
    if immediate != parent:
        _release_fork_server()
    if not armed or immediate != parent:
        def watch() -> None:
            while pid_alive(parent) and os.getppid() == immediate:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="soundsort-parent-watch", daemon=True).start()


def _release_fork_server() -> None:
    """Close this worker's copy of the fork server's "alive" pipe (every forked child inherits one).

    The fork server ends when every copy of that pipe's write end is closed; left open in the workers, a
    kill -9 of the command would leave the server waiting on its workers and the workers on their parent,
    the server. The workers start no processes of their own, so they never need it.
    """
    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver  # type: ignore[attr-defined]
        fd = getattr(server, "_forkserver_alive_fd", None)
        if fd is not None:
            os.close(fd)
            server._forkserver_alive_fd = None
    except (AttributeError, OSError):
        pass


def _init_worker(factory: Callable[[], Any], parent: int | None = None) -> None:
    global _WORKER
    from threadpoolctl import threadpool_limits

    if parent is not None:
        die_with_parent(parent)
    threadpool_limits(1)
    _WORKER = factory()


def _classify(path: str) -> dict[str, Any]:
    return classify_one(_WORKER, path)


def classify_one(classifier: Any, path: str) -> dict[str, Any]:
    """A record for one file: the result, or an error record with the one-line reason."""
    from soundsort.inference.classify import FileResult

    try:
        return classifier.classify_file(path).to_dict()
    except SoundsortError as exc:
        return FileResult(str(path), "error", error=str(exc)).to_dict()
    except MemoryError:
        return FileResult(str(path), "error", error=f"{display_path(path)}: out of memory").to_dict()
    except Exception as exc:  # a library failure on one file must not end the batch
        text = " ".join(str(exc).split())
        text = text if len(text) <= 200 else text[:197] + "..."
        return FileResult(str(path), "error", error=f"{display_path(path)}: {type(exc).__name__}: {text}").to_dict()


#: Modules the fork server imports once, before it forks any worker: a worker starts with them loaded.
PRELOAD = ("soundsort.inference.batch", "soundsort.inference.classify", "onnxruntime")
#: Files queued per worker process, so that one is never idle between files.
PREFETCH = 2


def _context() -> Any:
    """The fork server where the platform has one (POSIX), else spawn: never a fork of this process, which
    may hold ONNX Runtime, BLAS or decoder threads by then."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")


def run_batch(paths: Sequence[str], factory: Callable[[], Any], *, jobs: int = 1,
              on_result: Callable[[dict[str, Any]], None], progress: Callable[[int, int, str], None] | None = None
              ) -> tuple[int, int]:
    """Classify ``paths`` with ``jobs`` processes (each builds its classifier with ``factory``, once).

    ``on_result`` gets each record as soon as it and every record before it are ready (records come in the
    order of ``paths``). Returns ``(ok, failed)`` counts.

    With ``jobs > 1`` this process is one of the ``jobs``: it starts on the first file at once, while
    ``jobs - 1`` worker processes start beside it (from the fork server, which imports the classify code
    once; each worker loads the models once) and take files as they come free. So a small batch is not
    held up by starting processes, and a large one keeps every core busy. ``factory`` goes to the workers by
    pickle: a module-level callable or a ``functools.partial`` of one. A file whose worker process died (a
    crash in native code) gets an error record; the files left are classified here.
    """
    counts = {"ok": 0, "failed": 0}
    emitted = [0]

    def emit(rec: dict[str, Any]) -> None:
        counts["ok" if rec["status"] == "ok" else "failed"] += 1
        on_result(rec)
        emitted[0] += 1
        if progress:
            progress(emitted[0], len(paths), rec["path"])

    from threadpoolctl import threadpool_limits

    # one BLAS thread, as in the workers: classify's matrix products are small, and a second BLAS thread
    # only waits for (and, on a busy machine, fights) the network's threads: musicnn's mel product of a
    # 3 s window takes 0.5 ms on one thread and 8 ms on two
    with threadpool_limits(1, user_api="blas"):
        if jobs <= 1 or len(paths) <= 1:
            clf = factory()
            for p in paths:
                emit(classify_one(clf, p))
        else:
            _run_shared(list(paths), factory, jobs, emit)
    return counts["ok"], counts["failed"]


def _run_shared(paths: list[str], factory: Callable[[], Any], jobs: int,
                emit: Callable[[dict[str, Any]], None]) -> None:
    """:func:`run_batch` with ``jobs - 1`` worker processes beside this one (see there)."""
    import queue
    import threading

    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(paths)):
        todo.put(i)
    done: queue.SimpleQueue[tuple[int, dict[str, Any]]] = queue.SimpleQueue()
    stop = threading.Event()
    pool = ProcessPoolExecutor(max_workers=jobs - 1, mp_context=_context(), initializer=_init_worker,
                               initargs=(factory, os.getpid()))

    def feed() -> None:
        """One file at a time to the pool, while there are files (a worker's queue slot)."""
        while not stop.is_set():
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                rec = pool.submit(_classify, paths[i]).result()
            except Exception as exc:  # the worker process died (a native crash) or the pool could not start
                if stop.is_set():
                    return
                from soundsort.inference.classify import FileResult

                rec = FileResult(paths[i], "error", error=f"{display_path(paths[i])}: the worker process "
                                 f"classifying it failed ({type(exc).__name__})").to_dict()
                done.put((i, rec))
                return  # this slot is done; this process classifies what is left
            done.put((i, rec))

    feeders = [threading.Thread(target=feed, name=f"soundsort-feed-{k}", daemon=True)
               for k in range((jobs - 1) * PREFETCH)]
    results: dict[int, dict[str, Any]] = {}
    next_out = 0
    try:
        own = todo.get_nowait()  # this process's first file: taken before the pool starts
        for t in feeders:  # they start the workers (the first submit waits for the fork server)
            t.start()
        clf = factory()
        while next_out < len(paths):
            if own is None:
                try:
                    own = todo.get_nowait()
                except queue.Empty:
                    own = None
            if own is not None:
                results[own] = classify_one(clf, paths[own])
                own = None
            else:
                i, rec = done.get()  # nothing left to take: wait for the workers
                results[i] = rec
            while True:  # collect what the workers finished meanwhile
                try:
                    i, rec = done.get_nowait()
                except queue.Empty:
                    break
                results[i] = rec
            while next_out in results:
                emit(results.pop(next_out))
                next_out += 1
    finally:
        stop.set()
        while True:  # no feeder takes another file
            try:
                todo.get_nowait()
            except queue.Empty:
                break
        if next_out < len(paths):  # stopped early (Ctrl-C, an error): end the workers' files now, not later
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
