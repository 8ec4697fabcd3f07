"""A library on disk: one embedding per file (and per music segment), a vector index, and a metadata table.

Layout of a library folder::

    LIBRARY/library.json          the manifest: format, version, features, index kind, which generation is
                                  current, and the SHA-256 of every file of that generation
    LIBRARY/gen-000007/meta.sqlite    files (path, content hash, size, mtime, duration, music share, genre,
                                  artist, tags, fingerprint) and music segments (file, start, end)
    LIBRARY/gen-000007/vectors.npy    raw file embeddings, row i = file row i        (float32)
    LIBRARY/gen-000007/segments.npy   raw music-segment embeddings                   (float32)
    LIBRARY/gen-000007/tags.npy       tag scores per file (names in the manifest)    (float16)
    LIBRARY/gen-000007/files.faiss    the search index over the normalized file vectors (faiss's own format)
    LIBRARY/gen-000007/segments.faiss the same over the segment vectors
    LIBRARY/gen-000007/stats.npy      the standardization statistics (mean, std), when there are enough files

**Saved atomically**: a save writes a complete new generation folder (every file fsynced), then replaces
``library.json`` in one rename, then removes older generations. A crash at any point leaves the previous
library intact; readers only ever see a manifest whose generation is complete.

**Loaded without unpickling**: JSON, SQLite, ``.npy`` read with ``allow_pickle=False`` and faiss's binary
index format; nothing in a library folder can run code. Every file's checksum is verified before it is
parsed, so a damaged or swapped file is one :class:`LibraryError` line naming it (never a crash in the
index reader), and shapes are cross-checked (rows of every array = rows of the table, index size).

The search space (per-block standardization, unit length) and the faiss index: :mod:`soundsort.library.vectors`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.atomic import atomic_open, write_json
from soundsort.errors import LibraryError
from soundsort.library.vectors import MIN_FILES_FOR_STATS, VectorIndex, fit_stats, normalize

FORMAT = "soundsort-library"
VERSION = 1
MANIFEST = "library.json"
_GEN_RE = re.compile(r"^gen-[0-9]{6}$")
_FILES = ("meta.sqlite", "vectors.npy", "segments.npy", "tags.npy", "files.faiss", "segments.faiss")


@dataclass
class FileEntry:
    """What the library knows about one file (its vectors live in the arrays, at the same row)."""

    path: str  # absolute
    hash: str  # blake2b of the bytes (soundsort.cache.content_hash)
    size: int
    mtime_ns: int
    duration: float
    music_share: float | None = None  # share of the file's time that is music (bundled / given model)
    music_probability: float | None = None
    genre: str | None = None  # the labels table's label, else the genre model's top genre of the music parts
    genre_probability: float | None = None  # the model's probability (None for a label from a table)
    genre_source: str = ""  # "table", "model" or ""
    artist: str | None = None  # the labels table's group, else the file's own artist tag
    artist_source: str = ""  # "table", "tag" or ""
    tags: list[list[Any]] = field(default_factory=list)  # top [tag, score] pairs
    fingerprint: bytes = b""  # soundsort.library.fingerprint bits (uint16, little-endian)


@dataclass
class SegmentEntry:
    """One music segment of a file (its vector is the row of the segment arrays)."""

    file: int  # row of the file
    start: float
    end: float


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()




@dataclass
class Library:
    """A loaded (or new) library: entries, raw arrays, and the search indexes built from them.

    ``config`` records how the vectors were made (``features``, ``featurizer_params``, ``widths`` of the
    feature-set blocks, ``tag_names``, ``normalize``, ``index``, ``fingerprint`` parameters, ``segments``);
    a later update must use the same, or rebuild.
    """

    folder: Path
    config: dict[str, Any]
    files: list[FileEntry] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    segments: list[SegmentEntry] = field(default_factory=list)
    segment_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    tag_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float16))
    generation: int = 0
    created: str = ""
    updated: str = ""
    stats: np.ndarray | None = None
    file_index: VectorIndex | None = None
    segment_index: VectorIndex | None = None

    # ------------------------------------------------------------------------------------- queries

    @property
    def widths(self) -> list[int]:
        return [int(w) for w in self.config["widths"]]

    @property
    def dim(self) -> int:
        return sum(self.widths)

    def __len__(self) -> int:
        return len(self.files)

    def normalized(self, raw: np.ndarray) -> np.ndarray:
        """Raw vectors (file or segment, or a query's) in the library's search space."""
        return normalize(raw, self.widths, self.stats)

    def row_of(self, path: str | os.PathLike[str]) -> int | None:
        """The row of the entry with this (absolute) path, else None."""
        key = os.path.abspath(os.fspath(path))
        for i, e in enumerate(self.files):
            if e.path == key:
                return i
        return None

    def rows_with_hash(self, digest: str) -> list[int]:
        return [i for i, e in enumerate(self.files) if e.hash == digest]

    # ------------------------------------------------------------------------------------- building

    def rebuild(self) -> None:
        """Recompute the normalization statistics and both search indexes from the raw arrays."""
        kind = self.config.get("index", "auto")
        zscore = self.config.get("normalize") == "zscore" and len(self.vectors) >= MIN_FILES_FOR_STATS
        self.stats = fit_stats(self.vectors) if zscore else None
        self.file_index = VectorIndex.build(kind, self.normalized(self.vectors))
        self.segment_index = VectorIndex.build(kind, self.normalized(self.segment_vectors)) \
            if len(self.segment_vectors) else None

    # ------------------------------------------------------------------------------------- saving

    def save(self) -> None:
        """Write a new generation and switch the manifest to it atomically (module docstring)."""
        if self.file_index is None:
            self.rebuild()
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        previous = _current_generation(folder)
        gen = max(self.generation, previous or 0) + 1
        name = f"gen-{gen:06d}"
        target = folder / name
        tmp = folder / f".{name}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            self._write_tables(tmp / "meta.sqlite")
            _save_npy(tmp / "vectors.npy", self.vectors.astype(np.float32))
            _save_npy(tmp / "segments.npy", self.segment_vectors.astype(np.float32))
            _save_npy(tmp / "tags.npy", self.tag_scores.astype(np.float16))
            _save_bytes(tmp / "files.faiss", self.file_index.to_bytes())
            seg = self.segment_index or VectorIndex.build("flat", np.zeros((0, self.dim), np.float32))
            _save_bytes(tmp / "segments.faiss", seg.to_bytes())
            if self.stats is not None:
                _save_npy(tmp / "stats.npy", self.stats)
            checksums = {f.name: _sha256(f) for f in sorted(tmp.iterdir())}
            _fsync_dir(tmp)
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp, target)
            _fsync_dir(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.created = self.created or now
        self.updated = now
        manifest = {
            "format": FORMAT, "version": VERSION, "generation": name, "created": self.created,
            "updated": self.updated, "files": len(self.files), "segments": len(self.segments), "dim": self.dim,
            "index_kind": {"files": self.file_index.kind,
                           "segments": self.segment_index.kind if self.segment_index else "flat"},
            "config": self.config, "checksums": checksums,
        }
        write_json(folder / MANIFEST, manifest)
        _fsync_dir(folder)
        self.generation = gen
        for old in folder.iterdir():  # older generations and leftovers of killed saves
            if old.name != name and (_GEN_RE.match(old.name) or old.name.startswith(".gen-")) and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)

    def _write_tables(self, path: Path) -> None:
        con = sqlite3.connect(path)
        try:
            con.execute("CREATE TABLE files (row INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, "
                        "size INTEGER, mtime_ns INTEGER, duration REAL, music_share REAL, music_probability REAL, "
                        "genre TEXT, genre_probability REAL, genre_source TEXT, artist TEXT, artist_source TEXT, "
                        "tags TEXT, fingerprint BLOB)")
            con.execute("CREATE TABLE segments (row INTEGER PRIMARY KEY, file INTEGER NOT NULL, start REAL, end REAL)")
            con.executemany("INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            [(i, e.path, e.hash, e.size, e.mtime_ns, e.duration, e.music_share, e.music_probability,
                              e.genre, e.genre_probability, e.genre_source, e.artist, e.artist_source,
                              json.dumps(e.tags), e.fingerprint) for i, e in enumerate(self.files)])
            con.executemany("INSERT INTO segments VALUES (?,?,?,?)",
                            [(i, s.file, s.start, s.end) for i, s in enumerate(self.segments)])
            con.commit()
        finally:
            con.close()
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())

    # ------------------------------------------------------------------------------------- loading

    @classmethod
    def exists(cls, folder: str | os.PathLike[str]) -> bool:
        return (Path(folder) / MANIFEST).is_file()

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Library:
        """Open a library folder; every problem is one :class:`LibraryError` line naming the file."""
        folder = Path(folder)
        mpath = folder / MANIFEST
        if not folder.is_dir():
            raise LibraryError("library folder not found (make one with `soundsort embed COLLECTION -o FOLDER`)",
                               folder)
        try:
            with open(mpath, encoding="utf-8") as fh:
                m = json.load(fh)
        except FileNotFoundError:
            raise LibraryError(f"not a soundsort library (no {MANIFEST})", folder) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LibraryError(f"damaged manifest ({type(exc).__name__})", mpath) from None
        try:
            if not isinstance(m, dict) or m.get("format") != FORMAT:
                raise LibraryError("not a soundsort library manifest", mpath)
            if int(m["version"]) > VERSION:
                raise LibraryError(f"library format version {m['version']} is newer than this soundsort "
                                   f"reads ({VERSION})", mpath)
            name = str(m["generation"])
            if not _GEN_RE.match(name):
                raise LibraryError(f"manifest names an invalid generation {name!r}", mpath)
            config = dict(m["config"])
            widths = [int(w) for w in config["widths"]]
            if not widths or min(widths) <= 0:
                raise LibraryError("manifest has no vector widths", mpath)
            kinds = dict(m["index_kind"])
            checksums = {str(k): str(v) for k, v in dict(m["checksums"]).items()}
            n_files, n_segments, dim = int(m["files"]), int(m["segments"]), int(m["dim"])
        except LibraryError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LibraryError(f"damaged manifest ({type(exc).__name__}: {exc})", mpath) from None
        gen = folder / name
        has_stats = "stats.npy" in checksums
        for fname in _FILES + (("stats.npy",) if has_stats else ()):
            p = gen / fname
            if fname not in checksums:
                raise LibraryError("the manifest has no checksum for this file", p)
            if not p.is_file():
                raise LibraryError("library file missing", p)
            if _sha256(p) != checksums[fname]:
                raise LibraryError("library file damaged or replaced (checksum mismatch)", p)
        if dim != sum(widths):
            raise LibraryError(f"manifest: dim {dim} is not the sum of the widths {widths}", mpath)
        lib = cls(folder=folder, config=config, generation=int(name[4:]), created=str(m.get("created", "")),
                  updated=str(m.get("updated", "")))
        lib.files, lib.segments = _read_tables(gen / "meta.sqlite")
        lib.vectors = _load_npy(gen / "vectors.npy", np.float32, (n_files, dim))
        lib.segment_vectors = _load_npy(gen / "segments.npy", np.float32, (n_segments, dim))
        n_tags = len(config.get("tag_names") or [])
        lib.tag_scores = _load_npy(gen / "tags.npy", np.float16, (n_files, n_tags))
        if has_stats:
            lib.stats = _load_npy(gen / "stats.npy", np.float32, (2, dim))
        if len(lib.files) != n_files or len(lib.segments) != n_segments:
            raise LibraryError(f"table has {len(lib.files)} files and {len(lib.segments)} segments, the manifest "
                               f"{n_files} and {n_segments}", gen / "meta.sqlite")
        if any(not 0 <= s.file < n_files for s in lib.segments):
            raise LibraryError("a segment names a file that is not in the table", gen / "meta.sqlite")
        lib.file_index = VectorIndex.from_file(gen / "files.faiss", str(kinds.get("files")), dim)
        if len(lib.file_index) != n_files:
            raise LibraryError(f"index holds {len(lib.file_index)} vectors, the table {n_files} files",
                               gen / "files.faiss")
        seg = VectorIndex.from_file(gen / "segments.faiss", str(kinds.get("segments")), dim)
        if len(seg) != n_segments:
            raise LibraryError(f"index holds {len(seg)} vectors, the table {n_segments} segments",
                               gen / "segments.faiss")
        lib.segment_index = seg if n_segments else None
        return lib


def _current_generation(folder: Path) -> int | None:
    try:
        with open(folder / MANIFEST, encoding="utf-8") as fh:
            name = str(json.load(fh).get("generation", ""))
        return int(name[4:]) if _GEN_RE.match(name) else None
    except (OSError, ValueError, AttributeError, json.JSONDecodeError):
        return None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)


def _save_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def _load_npy(path: Path, dtype: Any, shape: tuple[int, int]) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # ValueError for a pickled object array, OSError / EOFError for a damaged file
        raise LibraryError(f"cannot read array ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})",
                           path) from None
    if not isinstance(arr, np.ndarray) or arr.dtype != np.dtype(dtype) or arr.shape != tuple(shape):
        raise LibraryError(f"array is {getattr(arr, 'dtype', '?')} {getattr(arr, 'shape', '?')}, expected "
                           f"{np.dtype(dtype)} {tuple(shape)}", path)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise LibraryError("array holds NaN or infinite values", path)
    return arr


def _read_tables(path: Path) -> tuple[list[FileEntry], list[SegmentEntry]]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LibraryError(f"cannot open metadata table ({exc})", path) from None
    try:
        rows = con.execute("SELECT row, path, hash, size, mtime_ns, duration, music_share, music_probability, "
                           "genre, genre_probability, genre_source, artist, artist_source, tags, fingerprint "
                           "FROM files ORDER BY row").fetchall()
        seg_rows = con.execute("SELECT row, file, start, end FROM segments ORDER BY row").fetchall()
        files = []
        for i, r in enumerate(rows):
            if r[0] != i:
                raise LibraryError(f"file rows are not 0..n-1 (row {r[0]} at {i})", path)
            tags = json.loads(r[13]) if r[13] else []
            if not isinstance(tags, list):
                raise LibraryError(f"row {i}: tags are not a list", path)
            files.append(FileEntry(path=str(r[1]), hash=str(r[2]), size=int(r[3]), mtime_ns=int(r[4]),
                                   duration=float(r[5]), music_share=_opt_float(r[6]),
                                   music_probability=_opt_float(r[7]), genre=r[8], genre_probability=_opt_float(r[9]),
                                   genre_source=str(r[10] or ""), artist=r[11], artist_source=str(r[12] or ""),
                                   tags=tags, fingerprint=bytes(r[14] or b"")))
        segments = []
        for i, r in enumerate(seg_rows):
            if r[0] != i:
                raise LibraryError(f"segment rows are not 0..n-1 (row {r[0]} at {i})", path)
            segments.append(SegmentEntry(int(r[1]), float(r[2]), float(r[3])))
        return files, segments
    except LibraryError:
        raise
    except (sqlite3.Error, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise LibraryError(f"damaged metadata table ({type(exc).__name__}: {exc})", path) from None
    finally:
        con.close()


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def entry_dict(e: FileEntry) -> dict[str, Any]:
    """A JSON-ready view of an entry (no fingerprint bytes)."""
    d = asdict(e)
    d.pop("fingerprint")
    return d


__all__ = ["FORMAT", "Library", "FileEntry", "MANIFEST", "SegmentEntry", "VERSION", "entry_dict"]
