"""Feature extraction speed, in seconds of audio per second, on the real files in ``../shared/data``.

Measures, on the same files in one run:

* decoding (``soundsort.audio.load`` to the featurizer's rate, mono);
* our featurizer (default ``handcrafted``) on the decoded signal, and cold end to end (decode + features,
  no cache);
* the first pass through a fresh feature cache (decode + features + hash + write) and a second, warm
  pass (hash + read), each in fresh worker processes so the in-process hash memo does not help;
* the ``mfcc`` baseline featurizer, and librosa's own ``librosa.feature.mfcc(y=y, sr=sr)`` on the same
  decoded signals (the reference point), alone and with decoding.

Per-process rows add up each file's time (so they do not depend on ``--jobs``); the two cache rows are
wall-clock over ``--jobs`` worker processes. BLAS is capped at ``--threads`` (default 1) per worker: on
a shared or busy machine OpenBLAS's own threads spin against each other and make every row several
times slower (measured ~4x on 2 busy cores). Prints a markdown table; ``--out FILE`` appends it to FILE.

    .venv/bin/python benchmarks/bench_features.py --limit 10
    .venv/bin/python benchmarks/bench_features.py --jobs 2 --out benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import multiprocessing as mp
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

import librosa  # noqa: E402
import numpy as np  # noqa: E402

from soundsort.audio.decode import is_audio_path, load  # noqa: E402
from soundsort.cache import FeatureCache, forget_content_hashes  # noqa: E402
from soundsort.features import (  # noqa: E402
    Featurizer,
    featurize_array,
    featurize_file,
    get_featurizer,
)
from soundsort.system import environment_line  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

_FEAT: Featurizer | None = None
_BASE: Featurizer | None = None
_CACHE: FeatureCache | None = None
_LIMITS = None


@dataclass
class FileTimes:
    audio_s: float
    decode: float
    features: float
    baseline_mfcc: float
    librosa_mfcc: float


def _init(featurizer: str, cache_root: str | None, threads: int) -> None:
    """Worker start: cap BLAS threads, build the featurizers once, warm librosa up (first calls import/compile)."""
    global _FEAT, _BASE, _CACHE, _LIMITS
    if threads > 0:
        from threadpoolctl import threadpool_limits

        _LIMITS = threadpool_limits(limits=threads)
    forget_content_hashes()
    _FEAT = get_featurizer(featurizer)
    _BASE = get_featurizer("mfcc", sr=_FEAT.sr)
    _CACHE = FeatureCache(cache_root) if cache_root else None
    y = np.random.default_rng(0).uniform(-0.5, 0.5, _FEAT.sr * 4).astype(np.float32)
    _FEAT.segment_vectors(y)
    _BASE.segment_vectors(y)
    librosa.feature.mfcc(y=y, sr=_FEAT.sr)


def _ready(_: int) -> int:
    return os.getpid()


def _measure(path: str) -> FileTimes:
    """Decode once, then time our featurizer, the mfcc baseline and librosa's mfcc on the same signal."""
    assert _FEAT is not None and _BASE is not None
    t0 = time.perf_counter()
    y, sr = load(path, _FEAT.sr)
    t1 = time.perf_counter()
    featurize_array(_FEAT, y)
    t2 = time.perf_counter()
    featurize_array(_BASE, y)
    t3 = time.perf_counter()
    librosa.feature.mfcc(y=y, sr=sr)
    t4 = time.perf_counter()
    return FileTimes(len(y) / sr, t1 - t0, t2 - t1, t3 - t2, t4 - t3)


def _through_cache(path: str) -> bool:
    """featurize_file through the cache; True when it was answered from disk."""
    assert _FEAT is not None and _CACHE is not None
    before = _CACHE.hits
    featurize_file(_FEAT, path, _CACHE)
    return _CACHE.hits > before


def _pool(jobs: int, featurizer: str, cache_root: str | None, threads: int):
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ctx.Pool(jobs, initializer=_init, initargs=(featurizer, cache_root, threads))
    pool.map(_ready, range(jobs), chunksize=1)  # wait for the workers' warm-up before timing
    return pool


def _timed_cache_pass(files: list[str], jobs: int, featurizer: str, cache_root: str,
                      threads: int) -> tuple[float, int]:
    """Wall-clock of one pass of featurize_file through the cache in fresh processes → (seconds, hits)."""
    with _pool(jobs, featurizer, cache_root, threads) as pool:
        t0 = time.perf_counter()
        hits = pool.map(_through_cache, files, chunksize=1)
        wall = time.perf_counter() - t0
    return wall, int(sum(hits))


