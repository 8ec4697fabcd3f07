"""Transfer learning vs handcrafted features, on the real audio in ../shared/data.

For each task (music vs non-music; genre on gtzan_mini) and each feature set (handcrafted, YAMNet,
musicnn-MSD, musicnn-MTT, combinations) × head (LR, RBF-SVM, XGBoost, MLP; the attention-Conv1D head on
YAMNet sequences), 5-fold CV grouped as in the foundation benchmark (ESC-10 by fold prefix), file level,
mean ± std; then the three ensembles (vote, mean, max) of the best rows of different feature sets.

Columns: accuracy, macro-F1, precision, recall (music = positive for the binary task; macro for genre),
training seconds per fold, and inference speed end to end from the file (decode + features + head, no
cache) in seconds of audio per second on this machine (2 cores).

Usage:  python benchmarks/bench_transfer.py [--task music|genre|both] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

from soundsort.evaluation.crossval import cross_validate, ensemble_cv, fit_on_files
from soundsort.features import featurize_file, get_featurizer
from soundsort.models.registry import make_model
from soundsort.models.segments import proba_matrix
from soundsort.workflows import index_dataset, prepare
from common import DATA, emit, machine, parse_spec

VECTOR_FEATURES = ["handcrafted", "yamnet", "musicnn-msd", "musicnn-mtt", "yamnet+musicnn-msd",
                   "yamnet+musicnn-msd+handcrafted"]
VECTOR_HEADS = ["logreg", "svm", "xgboost", "mlp"]
SEQUENCE = [("yamnet-seq", "attention")]



def fmt(s: dict | None) -> str:
    return "–" if s is None else f"{s['mean']:.3f} ± {s['std']:.3f}"


def inference_speed(featurizer, estimator, paths: list[str], n_classes: int) -> float:
    """Seconds of audio per second, file → label, no cache (a fresh featurizer; first call excluded)."""
    import soundfile as sf

    featurize_file(featurizer, paths[0])  # load models / sessions once, as a long-running job would
    audio = 0.0
    t0 = time.perf_counter()
    for p in paths:
        seg = featurize_file(featurizer, p)
        proba_matrix(estimator, seg.values, n_classes).mean(axis=0)
        audio += sf.info(p).duration
    return audio / (time.perf_counter() - t0)


def feature_spec(spec: str):
    """``name`` or ``name?key=value&key=value`` (e.g. ``stft?n_fft=512``) → a featurizer."""
    name, params = parse_spec(spec)
    return get_featurizer(name, **params)


def run_task(task: str, features: list[str], heads: list[str], repeats: int, jobs: int, n_speed: int,
             log, sequence: bool = True, pairs: list[tuple[str, str]] | None = None,
             ensembles: bool = True) -> list[str]:
    if task == "music":
        roots, pattern = [DATA / "gtzan_music_speech", DATA / "esc10"], r"^(\d+)-"
        cols = ["accuracy", "f1_macro", "precision", "recall", "f1"]
    else:
        roots, pattern = [DATA / "gtzan_mini"], None
        cols = ["accuracy", "f1_macro", "precision_macro", "recall_macro"]
    index = index_dataset(roots, group_pattern=pattern, jobs=jobs)
    rows: list[tuple[str, str, object, float, float]] = []  # (features, head, CVResult, fit s, speed)
    combos = pairs or [(f, h) for f in features for h in heads] + (SEQUENCE if sequence else [])
    preps: dict[str, object] = {}
    ok = None
    for feat_name in dict.fromkeys(f for f, _ in combos):
        t0 = time.perf_counter()
        prep = prepare(roots, task, feature_spec(feat_name), jobs=jobs, cache=True, index=index)
        preps[feat_name] = prep
        files = np.unique(prep.table.file_index)
        ok = files if ok is None else np.intersect1d(ok, files)
        log(f"[{task}] {feat_name}: {prep.table.values.shape} in {time.perf_counter() - t0:.1f}s")
    first = next(iter(preps.values()))
    y, groups, labels, pos = first.y_file, first.groups, first.labels, first.positive
    speed_paths = [first.table.paths[i] for i in ok[:: max(1, len(ok) // n_speed)][:n_speed]]
    for feat_name, head in combos:
        prep = preps[feat_name]
        est = make_model(head, random_state=0, n_jobs=jobs)
        t1 = time.perf_counter()
        cv = cross_validate(est, prep.table.values, prep.table.file_index, y, groups, labels, n_splits=5,
                            n_repeats=repeats, random_state=0, positive=pos, files=ok)
        final = fit_on_files(est, prep.table.values, prep.table.file_index, y, ok, groups)
        speed = inference_speed(feature_spec(feat_name), final, speed_paths, len(labels))
        rows.append((feat_name, head, cv, cv.fit_seconds, speed))
        log(f"| {feat_name} | {head} | " + " | ".join(fmt(cv.summary.get(c)) for c in cols)
            + f" | {cv.fit_seconds:.2f} | {speed:.0f} |   [{task}, {time.perf_counter() - t1:.0f}s]")
    # ensembles of the best row of each of three different feature sets
    key = "f1" if pos is not None else "f1_macro"
    best: dict[str, tuple] = {}
    for r in rows:
        if r[0] not in best or r[2].summary[key]["mean"] > best[r[0]][2].summary[key]["mean"]:
            best[r[0]] = r
    members = sorted(best.values(), key=lambda r: -r[2].summary[key]["mean"])[:3]
    if ensembles and len(members) >= 2:
        names = " + ".join(f"{r[0]}:{r[1]}" for r in members)
        speed_ens = 1.0 / sum(1.0 / r[4] for r in members)
        for method in ("vote", "mean", "max"):
            cv = ensemble_cv([r[2] for r in members], y, labels, method, positive=pos)
            rows.append((f"ensemble-{method} of {names}", "", cv, sum(r[3] for r in members), speed_ens))
    lines = [f"| features | head | {' | '.join(cols)} | train s/fold | inference × real time |",
             "|---|---|" + "---|" * (len(cols) + 2)]
    for feat_name, head, cv, fit_s, speed in rows:
        lines.append(f"| {feat_name} | {head} | " + " | ".join(fmt(cv.summary.get(c)) for c in cols)
                     + f" | {fit_s:.2f} | {speed:.0f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["music", "genre", "both"], default="both")
    ap.add_argument("--features", default=",".join(VECTOR_FEATURES))
    ap.add_argument("--heads", default=",".join(VECTOR_HEADS))
    ap.add_argument("--genre-heads", help="heads for the genre task (default: --heads)")
    ap.add_argument("--repeats", type=int, default=3, help="CV repeats for genre (new shuffles)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--speed-files", type=int, default=12, help="files timed for inference speed")
    ap.add_argument("--no-sequence", action="store_true", help="skip the attention head on YAMNet sequences")
    ap.add_argument("--pairs", help="explicit FEATURES:HEAD pairs instead of features × heads, comma-separated "
                                    "(features may carry parameters: stft?n_fft=512:cnn)")
    ap.add_argument("--no-ensembles", action="store_true")
    ap.add_argument("--title", default="Transfer learning vs handcrafted features")
    ap.add_argument("--out", type=Path, help="append the tables to this Markdown file")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"shared data not found at {DATA}: nothing to benchmark", file=sys.stderr)
        return
    feats, heads = args.features.split(","), args.heads.split(",")
    pairs = [tuple(p.rsplit(":", 1)) for p in args.pairs.split(",")] if args.pairs else None

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    shown = " ".join(sys.argv[1:])
    doc = [f"### {args.title} ({dt.date.today().isoformat()})", "",
           f"Command: `python benchmarks/bench_transfer.py {shown}`; "
           f"machine: {machine()}.", ""]
    if args.task in ("music", "both"):
        doc += ["**Music vs non-music** (music positive; 64 music vs 64 speech + 400 ESC-10; 5-fold CV grouped by "
                "recording / ESC-10 fold; file level):", ""]
        doc += run_task("music", feats, heads, 1, args.jobs, args.speed_files, log, not args.no_sequence, pairs,
                        not args.no_ensembles) + [""]
    if args.task in ("genre", "both"):
        doc += [f"**Genre, gtzan_mini** (100 clips, 10 genres; 5-fold CV × {args.repeats} shuffles; file level):", ""]
        doc += run_task("genre", feats, args.genre_heads.split(",") if args.genre_heads else heads, args.repeats, args.jobs, args.speed_files, log, not args.no_sequence,
                        pairs, not args.no_ensembles) + [""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
