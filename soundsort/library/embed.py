"""``soundsort embed``: turn a collection into a library, and keep it up to date by content hash.

Per file, :mod:`soundsort.library.analyse` computes the embedding, tags, description, music segments,
fingerprint and artist in one pass of each backbone; a labels table sets the genre (label) and artist (group)
of the files it names. How the vectors are made is recorded in the library (:mod:`soundsort.library.config`).

**Incremental**: a file whose path, size and modification time are unchanged is not read again; one whose
content hash is already in the library (renamed, moved, touched, copied) reuses that entry's vectors; only
new content is embedded. Entries whose file no longer exists are dropped. Files of the library outside the
folders given this time are kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.decode import is_audio_path
from soundsort.cache import content_hash
from soundsort.dataset.table import LabelsTable, read_labels_csv
from soundsort.errors import ConfigError, LibraryError, SoundsortError
from soundsort.library.analyse import Progress, analyse_files, describe_error
from soundsort.library.config import EmbedConfig, check_compatible, config_for, library_config
from soundsort.library.store import FileEntry, Library, SegmentEntry

#: tags kept per file in the metadata table
TOP_TAGS = 5


def collect_audio(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Absolute paths of the audio files given or found under the folders given (sorted, hidden skipped)."""
    out: list[str] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                out.extend(os.path.abspath(os.path.join(dirpath, n)) for n in sorted(filenames)
                           if not n.startswith(".") and is_audio_path(n))
        elif p.is_file():
            out.append(os.path.abspath(p))
        else:
            raise LibraryError("not found", p)
    seen: set[str] = set()
    return [f for f in out if not (f in seen or seen.add(f))]


@dataclass
class EmbedReport:
    """What an embed run did."""

    library: Library
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # content already in the library under another path
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    saved: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """How many files were added, changed, moved, removed, unchanged and failed, and the library's size."""
        return {"added": len(self.added), "changed": len(self.changed), "moved": len(self.moved),
                "removed": len(self.removed), "unchanged": self.unchanged, "failed": len(self.failed),
                "files": len(self.library)}


def _entry_from(path: str, digest: str, st: os.stat_result, rec: dict[str, Any], tag_names: list[str]) -> FileEntry:
    tags: list[list[Any]] = []
    if "tags" in rec and tag_names:
        scores = np.asarray(rec["tags"], dtype=np.float64)
        tags = [[tag_names[i], round(float(scores[i]), 4)] for i in np.argsort(-scores)[:TOP_TAGS]]
    genre = rec.get("genre")
    artist = rec.get("artist")
    return FileEntry(path=path, hash=digest, size=int(st.st_size), mtime_ns=int(st.st_mtime_ns),
                     duration=round(float(rec["duration"]), 3), music_share=rec.get("music_share"),
                     music_probability=rec.get("music_probability"), genre=genre,
                     genre_probability=rec.get("genre_probability"), genre_source="model" if genre else "",
                     artist=artist, artist_source="tag" if artist else "", tags=tags,
                     fingerprint=np.asarray(rec["fingerprint"], dtype="<u2").tobytes())



def embed_collection(paths: Sequence[str | os.PathLike[str]], library_dir: str | os.PathLike[str],
                     cfg: EmbedConfig | None = None, *, jobs: int = 1, cache: bool = True, rebuild: bool = False,
                     labels_table: LabelsTable | None = None, progress: Progress | None = None,
                     log: Callable[[str], None] = lambda s: None) -> EmbedReport:
    """Create or update the library in ``library_dir`` from the audio under ``paths`` (module docstring).

    ``cfg`` None: the existing library's configuration (or the defaults for a new one). ``labels_table``
    (paths relative to the one folder given) sets genre (label) and artist (group) of the files it names.
    """
    folder = Path(library_dir)
    with _locked(folder):
        return _embed(paths, folder, cfg, jobs=jobs, cache=cache, rebuild=rebuild, labels_table=labels_table,
                      progress=progress, log=log)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One update of a library at a time (an advisory lock on ``LIBRARY/.lock``)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LibraryError("another soundsort embed is updating this library; try again when it is done",
                               folder) from None
        yield
    finally:
        os.close(fd)


