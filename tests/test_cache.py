"""The content- and parameter-keyed feature cache."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import pytest

from soundsort.cache import (
    FeatureCache,
    cache_key,
    canonical_json,
    content_hash,
    forget_content_hashes,
)
from soundsort.errors import AudioError, ConfigError

PARAMS = {"name": "test", "version": 1, "n_fft": 2048, "stats": ["mean", "std"]}


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, value: float = 1.0) -> None:
        self.calls = 0
        self.value = value

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        return {"values": np.full((3, 4), self.value, np.float32), "times": np.arange(6.0).reshape(3, 2)}


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    p = tmp_path / "a.wav"
    p.write_bytes(b"RIFF" + os.urandom(4000))
    return p


def test_second_call_computes_nothing(tmp_path: Path, audio: Path) -> None:
    cache, compute = FeatureCache(tmp_path / "c"), Counter()
    first = cache.get_or_compute(audio, PARAMS, compute)
    second = cache.get_or_compute(audio, PARAMS, compute)
    assert compute.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    assert set(second) == {"values", "times"}
    for k in first:
        assert second[k].dtype == first[k].dtype
        np.testing.assert_array_equal(second[k], first[k])
    # a new instance on the same folder (another process, later) finds it too
    other = FeatureCache(tmp_path / "c")
    other.get_or_compute(audio, PARAMS, compute)
    assert compute.calls == 1 and other.hits == 1


def test_parameter_change_recomputes(tmp_path: Path, audio: Path) -> None:
    cache, compute = FeatureCache(tmp_path / "c"), Counter()
    cache.get_or_compute(audio, PARAMS, compute)
    cache.get_or_compute(audio, {**PARAMS, "n_fft": 1024}, compute)
    cache.get_or_compute(audio, {**PARAMS, "version": 2}, compute)
    assert compute.calls == 3
    # key order, tuple vs list, 3 vs 3.0 do not matter
    reordered = {"stats": ("mean", "std"), "n_fft": 2048.0, "version": 1, "name": "test"}
    cache.get_or_compute(audio, reordered, compute)
    assert compute.calls == 3
    assert canonical_json(reordered) == canonical_json(PARAMS)
    with pytest.raises(ConfigError):
        canonical_json({"x": object()})
    with pytest.raises(ConfigError):
        canonical_json({"x": float("nan")})


def test_content_change_recomputes_and_moving_does_not(tmp_path: Path, audio: Path) -> None:
    cache, compute = FeatureCache(tmp_path / "c"), Counter()
    cache.get_or_compute(audio, PARAMS, compute)
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(audio.read_bytes())
    cache.get_or_compute(copy, PARAMS, compute)  # same bytes elsewhere: a hit
    assert compute.calls == 1
    audio.write_bytes(audio.read_bytes() + b"more")
    cache.get_or_compute(audio, PARAMS, compute)
    assert compute.calls == 2 and cache.misses == 2


def test_content_hash_is_memoized_by_size_and_mtime(tmp_path: Path, audio: Path) -> None:
    h1 = content_hash(audio)
    st = audio.stat()
    data = bytearray(audio.read_bytes())
    data[-1] ^= 0xFF
    audio.write_bytes(bytes(data))
    os.utime(audio, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: memo answers
    assert content_hash(audio) == h1
    forget_content_hashes()
    assert content_hash(audio) != h1
    with pytest.raises(AudioError):
        content_hash(tmp_path / "missing.wav")


def test_damaged_entry_is_recomputed_and_rewritten(tmp_path: Path, audio: Path) -> None:
    cache, compute = FeatureCache(tmp_path / "c"), Counter()
    cache.get_or_compute(audio, PARAMS, compute)
    entry = cache.entry_path(audio, PARAMS)
    bare = io.BytesIO()
    np.save(bare, np.zeros(3))  # a valid .npy, but not an entry
    for damage in (entry.read_bytes()[:100], b"", b"not a zip at all", bare.getvalue()):
        entry.write_bytes(damage)
        got = cache.get_or_compute(audio, PARAMS, compute)
        np.testing.assert_array_equal(got["values"], np.ones((3, 4), np.float32))
    assert compute.calls == 5 and cache.damaged == 4
    cache.get_or_compute(audio, PARAMS, compute)  # rewritten: whole again
    assert compute.calls == 5 and cache.hits == 1


class _Trap:
    """Unpickling this would leave a marker file behind."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_an_entry_is_never_unpickled(tmp_path: Path, audio: Path) -> None:
    cache, compute = FeatureCache(tmp_path / "c"), Counter()
    entry = cache.entry_path(audio, PARAMS)
    entry.parent.mkdir(parents=True)
    marker = tmp_path / "pwned"
    with open(entry, "wb") as fh:
        np.savez(fh, values=np.array([_Trap(str(marker))], dtype=object))
    got = cache.get_or_compute(audio, PARAMS, compute)
    assert not marker.exists()
    assert compute.calls == 1 and cache.damaged == 1 and got["values"].dtype == np.float32
    with pytest.raises(TypeError):
        cache.get_or_compute(audio, {**PARAMS, "n": 2}, lambda: {"x": np.array([object()])})


