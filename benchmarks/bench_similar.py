"""Collections: retrieval quality, near-duplicate recall, index scale and library build time.

* **quality**: precision@5 of same-genre neighbours on ``gtzan_mini`` + ``gtzan_excerpts`` (every file a
  query, itself left out), per feature set (YAMNet, musicnn-MSD, both) and normalization, vs MFCC statistics
  and a random baseline (the expected share of same-genre files among the others).
* **clusters**: adjusted Rand index of k-means (k = 10) and HDBSCAN clusters against the genres of
  ``gtzan_mini``, per feature set.
* **duplicates**: some of those files re-encoded in a temporary folder (MP3 128 kbit/s, Opus 48 kbit/s,
  8 kHz, +3 dB), added to the library; recall = share of copies grouped with their original by
  :func:`soundsort.library.find_duplicates`, and how many groups mix different recordings.
* **scale**: query latency (one query at a time, p50 / p95) and index memory for 10^4, 10^5, 10^6 synthetic
  unit vectors of the library's real dimension, flat (exact) and HNSW, with HNSW's recall@10 against exact
  search. The vectors are clustered (Gaussian clusters of about 100), as embeddings of a collection are.
* **build**: wall time of ``embed_collection`` per 1,000 files from audio (30 s GTZAN clips, no cache,
  music share + genre included), one process per core.

Usage:  python benchmarks/bench_similar.py [--skip quality,clusters,duplicates,scale,build] [--sizes 10000,100000,1000000]
        [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import DATA, emit, machine
from soundsort.library import EmbedConfig, Library, embed_collection, find_duplicates, similar
from soundsort.library.vectors import HNSW_EF_SEARCH, HNSW_M, VectorIndex

EF_SEARCH = (64, 128, 256)
FEATURES = ["yamnet", "musicnn-msd", "yamnet+musicnn-msd", "mfcc"]
COPIES = {"mp3-128k": ["-c:a", "libmp3lame", "-b:a", "128k"], "opus-48k": ["-c:a", "libopus", "-b:a", "48k"],
          "8khz": ["-ar", "8000"], "+3dB": ["-af", "volume=3dB"]}
EXT = {"mp3-128k": ".mp3", "opus-48k": ".opus", "8khz": ".wav", "+3dB": ".flac"}


def genre_files() -> list[Path]:
    return sorted((DATA / "gtzan_mini").rglob("*.flac")) + sorted((DATA / "gtzan_excerpts").rglob("*.ogg"))


def precision_at(lib: Library, genre_of: dict[str, str], k: int = 5) -> float:
    hits = []
    x = lib.normalized(lib.vectors)
    _, ids = lib.file_index.search(x, k + 1)
    for i, row in enumerate(ids):
        others = [int(j) for j in row if j != i][:k]
        g = genre_of[lib.files[i].path]
        hits.append(np.mean([genre_of[lib.files[j].path] == g for j in others]))
    return float(np.mean(hits))


def quality(tmp: Path, jobs: int) -> list[str]:
    files = genre_files()
    genre_of = {os.path.abspath(f): f.parent.name for f in files}
    def chance(keep: list[Path]) -> float:
        names = [f.parent.name for f in keep]
        return float(np.mean([(names.count(g) - 1) / (len(names) - 1) for g in names]))

    parts = {part: [f for f in files if f.parent.parent.name == part] for part in ("gtzan_mini", "gtzan_excerpts")}
    lines = [f"{len(files)} files ({len(list((DATA / 'gtzan_mini').rglob('*.flac')))} GTZAN-mini 30 s clips, "
             f"{len(list((DATA / 'gtzan_excerpts').rglob('*.ogg')))} 2-3 s excerpts), 10 genres; every file queries "
             "the others.", "", "| features | dimension | normalization | precision@5 | precision@5, 30 s clips "
             "only | precision@5, excerpts only |", "|---|---:|---|---:|---:|---:|"]
    for feats in FEATURES:
        for norm in ("zscore", "none"):
            folder = tmp / f"lib-{feats}-{norm}"
            rep = embed_collection([str(f) for f in files], folder,
                                   EmbedConfig(features=feats, describe=False, normalize=norm, tags=False), jobs=jobs)
            lib = rep.library
            p_all = precision_at(lib, genre_of)
            sub = {}
            for part, keep_paths in parts.items():
                keep = [str(f) for f in keep_paths]
                sl = embed_collection(keep, tmp / f"lib-{feats}-{norm}-{part}",
                                      EmbedConfig(features=feats, describe=False, normalize=norm, tags=False),
                                      jobs=jobs).library
                sub[part] = precision_at(sl, genre_of)
            lines.append(f"| {feats} | {lib.dim} | {norm} | {p_all:.3f} | {sub['gtzan_mini']:.3f} | "
                         f"{sub['gtzan_excerpts']:.3f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    lines.append(f"| random (chance) | – | – | {chance(files):.3f} | {chance(parts['gtzan_mini']):.3f} | "
                 f"{chance(parts['gtzan_excerpts']):.3f} |")
    return lines


def clusters(tmp: Path, jobs: int) -> list[str]:
    from sklearn.metrics import adjusted_rand_score

    from soundsort.library import cluster_library

    files = sorted((DATA / "gtzan_mini").rglob("*.flac"))
    lines = [f"{len(files)} GTZAN-mini clips, 10 genres; adjusted Rand index of the clusters against the genres "
             "(1 = the genres exactly, 0 = chance); HDBSCAN's unclustered files count as one more cluster.", "",
             "| features | k-means, k = 10: ARI | HDBSCAN (--auto): ARI | clusters found | unclustered |",
             "|---|---:|---:|---:|---:|"]
    for feats in FEATURES:
        lib = embed_collection([str(f) for f in files], tmp / f"lib-clusters-{feats}",
                               EmbedConfig(features=feats, describe=False, tags=False), jobs=jobs).library
        truth = [Path(e.path).parent.name for e in lib.files]
        km = cluster_library(lib, k=10, map2d=False)
        hd = cluster_library(lib, auto=True, map2d=False)
        lines.append(f"| {feats} | {adjusted_rand_score(truth, km.labels):.2f} | "
                     f"{adjusted_rand_score(truth, hd.labels):.2f} | {len(hd.clusters)} | {int((hd.labels < 0).sum())} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def duplicates(tmp: Path, jobs: int, features: str) -> list[str]:
    files = genre_files()
    originals = [f for f in files if f.parent.parent.name == "gtzan_mini"][::5] + \
                [f for f in files if f.parent.parent.name == "gtzan_excerpts"][::10]
    copies_dir = tmp / "copies"
    copies_dir.mkdir()
    truth: dict[str, str] = {}
    for f in originals:
        for name, args in COPIES.items():
            out = copies_dir / f"{f.stem}.{name}{EXT[name]}"
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(f), *args, str(out)], check=True)
            truth[str(out)] = os.path.abspath(f)
    rep = embed_collection([str(f) for f in files] + [str(copies_dir)], tmp / "lib-dups",
                           EmbedConfig(features=features, describe=False, tags=False), jobs=jobs)
    lib = rep.library
    undecodable = {p for p, _ in rep.failed}
    for p, why in rep.failed:
        print(f"not decodable: {why}", file=sys.stderr)
    t0 = time.perf_counter()
    groups = find_duplicates(lib)
    secs = time.perf_counter() - t0
    group_of = {p: i for i, g in enumerate(groups) for p in g.paths}
    mixed = sum(1 for g in groups if len({truth.get(p, p) for p in g.paths}) > 1)
    found = {name: 0 for name in COPIES}
    top1 = {name: 0 for name in COPIES}
    failed = {name: 0 for name in COPIES}
    for copy, orig in truth.items():
        kind = copy.rsplit(".", 2)[1]
        if copy in undecodable:
            failed[kind] += 1
            continue
        if copy in group_of and group_of[copy] == group_of.get(orig):
            found[kind] += 1
        nn = similar(lib, copy, 1)
        top1[kind] += int(bool(nn) and truth.get(nn[0].path, nn[0].path) == orig)
    n = len(originals)
    lines = [f"{n} originals ({sum(1 for f in originals if f.suffix == '.flac')} 30 s clips, "
             f"{sum(1 for f in originals if f.suffix == '.ogg')} excerpts) × 4 re-encodings, in a library of "
             f"{len(lib)} files ({features}); fingerprint threshold 0.75; {secs:.1f} s for the whole library.", "",
             "| copy | duplicate recall | nearest neighbour: the original or another copy of it | copies soundsort "
             "could not decode |",
             "|---|---:|---:|---:|"]
    for name in COPIES:
        m = n - failed[name]
        lines.append(f"| {name} | {found[name]}/{m} | {top1[name]}/{m} | {failed[name]} |")
    lines += ["", f"{len(groups)} groups found; groups mixing different recordings: {mixed}."]
    return lines


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _chunk(seed: int, n: int, centres: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1000 + seed)
    x = centres[rng.integers(0, len(centres), n)] + 0.7 * rng.standard_normal((n, centres.shape[1]), np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def _latency(idx: VectorIndex, queries: np.ndarray, k: int = 10) -> tuple[float, float, np.ndarray]:
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, ids = idx.search(q[None, :], k)
        times.append(time.perf_counter() - t0)
        found.append(ids[0])
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 95) * 1e3), np.array(found)


def scale(dim: int, sizes: list[int], n_queries: int = 200) -> list[str]:
    step = 50_000
    lines = [f"Synthetic unit vectors of dimension {dim}, in Gaussian clusters of about 100 (a collection's groups of "
             f"similar songs), {n_queries} queries one at a time, k = 10; HNSW: M = "
             f"{HNSW_M}, efConstruction 64; recall@10 against exact search.", "",
             "| vectors | index | build (s) | p50 (ms) | p95 (ms) | index size (MiB) | recall@10 |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for n in sizes:
        rng = np.random.default_rng(0)
        centres = rng.standard_normal((max(100, n // 100), dim)).astype(np.float32)
        queries = _chunk(-1, n_queries, centres)
        # exact answers, chunk by chunk (the data is regenerated, never held twice)
        best_s = np.full((n_queries, 10), -np.inf, np.float32)
        best_i = np.zeros((n_queries, 10), np.int64)
        flat = VectorIndex.build("flat", np.zeros((0, dim), np.float32))
        t0 = time.perf_counter()
        for c, start in enumerate(range(0, n, step)):
            x = _chunk(c, min(step, n - start), centres)
            flat.index.add(x)
            s = queries @ x.T
            top = np.argpartition(-s, 9, axis=1)[:, :10]
            cand_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
            cand_i = np.concatenate([best_i, top + start], 1)
            order = np.argsort(-cand_s, axis=1)[:, :10]
            best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
        t_flat = time.perf_counter() - t0
        p50, p95, _ = _latency(flat, queries[:50] if n >= 1_000_000 else queries)
        lines.append(f"| {n:,} | flat (exact) | {t_flat:.1f} | {p50:.2f} | {p95:.2f} | {n * dim * 4 / 2**20:,.0f} | 1.000 |")
        print(lines[-1], file=sys.stderr, flush=True)
        del flat
        hnsw = VectorIndex("hnsw", dim)
        rss0 = _rss_mib()
        t0 = time.perf_counter()
        for c, start in enumerate(range(0, n, step)):
            hnsw.index.add(_chunk(c, min(step, n - start), centres))
        t_build = time.perf_counter() - t0
        size = len(hnsw.to_bytes()) / 2**20 if n < 1_000_000 else _rss_mib() - rss0
        for ef in EF_SEARCH:
            hnsw.index.hnsw.efSearch = ef
            p50, p95, found = _latency(hnsw, queries)
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, best_i)]))
            mark = " (soundsort's)" if ef == HNSW_EF_SEARCH else ""
            lines.append(f"| {n:,} | HNSW, efSearch {ef}{mark} | {t_build:.1f} | {p50:.2f} | {p95:.2f} | {size:,.0f} | "
                         f"{recall:.3f} |")
            print(lines[-1], file=sys.stderr, flush=True)
        del hnsw
    return lines


def build_time(tmp: Path, jobs: int, n_files: int) -> list[str]:
    files = sorted((DATA / "gtzan_mini").rglob("*.flac"))[:n_files]
    t0 = time.perf_counter()  # no feature cache: every file decoded and embedded (the converted models are reused)
    rep = embed_collection([str(f) for f in files], tmp / "lib-build", EmbedConfig(), jobs=jobs, cache=False)
    secs = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed_collection([str(f) for f in files], tmp / "lib-build", None, jobs=jobs)
    secs_again = time.perf_counter() - t0
    audio = sum(e.duration for e in rep.library.files)
    return [f"{len(files)} GTZAN-mini clips ({audio / 60:.0f} min of audio), default library (yamnet+musicnn-msd "
            f"embeddings and tags, music share and genre with the bundled models, fingerprints), {jobs} processes, "
            "no feature cache, model loading in the worker processes included.", "",
            "| what | seconds | per 1,000 files |", "|---|---:|---:|",
            f"| embed, new library | {secs:.1f} | {secs / len(files) * 1000 / 60:.1f} min |",
            f"| embed again, nothing changed | {secs_again:.2f} | {secs_again / len(files) * 1000:.1f} s |",
            f"", f"Peak resident memory of the benchmark process so far: "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip", default="", help="comma-separated: quality, clusters, duplicates, scale, build")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--build-files", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--features", default="yamnet+musicnn-msd", help="the library's features (duplicates, scale dim)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    have_data = DATA.is_dir()
    if not have_data:
        print(f"shared data not found at {DATA}: only the scale part runs", file=sys.stderr)
        skip |= {"quality", "clusters", "duplicates", "build"}
    from soundsort.features.registry import get_featurizer

    fz = get_featurizer(args.features)
    dim = len(fz.feature_names())
    cmd = "python benchmarks/bench_similar.py" + "".join(f" {a}" for a in sys.argv[1:] if a != "--out"
                                                          and not a.endswith(".md"))
    doc = [f"### Similar songs, clusters, duplicates: quality, scale, build time ({dt.date.today().isoformat()})",
           "", f"Command: `{cmd}`; machine: {machine()}.", ""]
    with tempfile.TemporaryDirectory(prefix="soundsort-bench-similar-") as t:
        tmp = Path(t)
        if "quality" not in skip:
            doc += ["**Retrieval quality** (same-genre neighbours):", ""] + quality(tmp, args.jobs) + [""]
        if "clusters" not in skip:
            doc += ["**Clusters** against the genres:", ""] + clusters(tmp, args.jobs) + [""]
        if "duplicates" not in skip:
            if shutil.which("ffmpeg") is None:
                doc += ["Near-duplicates: not run (no ffmpeg to make the copies).", ""]
            else:
                doc += ["**Near-duplicates** (re-encoded copies):", ""] + duplicates(tmp, args.jobs, args.features) + [""]
        if "build" not in skip:
            doc += ["**Build time** from audio:", ""] + build_time(tmp, args.jobs, args.build_files) + [""]
    if "scale" not in skip:
        doc += ["**Scale** (vector index):", ""] + scale(dim, [int(s) for s in args.sizes.split(",")]) + [""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
