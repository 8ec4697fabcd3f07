"""Features of augmented training copies: each file degraded ``copies`` times, then featurized.

A copy is made by :func:`soundsort.audio.augment.augment_copy` (1-2 s crop, telephone band, noise at
0-10 dB SNR, gain with clipping) from a generator seeded by the file's *content*, the copy number and
``seed``, so the same file gets the same copies wherever it sits in a dataset, and copies are cached like
plain features (keyed additionally by the augmentation settings and the noise recordings' contents).

Each augmented segment remembers its source file and the noise recording mixed into it. Cross-validation
uses a copy for training only when both are in the training part (:func:`augmented_rows`), so a test clip
never reaches training disguised as another clip's noise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.augment import AugmentConfig, NoisePool, augment_copy
from soundsort.audio.decode import info, is_audio_path, load
from soundsort.cache import content_hash
from soundsort.errors import ConfigError, SoundsortError
from soundsort.features.table import ProgressFn, cache_spec, open_cache, run_pool


@dataclass
class AugmentedTable:
    """Segment vectors of augmented copies.

    ``values[n, ...]`` match the plain feature table's layout; ``source[n]`` is the index (in the plain
    table's ``paths``) of the file each segment was made from; ``noise[n]`` is the index of the
    *dataset file* whose audio was mixed in, or -1 when no noise was mixed or it came from outside the
    dataset. ``failed`` lists ``(path, reason)`` of files whose copies could not be made.
    """

    values: np.ndarray
    source: np.ndarray
    noise: np.ndarray
    copies: int
    failed: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.source)


def augmented_rows(table: AugmentedTable | None, files: np.ndarray) -> np.ndarray:
    """Rows of ``table`` usable when training on ``files``: source and mixed-in noise both among them."""
    if table is None or len(table) == 0:
        return np.zeros(0, np.int64)
    files = np.asarray(files)
    ok = np.isin(table.source, files) & ((table.noise < 0) | np.isin(table.noise, files))
    return np.flatnonzero(ok)


def noise_files(folders: Sequence[str | Path]) -> list[Path]:
    """Every audio file under the given folders (recursively, sorted, hidden files skipped)."""
    found: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if root.is_file() and is_audio_path(root):
            found.append(root)
            continue
        if not root.is_dir():
            raise ConfigError(f"{root}: noise folder not found")
        found += sorted(p for p in root.rglob("*") if p.is_file() and is_audio_path(p)
                        and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if folders and not found:
        raise ConfigError(f"no audio files in the noise folder(s): {', '.join(str(f) for f in folders)}")
    return found


def _noise_digest(paths: Sequence[str]) -> str:
    """One hash of the noise recordings' contents (checking each has a readable audio header)."""
    h = hashlib.blake2b(digest_size=16)
    for p in paths:
        info(p)
        h.update(content_hash(p).encode())
    return h.hexdigest()


def _copies_of(args: tuple[Any, ...]) -> list[tuple[np.ndarray, int]] | str:
    """Featurized augmented copies of one file: ``[(values, noise index into the noise list), ...]``."""
    featurizer, path, copies, noises, digest, seed, cfg, cache = args
    from soundsort.features.extract import cache_params, featurize_array

    cache = open_cache(cache)
    try:
        file_seed = int(content_hash(path)[:15], 16)
        pool = NoisePool(noises, featurizer.sr)
        decoded: list[np.ndarray] = []
        out = []
        for c in range(copies):
            def compute(c: int = c) -> dict[str, np.ndarray]:
                if not decoded:
                    decoded.append(load(path, featurizer.sr)[0])
                rng = np.random.default_rng([file_seed, int(seed), c])
                made = augment_copy(decoded[0], featurizer.sr, rng, pool, cfg)
                got = featurize_array(featurizer, made.y)
                return {"values": got.values, "noise": np.array([made.noise_index], np.int64)}

            params = {**cache_params(featurizer),
                      "augment": {**asdict(cfg), "copy": c, "seed": int(seed), "noises": digest}}
            arrays = compute() if cache is None else cache.get_or_compute(path, params, compute)
            out.append((arrays["values"], int(arrays["noise"][0])))
        return out
    except SoundsortError as exc:
        return str(exc)
    except Exception as exc:  # one file's failure must not end the run
        return f"{path}: {type(exc).__name__}: {exc}"


def build_augmented_table(
    paths: Sequence[str | Path],
    featurizer: Any,
    *,
    copies: int,
    noises: Sequence[str | Path] = (),
    seed: int = 0,
    cfg: AugmentConfig = AugmentConfig(),
    cache: Any = None,
    jobs: int = 1,
    progress: ProgressFn | None = None,
) -> AugmentedTable:
    """``copies`` augmented copies of every file in ``paths``, featurized (see the module docstring).

    ``noises`` are the recordings mixed in at ``cfg.snr_db``; one that is also in ``paths`` is recorded
    as that file's index in ``noise``. A file (or noise) that cannot be decoded is listed in ``failed``.
    """
    if copies < 1:
        raise ConfigError(f"augmented copies must be at least 1, got {copies}")
    str_paths = [str(p) for p in paths]
    noise_list = [str(p) for p in noises]
    try:
        digest = _noise_digest(noise_list)
    except SoundsortError as exc:
        raise ConfigError(f"noise recording unreadable: {exc}") from None
    where = {str(Path(p).resolve()): i for i, p in enumerate(str_paths)}
    noise_item = np.array([where.get(str(Path(p).resolve()), -1) for p in noise_list] + [-1], np.int64)
    parallel = jobs > 1 and len(str_paths) > 1
    shared = cache_spec(cache) if parallel else cache
    tasks = [(featurizer, p, int(copies), noise_list, digest, int(seed), cfg, shared) for p in str_paths]
    results = run_pool(_copies_of, tasks, jobs=jobs if parallel else 1, progress=progress, names=str_paths)
    values, source, noise, failed = [], [], [], []
    for i, res in enumerate(results):
        if isinstance(res, str):
            failed.append((str_paths[i], res))
            continue
        for v, n in res:
            if len(v) == 0:
                continue
            values.append(v)
            source.append(np.full(len(v), i, np.int64))
            noise.append(np.full(len(v), noise_item[n], np.int64))  # n = -1 → the trailing -1
    if not values:
        empty = np.zeros(0, np.int64)
        return AugmentedTable(np.zeros((0, 0), np.float32), empty, empty.copy(), int(copies), failed)
    return AugmentedTable(np.concatenate(values), np.concatenate(source), np.concatenate(noise), int(copies), failed)