def discover(root: Path, limit: int | None) -> list[str]:
    """Audio files under ``root`` sorted by path; with ``limit``, that many spread evenly over the list."""
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and is_audio_path(p))
    if limit is not None and 0 < limit < len(files):
        idx = np.unique(np.linspace(0, len(files) - 1, limit).round().astype(int))
        files = [files[i] for i in idx]
    return files


def _row(name: str, basis: str, files: int, audio: float, seconds: float) -> str:
    speed = audio / seconds if seconds > 0 else float("inf")
    return f"| {name} | {basis} | {files} | {audio:.1f} | {seconds:.2f} | {speed:,.0f} |"


def run(args: argparse.Namespace) -> str:
    data = Path(args.data).resolve()
    files = discover(data, args.limit)
    if not files:
        raise SystemExit(f"no audio files under {data}")
    jobs = max(1, int(args.jobs))

    # pass 1: decode + features + baselines per file (per-process times)
    with _pool(jobs, args.featurizer, None, args.threads) as pool:
        t0 = time.perf_counter()
        times: list[FileTimes] = pool.map(_measure, files, chunksize=1)
        pass1_wall = time.perf_counter() - t0
    audio = sum(t.audio_s for t in times)
    dec = sum(t.decode for t in times)
    ours = sum(t.features for t in times)
    base = sum(t.baseline_mfcc for t in times)
    lib = sum(t.librosa_mfcc for t in times)

    # passes 2 and 3: through a fresh cache, then warm, each in fresh worker processes
    with tempfile.TemporaryDirectory(prefix="soundsort-bench-cache-") as tmp:
        root = args.cache_dir or tmp
        FeatureCache(root).clear()
        cold_wall, cold_hits = _timed_cache_pass(files, jobs, args.featurizer, root, args.threads)
        warm_wall, warm_hits = _timed_cache_pass(files, jobs, args.featurizer, root, args.threads)
    feat = get_featurizer(args.featurizer)

    n = len(files)
    per = "per process"
    wall = f"wall, {jobs} job{'s' if jobs > 1 else ''}"
    cmd = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    lines = [
        f"### Feature extraction speed — {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        "",
        f"- command: `{cmd}`",
        f"- machine: {platform.platform()}; os.cpu_count()={os.cpu_count()}; {environment_line()}, "
        f"librosa {librosa.__version__}; "
        f"{jobs} worker process(es), BLAS threads per worker: {args.threads or 'library default'}",
        f"- data: `{data}` — {n} files, {audio:.1f} s of audio at {feat.sr} Hz; featurizer "
        f"`{args.featurizer}` ({len(feat.feature_names()) or 'image'} features per segment)",
        "",
        "| measurement | basis | files | audio (s) | time (s) | audio s / s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        _row("decode (load → mono, resampled)", per, n, audio, dec),
        _row(f"{args.featurizer}: features only (decoded input)", per, n, audio, ours),
        _row(f"{args.featurizer}: cold, no cache (decode + features)", per, n, audio, dec + ours),
        _row(f"{args.featurizer}: first pass, empty cache (decode + features + hash + write)", wall, n, audio,
             cold_wall),
        _row(f"{args.featurizer}: warm cache, second pass (hash + read)", wall, n, audio, warm_wall),
        _row("soundsort `mfcc` featurizer (20 MFCC mean/std), decoded input", per, n, audio, base),
        _row("baseline `librosa.feature.mfcc(y=y, sr=sr)`, decoded input", per, n, audio, lib),
        _row("baseline librosa mfcc incl. decode", per, n, audio, dec + lib),
        "",
        f"Pass 1 (decode, features and baselines) took {pass1_wall:.1f} s wall with {jobs} job(s). "
        "Per-process rows sum each file's time; wall rows are elapsed time with all workers. "
        f"Cache hits: first pass {cold_hits}/{n}, second pass {warm_hits}/{n}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder of audio files (default: ../shared/data)")
    ap.add_argument("--limit", type=int, default=None, help="use this many files, spread over the folder")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads per worker (default 1: parallelism comes from --jobs; 0 = library default)")
    ap.add_argument("--featurizer", default="handcrafted", help="registered feature set to time")
    ap.add_argument("--cache-dir", default=None, help="cache folder to use (default: a temporary one)")
    ap.add_argument("--out", default=None, help="append the markdown table to this file")
    args = ap.parse_args(argv)
    if not Path(args.data).is_dir():
        print(f"skipped: no benchmark data at {args.data} (expected ../shared/data next to the repo)")
        return 0
    table = run(args)
    print(table)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
