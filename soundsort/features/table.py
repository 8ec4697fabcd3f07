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
    from soundsort.cache import FeatureCache
    from soundsort.features.registry import featurize_file

    if isinstance(cache, tuple):  # (root, enabled) sent to a worker process
        cache = FeatureCache(cache[0], enabled=cache[1])

    try:
        seg = featurize_file(featurizer, path, cache=cache)
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
    tasks = [(featurizer, p, cache) for p in str_paths]
    results: list[tuple[np.ndarray, np.ndarray] | str] = []
    if jobs <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            results.append(_one(t))
            if progress:
                progress(i + 1, len(tasks), t[1])
    else:
        if cache is not None:  # a cache object holds a lock; workers open their own on the same folder
            tasks = [(featurizer, p, (str(cache.root), cache.enabled)) for p in str_paths]
        with ProcessPoolExecutor(max_workers=jobs, initializer=_limit_threads) as pool:
            for i, res in enumerate(pool.map(_one, tasks, chunksize=1)):
                results.append(res)
                if progress:
                    progress(i + 1, len(tasks), str_paths[i])
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