def _embed(paths: Sequence[str | os.PathLike[str]], folder: Path, cfg: EmbedConfig | None, *, jobs: int,
           cache: bool, rebuild: bool, labels_table: LabelsTable | None, progress: Progress | None,
           log: Callable[[str], None]) -> EmbedReport:
    old = Library.load(folder) if Library.exists(folder) else None
    if cfg is None:
        cfg = config_for(old)
    config = library_config(cfg)
    if old is not None and rebuild:
        old = None
    if old is not None:
        check_compatible(old.config, config, folder)
    files = collect_audio(paths)
    table_rows: dict[str, tuple[str, str | None]] = {}
    notes: list[str] = []
    if labels_table is not None:
        dirs = [p for p in paths if Path(p).is_dir()]
        if len(dirs) != 1 or len(paths) != 1:
            raise ConfigError("--labels-csv takes exactly one collection folder (the table's paths are relative to it)")
        rows, notes = read_labels_csv(labels_table, dirs[0])
        table_rows = {os.path.abspath(r.path): (r.label, r.group) for r in rows}
    report = EmbedReport(library=Library(folder, config), notes=notes)

    by_path = {e.path: i for i, e in enumerate(old.files)} if old is not None else {}
    by_hash: dict[str, int] = {}
    if old is not None:
        for i, e in enumerate(old.files):
            by_hash.setdefault(e.hash, i)
    kept: list[tuple[FileEntry, int]] = []  # (entry, old row whose vectors it reuses)
    todo: list[tuple[str, str, os.stat_result, str]] = []  # (path, hash, stat, "added" | "changed")
    given = set(files)
    for f in files:
        try:
            st = os.stat(f)
            i = by_path.get(f)
            if i is not None and old.files[i].size == st.st_size and old.files[i].mtime_ns == st.st_mtime_ns:
                kept.append((old.files[i], i))
                report.unchanged += 1
                continue
            digest = content_hash(f)
        except (OSError, SoundsortError) as exc:
            report.failed.append((f, describe_error(exc, f)))
            continue
        if i is not None and old.files[i].hash == digest:  # touched, same bytes
            kept.append((_replace(old.files[i], size=int(st.st_size), mtime_ns=int(st.st_mtime_ns)), i))
            report.unchanged += 1
        elif digest in by_hash:
            j = by_hash[digest]
            kept.append((_replace(old.files[j], path=f, size=int(st.st_size), mtime_ns=int(st.st_mtime_ns)), j))
            report.moved.append(f)
        else:
            todo.append((f, digest, st, "changed" if i is not None else "added"))
    if old is not None:  # entries not seen this time: kept while their file exists (other folders)
        for i, e in enumerate(old.files):
            if e.path in given:
                continue
            if os.path.exists(e.path):
                kept.append((e, i))
            else:
                report.removed.append(e.path)
    log_every = max(1, len(todo) // 20)
    records: list[tuple[FileEntry, dict[str, Any]]] = []
    for n, (path, rec, error) in enumerate(analyse_files([t[0] for t in todo], config, jobs=jobs, cache=cache,
                                                         progress=progress)):
        f, digest, st, kind = todo[n]
        if rec is None:
            report.failed.append((f, error or "failed"))
            if kind == "changed":
                report.removed.append(f)  # its old vectors describe content that is gone
            continue
        records.append((_entry_from(f, digest, st, rec, config["tag_names"]), rec))
        (report.changed if kind == "changed" else report.added).append(f)
        if (n + 1) % log_every == 0 and progress is None:
            log(f"embedded {n + 1} of {len(todo)} files")

    lib = report.library
    dim = sum(config["widths"])
    n_tags = len(config["tag_names"])
    vectors, seg_vectors, tags = [], [], []
    old_segments: dict[int, list[int]] = {}
    for k, s in enumerate(old.segments if old is not None else []):
        old_segments.setdefault(s.file, []).append(k)
    rows: list[tuple[FileEntry, int | None, dict[str, Any] | None]] = \
        [(e, i, None) for e, i in kept] + [(e, None, rec) for e, rec in records]
    for entry, i, rec in sorted(rows, key=lambda r: r[0].path):
        row = len(lib.files)
        lib.files.append(entry)
        if i is not None:
            vectors.append(old.vectors[i])
            tags.append(old.tag_scores[i])
            for k in old_segments.get(i, []):
                lib.segments.append(SegmentEntry(row, old.segments[k].start, old.segments[k].end))
                seg_vectors.append(old.segment_vectors[k])
            continue
        vectors.append(np.asarray(rec["vector"], np.float32))
        tags.append(np.asarray(rec.get("tags", np.zeros(n_tags)), np.float16))
        for (a, b), sv in zip(rec["seg_times"], rec["seg_vectors"]):
            lib.segments.append(SegmentEntry(row, round(float(a), 3), round(float(b), 3)))
            seg_vectors.append(sv)
    lib.vectors = np.asarray(vectors, np.float32).reshape(-1, dim)
    lib.segment_vectors = np.asarray(seg_vectors, np.float32).reshape(-1, dim)
    lib.tag_scores = np.asarray(tags, np.float16).reshape(-1, n_tags) if n_tags else \
        np.zeros((len(lib.files), 0), np.float16)
    changed_meta = _apply_table(lib, table_rows)
    if old is not None:
        lib.created, lib.generation = old.created, old.generation
    anything = (old is None or report.added or report.changed or report.moved or report.removed or changed_meta
                or old.config != config or [e.path for e in old.files] != [e.path for e in lib.files])
    if anything:
        if not lib.files:
            raise LibraryError("no file could be embedded" + (f" (first: {report.failed[0][1]})"
                                                              if report.failed else ""), folder)
        lib.rebuild()
        lib.save()
        report.saved = True
    else:
        report.library = old
    return report



def _replace(e: FileEntry, **changes: Any) -> FileEntry:
    return FileEntry(**{**asdict(e), **changes})


def _apply_table(lib: Library, rows: dict[str, tuple[str, str | None]]) -> bool:
    """Genre and artist from a labels table for the files it names; True when anything changed."""
    changed = False
    for i, e in enumerate(lib.files):
        if e.path not in rows:
            continue
        label, group = rows[e.path]
        new = _replace(e, genre=label, genre_probability=None, genre_source="table")
        if group:
            new.artist, new.artist_source = group, "table"
        if new != e:
            lib.files[i] = new
            changed = True
    return changed



__all__ = ["EmbedReport", "collect_audio", "embed_collection"]
