"""Turning a list of files into one segment-level feature table (with a pool of worker processes)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.errors import SoundsortError

ProgressFn = Callable[[int, int, str], None]


@dataclass
class FeatureTable:
    """Segment vectors of many files.

    ``values[n_segments, ...]`` are the features, ``file_index[n_segments]`` says which of ``paths``
    each segment came from, ``times[n_segments, 2]`` its start/end in seconds. Files that failed are
    listed in ``failed`` as ``(path, reason)`` and have no segments.
    """

    paths: list[str]
    values: np.ndarray
    file_index: np.ndarray
    times: np.ndarray
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_files(self) -> int:
        return len(self.paths)

    def ok_files(self) -> np.ndarray:
        """Indices of files that have at least one segment."""
        return np.unique(self.file_index)

    def segments_of(self, files: np.ndarray) -> np.ndarray:
        """Segment indices belonging to the given file indices (in segment order)."""
        return np.flatnonzero(np.isin(self.file_index, files))


def _one(args: tuple[Any, str, Any]) -> tuple[np.ndarray, np.ndarray] | str:
    featurizer, path, cache = args
    from soundsort.features.extract import featurize_file

    try:
        seg = featurize_file(featurizer, path, cache=open_cache(cache))
    except SoundsortError as exc:
        return str(exc)
    except Exception as exc:  # a bug or a library failure on one file must not end a batch
        return f"{path}: {type(exc).__name__}: {exc}"
    return seg.values, seg.times


def _limit_threads() -> None:
    # worker processes each use one core: no nested BLAS / OpenMP thread pools fighting over the cores
    # (env vars alone are too late in a forked worker whose parent already loaded numpy)
    from threadpoolctl import threadpool_limits

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    threadpool_limits(1)


def cache_spec(cache: Any) -> Any:
    """What to send a worker process for ``cache``: a cache object holds a lock, so workers open their own
    on the same folder from ``(root, enabled)``."""
    return None if cache is None else (str(cache.root), cache.enabled)


def open_cache(spec: Any) -> Any:
    """The cache a worker uses, from :func:`cache_spec`'s answer (or a cache object, in-process)."""
    if isinstance(spec, tuple):
        from soundsort.cache import FeatureCache

        return FeatureCache(spec[0], enabled=spec[1])
    return spec


def run_pool(fn: Callable[[Any], Any], tasks: Sequence[Any], *, jobs: int = 1, progress: ProgressFn | None = None,
             names: Sequence[str] | None = None) -> list[Any]:
    """``[fn(t) for t in tasks]``, in order, in ``jobs`` worker processes (one BLAS thread each) when > 1.

    ``progress(done, total, name)`` is called after each task; ``fn`` must be a module-level function.
    """
    names = names if names is not None else [str(i) for i in range(len(tasks))]
    results: list[Any] = []
    if jobs <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            results.append(fn(t))
            if progress:
                progress(i + 1, len(tasks), names[i])
        return results
    with ProcessPoolExecutor(max_workers=jobs, initializer=_limit_threads) as pool:
        for i, res in enumerate(pool.map(fn, tasks, chunksize=1)):
            results.append(res)
            if progress:
                progress(i + 1, len(tasks), names[i])
    return results


def build_feature_table(
    paths: Sequence[str | Path],
    featurizer: Any,
    *,
    cache: Any = None,
    jobs: int = 1,
    progress: ProgressFn | None = None,
) -> FeatureTable:
    """Featurize every file (segments per file), in order, with ``jobs`` worker processes.

    Files that fail are recorded in ``failed`` with a one-line reason; the rest go on.
    """
    str_paths = [str(p) for p in paths]
    parallel = jobs > 1 and len(str_paths) > 1
    shared = cache_spec(cache) if parallel else cache
    results = run_pool(_one, [(featurizer, p, shared) for p in str_paths], jobs=jobs if parallel else 1,
                       progress=progress, names=str_paths)
    values, index, times, failed = [], [], [], []
    for i, res in enumerate(results):
        if isinstance(res, str):
            failed.append((str_paths[i], res))
            continue
        v, t = res
        if len(v) == 0:
            failed.append((str_paths[i], f"{str_paths[i]}: too short for one segment"))
            continue
        values.append(v)
        times.append(t)
        index.append(np.full(len(v), i, dtype=np.int64))
    if not values:
        return FeatureTable(str_paths, np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros((0, 2)), failed)
    return FeatureTable(str_paths, np.concatenate(values), np.concatenate(index), np.concatenate(times), failed)
