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

from soundsort.atomic import atomic_open, remove_stale_temporaries
from soundsort.errors import display_path
from soundsort.errors import ConfigError, SoundsortError
from soundsort.inference.schema import CSV_COLUMNS, to_csv_row

FORMATS = ("json", "jsonl", "csv")


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
                else:
                    self.records = kept
                self._rewrite()  # drop failed / torn records, keep the good ones
            elif not overwrite:
                raise ConfigError("output file exists (use --resume to continue it or --overwrite to replace it)",
                                  output)
        if output is None and fmt == "csv":
            csv.writer(self.stream).writerow(CSV_COLUMNS)
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
            w.writerow(CSV_COLUMNS)
            w.writerows(self._csv_rows)

    def add(self, record: dict[str, Any]) -> None:
        """Record one file's result and write it out (now for jsonl / stdout, throttled otherwise)."""
        if self.fmt == "csv":
            self._csv_rows.append(to_csv_row(record))
        else:
            self.records.append(record)
        if self.output is None:
            if self.fmt == "jsonl":
                self.stream.write(json.dumps(record) + "\n")
            elif self.fmt == "csv":
                csv.writer(self.stream).writerow(self._csv_rows[-1])
            self.stream.flush()
            return
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(record) + "\n")
            self._jsonl.flush()
            os.fsync(self._jsonl.fileno())
        elif time.monotonic() - self._last_flush >= self.flush_seconds:
            self._rewrite()

    def close(self) -> None:
        if self._jsonl is not None:
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
    """Make this (worker) process end when process ``parent`` ends, however it ends (kill -9 included).

    On Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``); a parent that
    died before that was set is caught by the check that follows. Elsewhere a daemon thread watches the
    parent and ends the process within a second of its death.
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
    if os.getppid() != parent:  # already orphaned
        os._exit(1)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="soundsort-parent-watch", daemon=True).start()


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


def run_batch(paths: Sequence[str], factory: Callable[[], Any], *, jobs: int = 1,
              on_result: Callable[[dict[str, Any]], None], progress: Callable[[int, int, str], None] | None = None
              ) -> tuple[int, int]:
    """Classify ``paths`` with ``jobs`` processes (each builds its classifier with ``factory``).

    ``on_result`` gets each record as soon as it is ready. Returns ``(ok, failed)`` counts.
    """
    ok = failed = 0
    results: Iterator[dict[str, Any]]
    if jobs <= 1 or len(paths) <= 1:
        clf = factory()
        results = (classify_one(clf, p) for p in paths)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(factory, os.getpid()))
        results = pool.map(_classify, paths, chunksize=1)
    try:
        for i, rec in enumerate(results):
            if rec["status"] == "ok":
                ok += 1
            else:
                failed += 1
            on_result(rec)
            if progress:
                progress(i + 1, len(paths), rec["path"])
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return ok, failed
