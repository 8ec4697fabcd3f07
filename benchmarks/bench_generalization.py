"""Generalization: recipes judged on sources they never saw, clean and degraded.

    python benchmarks/bench_generalization.py [--task music|genre|both] [--recipes NAME,...] [--jobs 2]
                                              [--no-degraded] [--out BENCHMARKS.md]

**Music vs non-music, leave-one-source-out.** Every music and non-music folder of ``../shared/data`` is
a source (see ``MUSIC_ROOTS``; ``LABEL=PATH`` roots make a whole collection music). Each fold trains a
recipe on every other source and tests on the held-out one, at the file level (a file's probability is
the mean of its segments'), with the product's own code: the dataset index, the feature sets and
their cache, :func:`~soundsort.dataset.splits.leave_source_out`, ``fit_on_files`` / ``predict_files``
and :func:`~soundsort.evaluation.crossval.source_cv_summary`. Reported: pooled F1 / precision / recall of
"music" over all held-out files, the worst non-music source's share called music, the worst music
source's recall, and the same on degraded copies of every test file (made once, kept in
``$SOUNDSORT_CACHE_DIR/bench_degraded``, never in the project): ``band8k`` (down to 8 kHz and back,
a 4 kHz band), ``mp3_64k`` (64 kbit/s MP3 via PyAV/LAME), ``noise10`` (pink noise at 10 dB SNR, seeded
per file), ``excerpt`` (a seeded 2-3 s crop). Decisions use the model's saved threshold (0.5, or the
zero-shot rule's own); with ``--nested-threshold`` compact recipes also get a threshold chosen on the
out-of-source predictions of the training sources only (an inner leave-source-out), as a user who
tunes on their own collections would.

**Genre.** Each recipe is trained on ``gtzan_mini`` (100 clips, 10 genres) and tested on
``gtzan_excerpts`` (160 other GTZAN recordings, 2-3 s, 8 genres) and its degraded copies; also grouped
5-fold CV on ``gtzan_mini`` (clip accuracy), the in-distribution figure it must not lose.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from common import DATA, emit, machine

import numpy as np

MUSIC_ROOTS = ["gtzan_music_speech", "esc10", "dcase2016_office_events", "speech_commands_noise", "freesound_clips",
               "music=fsdkaggle2018_instruments", "music=gtzan_excerpts", "music=mirdata_music_fixtures",
               "music=gtzan_mini"]
GROUP_PATTERN = r"^(\d+)-"  # ESC-10's fold prefix; no other shared file name starts with digits and '-'
VARIANTS = ("band8k", "mp3_64k", "noise10", "excerpt")


@dataclass(frozen=True)
class Recipe:
    name: str
    features: str
    feature_params: dict[str, Any]
    model: str
    model_params: dict[str, Any] = field(default_factory=dict)
    members: tuple[tuple[str, dict[str, Any], str, dict[str, Any]], ...] = ()  # mean of these members' probabilities


FRAME = {"segment_seconds": 0.48}
MUSIC_RECIPES = [
    Recipe("yamnet-emb-lr", "yamnet", FRAME, "logreg", {"C": 0.1}),
    Recipe("zero-shot-music-0.1", "yamnet-music", FRAME, "score-threshold", {"column": 0, "threshold": 0.1}),
    Recipe("zero-shot-musical-0.1", "yamnet-music", FRAME, "score-threshold", {"column": 9, "threshold": 0.1}),
    Recipe("zero-shot-musical-0.1-logistic", "yamnet-music", FRAME, "score-threshold",
           {"column": 9, "threshold": 0.1, "mapping": "logistic"}),
    Recipe("zero-shot-musical-0.1-logistic-silence", "yamnet-music", FRAME, "score-threshold",
           {"column": 9, "threshold": 0.1, "mapping": "logistic", "silence_column": 7}),
    Recipe("zero-shot-musical-0.1-logistic4", "yamnet-music", FRAME, "score-threshold",
           {"column": 9, "threshold": 0.1, "mapping": "logistic", "sharpness": 4.0}),
    Recipe("zero-shot-musical-0.2-logistic", "yamnet-music", FRAME, "score-threshold",
           {"column": 9, "threshold": 0.2, "mapping": "logistic"}),
    Recipe("zero-shot-musical-0.1-logistic-0.96s", "yamnet-music", {"segment_seconds": 0.96, "hop_seconds": 0.48},
           "score-threshold", {"column": 9, "threshold": 0.1, "mapping": "logistic"}),
    Recipe("zero-shot-musical-0.1-logistic-silence-noise", "yamnet-music", {**FRAME, "outputs": ["music", "noise"]},
           "score-threshold", {"column": 9, "threshold": 0.1, "mapping": "logistic", "silence_column": 7,
                               "noise_column": 10}),
    Recipe("zero-shot-musical-0.1-logistic-silence-noise-short3", "yamnet-music",
           {**FRAME, "outputs": ["music", "noise"]}, "score-threshold",
           {"column": 9, "threshold": 0.1, "mapping": "logistic", "silence_column": 7, "noise_column": 10,
            "min_segments": 3}),
    Recipe("zero-shot-musical-0.1-logistic-0.96s-silence", "yamnet-music",
           {"segment_seconds": 0.96, "hop_seconds": 0.48}, "score-threshold",
           {"column": 9, "threshold": 0.1, "mapping": "logistic", "silence_column": 7}),
    Recipe("music-lr", "yamnet-music", FRAME, "logreg", {"C": 0.1}),
    Recipe("scores-lr", "yamnet-scores", FRAME, "logreg", {"C": 0.01}),
    Recipe("emb+music-lr", "yamnet-music", {**FRAME, "outputs": ["embedding", "music"]}, "logreg", {"C": 0.1}),
]
GENRE_RECIPES = [
    Recipe("musicnn-msd-lr", "musicnn-msd", {}, "logreg", {"C": 0.1}),
    Recipe("musicnn-msd-tags-lr", "musicnn-msd-tags", {}, "logreg", {"C": 0.1}),
    Recipe("yamnet-lr", "yamnet", {"segment_seconds": 2.4}, "logreg", {"C": 0.01}),
    Recipe("msd+yamnet-lr", "musicnn-msd+yamnet", {}, "logreg", {"C": 0.01}),
    Recipe("msd-maxpool-lr", "musicnn-msd-maxpool", {}, "logreg", {"C": 0.01}),
    Recipe("msd-maxpool+yamnet-lr", "musicnn-msd-maxpool+yamnet", {}, "logreg", {"C": 0.01}),
    Recipe("msd+msd-maxpool+yamnet-lr", "musicnn-msd+musicnn-msd-maxpool+yamnet", {}, "logreg", {"C": 0.01}),
    Recipe("mean(msd-lr, yamnet-lr)", "", {}, "", members=(
        ("musicnn-msd", {}, "logreg", {"C": 0.1}), ("yamnet", {"segment_seconds": 2.4}, "logreg", {"C": 0.01}))),
]


# --------------------------------------------------------------------------------------------------
# degraded copies


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    y = np.fft.irfft(spec, n)
    return (y / (np.abs(y).max() + 1e-12)).astype(np.float32)


def degrade(y: np.ndarray, sr: int, variant: str, seed: int) -> np.ndarray:
    """One degraded copy (``band8k``, ``noise10``, ``excerpt``; ``mp3_64k`` is made by :func:`write_copy`)."""
    from soundsort.audio.augment import mix_noise, telephone

    rng = np.random.default_rng(seed)
    if variant == "band8k":
        return telephone(y, sr, band_sr=8000)
    if variant == "noise10":
        return np.clip(mix_noise(y, _pink(len(y), rng), 10.0, rng), -1, 1)
    if variant == "excerpt":
        n = int(rng.uniform(2.0, 3.0) * sr)
        if len(y) <= n:
            return y
        start = int(rng.integers(0, len(y) - n))
        return y[start:start + n]
    raise ValueError(variant)


def write_copy(src: Path, dst: Path, variant: str) -> None:
    import av
    import soundfile as sf

    from soundsort.atomic import atomic_open
    from soundsort.audio.decode import load

    y, sr = load(src)
    seed = int.from_bytes(hashlib.sha256(f"{src.name}:{variant}".encode()).digest()[:4], "little")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if variant != "mp3_64k":
        with atomic_open(dst, "wb") as fh:
            sf.write(fh, degrade(y, sr, variant, seed), sr, format="WAV", subtype="FLOAT")
        return
    with atomic_open(dst, "wb") as fh:
        with av.open(fh, "w", format="mp3") as out:
            stream = out.add_stream("libmp3lame", rate=sr, layout="mono")
            stream.bit_rate = 64000
            frame_n = 1152
            pcm = np.asarray(y, np.float32)
            for k in range(0, len(pcm), frame_n * 16):
                chunk = pcm[k:k + frame_n * 16][None, :]
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate = sr
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)


def degraded_paths(paths: list[str], variant: str, root: Path) -> list[str]:
    """Degraded copies of ``paths`` (made once; the cache folder mirrors the data folders)."""
    ext = ".mp3" if variant == "mp3_64k" else ".wav"
    out = []
    for p in paths:
        rel = Path(p).resolve().relative_to(DATA.resolve())
        dst = (root / variant / rel).with_suffix(ext)
        if not dst.exists():
            write_copy(Path(p), dst, variant)
        out.append(str(dst))
    return out


# --------------------------------------------------------------------------------------------------
# training and scoring


def featurize(recipe_features: str, params: dict[str, Any], paths: list[str], jobs: int) -> Any:
    from soundsort.cache import FeatureCache
    from soundsort.features.registry import get_featurizer
    from soundsort.features.table import build_feature_table

    fz = get_featurizer(recipe_features, **params)
    return fz, build_feature_table(paths, fz, cache=FeatureCache(), jobs=jobs)


def member_specs(r: Recipe) -> list[tuple[str, dict[str, Any], str, dict[str, Any]]]:
    return list(r.members) if r.members else [(r.features, r.feature_params, r.model, r.model_params)]


def fit_members(specs, tables, y, train_files, groups) -> list[Any]:
    """One fitted estimator per member, on the segments of ``train_files``."""
    from soundsort.evaluation.crossval import fit_on_files
    from soundsort.models.registry import make_model

    return [fit_on_files(make_model(model, **mparams), t.values, t.file_index, y, train_files, groups)
            for (_, _, model, mparams), t in zip(specs, tables)]


def predict_members(models, tables, test_files, n_classes, n_files) -> np.ndarray:
    """Mean over members of file probabilities ``[n_files, K]`` (NaN rows where a file has no segments)."""
    from soundsort.evaluation.crossval import predict_files

    return np.mean([predict_files(m, t.values, t.file_index, test_files, n_classes, n_files)
                    for m, t in zip(models, tables)], axis=0)


def fit_predict(specs, tables_train, y, train_files, groups, tables_test, test_files, n_classes, n_test) -> np.ndarray:
    return predict_members(fit_members(specs, tables_train, y, train_files, groups), tables_test, test_files,
                           n_classes, n_test)


def f1_at(y_pos: np.ndarray, p: np.ndarray, t: float) -> float:
    pred = p >= t
    tp, fp, fn = (pred & y_pos).sum(), (pred & ~y_pos).sum(), (~pred & y_pos).sum()
    return float(2 * tp / max(1, 2 * tp + fp + fn))


def music_summary(y_pos: np.ndarray, p: np.ndarray, src: np.ndarray, t: float) -> dict[str, Any]:
    ok = ~np.isnan(p)
    y_pos, p, src = y_pos[ok], p[ok], src[ok]
    pred = p >= t
    tp, fp, fn = (pred & y_pos).sum(), (pred & ~y_pos).sum(), (~pred & y_pos).sum()
    per = {}
    for s in np.unique(src):
        m = src == s
        per[s] = {"called_music": float(pred[m & ~y_pos].mean()) if (m & ~y_pos).any() else None,
                  "recall": float(pred[m & y_pos].mean()) if (m & y_pos).any() else None,
                  "errors": int((pred[m] != y_pos[m]).sum()), "files": int(m.sum())}
    fps = [v["called_music"] for v in per.values() if v["called_music"] is not None]
    recs = [v["recall"] for v in per.values() if v["recall"] is not None]
    return {"f1": float(2 * tp / max(1, 2 * tp + fp + fn)), "precision": float(tp / max(1, tp + fp)),
            "recall": float(tp / max(1, tp + fn)), "worst_fp": max(fps), "worst_recall": min(recs), "per_source": per,
            "files": int(len(p))}


def run_music(recipes: list[Recipe], jobs: int, degraded: bool, nested: bool, doc: list[str]) -> None:
    from soundsort.dataset.splits import leave_source_out
    from soundsort.paths import cache_root as cache_dir
    from soundsort.workflows import index_dataset

    t0 = time.perf_counter()
    index = index_dataset([_root(r) for r in MUSIC_ROOTS], group_pattern=GROUP_PATTERN, jobs=jobs)
    paths = [str(p) for p in index.paths()]
    y_pos = np.array([it.label == "music" or it.label.startswith(("music_", "music-")) for it in index.items])
    y = np.where(y_pos, 0, 1)  # the music task's class order: ["music", "non-music"]
    src, groups = index.sources(), index.groups()
    splits = [s for s in leave_source_out(y, groups, src) if s.testable]
    variants = VARIANTS if degraded else ()
    vpaths = {v: degraded_paths(paths, v, cache_dir() / "bench_degraded") for v in variants}
    print(f"music: {len(paths)} files, {len(splits)} sources; copies ready in {time.perf_counter() - t0:.0f}s",
          flush=True)
    rows, per_rows = [], []
    for r in recipes:
        t1 = time.perf_counter()
        specs = member_specs(r)
        tables = [featurize(f, fp, paths, jobs)[1] for f, fp, _, _ in specs]
        vtables = {v: [featurize(f, fp, vpaths[v], jobs)[1] for f, fp, _, _ in specs] for v in variants}
        p = np.full(len(paths), np.nan)
        pv = {v: np.full(len(paths), np.nan) for v in variants}
        p_nested = np.full(len(paths), np.nan)
        thresholds = []
        for sp in splits:
            models = fit_members(specs, tables, y, sp.train, groups)
            p[sp.test] = predict_members(models, tables, sp.test, 2, len(paths))[sp.test, 0]
            for v in variants:
                pv[v][sp.test] = predict_members(models, vtables[v], sp.test, 2, len(paths))[sp.test, 0]
            if nested:  # a threshold from the training sources' own out-of-source predictions
                inner = np.full(len(paths), np.nan)
                tr_set = set(sp.train.tolist())
                for s2 in np.unique(src[sp.train]):
                    te2 = np.array([i for i in sp.train if src[i] == s2])
                    tr2 = np.array([i for i in sp.train if src[i] != s2 and groups[i] not in set(groups[te2])])
                    if len(np.unique(y[tr2])) < 2:
                        continue
                    inner[te2] = fit_predict(specs, tables, y, tr2, groups, tables, te2, 2, len(paths))[te2, 0]
                ok = np.array(sorted(i for i in tr_set if not np.isnan(inner[i])))
                grid = np.unique(np.r_[0.5, np.quantile(inner[ok], np.linspace(0.01, 0.99, 99))])
                best = max(grid, key=lambda t: (f1_at(y_pos[ok], inner[ok], t), -abs(t - 0.5)))
                thresholds.append(float(best))
                p_nested[sp.test] = np.where(p[sp.test] >= best, 1.0, 0.0)
        thr = 0.5
        clean = music_summary(y_pos, p, src, thr)
        row = {"recipe": r, "clean": clean, "seconds": time.perf_counter() - t1,
               "variants": {v: music_summary(y_pos, pv[v], src, thr) for v in variants}}
        if nested:
            row["nested"] = music_summary(y_pos, p_nested, src, 0.5)
            row["thresholds"] = thresholds
        rows.append(row)
        per_rows.append((r.name, clean["per_source"]))
        print(f"  {r.name}: F1 {clean['f1']:.3f} ({row['seconds']:.0f}s)", flush=True)

    doc += [f"### Music vs non-music, leave-one-source-out ({date.today().isoformat()})", "",
            f"Command: `python benchmarks/bench_generalization.py --task music{' --nested-threshold' if nested else ''}`"
            f"; machine: {machine()}.", "",
            f"{len(paths)} files in {len(splits)} sources ({', '.join(sorted(set(src)))}); every fold trains on the "
            "other sources only. File level; threshold 0.5 on the model's probability (the zero-shot rule maps "
            "its threshold to 0.5). 'worst FP' = the non-music source with the largest share called music; "
            "'worst recall' = the music source with the lowest recall; degraded copies: F1 (worst FP / worst "
            "recall).", "",
            "| recipe | features | model | pooled F1 | precision | recall | worst FP | worst recall | "
            + " | ".join(f"F1 {v}" for v in variants) + (" | F1, nested threshold |" if nested else " |"),
            "|---|---|---|---|---|---|---|---|" + "---|" * len(variants) + ("---|" if nested else "")]
    for row in rows:
        r, c = row["recipe"], row["clean"]
        feats = r.features + (f" {r.feature_params}" if r.feature_params else "")
        cells = [r.name, feats, f"{r.model} {r.model_params}", f"{c['f1']:.3f}", f"{c['precision']:.3f}",
                 f"{c['recall']:.3f}", f"{c['worst_fp']:.1%}", f"{c['worst_recall']:.1%}"]
        cells += [f"{row['variants'][v]['f1']:.3f} ({row['variants'][v]['worst_fp']:.0%} / "
                  f"{row['variants'][v]['worst_recall']:.0%})" for v in variants]
        if nested:
            cells.append(f"{row['nested']['f1']:.3f} (t {np.median(row['thresholds']):.2f})")
        doc.append("| " + " | ".join(cells) + " |")
    sources = sorted(set(src))
    doc += ["", "Per held-out source (share of non-music called music / recall of music; errors of files):", "",
            "| recipe | " + " | ".join(sources) + " |", "|---|" + "---|" * len(sources)]
    for name, per in per_rows:
        cells = []
        for s in sources:
            v = per[s]
            parts = [f"FP {v['called_music']:.1%}" if v["called_music"] is not None else "",
                     f"R {v['recall']:.1%}" if v["recall"] is not None else ""]
            cells.append(" ".join(x for x in parts if x) + f" ({v['errors']}/{v['files']})")
        doc.append(f"| {name} | " + " | ".join(cells) + " |")
    doc.append("")


def run_genre(recipes: list[Recipe], jobs: int, degraded: bool, doc: list[str]) -> None:
    from soundsort.dataset.splits import grouped_kfold
    from soundsort.paths import cache_root as cache_dir
    from soundsort.workflows import index_dataset

    train_idx = index_dataset([str(DATA / "gtzan_mini")], jobs=jobs)
    test_idx = index_dataset([str(DATA / "gtzan_excerpts")], jobs=jobs)
    labels = train_idx.label_names()
    tr_paths = [str(p) for p in train_idx.paths()]
    te_paths = [str(p) for p in test_idx.paths()]
    y_tr = np.array([labels.index(it.label) for it in train_idx.items])
    y_te = np.array([labels.index(it.label) for it in test_idx.items])
    variants = tuple(v for v in VARIANTS if v != "excerpt") if degraded else ()  # the excerpts are 2-3 s already
    vpaths = {v: degraded_paths(te_paths, v, cache_dir() / "bench_degraded") for v in variants}
    groups = np.array(train_idx.groups())
    all_tr = np.arange(len(tr_paths))
    rows = []
    for r in recipes:
        t1 = time.perf_counter()
        specs = member_specs(r)
        tr_tables = [featurize(f, fp, tr_paths, jobs)[1] for f, fp, _, _ in specs]
        te_tables = [featurize(f, fp, te_paths, jobs)[1] for f, fp, _, _ in specs]
        acc = {}
        models = fit_members(specs, tr_tables, y_tr, all_tr, groups)
        p = predict_members(models, te_tables, np.arange(len(te_paths)), len(labels), len(te_paths))
        acc["excerpts"] = float((p.argmax(1) == y_te).mean())
        per_genre = {labels[g]: float((p[y_te == g].argmax(1) == g).mean()) for g in np.unique(y_te)}
        for v in variants:
            vt = [featurize(f, fp, vpaths[v], jobs)[1] for f, fp, _, _ in specs]
            pv = predict_members(models, vt, np.arange(len(te_paths)), len(labels), len(te_paths))
            acc[v] = float((pv.argmax(1) == y_te).mean())
        cv = []
        for rep in range(3):
            for tr, te in grouped_kfold(y_tr, groups, 5, random_state=rep):
                pc = fit_predict(specs, tr_tables, y_tr, tr, groups, tr_tables, te, len(labels), len(tr_paths))
                cv.append(float((pc[te].argmax(1) == y_tr[te]).mean()))
        rows.append((r, acc, per_genre, float(np.mean(cv)), float(np.std(cv)), time.perf_counter() - t1))
        print(f"  {r.name}: excerpts {acc['excerpts']:.3f}, CV {np.mean(cv):.3f} ({rows[-1][-1]:.0f}s)", flush=True)
    genres = sorted({labels[g] for g in np.unique(y_te)})
    doc += [f"### Genre on other recordings: trained on gtzan_mini, tested on gtzan_excerpts ({date.today().isoformat()})",
            "", f"Command: `python benchmarks/bench_generalization.py --task genre`; machine: {machine()}.", "",
            f"Trained on all {len(tr_paths)} gtzan_mini clips; tested on {len(te_paths)} gtzan_excerpts (other GTZAN "
            "recordings, 2-3 s) and their degraded copies; 'CV' = grouped 5-fold × 3 on gtzan_mini (clip accuracy).",
            "", "| recipe | excerpts | " + " | ".join(variants) + " | CV gtzan_mini | " + " | ".join(genres) + " |",
            "|---|---|" + "---|" * len(variants) + "---|" + "---|" * len(genres)]
    for r, acc, per, cvm, cvs, _ in rows:
        doc.append(f"| {r.name} | {acc['excerpts']:.3f} | " + " | ".join(f"{acc[v]:.3f}" for v in variants)
                   + f" | {cvm:.3f} ± {cvs:.3f} | " + " | ".join(f"{per[g]:.2f}" for g in genres) + " |")
    doc.append("")


def _root(spec: str) -> str:
    label, sep, name = spec.partition("=")
    return f"{label}={DATA / name}" if sep else str(DATA / spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=("music", "genre", "both"), default="both")
    ap.add_argument("--recipes", default="", help="comma-separated recipe names (default: all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-degraded", action="store_true")
    ap.add_argument("--nested-threshold", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"needs the shared data in {DATA}")
    wanted = set(filter(None, args.recipes.split(",")))
    doc: list[str] = []
    if args.task in ("music", "both"):
        run_music([r for r in MUSIC_RECIPES if not wanted or r.name in wanted], args.jobs, not args.no_degraded,
                  args.nested_threshold, doc)
    if args.task in ("genre", "both"):
        run_genre([r for r in GENRE_RECIPES if not wanted or r.name in wanted], args.jobs, not args.no_degraded, doc)
    emit(doc, args.out)


if __name__ == "__main__":
    main()