def test_disabled_cache_always_computes_and_writes_nothing(tmp_path: Path, audio: Path) -> None:
    root = tmp_path / "c"
    cache, compute = FeatureCache(root, enabled=False), Counter()
    cache.get_or_compute(audio, PARAMS, compute)
    cache.get_or_compute(audio, PARAMS, compute)
    assert compute.calls == 2 and cache.hits == 0 and cache.misses == 2
    assert not root.exists()


def test_clear_removes_entries_only(tmp_path: Path, audio: Path) -> None:
    root = tmp_path / "c"
    cache, compute = FeatureCache(root), Counter()
    cache.get_or_compute(audio, PARAMS, compute)
    cache.get_or_compute(audio, {**PARAMS, "n_fft": 512}, compute)
    (root / "keep.txt").write_text("mine")
    assert cache.clear() == 2
    assert (root / "keep.txt").exists() and not list(root.glob("*/*.npz"))
    cache.get_or_compute(audio, PARAMS, compute)
    assert compute.calls == 3


def test_default_root_is_the_features_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOUNDSORT_CACHE_DIR", str(tmp_path / "home"))
    assert FeatureCache().root == tmp_path / "home" / "features"


def test_key_depends_on_content_params_and_version() -> None:
    assert cache_key("a" * 40, PARAMS) != cache_key("b" * 40, PARAMS)
    assert cache_key("a" * 40, PARAMS) != cache_key("a" * 40, {**PARAMS, "x": 1})
    assert len(cache_key("a" * 40, PARAMS)) == 40


def test_unwritable_cache_still_returns_results(tmp_path: Path, audio: Path) -> None:
    root = tmp_path / "not-a-folder"
    root.write_text("a file where the cache folder should be")  # fails even for root, unlike chmod
    cache, compute = FeatureCache(root), Counter()
    got = cache.get_or_compute(audio, PARAMS, compute)
    assert got["values"].shape == (3, 4) and compute.calls == 1 and cache.misses == 1


# ---------------------------------------------------------------------------------------------- processes

_BIG = 2_000_000  # 8 MB per entry: writes take long enough to overlap


def _writer(root: str, path: str, barrier, seed: int, out) -> None:
    cache = FeatureCache(root)

    def compute() -> dict[str, np.ndarray]:
        barrier.wait(timeout=60)  # both processes have missed before either writes
        return {"values": np.arange(_BIG, dtype=np.float32), "seed": np.array(seed)}

    got = cache.get_or_compute(path, PARAMS, compute)
    out.put((cache.misses, float(got["values"].sum())))


def test_two_processes_writing_one_key_leave_a_valid_entry(tmp_path: Path, audio: Path) -> None:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    root = tmp_path / "c"
    procs = [ctx.Process(target=_writer, args=(str(root), str(audio), barrier, i, out)) for i in range(2)]
    for p in procs:
        p.start()
    # meanwhile, every read of the entry is complete or absent, never partial
    entry = FeatureCache(root).entry_path(audio, PARAMS)
    reads = 0
    deadline = time.monotonic() + 60
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        if entry.exists():
            with np.load(entry, allow_pickle=False) as npz:
                assert npz["values"].shape == (_BIG,)
            reads += 1
        time.sleep(0.005)
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert [r[0] for r in results] == [1, 1]  # both computed: a true race on one key
    expected = float(np.arange(_BIG, dtype=np.float32).sum())
    assert all(r[1] == expected for r in results)
    cache, compute = FeatureCache(root), Counter()
    got = cache.get_or_compute(audio, PARAMS, compute)
    assert compute.calls == 0 and cache.hits == 1
    np.testing.assert_array_equal(got["values"], np.arange(_BIG, dtype=np.float32))
    assert int(got["seed"]) in (0, 1)
    assert not [f for f in entry.parent.iterdir() if f.name.endswith(".tmp")]  # no temporary left over
