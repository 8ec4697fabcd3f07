"""The search space of a library and its vector index (faiss).

**Search space**: each feature set's block of a vector is standardized with the library's per-dimension
mean and standard deviation (``normalize="zscore"``, the default; ``"none"`` skips it), scaled to unit
length, and the blocks are concatenated and scaled by ``1/sqrt(blocks)``: inner product = mean cosine over
the backbones, each counted once whatever its width. The statistics need :data:`MIN_FILES_FOR_STATS` files;
a smaller library is searched on the unit-length blocks alone. ``index="flat"`` searches exactly; ``"hnsw"`` is
faiss's HNSW graph (approximate, for large libraries); ``"auto"`` takes flat below
:data:`HNSW_FROM` vectors and HNSW from there on.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.errors import LibraryError

INDEX_KINDS = ("auto", "flat", "hnsw")
NORMALIZATIONS = ("zscore", "none")
#: ``index="auto"`` uses an exact flat index below this many vectors, HNSW from here on
HNSW_FROM = 20_000
#: fewer files than this give no standardization statistics (their mean and spread say little)
MIN_FILES_FOR_STATS = 8
#: HNSW graph degree, construction and search breadth (measured in benchmarks/bench_similar.py)
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 256

_THREADS: list[int] = []


def _max_threads() -> int:
    if not _THREADS:
        _THREADS.append(int(_faiss().omp_get_max_threads()))
    return _THREADS[0]


def _faiss():
    try:
        import faiss
    except ImportError:
        raise LibraryError("the vector index needs faiss: pip install 'soundsort[library]' (faiss-cpu)") from None
    return faiss


def block_slices(widths: list[int]) -> list[slice]:
    """Column ranges of the feature-set blocks of a vector."""
    out, start = [], 0
    for w in widths:
        out.append(slice(start, start + int(w)))
        start += int(w)
    return out


def fit_stats(raw: np.ndarray) -> np.ndarray:
    """``(2, D)`` per-dimension mean and standard deviation (floored) of raw vectors (zeros / ones if none)."""
    if len(raw) == 0:
        return np.stack([np.zeros(raw.shape[1], np.float32), np.ones(raw.shape[1], np.float32)])
    mean = raw.mean(axis=0, dtype=np.float64)
    std = raw.std(axis=0, dtype=np.float64)
    floor = max(float(np.median(std)) * 1e-2, 1e-6)  # constant dimensions neither dominate nor divide by 0
    return np.stack([mean, np.maximum(std, floor)]).astype(np.float32)


def normalize(raw: np.ndarray, widths: list[int], stats: np.ndarray | None) -> np.ndarray:
    """The search-space vectors of ``raw`` (module docstring): standardized (with ``stats``), per block unit
    length, scaled by ``1/sqrt(blocks)``. A block that is all zero stays zero."""
    x = np.asarray(raw, dtype=np.float32).reshape(-1, sum(widths)).copy()
    if stats is not None:
        x = (x - stats[0]) / stats[1]
    scale = 1.0 / math.sqrt(len(widths))
    for sl in block_slices(widths):
        norm = np.linalg.norm(x[:, sl], axis=1, keepdims=True)
        x[:, sl] *= scale / np.maximum(norm, 1e-12)
    return np.ascontiguousarray(x, dtype=np.float32)


#: the first bytes of faiss's serialization of each index kind soundsort writes
_MAGIC = {"flat": b"IxFI", "hnsw": b"IHNf"}


class VectorIndex:
    """Inner-product search over unit vectors with faiss: exact (``flat``) or HNSW."""

    def __init__(self, kind: str, dim: int, index: Any = None) -> None:
        if kind not in ("flat", "hnsw"):
            raise LibraryError(f"unknown index kind {kind!r} (flat, hnsw)")
        self.kind, self.dim = kind, int(dim)
        faiss = _faiss()
        if index is None:
            if kind == "flat":
                index = faiss.IndexFlatIP(self.dim)
            else:
                index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        if kind == "hnsw":
            index.hnsw.efSearch = HNSW_EF_SEARCH
        self.index = index

    @classmethod
    def build(cls, kind: str, vectors: np.ndarray) -> VectorIndex:
        """An index of ``vectors`` (row i gets id i); ``kind`` may be ``auto``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if kind == "auto":
            kind = "hnsw" if len(vectors) >= HNSW_FROM else "flat"
        idx = cls(kind, vectors.shape[1])
        if len(vectors):
            idx.index.add(vectors)
        return idx

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(similarities[m, k], ids[m, k])``, best first; id -1 where fewer than k exist."""
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        k = max(1, min(int(k), max(1, len(self))))
        if len(self) == 0:
            return np.zeros((len(q), k), np.float32), np.full((len(q), k), -1, np.int64)
        faiss = _faiss()
        # one query at a time is fastest on one thread (OpenMP's start-up and spinning cost more than the scan
        # itself, badly so on a busy machine); batches use every core
        faiss.omp_set_num_threads(1 if len(q) < 16 else _max_threads())
        try:
            sims, ids = self.index.search(q, k)
        finally:
            faiss.omp_set_num_threads(_max_threads())
        return sims, ids

    def to_bytes(self) -> bytes:
        return _faiss().serialize_index(self.index).tobytes()

    @classmethod
    def from_file(cls, path: Path, kind: str, dim: int) -> VectorIndex:
        if kind not in _MAGIC:
            raise LibraryError(f"manifest: unknown index kind {kind!r}", path)
        faiss = _faiss()
        data = np.fromfile(path, dtype=np.uint8)
        magic = _MAGIC[kind]
        if data[:4].tobytes() != magic:  # only the two index types soundsort writes reach faiss's reader
            raise LibraryError(f"not a faiss {kind} index (starts with {data[:4].tobytes()!r}, not {magic!r})", path)
        try:
            index = faiss.deserialize_index(data)
        except Exception as exc:  # faiss raises RuntimeError for a file it cannot parse
            raise LibraryError(f"damaged index ({' '.join(str(exc).split())[:160]})", path) from None
        want = faiss.IndexFlatIP if kind == "flat" else faiss.IndexHNSWFlat
        if not isinstance(index, want) or index.d != dim:
            raise LibraryError(f"index is not a {kind} index of dimension {dim}", path)
        return cls(kind, dim, index)


__all__ = ["HNSW_EF_CONSTRUCTION", "HNSW_EF_SEARCH", "HNSW_FROM", "HNSW_M", "INDEX_KINDS", "MIN_FILES_FOR_STATS",
           "NORMALIZATIONS", "VectorIndex", "block_slices", "fit_stats", "normalize"]
