"""The output folder of a cluster job: records in Parquet (or JSONL) partitions, each written atomically.

``OUT/part-<run>-<seq>.parquet`` (``.jsonl`` with ``format="jsonl"``) holds up to ``partition_rows``
records, each input at most once across all partitions. A partition is written to a hidden temporary
sibling (``.part-....tmp``, :func:`soundsort.atomic.atomic_open`) and renamed into place, so a reader (or
``pyarrow.dataset``, which skips hidden files) never sees a partial one; the temporary file of a killed run
is removed by the next. ``OUT/.soundsort.lock`` (an advisory lock) keeps two runs from writing the same
folder at once.

The Parquet columns are the record's fields (:mod:`soundsort.inference.schema`) with fixed types, so
every partition has the same schema; ``models`` (free-form) is a JSON string. :func:`read_results` gives
back the records exactly as the local ``classify`` makes them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from soundsort.atomic import atomic_open, pid_alive
from soundsort.errors import ConfigError

FORMATS = ("parquet", "jsonl")
LOCK_NAME = ".soundsort.lock"
_PART_RE = re.compile(r"^part-[0-9A-Za-z_-]+\.(parquet|jsonl)$")
_TMP_RE = re.compile(r"^\.part-[0-9A-Za-z_-]+\.(?:parquet|jsonl)\.(\d+)\.[a-z0-9_]{8}\.tmp$")


def arrow_schema() -> Any:
    """The Parquet schema of one record (pyarrow types)."""
    import pyarrow as pa

    genres = pa.list_(pa.struct([("label", pa.string()), ("probability", pa.float64())]))
    segment = pa.struct([("start", pa.float64()), ("end", pa.float64()), ("label", pa.string()),
                         ("confidence", pa.float64()), ("genre", genres), ("genre_windows", pa.int64())])
    return pa.schema([
        ("path", pa.string()), ("status", pa.string()), ("duration", pa.float64()),
        ("music_probability", pa.float64()), ("music_share", pa.float64()), ("label", pa.string()),
        ("timeline", pa.list_(segment)), ("genre", genres), ("genre_windows", pa.int64()),
        ("models", pa.string()), ("error", pa.string()), ("warnings", pa.list_(pa.string())),
    ])


def storable_path(path: str) -> str:
    """``path`` as a valid UTF-8 string (a name that is not UTF-8 keeps its bytes as ``\\xNN`` escapes);
    the same function names an input when a rerun looks it up."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


def _to_row(record: dict[str, Any]) -> dict[str, Any]:
    row = dict(record)
    row["path"] = storable_path(str(record["path"]))
    row["models"] = json.dumps(record.get("models") or {}, sort_keys=True)
    row["timeline"] = [{**s, "genre": s.get("genre"), "genre_windows": s.get("genre_windows")}
                       for s in record.get("timeline") or []]
    return row


def _from_row(row: dict[str, Any]) -> dict[str, Any]:
    rec = dict(row)
    rec["models"] = json.loads(row.get("models") or "{}")
    timeline = []
    for seg in row.get("timeline") or []:
        seg = dict(seg)
        if seg.get("genre_windows") is None:  # written without genre: the segment had neither key
            seg.pop("genre", None)
            seg.pop("genre_windows", None)
        timeline.append(seg)
    rec["timeline"] = timeline
    rec["warnings"] = list(row.get("warnings") or [])
    return rec


def partition_files(output: Path) -> list[Path]:
    """The finished partitions in ``output`` (sorted by name)."""
    if not output.is_dir():
        return []
    return sorted(p for p in output.iterdir() if _PART_RE.match(p.name) and p.is_file())


def _read_partition(path: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        rows = []
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ConfigError(f"line {n} is not a JSON record (a partition written by another program?)",
                                      path) from None
        return rows
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns).to_pylist()
    except Exception as exc:  # pyarrow.lib.ArrowInvalid and friends
        raise ConfigError(f"cannot read the partition ({' '.join(str(exc).split())[:150]})", path) from None


def read_results(output: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record in an output folder, as the local ``classify`` writes them (partition order)."""
    out = []
    for part in partition_files(Path(output)):
        rows = _read_partition(part)
        out.extend(rows if part.suffix == ".jsonl" else [_from_row(r) for r in rows])
    return out


def done_inputs(output: Path) -> dict[str, str]:
    """``{path: status}`` of the records already in ``output`` (only the two columns are read), each path as
    :func:`storable_path` writes it (the name an input is looked up by)."""
    done: dict[str, str] = {}
    for part in partition_files(output):
        for row in _read_partition(part, columns=["path", "status"]):
            done[storable_path(str(row["path"]))] = str(row["status"])
    return done


def remove_stale_parts(output: Path) -> list[Path]:
    """Remove the temporary partitions killed runs left in ``output``; returns them."""
    removed = []
    if not output.is_dir():
        return removed
    for p in output.iterdir():
        m = _TMP_RE.match(p.name)
        if m and not pid_alive(int(m.group(1))):
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed


def drop_errors(output: Path) -> int:
    """Rewrite each partition holding error records without them (atomically); returns how many went.

    Used before retrying failed inputs, so that a retried input still appears once."""
    dropped = 0
    for part in partition_files(output):
        rows = _read_partition(part)
        kept = [r for r in rows if r.get("status") == "ok"]
        if len(kept) == len(rows):
            continue
        dropped += len(rows) - len(kept)
        if not kept:
            part.unlink()
            continue
        records = kept if part.suffix == ".jsonl" else [_from_row(r) for r in kept]
        _write(part, records, part.suffix[1:])
    return dropped


def clear(output: Path) -> int:
    """Remove every partition from ``output`` (``overwrite``); returns how many."""
    parts = partition_files(output)
    for p in parts:
        p.unlink()
    return len(parts)


def _write(target: Path, records: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "jsonl":
        with atomic_open(target, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r) + "\n")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([_to_row(r) for r in records], schema=arrow_schema())
    with atomic_open(target, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")


class FolderLock:
    """An advisory lock on ``OUT/.soundsort.lock`` for the time of a run (released when the process ends)."""

    def __init__(self, output: Path) -> None:
        self.path = output / LOCK_NAME
        self._fh: Any = None

    def __enter__(self) -> FolderLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise ConfigError("another soundsort run is writing to this folder", self.path.parent) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()


class PartitionWriter:
    """Collects records and writes them out in partitions of at most ``partition_rows`` records, or every
    ``flush_seconds``, whichever comes first; :meth:`close` writes the rest."""

    def __init__(self, output: Path, fmt: str = "parquet", *, partition_rows: int = 1000,
                 flush_seconds: float = 30.0) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r} for a cluster job; choose {' or '.join(FORMATS)}")
        self.output, self.fmt = output, fmt
        self.partition_rows, self.flush_seconds = max(1, partition_rows), flush_seconds
        self.run = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        self.pending: list[dict[str, Any]] = []
        self.written: list[Path] = []
        self._last = time.monotonic()

    def add(self, record: dict[str, Any]) -> None:
        self.pending.append(record)
        if len(self.pending) >= self.partition_rows or time.monotonic() - self._last >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self.pending:
            return
        target = self.output / f"part-{self.run}-{len(self.written):05d}.{self.fmt}"
        _write(target, self.pending, self.fmt)
        self.written.append(target)
        self.pending = []

    def close(self) -> None:
        self.flush()

    def __iter__(self) -> Iterator[Path]:
        return iter(self.written)
