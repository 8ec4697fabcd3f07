"""Classical models on handcrafted features, on the real audio in ../shared/data.

Tables:
  1. music vs non-music: music = gtzan_music_speech/music; non-music = gtzan_music_speech/speech + every
     esc10 class. 5-fold CV grouped by recording (ESC-10: by its fold prefix). File-level metrics, music positive.
  2. genre on gtzan_mini: 5-fold CV repeated over shuffles, accuracy and macro-F1 mean ± std.

Usage:  python benchmarks/bench_classical.py [--task music|genre|both] [--repeats 3] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

from soundsort.evaluation.crossval import cross_validate
from soundsort.features.registry import get_featurizer
from soundsort.models.registry import make_model
from soundsort.workflows import prepare
from common import DATA, emit, machine

MODELS = ["logreg", "linear-svm", "random-forest", "xgboost", "svm"]



def fmt(s: dict) -> str:
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


def run_task(task: str, features: list[str], repeats: int, jobs: int) -> list[str]:
    if task == "music":
        roots = [DATA / "gtzan_music_speech", DATA / "esc10"]
        pattern = r"^(\d+)-"
        cols = ["accuracy", "f1", "precision", "recall", "pr_auc"]
    else:
        roots = [DATA / "gtzan_mini"]
        pattern = None
        cols = ["accuracy", "f1_macro", "precision_macro", "recall_macro"]
    lines = [f"| features | model | {' | '.join(cols)} | fit s/fold |", "|---|---|" + "---|" * (len(cols) + 1)]
    for feat_name in features:
        feat = get_featurizer(feat_name)
        t0 = time.perf_counter()
        prep = prepare(roots, task, feat, group_pattern=pattern, jobs=jobs, cache=True)
        print(f"[{task}] {feat_name}: {len(np.unique(prep.table.file_index))} files, "
              f"{prep.table.values.shape} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        for model in MODELS:
            est = make_model(model, random_state=0, n_jobs=jobs)
            t1 = time.perf_counter()
            cv = cross_validate(est, prep.table.values, prep.table.file_index, prep.y_file, prep.groups,
                                prep.labels, n_splits=5, n_repeats=repeats, random_state=0,
                                positive=prep.positive)
            row = " | ".join(fmt(cv.summary[c]) for c in cols)
            lines.append(f"| {feat_name} | {model} | {row} | {cv.fit_seconds:.2f} |")
            print(lines[-1], f"({time.perf_counter() - t1:.0f}s)", file=sys.stderr)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["music", "genre", "both"], default="both")
    ap.add_argument("--features", default="mfcc,handcrafted")
    ap.add_argument("--repeats", type=int, default=3, help="CV repeats for genre (new shuffles)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, help="append the tables to this Markdown file")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"shared data not found at {DATA}: nothing to benchmark", file=sys.stderr)
        return
    feats = args.features.split(",")
    doc = [f"### Classical models on handcrafted features ({dt.date.today().isoformat()})", "",
           f"Command: `python benchmarks/bench_classical.py --task {args.task} --features {args.features} "
           f"--repeats {args.repeats}`; machine: {machine()}.", ""]
    if args.task in ("music", "both"):
        doc += ["**Music vs non-music** (music = positive; 64 music vs 64 speech + 400 ESC-10 files; 5-fold CV "
                "grouped by recording / ESC-10 fold; file-level, segment probabilities averaged):", ""]
        doc += run_task("music", feats, 1, args.jobs) + [""]
    if args.task in ("genre", "both"):
        doc += [f"**Genre, gtzan_mini** (100 clips, 10 genres; 5-fold CV × {args.repeats} shuffles; file level):", ""]
        doc += run_task("genre", feats, args.repeats, args.jobs) + [""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
