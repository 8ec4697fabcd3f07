"""On-disk cache of computed arrays, keyed by a file's content and the parameters that produced them.

Key = blake2b of (the file's content hash, the canonical JSON of the parameters, :data:`CACHE_VERSION`).
Moving or renaming a file keeps its entries; editing it, or changing any parameter, makes a new key.

Entries are ``.npz`` files under ``root/<2 hex>/<key>.npz``, written to a temporary sibling and renamed
into place (:func:`soundsort.atomic.atomic_open`): two processes writing the same key at once both write
complete, identical files and the last rename wins; a reader never sees a partial entry. An entry that
cannot be read back (truncated, damaged, foreign) is recomputed and rewritten. Entries are loaded with
``allow_pickle=False``: a cache file can never run code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.atomic import atomic_open
from soundsort.errors import AudioError, ConfigError
from soundsort.paths import features_dir

#: Bump when the stored layout or the meaning of a key changes: old entries are then simply not found.
CACHE_VERSION = 1

_HASH_BLOCK = 1 << 20
_ENTRY_RE = re.compile(r"^[0-9a-f]{40}\.npz$")
_TMP_RE = re.compile(r"^\.[0-9a-f]{40}\.npz\..*\.tmp$")

_hash_memo: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def content_hash(path: str | os.PathLike[str]) -> str:
    """blake2b (160-bit, hex) of the file's bytes, read in 1 MiB blocks.

    Memoized in this process by (absolute path, size, mtime_ns): a file is read once per process until it
    changes. Raises :class:`AudioError` when the file is missing or unreadable.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise AudioError("file not found", p) from None
    except OSError as exc:
        raise AudioError(f"cannot read file ({exc.strerror})", p) from None
    if not p.is_file():
        raise AudioError("not a regular file", p)
    memo_key = (str(p.resolve()), int(st.st_size), int(st.st_mtime_ns))
    with _hash_lock:
        found = _hash_memo.get(memo_key)
    if found is not None:
        return found
    h = hashlib.blake2b(digest_size=20)
    try:
        with open(p, "rb") as fh:
            while block := fh.read(_HASH_BLOCK):
                h.update(block)
    except OSError as exc:
        raise AudioError(f"cannot read file ({exc.strerror})", p) from None
    digest = h.hexdigest()
    with _hash_lock:
        _hash_memo[memo_key] = digest
    return digest


def forget_content_hashes() -> None:
    """Empty this process's content-hash memo (benchmarks use it to time a fresh process)."""
    with _hash_lock:
        _hash_memo.clear()


def canonical_json(params: Mapping[str, Any]) -> str:
    """Parameters as canonical JSON: sorted keys, no spaces, tuples as lists, numpy scalars as numbers.

    Raises :class:`ConfigError` for values that have no stable JSON form (objects, NaN, ...).
    """
    try:
        return json.dumps(_plain(params), sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cache parameters are not JSON-able: {exc}") from None


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"parameter keys must be strings, got {k!r}")
            out[k] = _plain(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value}")
        # 3 and 3.0 must give the same key
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"{type(obj).__name__} value {obj!r}")


def cache_key(file_hash: str, params: Mapping[str, Any]) -> str:
    """The entry key (40 hex digits) for a file content hash and its parameters."""
    blob = f"{CACHE_VERSION}\n{file_hash}\n{canonical_json(params)}".encode()
    return hashlib.blake2b(blob, digest_size=20).hexdigest()


class FeatureCache:
    """Content- and parameter-keyed store of ``dict[str, np.ndarray]`` results.

    ``root`` defaults to :func:`soundsort.paths.features_dir`. With ``enabled=False`` nothing is read
    or written and every call computes. ``hits`` / ``misses`` count calls answered from disk / computed
    (a damaged entry counts as a miss, and ``damaged`` counts it too). Safe to share between threads and
    between processes (each with its own instance) on the same folder.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, enabled: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else features_dir()
        self.enabled = bool(enabled)
        self.hits = 0
        self.misses = 0
        self.damaged = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"FeatureCache({str(self.root)!r}, {state}, hits={self.hits}, misses={self.misses})"

    def entry_path(self, path: str | os.PathLike[str], params: Mapping[str, Any]) -> Path:
        """Where the entry for ``path`` (by content) and ``params`` lives (whether or not it exists)."""
        key = cache_key(content_hash(path), params)
        return self.root / key[:2] / f"{key}.npz"

    def get_or_compute(
        self,
        path: str | os.PathLike[str],
        params: Mapping[str, Any],
        compute: Callable[[], Mapping[str, np.ndarray]],
    ) -> dict[str, np.ndarray]:
        """The stored arrays for (``path``'s content, ``params``), or ``compute()``'s, stored for next time.

        ``compute`` returns named arrays (numeric / bool / string dtypes; no object arrays). The
        result is the same dict of arrays whether it came from disk or from ``compute``.
        """
        if not self.enabled:
            self._count(miss=True)
            return _validated(compute())
        entry = self.entry_path(path, params)
        if entry.exists():
            stored = _read(entry)
            if stored is not None:
                self._count(miss=False)
                return stored
            with self._lock:
                self.damaged += 1
        result = _validated(compute())
        self._count(miss=True)
        self._write(entry, result)
        return result

    def _count(self, *, miss: bool) -> None:
        with self._lock:
            if miss:
                self.misses += 1
            else:
                self.hits += 1

    def _write(self, entry: Path, arrays: dict[str, np.ndarray]) -> None:
        try:
            with atomic_open(entry, "wb") as fh:
                np.savez(fh, **arrays)
        except OSError:
            # a cache that cannot be written (read-only, full disk) must not fail the computation
            pass

    def clear(self) -> int:
        """Delete every entry (and leftover temporary file) under ``root``; returns how many entries went.

        Only files named like cache entries are touched, so a mistaken ``root`` loses nothing else.
        """
        removed = 0
        if not self.root.is_dir():
            return 0
        for sub in self.root.iterdir():
            if not (sub.is_dir() and re.fullmatch(r"[0-9a-f]{2}", sub.name)):
                continue
            for f in sub.iterdir():
                if _ENTRY_RE.match(f.name) or _TMP_RE.match(f.name):
                    try:
                        f.unlink()
                        removed += int(f.suffix == ".npz")
                    except FileNotFoundError:
                        pass
            try:
                sub.rmdir()
            except OSError:
                pass  # not empty (foreign files) or already gone
        return removed

    def reset_counters(self) -> None:
        """Set ``hits``, ``misses`` and ``damaged`` back to 0."""
        with self._lock:
            self.hits = self.misses = self.damaged = 0


def _validated(result: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(result, Mapping):
        raise TypeError(f"compute() must return a dict of arrays, got {type(result).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, value in result.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"array names must be identifiers, got {name!r}")
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError(f"array {name!r} has object dtype; the cache stores plain arrays only")
        out[name] = arr
    return out


def _read(entry: Path) -> dict[str, np.ndarray] | None:
    """All arrays of an entry, or None when it cannot be read back completely."""
    try:
        # our own handle: np.load leaks the one it opens when the file turns out to be damaged
        with open(entry, "rb") as fh:
            npz = np.load(fh, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                return None  # a bare .npy, not an entry
            with npz:
                return {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        return None  # removed between exists() and open: recompute
    except Exception:  # BadZipFile, ValueError (pickled / bad header), OSError, EOFError, zlib.error, ...
        return None


__all__ = ["CACHE_VERSION", "FeatureCache", "cache_key", "canonical_json", "content_hash", "forget_content_hashes"]
